"""The interrupts the waiting loops take at their safe points (:mod:`cos_multipart._drivers._interrupts`): kept
inside a region of the main thread, raised at once elsewhere, in what the loop performs, and when the region ends.
The signal-level cases (a real SIGINT inside a lock) are ``tests/integration/test_*interrupt_locks*.py``."""

from __future__ import annotations

import signal
import threading
from typing import List, Optional

import pytest

from cos_multipart._drivers._interrupts import Bell, deferring, interrupt, interruptible, raise_pending


class Stop(KeyboardInterrupt):
    pass


def test_outside_a_region_an_interrupt_raises_at_once() -> None:
    with pytest.raises(Stop):
        interrupt(Stop())
    raise_pending()  # nothing kept


def test_inside_a_region_the_first_interrupt_is_kept_until_the_safe_point() -> None:
    first, second = Stop("first"), Stop("second")
    with pytest.raises(Stop) as raised, deferring():
        interrupt(first)
        interrupt(second)  # a second signal while the first waits: the first is the news
        with pytest.raises(Stop) as taken:
            raise_pending()
        assert taken.value is first
        raise_pending()  # taken once
        interrupt(second)
    assert raised.value is second  # kept when the region ended: raised then, not lost


def test_a_region_left_by_an_interrupt_drops_the_one_kept() -> None:
    with pytest.raises(Stop) as raised, deferring():
        interrupt(Stop("kept"))
        raise Stop("leaving")
    assert str(raised.value) == "leaving"
    raise_pending()  # nothing left over for the next region


def test_a_region_left_by_another_error_raises_the_interrupt_kept() -> None:
    with pytest.raises(Stop) as raised, deferring():
        interrupt(Stop("kept"))
        raise ValueError("failed meanwhile")
    assert isinstance(raised.value.__context__, ValueError)


def test_what_the_loop_performs_is_interrupted_at_once_and_takes_a_kept_interrupt_first() -> None:
    performed: List[str] = []

    def perform() -> str:
        performed.append("ran")
        interrupt(Stop("inside"))  # a signal while a request runs
        return "unreachable"

    with deferring():
        with pytest.raises(Stop, match="inside"):
            interruptible(perform)
        interrupt(Stop("kept"))  # kept again once performing is over
        with pytest.raises(Stop, match="kept"):
            interruptible(performed.append, "not run")
        assert performed == ["ran"]
        assert interruptible(len, "abc") == 3
        with pytest.raises(Stop, match="last"):
            interrupt(Stop("last"))
            raise_pending()


def test_nested_regions_leave_the_kept_interrupt_to_the_outer_loop() -> None:
    with pytest.raises(Stop, match="kept"), deferring():
        with deferring():
            interrupt(Stop("kept"))
        raise_pending()


def test_other_threads_neither_keep_nor_take_the_main_threads_interrupt() -> None:
    seen: List[Optional[BaseException]] = []

    def elsewhere() -> None:
        try:
            with deferring():  # nothing changes outside the main thread
                raise_pending()  # must not take what the main thread's loop is owed
                interrupt(Stop("in a thread"))
        except Stop as error:
            seen.append(error)

    with pytest.raises(Stop, match="main"), deferring():
        interrupt(Stop("main"))
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert [str(error) for error in seen if error is not None] == ["in a thread"]
        raise_pending()


def test_the_default_sigint_handler_is_replaced_inside_a_region_and_put_back() -> None:
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with deferring():
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
            signal.raise_signal(signal.SIGINT)  # kept, not raised here
            with pytest.raises(KeyboardInterrupt):
                raise_pending()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        def own(signum: int, frame: object) -> None:
            pass

        signal.signal(signal.SIGINT, own)
        with deferring():
            assert signal.getsignal(signal.SIGINT) is own  # a program's own handler is its own business
        assert signal.getsignal(signal.SIGINT) is own
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_kept_interrupt_rings_the_bell_its_loop_waits_on() -> None:
    bell, other = Bell(), Bell()
    assert not bell.wait(0)
    with pytest.raises(Stop), deferring(bell):
        with deferring():  # an inner region without a bell keeps the outer one's
            interrupt(Stop())
        assert bell.wait(0) and not bell.wait(0)  # rung once, for the loop to take it now
        raise_pending()
    with deferring(other):
        pass
    interrupt_outside = pytest.raises(Stop)
    with interrupt_outside:
        interrupt(Stop())  # outside every region: raised, no bell rung
    assert not bell.wait(0) and not other.wait(0)


def test_a_bell_rung_twice_wakes_once() -> None:
    bell = Bell()
    bell.ring()
    bell.ring()
    assert bell.wait(0) and not bell.wait(0)
