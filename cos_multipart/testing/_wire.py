"""The wire: HTTP/1.1 over plain TCP or TLS, keep-alive, one thread per connection.

:class:`WireServer` accepts connections (doing the TLS handshake in the connection's thread, so a slow or
failing client never holds up the others) and tracks them so that stopping leaves none behind.
:class:`_Handler` turns one request into a :class:`Request`, hands it with its streamed body to the
dispatcher, writes the :class:`Reply` it gets back, and records the exchange in the access log.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from io import BufferedIOBase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Set, Tuple, Union

from . import protocol
from ._accesslog import AccessLog, AccessLogEntry, redact_headers, redact_query
from ._body import BUFFER_SIZE, RequestBody, combined_rate
from ._dispatch import Dispatcher
from ._messages import Reply, Request, completed_body, settled
from ._routing import parse_request
from ._send import SERVER_NAME, ConnectionReset, ReplySender, head
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


class WireServer(ThreadingHTTPServer):
    """Serves ``site`` on ``address``, over TLS when ``tls`` is given; tracks connections and threads."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of parallel connections

    def __init__(self, address: Tuple[str, int], site: Site, tls: Optional[ssl.SSLContext] = None) -> None:
        self.site = site
        self.tls = tls
        self.connections_accepted = 0
        self._tracking = threading.Lock()
        self._handler_threads: Set[threading.Thread] = set()
        self._connections: Set[socket.socket] = set()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="local-cos-connection", daemon=True
        )
        with self._tracking:
            self.connections_accepted += 1
            self._handler_threads.add(thread)
            self._connections.add(request)
        thread.start()

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
                if connection is not None:
                    self._connections.discard(connection)

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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    sys_version = ""
    disable_nagle_algorithm = True
    server: WireServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.site.idle_timeout)
        self._buffer = memoryview(bytearray(BUFFER_SIZE))

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
        body = _body_of(request, self.rfile, self._buffer, site)
        sender = ReplySender(self.connection, self.rfile, self.wfile, self._buffer, site.stopping)
        outcome = _Outcome()
        reply: Optional[Reply] = None
        try:
            outcome.api, reply = site.dispatcher.handle(request, body, body_pending=body.remaining > 0)
            self._answer(request, reply, body, sender, outcome)
        except ConnectionReset:
            outcome.status = 0
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
        sender.write(head(reply, request_id=request.request_id, date=date, close=self.close_connection, dialect=request.dialect))
        if reply.pending is not None:
            done = sender.completion(reply.pending, lambda result: completed_body(request, result))
            if done.error is not None:
                outcome.code = done.error.code
        elif reply.stream is not None:
            sender.object(reply.stream, combined_rate(reply.rate, site.bandwidth()), reply.reset_after)
        elif reply.body and request.method != "HEAD":
            sender.body(reply.body)


def _body_of(request: Request, rfile: BufferedIOBase, buffer: memoryview, site: Site) -> RequestBody:
    declared = request.headers.get("content-length")
    valid = declared is not None and declared.strip().isdigit()
    body = RequestBody(
        rfile,
        buffer,
        int(declared) if valid and declared is not None else 0,
        chunked="chunked" in request.headers.get("transfer-encoding", "").lower(),
        bandwidth=site.bandwidth,
        stopping=site.stopping,
    )
    if declared is not None and not valid:
        body.must_close = True  # where this body ends is unknown
    return body

