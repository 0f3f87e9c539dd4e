"""The public session steps: a part sent and verified, an upload completed and verified, over a sync client.

Each step is a tiny run of the upload machine (:meth:`~cos_multipart._core._machine.UploadMachine.piece`) over a piece
of its own sequence: :func:`~cos_multipart._core._flow.part_flow` (one part through the parts phase's
attempt-and-verify rules) and :func:`~cos_multipart._core._flow.complete_flow` (Complete's checks: NoSuchUpload ->
HEAD -> accept when it matches; a wrong object deleted). The actions are done one at a time where the caller
is, by the threaded executor's own request function (:func:`~cos_multipart._drivers.threads.client_call`: its parts
read, hashed and sent in one pass). Nothing here decides: no sequence, no retry rule, no integrity
check is written a second time.

The steps are for callers who run their own loop (and :func:`cos_multipart.remote.send_parts` on a worker).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Iterable, List, Optional, Tuple

from .._protocol import sse
from .._core._actions import CombineCrc64, PartDone, ProgressRewind, StopParts
from .._core._config import UploadConfig
from .._core._decisions import client_dialect
from .threads import client_call
from .._core._flow import complete_flow, part_flow
from .._core._machine import UploadMachine
from .._io._sources import BodyOptions
from .._io.client import CosClient
from .._protocol.errors import CosValidationError
from .._protocol.options import ObjectOptions
from .._core.parts import DEFAULT_PART_ATTEMPTS, Completion, PartSource
from .._core.session import PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = ["complete", "part_step", "upload_part"]


def upload_part(
    client: CosClient,
    session: UploadSession,
    part_number: int,
    source: PartSource,
    *,
    sse_c: Optional[sse.SseC] = None,
    traffic_limit: Optional[int] = None,
    verify_md5: bool = True,
    attempts: int = DEFAULT_PART_ATTEMPTS,
    options: Optional[BodyOptions] = None,
) -> PartReceipt:
    """Upload part ``part_number`` of ``session`` from ``source`` and verify it.

    The receipt comes back once COS's CRC-64 (and the ETag, when it is an MD5) equals what was computed from
    the bytes sent; a disagreement sends the part again, up to ``attempts`` times (the rules of an upload's
    parts phase).

    Args:
        client: A client for the session's bucket.
        session: The upload (its plan gives the part's offset and length).
        part_number: 1..count of the plan.
        source: Serves the part's bytes (a :class:`~cos_multipart._io._sources.FileSource` or
            :class:`~cos_multipart._io._sources.BufferSource`).
        sse_c: The SSE-C key when the upload was initiated with SSE-C (sessions never hold it).
        traffic_limit: ``x-cos-traffic-limit`` in bit/s.
        verify_md5: Also check the ETag against the MD5 when the ETag is an MD5.
        attempts: Sends at most when the checksums disagree.
        options: Progress (rewound before a re-send), bandwidth cap and cancellation of the body.

    Returns:
        The receipt, to record in the session and give to :func:`complete`.

    Raises:
        CosIntegrityError: The checksums disagreed on every attempt.
        CosServiceError / CosTransportError: A request failed after the client's retries.
    """
    receipt, _ = part_step(
        client, session, part_number, source, _config(sse_c, traffic_limit), verify_md5=verify_md5, attempts=attempts,
        options=options,
    )  # fmt: skip
    return receipt


def part_step(
    client: CosClient,
    session: UploadSession,
    number: int,
    source: PartSource,
    config: UploadConfig,
    *,
    verify_md5: bool,
    attempts: int,
    options: Optional[BodyOptions] = None,
) -> Tuple[PartReceipt, List[str]]:
    """:func:`upload_part` with its request settings in ``config`` (traffic limit, SSE-C key); also returns the
    request id of every attempt (for a worker's report)."""
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise CosValidationError("attempts", attempts, "an integer of at least 1")
    flow = part_flow(session, number, attempts=attempts, check_md5=verify_md5 and session.etag_is_md5)
    steps = _Steps(client, session.key, config, source, options if options is not None else BodyOptions())
    receipt, request_ids = steps.run(UploadMachine.piece(flow))
    return receipt, request_ids


def complete(
    client: CosClient,
    session: UploadSession,
    receipts: Iterable[PartReceipt],
    *,
    forbid_overwrite: Optional[bool] = None,
    sse_c: Optional[sse.SseC] = None,
) -> Completion:
    """Complete ``session`` with ``receipts`` and verify the object's CRC-64.

    The receipts are checked against the plan (count, order, sizes) before anything is sent; the object's
    CRC-64 COS answers must equal the receipts' CRC-64 combined in order. A retried Complete that answers
    NoSuchUpload (its first attempt had completed the upload) is accepted when a HEAD shows the object is
    the one these receipts make.

    Args:
        client: A client for the session's bucket.
        session: The upload.
        receipts: One per part of the plan, in order.
        forbid_overwrite: Send ``x-cos-forbid-overwrite``.
        sse_c: The SSE-C key, to read the object back when a retried Complete answers NoSuchUpload.

    Raises:
        CosIntegrityError: The receipts do not cover the plan, or COS's CRC-64 differs from the combined one:
            the object Complete made is then deleted (the version it made, when the bucket gave a version id),
            and the error's ``outcome`` says so, or why it could not be.
        CosServiceError: Complete failed.
    """
    flow = complete_flow(session, receipts, forbid_overwrite, client_dialect(client).integrity)
    steps = _Steps(client, session.key, _config(sse_c, None), None, BodyOptions())
    completion: Completion = steps.run(UploadMachine.piece(flow))
    return completion


def _config(sse_c: Optional[sse.SseC], traffic_limit: Optional[int]) -> UploadConfig:
    """The settings :func:`~cos_multipart._drivers.threads.client_call` reads: the traffic limit and SSE-C key."""
    return UploadConfig(traffic_limit=traffic_limit, options=ObjectOptions(encryption=sse_c))


class _Steps:
    """Runs a step's machine one action at a time where the caller is (nothing runs beside it)."""

    def __init__(
        self, client: CosClient, key: str, config: UploadConfig, source: Optional[PartSource], options: BodyOptions
    ) -> None:
        self.client = client
        self.key = key
        self.config = config
        self.source = source
        # Parts are hashed with the client's dialect's integrity scheme, whatever the caller's options say.
        self.options = replace(options, integrity=client_dialect(client).integrity)

    def run(self, machine: UploadMachine) -> Any:
        """Do what ``machine`` asks until it ends: the value its flow returned, or its failure raised."""
        while machine.end is None:
            for action in machine.steps():
                machine.receive(action, self._outcome(action))
            for part in machine.parts_to_start():
                machine.receive(part, self._outcome(part))
        return machine.value()

    def _outcome(self, action: Any) -> object:
        try:
            return self._perform(action)
        except BaseException as error:  # the machine decides what it means, Ctrl-C included
            return error

    def _perform(self, action: Any) -> object:
        if isinstance(action, CombineCrc64):
            return action.scheme.combine_all(action.parts)
        if isinstance(action, ProgressRewind):
            if self.options.progress is not None:
                self.options.progress.rewind(action.number)
            return None
        if isinstance(action, (PartDone, StopParts)):
            # The caller reports its own parts; one action at a time leaves nothing in flight to stop.
            return None
        return client_call(self.client, self.key, self.config, action, source=self.source, options=self.options)
