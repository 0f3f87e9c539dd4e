"""run_inline: a sequence without a parts phase, driven in the calling thread."""

from __future__ import annotations

from typing import Any, Generator, List

import pytest

from cos_multipart._drivers._inline import run_inline


def test_each_action_is_done_in_order_and_the_flow_returns_its_value() -> None:
    done: List[str] = []

    def flow() -> Generator[str, Any, str]:
        first = yield "a"
        second = yield "b"
        return f"{first}+{second}"

    def perform(action: str) -> str:
        done.append(action)
        return action.upper()

    assert run_inline(flow(), perform) == "A+B"
    assert done == ["a", "b"]


def test_a_failed_action_is_thrown_into_the_flow_which_decides() -> None:
    def flow() -> Generator[str, Any, str]:
        for attempt in range(3):
            try:
                answer: str = yield f"try {attempt}"
                return answer
            except OSError:
                continue
        return "gave up"

    failures = iter([OSError("reset"), OSError("reset")])

    def perform(action: str) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return action

    assert run_inline(flow(), perform) == "try 2"


def test_the_flows_own_failure_is_raised_and_an_interrupt_reaches_its_cleanup() -> None:
    cleaned: List[str] = []

    def flow() -> Generator[str, Any, None]:
        try:
            yield "send"
        finally:
            cleaned.append("yes")

    def perform(action: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_inline(flow(), perform)
    assert cleaned == ["yes"]


def test_a_parts_phase_is_refused_and_the_flow_closed() -> None:
    closed: List[bool] = []

    class Window:  # the shape of _machine.Window: a parts phase
        error = None
        finished = False

        def take(self) -> List[object]:
            return []

        def owns(self, action: object) -> bool:
            return False

        def receive(self, action: object, outcome: object) -> None: ...

        def fail(self, error: BaseException) -> None: ...

        def sending(self) -> bool:
            return False

        def sends_in_flight(self) -> List[object]:
            return []

    def flow() -> Generator[object, Any, None]:
        try:
            yield Window()
        finally:
            closed.append(True)

    with pytest.raises(TypeError, match="parts phase"):
        run_inline(flow(), lambda action: None)
    assert closed == [True]
