"""RequestSlots: the bound on requests at once that a directory run's files and parts share."""

from __future__ import annotations

import threading
from typing import List

import pytest

from cos_multipart._io._slots import RequestSlots
from cos_multipart._protocol.errors import CosCancelledError


def test_a_slot_is_given_back_when_the_block_fails() -> None:
    slots = RequestSlots(2)
    with pytest.raises(RuntimeError):
        with slots.held():
            raise RuntimeError("the request failed")
    with slots.held(), slots.held():
        assert slots.peak == 2
    assert slots._free.qsize() == 2  # noqa: SLF001 - both tokens are back


def test_a_request_waiting_for_a_slot_gives_up_when_the_pool_stops() -> None:
    slots = RequestSlots(1)
    outcome: List[BaseException] = []
    waiting = threading.Event()

    def second() -> None:
        waiting.set()
        try:
            with slots.held():
                outcome.append(AssertionError("entered a slot the first request holds"))
        except BaseException as error:  # reported below
            outcome.append(error)

    with slots.held():
        thread = threading.Thread(target=second)
        thread.start()
        waiting.wait()
        slots.stop()
        thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], CosCancelledError)
    with pytest.raises(CosCancelledError):
        with slots.held():
            pass  # a stopped pool starts nothing, even with a free slot
    assert slots.peak == 1 and slots._free.qsize() == 1  # noqa: SLF001
