"""A sequence with no parts phase, run in the calling thread: each action done where it is asked for.

The executors of :mod:`cos_multipart._drivers._executor` run a :class:`~cos_multipart._core._machine.Machine`:
a loop that hands parts to a pool, waits on a bell, defers Ctrl-C to its safe point. A sequence that never
yields a parts phase (a directory run's small file: one verified PUT) needs none of it, and on thousands of
small files that loop cost more Python than the request itself. :func:`run_inline` drives such a sequence
directly: the same generator (:mod:`cos_multipart._core._flow`), so the same decisions, retries and checks;
only the executing is shorter. It is meant for worker threads (a lane of a directory run): the main thread's
Ctrl-C handling is the executors' job.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Optional, TypeVar

from .._core._machine import is_window

__all__ = ["run_inline"]

T = TypeVar("T")


def run_inline(flow: Generator[Any, Any, T], perform: Callable[[Any], object]) -> T:
    """Run ``flow`` to its end, doing each action it yields with ``perform``; what it returns.

    An exception ``perform`` raises is thrown into the flow at its ``yield`` (as the machine does): the flow
    decides whether it is retried, tolerated or fatal. The flow's own failure is raised.

    Raises:
        TypeError: The flow yielded its parts phase (a window): run it with an executor instead.
    """
    value: object = None
    error: Optional[BaseException] = None
    while True:
        try:
            step = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if is_window(step):  # the machine's own test: never expected here
            flow.close()
            raise TypeError(f"{type(step).__name__}: a parts phase cannot run inline")
        try:
            value, error = perform(step), None
        except BaseException as failure:  # noqa: BLE001 - the flow decides what it means, as with the machine
            value, error = None, failure
