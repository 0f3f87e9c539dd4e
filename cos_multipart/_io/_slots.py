"""A shared pool of request slots: at most ``limit`` COS requests at once, whatever the number of uploads.

A directory upload runs many uploads at the same time (single PUTs of small files, parts of large ones).
Each keeps its own driver and scheduler; what they share is a view of one client whose transport takes a
slot for every request it sends and gives it back when the answer is read. The view is the client's own
:meth:`~cos_multipart._io.client.CosClient.with_transport` given a wrapper of its transport
(:meth:`RequestSlots.wrap`, an :class:`~cos_multipart._io._transports.HttpTransport`): nothing private of the
client is copied or replaced. So the bound holds across files
and parts, and also covers Initiate, Complete, List Parts and HEAD, not only the bodies. Memory follows:
a part is read from its file while it is sent, so the bytes in flight are bounded by the slots.

A request waiting for a slot gives up with :class:`~cos_multipart._protocol.errors.CosCancelledError` once the
pool is stopped (Ctrl-C), instead of starting. Requests in flight are stopped too, as a single upload's
Ctrl-C stops its own: their ``cancel`` scope (the upload's, or the pool's for requests sent without one) is
set, so they are not retried, and their connections are shut down, so one waiting for a slow answer ends
at once instead of after the read timeout.
"""

from __future__ import annotations

import queue
import threading
from typing import Dict, List, Optional, Tuple, TypeVar

from ._streams import ObjectStream
from ._transports import HttpTransport, Parser
from .client import CosClient
from .._protocol.credentials import Credentials
from .._protocol.endpoint import Endpoint
from .._protocol.errors import CosCancelledError
from .._protocol.models import HttpCall, ObjectResult

__all__ = ["RequestSlots"]

T = TypeVar("T")

#: How often a request waiting for a slot looks at the stop flag.
_WAIT_SECONDS = 0.1


class RequestSlots:
    """At most ``limit`` requests in flight among every client view made with :meth:`client_view`.

    Args:
        limit: Requests at once, at least 1.

    Attributes:
        peak: The most requests that were in flight at one time (for tests and benchmarks).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        # The free slots as tokens in a C queue: taking and giving one back is a call each, where a
        # threading.Semaphore (a Python condition) cost a dozen, on every request of a run.
        self._free: "queue.SimpleQueue[None]" = queue.SimpleQueue()
        for _ in range(limit):
            self._free.put(None)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0
        self.stopped = threading.Event()
        #: The cancel scopes of the requests in flight: scope -> (its transport, how many requests).
        self._scopes: Dict[threading.Event, Tuple[HttpTransport, int]] = {}

    def held(self, scope: Optional[threading.Event] = None, transport: Optional[HttpTransport] = None) -> "_Held":
        """A ``with`` block holding one slot (entering waits for a free one); a request of ``scope`` sent on
        ``transport`` inside it is stopped by :meth:`stop`.

        Raises:
            CosCancelledError: On entering, when the pool was stopped before a slot was free.
        """
        return _Held(self, scope, transport)

    def _take(self, scope: Optional[threading.Event], transport: Optional[HttpTransport]) -> None:
        while True:
            try:
                self._free.get(timeout=_WAIT_SECONDS)
                break
            except queue.Empty:
                if self.stopped.is_set():
                    raise CosCancelledError("stopped before this request was sent") from None
        with self._lock:
            if self.stopped.is_set():
                self._free.put(None)
                raise CosCancelledError("stopped before this request was sent")
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
            if scope is not None and transport is not None:
                self._scopes[scope] = (transport, self._scopes.get(scope, (transport, 0))[1] + 1)

    def _give_back(self, scope: Optional[threading.Event]) -> None:
        with self._lock:
            self._in_flight -= 1
            if scope is not None and scope in self._scopes:
                owner, count = self._scopes[scope]
                if count > 1:
                    self._scopes[scope] = (owner, count - 1)
                else:
                    del self._scopes[scope]
        self._free.put(None)

    def stop(self) -> None:
        """Refuse every request not yet started and stop those in flight: their cancel scopes are set (no
        retry, their uploads stop) and their connections shut down (no wait for a slow answer)."""
        with self._lock:  # a request either registered before this or sees the flag set
            self.stopped.set()
            scopes: List[Tuple[threading.Event, HttpTransport]] = [(scope, owner) for scope, (owner, _) in self._scopes.items()]
        for scope, _ in scopes:
            scope.set()  # first: a request whose connection is shut down is then not retried
        for scope, owner in scopes:
            owner.abort_connections(scope)

    def wrap(self, transport: HttpTransport) -> HttpTransport:
        """``transport`` with every request sent inside a slot; closing the wrapper leaves ``transport`` open."""
        return _GatedTransport(transport, self)

    def client_view(self, client: CosClient) -> CosClient:
        """A client sharing ``client``'s connections, credentials and retry policy whose every request
        takes a slot; closing the view does not close ``client``."""
        return client.with_transport(self.wrap(client.transport))


class _Held:
    """The ``with`` block of :meth:`RequestSlots.held` (a class: entered once per request)."""

    __slots__ = ("_slots", "_scope", "_transport")

    def __init__(self, slots: RequestSlots, scope: Optional[threading.Event], transport: Optional[HttpTransport]) -> None:
        self._slots = slots
        self._scope = scope
        self._transport = transport

    def __enter__(self) -> None:
        self._slots._take(self._scope, self._transport)

    def __exit__(self, *exc_info: object) -> None:
        self._slots._give_back(self._scope)


class _GatedTransport:
    """An :class:`~cos_multipart._io._transports.HttpTransport` sending each request of another inside a slot."""

    def __init__(self, transport: HttpTransport, slots: RequestSlots) -> None:
        self._transport = transport
        self._slots = slots

    @property
    def endpoint(self) -> Endpoint:
        return self._transport.endpoint

    @property
    def clock_offset(self) -> float:
        return self._transport.clock_offset

    @property
    def pool_size(self) -> int:
        return self._transport.pool_size

    def ensure_pool_size(self, size: int) -> None:
        self._transport.ensure_pool_size(size)

    def credentials(self) -> Credentials:
        return self._transport.credentials()

    def send(self, call: HttpCall, parse: Parser[T], *, cancel: Optional[threading.Event] = None) -> T:
        scope = cancel if cancel is not None else self._slots.stopped  # a request of no upload: the pool's scope
        with self._slots.held(scope, self._transport):
            return self._transport.send(call, parse, cancel=scope)

    def stream(
        self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[threading.Event] = None
    ) -> ObjectStream:
        """The slot is held until the answer's head is in (the caller reads the body at its own pace)."""
        scope = cancel if cancel is not None else self._slots.stopped
        with self._slots.held(scope, self._transport):
            return self._transport.stream(call, parse, cancel=scope)

    def abort_connections(self, cancel: Optional[threading.Event] = None) -> int:
        return self._transport.abort_connections(cancel)

    def close(self) -> None:
        """The shared transport belongs to the client the view was made from."""
