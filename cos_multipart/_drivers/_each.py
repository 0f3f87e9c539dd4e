"""Calls run on a pool of threads, each result handled in the main thread as it comes, Ctrl-C taken safely.

The loops of ``cp -r``, ``download -r`` and ``check`` waited in the main thread with ``as_completed`` or
``Future.result``: both take a future's (or a waiter's) ``Condition`` in Python code, and so does the pool's
``submit``. A ``KeyboardInterrupt`` landing just after such a lock was taken leaves it held for good; the
thread that then finishes its call blocks on it and the command never ends (:mod:`._interrupts`). Here, as in a
directory run (:mod:`._dirrun`), the submits, the wait (on a :class:`~._interrupts.Bell` the futures ring) and
the cancels run inside :class:`~._interrupts.deferring`, the interrupt is taken at the loop's safe point, and
only the handling of a result (printing, which may block on a pipe) is interruptible.
"""

from __future__ import annotations

import collections
import concurrent.futures
from typing import Callable, Deque, List, Optional, Sequence, TypeVar

from ._interrupts import Bell, deferring, interruptible, raise_pending

__all__ = ["run_each"]

R = TypeVar("R")

#: How long the loop waits on its bell before looking again (it is rung when a call ends or a signal comes).
_POLL_SECONDS = 0.2


def run_each(
    pool: concurrent.futures.Executor,
    calls: Sequence[Callable[[], R]],
    handle: Callable[[R], None],
    *,
    stop: Optional[Callable[[], None]] = None,
) -> None:
    """Run every call on ``pool``; ``handle(result)`` in the calling thread as each ends, in that order.

    An error raised by a call (or by ``handle``), or an interruption, cancels the calls not started, then
    ``stop()`` runs (e.g. stopping the requests in flight), and the error is raised. The pool is the caller's
    (shut down by it).
    """
    bell = Bell()
    ended: Deque["concurrent.futures.Future[R]"] = collections.deque()  # appended by the pool's threads

    def done(future: "concurrent.futures.Future[R]") -> None:
        ended.append(future)  # (one C call: no lock of Python's taken in the pool's thread)
        bell.ring()

    futures: List["concurrent.futures.Future[R]"] = []
    with deferring(bell):
        try:
            for call in calls:
                futures.append(pool.submit(call))
                futures[-1].add_done_callback(done)
            for _ in futures:
                while not ended:
                    bell.wait(_POLL_SECONDS)
                    raise_pending()
                result = ended.popleft().result()  # done: its result, or its error
                raise_pending()
                interruptible(handle, result)
        except BaseException:
            for future in futures:
                future.cancel()  # first: a thread freed by the stop below must not start another call
            if stop is not None:
                stop()
            raise
