"""The bounded runner: at most N at once, the first failure stops the rest, late results still count."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator, List

import pytest

from cos_multipart._scheduler import BoundedRunner


def test_never_more_than_concurrency_tasks_at_once_and_lazy_production() -> None:
    lock = threading.Lock()
    running = [0, 0]  # now, peak
    produced: List[int] = []

    def task(n: int) -> int:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return n

    def tasks() -> Iterator[Callable[[], int]]:
        for n in range(20):
            produced.append(n)
            # The producer is only asked for a task when a slot is free: at most 3 running + 1 taken.
            assert len(produced) - len(results) <= 4
            yield lambda n=n: task(n)  # type: ignore[misc]

    results: List[int] = []
    BoundedRunner[int](3, threading.Event()).run(tasks(), results.append)
    assert sorted(results) == list(range(20))
    assert running[1] <= 3


def test_first_failure_stops_the_rest_and_is_raised_after_late_results() -> None:
    cancel = threading.Event()
    stopped: List[bool] = []
    results: List[int] = []
    gate = threading.Event()
    started = threading.Semaphore(0)

    def ok(n: int) -> int:
        started.release()
        gate.wait(2)
        return n

    def fail() -> int:
        for _ in range(2):  # the neighbours are running: they finish while the runner stops
            started.acquire(timeout=2)
        raise RuntimeError("part 2 failed")

    def tasks() -> Iterator[Callable[[], int]]:
        yield lambda: ok(1)
        yield fail
        yield lambda: ok(3)
        for n in range(4, 100):
            yield lambda n=n: ok(n)  # type: ignore[misc]

    def on_stop() -> None:
        stopped.append(cancel.is_set())
        gate.set()

    with pytest.raises(RuntimeError, match="part 2 failed"):
        BoundedRunner[int](3, cancel, on_stop=on_stop).run(tasks(), results.append)
    assert stopped == [True]
    assert sorted(results) == [1, 3]  # finished while stopping: kept
