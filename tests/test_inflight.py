"""The bookkeeping the parts windows share (``_core._inflight.ActionsInFlight``), on its own, with no I/O."""

from __future__ import annotations

from collections import deque
from typing import Deque, List, Union

from cos_multipart._core._actions import PartDone, ProgressRewind, StopParts
from cos_multipart._core._inflight import ActionsInFlight
from cos_multipart._core._machine import Window

Action = Union[PartDone, ProgressRewind, StopParts]


class _Numbers(ActionsInFlight[Action]):
    """A window handing out one PartDone per pending number, at most two in flight."""

    def __init__(self, numbers: List[int]) -> None:
        super().__init__()
        self.pending: Deque[int] = deque(numbers)

    def _nothing_left(self) -> bool:
        return not self.pending

    def take(self) -> List[Action]:
        while self.error is None and self.pending and len(self._queue) + len(self._in_flight(PartDone)) < 2:
            self._queue.append(PartDone(self.pending.popleft(), 1))
        return self._hand_out()

    def receive(self, action: Action, outcome: object) -> None:
        follow = self._settle(action)
        if isinstance(outcome, BaseException):
            self.fail(outcome)
        elif follow is not None:
            self._queue.append(follow)

    def sending(self) -> bool:
        return self._any_in_flight(PartDone)

    def sends_in_flight(self) -> List[PartDone]:
        return self._in_flight(PartDone)


def test_it_is_a_window_and_finishes_when_all_answered() -> None:
    window = _Numbers([1, 2, 3])
    assert isinstance(window, Window)
    first = window.take()
    assert [action.number for action in first if isinstance(action, PartDone)] == [1, 2]
    assert window.sending() and window.owns(first[0]) and not window.finished
    for action in first:
        window.receive(action, None)
    assert not window.sending()
    last = window.take()
    assert [action.number for action in last if isinstance(action, PartDone)] == [3]
    window.receive(last[0], None)
    assert window.error is None
    assert window.finished


def test_owns_by_identity_not_equality() -> None:
    window = _Numbers([1])
    (taken,) = window.take()
    assert window.owns(taken)
    assert not window.owns(PartDone(1, 1))  # equal, but not the action handed out


def test_a_chained_action_is_queued_once_the_first_succeeds() -> None:
    window = _Numbers([])
    rewind, then = ProgressRewind(1), PartDone(1, 1)
    window._chain(rewind, then)
    assert window.take() == [rewind]
    window.receive(rewind, None)
    assert window.take() == [then]
    window.receive(then, None)
    assert window.finished


def test_the_first_failure_stops_once_and_is_the_one_kept() -> None:
    window = _Numbers([1, 2, 3])
    first, second = window.take()
    window.receive(first, OSError("first"))
    window.receive(second, OSError("second"))
    stops = window.take()
    assert len(stops) == 1 and isinstance(stops[0], StopParts)
    assert str(window.error) == "first"
    assert not window.finished  # the StopParts is in flight
    window.receive(stops[0], None)
    assert window.finished  # stopped: the pending part 3 is never handed out
