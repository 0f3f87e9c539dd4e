"""The HTTP layer of the local COS-compatible server: :class:`LocalCOS`.

A threaded HTTP/1.1 server (keep-alive, one thread per connection) on loopback. Each request is parsed,
routed to one COS API, authenticated (:mod:`.auth`), subjected to the installed faults (:mod:`.faults`),
validated (:mod:`.protocol`) and served from the on-disk store (:mod:`.store`). Bodies stream through a
fixed 1 MB buffer per connection in both directions.

Example::

    with LocalCOS() as cos:
        client = CosClient(bucket=cos.bucket, region=cos.region, credentials=cos.credentials,
                           endpoint=cos.endpoint)
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import logging
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import FileIO
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Set, TextIO, Tuple, Union
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit

from .. import limits
from ..checksum import crc64_combine_all
from ..credentials import Credentials
from ..errors import REDACTED, CosValidationError
from ..signer import SECURITY_TOKEN_HEADER, SignWindow, presign_url
from . import protocol
from .auth import AuthError, Keyring, ReceivedRequest, verify
from .faults import Fault, FaultController, FaultPlan
from .protocol import CRC64_HEADER, REQUEST_ID_HEADER, TRACE_ID_HEADER, ServiceError
from .store import BodySink, ObjectReader, ObjectRecord, PartRecord, Store, UploadRecord

logger = logging.getLogger(__name__)

#: Fixed credentials of the local server when none are given (documented in docs/local-server.md).
TEST_CREDENTIALS = Credentials("AKIDLOCALCOSTESTKEY0000000000000000", "LocalCOSTestSecretKey000000000000")
DEFAULT_BUCKET = "examplebucket-1250000000"
DEFAULT_REGION = "ap-guangzhou"

#: Body transfer buffer (one per connection) and unread bodies drained before answering an early error.
BUFFER_SIZE = 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024
#: Complete sends a whitespace chunk at least this often until it answers [ref 2.3].
KEEPALIVE_SECONDS = 1.0
#: Query parameters and headers whose values never reach a log.
_SECRET_PARAMS = frozenset({"q-signature", "sign", SECURITY_TOKEN_HEADER, protocol.SSE_C_KEY_HEADER})
_SECRET_HEADERS = frozenset({SECURITY_TOKEN_HEADER, protocol.SSE_C_KEY_HEADER})
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_UNSUPPORTED_SUBRESOURCES = frozenset({"acl", "tagging", "restore", "select", "append", "versionId", "versions", "cors"})

CredentialsArg = Union[Credentials, Iterable[Credentials], None]


@dataclass(frozen=True)
class AccessLogEntry:
    """One served request, as written to the access log (secrets redacted).

    Attributes:
        time: Unix time the request arrived.
        client: Client address.
        method: HTTP method.
        path: Request path as sent (percent-encoded).
        query: Query string as sent, with signature, token and SSE-C key values redacted.
        status: Status answered (0 when the connection was reset instead).
        bytes_in: Body bytes received.
        bytes_out: Body bytes sent.
        millis: Time to serve, in milliseconds.
        api: The COS API (``"UploadPart"``...), ``""`` when the request was not routed.
        request_id: ``x-cos-request-id`` answered.
        code: Error code answered, ``""`` on success.
        headers: Request headers (lowercase names), secrets redacted.
    """

    time: float
    client: str
    method: str
    path: str
    query: str
    status: int
    bytes_in: int
    bytes_out: int
    millis: float
    api: str
    request_id: str
    code: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def line(self) -> str:
        """The access log line: time, client, method, path, query, status, bytes in/out, ms, API, id, code."""
        moment = datetime.datetime.fromtimestamp(self.time, datetime.timezone.utc)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return (
            f"{stamp} {self.client} {self.method} {self.path} {self.query or '-'} {self.status or 'RESET'} "
            f"{self.bytes_in} {self.bytes_out} {self.millis:.1f}ms {self.api or '-'} {self.request_id} "
            f"{self.code or '-'}"
        )


class LocalCOS:
    """A local COS-compatible server; use as a context manager or call :meth:`start` / :meth:`stop`.

    Args:
        host: Address to listen on (loopback by default).
        port: Port; 0 picks a free one (see :attr:`endpoint`).
        data_dir: Where buckets, parts, objects and the access log live; ``None`` for a temporary directory
            removed by :meth:`stop`. State in a given directory survives restarts.
        bucket: The bucket of requests whose Host names none (an IP, ``localhost``, a custom domain).
        region: The region of that bucket.
        credentials: The accepted key(s); temporary ones carry the token requests must present.
            ``None``: :data:`TEST_CREDENTIALS`.
        anonymous: Accept requests without checking signatures.
        faults: Faults installed from the start (see :class:`Fault`).
        bandwidth: Per-connection body transfer cap in bytes/s.
        latency: Seconds added before every request is served.
        clock: Unix time source of the server (signature windows, dates); pass one to simulate skew.
        log_stream: Also write access log lines here (e.g. ``sys.stderr``).
        idle_timeout: Seconds an idle keep-alive connection or a stalled body read is kept.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
        bucket: str = DEFAULT_BUCKET,
        region: str = DEFAULT_REGION,
        credentials: CredentialsArg = None,
        anonymous: bool = False,
        faults: Iterable[Fault] = (),
        bandwidth: Optional[float] = None,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        log_stream: Optional[TextIO] = None,
        idle_timeout: float = 60.0,
    ) -> None:
        if not protocol.is_bucket_name(bucket):
            raise CosValidationError("bucket", bucket, "<name>-<appid>: lowercase letters, digits and '-'")
        if not region or not all(char.isalnum() or char == "-" for char in region):
            raise CosValidationError("region", region, "letters, digits and '-', e.g. ap-guangzhou")
        if not 0 <= port <= 65535:
            raise CosValidationError("port", port, "0 (any free port) to 65535")
        if idle_timeout <= 0:
            raise CosValidationError("idle_timeout", idle_timeout, "a positive number of seconds")
        accepted = _credential_list(credentials)
        self.host = host
        self.bucket = bucket
        self.region = region
        self.credentials = accepted[0]
        self.keyring = Keyring(accepted)
        self.anonymous = anonymous
        self.faults = FaultController(faults, bandwidth=bandwidth, latency=latency)
        self.clock = clock
        self.idle_timeout = idle_timeout
        self._requested_port = port
        self._port: Optional[int] = None
        self._requested_dir = Path(data_dir) if data_dir is not None else None
        self._log_stream = log_stream
        self._entries: Deque[AccessLogEntry] = collections.deque(maxlen=10_000)
        self._log_lock = threading.Lock()
        self._settled = threading.Condition(self._log_lock)
        self._in_flight = 0
        self._log_file: Optional[TextIO] = None
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._temporary_dir: Optional[Path] = None
        self.stopping = threading.Event()
        self.store: Optional[Store] = None
        self.data_dir: Path = self._requested_dir or Path()

    # --- life cycle --------------------------------------------------------------------------------

    def start(self) -> "LocalCOS":
        """Bind, load the store and serve in a background thread; returns ``self``."""
        if self._server is not None:
            return self
        if self._requested_dir is None:
            self._temporary_dir = Path(tempfile.mkdtemp(prefix="local-cos-"))
            self.data_dir = self._temporary_dir
        else:
            self.data_dir = self._requested_dir
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir, clock=self.clock)
        self._log_file = open(self.data_dir / "access.log", "a", encoding="utf-8", buffering=1)
        self.stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-cos", daemon=True
        )
        self._thread.start()
        logger.debug("local COS server listening on %s (data in %s)", self.endpoint, self.data_dir)
        return self

    def stop(self) -> None:
        """Stop serving, close every connection, wait for the threads; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        server.join_threads(timeout=10.0)
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)
            self._temporary_dir = None

    def __enter__(self) -> "LocalCOS":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint if self._server is not None else "stopped"
        return f"LocalCOS({where}, bucket={self.bucket!r}, region={self.region!r})"

    # --- what users need -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (known from :meth:`start` on, kept after :meth:`stop`)."""
        if self._port is None:
            raise RuntimeError("the server has not been started")
        return self._port

    @property
    def endpoint(self) -> str:
        """``http://<host>:<port>``: pass as a client's endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def access_log(self) -> Path:
        """The access log file in the data directory."""
        return self.data_dir / "access.log"

    def log_entries(self, api: Optional[str] = None, *, settle: float = 2.0) -> List[AccessLogEntry]:
        """The most recent served requests (up to 10,000), optionally of one API, oldest first.

        A client may read a response before the server thread has logged it; this waits up to ``settle``
        seconds for requests being served to finish, so an entry exists for every response received.
        """
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=settle)
            entries = list(self._entries)
        return [entry for entry in entries if api is None or entry.api == api]

    def add_credentials(self, credentials: Credentials) -> None:
        """Accept another key (e.g. temporary credentials with a token) from now on."""
        self.keyring.add(credentials)

    def url(self, key: str) -> str:
        """The URL of object ``key`` in the default bucket."""
        return f"{self.endpoint}/{quote(key, safe='/-_.~')}"

    def presign(self, key: str, method: str = "GET", expires: int = limits.DEFAULT_SIGN_EXPIRES) -> str:
        """A pre-signed URL for ``key`` made with :attr:`credentials`."""
        window = SignWindow.around(self.clock(), expires)
        return presign_url(self.credentials, self.url(key), method=method, window=window)

    def client(self, **overrides: Any) -> Any:
        """A :class:`cos_multipart.client.CosClient` configured for this server (keyword overrides allowed)."""
        from ..client import CosClient  # imported late: the server does not depend on the client

        options: Dict[str, Any] = {
            "bucket": self.bucket,
            "region": self.region,
            "credentials": self.credentials,
            "endpoint": self.endpoint,
        }
        options.update(overrides)
        return CosClient(**options)

    # --- access log ---------------------------------------------------------------------------------

    def begin_request(self) -> None:
        """Count a request being served (:meth:`record` ends it)."""
        with self._settled:
            self._in_flight += 1

    def record(self, entry: AccessLogEntry) -> None:
        """Append ``entry`` to the access log (file, stream, memory)."""
        line = entry.line()
        with self._settled:
            self._in_flight -= 1
            self._settled.notify_all()
            self._entries.append(entry)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
            if self._log_stream is not None:
                self._log_stream.write(line + "\n")
                self._log_stream.flush()


def _credential_list(credentials: CredentialsArg) -> List[Credentials]:
    if credentials is None:
        return [TEST_CREDENTIALS]
    if isinstance(credentials, Credentials):
        return [credentials]
    accepted = list(credentials)
    if not accepted or not all(isinstance(item, Credentials) for item in accepted):
        raise CosValidationError("credentials", REDACTED, "Credentials or a non-empty list of Credentials")
    return accepted


class _Server(ThreadingHTTPServer):
    """Tracks its connections and threads so :meth:`LocalCOS.stop` leaves none behind."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of parallel connections

    def __init__(self, address: Tuple[str, int], app: LocalCOS) -> None:
        self.app = app
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
            self._handler_threads.add(thread)
            self._connections.add(request)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracking:
                self._handler_threads.discard(threading.current_thread())
                self._connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("local COS server: unexpected error serving %s", client_address)

    def close_connections(self) -> None:
        with self._tracking:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_threads(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._tracking:
                threads = list(self._handler_threads)
            if not threads or time.monotonic() > deadline:
                return
            threads[0].join(max(0.0, deadline - time.monotonic()))


class _ConnectionReset(Exception):
    """Raised after the handler reset the connection on purpose (a fault)."""


@dataclass
class _Exchange:
    """Per-request state of a connection handler."""

    request_id: str
    started: float
    arrived: float
    method: str = ""
    raw_path: str = ""
    raw_query: str = ""
    api: str = ""
    status: int = 0
    code: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    remaining: int = 0
    chunked: bool = False
    resource: str = ""
    plan: FaultPlan = field(default_factory=FaultPlan)
    headers: Dict[str, str] = field(default_factory=dict)
    params: Tuple[Tuple[str, str], ...] = ()
    bucket: str = ""
    region: str = ""
    key: str = ""

    def param(self, name: str) -> Optional[str]:
        for key, value in self.params:
            if key == name:
                return value
        return None

    def has_param(self, name: str) -> bool:
        return any(key == name for key, _ in self.params)


class _Throttle:
    """Paces a body transfer at ``rate`` bytes/s (``None``: unlimited)."""

    def __init__(self, rate: Optional[float], stopping: threading.Event) -> None:
        self.rate = rate
        self._stopping = stopping
        self._start = time.monotonic()
        self._done = 0

    def chunk(self) -> int:
        if self.rate is None:
            return BUFFER_SIZE
        return int(min(BUFFER_SIZE, max(4096, self.rate / 20)))  # about 50 ms per chunk

    def account(self, count: int) -> None:
        if self.rate is None:
            return
        self._done += count
        ahead = self._done / self.rate - (time.monotonic() - self._start)
        if ahead > 0:
            self._stopping.wait(ahead)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tencent-cos"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    # --- connection ---------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.app.idle_timeout)
        self._buffer = memoryview(bytearray(BUFFER_SIZE))
        self._exchange: Optional[_Exchange] = None

    def version_string(self) -> str:
        return "tencent-cos"

    def date_time_string(self, timestamp: Optional[float] = None) -> str:
        return protocol.http_date(self.server.app.clock() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        logger.debug("local COS server: " + format, *args)

    def log_request(self, code: Union[int, str] = "-", size: Union[int, str] = "-") -> None:
        pass  # the access log records every request instead

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    @property
    def app(self) -> LocalCOS:
        return self.server.app

    @property
    def store(self) -> Store:
        assert self.app.store is not None
        return self.app.store

    # --- one request --------------------------------------------------------------------------------

    def _serve(self) -> None:
        app = self.app
        exchange = _Exchange(
            request_id=protocol.new_request_id(app.clock()), started=time.monotonic(), arrived=time.time()
        )
        self._exchange = exchange
        app.begin_request()
        try:
            self._process(exchange)
        except _ConnectionReset:
            exchange.status = 0
            self.close_connection = True
        except OSError as error:  # the client went away while we wrote or read
            logger.debug("local COS server: connection lost: %s", error)
            self.close_connection = True
        finally:
            self._log(exchange)

    def _process(self, exchange: _Exchange) -> None:
        self._parse(exchange)
        try:
            exchange.api = self._route(exchange)
            request = ReceivedRequest(
                exchange.method, unquote(exchange.raw_path), exchange.params, exchange.headers
            )
            if not self.app.anonymous:
                verify(request, self.app.keyring, self.app.clock())
            exchange.plan = self.app.faults.plan(exchange.api)
            self._wait(self.app.faults.latency)
            if exchange.plan.error is not None:
                fault = exchange.plan.error
                raise ServiceError(fault.status, fault.code, fault.error_message)
            if exchange.plan.reset_after is not None and exchange.remaining:
                self._receive(None, exchange.plan.reset_after, rate=None)
                self._reset()
            getattr(self, f"_api_{exchange.api}")(exchange)
        except AuthError as error:
            self._send_error(error.status, error.code, error.message)
        except ServiceError as error:
            self._send_error(error.status, error.code, error.message)

    def _parse(self, exchange: _Exchange) -> None:
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute form (through a proxy)
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        raw_path, _, raw_query = target.partition("?")
        exchange.method = self.command
        exchange.raw_path = raw_path or "/"
        exchange.raw_query = raw_query
        exchange.params = tuple(parse_qsl(raw_query, keep_blank_values=True))
        headers: Dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)
        exchange.headers = headers
        exchange.key = unquote(exchange.raw_path)[1:]
        exchange.bucket, exchange.region = protocol.bucket_from_host(
            headers.get("host", ""), self.app.bucket, self.app.region
        )
        exchange.resource = f"{exchange.bucket}.cos.{exchange.region}.myqcloud.com/{quote(exchange.key, safe='/')}"
        exchange.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit():
            exchange.remaining = int(length)

    def _route(self, exchange: _Exchange) -> str:
        method = exchange.method
        length = exchange.headers.get("content-length")
        if length is not None and not length.strip().isdigit():
            self.close_connection = True
            raise ServiceError(400, "InvalidArgument", "Content-Length must be a non-negative integer.")
        if not exchange.key:
            if method == "GET" and exchange.has_param("uploads"):
                return "ListMultipartUploads"
            raise ServiceError(501, "NotImplemented", "This local server implements the multipart and object APIs only.")
        protocol.check_key(exchange.key)
        unsupported = _UNSUPPORTED_SUBRESOURCES.intersection(name for name, _ in exchange.params)
        if unsupported or "x-cos-copy-source" in exchange.headers:
            raise ServiceError(501, "NotImplemented", "This local server implements the multipart and object APIs only.")
        has_upload = exchange.has_param("uploadId")
        routes = {
            "POST": (
                "InitiateMultipartUpload"
                if exchange.has_param("uploads")
                else "CompleteMultipartUpload" if has_upload else ""
            ),
            "PUT": "UploadPart" if has_upload or exchange.has_param("partNumber") else "PutObject",
            "GET": "ListParts" if has_upload else "GetObject",
            "HEAD": "HeadObject",
            "DELETE": "AbortMultipartUpload" if has_upload else "DeleteObject",
        }
        api = routes.get(method, "")
        if not api:
            raise ServiceError(405, "MethodNotAllowed", f"The method {method} is not allowed on this resource.")
        return api

    # --- APIs ---------------------------------------------------------------------------------------

    def _api_InitiateMultipartUpload(self, exchange: _Exchange) -> None:
        stored = protocol.object_headers(exchange.headers)
        encryption = protocol.encryption_of(exchange.headers)
        upload = self.store.create_upload(
            exchange.bucket,
            exchange.key,
            storage_class=protocol.storage_class_of(exchange.headers),
            headers=stored,
            encryption=encryption,
        )
        body = protocol.initiate_xml(exchange.bucket, exchange.key, upload.upload_id)
        self._respond(200, encryption.echo_headers(), body, content_type="application/xml")

    def _api_UploadPart(self, exchange: _Exchange) -> None:
        number = protocol.part_number(exchange.param("partNumber"))
        upload = self._upload(exchange)
        protocol.check_part_encryption(upload.encryption, exchange.headers)
        rate = self._traffic_rate(exchange)
        length = self._content_length(exchange, limits.MAX_PART_SIZE)
        protocol.check_size_guards(length, exchange.headers)
        expected_md5 = protocol.content_md5(exchange.headers.get("content-md5"))
        with self.store.sink(exchange.bucket) as sink:
            self._receive(sink, length, rate=rate)
            self._check_digest(sink, expected_md5)
            etag = self.store.etag_for(sink.hasher.md5_hex, upload.encryption)
            part = self.store.commit_part(upload, number, sink, etag)
        headers = [("ETag", f'"{_maybe_wrong_etag(part.etag, exchange.plan)}"')]
        headers.append((CRC64_HEADER, str(_maybe_wrong_crc(part.crc64, exchange.plan))))
        headers.extend(upload.encryption.echo_headers())
        self._respond(200, headers)

    def _api_CompleteMultipartUpload(self, exchange: _Exchange) -> None:
        upload = self._upload(exchange)
        length = self._content_length(exchange, protocol.MAX_COMPLETE_BODY)
        expected_md5 = protocol.content_md5(exchange.headers.get("content-md5"))
        body = self._read_small_body(length)
        if expected_md5 is not None and expected_md5 != _md5(body):
            raise ServiceError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        requested = protocol.parse_complete_body(body)
        pnum_min = protocol.integer(exchange.headers.get("x-cos-pnum-min"), "x-cos-pnum-min", 1, limits.MAX_PART_NUMBER)
        pnum_max = protocol.integer(exchange.headers.get("x-cos-pnum-max"), "x-cos-pnum-max", 1, limits.MAX_PART_NUMBER)
        forbid = exchange.headers.get("x-cos-forbid-overwrite", "").strip().lower() == "true"

        def check(parts: Mapping[int, PartRecord]) -> List[int]:
            stored = {number: (part.etag, part.size) for number, part in parts.items()}
            return protocol.check_complete(requested, stored, pnum_min=pnum_min, pnum_max=pnum_max)

        # Every rule is checked before the 200 goes out, so a rejected Complete gets a proper status.
        parts = {part.number: part for part in self.store.list_parts(upload)}
        numbers = check(parts)
        if forbid and _exists(self.store, exchange.bucket, exchange.key):
            raise ServiceError(409, "FileAlreadyExists", "An object with the same key already exists.")
        crc = crc64_combine_all([(parts[number].crc64, parts[number].size) for number in numbers])
        headers = [(CRC64_HEADER, str(_maybe_wrong_crc(crc, exchange.plan)))]
        headers.extend(upload.encryption.echo_headers())
        self._start_chunked(200, headers, content_type="application/xml")
        # COS answers at once and sends whitespace while it merges the parts [ref 2.3].
        keepalive = _KeepAlive(self._write_chunk)
        keepalive.send()
        try:
            record = self.store.complete(upload, check, forbid_overwrite=forbid, on_progress=keepalive.tick)
        except ServiceError as error:  # a 200 that carries an <Error> body, as COS can send
            exchange.code = error.code
            keepalive.finish(self._error_body(error.code, error.message))
            return
        location = f"http://{exchange.bucket}.cos.{exchange.region}.myqcloud.com/{quote(exchange.key, safe='/')}"
        etag = _maybe_wrong_etag(record.etag, exchange.plan)
        keepalive.finish(protocol.complete_xml(location, exchange.bucket, exchange.key, etag))

    def _api_AbortMultipartUpload(self, exchange: _Exchange) -> None:
        self.store.abort(exchange.bucket, exchange.key, exchange.param("uploadId") or "")
        self._respond(204, [])

    def _api_ListParts(self, exchange: _Exchange) -> None:
        upload = self._upload(exchange)
        encode = self._encoding_type(exchange)
        max_parts = protocol.integer(exchange.param("max-parts"), "max-parts", 0, 2**31)
        max_parts = limits.MAX_LIST_PARTS if max_parts is None else min(max_parts, limits.MAX_LIST_PARTS)
        marker = protocol.integer(exchange.param("part-number-marker"), "part-number-marker", 0, 2**31) or 0
        remaining = [part for part in self.store.list_parts(upload) if part.number > marker]
        page = remaining[:max_parts]
        rows = [protocol.PartRow(part.number, part.etag, part.size, part.last_modified) for part in page]
        body = protocol.list_parts_xml(
            bucket=exchange.bucket,
            key=exchange.key,
            upload_id=upload.upload_id,
            storage_class=upload.storage_class,
            parts=rows,
            marker=marker,
            max_parts=max_parts,
            truncated=len(remaining) > len(page),
            encode=encode,
        )
        self._respond(200, [], body, content_type="application/xml")

    def _api_ListMultipartUploads(self, exchange: _Exchange) -> None:
        encode = self._encoding_type(exchange)
        max_uploads = protocol.integer(exchange.param("max-uploads"), "max-uploads", 1, limits.MAX_LIST_UPLOADS)
        max_uploads = limits.MAX_LIST_UPLOADS if max_uploads is None else max_uploads
        prefix = exchange.param("prefix") or ""
        delimiter = exchange.param("delimiter") or ""
        key_marker = exchange.param("key-marker") or ""
        upload_id_marker = (exchange.param("upload-id-marker") or "") if key_marker else ""
        rows = [
            protocol.UploadRow(upload.key, upload.upload_id, upload.storage_class, upload.initiated)
            for upload in self.store.list_uploads(exchange.bucket)
        ]
        listing = protocol.list_uploads_page(
            rows,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
            max_uploads=max_uploads,
        )
        body = protocol.list_uploads_xml(
            bucket=exchange.bucket,
            listing=listing,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
            max_uploads=max_uploads,
            encode=encode,
        )
        self._respond(200, [], body, content_type="application/xml")

    def _api_PutObject(self, exchange: _Exchange) -> None:
        stored = protocol.object_headers(exchange.headers)
        encryption = protocol.encryption_of(exchange.headers)
        rate = self._traffic_rate(exchange)
        length = self._content_length(exchange, limits.MAX_PUT_OBJECT_SIZE)
        expected_md5 = protocol.content_md5(exchange.headers.get("content-md5"))
        forbid = exchange.headers.get("x-cos-forbid-overwrite", "").strip().lower() == "true"
        with self.store.sink(exchange.bucket) as sink:
            self._receive(sink, length, rate=rate)
            self._check_digest(sink, expected_md5)
            etag = self.store.etag_for(sink.hasher.md5_hex, encryption)
            record = self.store.put_object(
                exchange.bucket,
                exchange.key,
                sink,
                etag=etag,
                headers=stored,
                encryption=encryption,
                forbid_overwrite=forbid,
            )
        headers = [("ETag", f'"{_maybe_wrong_etag(record.etag, exchange.plan)}"')]
        headers.append((CRC64_HEADER, str(_maybe_wrong_crc(record.crc64, exchange.plan))))
        headers.extend(encryption.echo_headers())
        self._respond(200, headers)

    def _api_HeadObject(self, exchange: _Exchange) -> None:
        record = self.store.get_object(exchange.bucket, exchange.key)
        protocol.check_read_encryption(record.encryption, exchange.headers)
        headers = self._object_headers(record, exchange)
        headers.append(("Content-Length", str(record.size)))
        self._respond(200, headers, length_set=True)

    def _api_GetObject(self, exchange: _Exchange) -> None:
        # Opened first: headers and bytes then come from one version, whatever happens to the key meanwhile.
        with self.store.open_object(exchange.bucket, exchange.key) as reader:
            record = reader.record
            protocol.check_read_encryption(record.encryption, exchange.headers)
            rate = self._traffic_rate(exchange)
            selected = protocol.byte_range(exchange.headers.get("range"), record.size)
            headers = self._object_headers(record, exchange)
            first, last = selected if selected is not None else (0, record.size - 1)
            length = last - first + 1 if record.size else 0
            if selected is not None:
                headers.append(("Content-Range", f"bytes {first}-{last}/{record.size}"))
            headers.append(("Content-Length", str(length)))
            self._respond(206 if selected is not None else 200, headers, length_set=True)
            self._send_object(reader, first, length, rate)

    def _api_DeleteObject(self, exchange: _Exchange) -> None:
        self.store.delete_object(exchange.bucket, exchange.key)
        self._respond(204, [])

    # --- API helpers --------------------------------------------------------------------------------

    def _upload(self, exchange: _Exchange) -> UploadRecord:
        upload_id = exchange.param("uploadId")
        if upload_id is None:
            raise protocol.invalid_argument("uploadId is required.")
        return self.store.get_upload(exchange.bucket, exchange.key, upload_id)

    def _encoding_type(self, exchange: _Exchange) -> bool:
        value = exchange.param("encoding-type")
        if value not in (None, "url"):
            raise protocol.invalid_argument(f"encoding-type must be url, got {value!r}.")
        return value == "url"

    def _traffic_rate(self, exchange: _Exchange) -> Optional[float]:
        bits = protocol.traffic_limit(
            exchange.headers.get(protocol.TRAFFIC_LIMIT_HEADER) or exchange.param(protocol.TRAFFIC_LIMIT_HEADER)
        )
        rates = [rate for rate in (self.app.faults.bandwidth, bits / 8 if bits else None) if rate]
        return min(rates) if rates else None

    def _content_length(self, exchange: _Exchange, maximum: int) -> int:
        if "content-length" not in exchange.headers:
            self.close_connection = exchange.chunked
            raise ServiceError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        length = exchange.remaining
        if length > maximum:
            message = f"Your proposed upload exceeds the maximum allowed size ({maximum} bytes)."
            raise ServiceError(400, "EntityTooLarge", message)
        return length

    def _check_digest(self, sink: BodySink, expected: Optional[bytes]) -> None:
        if expected is not None and bytes.fromhex(sink.hasher.md5_hex) != expected:
            raise ServiceError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")

    def _object_headers(self, record: ObjectRecord, exchange: _Exchange) -> List[Tuple[str, str]]:
        headers = [(name.title() if not name.startswith("x-cos-") else name, value) for name, value in record.headers]
        for param, header in _RESPONSE_OVERRIDES.items():
            value = exchange.param(param)
            if value is not None:
                headers = [(name, old) for name, old in headers if name.lower() != header.lower()]
                headers.append((header, value))
        headers.extend(
            [
                ("ETag", f'"{_maybe_wrong_etag(record.etag, exchange.plan)}"'),
                ("Last-Modified", protocol.http_date(record.last_modified)),
                ("Accept-Ranges", "bytes"),
                (CRC64_HEADER, str(_maybe_wrong_crc(record.crc64, exchange.plan))),
            ]
        )
        headers.extend(record.encryption.echo_headers())
        return headers

    # --- body transfer ------------------------------------------------------------------------------

    def _receive(self, sink: Optional[BodySink], length: int, *, rate: Optional[float]) -> None:
        """Stream ``length`` body bytes into ``sink`` (``None``: discard) through the fixed buffer."""
        exchange = self._exchange
        assert exchange is not None
        throttle = _Throttle(rate, self.app.stopping)
        remaining = min(length, exchange.remaining)
        while remaining:
            want = min(throttle.chunk(), remaining)
            try:
                count = self.rfile.readinto(self._buffer[:want])
            except socket.timeout:
                exchange.remaining = 0
                self.close_connection = True
                raise ServiceError(400, "RequestTimeout", "The request body was not received within the timeout.") from None
            if not count:
                exchange.remaining = 0
                self.close_connection = True
                raise ServiceError(400, "IncompleteBody", "The request body is shorter than its Content-Length.")
            if sink is not None:
                sink.write(self._buffer[:count])
            remaining -= count
            exchange.remaining -= count
            exchange.bytes_in += count
            throttle.account(count)

    def _read_small_body(self, length: int) -> bytes:
        exchange = self._exchange
        assert exchange is not None
        chunks = []
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, BUFFER_SIZE))
            if not chunk:
                exchange.remaining = 0
                self.close_connection = True
                raise ServiceError(400, "IncompleteBody", "The request body is shorter than its Content-Length.")
            chunks.append(chunk)
            remaining -= len(chunk)
            exchange.remaining -= len(chunk)
            exchange.bytes_in += len(chunk)
        return b"".join(chunks)

    def _drain(self) -> None:
        """Read what is left of the request body so the connection can serve the next request."""
        exchange = self._exchange
        assert exchange is not None
        if exchange.chunked:
            self.close_connection = True
            return
        if exchange.remaining > DRAIN_LIMIT:
            self.close_connection = True
            return
        try:
            self._receive(None, exchange.remaining, rate=None)
        except ServiceError:
            self.close_connection = True

    def _send_object(self, reader: ObjectReader, first: int, length: int, rate: Optional[float]) -> None:
        """Send ``length`` bytes of the object from ``first``, segment after segment."""
        exchange = self._exchange
        assert exchange is not None
        reset_after = exchange.plan.reset_after
        if rate is None and reset_after is None:
            for data, offset, count in reader.pieces(first, length):
                sent = self.connection.sendfile(data, offset, count)
                exchange.bytes_out += sent
                if sent < count:
                    raise OSError("the object data ended early")
            return
        throttle = _Throttle(rate, self.app.stopping)
        for data, offset, count in reader.pieces(first, length):
            data.seek(offset)
            self._send_paced(data, count, throttle, reset_after)

    def _send_paced(self, data: FileIO, count: int, throttle: _Throttle, reset_after: Optional[int]) -> None:
        """Send ``count`` bytes of ``data`` through the buffer, paced, resetting after ``reset_after`` sent."""
        exchange = self._exchange
        assert exchange is not None
        remaining = count
        while remaining:
            want = min(throttle.chunk(), remaining)
            if reset_after is not None:
                want = min(want, reset_after - exchange.bytes_out)
                if want <= 0:
                    self._reset()
            got = data.readinto(self._buffer[:want])
            if not got:
                raise OSError("the object data ended early")
            self.wfile.write(self._buffer[:got])
            remaining -= got
            exchange.bytes_out += got
            throttle.account(got)

    def _reset(self) -> None:
        """Abort the connection with a TCP reset (SO_LINGER 0), as a failing network would."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        raise _ConnectionReset()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.app.stopping.wait(seconds)

    # --- responses ----------------------------------------------------------------------------------

    def _begin(self, status: int, headers: Iterable[Tuple[str, str]], content_type: Optional[str]) -> None:
        exchange = self._exchange
        assert exchange is not None
        self._wait(exchange.plan.delay)
        self._drain()
        if exchange.plan.reset_after is not None and exchange.method not in ("GET",):
            self._reset()
        exchange.status = status
        self.send_response(status)
        self.send_header(REQUEST_ID_HEADER, exchange.request_id)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")

    def _respond(
        self,
        status: int,
        headers: Iterable[Tuple[str, str]],
        body: bytes = b"",
        *,
        content_type: Optional[str] = None,
        length_set: bool = False,
    ) -> None:
        self._begin(status, headers, content_type)
        if not length_set and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
            assert self._exchange is not None
            self._exchange.bytes_out += len(body)

    def _start_chunked(self, status: int, headers: Iterable[Tuple[str, str]], *, content_type: str) -> None:
        self._begin(status, list(headers) + [("Transfer-Encoding", "chunked")], content_type)
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n")
        assert self._exchange is not None
        self._exchange.bytes_out += len(data)

    def _error_body(self, code: str, message: str) -> bytes:
        exchange = self._exchange
        assert exchange is not None
        return protocol.error_xml(code, message, exchange.resource, exchange.request_id, protocol.new_trace_id())

    def _send_error(self, status: int, code: str, message: str) -> None:
        exchange = self._exchange
        assert exchange is not None
        exchange.code = code
        trace_id = protocol.new_trace_id()
        body = protocol.error_xml(code, message, exchange.resource, exchange.request_id, trace_id)
        self._respond(status, [(TRACE_ID_HEADER, trace_id)], body, content_type="application/xml")

    # --- access log ---------------------------------------------------------------------------------

    def _log(self, exchange: _Exchange) -> None:
        self.app.record(
            AccessLogEntry(
                time=exchange.arrived,
                client=str(self.client_address[0]),
                method=exchange.method,
                path=exchange.raw_path,
                query=redact_query(exchange.raw_query),
                status=exchange.status,
                bytes_in=exchange.bytes_in,
                bytes_out=exchange.bytes_out,
                millis=(time.monotonic() - exchange.started) * 1000,
                api=exchange.api,
                request_id=exchange.request_id,
                code=exchange.code,
                headers=_redact_headers(exchange.headers),
            )
        )


class _KeepAlive:
    """Whitespace chunks while Complete assembles the object, then the final body."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._last = time.monotonic()
        self._alive = True

    def send(self) -> None:
        if self._alive:
            try:
                self._write(b"\n" + b" " * 31)
            except OSError:
                self._alive = False  # the client left; the object is still assembled, as on COS
        self._last = time.monotonic()

    def tick(self) -> None:
        if time.monotonic() - self._last >= KEEPALIVE_SECONDS:
            self.send()

    def finish(self, body: bytes) -> None:
        if self._alive:
            self._write(body)
            self._write(b"")


def redact_query(query: str) -> str:
    """``query`` with the values of ``q-signature``, ``sign``, the STS token and the SSE-C key redacted."""
    if not query:
        return ""
    pieces = []
    for piece in query.split("&"):
        name, sep, _ = piece.partition("=")
        if sep and unquote_plus(name).lower() in _SECRET_PARAMS:
            piece = f"{name}={REDACTED}"
        pieces.append(piece)
    return "&".join(pieces)


def _redact_headers(headers: Mapping[str, str]) -> Dict[str, str]:
    redacted = {}
    for name, value in headers.items():
        if name in _SECRET_HEADERS:
            value = REDACTED
        elif name == "authorization":
            value = "&".join(
                f"q-signature={REDACTED}" if item.startswith("q-signature=") else item for item in value.split("&")
            )
        redacted[name] = value
    return redacted


def _maybe_wrong_etag(etag: str, plan: FaultPlan) -> str:
    return etag if not plan.wrong_etag else ("0" if etag[0] != "0" else "1") + etag[1:]


def _maybe_wrong_crc(crc: int, plan: FaultPlan) -> int:
    return crc if not plan.wrong_crc64 else crc ^ 0x1


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def _exists(store: Store, bucket: str, key: str) -> bool:
    try:
        store.get_object(bucket, key)
    except ServiceError:
        return False
    return True
