"""The ranges phase of the download machine: which ranges are in flight, and what their outcomes mean.

A :class:`RangeWindow` hands out :class:`~cos_multipart._core._download.FetchRange` actions (at most ``limit`` in
flight). Outcomes arrive in any order. A range has no checksum of its own from the service (the CRC-64 header of
a ranged answer is the whole object's), so a range is judged here only by its length: a short body, or a
connection broken while it arrived (the executor gives what arrived: a short range), fetches it again up to
``attempts`` (a request that failed before its answer came is the transport's to retry: it fails the phase); its CRC-64 is kept for the object's
check at the end (:mod:`cos_multipart._core._downloadflow`). A range fetched whole is recorded in the checkpoint
(with its CRC-64), then reported. A 412 (the object's ETag is no longer the one every GET is pinned to) fails
the phase with :class:`~cos_multipart._protocol.errors.ObjectChangedError`: never fetched again. The first failure
stops the phase (:class:`~cos_multipart._core._actions.StopParts`); the ranges in flight are awaited and those
that arrive whole still count, so a resume does not fetch them again.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple, Union

from ._actions import PartDone, ProgressRewind, StopParts
from ._download import DownloadCheckpoint, FetchRange, Fetched, SaveRanges, WriteOut
from ._inflight import ActionsInFlight
from .._protocol.errors import CosIntegrityError, CosServiceError, ObjectChangedError

logger = logging.getLogger(__name__)

__all__ = ["OrderedRangeWindow", "PRECONDITION_FAILED", "RangeWindow", "Span"]

#: RFC 9110 15.5.13: the answer to a GET whose ``If-Match`` does not hold.
PRECONDITION_FAILED = 412

#: ``(index, offset, length)`` of one range of the plan.
Span = Tuple[int, int, int]

RangeAction = Union[FetchRange, SaveRanges, WriteOut, PartDone, ProgressRewind, StopParts]


class RangeWindow(ActionsInFlight[RangeAction]):
    """The ranges of one download round in flight (see the module docstring).

    Args:
        key: The object key (for errors).
        spans: The ranges to fetch.
        checkpoint: The checkpoint so far (ranges recorded are added to it).
        etag: The ETag every GET is pinned to.
        whole: One GET without ``Range`` (a small object).
        limit: Ranges in flight at most.
        attempts: Fetches of one range at most.
        record: Record fetched ranges in the checkpoint.
        save_every: Write the checkpoint after every this many ranges (the whole checkpoint is written each
            time: a plan of many ranges writes it less often; :attr:`unsaved` says whether the last ranges
            are still to be written, which the sequence does when it stops).
    """

    def __init__(
        self,
        key: str,
        spans: Sequence[Span],
        checkpoint: DownloadCheckpoint,
        *,
        whole: bool,
        limit: int,
        attempts: int,
        record: bool,
        save_every: int = 1,
    ) -> None:
        super().__init__()
        self.key = key
        self.checkpoint = checkpoint
        self.whole = whole
        self.limit = limit
        self.attempts = attempts
        self.record = record
        self.save_every = max(1, save_every)
        #: Ranges recorded in :attr:`checkpoint` since it was last written.
        self.unsaved = 0
        self.done: Dict[int, int] = {}
        self.refetched = 0
        self._pending: Deque[Span] = deque(spans)
        self._busy = 0
        #: Ranges are fetched into memory (a stream's): see :class:`OrderedRangeWindow`.
        self.memory = False

    # --- what the machine asks (the Window protocol) -------------------------------------------------------

    def _nothing_left(self) -> bool:
        return not self._pending

    def sending(self) -> bool:
        """Whether a range fetch is in flight."""
        return self._any_in_flight(FetchRange)

    def sends_in_flight(self) -> List[FetchRange]:
        """The range fetches handed out and not answered yet."""
        return self._in_flight(FetchRange)

    def take(self) -> List[RangeAction]:
        """The actions to start now."""
        while self.error is None and self._pending and self._busy < self.limit:
            index, offset, length = self._pending.popleft()
            self._busy += 1
            self._queue.append(FetchRange(index, offset, length, self.checkpoint.facts.etag, self.whole, memory=self.memory))
        return self._hand_out()

    def receive(self, action: RangeAction, outcome: object) -> None:
        """The outcome of ``action`` (a value, or the exception it raised). A range holds its slot from its
        first fetch until it is reported (:class:`PartDone`)."""
        follow = self._settle(action)
        if isinstance(action, StopParts):
            if isinstance(outcome, BaseException):
                logger.debug("stopping the ranges: %s", outcome)
            return
        if isinstance(action, SaveRanges) and isinstance(outcome, Exception):
            logger.warning("the download's checkpoint was not written: %s", outcome)  # only a resume loses
            outcome = None  # (Ctrl-C while it was written is not an Exception: it stops the download below)
        elif not isinstance(action, FetchRange) and isinstance(outcome, BaseException):
            self._busy -= 1  # the user's progress callback raised (Ctrl-C included): the download stops
            self.fail(outcome)
            return
        try:
            if isinstance(action, FetchRange):
                self._fetched(action, outcome)
            elif isinstance(action, PartDone):
                self._busy -= 1
            else:
                self._next(follow)
        except Exception as error:  # a decision that failed: a short range on its last attempt, a 412
            self._busy -= 1
            self.fail(error)

    # --- decisions -----------------------------------------------------------------------------------------

    def _next(self, follow: Optional[RangeAction]) -> None:
        if follow is not None:
            self._queue.append(follow)

    def _fetched(self, action: FetchRange, outcome: object) -> None:
        number = action.index + 1
        if isinstance(outcome, CosServiceError) and outcome.status == PRECONDITION_FAILED:
            raise ObjectChangedError(self.key, action.etag) from outcome
        if isinstance(outcome, BaseException):
            raise outcome  # a request that failed after the transport's own retries (a body cut short is a value)
        if not isinstance(outcome, Fetched):
            raise TypeError(f"FetchRange answered {type(outcome).__name__}, not Fetched")
        if outcome.length != action.length:
            if not self._again(action, f"{outcome.length} of {action.length} bytes arrived"):
                raise CosIntegrityError("size", outcome.length, action.length, part_number=number)
            return
        self.done[action.index] = outcome.crc64
        self._arrived(action, outcome)

    def _arrived(self, action: FetchRange, outcome: Fetched) -> None:
        """Range ``action`` arrived whole: record it, then report it."""
        reported = PartDone(action.index + 1, action.length)
        if not self.record:
            self._queue.append(reported)
            return
        self.checkpoint = self.checkpoint.with_range(action.index, outcome.crc64)
        self.unsaved += 1
        if self.unsaved < self.save_every:
            self._queue.append(reported)
            return
        self.unsaved = 0
        self._chain(SaveRanges(self.checkpoint), reported)

    def _again(self, action: FetchRange, why: str) -> bool:
        """Fetch ``action``'s range again if attempts are left and nothing failed; whether it was."""
        if action.attempt >= self.attempts or self.error is not None:
            return False
        logger.debug("range %d of %r fetched again (attempt %d): %s", action.index + 1, self.key, action.attempt + 1, why)
        self.refetched += 1
        again = FetchRange(action.index, action.offset, action.length, action.etag, action.whole, action.attempt + 1, action.memory)
        self._chain(ProgressRewind(action.index + 1), again)
        return True


class OrderedRangeWindow(RangeWindow):
    """A stream's ranges: fetched into memory in parallel, written out in order (:class:`WriteOut`).

    A range keeps its slot until it is written, so at most ``limit`` ranges are in flight or held, whatever
    the order they arrive in: memory stays within ``limit`` x the range size. Nothing is recorded (a stream
    cannot be resumed).
    """

    def __init__(self, key: str, spans: Sequence[Span], checkpoint: DownloadCheckpoint, *, whole: bool, limit: int, attempts: int) -> None:
        super().__init__(key, spans, checkpoint, whole=whole, limit=limit, attempts=attempts, record=False)
        self.memory = True
        self._held: Dict[int, Tuple[FetchRange, Union[bytes, bytearray]]] = {}
        self._next_index = spans[0][0] if spans else 0

    def _arrived(self, action: FetchRange, outcome: Fetched) -> None:
        if outcome.data is None:
            raise TypeError("a stream's range arrived without its bytes")
        self._held[action.index] = (action, outcome.data)
        while self._next_index in self._held:
            ready, data = self._held.pop(self._next_index)
            self._chain(WriteOut(ready.index, data), PartDone(ready.index + 1, ready.length))
            self._next_index += 1
