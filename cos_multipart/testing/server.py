"""The local COS-compatible server: :class:`LocalCOS`, what users start, configure and point clients at.

The server is built from small parts, each with one job (see docs/local-server.md): the wire
(:mod:`._wire`: HTTP/1.1, keep-alive, TLS, pacing, resets), routing (:mod:`._routing`), the dispatcher
(:mod:`._dispatch`: authentication with :mod:`.auth`, then faults), the service (:mod:`._service`: one
method per API), the fault effects (:mod:`._effects`), the access log (:mod:`._accesslog`) and the on-disk
store (:mod:`.store`). This module assembles them for one run (:class:`_Running`).

Example::

    with LocalCOS() as cos:
        client = CosClient(bucket=cos.bucket, region=cos.region, credentials=cos.credentials,
                           endpoint=cos.endpoint)
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
import enum
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, TextIO, Tuple, Union
from urllib.parse import quote

from . import _limits as limits
from .._protocol.credentials import Credentials
from .._protocol.errors import REDACTED, CosValidationError
from ._accesslog import AccessLog, AccessLogEntry, redact_query
from ._cors import CorsRule, CorsTable
from ._dispatch import Dispatcher
from ._service import Service
from ._tls import ServerTLS, certificate_names, make_server_tls
from ._wire import DEFAULT_MAX_CONNECTIONS, Site, WireServer
from .auth import Keyring
from .faults import Fault, FaultController
from .server_dialect import COS, OSS, ServerDialect, server_dialect
from .store import Store

if TYPE_CHECKING:  # types only: the server does not depend on the client at run time
    from .._io.client import CosClient
    from .._protocol.credentials import CredentialsLike
    from .._protocol.retry import RetryPolicy
    from .._io.transport import Timeout


class _Unset(enum.Enum):
    """An argument of :meth:`LocalCOS.client` left out (where ``None`` is a value of its own)."""

    UNSET = "unset"


_UNSET = _Unset.UNSET

logger = logging.getLogger(__name__)

#: Fixed credentials of the local server when none are given (documented in docs/local-server.md).
TEST_CREDENTIALS = Credentials("AKIDLOCALCOSTESTKEY0000000000000000", "LocalCOSTestSecretKey000000000000")
DEFAULT_BUCKET = COS.default_bucket
DEFAULT_REGION = COS.default_region
#: Seconds a request may take from its first byte to its body's last (``LocalCOS(request_timeout=)``).
DEFAULT_REQUEST_TIMEOUT = 600.0
#: The default bucket and region in OSS mode (``LocalCOS(dialect="oss")``).
OSS_DEFAULT_BUCKET = OSS.default_bucket
OSS_DEFAULT_REGION = OSS.default_region

CredentialsArg = Union[Credentials, Iterable[Credentials], None]

__all__ = [
    "LocalCOS",
    "AccessLogEntry",
    "TEST_CREDENTIALS",
    "DEFAULT_BUCKET",
    "DEFAULT_REGION",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_REQUEST_TIMEOUT",
    "OSS_DEFAULT_BUCKET",
    "OSS_DEFAULT_REGION",
    "redact_query",
]


class LocalCOS:
    """A local COS-compatible server (or, with ``dialect="oss"``, an Aliyun OSS one); use as a context
    manager or call :meth:`start` / :meth:`stop`.

    Args:
        host: Address to listen on (loopback by default).
        port: Port; 0 picks a free one (see :attr:`endpoint`).
        data_dir: Where buckets, parts, objects and the access log live; ``None`` for a temporary directory
            removed by :meth:`stop`. State in a given directory survives restarts.
        bucket: The default bucket: held from the start, and the bucket of requests whose Host names none
            (an IP, ``localhost``, a custom domain); ``None``: :data:`DEFAULT_BUCKET` (COS) or
            :data:`OSS_DEFAULT_BUCKET` (OSS).
        buckets: More buckets held from the start. Requests for a bucket the server does not hold are
            answered 404 NoSuchBucket; PUT Bucket (or :meth:`create_bucket`) makes one. Buckets in
            ``data_dir`` from an earlier run are held too.
        region: The region of that bucket; ``None``: ``ap-guangzhou`` (COS) or ``cn-hangzhou`` (OSS).
        credentials: The accepted key(s); temporary ones carry the token requests must present.
            ``None``: :data:`TEST_CREDENTIALS`.
        anonymous: Accept requests without checking signatures.
        faults: Faults installed from the start (see :class:`Fault`).
        bandwidth: Per-connection body transfer cap in bytes/s.
        latency: Seconds added before every request is served.
        clock: Unix time source of the server (signature windows, dates); pass one to simulate skew.
        log_stream: Also write access log lines here (e.g. ``sys.stderr``).
        idle_timeout: Seconds an idle keep-alive connection or a stalled body read is kept.
        request_timeout: Seconds from a request's first byte to its body's last (headers and body, however
            steadily they trickle in; time the server spends pacing a body at ``bandwidth`` does not
            count); past it the request is answered 400 RequestTimeout (or, in its headers, the connection
            is closed). ``None``: no deadline beyond ``idle_timeout``.
        max_connections: Connections open at once, at most; more wait in the listen queue until one closes
            (an idle keep-alive connection is closed to make room).
        tls: Serve HTTPS with a certificate made for the run, signed by a CA made for the run
            (:attr:`ca_path`); needs ``trustme`` (the ``tls`` extra).
        tls_names: Host names / addresses the certificate is made for (default: ``localhost``,
            ``127.0.0.1``, ``::1`` and ``host``).
        dialect: ``"cos"`` (default) or ``"oss"``: the service the server plays (signatures, headers,
            errors, ETags and part rules; see docs/local-server.md).
        cors: CORS rules (:class:`~cos_multipart.testing.CorsRule`) of every bucket that has none of its own
            (PUT Bucket cors or :meth:`set_cors` gives a bucket its own): browser preflights are answered and
            answers carry CORS headers as COS and OSS do; none: preflights are refused (403).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Union[str, "os.PathLike[str]", None] = None,
        bucket: Optional[str] = None,
        buckets: Iterable[str] = (),
        region: Optional[str] = None,
        credentials: CredentialsArg = None,
        anonymous: bool = False,
        faults: Iterable[Fault] = (),
        bandwidth: Optional[float] = None,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        log_stream: Optional[TextIO] = None,
        idle_timeout: float = 60.0,
        request_timeout: Optional[float] = DEFAULT_REQUEST_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        tls: bool = False,
        tls_names: Sequence[str] = (),
        dialect: str = "cos",
        cors: Iterable[CorsRule] = (),
    ) -> None:
        rules = server_dialect(dialect)
        bucket = rules.default_bucket if bucket is None else bucket
        region = rules.default_region if region is None else region
        rules.check_bucket(bucket)
        extra = tuple(buckets) if not isinstance(buckets, str) else (buckets,)
        for name in extra:
            if not isinstance(name, str) or not rules.bucket_pattern.fullmatch(name):
                raise CosValidationError("buckets", name, rules.bucket_rule)
        if not region or not all(char.isalnum() or char == "-" for char in region):
            raise CosValidationError("region", region, f"letters, digits and '-', e.g. {rules.region_example}")
        if not 0 <= port <= 65535:
            raise CosValidationError("port", port, "0 (any free port) to 65535")
        if idle_timeout <= 0:
            raise CosValidationError("idle_timeout", idle_timeout, "a positive number of seconds")
        if request_timeout is not None and (
            isinstance(request_timeout, bool) or not isinstance(request_timeout, (int, float)) or not request_timeout > 0
        ):
            raise CosValidationError("request_timeout", request_timeout, "a positive number of seconds, or None")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise CosValidationError("max_connections", max_connections, "an integer >= 1")
        if tls and importlib.util.find_spec("trustme") is None:
            raise CosValidationError("tls", tls, "False, or install trustme: pip install 'cos-multipart[tls]'")
        accepted = _credential_list(credentials)
        self.rules: ServerDialect = rules
        self.host = host
        #: The default bucket (see ``bucket``).
        self.bucket = bucket
        self._initial_buckets = tuple(dict.fromkeys((bucket, *extra)))
        self.region = region
        self.credentials = accepted[0]
        self.keyring = Keyring(accepted)
        self.anonymous = anonymous
        self.faults = FaultController(faults, bandwidth=bandwidth, latency=latency)
        #: The CORS rules of the buckets (see ``cors``).
        self.cors = CorsTable(cors)
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.tls = tls
        self.tls_names = certificate_names(host, tls_names)
        self.stopping = threading.Event()
        self.store: Optional[Store] = None
        self.data_dir: Path = Path(data_dir) if data_dir is not None else Path()
        self._requested_port = port
        self._requested_dir = Path(data_dir) if data_dir is not None else None
        self._log_stream = log_stream
        self._port: Optional[int] = None
        self._ca_path: Optional[Path] = None
        self._running: Optional[_Running] = None
        self._log: Optional[AccessLog] = None

    # --- life cycle --------------------------------------------------------------------------------

    def start(self) -> "LocalCOS":
        """Bind, load the store and serve in a background thread; returns ``self``."""
        if self._running is not None:
            return self
        self.stopping.clear()
        running = _Running(self, self._requested_dir, self._requested_port, self._log_stream)
        self._running, self._log, self.store, self.data_dir = running, running.log, running.store, running.data_dir
        self._port = running.port
        self._ca_path = running.tls.ca_path if running.tls is not None else None
        logger.debug("local COS server listening on %s (data in %s)", self.endpoint, self.data_dir)
        return self

    def stop(self) -> None:
        """Stop serving, close every connection, wait for the threads; idempotent."""
        running, self._running = self._running, None
        if running is not None:
            self.stopping.set()
            running.stop()

    def __enter__(self) -> "LocalCOS":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint if self._running is not None else "stopped"
        dialect = "" if self.rules is COS else f", dialect={self.dialect!r}"
        return f"LocalCOS({where}, bucket={self.bucket!r}, region={self.region!r}{dialect})"

    # --- what users need -----------------------------------------------------------------------------

    @property
    def buckets(self) -> Tuple[str, ...]:
        """Every bucket the server holds, sorted: the default one, ``buckets``, those made with PUT Bucket
        or :meth:`create_bucket`, and (once started) those in ``data_dir`` from earlier runs."""
        held = set(self._initial_buckets)
        if self._running is not None:
            held.update(self._running.store.buckets())
        return tuple(sorted(held))

    def create_bucket(self, bucket: str) -> None:
        """Hold ``bucket`` from now on (as PUT Bucket does); nothing happens if it is held already.

        Raises:
            CosValidationError: ``bucket`` breaks the service's naming rule.
            RuntimeError: The server has not been started.
        """
        self.rules.check_bucket(bucket)
        if self._running is None:
            raise RuntimeError("the server has not been started")
        self._running.store.create_bucket(bucket)

    @property
    def dialect(self) -> str:
        """``"cos"`` or ``"oss"``: the service this server plays; give it to a client as ``dialect=``."""
        return self.rules.name

    @property
    def port(self) -> int:
        """The port listened on (known from :meth:`start` on, kept after :meth:`stop`)."""
        if self._port is None:
            raise RuntimeError("the server has not been started")
        return self._port

    @property
    def endpoint(self) -> str:
        """``http://<host>:<port>`` (``https://`` with ``tls=True``): pass as a client's endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_path(self) -> Optional[Path]:
        """With ``tls=True``, the PEM file of the CA that signed this run's certificate (known from
        :meth:`start` on): give it to clients as ``verify=`` or ``REQUESTS_CA_BUNDLE``. ``None`` otherwise."""
        return self._ca_path

    @property
    def access_log(self) -> Path:
        """The access log file in the data directory."""
        return self.data_dir / "access.log"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (TLS handshakes that failed included)."""
        return self._running.wire.connections_accepted if self._running is not None else 0

    @property
    def open_connections(self) -> int:
        """Connections open now (at most :attr:`max_connections`)."""
        return self._running.wire.open_connections if self._running is not None else 0

    @property
    def requests_in_progress(self) -> int:
        """Requests being served now: their head was read, their access-log entry is not written yet."""
        return self._log.in_flight if self._log is not None and self._running is not None else 0

    @property
    def idle_connections_closed(self) -> int:
        """Idle keep-alive connections closed so far to make room for new ones (see ``max_connections``)."""
        return self._running.wire.idle_connections_closed if self._running is not None else 0

    def log_entries(self, api: Optional[str] = None, *, settle: float = 2.0) -> List[AccessLogEntry]:
        """The most recent served requests (up to 10,000), optionally of one API, oldest first.

        A client may read a response before the server thread has logged it; this waits up to ``settle``
        seconds for requests being served to finish, so an entry exists for every response received.
        """
        entries = self._log.entries(settle) if self._log is not None else []
        return [entry for entry in entries if api is None or entry.api == api]

    def add_credentials(self, credentials: Credentials) -> None:
        """Accept another key (e.g. temporary credentials with a token) from now on."""
        self.keyring.add(credentials)

    def url(self, key: str) -> str:
        """The URL of object ``key`` in the default bucket."""
        return f"{self.endpoint}/{quote(key, safe='/-_.~')}"

    def presign(self, key: str, method: str = "GET", expires: int = limits.DEFAULT_PRESIGN_SECONDS) -> str:
        """A pre-signed URL for ``key`` made with :attr:`credentials` (COS mode only), valid ``expires``
        seconds (1 to 604800, as the client's).

        Raises:
            CosValidationError: In OSS mode; ``expires`` out of range.
        """
        if self.rules is not COS:
            raise CosValidationError("presign", self.dialect, "a COS-mode server (OSS pre-signed URLs are not made here)")
        from ._client_conveniences import presign  # acts as a client: kept out of the server's modules

        return presign(self.credentials, lambda: self.url(key), method=method, expires=expires, now=self.clock())

    def set_cors(self, rules: Iterable[CorsRule], *, bucket: Optional[str] = None) -> None:
        """Give ``bucket`` (default: the default bucket) these CORS rules, as PUT Bucket cors does; an empty
        list removes them (the ``cors`` given at construction applies again)."""
        self.cors.set(self.bucket if bucket is None else bucket, rules)

    def client(
        self,
        *,
        bucket: Optional[str] = None,
        region: Optional[str] = None,
        credentials: "Union[CredentialsLike, _Unset]" = _UNSET,
        endpoint: Optional[str] = None,
        retry: "Optional[RetryPolicy]" = None,
        retry_time: Optional[float] = None,
        max_attempts: Optional[int] = None,
        sleep: Optional[Callable[[float], None]] = None,
        monotonic: Optional[Callable[[], float]] = None,
        timeout: "Union[Timeout, None, _Unset]" = _UNSET,
        pool_size: Optional[int] = None,
        proxies: Optional[Mapping[str, str]] = None,
        verify: Optional[Union[bool, str]] = None,
        sign_expires: Optional[int] = None,
        blocksize: Optional[int] = None,
        clock: Optional[Callable[[], float]] = None,
        answer_deadline: "Union[float, None, _Unset]" = _UNSET,
    ) -> "CosClient":
        """A :class:`cos_multipart._io.client.CosClient` configured for this server, in its dialect; over TLS it
        trusts :attr:`ca_path`.

        Every argument is :class:`~cos_multipart._io.client.CosClient`'s, overriding what the server would give
        (its bucket, region, credentials, endpoint, CA bundle); one left out keeps the server's or the client's
        default (``credentials=None`` and ``timeout=None`` are passed on: no credentials given, no timeout).
        """
        from ._client_conveniences import make_client  # acts as a client: kept out of the server's modules

        options: Dict[str, Any] = {
            "bucket": self.bucket if bucket is None else bucket,
            "region": self.region if region is None else region,
            "credentials": self.credentials if credentials is _UNSET else credentials,
            "endpoint": self.endpoint if endpoint is None else endpoint,
        }
        if self.rules is not COS:
            options["dialect"] = self.dialect
        if verify is not None:
            options["verify"] = verify
        elif self._ca_path is not None:
            options["verify"] = str(self._ca_path)
        given: Dict[str, Any] = {
            "retry": retry, "pool_size": pool_size, "proxies": proxies, "sign_expires": sign_expires,
            "blocksize": blocksize, "clock": clock, "retry_time": retry_time, "max_attempts": max_attempts,
            "sleep": sleep, "monotonic": monotonic,
        }  # fmt: skip
        options.update((name, value) for name, value in given.items() if value is not None)
        if timeout is not _UNSET:
            options["timeout"] = timeout
        if answer_deadline is not _UNSET:
            options["answer_deadline"] = answer_deadline
        return make_client(options)


class _Running:
    """One run of a :class:`LocalCOS`: its data directory, store, log, TLS, wire server and thread."""

    def __init__(self, cos: LocalCOS, requested_dir: Optional[Path], port: int, log_stream: Optional[TextIO]) -> None:
        self.temporary = requested_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="local-cos-")) if requested_dir is None else requested_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir, clock=cos.clock, upper_etags=cos.rules.upper_etags)
        for bucket in cos._initial_buckets:
            self.store.create_bucket(bucket)
        self.tls: Optional[ServerTLS] = make_server_tls(self.data_dir / "tls", cos.tls_names) if cos.tls else None
        self.log = AccessLog(self.data_dir / "access.log", log_stream)
        dispatcher = Dispatcher(
            Service(self.store, cors=cos.cors),
            keyring=cos.keyring,
            anonymous=cos.anonymous,
            faults=cos.faults,
            clock=cos.clock,
            stopping=cos.stopping,
            cors=cos.cors,
        )
        site = Site(
            dispatcher=dispatcher,
            log=self.log,
            clock=cos.clock,
            idle_timeout=cos.idle_timeout,
            request_timeout=cos.request_timeout,
            stopping=cos.stopping,
            bandwidth=lambda: cos.faults.bandwidth,
            default_bucket=cos.bucket,
            default_region=cos.region,
            dialect=cos.rules,
        )
        try:
            self.wire = WireServer(
                (cos.host, port), site, self.tls.context if self.tls is not None else None, cos.max_connections
            )
        except BaseException:  # e.g. the port is taken: leave nothing behind
            self._release()
            raise
        self.port = int(self.wire.server_address[1])
        self.thread = threading.Thread(
            target=self.wire.serve_forever, kwargs={"poll_interval": 0.05}, name="local-cos", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.wire.shutdown()
        self.wire.server_close()
        self.wire.close_connections()
        self.wire.join_threads(timeout=10.0)
        self.thread.join(timeout=10.0)
        self._release()

    def _release(self) -> None:
        self.log.close()
        if self.temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _credential_list(credentials: CredentialsArg) -> List[Credentials]:
    if credentials is None:
        return [TEST_CREDENTIALS]
    if isinstance(credentials, Credentials):
        return [credentials]
    accepted = list(credentials)
    if not accepted or not all(isinstance(item, Credentials) for item in accepted):
        raise CosValidationError("credentials", REDACTED, "Credentials or a non-empty list of Credentials")
    return accepted


