"""Ctrl-C and SIGTERM taken where the loops that wait for threads can take them.

A signal's Python handler runs in the main thread at the next check between two bytecodes, wherever that
thread is. A ``KeyboardInterrupt`` raised there can land inside ``threading.Condition.__enter__`` just after it
took its lock: ``__exit__`` only runs once ``__enter__`` has returned, so the lock stays held for good. The waits
of ``concurrent.futures``, ``Event.wait`` and ``Future.result`` all take one. A part thread that then finishes
blocks on that lock, the loop waits for that part, and the command never ends (the Ctrl-C tests hung in about
1 CI run in 5 this way).

So the loops that wait for threads in the main thread (:class:`~cos_multipart._drivers._executor.ThreadExecutor`'s,
a directory run's) take interrupts only where they choose. Inside :class:`deferring`, :func:`interrupt` (what the
command line's signal handler calls, and the SIGINT handler :class:`deferring` puts in place of Python's default
one) keeps the interrupt instead of raising it and rings the region's :class:`Bell`, which is what the loop waits on
(its threads ring it too when their work finishes), so the loop raises it at once, at its safe point
(:func:`raise_pending`). What the loop does that may take any time (a request, a read of a stream) runs through
:func:`interruptible`: an interrupt raises at once there, as it always did.

Every function here is called in the main thread (signal handlers run there); elsewhere they change nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Callable, Optional, Tuple, Type, TypeVar

__all__ = ["Bell", "deferring", "interrupt", "interruptible", "raise_pending"]

T = TypeVar("T")


class _Gate:
    """The main thread's state: how deep in :class:`deferring` regions it is, and the interrupt kept meanwhile.

    Changed only by plain stores (one bytecode each), so a handler running between any two of them sees a
    consistent state: ``depth > 0`` means keep, anything else means raise.
    """

    depth = 0
    pending: Optional[BaseException] = None
    bells: Tuple["Bell", ...] = ()


_GATE = _Gate()


class Bell:
    """What a loop in the main thread waits on: rung by the threads whose work finished, and by :func:`interrupt`
    when it keeps an interrupt, so the loop takes it at once instead of at the end of its poll interval.

    A lock held while nobody rang: :meth:`wait` is one ``acquire`` with a timeout, in C, which a signal
    interrupts without leaving anything held (a ``threading.Event`` or ``Condition`` would take a lock in Python
    code first), and a handler that rings it ends the wait it interrupted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def ring(self, *_: object) -> None:
        """Wake the loop (from any thread or a signal handler; rung twice, it wakes it once)."""
        try:
            self._lock.release()
        except RuntimeError:  # already rung, not waited for yet
            pass

    def wait(self, timeout: float) -> bool:
        """Wait until rung (``True``, and unrung again) or ``timeout`` seconds pass (``False``)."""
        return self._lock.acquire(timeout=timeout)


def _in_main_thread() -> bool:
    return threading.get_ident() == threading.main_thread().ident


def interrupt(error: BaseException) -> None:
    """Raise ``error`` now, or keep it for the loop when the main thread is inside :class:`deferring`.

    For a signal handler: ``raise`` there becomes ``interrupt(error)``. Only the first interrupt is kept.
    """
    if _GATE.depth > 0 and _in_main_thread():
        if _GATE.pending is None:
            _GATE.pending = error
        for bell in _GATE.bells:
            bell.ring()
        return
    raise error


def raise_pending() -> None:
    """Raise the interrupt kept since the last call, if any: the loops' safe point (the main thread's only: a
    loop in another thread, a directory run's file, must not take what the main thread's loop is owed)."""
    error = _GATE.pending
    if error is not None and _in_main_thread():
        _GATE.pending = None
        raise error


def _keep_sigint(signum: int, frame: Optional[FrameType]) -> None:
    """Python's default SIGINT handler, but kept for the loop inside a :class:`deferring` region."""
    interrupt(KeyboardInterrupt())


class deferring:  # noqa: N801 - used as a statement, like contextlib's helpers
    """A region of the main thread where interrupts wait for :func:`raise_pending` (elsewhere: nothing changes).

    The outermost region puts :func:`_keep_sigint` in place of Python's default SIGINT handler (a program with
    its own handler keeps it: the command line's calls :func:`interrupt`) and puts it back on the way out. An
    interrupt still kept when the outermost region ends is raised then, unless an interrupt already leaves.
    """

    def __init__(self, bell: Optional[Bell] = None) -> None:
        self._bell = bell  # what the region's loop waits on: rung when an interrupt is kept
        self._previous = -1  # not entered in the main thread
        self._bells: Tuple[Bell, ...] = ()
        self._replaced = False

    def __enter__(self) -> "deferring":
        if not _in_main_thread():
            return self
        previous = _GATE.depth
        if previous == 0 and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _keep_sigint)  # same as the default while depth is 0: a race is harmless
            self._replaced = True
        self._previous, self._bells = previous, _GATE.bells
        if self._bell is not None:
            _GATE.bells = (*self._bells, self._bell)
        _GATE.depth = previous + 1  # last: from here on a handler keeps, never raises
        return self

    def __exit__(
        self, kind: Optional[Type[BaseException]], error: Optional[BaseException], traceback: Optional[TracebackType]
    ) -> None:
        if self._previous < 0:
            return
        _GATE.depth = self._previous  # first: a handler from here on raises where it lands, as outside
        _GATE.bells = self._bells
        if self._previous > 0:
            return  # an outer region's loop takes what is kept
        if self._replaced and signal.getsignal(signal.SIGINT) is _keep_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            _GATE.pending = None  # already stopping: one interrupt is enough
            return
        raise_pending()


def interruptible(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` with interrupts raised at once, also inside a :class:`deferring` region (a kept one first).

    Not a context manager on purpose: an interrupt landing in ``__enter__`` after it lifted the deferral would
    skip the ``__exit__`` that restores it; here the ``finally`` covers everything after the change.
    """
    if not _in_main_thread():
        return call(*args)
    depth = _GATE.depth
    _GATE.depth = 0
    try:
        raise_pending()
        return call(*args)
    finally:
        _GATE.depth = depth
