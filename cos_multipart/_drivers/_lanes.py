"""A fixed set of threads working through one list of items: a directory run's lane of files.

A ``ThreadPoolExecutor`` makes a future per item, and its ``submit`` takes a Python semaphore and a condition:
some 75 Python calls per file, which on a tree of small files was an eighth of all the work. A lane instead
puts every item in one C queue, its threads take them in order, and the count of items left is kept under one
lock; the caller waits on a :class:`~._interrupts.Bell` rung when the last item ends or one raises.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, List, Optional, Sequence, TypeVar

from ._interrupts import Bell

__all__ = ["Lane"]

T = TypeVar("T")

#: Put once per thread after the items: the thread that takes it ends.
_END = object()


class Lane(Generic[T]):
    """Up to ``threads`` threads named ``name``, each calling ``work(item)`` for the next item not yet taken.

    Args:
        threads: Threads at most (only as many as there are items are started).
        name: The threads' name prefix.
        work: Called once per item; what it raises is kept in :attr:`errors` (the lane goes on with the
            other items unless :meth:`cancel` is called).
        bell: Rung when every item has ended, or when one raised.
    """

    def __init__(self, threads: int, name: str, work: Callable[[T], None], bell: Bell) -> None:
        if threads < 1:
            raise ValueError("a lane needs at least one thread")
        self._threads = threads
        self._name = name
        self._work = work
        self._bell = bell
        self._items: "queue.SimpleQueue[object]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._left = 0
        self._cancelled = False
        self._running: List[threading.Thread] = []
        #: What the items raised, in the order they ended.
        self.errors: List[BaseException] = []

    def start(self, items: Sequence[T]) -> None:
        """Work through ``items`` (called once)."""
        if self._running:
            raise RuntimeError("a lane is started once")
        self._left = len(items)
        if not items:
            self._bell.ring()
            return
        for item in items:
            self._items.put(item)
        count = min(self._threads, len(items))
        for _ in range(count):
            self._items.put(_END)
        for number in range(count):
            thread = threading.Thread(target=self._run, name=f"{self._name}_{number}")
            self._running.append(thread)
            thread.start()

    @property
    def finished(self) -> bool:
        """Whether every item has ended (started and returned or raised, or dropped by :meth:`cancel`)."""
        return self._left == 0

    def cancel(self) -> None:
        """Start no further item: those not taken yet end without being worked on."""
        self._cancelled = True

    def join(self) -> None:
        """Wait until every thread has ended (call :meth:`cancel` first to drop the items not started)."""
        for thread in self._running:
            thread.join()

    def _run(self) -> None:
        while True:
            item = self._items.get()
            if item is _END:
                return
            error: Optional[BaseException] = None
            if not self._cancelled:
                try:
                    self._work(item)  # type: ignore[arg-type]  # every item but _END is a T
                except BaseException as failure:  # noqa: BLE001 - kept for the caller, who raises it
                    error = failure
            self._ended(error)

    def _ended(self, error: Optional[BaseException]) -> None:
        with self._lock:
            self._left -= 1
            if error is not None:
                self.errors.append(error)
            ring = error is not None or self._left == 0
        if ring:
            self._bell.ring()
