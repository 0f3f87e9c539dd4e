"""The wire: HTTP/1.1 over plain TCP or TLS, keep-alive, one thread per connection, a bounded number of them.

:class:`WireServer` accepts connections (doing the TLS handshake in the connection's thread, so a slow or
failing client never holds up the others) and tracks them so that stopping leaves none behind. At most
``max_connections`` are open: further ones wait in the listen queue (the server stops accepting) while an
idle keep-alive connection, if any, is closed to make room. :class:`_Handler` turns one request into a
:class:`Request`, hands it with its streamed body to the dispatcher, writes the :class:`Reply` it gets back,
and records the exchange in the access log. Every read waits at most the idle timeout and, from a request's
first byte to its body's last, no longer than the request deadline (:class:`_TimedReader`); a request whose
length is ambiguous (RFC 9112 6.3) is refused and its connection closed (:func:`framing_error`).
"""

from __future__ import annotations

import io
import logging
import mmap
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from io import BufferedIOBase
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from . import protocol
from ._accesslog import AccessLog, AccessLogEntry, redact_headers, redact_query
from ._body import BUFFER_SIZE, RequestBody, combined_rate
from ._dispatch import Dispatcher
from ._headers import PlainHeaderParsing
from ._messages import Reply, Request, completed_body, error_reply, settled
from ._routing import parse_request
from ._send import SERVER_NAME, BodyTruncated, ConnectionReset, ReplySender, head
from .protocol import ServiceError
from .server_dialect import COS, ServerDialect

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Site:
    """What the wire serves and how: shared by every connection of one server."""

    dispatcher: Dispatcher
    log: AccessLog
    clock: Callable[[], float]
    idle_timeout: float
    stopping: threading.Event
    bandwidth: Callable[[], Optional[float]]
    default_bucket: str
    default_region: str
    dialect: ServerDialect = COS
    #: Seconds from a request's first byte to its body's last (``None``: no deadline beyond idle_timeout).
    request_timeout: Optional[float] = None


#: Default bound on open connections (``LocalCOS(max_connections=)``, ``serve --max-connections``).
DEFAULT_MAX_CONNECTIONS = 256
#: How often the accept loop, waiting for a free connection slot, looks again (and at ``stopping``).
_SLOT_POLL_SECONDS = 0.05


class WireServer(ThreadingHTTPServer):
    """Serves ``site`` on ``address``, over TLS when ``tls`` is given; tracks connections and threads.

    At most ``max_connections`` connections are open at once. When all are taken the server accepts no more
    (a new client waits in the listen queue, as behind a busy load balancer) and closes an idle keep-alive
    connection, if there is one, to make room: waiting is what a test with more parallel clients than the
    bound wants, and an idle pool of one client cannot starve another.
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of parallel connections

    def __init__(
        self,
        address: Tuple[str, int],
        site: Site,
        tls: Optional[ssl.SSLContext] = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.site = site
        self.tls = tls
        self.max_connections = max_connections
        self.connections_accepted = 0
        #: Idle keep-alive connections closed to make room for new ones.
        self.idle_connections_closed = 0
        self._tracking = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._handler_threads: Set[threading.Thread] = set()
        self._connections: Set[socket.socket] = set()
        self._idle: Dict[socket.socket, float] = {}  # connection -> since when it waits for a request
        self._closing: Set[socket.socket] = set()  # idle connections closed to make room, until their thread ends
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def open_connections(self) -> int:
        """Connections open now (accepted and not yet closed)."""
        with self._tracking:
            return len(self._handler_threads)

    def get_request(self) -> Tuple[socket.socket, Any]:
        # A connection waits in the listen queue until a slot is free; an idle one is closed to free one.
        while not self._slots.acquire(timeout=_SLOT_POLL_SECONDS):
            if self.site.stopping.is_set():
                raise OSError("the server is stopping")
            self._close_an_idle_connection()
        try:
            return self.socket.accept()
        except BaseException:
            self._slots.release()
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="local-cos-connection", daemon=True
        )
        with self._tracking:
            self.connections_accepted += 1
            self._handler_threads.add(thread)
            self._connections.add(request)
        try:
            thread.start()
        except BaseException:
            with self._tracking:
                self._handler_threads.discard(thread)
                self._connections.discard(request)
            self._slots.release()
            raise

    def _serve_connection(self, raw: socket.socket, client_address: Any) -> None:
        connection: Optional[socket.socket] = raw
        try:
            if self.tls is not None:
                connection = self._handshake(raw, self.tls)
            if connection is not None:
                self.process_request_thread(connection, client_address)
        finally:
            with self._tracking:
                self._handler_threads.discard(threading.current_thread())
                self._connections.discard(raw)
                self._idle.pop(raw, None)
                self._closing.discard(raw)
                if connection is not None:
                    self._connections.discard(connection)
                    self._idle.pop(connection, None)
                    self._closing.discard(connection)
            self._slots.release()

    def set_idle(self, connection: socket.socket, idle: bool) -> None:
        """Say whether ``connection`` waits for its next request (and may be closed to make room)."""
        with self._tracking:
            if idle:
                self._idle.setdefault(connection, time.monotonic())
            else:
                self._idle.pop(connection, None)

    def _close_an_idle_connection(self) -> None:
        with self._tracking:
            if not self._idle or self._closing:  # one at a time: the slot of the last one is about to be free
                return
            connection = min(self._idle, key=self._idle.__getitem__)  # the longest idle
            del self._idle[connection]
            self._closing.add(connection)
            self.idle_connections_closed += 1
        logger.debug("local COS server: %d connections open, closing an idle one", self.max_connections)
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass

    def _handshake(self, raw: socket.socket, context: ssl.SSLContext) -> Optional[socket.socket]:
        raw.settimeout(self.site.idle_timeout)
        try:
            wrapped = context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as error:  # e.g. the client does not trust the certificate
            logger.debug("local COS server: TLS handshake failed: %s", error)
            raw.close()
            return None
        with self._tracking:
            self._connections.discard(raw)
            self._connections.add(wrapped)
        return wrapped

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("local COS server: unexpected error serving %s", client_address)

    def close_connections(self) -> None:
        """Shut down every connection (their threads then end)."""
        with self._tracking:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass

    def join_threads(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for every connection thread."""
        deadline = time.monotonic() + timeout
        while True:
            with self._tracking:
                threads = list(self._handler_threads)
            if not threads or time.monotonic() > deadline:
                return
            threads[0].join(max(0.0, deadline - time.monotonic()))


@dataclass
class _Outcome:
    """What the access log says about one exchange, filled in as it goes."""

    api: str = ""
    status: int = 0
    code: str = ""
    answered: Optional[float] = None  # monotonic time the head of a small answer began to be written


class _Handler(PlainHeaderParsing):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    sys_version = ""
    disable_nagle_algorithm = True
    server: WireServer

    def setup(self) -> None:
        super().setup()
        site = self.server.site
        self.connection.settimeout(site.idle_timeout)
        self.rfile.close()  # replaced by one whose reads keep the idle timeout and the request deadline
        self._reader = _TimedReader(
            self.connection, site.idle_timeout, site.request_timeout, lambda: self.server.set_idle(self.connection, False)
        )
        self.rfile = io.BufferedReader(self._reader)
        # An anonymous mapping, not a bytearray: pages cost memory only once a body touches them, and all of
        # it goes back to the system when the connection ends (a heap block may stay with the process).
        self._mapping = mmap.mmap(-1, BUFFER_SIZE)
        self._buffer = memoryview(self._mapping)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            try:
                self._buffer.release()
                self._mapping.close()
            except BufferError:  # a view is still referenced somewhere: the mapping goes with it
                pass

    def handle_one_request(self) -> None:
        self._reader.next_request()
        self.server.set_idle(self.connection, True)
        try:
            super().handle_one_request()
        except (ConnectionResetError, BrokenPipeError) as error:  # the client left: nothing unexpected
            logger.debug("local COS server: connection lost: %s", error)
            self.close_connection = True
        finally:
            self.server.set_idle(self.connection, False)

    def version_string(self) -> str:
        return SERVER_NAME

    def date_time_string(self, timestamp: Optional[float] = None) -> str:
        return protocol.http_date(self.server.site.clock() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        logger.debug("local COS server: " + format, *args)

    def log_request(self, code: Union[int, str] = "-", size: Union[int, str] = "-") -> None:
        pass  # the access log records every request instead

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def _serve(self) -> None:
        site = self.server.site
        self.server.set_idle(self.connection, False)
        started, arrived = time.monotonic(), time.time()
        site.log.begin()
        request = parse_request(
            self.command,
            self.path,
            self.headers.items(),
            default_bucket=site.default_bucket,
            default_region=site.default_region,
            request_id=site.dialect.new_request_id(site.clock()),
            dialect=site.dialect,
        )
        body = _body_of(request, self.rfile, self._buffer, site, self._reader.extend)
        sender = ReplySender(self.connection, self.rfile, self.wfile, self._buffer, site.stopping)
        outcome = _Outcome()
        reply: Optional[Reply] = None
        ambiguous = framing_error(self.headers.items())
        try:
            if ambiguous is not None:  # where this request ends is unknown: answer, then close [RFC 9112 6.3]
                body.must_close = True
                reply = error_reply(request, ServiceError(400, "InvalidRequest", ambiguous))
            else:
                outcome.api, reply = site.dispatcher.handle(request, body, body_pending=body.remaining > 0)
            self._answer(request, reply, body, sender, outcome)
        except ConnectionReset:
            outcome.status = 0
            self.close_connection = True
        except BodyTruncated:  # the answer was cut short on purpose: its connection cannot carry another
            self.close_connection = True
        except OSError as error:  # the client went away while we wrote or read
            logger.debug("local COS server: connection lost: %s", error)
            self.close_connection = True
        finally:
            if reply is not None and reply.stream is not None:
                reply.stream.reader.close()
            site.log.record(
                AccessLogEntry(
                    time=arrived,
                    client=str(self.client_address[0]),
                    method=request.method,
                    path=request.raw_path,
                    query=redact_query(request.raw_query),
                    status=outcome.status,
                    bytes_in=body.bytes_in,
                    bytes_out=sender.bytes_out,
                    millis=(time.monotonic() - started) * 1000,
                    api=outcome.api,
                    request_id=request.request_id,
                    code=outcome.code,
                    headers=redact_headers(request.headers),
                    answer_millis=None if outcome.answered is None else (outcome.answered - started) * 1000,
                )
            )

    def _answer(self, request: Request, reply: Reply, body: RequestBody, sender: ReplySender, outcome: _Outcome) -> None:
        site = self.server.site
        outcome.code = reply.code
        if reply.status == 0:  # a reset fault takes its share of the body, then drops the connection
            try:
                body.discard(reply.reset_after or 0)
            finally:
                sender.reset()
        if reply.delay > 0:
            site.stopping.wait(reply.delay)
        body.drain()
        if reply.reset_after is not None and request.method != "GET":
            sender.reset()
        if reply.pending is not None and not request.dialect.complete_keepalive:
            reply = settled(request, reply)  # OSS answers Complete once the object exists
            outcome.code = reply.code
        outcome.status = reply.status
        self.close_connection = self.close_connection or body.must_close
        date = protocol.http_date(site.clock())
        if reply.pending is None and reply.stream is None:
            outcome.answered = time.monotonic()
        sender.write(head(reply, request_id=request.request_id, date=date, close=self.close_connection, dialect=request.dialect))
        if reply.pending is not None:
            done = sender.completion(reply.pending, lambda result: completed_body(request, result))
            if done.error is not None:
                outcome.code = done.error.code
        elif reply.stream is not None:
            sender.object(
                reply.stream,
                combined_rate(reply.rate, site.bandwidth()),
                reply.reset_after,
                damage_at=reply.damage_at,
                truncate_after=reply.truncate_after,
            )
        elif reply.body and request.method != "HEAD":
            sender.body(reply.body)


def framing_error(header_items: Iterable[Tuple[str, str]]) -> Optional[str]:
    """Why the length of a request with these headers is ambiguous, or ``None`` when it is not.

    RFC 9112 6.3: a request with both Transfer-Encoding and Content-Length "ought to be handled as an
    error" and its connection closed (a front end and this server could disagree on where it ends: request
    smuggling); Content-Length values that differ make the framing invalid (400, then close); so does a
    Transfer-Encoding whose last coding is not ``chunked``. Repeated equal Content-Lengths are one length
    (the RFC allows either), and a single malformed value is left to routing (400 InvalidArgument).
    """
    lengths: List[str] = []
    codings: List[str] = []
    for name, value in header_items:
        lowered = name.lower()
        if lowered == "content-length":
            lengths.append(value)
        elif lowered == "transfer-encoding":
            codings.append(value)
    if codings and lengths:
        return "A request must not carry both Content-Length and Transfer-Encoding."
    if len({part.strip() for value in lengths for part in value.split(",")}) > 1:
        return "The request carries conflicting Content-Length values."
    if codings and ",".join(codings).split(",")[-1].strip().lower() != "chunked":
        return "The last transfer coding of a request must be chunked."
    return None


class _TimedReader(io.RawIOBase):
    """The connection's raw reader: each read waits at most ``idle_timeout``, and none ends later than
    ``request_timeout`` after the first byte of the request being read (a client that trickles a byte now
    and then is cut off there, however short its pauses). Times out with :class:`TimeoutError`.

    ``on_request`` is called when the first byte of a request arrives. Time the server itself spends pacing
    a body (a bandwidth cap) moves the deadline (:meth:`extend`): only the client's slowness counts.
    """

    def __init__(
        self,
        connection: socket.socket,
        idle_timeout: float,
        request_timeout: Optional[float],
        on_request: Callable[[], None],
    ) -> None:
        super().__init__()
        self._connection = connection
        self._raw = connection.makefile("rb", buffering=0)
        self._idle_timeout = idle_timeout
        self._request_timeout = request_timeout
        self._on_request = on_request
        self._started = False
        self._deadline: Optional[float] = None

    def next_request(self) -> None:
        """A new request starts: its deadline runs from its first byte."""
        self._started = False
        self._deadline = None

    def extend(self, seconds: float) -> None:
        """Move the deadline ``seconds`` later (the server paced the body that long)."""
        if self._deadline is not None:
            self._deadline += seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> Optional[int]:
        shortened = False
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request was not received within its deadline")
            if left < self._idle_timeout:  # (else the idle timeout ends the read first: no system call)
                self._connection.settimeout(left)
                shortened = True
        try:
            count = self._raw.readinto(buffer)
        finally:
            if shortened:
                self._connection.settimeout(self._idle_timeout)  # answers are written under the idle timeout
        if count and not self._started:
            self._started = True
            if self._request_timeout is not None:
                self._deadline = time.monotonic() + self._request_timeout
            self._on_request()
        return count

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _body_of(
    request: Request, rfile: BufferedIOBase, buffer: memoryview, site: Site, paced: Callable[[float], None]
) -> RequestBody:
    declared = request.headers.get("content-length")
    valid = declared is not None and declared.strip().isdigit()
    body = RequestBody(
        rfile,
        buffer,
        int(declared) if valid and declared is not None else 0,
        chunked="chunked" in request.headers.get("transfer-encoding", "").lower(),
        bandwidth=site.bandwidth,
        stopping=site.stopping,
        paced=paced,
    )
    if declared is not None and not valid:
        body.must_close = True  # where this body ends is unknown
    return body

