"""Byte-level upload progress that users can trust: thread-safe, monotonic, never past the total.

Workers report bytes as they hand them to the socket (``sent``), the uploader reports parts as COS confirms
them (``part_done``). Each event carries both: ``bytes_done`` moves as bytes leave (smooth, but a byte sent is
not yet a byte stored: behind a slow server most of it may still wait for an answer), ``bytes_confirmed`` only
as COS acknowledges whole parts. A retried part rewinds its own in-flight bytes internally, but what the
callback sees is the largest value reported so far, so it never goes backwards; it is capped one byte short of
the total until COS has confirmed every byte, so "100 %" means done, not "sent and maybe retrying".

The callback receives a :class:`ProgressEvent`; it is called from worker threads, one call at a time, in
order, and never while the tracker's lock is held: a worker that finds another thread inside the callback
leaves the newest event to that thread and goes back to its socket, so a slow callback delays reports, not
uploads (intermediate events may then be skipped; the last one never is). An exception raised by the callback
stops the upload (the checkpoint is kept), which makes it a convenient place to cancel.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Optional

__all__ = ["ProgressCallback", "ProgressEvent", "ProgressTracker"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    Attributes:
        bytes_done: Bytes sent or confirmed so far (never decreases, never exceeds ``total_bytes``).
        total_bytes: Object size, or ``None`` for a stream whose length is not known yet.
        parts_done: Parts confirmed by COS (including reused ones).
        parts_total: Number of parts, or ``None`` for a stream.
        parts_reused: Parts found already uploaded when resuming (not sent again).
        bytes_reused: Bytes of those parts.
        bytes_confirmed: Bytes COS has acknowledged: parts answered and verified, reused parts included
            (never decreases, at most ``bytes_done``). ``bytes_done - bytes_confirmed`` were handed to the
            socket and are waiting for an answer (or, after a retry, being sent again).
    """

    bytes_done: int
    total_bytes: Optional[int]
    parts_done: int
    parts_total: Optional[int]
    parts_reused: int = 0
    bytes_reused: int = 0
    bytes_confirmed: int = 0

    @property
    def fraction(self) -> Optional[float]:
        """``bytes_done / total_bytes`` (1.0 for an empty object), or ``None`` when the total is unknown."""
        if self.total_bytes is None:
            return None
        return 1.0 if self.total_bytes == 0 else self.bytes_done / self.total_bytes


ProgressCallback = Callable[[ProgressEvent], None]


class ProgressTracker:
    """Aggregates progress from all workers and calls the user's callback with monotonic events.

    Args:
        total_bytes: Object size, or ``None`` when unknown (stream).
        parts_total: Number of parts, or ``None`` when unknown.
        callback: Called with each new :class:`ProgressEvent`, or ``None``.
    """

    def __init__(
        self,
        total_bytes: Optional[int],
        parts_total: Optional[int],
        callback: Optional[ProgressCallback] = None,
    ) -> None:
        self._lock = threading.RLock()
        self._callback = callback
        self._total = total_bytes
        self._parts_total = parts_total
        self._confirmed = 0
        self._in_flight: Dict[int, int] = {}
        self._in_flight_sum = 0
        self._parts_done = 0
        self._parts_reused = 0
        self._bytes_reused = 0
        self._shown = 0
        self._last: Optional[ProgressEvent] = None
        self._delivered: Optional[ProgressEvent] = None
        self._delivery = threading.Lock()

    @property
    def event(self) -> ProgressEvent:
        """The last event reported (or the initial state)."""
        with self._lock:
            return self._last or self._make_event()

    def start(self) -> None:
        """Report the initial state (0 bytes, or the reused parts)."""
        with self._lock:
            self._emit(force=True)
        self._deliver()

    def reused(self, parts: int, nbytes: int) -> None:
        """Count parts found already uploaded when resuming."""
        with self._lock:
            self._parts_reused += parts
            self._bytes_reused += nbytes
            self._parts_done += parts
            self._confirmed += nbytes
            self._emit()
        self._deliver()

    def sent(self, part_number: int, nbytes: int) -> None:
        """``nbytes`` more of part ``part_number`` went to the socket."""
        if nbytes <= 0:
            return
        with self._lock:
            self._in_flight[part_number] = self._in_flight.get(part_number, 0) + nbytes
            self._in_flight_sum += nbytes
            self._emit()
        self._deliver()

    def rewind(self, part_number: int) -> None:
        """Part ``part_number`` starts over (a retry): forget its in-flight bytes."""
        with self._lock:
            self._in_flight_sum -= self._in_flight.pop(part_number, 0)

    def part_done(self, part_number: int, size: int) -> None:
        """COS confirmed part ``part_number`` of ``size`` bytes."""
        with self._lock:
            self._in_flight_sum -= self._in_flight.pop(part_number, 0)
            self._confirmed += size
            self._parts_done += 1
            self._emit()
        self._deliver()

    def finish(self, total_bytes: int, parts_total: int) -> None:
        """Fix the totals (a stream's length becomes known at its end) and report completion."""
        with self._lock:
            self._total = total_bytes
            self._parts_total = parts_total
            self._emit()
        self._deliver()

    def flush(self) -> None:
        """Wait for a callback running in another thread, then report the newest event if it was not yet."""
        with self._delivery:
            self._deliver_pending()

    def _deliver(self) -> None:
        """Call the callback with the newest event, unless another thread is in it (it will deliver that)."""
        if self._callback is None:
            return
        while self._delivery.acquire(blocking=False):
            try:
                self._deliver_pending()
            finally:
                self._delivery.release()
            with self._lock:
                if self._delivered is self._last:
                    return
            # A newer event arrived while this thread held the delivery lock and another thread gave up.

    def _deliver_pending(self) -> None:
        """With the delivery lock held: report events until the newest has been reported."""
        while self._callback is not None:
            with self._lock:
                event = self._last
                if event is None or event is self._delivered:
                    return
                self._delivered = event
            self._callback(event)

    def _make_event(self) -> ProgressEvent:
        return ProgressEvent(
            bytes_done=self._shown,
            total_bytes=self._total,
            parts_done=self._parts_done,
            parts_total=self._parts_total,
            parts_reused=self._parts_reused,
            bytes_reused=self._bytes_reused,
            bytes_confirmed=min(self._confirmed, self._shown),
        )

    def _emit(self, force: bool = False) -> None:
        shown = max(self._shown, self._confirmed + self._in_flight_sum)
        if self._total is not None:
            # Only confirmed bytes may reach the total: sent-but-unconfirmed bytes could still be retried.
            ceiling = self._total if self._confirmed >= self._total else max(self._total - 1, 0)
            shown = min(shown, ceiling)
        # With a capped value the user's view stays where it was rather than moving backwards.
        self._shown = max(self._shown, shown)
        event = self._make_event()
        if event == self._last and not force:
            return
        if force and event == self._last:
            event = dataclasses.replace(event)  # a new object, so it is reported again
        self._last = event
