"""The generic executors run any machine: a toy sequence with its own window, on threads and on asyncio."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, Generator, List, Optional

import pytest

from cos_multipart._core._actions import Head, SendPart, StopParts
from cos_multipart._core._machine import Machine, Window
from cos_multipart._drivers._aio_executor import AsyncExecutor
from cos_multipart._drivers._executor import ThreadExecutor


class ToyWindow:
    """Hands out one part action per number, at most ``limit`` at once; the first failure stops it."""

    def __init__(self, numbers: List[int], limit: int) -> None:
        self.pending = list(numbers)
        self.limit = limit
        self.results: Dict[int, object] = {}
        self.error: Optional[BaseException] = None
        self.out: Dict[int, Any] = {}
        self.queue: List[Any] = []
        self.most_at_once = 0

    @property
    def finished(self) -> bool:
        return not self.out and not self.queue and (self.error is not None or not self.pending)

    def take(self) -> List[Any]:
        while self.error is None and self.pending and len(self.out) + len(self.queue) < self.limit:
            self.queue.append(SendPart("u", self.pending.pop(0), 0, 1, False))
        taken, self.queue = self.queue, []
        for action in taken:
            self.out[id(action)] = action
        self.most_at_once = max(self.most_at_once, sum(isinstance(a, SendPart) for a in self.out.values()))
        return taken

    def owns(self, action: object) -> bool:
        return id(action) in self.out

    def receive(self, action: Any, outcome: object) -> None:
        del self.out[id(action)]
        if isinstance(action, StopParts):
            return
        if isinstance(outcome, BaseException):
            self.fail(outcome)
        else:
            self.results[action.number] = outcome

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
            self.queue.append(StopParts())

    def sending(self) -> bool:
        return any(isinstance(a, SendPart) for a in self.out.values())

    def sends_in_flight(self) -> List[Any]:
        return [a for a in self.out.values() if isinstance(a, SendPart)]


def toy_flow(window: ToyWindow) -> Generator[Any, Any, Any]:
    head = yield Head()
    yield window
    return head, dict(sorted(window.results.items()))


class ToyThreads(ThreadExecutor):
    def __init__(self, fail_on: Optional[int] = None) -> None:
        super().__init__(3, threading.Event())
        self.fail_on = fail_on
        self.stopped = 0

    def perform(self, action: Any) -> object:
        return "headed"

    def request(self, action: Any) -> object:
        if action.number == self.fail_on:
            raise OSError(f"part {action.number}")
        return action.number * 2

    def stop_parts(self) -> object:
        self.stopped += 1
        return super().stop_parts()


class ToyAsync(AsyncExecutor):
    def __init__(self, fail_on: Optional[int] = None) -> None:
        super().__init__()
        self.fail_on = fail_on

    async def perform(self, action: Any) -> object:
        return "headed"

    async def request(self, action: Any) -> object:
        await asyncio.sleep(0)
        if action.number == self.fail_on:
            raise OSError(f"part {action.number}")
        return action.number * 2


def test_a_window_is_recognised_by_its_shape() -> None:
    assert isinstance(ToyWindow([], 1), Window)
    assert not isinstance(Head(), Window)


def test_threads_run_a_machine_that_is_not_an_upload() -> None:
    window = ToyWindow(list(range(1, 11)), limit=3)
    machine = Machine(toy_flow(window))
    ToyThreads().execute(machine)
    assert machine.value() == ("headed", {n: 2 * n for n in range(1, 11)})
    assert window.most_at_once <= 3


def test_threads_stop_the_parts_at_the_first_failure_and_raise_it() -> None:
    executor = ToyThreads(fail_on=4)
    machine = Machine(toy_flow(ToyWindow(list(range(1, 11)), limit=2)))
    executor.execute(machine)
    assert executor.stopped == 1 and executor.cancel.is_set()
    with pytest.raises(OSError, match="part 4"):
        machine.value()


def test_asyncio_runs_the_same_machine() -> None:
    window = ToyWindow(list(range(1, 11)), limit=3)
    machine = Machine(toy_flow(window))
    asyncio.run(ToyAsync().execute(machine))
    assert machine.value() == ("headed", {n: 2 * n for n in range(1, 11)})


def test_asyncio_stops_at_the_first_failure() -> None:
    executor = ToyAsync(fail_on=2)
    machine = Machine(toy_flow(ToyWindow(list(range(1, 6)), limit=5)))
    asyncio.run(executor.execute(machine))
    assert executor.stop.is_set()
    with pytest.raises(OSError, match="part 2"):
        machine.value()
