"""Which requests are in flight on which connections: answer deadlines and cancel scopes, for any HTTP engine.

The transport sends each request inside :meth:`ConnectionRegistry.carrying`; the engine that carries it
reports the connection it made (:meth:`~ConnectionRegistry.recorded`), the one it writes the request on
(:meth:`~ConnectionRegistry.bind`) and the moment the request is written (:meth:`~ConnectionRegistry.sent`,
which arms the answer deadline). :meth:`~ConnectionRegistry.shutdown` then reaches the sockets of one cancel
scope, or all, from any thread. A connection is anything with a ``sock`` attribute.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
import weakref
from typing import Any, List, Optional, Set, Tuple

__all__ = ["DEADLINES", "Carrying", "ConnectionRegistry", "Deadlines"]


class Deadlines:
    """Every answer deadline of the process, watched by one long-lived thread.

    A request arms its deadline when written and disarms it when its answer is read: thousands a minute
    on a busy client. A thread per deadline (``threading.Timer``) started and ended a thread for each
    request, and on CPython 3.11 a thread starting or ending while another thread runs
    ``sys._current_frames()`` can deadlock the whole process (the runtime lock against the GIL, when a
    garbage collection runs inside that call: python/cpython#106883). Dask's worker profiler calls it every
    10 ms, so directory uploads on a cluster froze: every thread of a worker waiting for the GIL, answers
    left unread in their sockets. Here arming a deadline starts no thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # taken with its own ``with``, not the condition's (see _wirepool.WirePool)
        self._condition = threading.Condition(self._lock)
        self._heap: List[Tuple[float, int, "Carrying"]] = []
        self._order = itertools.count()
        self._disarmed = 0
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        #: Threads this watcher started (tests: one per process, whatever the number of requests).
        self.threads_started = 0

    def arm(self, entry: "Carrying", seconds: float) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child has the heap but not the thread
                self._heap, self._disarmed, self._thread, self._pid = [], 0, None, os.getpid()
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="answer-deadlines", daemon=True)
                self._thread.start()
                self.threads_started += 1
            elif self._heap[0][2] is entry:
                self._condition.notify()  # the earliest deadline now: the watcher sleeps too long

    def disarm(self, entry: "Carrying") -> None:
        with self._lock:
            if entry.state != Carrying.ARMED:
                return
            entry.state = Carrying.DISARMED
            self._disarmed += 1
            # Disarmed entries leave the heap as their time comes, or all at once when they are most of it
            # (so a heap of finished requests neither grows with the request rate nor holds their connections).
            if self._disarmed > 64 and 2 * self._disarmed > len(self._heap):
                self._heap = [item for item in self._heap if item[2].state == Carrying.ARMED]
                heapq.heapify(self._heap)
                self._disarmed = 0

    def _watch(self) -> None:
        with self._lock:
            while True:
                if not self._heap:
                    self._condition.wait()
                    continue
                when, _, entry = self._heap[0]
                if entry.state != Carrying.ARMED:
                    heapq.heappop(self._heap)
                    self._disarmed = max(0, self._disarmed - 1)
                    continue
                left = when - time.monotonic()
                if left > 0:
                    self._condition.wait(left)
                    continue
                heapq.heappop(self._heap)
                entry.state = Carrying.EXPIRED
                entry.expire()  # under the lock: a disarm cannot pass it (a socket shutdown does not block)


DEADLINES = Deadlines()


class Carrying:
    """One request in flight: its ``cancel`` event, its answer deadline, and its connection (once known).

    The deadline is armed when the request (head and body) has been written, and disarmed when the transport
    has read the whole answer; if it passes first, the process's deadline watcher shuts the connection down,
    so an answer trickling in (which resets the read timeout with every byte) fails instead of running forever.
    """

    IDLE, ARMED, DISARMED, EXPIRED = range(4)
    __slots__ = ("cancel", "deadline", "send_timeout", "connection", "state")

    def __init__(
        self, cancel: Optional[threading.Event], deadline: Optional[float], send_timeout: Optional[float]
    ) -> None:
        self.cancel = cancel
        self.deadline = deadline
        self.send_timeout = send_timeout
        self.connection: Any = None
        self.state = Carrying.IDLE

    @property
    def expired(self) -> bool:
        return self.state == Carrying.EXPIRED

    def arm(self) -> None:
        if self.deadline is not None and self.state == Carrying.IDLE:
            self.state = Carrying.ARMED
            DEADLINES.arm(self, self.deadline)

    def disarm(self) -> None:
        if self.state == Carrying.ARMED:
            DEADLINES.disarm(self)

    def expire(self) -> None:
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class ConnectionRegistry:
    """Every connection one transport opened (weakly held), and which ones carry which ``cancel`` scope.

    A pool keeps only idle connections; one lent to a request waiting for its answer is reachable from
    nowhere else. So the engine reports each connection it makes (all can be shut down) and, each time it
    sends a request, binds the connection to the scope the sending thread entered with :meth:`carrying`: a
    keep-alive connection carries many requests of many scopes in its life, so the binding is made per
    request, not per connect.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._in_flight: Set[Carrying] = set()
        self._local = threading.local()

    def recorded(self, connection: Any) -> None:
        """A connection was made (it carries ``sock``): recorded, so :meth:`shutdown` can reach it."""
        with self._lock:
            self._connections.add(connection)
        self._set_send_timeout(connection)
        # A shutdown of this scope that ran while the socket did not exist yet could not reach it.
        self._refuse_if_cancelled()

    def bind(self, connection: Any) -> None:
        """The request this thread is about to write goes over ``connection``."""
        current = self.current()
        if current is not None:
            with self._lock:
                current.connection = connection
            self._set_send_timeout(connection)
            self._refuse_if_cancelled()

    def sent(self) -> None:
        """This thread's request is written: its answer deadline starts."""
        current = self.current()
        if current is not None:
            current.arm()

    def _set_send_timeout(self, connection: Any) -> None:
        # urllib3 wrote the body with the *connect* timeout on the socket, so one block (1 MiB) had to go out
        # within 10 s: slower than ~100 KiB/s (traffic_limit's minimum is 100 KiB/s) failed. The read
        # timeout is the "no progress" limit the caller chose; it applies to writing the body too.
        current = self.current()
        sock = getattr(connection, "sock", None)
        if current is not None and current.send_timeout is not None and sock is not None:
            sock.settimeout(current.send_timeout)

    def current(self) -> Optional[Carrying]:
        """The request this thread is sending, if it entered :meth:`carrying`."""
        return getattr(self._local, "current", None)

    def _refuse_if_cancelled(self) -> None:
        current = self.current()
        if current is not None and current.cancel is not None and current.cancel.is_set():
            # An OSError, so it takes the path of a shut socket: the transport then raises CosCancelledError.
            raise ConnectionAbortedError("request cancelled")

    def carrying(
        self, cancel: Optional[threading.Event], deadline: Optional[float] = None, send_timeout: Optional[float] = None
    ) -> "_Carried":
        """While inside (a ``with`` block, which gives the :class:`Carrying` or ``None`` when there is nothing to
        carry), the connection this thread sends its request on belongs to ``cancel``'s scope, and must deliver
        its whole answer within ``deadline`` seconds of the request being written."""
        if cancel is None and deadline is None and send_timeout is None:
            return _NOTHING_CARRIED
        return _Carried(self, Carrying(cancel, deadline, send_timeout))

    def _enter(self, entry: Carrying) -> None:
        self._local.current = entry
        with self._lock:
            self._in_flight.add(entry)

    def _leave(self, entry: Carrying) -> None:
        entry.disarm()
        self._local.current = None
        with self._lock:
            self._in_flight.discard(entry)

    def shutdown(self, cancel: Optional[threading.Event] = None) -> int:
        """Shut down the sockets carrying requests of ``cancel`` (every open socket, in use or idle, when
        ``None``); returns how many. A connection shut down is reopened when next taken from the pool."""
        with self._lock:
            if cancel is None:
                connections = list(self._connections)
            else:
                connections = [e.connection for e in self._in_flight if e.cancel is not None and e.cancel is cancel]
        count = 0
        for connection in connections:
            sock = getattr(connection, "sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
                count += 1
            except OSError:  # already closed
                pass
        return count


class _Carried:
    """The ``with`` block of :meth:`ConnectionRegistry.carrying` (a class, not a generator: it is entered once
    per request, and a generator-based context manager costs several times the calls)."""

    __slots__ = ("_registry", "_entry")

    def __init__(self, registry: Optional[ConnectionRegistry], entry: Optional[Carrying]) -> None:
        self._registry = registry
        self._entry = entry

    def __enter__(self) -> Optional[Carrying]:
        if self._registry is not None and self._entry is not None:
            self._registry._enter(self._entry)
        return self._entry

    def __exit__(self, *exc_info: object) -> None:
        if self._registry is not None and self._entry is not None:
            self._registry._leave(self._entry)


#: Nothing to carry: no scope, no deadline, no send timeout.
_NOTHING_CARRIED = _Carried(None, None)
