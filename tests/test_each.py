"""``_drivers/_each.run_each``: every call's result handled in the calling thread, as each ends; a failure
cancels the calls not started and stops those in flight before it is raised."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List

import pytest

from cos_multipart._drivers._each import run_each


def test_every_result_is_handled_in_the_calling_thread_in_the_order_the_calls_end() -> None:
    second_ended = threading.Event()
    handled: List[int] = []
    threads: List[int] = []

    def first() -> int:
        second_ended.wait(30)  # (bounded: a failure, not a timing decision)
        return 1

    def second() -> int:
        return 2

    def handle(result: int) -> None:
        handled.append(result)
        threads.append(threading.get_ident())
        if result == 2:
            second_ended.set()

    with ThreadPoolExecutor(2) as pool:
        run_each(pool, [first, second], handle)
    assert handled == [2, 1]
    assert set(threads) == {threading.get_ident()}


def test_a_failed_call_cancels_those_not_started_then_stops_and_raises() -> None:
    release = threading.Event()
    ran: List[int] = []
    stops: List[bool] = []

    def failing() -> int:
        raise OSError("the disk is gone")

    def blocked() -> int:
        release.wait(30)
        ran.append(0)
        return 0

    def later(number: int) -> Callable[[], int]:
        def call() -> int:
            ran.append(number)
            return number

        return call

    def stop() -> None:
        stops.append(True)
        release.set()  # what a stop does to the requests in flight

    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(OSError, match="the disk is gone"):
            run_each(pool, [blocked, failing, *(later(n) for n in range(1, 6))], lambda _: None, stop=stop)
    assert stops == [True]
    # The call under way ran on; of the five not started, at most the one the failed call's thread took up
    # before the cancel ran, the others never.
    assert 0 in ran and len([number for number in ran if number]) <= 1, ran


def test_nothing_to_run_returns_at_once() -> None:
    with ThreadPoolExecutor(1) as pool:
        run_each(pool, [], lambda _: None)
