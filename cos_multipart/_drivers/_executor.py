"""The threaded executor: runs any machine's actions, its part actions on a bounded pool of threads.

:class:`ThreadExecutor` asks a :class:`~cos_multipart._core._machine.Machine` what to do, does each action where
it loops (:meth:`ThreadExecutor.perform`), starts each part action on a pool thread
(:meth:`ThreadExecutor.request`), and hands every outcome back. It decides nothing. What an action means is the
subclass's: :class:`~cos_multipart._drivers.threads.Upload` for an upload; a cluster upload
(:mod:`cos_multipart.cluster`) sends its parts elsewhere by overriding :meth:`~ThreadExecutor.start_parts`,
:meth:`~ThreadExecutor.parts_running` and :meth:`~ThreadExecutor.finished_parts`.

Ctrl-C reaches only the thread that loops: the machine is interrupted (it stops its parts, then keeps or aborts),
and the loop goes on until the machine ends. In the main thread the loop takes it at the top of a turn (the
handler rings the bell the loop waits on), never inside its own waits and bookkeeping, which take locks a
``KeyboardInterrupt`` could leave held for good; what it performs (a request, a read of a stream) is interrupted
at once (:mod:`cos_multipart._drivers._interrupts`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Any, Dict, List, Optional, Tuple

from .._core._actions import StopParts
from .._core._machine import Machine
from ._interrupts import Bell, deferring, interruptible, raise_pending

logger = logging.getLogger(__name__)

__all__ = ["POLL_SECONDS", "ClientExecutor", "ThreadExecutor"]

#: How often the loop wakes while parts are in flight (bounds the latency of Ctrl-C, which only it receives).
POLL_SECONDS = 0.2


class ThreadExecutor:
    """Runs machines with threads (see the module docstring).

    Args:
        concurrency: Part actions running at once at most (the pool's threads).
        cancel: Set when the parts are stopped: a request that carries it stops and is not retried.
        thread_name: The prefix of the pool's thread names.
    """

    def __init__(self, concurrency: int, cancel: threading.Event, *, thread_name: str = "cos-multipart") -> None:
        self.concurrency = concurrency
        self.cancel = cancel
        self.thread_name = thread_name
        self._running: Dict["concurrent.futures.Future[object]", Any] = {}
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        #: Rung by each part that finishes, and by a Ctrl-C kept for the loop (what finished_parts waits on).
        self._bell = Bell()

    # -- what a subclass writes --

    def perform(self, action: Any) -> object:
        """Do ``action`` where the executor loops (a local step or a single request); its outcome (may raise)."""
        raise NotImplementedError

    def request(self, action: Any) -> object:
        """Do the part action ``action`` (on a pool thread); its outcome (may raise)."""
        raise NotImplementedError

    def stop_parts(self) -> object:
        """Stop the part actions in flight (:class:`StopParts`): their outcomes still reach the machine."""
        self.cancel.set()
        return None

    def prepare_pool(self) -> None:
        """Called once before the pool starts (a client sizes its connection pool to the threads)."""

    # -- the loop --

    def execute(self, machine: Machine) -> None:
        """Run ``machine`` until it ends (its result or failure is then the machine's to give)."""
        interrupted: Optional[BaseException] = None
        try:
            with deferring(self._bell):  # Ctrl-C raised by raise_pending below, or inside what perform() does
                while machine.end is None:
                    try:
                        raise_pending()
                        self._turn(machine)
                        if interrupted is not None and not self.parts_running() and machine.parts_in_flight():
                            # The interrupt came between a part's end and its outcome reaching the machine (or
                            # between its start and its bookkeeping): nothing will ever report those parts.
                            machine.forget_parts(interrupted)
                    except BaseException as error:  # Ctrl-C in this thread: the machine stops and keeps or aborts
                        interrupted = interrupted or error
                        machine.interrupt(error)
        finally:
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _turn(self, machine: Machine) -> None:
        """Do what the machine asks where this loops, start its parts, hand back the parts that finished."""
        for action in machine.steps():
            self._start(machine)  # parts handed out go first: a local step (a stream's next read) takes a while
            machine.receive(action, self._outcome(action))
        self._start(machine)
        for action, outcome in self.finished_parts():
            machine.receive(action, outcome)

    def _start(self, machine: Machine) -> None:
        parts = machine.parts_to_start()
        if parts:
            self.start_parts(parts)

    def _outcome(self, action: Any) -> object:
        try:
            if isinstance(action, StopParts):
                return self.stop_parts()
            return interruptible(self.perform, action)
        except BaseException as error:  # the machine decides what it means, Ctrl-C included
            return error

    # -- where parts run (a cluster sends them elsewhere) --

    def start_parts(self, parts: List[Any]) -> None:
        """Start ``parts``, each on a thread of the pool."""
        for action in parts:
            future = self._workers().submit(self.request, action)
            self._running[future] = action
            future.add_done_callback(self._bell.ring)  # in the part's thread once its outcome is set

    def parts_running(self) -> bool:
        """Whether a part started here has not been handed back yet."""
        return bool(self._running)

    def finished_parts(self) -> List[Tuple[Any, object]]:
        """Parts that finished (waiting a little for one): each with its outcome, failures first."""
        if not self._running:
            return []
        # On the bell rather than concurrent.futures.wait: a Ctrl-C the signal handler kept rings it too.
        finished = [future for future in self._running if future.done()]
        if not finished:
            self._bell.wait(POLL_SECONDS)
            finished = [future for future in self._running if future.done()]
        outcomes: List[Tuple[Any, object]] = []
        for future in sorted(finished, key=lambda f: f.exception() is None):  # failures first: they are the news
            exception = future.exception()
            outcomes.append((self._running.pop(future), exception if exception is not None else future.result()))
        return outcomes

    def _workers(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self.prepare_pool()
            self._pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.thread_name)
        return self._pool


class ClientExecutor(ThreadExecutor):
    """A :class:`ThreadExecutor` whose requests go through one client (``self.client``, set by the subclass):
    the client's connection pool sized to the threads, and stopping the parts shuts down the connections that
    carry them. The upload's, the copy's and the download's threaded executors are these."""

    client: Any

    def prepare_pool(self) -> None:
        self.client.ensure_pool_size(self.concurrency)

    def stop_parts(self) -> object:
        self.cancel.set()  # first: a request whose event is set is not retried
        return self.client.abort_connections(cancel=self.cancel)
