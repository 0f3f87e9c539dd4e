"""Lane: threads working through one list of items, for a directory run's files."""

from __future__ import annotations

import threading
from typing import List

import pytest

from cos_multipart._drivers._interrupts import Bell
from cos_multipart._drivers._lanes import Lane


def test_every_item_is_worked_on_once_and_the_bell_rings_at_the_end() -> None:
    done: List[int] = []
    lock = threading.Lock()
    bell = Bell()

    def work(item: int) -> None:
        with lock:
            done.append(item)

    lane: Lane[int] = Lane(4, "test-lane", work, bell)
    lane.start(list(range(50)))
    while not lane.finished:
        bell.wait(1.0)
    lane.join()
    assert sorted(done) == list(range(50)) and lane.errors == []
    assert not any(t.name.startswith("test-lane") for t in threading.enumerate())


def test_no_more_threads_than_items_and_an_empty_lane_is_finished_at_once() -> None:
    bell = Bell()
    names: List[str] = []
    lane: Lane[int] = Lane(8, "few", lambda item: names.append(threading.current_thread().name), bell)
    lane.start([1, 2])
    lane.join()
    assert lane.finished and set(names) <= {"few_0", "few_1"}
    empty: Lane[int] = Lane(8, "none", lambda item: None, Bell())
    empty.start([])
    assert empty.finished
    with pytest.raises(RuntimeError):
        lane.start([3])


def test_an_error_rings_the_bell_and_after_cancel_no_other_item_starts() -> None:
    bell = Bell()
    first = threading.Event()
    release = threading.Event()
    started: List[int] = []

    def work(item: int) -> None:
        started.append(item)
        if item == 0:
            raise ValueError("file 0 failed unexpectedly")
        first.set()
        release.wait()

    lane: Lane[int] = Lane(2, "failing", work, bell)
    lane.start(list(range(10)))
    while not lane.errors:
        bell.wait(1.0)
    lane.cancel()
    first.wait()
    release.set()
    lane.join()
    assert isinstance(lane.errors[0], ValueError) and lane.finished
    assert 0 in started and len(started) <= 3  # the failing item, the one running beside it, at most one more taken before the cancel
