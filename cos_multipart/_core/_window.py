"""The parts phase of the upload machine: which part actions are in flight, and what their outcomes mean.

A :class:`PartWindow` hands out :class:`~cos_multipart._core._actions.SendPart` actions (at most ``limit`` in
flight; ``None``: all at once, for an executor that batches them) for the pending parts of a file or buffer,
or reads a stream part by part (:class:`~cos_multipart._core._actions.ReadStreamPart`, only when a slot is free:
at most ``limit`` stream parts are held) and numbers them with a :class:`~cos_multipart._core._decisions.StreamCutter`.
Outcomes arrive in any order. Each answer is judged by a :class:`~cos_multipart._core.parts.PartVerifier`: a
mismatch rewinds the part's progress and sends it again, up to ``attempts``; a verified part is recorded in
the checkpoint, then reported (the user's callback last: it may raise). The first failure stops the phase:
:class:`~cos_multipart._core._actions.StopParts`, no new work, and the outcomes of work in flight still count
(a part verified while stopping is recorded, so a resume does not send it again).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Deque, Dict, List, Optional, Sequence, Union

from ._actions import PartDone, ProgressRewind, ReadStreamPart, RecordPart, SendPart, StopParts
from ._decisions import StreamCutter, worker_file_change
from ._inflight import ActionsInFlight
from ._outcomes import Sent
from ._partvalues import StreamPart
from .._protocol.errors import CosIntegrityError
from .parts import PartVerifier
from .session import PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = ["PartWindow", "WindowAction"]

WindowAction = Union[SendPart, ReadStreamPart, RecordPart, PartDone, ProgressRewind, StopParts]


class _Stream:
    """Where a stream's parts come from: the cutter, the part read but not numbered yet, whether it ended."""

    def __init__(self, cutter: StreamCutter, first: StreamPart, md5: bool) -> None:
        self.cutter = cutter
        self.held: Optional[StreamPart] = first
        self.md5 = md5
        self.ended = False
        self.reading = False


class PartWindow(ActionsInFlight[WindowAction]):
    """The parts of one upload in flight (see the module docstring).

    Args:
        upload_id: The upload.
        attempts: Sends of one part at most when its checksums disagree.
        check_md5: Compare ETags with the MD5 of the bytes sent.
        limit: Parts in flight at most (``None``: every pending part at once).
        record: Record verified parts in the checkpoint.
    """

    def __init__(self, upload_id: str, *, attempts: int, check_md5: bool, limit: Optional[int], record: bool) -> None:
        super().__init__()
        self.upload_id = upload_id
        self.attempts = attempts
        self.check_md5 = check_md5
        self.limit = limit
        self.record = record
        self.done: Dict[int, PartReceipt] = {}
        self.request_ids: List[str] = []
        self._session: Optional[UploadSession] = None
        self._pending: Deque[int] = deque()
        self._stream: Optional[_Stream] = None
        self._sending = 0
        self._verifiers: Dict[int, PartVerifier] = {}

    @classmethod
    def of_session(
        cls, session: UploadSession, numbers: Sequence[int], *, attempts: int, check_md5: bool, limit: Optional[int], record: bool
    ) -> "PartWindow":
        """The parts ``numbers`` of a file's or buffer's ``session``."""
        window = cls(session.upload_id, attempts=attempts, check_md5=check_md5, limit=limit, record=record)
        window._session = session
        window._pending.extend(numbers)
        return window

    @classmethod
    def of_stream(
        cls, upload_id: str, cutter: StreamCutter, first: StreamPart, *, attempts: int, check_md5: bool, limit: int
    ) -> "PartWindow":
        """A stream's parts, the first one already read (``first``)."""
        window = cls(upload_id, attempts=attempts, check_md5=check_md5, limit=limit, record=False)
        window._stream = _Stream(cutter, first, check_md5)
        return window

    # --- what the machine asks ------------------------------------------------------------------------------

    def _nothing_left(self) -> bool:
        return not self._pending and (self._stream is None or self._stream.ended)

    def sending(self) -> bool:
        """Whether a part send is in flight."""
        return self._any_in_flight(SendPart)

    def sends_in_flight(self) -> List[SendPart]:
        """The part sends handed out and not answered yet."""
        return self._in_flight(SendPart)

    def receipts(self) -> List[PartReceipt]:
        """The verified parts, in part order."""
        return [self.done[number] for number in sorted(self.done)]

    def take(self) -> List[WindowAction]:
        """The actions to start now."""
        if self.error is None:
            try:
                self._fill()
            except Exception as error:  # the stream's length checked at its end, a part past the plan
                self.fail(error)
        return self._hand_out()

    def receive(self, action: WindowAction, outcome: object) -> None:
        """The outcome of ``action`` (a value, or the exception it raised).

        A part holds its slot from its first send until it is reported (:class:`PartDone`), as a thread
        that sends, records and reports it would: the next part starts only then.
        """
        follow = self._settle(action)
        if isinstance(action, StopParts):
            if isinstance(outcome, BaseException):
                logger.debug("stopping the parts: %s", outcome)
            return
        if isinstance(action, ReadStreamPart):
            self._stream_reading(False)
        if isinstance(outcome, BaseException):
            self._release(action)
            self.fail(outcome)
            return
        try:
            if isinstance(action, SendPart):
                self._sent(action, outcome)
            elif isinstance(action, ReadStreamPart):
                self._read(outcome)
            elif isinstance(action, PartDone):
                self._sending -= 1
            elif follow is not None:
                self._queue.append(follow)
        except Exception as error:  # a decision that failed: a mismatch on the last attempt
            self._release(action)
            self.fail(error)

    def _release(self, action: WindowAction) -> None:
        """A part's chain of actions broke: its slot is free."""
        if not isinstance(action, ReadStreamPart):
            self._sending -= 1

    def _stream_reading(self, reading: bool) -> None:
        if self._stream is not None:
            self._stream.reading = reading

    # --- decisions ---------------------------------------------------------------------------------------

    def _fill(self) -> None:
        while self.limit is None or self._sending < self.limit:
            if self._stream is not None:
                if not self._next_stream_part():
                    return
            elif self._pending:
                number = self._pending.popleft()
                self._send(number, 1)
            else:
                return

    def _next_stream_part(self) -> bool:
        """Number the held part and send it, or ask for the next read; ``False`` when nothing can start now."""
        stream = self._stream
        if stream is None or stream.reading or stream.ended:
            return False
        part, stream.held = stream.held, None
        if part is None:
            size = stream.cutter.next_read()
            if size is None:
                stream.ended = True
                return False
            stream.reading = True
            self._queue.append(ReadStreamPart(size, stream.md5))
            return False
        number = stream.cutter.take(len(part.data))  # checks the length before the last part goes out
        if number is None:
            stream.ended = True
            return False
        self._send(number, 1, part)
        return True

    def _send(self, number: int, attempt: int, data: Optional[StreamPart] = None) -> None:
        if data is not None:
            offset, length = -1, len(data.data)  # a stream's part carries its bytes
        elif self._session is not None:
            offset, length = self._session.part_range(number)
        else:  # pragma: no cover - a window is made of a session or a stream
            raise RuntimeError("a part with no bytes and no plan")
        self._sending += 1
        self._queue.append(SendPart(self.upload_id, number, offset, length, self.check_md5, attempt, data))

    def _read(self, outcome: object) -> None:
        if self._stream is None or not isinstance(outcome, StreamPart):
            raise TypeError(f"ReadStreamPart answered {type(outcome).__name__}, not StreamPart")
        self._stream.held = outcome

    def _sent(self, action: SendPart, outcome: object) -> None:
        if not isinstance(outcome, Sent):
            raise TypeError(f"SendPart answered {type(outcome).__name__}, not Sent")
        number = action.number
        if outcome.identity is not None and self._session is not None:
            changed = worker_file_change(self._session, outcome.identity)
            if changed is not None:
                raise changed
        verifier = self._verifiers.setdefault(number, PartVerifier(number, check_md5=self.check_md5, attempts=self.attempts))
        verifier.attempt = action.attempt
        receipt = verifier.judge(outcome.digest, outcome.answer)  # raises after the last attempt
        if receipt is None:
            if self.error is None:
                again = SendPart(action.upload_id, number, action.offset, action.length, action.md5, action.attempt + 1, action.data)
                self._chain(ProgressRewind(number), again)
            else:
                self._sending -= 1
            return
        problem = self._session.receipt_problem(receipt) if self._session is not None else None
        if problem is not None:
            raise CosIntegrityError("parts", "a receipt that fits the plan", problem, part_number=number)
        self.done[number] = receipt
        self.request_ids.extend(verifier.request_ids)
        reported = PartDone(number, receipt.size)
        if self.record:
            self._chain(RecordPart(receipt), reported)
        else:
            self._queue.append(reported)


