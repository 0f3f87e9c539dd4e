"""The transport's connections to its one endpoint over :mod:`._wire`: a pool, the TLS context, one send.

:class:`WirePool` keeps idle connections (the newest reused first, each checked for a close by the server
before it carries a request) and at most ``size`` connections at once; a thread asking while every one is
busy waits, and stops waiting when its ``cancel`` event is set. :class:`WireEngine` sends one request: a
connection from the pool, the request written, the answer's head read; the connection goes back to the pool
when the caller has read (or closed) the answer.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any, Callable, List, Optional, Protocol, Tuple, Union
from urllib.parse import urlsplit

from ._tls import bundle_locations
from ._wire import WireAnswer, WireConnection, WireFailure, connect, request_head
from .._protocol.signer import host_header

__all__ = ["WireEngine", "WirePool", "tls_context"]

_PROCESS = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _PROCESS.__setitem__(0, os.getpid()))


def _pid() -> int:
    """This process's id, without a system call per request (updated in a forked child)."""
    return _PROCESS[0] if hasattr(os, "register_at_fork") else os.getpid()


#: Seconds between two looks at a waiting thread's ``cancel`` event (a connection given back wakes it at once).
_CANCEL_POLL = 0.25


class _Watcher(Protocol):
    """What the transport's connection registry hears from the engine (see ``transport._ConnectionRegistry``)."""

    def recorded(self, connection: Any) -> None: ...

    def bind(self, connection: Any) -> None: ...


def tls_context(verify: Union[bool, str], default_bundle: Callable[[], str]) -> ssl.SSLContext:
    """The TLS settings of every connection: certificates checked against ``verify`` (a CA bundle file or
    directory; ``True``: ``default_bundle()``, the same bundle ``requests`` uses), the host name checked,
    TLS 1.2 or newer; ``False`` checks nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile, capath = bundle_locations(default_bundle() if verify is True else verify)
    context.load_verify_locations(cafile=cafile, capath=capath)
    return context


class WirePool:
    """At most ``size`` connections made by ``opener``; idle ones kept for reuse."""

    def __init__(self, opener: Callable[[], WireConnection], size: int) -> None:
        self._opener = opener
        self._size = size
        self._idle: List[WireConnection] = []
        self._open = 0
        self._closed = False
        # Taken with the C lock's own ``with`` (never ``with condition``, whose __enter__ is Python code: a Ctrl-C
        # raised just after it took the lock would leave the lock held, and every thread of the pool blocked).
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)
        self._pid = _pid()
        self._waiting = 0  # threads waiting on the condition (changed under the lock)

    @property
    def size(self) -> int:
        return self._size

    def grow(self, size: int) -> None:
        """Allow at least ``size`` connections at once."""
        with self._lock:
            if size > self._size:
                self._size = size
                self._condition.notify_all()

    def take(self, cancel: Optional[threading.Event]) -> WireConnection:
        """An idle connection, or a new one; waits while ``size`` are busy.

        Raises:
            ConnectionAbortedError: ``cancel`` was set while waiting (the transport reads it as cancelled).
            WireFailure, WireTimeout: Making a new connection failed.
        """
        while True:
            idle: Optional[WireConnection] = None
            with self._lock:
                if self._pid != _pid():  # a forked child must not share its parent's sockets
                    self._idle, self._open, self._pid = [], 0, _pid()
                if self._idle:
                    idle = self._idle.pop()
                elif self._open < self._size:
                    self._open += 1
                    break
                else:
                    if cancel is not None and cancel.is_set():
                        raise ConnectionAbortedError("request cancelled")
                    self._waiting += 1
                    try:
                        self._condition.wait(_CANCEL_POLL if cancel is not None else None)
                    finally:
                        self._waiting -= 1
                    continue
            if not idle.dropped():  # outside the lock: a system call
                return idle
            idle.close()
            self._forget()
        try:
            return self._opener()
        except BaseException:
            self._forget()
            raise

    def give_back(self, connection: WireConnection, keep: bool) -> None:
        """Return a connection taken: kept idle when ``keep`` (its answer read to the end), else closed."""
        if keep:
            connection.set_deadline(None)
            with self._lock:
                if not self._closed and self._pid == _pid():
                    self._idle.append(connection)
                    if self._waiting:  # (Condition.notify is Python code: not called for nobody, per request)
                        self._condition.notify()
                    return
        connection.close()
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._open = max(0, self._open - 1)
            if self._waiting:
                self._condition.notify()

    def close(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for connection in idle:
            connection.close()


class WireEngine:
    """Sends requests to one endpoint (``scheme://host[:port]``) over pooled :class:`WireConnection` s."""

    def __init__(
        self,
        base_url: str,
        *,
        tls: Optional[ssl.SSLContext],
        pool_size: int,
        blocksize: int,
        timeout: Tuple[Optional[float], Optional[float]],
        answer_deadline: Optional[float],
        watcher: _Watcher,
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._host_header = host_header(base_url)
        self._tls = tls
        self._blocksize = blocksize
        self._connect_timeout, self._read_timeout = timeout
        self._answer_deadline = answer_deadline
        self._watcher = watcher
        self.pool = WirePool(self._open, pool_size)

    def _open(self) -> WireConnection:
        connection = connect(
            self._host, self._port, timeout=self._connect_timeout, read_timeout=self._read_timeout, tls=self._tls
        )
        try:
            self._watcher.recorded(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def send(
        self,
        method: str,
        target: str,
        headers: List[Tuple[str, str]],
        body: Any,
        length: int,
        cancel: Optional[threading.Event],
    ) -> WireAnswer:
        """Write one request and read its answer's head; the body is left for the caller to read or close.

        The whole answer must arrive within ``answer_deadline`` seconds of the request being written
        (:class:`~._wire.DeadlinePassed` otherwise); :meth:`WireAnswer.end_deadline` lifts it for a body the
        caller streams at its own pace.

        ``headers`` are sent as given, after ``Host`` (unless given) and before nothing else: the caller
        includes ``Content-Length`` where the request has one.
        """
        if "host" not in [name.lower() for name, _ in headers]:  # (a list: one call, where a generator resumes per field)
            headers = [("Host", self._host_header), *headers]
        head = request_head(method, target, headers)
        connection = self.pool.take(cancel)
        try:
            self._watcher.bind(connection)
            try:
                connection.request(head, body, length, self._blocksize)
            except WireFailure:
                early = self._early_answer(connection, method)
                if early is None:
                    raise
                return early
            connection.set_deadline(self._answer_deadline)
            return WireAnswer(connection, method, self.pool.give_back)
        except BaseException:
            self.pool.give_back(connection, False)
            raise

    def _early_answer(self, connection: WireConnection, method: str) -> Optional[WireAnswer]:
        """The answer a server sent before it stopped reading the request (a 403 or 400 for a body it will not
        take, then a reset), so the caller sees the service's error instead of a broken pipe."""
        try:
            return WireAnswer(connection, method, lambda used, _keep: self.pool.give_back(used, False))
        except (OSError, ValueError):
            return None

    @property
    def pool_size(self) -> int:
        """Connections allowed at once."""
        return self.pool.size

    def grow(self, size: int) -> None:
        """Allow at least ``size`` connections at once."""
        self.pool.grow(size)

    def close(self) -> None:
        self.pool.close()
