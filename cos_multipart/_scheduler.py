"""Run tasks on a bounded thread pool and stop at the first failure; knows nothing of COS.

At most ``concurrency`` tasks run at once; the next task is only taken from the iterator when a slot is free,
so a producer that reads a stream part by part holds at most ``concurrency`` parts (plus the one being read).
Results are handed to ``accept`` in the coordinating thread, one at a time. The first failure (a task's, the
producer's, ``accept``'s, or Ctrl-C in the coordinator) sets the shared cancel event, calls ``on_stop`` (the
driver frees requests blocked on slow answers), waits for the running tasks, gives the results of tasks that
still finished to ``accept``, and re-raises that failure. Failures are raised before cancellations, in the
order tasks were submitted, so the error a user sees is the real one.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Callable, Dict, Generic, Iterator, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: How often the coordinator wakes while waiting (bounds the latency of Ctrl-C, which only it receives).
POLL_SECONDS = 0.2


class BoundedRunner(Generic[T]):
    """Runs tasks with at most ``concurrency`` in flight.

    Args:
        concurrency: Tasks at once (threads).
        cancel: Set on the first failure; tasks are expected to watch it.
        on_stop: Called once when stopping after a failure, before waiting for the tasks.
        name: Thread name prefix.
    """

    def __init__(
        self,
        concurrency: int,
        cancel: threading.Event,
        *,
        on_stop: Callable[[], None] = lambda: None,
        name: str = "cos-multipart",
    ) -> None:
        self._concurrency = concurrency
        self._cancel = cancel
        self._on_stop = on_stop
        self._name = name

    def run(self, tasks: Iterator[Callable[[], T]], accept: Callable[[T], None]) -> None:
        """Run every task; ``accept`` each result. Raises the first failure after stopping the rest."""
        pending: Dict["concurrent.futures.Future[T]", int] = {}
        pool = concurrent.futures.ThreadPoolExecutor(self._concurrency, thread_name_prefix=self._name)
        submitted = 0
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self._concurrency:
                    task = next(tasks, None)
                    if task is None:
                        exhausted = True
                    else:
                        pending[pool.submit(task)] = submitted
                        submitted += 1
                if not pending:
                    break
                finished, _ = concurrent.futures.wait(
                    pending, timeout=POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in sorted(finished, key=lambda f: (f.exception() is None, pending[f])):
                    pending.pop(future)
                    accept(future.result())
        except BaseException:
            self._cancel.set()
            try:
                self._on_stop()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
                self._collect_late(pending, accept)
            raise
        pool.shutdown(wait=True)

    @staticmethod
    def _collect_late(pending: Dict["concurrent.futures.Future[T]", int], accept: Callable[[T], None]) -> None:
        """Results that arrived while stopping still count (a resume will not send those parts again)."""
        for future in sorted(pending, key=pending.__getitem__):
            if future.done() and not future.cancelled() and future.exception() is None:
                try:
                    accept(future.result())
                except Exception as error:  # the first failure is what is raised
                    logger.debug("result dropped while stopping: %s", error)
