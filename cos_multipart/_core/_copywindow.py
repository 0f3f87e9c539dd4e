"""The parts phase of a multipart copy: Upload Part - Copy actions in flight, and what their answers mean.

A :class:`CopyWindow` hands out :class:`~cos_multipart._core._copyvalues.CopyPart` actions for the pending parts
(at most ``limit`` in flight; ``None``: all at once), each pinned to the source's ETag. An answer is a part the
service copied: its ETag and, where the service answers one, its CRC-64 make a
:class:`~cos_multipart._core.session.PartReceipt` (recorded in the checkpoint, then reported). Nothing can be
compared per part here (no byte passes through the client): the parts' CRC-64 values are checked together
against the source's before Complete (:mod:`cos_multipart._core._copyflow`). A 412 answer means the source
changed: :class:`~cos_multipart._protocol.errors.SourceChangedError`. The first failure stops the phase.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Deque, Dict, List, Optional, Sequence, Set, Union

from ._actions import PartDone, RecordPart, StopParts
from ._copyvalues import CopyPart
from ._inflight import ActionsInFlight
from .._protocol.errors import CosServiceError, SourceChangedError
from .._protocol.models import PartResult
from .session import PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = ["CopyWindow", "PRECONDITION_FAILED", "source_changed"]

#: The copy-source conditions failed (436/8287: "412 Precondition Failed").
PRECONDITION_FAILED = 412

CopyWindowAction = Union[CopyPart, RecordPart, PartDone, StopParts]


def source_changed(error: BaseException, source: str, etag: str) -> Optional[SourceChangedError]:
    """``error`` as :class:`SourceChangedError` when it is the 412 of a copy pinned to ``etag``, else ``None``."""
    if isinstance(error, CosServiceError) and error.status == PRECONDITION_FAILED:
        return SourceChangedError(f"the copy source {source} changed while it was copied (its ETag is no longer {etag}): nothing was completed", path=source)
    return None


class CopyWindow(ActionsInFlight[CopyWindowAction]):
    """The part copies of one multipart copy in flight (see the module docstring)."""

    def __init__(self, session: UploadSession, numbers: Sequence[int], etag: str, source: str, *, limit: Optional[int], record: bool) -> None:
        super().__init__()
        self.session = session
        self.etag = etag
        self.source = source
        self.limit = limit
        self.record = record
        self.done: Dict[int, PartReceipt] = {}
        #: Parts the service answered without a CRC-64 (their receipts hold 0).
        self.without_crc: Set[int] = set()
        self.request_ids: List[str] = []
        self._pending: Deque[int] = deque(numbers)
        self._sending = 0

    # --- what the machine asks (the Window protocol of _machine) ---------------------------------------------

    def _nothing_left(self) -> bool:
        return not self._pending

    def sending(self) -> bool:
        return self._any_in_flight(CopyPart)

    def sends_in_flight(self) -> List[CopyPart]:
        return self._in_flight(CopyPart)

    def take(self) -> List[CopyWindowAction]:
        """The actions to start now."""
        while self.error is None and self._pending and (self.limit is None or self._sending < self.limit):
            number = self._pending.popleft()
            offset, length = self.session.part_range(number)
            self._sending += 1
            self._queue.append(CopyPart(self.session.upload_id, number, offset, length, self.etag))
        return self._hand_out()

    def receive(self, action: CopyWindowAction, outcome: object) -> None:
        """The outcome of ``action`` (a value, or the exception it raised)."""
        follow = self._settle(action)
        if isinstance(action, StopParts):
            return
        if isinstance(outcome, BaseException):
            self._sending -= 1
            changed = source_changed(outcome, self.source, self.etag) if isinstance(action, CopyPart) else None
            self.fail(changed if changed is not None else outcome)
            return
        if isinstance(action, CopyPart):
            self._copied(action, outcome)
        elif isinstance(action, PartDone):
            self._sending -= 1
        elif follow is not None:
            self._queue.append(follow)

    def _copied(self, action: CopyPart, outcome: object) -> None:
        if not isinstance(outcome, PartResult):
            raise TypeError(f"CopyPart answered {type(outcome).__name__}, not PartResult")
        if outcome.crc64 is None:
            self.without_crc.add(action.number)
        receipt = PartReceipt(action.number, outcome.etag, action.length, outcome.crc64 or 0)
        self.done[action.number] = receipt
        self.request_ids.append(outcome.request_id)
        reported = PartDone(action.number, action.length)
        if self.record and outcome.crc64 is not None:
            self._chain(RecordPart(receipt), reported)
        else:
            self._queue.append(reported)
