"""Presigned multipart uploads, the threads' (sync) driver (issue 26): :class:`PresignedUploads`.

The application's server, which holds the credentials, starts the upload and hands out one pre-signed ``PUT``
URL per part; a client without credentials (a browser, a phone) sends the parts; the server completes and
verifies (:mod:`cos_multipart._core._presigned_flow`). Every decision is in the core; this module runs the
actions with a :class:`~cos_multipart.CosClient`.
"""

from __future__ import annotations

import logging
import time
from itertools import islice
from typing import Any, Callable, Generator, Iterable, List, Optional, Sequence, Tuple

from .._core._actions import Abort, Complete, DeleteObject, Head, ListParts
from .._core._machine import Machine
from .._core._presigned_checks import reported_parts
from .._core._presigned_flow import PresignedResult, abort_flow, complete_flow
from .._core._presigned_start import (
    PartUrl,
    StartRequest,
    check_part_endpoint,
    check_state_for,
    older_than,
    part_url,
    stale_uploads,
    start_request,
    wanted_parts,
)
from .._core.presigned import PresignedUpload, abandoned
from .._io.client import CosClient
from .._protocol.limits import DEFAULT_SIGN_EXPIRES, MAX_PART_NUMBER
from .._protocol.options import ObjectOptions

logger = logging.getLogger(__name__)

__all__ = ["PresignedUploads"]


class PresignedUploads:
    """Presigned multipart uploads to ``client``'s bucket: start, part URLs, complete (verified), abort.

    Args:
        client: The client holding the credentials (they never reach a URL but as the signature; an STS token
            travels in each URL, signed, as the services require).
        part_endpoint: The base URL the part senders reach, when it is not the client's (for a browser, a host
            that names the bucket: it cannot send the ``Host`` header a bare IP endpoint needs).
        clock: Unix time (the start time and the abandonment deadline of each state).
    """

    def __init__(self, client: CosClient, *, part_endpoint: Optional[str] = None, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.part_endpoint = check_part_endpoint(part_endpoint, client)
        self._clock = clock

    def start(
        self, key: str, *, size: int, part_size: Optional[int] = None, expires: int = DEFAULT_SIGN_EXPIRES,
        abandon_after: Optional[int] = None, options: Optional[ObjectOptions] = None, part_md5s: Sequence[str] = (),
    ) -> Tuple[PresignedUpload, List[PartUrl]]:  # fmt: skip
        """Initiate the upload of ``size`` bytes to ``key`` and sign one URL per part.

        Args:
            key: The object key.
            size: The size the client declares (the completed object must have it).
            part_size: The client's part size, checked against the service's limits; default automatic.
            expires: Seconds the part URLs stay valid (1 to 604800).
            abandon_after: Seconds after which the upload counts as abandoned (:meth:`abort_abandoned`);
                default a day, at least ``expires``.
            options: How the object is stored (content type, metadata, ACL, SSE-COS/KMS; not SSE-C).
            part_md5s: Content-MD5 (base64) of every part, when the client computed them: each URL then signs
                its part's, and the service refuses other bytes.

        Returns:
            The state (keep it; it holds no secret) and the part URLs.

        Raises:
            CosValidationError: An argument out of range, before anything is sent.
        """
        request = start_request(
            key, size=size, part_size=part_size, expires=expires, abandon_after=abandon_after, options=options,
            part_md5s=part_md5s, min_part_size=self.client.dialect.min_part_size,
        )  # fmt: skip
        state = self._initiate(request)
        logger.debug("presigned upload %s of %s: %d parts", state.upload_id, key, state.plan.count)
        try:
            return state, self.urls(state, expires=request.expires)
        except BaseException:  # no URL, no use for the upload: leave nothing behind
            self._abort_quietly(state)
            raise

    def _abort_quietly(self, state: PresignedUpload) -> None:
        try:
            self.abort(state)
        except Exception:  # noqa: BLE001 - the first error is the one raised; this one is only logged
            logger.debug("could not abort presigned upload %s of %s", state.upload_id, state.key, exc_info=True)

    def _initiate(self, request: StartRequest) -> PresignedUpload:
        now = self._clock()
        made = self.client.initiate_multipart_upload(request.key, options=request.options)
        return request.state(self.client.dialect.name, self.client.bucket, made.upload_id, now)

    def urls(self, state: PresignedUpload, parts: Optional[Iterable[int]] = None, *, expires: int = DEFAULT_SIGN_EXPIRES) -> List[PartUrl]:
        """Fresh URLs for ``parts`` (every part when ``None``): for a retry, or after the first ones expired.

        Raises:
            CosValidationError: ``state`` is of another bucket or service, or a part is outside the plan.
        """
        check_state_for(state, self.client)
        numbers = wanted_parts(state, parts)
        expires_at = int(self._clock()) + expires
        return [
            part_url(state, number, self.client.presign_part(
                state.key, state.upload_id, number, expires=expires, content_md5=state.part_md5(number),
                part_endpoint=self.part_endpoint,
            ), expires_at)  # fmt: skip
            for number in numbers
        ]

    def complete(
        self, state: PresignedUpload, reported: Iterable[Any] = (), *, abort_on_mismatch: bool = False,
        require_crc64: bool = False, forbid_overwrite: bool = False,
    ) -> PresignedResult:  # fmt: skip
        """Check the parts the service holds against the plan and the client's reports, complete, and check the
        object (size, and CRC-64 against the part CRCs combined).

        Args:
            state: From :meth:`start`.
            reported: What the client says it sent: ``{"part": n, "crc64": "<decimal>", "etag": "..."}``
                mappings (or :class:`~cos_multipart.ReportedPart` values), any number of them.
            abort_on_mismatch: Abort the upload when a part is wrong (default: keep it, so the client can send
                the parts named again).
            require_crc64: Refuse to complete unless every part's CRC-64 is known (reported by the client, or
                listed by the service: OSS lists them, COS does not), so that the object's CRC-64 is checked.
            forbid_overwrite: Complete only if the key holds no object (the service refuses otherwise).

        Raises:
            PresignedPartsError: Parts missing, of the wrong size, extra, or not those reported (each named);
                nothing was completed.
            CosIntegrityError: The completed object's size or CRC-64 is wrong: it was deleted.
            ObjectExistsError: ``forbid_overwrite`` and the key holds an object (the upload is kept: abort it or
                complete without the flag).
        """
        check_state_for(state, self.client)
        flow = complete_flow(
            state, reported_parts(state, reported), abort_on_mismatch=abort_on_mismatch, require_crc64=require_crc64,
            forbid_overwrite=forbid_overwrite,
        )  # fmt: skip
        result = _run(self.client, state.key, flow)
        assert isinstance(result, PresignedResult)  # noqa: S101 - what complete_flow returns
        return result

    def abort(self, state: PresignedUpload) -> bool:
        """Abort the upload; ``False`` when it was already gone (completed or aborted)."""
        check_state_for(state, self.client)
        return bool(_run(self.client, state.key, abort_flow(state)))

    def abort_abandoned(self, states: Iterable[PresignedUpload]) -> List[PresignedUpload]:
        """Abort every state past its ``expires_at`` (the call an application schedules); returns them."""
        now = self._clock()
        done = [state for state in states if abandoned(state, now)]
        for state in done:
            self.abort(state)
        return done

    def abort_older_than(self, seconds: int, *, prefix: Optional[str] = None) -> List[Tuple[str, str]]:
        """Abort every multipart upload under ``prefix`` initiated more than ``seconds`` ago (those whose state
        the application lost; ``cos-multipart uploads`` lists them); returns their ``(key, upload_id)``."""
        seconds = older_than(seconds)
        stale = stale_uploads(self.client.list_multipart_uploads(prefix=prefix), seconds, self._clock())
        for key, upload_id in stale:
            self.client.abort_multipart_upload(key, upload_id)
        return stale


def _run(client: CosClient, key: str, flow: Generator[Any, Any, Any]) -> object:
    machine = Machine(flow)
    for action in machine.steps():
        try:
            outcome: object = _call(client, key, action)
        except Exception as error:  # the flow decides; KeyboardInterrupt and the like pass
            outcome = error
        machine.receive(action, outcome)
    return machine.value()


def _call(client: CosClient, key: str, action: Any) -> object:
    if isinstance(action, ListParts):
        return list(islice(client.list_parts(key, action.upload_id), MAX_PART_NUMBER + 1))
    if isinstance(action, Complete):
        return client.complete_multipart_upload(key, action.upload_id, list(action.parts), forbid_overwrite=action.forbid_overwrite)
    if isinstance(action, Head):
        return client.head_object(key)
    if isinstance(action, DeleteObject):
        return client.delete_object(key, version_id=action.version_id)
    if isinstance(action, Abort):
        return client.abort_multipart_upload(key, action.upload_id)
    raise TypeError(f"no request for {action!r}")
