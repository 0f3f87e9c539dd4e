"""Presigned multipart uploads, the asyncio driver (issue 26): :class:`AsyncPresignedUploads`, the same methods,
arguments, results and errors as :class:`~cos_multipart._drivers.presigned.PresignedUploads`, awaited. The
sequence and every check are the core's (:mod:`cos_multipart._core._presigned_flow`)."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Generator, Iterable, List, Optional, Sequence, Tuple

from .._core._actions import Abort, Complete, DeleteObject, Head, ListParts
from .._core._machine import Machine
from .._core._presigned_checks import reported_parts
from .._core._presigned_flow import PresignedResult, abort_flow, complete_flow
from .._core._presigned_start import (
    PartUrl,
    check_part_endpoint,
    check_state_for,
    older_than,
    part_url,
    stale_uploads,
    start_request,
    wanted_parts,
)
from .._core.presigned import PresignedUpload, abandoned
from .._io.aio_client import AsyncCosClient
from .._protocol.limits import DEFAULT_SIGN_EXPIRES, MAX_PART_NUMBER
from .._protocol.options import ObjectOptions

logger = logging.getLogger(__name__)

__all__ = ["AsyncPresignedUploads"]


class AsyncPresignedUploads:
    """Presigned multipart uploads to an :class:`~cos_multipart.aio.AsyncCosClient`'s bucket; see
    :class:`~cos_multipart.PresignedUploads` for every method (here coroutines)."""

    def __init__(self, client: AsyncCosClient, *, part_endpoint: Optional[str] = None, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.part_endpoint = check_part_endpoint(part_endpoint, client)
        self._clock = clock

    async def start(
        self, key: str, *, size: int, part_size: Optional[int] = None, expires: int = DEFAULT_SIGN_EXPIRES,
        abandon_after: Optional[int] = None, options: Optional[ObjectOptions] = None, part_md5s: Sequence[str] = (),
    ) -> Tuple[PresignedUpload, List[PartUrl]]:  # fmt: skip
        """Initiate the upload and sign one URL per part (see :meth:`PresignedUploads.start`)."""
        request = start_request(
            key, size=size, part_size=part_size, expires=expires, abandon_after=abandon_after, options=options,
            part_md5s=part_md5s, min_part_size=self.client.dialect.min_part_size,
        )  # fmt: skip
        now = self._clock()
        made = await self.client.initiate_multipart_upload(key, options=request.options)
        state = request.state(self.client.dialect.name, self.client.bucket, made.upload_id, now)
        logger.debug("presigned upload %s of %s: %d parts", state.upload_id, key, state.plan.count)
        try:
            return state, await self.urls(state, expires=request.expires)
        except BaseException:  # no URL, no use for the upload: leave nothing behind
            try:
                await self.abort(state)
            except Exception:  # noqa: BLE001 - the first error is the one raised; this one is only logged
                logger.debug("could not abort presigned upload %s of %s", state.upload_id, key, exc_info=True)
            raise

    async def urls(self, state: PresignedUpload, parts: Optional[Iterable[int]] = None, *, expires: int = DEFAULT_SIGN_EXPIRES) -> List[PartUrl]:
        """Fresh URLs for ``parts`` (every part when ``None``)."""
        check_state_for(state, self.client)
        numbers = wanted_parts(state, parts)
        expires_at = int(self._clock()) + expires
        made = []
        for number in numbers:
            signed = await self.client.presign_part(
                state.key, state.upload_id, number, expires=expires, content_md5=state.part_md5(number),
                part_endpoint=self.part_endpoint,
            )  # fmt: skip
            made.append(part_url(state, number, signed, expires_at))
        return made

    async def complete(
        self, state: PresignedUpload, reported: Iterable[Any] = (), *, abort_on_mismatch: bool = False,
        require_crc64: bool = False, forbid_overwrite: bool = False,
    ) -> PresignedResult:  # fmt: skip
        """Check, complete and verify (see :meth:`PresignedUploads.complete`)."""
        check_state_for(state, self.client)
        flow = complete_flow(
            state, reported_parts(state, reported), abort_on_mismatch=abort_on_mismatch, require_crc64=require_crc64,
            forbid_overwrite=forbid_overwrite,
        )  # fmt: skip
        result = await _run(self.client, state.key, flow)
        assert isinstance(result, PresignedResult)  # noqa: S101 - what complete_flow returns
        return result

    async def abort(self, state: PresignedUpload) -> bool:
        """Abort the upload; ``False`` when it was already gone."""
        check_state_for(state, self.client)
        return bool(await _run(self.client, state.key, abort_flow(state)))

    async def abort_abandoned(self, states: Iterable[PresignedUpload]) -> List[PresignedUpload]:
        """Abort every state past its ``expires_at``; returns them."""
        now = self._clock()
        done = [state for state in states if abandoned(state, now)]
        for state in done:
            await self.abort(state)
        return done

    async def abort_older_than(self, seconds: int, *, prefix: Optional[str] = None) -> List[Tuple[str, str]]:
        """Abort every upload under ``prefix`` initiated more than ``seconds`` ago; returns ``(key, upload_id)``."""
        seconds = older_than(seconds)
        uploads = [upload async for upload in self.client.list_multipart_uploads(prefix=prefix)]
        stale = stale_uploads(uploads, seconds, self._clock())
        for key, upload_id in stale:
            await self.client.abort_multipart_upload(key, upload_id)
        return stale


async def _run(client: AsyncCosClient, key: str, flow: Generator[Any, Any, Any]) -> object:
    machine = Machine(flow)
    for action in machine.steps():
        try:
            outcome: object = await _call(client, key, action)
        except Exception as error:  # the flow decides; cancellation passes
            outcome = error
        machine.receive(action, outcome)
    return machine.value()


async def _call(client: AsyncCosClient, key: str, action: Any) -> object:
    if isinstance(action, ListParts):
        parts = []
        async for part in client.list_parts(key, action.upload_id):
            parts.append(part)
            if len(parts) > MAX_PART_NUMBER:
                break
        return parts
    if isinstance(action, Complete):
        return await client.complete_multipart_upload(key, action.upload_id, list(action.parts), forbid_overwrite=action.forbid_overwrite)
    if isinstance(action, Head):
        return await client.head_object(key)
    if isinstance(action, DeleteObject):
        return await client.delete_object(key, version_id=action.version_id)
    if isinstance(action, Abort):
        return await client.abort_multipart_upload(key, action.upload_id)
    raise TypeError(f"no request for {action!r}")
