"""Progress: monotonic, capped, completion only when confirmed, thread-safe, reused parts."""

from __future__ import annotations

import random
import threading
from typing import List, Optional

import pytest

from cos_multipart._core.progress import ProgressEvent, ProgressTracker


def recorder() -> "tuple[List[ProgressEvent], ProgressTracker]":
    events: List[ProgressEvent] = []
    return events, ProgressTracker(300, 3, events.append)


def assert_monotonic(events: List[ProgressEvent], total: Optional[int]) -> None:
    for before, after in zip(events, events[1:]):
        assert after.bytes_done >= before.bytes_done
        assert after.parts_done >= before.parts_done
    if total is not None:
        assert all(event.bytes_done <= total for event in events)


def test_sent_then_confirmed() -> None:
    events, tracker = recorder()
    tracker.start()
    tracker.sent(1, 60)
    tracker.sent(1, 40)
    tracker.part_done(1, 100)
    assert [(e.bytes_done, e.parts_done) for e in events] == [(0, 0), (60, 0), (100, 0), (100, 1)]
    assert events[-1].parts_total == 3


def test_retry_never_goes_backwards_and_never_past_total() -> None:
    events, tracker = recorder()
    tracker.part_done(1, 100)
    tracker.part_done(2, 100)
    tracker.sent(3, 100)  # all 100 bytes of the last part sent...
    assert events[-1].bytes_done == 299  # ...but not confirmed: one byte short
    tracker.rewind(3)  # the part is retried
    tracker.sent(3, 50)
    assert events[-1].bytes_done == 299
    tracker.sent(3, 50)
    tracker.part_done(3, 100)
    assert events[-1].bytes_done == 300 and events[-1].parts_done == 3
    assert_monotonic(events, 300)
    assert sum(1 for e in events if e.bytes_done == 300) == 1


def test_confirmed_bytes_are_apart_from_bytes_sent() -> None:
    """61 % sent with no part acknowledged must not look like 61 % stored: the event says how much COS has."""
    events, tracker = recorder()
    tracker.start()
    tracker.sent(1, 100)
    tracker.sent(2, 83)
    assert (events[-1].bytes_done, events[-1].bytes_confirmed, events[-1].parts_done) == (183, 0, 0)
    tracker.part_done(2, 100)
    assert (events[-1].bytes_done, events[-1].bytes_confirmed) == (200, 100)
    tracker.rewind(1)  # a retry: what was sent of part 1 is sent again, what COS has stays
    tracker.sent(1, 10)
    assert (events[-1].bytes_done, events[-1].bytes_confirmed) == (200, 100)
    tracker.part_done(1, 100)
    tracker.sent(3, 100)
    tracker.part_done(3, 100)
    assert (events[-1].bytes_done, events[-1].bytes_confirmed) == (300, 300)
    for before, after in zip(events, events[1:]):
        assert before.bytes_confirmed <= after.bytes_confirmed <= after.bytes_done
    # Old callers build events without the new field: it defaults to nothing confirmed.
    assert ProgressEvent(5, 10, 0, 1).bytes_confirmed == 0


def test_retried_bytes_do_not_double_count() -> None:
    events, tracker = recorder()
    tracker.sent(1, 100)
    tracker.rewind(1)
    tracker.sent(1, 100)  # in flight is 100 again, not 200
    tracker.sent(2, 10)
    assert events[-1].bytes_done == 110


def test_reused_parts_are_reported() -> None:
    events, tracker = recorder()
    tracker.reused(2, 200)
    tracker.start()
    assert events[-1] == ProgressEvent(200, 300, 2, 3, parts_reused=2, bytes_reused=200, bytes_confirmed=200)
    assert tracker.event.fraction == pytest.approx(2 / 3)


def test_stream_with_unknown_total() -> None:
    events: List[ProgressEvent] = []
    tracker = ProgressTracker(None, None, events.append)
    tracker.sent(1, 10)
    tracker.part_done(1, 10)
    assert events[-1].total_bytes is None and events[-1].fraction is None
    tracker.finish(10, 1)
    assert events[-1] == ProgressEvent(10, 10, 1, 1, bytes_confirmed=10)


def test_empty_object() -> None:
    events: List[ProgressEvent] = []
    tracker = ProgressTracker(0, 1, events.append)
    tracker.start()
    tracker.part_done(1, 0)
    assert events[-1].bytes_done == 0 and events[-1].parts_done == 1
    assert events[-1].fraction == 1.0


def test_duplicate_events_are_not_repeated() -> None:
    events, tracker = recorder()
    tracker.sent(1, 10)
    tracker.rewind(1)
    tracker.sent(1, 5)  # shown value stays at 10: nothing new to say
    assert len(events) == 1


def test_callback_error_propagates_to_the_reporter() -> None:
    def stop(event: ProgressEvent) -> None:
        raise RuntimeError("stop here")

    tracker = ProgressTracker(10, 1, stop)
    with pytest.raises(RuntimeError, match="stop here"):
        tracker.sent(1, 1)


def test_many_threads_with_retries() -> None:
    parts, part_size = 40, 1000
    total = parts * part_size
    events: List[ProgressEvent] = []
    tracker = ProgressTracker(total, parts, events.append)
    rng = random.Random(7)
    retries = {number: rng.random() < 0.3 for number in range(1, parts + 1)}

    def upload(number: int) -> None:
        attempts = 2 if retries[number] else 1
        for _ in range(attempts):
            tracker.rewind(number)
            for _ in range(10):
                tracker.sent(number, part_size // 10)
        tracker.part_done(number, part_size)

    threads = [
        threading.Thread(target=lambda n=n: [upload(k) for k in range(n, parts + 1, 4)]) for n in range(1, 5)  # type: ignore[func-returns-value]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_monotonic(events, total)
    assert events[-1].bytes_done == total and events[-1].parts_done == parts


def test_a_slow_callback_does_not_stall_other_workers() -> None:
    """Workers report and go back to their sockets; the thread inside the callback reports the newest event."""
    import threading

    inside = threading.Event()
    release = threading.Event()
    seen: List[int] = []

    def slow(event: ProgressEvent) -> None:
        seen.append(event.bytes_done)
        if len(seen) == 1:
            inside.set()
            release.wait(120)  # held until the test releases it (the bound only ends a broken run)

    tracker = ProgressTracker(100, 2, slow)
    first = threading.Thread(target=tracker.sent, args=(1, 10))
    first.start()
    assert inside.wait(30)
    # Another worker must not wait for the callback: its calls end while the first callback is still held
    # (decided by which ends first, not by a timer: a tracker that waits ends only after the release).
    def other_worker() -> None:
        tracker.sent(2, 20)
        tracker.sent(2, 5)

    other = threading.Thread(target=other_worker)
    other.start()
    other.join(60)
    assert not other.is_alive() and first.is_alive(), "a worker waited for another worker's callback"
    release.set()
    first.join(5)
    tracker.flush()
    assert seen[0] == 10 and seen[-1] == 35  # the newest event was delivered, not lost
    assert seen == sorted(seen)
