"""The only module that touches ``requests``: one session per client, signing, retries, body rewinding.

For every attempt the transport takes the current credentials from the provider, signs a fresh window
(starting 60 s in the past, corrected by the clock offset learnt from a clock error), rewinds a file body
to where it started, and sends the body with an exact ``Content-Length`` (never chunked). The connection
pool holds ``pool_size`` connections and blocks when they are all busy, so concurrent part uploads never
see "Connection pool is full". Failures are retried per :class:`~cos_multipart._protocol.retry.RetryPolicy`; what
is logged (DEBUG) and what errors say never contains a secret or a query string.

Cancellation: a call given a ``cancel`` event stops retrying as soon as it is set (a backoff wait ends at
once), and :meth:`Transport.abort_connections` with that event shuts down the sockets carrying that
event's requests (and only those: one upload's failure leaves a neighbouring upload on the same client
alone), so a request blocked waiting for a slow answer fails at once instead of at its read timeout.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import logging
import os
import random
import socket
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set, Tuple, Type, TypeVar, Union

import requests
import urllib3
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from requests.adapters import BaseAdapter, HTTPAdapter

from .. import __version__
from ._attempts import ANSWER_BROKE_OFF, CLOSED_WITHOUT_ANSWER, AnswerDeadlineMixin, Retries, corrected_offset, signed_headers, transport_error, with_attempts
from .._protocol.credentials import Credentials, CredentialsLike, as_provider
from .._protocol.endpoint import Endpoint, strip_query
from ._prepare import prepare
from ._tls import checked_ca_bundle
from .._protocol.errors import CosCancelledError, CosError, CosServiceError, CosTransportError, CosValidationError, FailureKind, redact
from .._protocol import operations
from .._protocol.limits import DEFAULT_SIGN_EXPIRES, MAX_XML_ANSWER_BYTES
from ._streams import ObjectStream
from .._protocol.models import HttpCall, ObjectResult
from .._protocol.retry import RetryPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")
Parser = Callable[[int, Mapping[str, str], bytes], T]
Timeout = Union[float, Tuple[float, float]]

#: Socket write size for request bodies. urllib3 2.x sends bodies in ``blocksize`` pieces (16 KiB by
#: default); 1 MiB pieces cut the per-chunk overhead of large part uploads (see docs/client.md).
DEFAULT_BLOCKSIZE = 1024 * 1024
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 120.0)
#: Seconds from a request written to its whole answer read. The read timeout alone is reset by every byte,
#: so an answer trickling at 1 byte/s never hit it. Longer than the read timeout (a silent server meets that
#: first); the retry policy's ``retry_time`` counts from the first failure, so an attempt that met it is
#: still retried. Complete's keep-alive spaces do not extend it: a merge taking longer fails as a timeout
#: and is retried.
DEFAULT_ANSWER_DEADLINE = 180.0
DEFAULT_POOL_SIZE = 10
USER_AGENT = f"cos-multipart/{__version__}"
_URLLIB3_2 = int(getattr(urllib3, "__version__", "1").split(".")[0]) >= 2
_BYTES_LIKE = (bytes, bytearray, memoryview)
#: Bytes asked for at a time when reading an answer (the cap is checked after each piece).
_ANSWER_CHUNK = 64 * 1024


class _Deadlines:
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
        self._condition = threading.Condition(threading.Lock())
        self._heap: List[Tuple[float, int, "_Carrying"]] = []
        self._order = itertools.count()
        self._disarmed = 0
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        #: Threads this watcher started (tests: one per process, whatever the number of requests).
        self.threads_started = 0

    def arm(self, entry: "_Carrying", seconds: float) -> None:
        with self._condition:
            if self._pid != os.getpid():  # a forked child has the heap but not the thread
                self._heap, self._disarmed, self._thread, self._pid = [], 0, None, os.getpid()
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="answer-deadlines", daemon=True)
                self._thread.start()
                self.threads_started += 1
            elif self._heap[0][2] is entry:
                self._condition.notify()  # the earliest deadline now: the watcher sleeps too long

    def disarm(self, entry: "_Carrying") -> None:
        with self._condition:
            if entry.state != _Carrying.ARMED:
                return
            entry.state = _Carrying.DISARMED
            self._disarmed += 1
            # Disarmed entries leave the heap as their time comes, or all at once when they are most of it
            # (so a heap of finished requests neither grows with the request rate nor holds their connections).
            if self._disarmed > 64 and 2 * self._disarmed > len(self._heap):
                self._heap = [item for item in self._heap if item[2].state == _Carrying.ARMED]
                heapq.heapify(self._heap)
                self._disarmed = 0

    def _watch(self) -> None:
        with self._condition:
            while True:
                if not self._heap:
                    self._condition.wait()
                    continue
                when, _, entry = self._heap[0]
                if entry.state != _Carrying.ARMED:
                    heapq.heappop(self._heap)
                    self._disarmed = max(0, self._disarmed - 1)
                    continue
                left = when - time.monotonic()
                if left > 0:
                    self._condition.wait(left)
                    continue
                heapq.heappop(self._heap)
                entry.state = _Carrying.EXPIRED
                entry.expire()  # under the lock: a disarm cannot pass it (a socket shutdown does not block)


_DEADLINES = _Deadlines()


class _Carrying:
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
        self.state = _Carrying.IDLE

    @property
    def expired(self) -> bool:
        return self.state == _Carrying.EXPIRED

    def arm(self) -> None:
        if self.deadline is not None and self.state == _Carrying.IDLE:
            self.state = _Carrying.ARMED
            _DEADLINES.arm(self, self.deadline)

    def disarm(self) -> None:
        if self.state == _Carrying.ARMED:
            _DEADLINES.disarm(self)

    def expire(self) -> None:
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ConnectionRegistry:
    """Every connection one transport opened (weakly held), and which ones carry which ``cancel`` scope.

    urllib3 keeps only idle connections in its pools; one lent to a request waiting for its answer is
    reachable from nowhere else. The registry's connection classes record themselves when they connect
    (so all can be shut down) and, each time they send a request, bind themselves to the scope the sending
    thread entered with :meth:`carrying`: a keep-alive connection carries many requests of many scopes in
    its life, so the binding is made per request, not per connect.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._in_flight: Set[_Carrying] = set()
        self._local = threading.local()
        record = self._add
        bind = self._bind

        sent = self._sent

        class HTTPConnection(urllib3.connection.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                record(self)

            def request(self, *args: Any, **kwargs: Any) -> None:
                bind(self)
                super().request(*args, **kwargs)
                sent()

        class HTTPSConnection(urllib3.connection.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                record(self)

            def request(self, *args: Any, **kwargs: Any) -> None:
                bind(self)
                super().request(*args, **kwargs)
                sent()

        class HTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
            ConnectionCls = HTTPConnection

        class HTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
            ConnectionCls = HTTPSConnection

        self.pool_classes = {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}

    def _add(self, connection: Any) -> None:
        with self._lock:
            self._connections.add(connection)
        self._set_send_timeout(connection)
        # A shutdown of this scope that ran while the socket did not exist yet could not reach it.
        self._refuse_if_cancelled()

    def _bind(self, connection: Any) -> None:
        current = self.current()
        if current is not None:
            with self._lock:
                current.connection = connection
            self._set_send_timeout(connection)
            self._refuse_if_cancelled()

    def _sent(self) -> None:
        current = self.current()
        if current is not None:
            current.arm()

    def _set_send_timeout(self, connection: Any) -> None:
        # urllib3 writes the body with the *connect* timeout on the socket, so one block (1 MiB) had to go out
        # within 10 s: slower than ~100 KiB/s (traffic_limit's minimum is 100 KiB/s) failed. The read
        # timeout is the "no progress" limit the caller chose; it applies to writing the body too.
        current = self.current()
        sock = getattr(connection, "sock", None)
        if current is not None and current.send_timeout is not None and sock is not None:
            sock.settimeout(current.send_timeout)

    def current(self) -> Optional[_Carrying]:
        """The request this thread is sending, if it entered :meth:`carrying`."""
        return getattr(self._local, "current", None)

    def _refuse_if_cancelled(self) -> None:
        current = self.current()
        if current is not None and current.cancel is not None and current.cancel.is_set():
            # An OSError, so it takes the path of a shut socket: the transport then raises CosCancelledError.
            raise ConnectionAbortedError("request cancelled")

    @contextlib.contextmanager
    def carrying(
        self, cancel: Optional[threading.Event], deadline: Optional[float] = None, send_timeout: Optional[float] = None
    ) -> Iterator[Optional[_Carrying]]:
        """While inside, the connection this thread sends its request on belongs to ``cancel``'s scope, and
        must deliver its whole answer within ``deadline`` seconds of the request being written."""
        if cancel is None and deadline is None and send_timeout is None:
            yield None
            return
        entry = _Carrying(cancel, deadline, send_timeout)
        self._local.current = entry
        with self._lock:
            self._in_flight.add(entry)
        try:
            yield entry
        finally:
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


class _PoolAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections write request bodies ``blocksize`` bytes at a time and are
    recorded in a :class:`_ConnectionRegistry`."""

    def __init__(self, blocksize: int, registry: _ConnectionRegistry, **kwargs: Any) -> None:
        self._blocksize = blocksize  # read by init_poolmanager, which HTTPAdapter.__init__ calls
        self._registry = registry
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if _URLLIB3_2:  # urllib3 1.x pool keys have no blocksize
            pool_kwargs.setdefault("blocksize", self._blocksize)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = self._registry.pool_classes

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if _URLLIB3_2:
            proxy_kwargs.setdefault("blocksize", self._blocksize)
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._registry.pool_classes
        return manager


class _BodyReader:
    """Exactly ``length`` bytes of ``source`` from its current position, read in the sizes asked for.

    ``requests`` takes its ``len()`` as Content-Length and urllib3 calls ``read(blocksize)`` until it is
    exhausted, so each byte is read once and nothing is buffered beyond one block.
    """

    def __init__(self, source: Any, length: int) -> None:
        self._source = source
        self._left = length

    def read(self, size: Optional[int] = -1) -> Any:
        if self._left <= 0:
            return b""
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data = self._source.read(wanted)
        if not data:
            # Sending fewer bytes than Content-Length would leave the server waiting: fail now.
            raise OSError(f"request body ended {self._left} bytes before its Content-Length")
        self._left -= len(data)
        return data

    def __len__(self) -> int:
        return self._left

    def __iter__(self) -> Iterator[Any]:
        while True:
            block = self.read(DEFAULT_BLOCKSIZE)
            if not block:
                return
            yield block


class _MemorySource:
    """``read(n)`` over a bytes-like object, returning memoryview slices (no copy)."""

    def __init__(self, data: Union[bytearray, memoryview]) -> None:
        self._view = memoryview(data).cast("B")
        self._position = 0

    def read(self, size: int) -> memoryview:
        chunk = self._view[self._position : self._position + size]
        self._position += len(chunk)
        return chunk


class Transport:
    """Send :class:`~cos_multipart._protocol.models.HttpCall` values to one endpoint, signed, with retries.

    Args:
        endpoint: Where requests go.
        credentials: Credentials, a provider callable, or ``None`` for the environment.
        retry: The retry policy (settings; each request starts from it).
        timeout: Seconds, or ``(connect, read)``.
        pool_size: Connections kept per host; set it to the number of threads using the client.
        proxies: ``requests`` proxies mapping; the environment's (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``)
            fill in what it leaves out, read once when the transport is made.
        verify: TLS verification: ``True``, ``False`` or a CA bundle path (``True``: the bundle named by
            ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE`` when set, read once when the
            transport is made; see :mod:`cos_multipart._io._tls`).
        answer_deadline: Seconds an attempt may take, once its request is written, to deliver its whole
            answer (``None``: no limit); past it the connection is shut and the attempt fails as a timeout.
        blocksize: Bytes per socket write of a request body.
        sign_expires: Validity of each request signature, seconds.
        clock: Unix time source (tests).
        sleep: Sleep function (tests; it replaces the wait a ``cancel`` event ends early).
        rng: Random source of the backoff jitter (tests).
        monotonic: The clock the retry policy's ``retry_time`` is counted on (tests: with ``sleep``).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: CredentialsLike = None,
        *,
        retry: Optional[RetryPolicy] = None,
        timeout: Optional[Timeout] = DEFAULT_TIMEOUT,
        pool_size: int = DEFAULT_POOL_SIZE,
        proxies: Optional[Mapping[str, str]] = None,
        verify: Union[bool, str] = True,
        blocksize: int = DEFAULT_BLOCKSIZE,
        sign_expires: int = DEFAULT_SIGN_EXPIRES,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: Optional[random.Random] = None,
        answer_deadline: Optional[float] = DEFAULT_ANSWER_DEADLINE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self._provider = as_provider(credentials, endpoint.dialect.credential_env)
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self.answer_deadline = answer_deadline
        self.proxies = dict(proxies or {})
        self.verify = verify
        self.sign_expires = sign_expires
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        #: Seconds added to the local clock when signing; learnt from the server's Date on a clock error.
        self.clock_offset = 0.0
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        # The environment (HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, SSL_CERT_FILE) is read once, for the
        # one endpoint this transport talks to. Left to requests, every attempt walked os.environ twice for
        # proxies and read ~/.netrc, and a .netrc entry for the host replaced the signature with Basic auth.
        https = endpoint.base_url.startswith("https:")
        # Over plain HTTP no certificate is checked (nor a bundle path required to exist), and a bundle path
        # makes requests stat it per request.
        trusted = checked_ca_bundle(verify, os.environ) if https else True
        settings = self.session.merge_environment_settings(endpoint.base_url, self.proxies, True, trusted, None)
        self._send_settings: Dict[str, Any] = dict(settings)
        if not https:
            self._send_settings["verify"] = True
        self.session.trust_env = False
        self._blocksize = blocksize
        self._pool_lock = threading.Lock()
        self._retired_adapters: List[BaseAdapter] = []
        self._registry = _ConnectionRegistry()
        self._pool_size = 0
        self._mount_pool(pool_size)

    @property
    def pool_size(self) -> int:
        """Connections kept per host."""
        return self._pool_size

    def ensure_pool_size(self, size: int) -> None:
        """Grow the connection pool to at least ``size`` connections; it never shrinks.

        The pool blocks when every connection is busy, so a pool smaller than the number of threads sharing
        the client would quietly limit their parallelism; the uploader calls this with its worker count.
        """
        with self._pool_lock:
            if size > self._pool_size:
                previous = self.session.get_adapter("http://")
                self._mount_pool(size)
                # Connections still lent out return to the old pool; it is closed with the session.
                self._retired_adapters.append(previous)

    def _mount_pool(self, size: int) -> None:
        adapter = _PoolAdapter(
            self._blocksize, self._registry, pool_connections=4, pool_maxsize=size, pool_block=True, max_retries=0
        )
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._pool_size = size

    def credentials(self) -> Credentials:
        """The current credentials from the provider."""
        return self._provider()

    def abort_connections(self, cancel: Optional[threading.Event] = None) -> int:
        """Shut down connections, including those waiting for an answer; returns how many.

        Args:
            cancel: Only the connections carrying requests sent with this ``cancel`` event (one upload's
                scope); requests of other scopes, and of none, are untouched. ``None``: every connection.

        Requests whose connection is shut down fail at once with a connection error: retried as usual,
        unless their ``cancel`` event is set (set it first). Idle connections are reopened when next used.
        """
        return self._registry.shutdown(cancel)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()
        for adapter in self._retired_adapters:
            adapter.close()

    def send(self, call: HttpCall, parse: Parser[T], *, cancel: Optional[threading.Event] = None) -> T:
        """Send ``call`` and return ``parse(status, headers, body)`` of its answer, retrying per policy.

        ``parse`` raises :class:`CosServiceError` for error answers; retryable ones are tried again. When
        ``cancel`` is set, no further attempt is made and :class:`CosCancelledError` is raised.

        Raises:
            CosServiceError: COS answered an error (after retries when retryable).
            CosTransportError: Connection failure or timeout after retries.
            CosResponseError: The answer could not be read (``parse``'s verdict; not retried).
            CosCancelledError: ``cancel`` was set.
        """

        def handle(response: requests.Response) -> T:
            try:
                return parse(response.status_code, self.endpoint.dialect.from_wire(response.headers), self._read_answer(response))
            finally:
                response.close()

        return self._run(call, handle, cancel=cancel)

    def open(self, call: HttpCall, check: Parser[Any]) -> requests.Response:
        """Send ``call`` and return the streamed response once ``check(status, headers, b"")`` accepts it.

        Error answers are read and given to ``check`` (which raises); the caller closes the response.
        """

        def handle(response: requests.Response) -> requests.Response:
            try:
                if response.status_code >= 300:
                    check(response.status_code, self.endpoint.dialect.from_wire(response.headers), self._read_answer(response))
                check(response.status_code, self.endpoint.dialect.from_wire(response.headers), b"")
            except BaseException:
                response.close()
                raise
            return response  # the deadline covers the head only: the caller streams the body at its pace

        return self._run(call, handle)

    def stream(
        self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[threading.Event] = None
    ) -> ObjectStream:
        """Send ``call`` and return its body unread, with ``parse(status, headers, b"")`` of its head.

        Error answers are read and given to ``parse`` (which raises), and retried per policy as for
        :meth:`send`. The body is read over the answer's connection as the caller asks; a failure while
        reading it raises :class:`CosTransportError` (not retried: the caller knows how much it has).
        """
        safe_url = strip_query(self.endpoint.url(call.key, call.params))

        def handle(response: requests.Response) -> ObjectStream:
            try:
                headers = self.endpoint.dialect.from_wire(response.headers)
                if response.status_code >= 300:
                    parse(response.status_code, headers, self._read_answer(response))
                result = parse(response.status_code, headers, b"")
            except BaseException:
                response.close()
                raise

            def read(size: int) -> bytes:
                try:
                    return bytes(response.raw.read(size))
                except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
                    raise _transport_error(error, call.method, safe_url, 1, self._secrets()) from error

            return ObjectStream(result, response.headers, read, response.close)  # the deadline covers the head only

        return self._run(call, handle, cancel=cancel)

    def _run(
        self,
        call: HttpCall,
        handle: Callable[[requests.Response], T],
        *,
        cancel: Optional[threading.Event] = None,
    ) -> T:
        url = self.endpoint.url(call.key, call.params)
        safe_url = strip_query(url)
        retries = Retries(
            self.retry, call, safe_url, self._rng, self._rng_lock, self._fix_clock, _describe,
            service=self.endpoint.dialect.name.upper(), monotonic=self._monotonic,
        )  # fmt: skip
        length = call.content_length
        start = _body_position(call.body)
        while True:
            if cancel is not None and cancel.is_set():
                raise CosCancelledError(f"{call.method} {safe_url} cancelled")
            date: Optional[str] = None
            entry: Optional[_Carrying] = None
            try:
                with self._registry.carrying(cancel, self.answer_deadline, _read_timeout(self.timeout)) as entry:
                    response = self._attempt(call, url, length, start)
                    date = response.headers.get("Date")
                    return with_attempts(handle(response), retries.policy.attempt)
            except CosServiceError as error:
                failure: BaseException = error.in_request(call.method, safe_url, self.endpoint.dialect.name)
            except (requests.exceptions.RequestException, OSError, ValueError) as error:
                if isinstance(error, CosError):
                    raise  # this package's own verdict (a changed source, a validation), not the network's
                # ValueError: http.client refusing a header value (it quotes the value, maybe a token) on the
                # versions where requests lets it through; it becomes a redacted, never retried failure.
                # A connection shut by the deadline fails as a reset or a short read: say what it was.
                cause: BaseException = AnswerDeadlineExceeded(self.answer_deadline) if entry is not None and entry.expired else error
                failure = _transport_error(
                    cause, call.method, safe_url, retries.policy.attempt, self._secrets(), elapsed=retries.elapsed
                )
            if cancel is not None and cancel.is_set():
                # The failure is most likely the cancellation itself (abort_connections): not retried.
                raise CosCancelledError(f"{call.method} {safe_url} cancelled") from failure
            delay = retries.delay_after(failure, date)
            if delay is None:
                raise failure
            if cancel is not None and self._sleep is time.sleep:
                cancel.wait(delay)  # ends early when cancelled; checked at the top of the loop
            elif delay > 0:  # an injected sleep (tests) is called instead, and the cancellation checked after
                self._sleep(delay)

    def _secrets(self) -> Tuple[Optional[str], ...]:
        """What an error text must never show: the current secret key and token."""
        try:
            credentials = self.credentials()
        except Exception:  # noqa: BLE001 - a failing provider must not hide the original failure
            return ()
        return (credentials.secret_key, credentials.token)

    def _fix_clock(self, date: Optional[str]) -> bool:
        offset = corrected_offset(date, self._clock())
        if offset is None:
            return False
        self.clock_offset = offset
        return True

    def _attempt(
        self,
        call: HttpCall,
        url: str,
        length: int,
        start: Optional[int],
    ) -> requests.Response:
        headers = self._signed_headers(call)
        prepared = prepare(self.session, call.method, url, headers, _body_for_attempt(call.body, length, start))
        if call.method in ("GET", "HEAD", "DELETE"):
            # "Content-Length ... must not be sent on GET/HEAD/DELETE" (436/7728); requests adds 0 for DELETE.
            prepared.headers.pop("Content-Length", None)
        # Always streamed (stream=True in the settings): the answer is read by _read_answer, capped.
        return self.session.send(prepared, timeout=self.timeout, allow_redirects=False, **self._send_settings)

    def _read_answer(self, response: requests.Response) -> bytes:
        """The answer's body, read in pieces and refused past ``MAX_XML_ANSWER_BYTES``, so a huge or endless
        answer costs at most that much memory (``response.content`` would hold all of it)."""
        if response.request is not None and response.request.method == "HEAD":
            return b""  # no body, and its Content-Length is the object's, not the answer's
        buffer = operations.AnswerBuffer(MAX_XML_ANSWER_BYTES, response.headers.get("Content-Length"))
        for chunk in response.iter_content(_ANSWER_CHUNK):
            buffer.add(chunk)
        current = self._registry.current()
        if current is not None and current.expired:
            raise AnswerDeadlineExceeded(self.answer_deadline)  # shut mid-answer: what was read is a fragment
        return buffer.value()

    def _signed_headers(self, call: HttpCall) -> dict[str, str]:
        now = self._clock() + self.clock_offset
        return signed_headers(call, self.credentials(), self.endpoint, now, self.sign_expires)

    def __repr__(self) -> str:
        return f"Transport(endpoint={self.endpoint.base_url!r})"


class AnswerDeadlineExceeded(requests.exceptions.ReadTimeout, AnswerDeadlineMixin):
    """The whole answer did not arrive within the answer deadline (a timeout: retried per policy)."""

    def __init__(self, deadline: Optional[float]) -> None:
        self.deadline = deadline
        super().__init__(f"no complete answer within {deadline:g} s of sending the request (answer_deadline)")


def _read_timeout(timeout: Optional[Timeout]) -> Optional[float]:
    return timeout[1] if isinstance(timeout, tuple) else timeout


def _body_position(body: object) -> Optional[int]:
    if body is None or isinstance(body, _BYTES_LIKE):
        return None
    position = body.tell()  # type: ignore[attr-defined]
    return int(position)


def _body_for_attempt(body: object, length: int, start: Optional[int]) -> Any:
    if body is None or length == 0:
        # An empty reader would make requests fall back to chunked encoding.
        return None if body is None else b""
    if isinstance(body, bytes):
        return body[:length] if len(body) != length else body
    if isinstance(body, (bytearray, memoryview)):
        return _BodyReader(_MemorySource(body), length)
    body.seek(start)  # type: ignore[attr-defined]
    return _BodyReader(body, length)


#: How each ``requests`` failure is judged, first match wins: the one place that knows its exceptions.
_FAILURE_KINDS: Tuple[Tuple[Type[BaseException], FailureKind], ...] = (
    (requests.exceptions.SSLError, FailureKind.TLS),  # before ConnectionError: a refused certificate is both
    (requests.exceptions.Timeout, FailureKind.TIMEOUT),  # before ConnectionError: ConnectTimeout is both
    (requests.exceptions.ConnectionError, FailureKind.CONNECTION),
    (requests.exceptions.ChunkedEncodingError, FailureKind.CONNECTION),  # the answer broke off
    (requests.exceptions.RequestException, FailureKind.OTHER),
    (OSError, FailureKind.BODY),  # raised here, outside requests: rewinding or reading the request body
)


def failure_kind(error: BaseException) -> FailureKind:
    """The :class:`~cos_multipart._protocol.errors.FailureKind` of an exception raised while sending a request."""
    for cls, kind in _FAILURE_KINDS:
        if isinstance(error, cls):
            if kind is FailureKind.CONNECTION and _timed_out(error):
                return FailureKind.TIMEOUT  # a body write that timed out: urllib3 calls it "Connection aborted"
            return kind
    return FailureKind.OTHER


def _timed_out(error: BaseException, depth: int = 0) -> bool:
    """Whether a socket timeout is among the exceptions ``error`` wraps (urllib3 nests them in ``args``)."""
    if isinstance(error, (TimeoutError, socket.timeout)):  # distinct classes before Python 3.10
        return True
    return depth < 4 and any(isinstance(arg, BaseException) and _timed_out(arg, depth + 1) for arg in error.args)


#: requests' and http.client's exceptions that say what happened to a connection, in plain words.
_NAMED_FAILURES = (
    (http.client.RemoteDisconnected, CLOSED_WITHOUT_ANSWER),
    (http.client.IncompleteRead, ANSWER_BROKE_OFF),
    (requests.exceptions.ChunkedEncodingError, ANSWER_BROKE_OFF),
)


def _transport_error(
    error: BaseException,
    method: str,
    url: str,
    attempt: int,
    secrets: Tuple[Optional[str], ...] = (),
    *,
    elapsed: float = 0.0,
) -> CosTransportError:
    return transport_error(
        error, failure_kind(error), method, url, attempt, elapsed=elapsed, secrets=secrets,
        connect_timeouts=(requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError),
        named=_NAMED_FAILURES,
    )  # fmt: skip


def _describe(error: BaseException, secrets: Tuple[Optional[str], ...] = ()) -> str:
    """One line about ``error`` without query strings, header values or secrets."""
    if isinstance(error, CosServiceError):
        return f"{error.status} {error.code or 'error'} [request id {error.request_id or '-'}]"
    if isinstance(error, CosTransportError):
        return str(error)  # built by _transport_error: already redacted
    text = " ".join(redact(str(error), secrets).split()) or type(error).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}: {text}"


def validate_timeout(value: object, field: str = "timeout") -> Optional[Timeout]:
    """A timeout: ``None``, seconds > 0, or ``(connect, read)`` seconds > 0 (not for ``answer_deadline``).

    Raises:
        CosValidationError: Anything else.
    """
    pair = field == "timeout"
    allowed = "None, a number of seconds > 0" + (", or a (connect, read) pair of them" if pair else "")

    def seconds(item: object) -> float:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not 0 < item < float("inf"):
            raise CosValidationError(field, value, allowed)
        return float(item)

    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) != 2 or not pair:
            raise CosValidationError(field, value, allowed)
        return (seconds(value[0]), seconds(value[1]))
    return seconds(value)
