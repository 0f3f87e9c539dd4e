"""The threaded client's transport: one per client, signing, retries, body rewinding, answers read capped.

For every attempt the transport takes the current credentials from the provider, signs a fresh window
(starting 60 s in the past, corrected by the clock offset learnt from a clock error), rewinds a file body
to where it started, and sends the body with an exact ``Content-Length`` (never chunked). The connection
pool holds ``pool_size`` connections and blocks when they are all busy, so concurrent part uploads never
see "Connection pool is full". Failures are retried per :class:`~cos_multipart._protocol.retry.RetryPolicy`; what
is logged (DEBUG) and what errors say never contains a secret or a query string.

Two engines carry the requests: :mod:`._wirepool` (HTTP/1.1 over the standard library's sockets) when no
proxy applies to the endpoint, and :mod:`._requests_engine` (``requests`` + urllib3) when one does; the
choice is made once, when the transport is made. Everything above the engine (signing, retries, deadlines,
cancellation, what errors say) is this module's, the same for both.

Cancellation: a call given a ``cancel`` event stops retrying as soon as it is set (a backoff wait ends at
once), and :meth:`Transport.abort_connections` with that event shuts down the sockets carrying that
event's requests (and only those: one upload's failure leaves a neighbouring upload on the same client
alone), so a request blocked waiting for a slow answer fails at once instead of at its read timeout.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Protocol, Tuple, Type, TypeVar, Union

from .. import __version__
from . import _wire
from ._attempts import ANSWER_BROKE_OFF, CLOSED_WITHOUT_ANSWER, AnswerDeadlineMixin, Retries, corrected_offset, signed_headers, transport_error, with_attempts
from ._carrying import ConnectionRegistry
from ._wirepool import WireEngine, tls_context
from .._protocol.credentials import Credentials, CredentialsLike, as_provider
from .._protocol.endpoint import Endpoint, strip_query
from ._tls import checked_ca_bundle
from .._protocol.errors import CosCancelledError, CosError, CosServiceError, CosTransportError, CosValidationError, FailureKind, redact
from .._protocol import operations
from .._protocol.limits import DEFAULT_SIGN_EXPIRES, MAX_XML_ANSWER_BYTES
from ._streams import ObjectStream
from .._protocol.models import HttpCall, ObjectResult
from .._protocol.retry import RetryPolicy

if TYPE_CHECKING:  # imported when a proxy applies: without one, requests is never imported
    from ._requests_engine import RequestsEngine

__all__ = ["AnswerDeadlineExceeded", "Transport", "failure_kind", "validate_timeout"]

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
_BYTES_LIKE = (bytes, bytearray, memoryview)
#: Bytes asked for at a time when reading an answer (the cap is checked after each piece).
_ANSWER_CHUNK = 64 * 1024


class _Answer(Protocol):
    """An answer as either engine gives it: its head read, its body read as asked, then closed."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, size: int) -> bytes: ...

    def readinto(self, view: memoryview) -> int: ...

    def close(self) -> None: ...


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
        self._registry = ConnectionRegistry()
        # The environment (HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, SSL_CERT_FILE) is read once, for the
        # one endpoint this transport talks to, never per request.
        https = endpoint.base_url.startswith("https:")
        # Over plain HTTP no certificate is checked (nor a bundle path required to exist).
        trusted = checked_ca_bundle(verify, os.environ) if https else True
        through = _proxies_for(endpoint.base_url, self.proxies)
        self._engine: Union[WireEngine, "RequestsEngine"]
        if through is None:
            self._engine = WireEngine(
                endpoint.base_url,
                tls=tls_context(trusted, _default_ca_bundle) if https else None,
                pool_size=pool_size, blocksize=blocksize, timeout=_timeouts(timeout), answer_deadline=answer_deadline,
                watcher=self._registry,
            )  # fmt: skip
            self._fixed_headers = [("User-Agent", USER_AGENT), ("Accept-Encoding", "identity")]
        else:
            from ._requests_engine import RequestsEngine

            self._engine = RequestsEngine(
                proxies=through, verify=trusted, pool_size=pool_size, blocksize=blocksize, timeout=timeout,
                registry=self._registry, user_agent=USER_AGENT,
            )  # fmt: skip

    @property
    def engine(self) -> str:
        """Which HTTP engine carries the requests: ``"wire"`` (no proxy) or ``"requests"`` (through a proxy)."""
        return "wire" if isinstance(self._engine, WireEngine) else "requests"

    @property
    def pool_size(self) -> int:
        """Connections kept per host."""
        return self._engine.pool_size

    def ensure_pool_size(self, size: int) -> None:
        """Grow the connection pool to at least ``size`` connections; it never shrinks.

        The pool blocks when every connection is busy, so a pool smaller than the number of threads sharing
        the client would quietly limit their parallelism; the uploader calls this with its worker count.
        """
        self._engine.grow(size)

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
        self._engine.close()

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

        def handle(answer: _Answer) -> T:
            try:
                return parse(answer.status, self.endpoint.dialect.from_wire(answer.headers), self._read_answer(answer, call.method))
            finally:
                answer.close()

        return self._run(call, handle, cancel=cancel)

    def stream(
        self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[threading.Event] = None
    ) -> ObjectStream:
        """Send ``call`` and return its body unread, with ``parse(status, headers, b"")`` of its head.

        Error answers are read and given to ``parse`` (which raises), and retried per policy as for
        :meth:`send`. The body is read over the answer's connection as the caller asks; a failure while
        reading it raises :class:`CosTransportError` (not retried: the caller knows how much it has).
        """
        safe_url = strip_query(self.endpoint.url(call.key, call.params))

        def handle(answer: _Answer) -> ObjectStream:
            try:
                headers = self.endpoint.dialect.from_wire(answer.headers)
                if answer.status >= 300:
                    parse(answer.status, headers, self._read_answer(answer, call.method))
                result = parse(answer.status, headers, b"")
                if isinstance(answer, _wire.WireAnswer):
                    answer.end_deadline()
            except BaseException:
                answer.close()
                raise

            def read(size: int) -> bytes:
                try:
                    return answer.read(size)
                except OSError as error:  # the engines' read failures (requests' too) are OSErrors
                    raise _transport_error(error, call.method, safe_url, 1, self._secrets()) from error

            def readinto(view: memoryview) -> int:
                try:
                    return answer.readinto(view)
                except OSError as error:
                    raise _transport_error(error, call.method, safe_url, 1, self._secrets()) from error

            # The deadline covers the head only.
            return ObjectStream(result, answer.headers, read, answer.close, readinto=readinto)

        return self._run(call, handle, cancel=cancel)

    def _run(
        self,
        call: HttpCall,
        handle: Callable[[_Answer], T],
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
            entry = None
            try:
                # The wire engine bounds the answer itself (each read waits at most what is left of the deadline).
                # Through requests, the registry's watcher shuts a connection whose deadline passed, and sets the
                # read timeout on its socket for the body's writes (urllib3 would use the connect timeout).
                wire = isinstance(self._engine, WireEngine)
                deadline, send_timeout = (None, None) if wire else (self.answer_deadline, _read_timeout(self.timeout))
                with self._registry.carrying(cancel, deadline, send_timeout) as entry:
                    answer = self._attempt(call, url, length, start, cancel)
                    date = answer.headers.get("Date")
                    return with_attempts(handle(answer), retries.policy.attempt)
            except CosServiceError as error:
                failure: BaseException = error.in_request(call.method, safe_url, self.endpoint.dialect.name)
            except (OSError, ValueError) as error:  # requests' exceptions are OSErrors too
                if isinstance(error, CosError):
                    raise  # this package's own verdict (a changed source, a validation), not the network's
                # ValueError: a header value the engine refuses to write (a CR or LF: the value is not quoted,
                # it may be a token); it becomes a redacted, never retried failure.
                # A connection shut by the deadline fails as a reset or a short read: say what it was.
                passed = isinstance(error, _wire.DeadlinePassed) or (entry is not None and entry.expired)
                cause: BaseException = AnswerDeadlineExceeded(self.answer_deadline) if passed else error
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
        self, call: HttpCall, url: str, length: int, start: Optional[int], cancel: Optional[threading.Event]
    ) -> _Answer:
        headers = self._signed_headers(call)
        body = call.body
        if start is not None:
            body.seek(start)  # type: ignore[attr-defined]  # a file body: every attempt sends the same bytes
        engine = self._engine
        if not isinstance(engine, WireEngine):
            return engine.send(call.method, url, headers, body, length)
        fields = list(self._fixed_headers)
        method = call.method
        for name, value in headers.items():
            if method in _NO_LENGTH and name.lower() == "content-length":
                continue  # "Content-Length ... must not be sent on GET/HEAD/DELETE" (436/7728)
            fields.append((name, value))
        if method not in _NO_LENGTH and "Content-Length" not in headers:
            fields.append(("Content-Length", str(length)))  # a POST without a body still says 0 (411 otherwise)
        target = url[len(self.endpoint.base_url) :]
        return engine.send(method, target, fields, body, length, cancel)

    def _read_answer(self, answer: _Answer, method: str) -> bytes:
        """The answer's body, read in pieces and refused past ``MAX_XML_ANSWER_BYTES``, so a huge or endless
        answer costs at most that much memory."""
        if method == "HEAD":
            return b""  # no body, and its Content-Length is the object's, not the answer's
        if isinstance(answer, _wire.WireAnswer) and answer.done:
            return b""  # an answer with no body (a PUT's): nothing to read or to check
        buffer = operations.AnswerBuffer(MAX_XML_ANSWER_BYTES, answer.headers.get("Content-Length"))
        while True:
            chunk = answer.read(_ANSWER_CHUNK)
            if not chunk:
                break
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


class AnswerDeadlineExceeded(_wire.WireTimeout, AnswerDeadlineMixin):
    """The whole answer did not arrive within the answer deadline (a timeout: retried per policy)."""

    def __init__(self, deadline: Optional[float]) -> None:
        self.deadline = deadline
        super().__init__(f"no complete answer within {deadline:g} s of sending the request (answer_deadline)")


#: Methods whose requests carry no ``Content-Length``.
_NO_LENGTH = frozenset({"GET", "HEAD", "DELETE"})


def _timeouts(timeout: Optional[Timeout]) -> Tuple[Optional[float], Optional[float]]:
    """``(connect, read)`` seconds of a timeout setting."""
    return timeout if isinstance(timeout, tuple) else (timeout, timeout)


def _read_timeout(timeout: Optional[Timeout]) -> Optional[float]:
    return timeout[1] if isinstance(timeout, tuple) else timeout


def _body_position(body: object) -> Optional[int]:
    if body is None or isinstance(body, _BYTES_LIKE):
        return None
    position = body.tell()  # type: ignore[attr-defined]
    return int(position)


#: How the wire engine's failures are judged, first match wins (requests' table is its engine module's).
_FAILURE_KINDS: Tuple[Tuple[Type[BaseException], FailureKind], ...] = (
    (_wire.TLSFailure, FailureKind.TLS),  # before WireFailure: it is one
    (_wire.WireTimeout, FailureKind.TIMEOUT),
    (_wire.WireFailure, FailureKind.CONNECTION),
)


def _requests_engine() -> Any:
    """The requests engine's module when a transport of this process uses it (it is never imported otherwise)."""
    return sys.modules.get(__package__ + "._requests_engine")


def failure_kind(error: BaseException) -> FailureKind:
    """The :class:`~cos_multipart._protocol.errors.FailureKind` of an exception raised while sending a request."""
    kinds = _FAILURE_KINDS
    engine = _requests_engine()
    if engine is not None:
        kinds = kinds + engine.FAILURE_KINDS
    for cls, kind in kinds:
        if isinstance(error, cls):
            if kind is FailureKind.CONNECTION and _timed_out(error):
                return FailureKind.TIMEOUT  # a body write that timed out: urllib3 calls it "Connection aborted"
            return kind
    if isinstance(error, OSError):
        return FailureKind.BODY  # raised outside both engines' sockets: rewinding or reading the request body
    return FailureKind.OTHER


def _timed_out(error: BaseException, depth: int = 0) -> bool:
    """Whether a socket timeout is among the exceptions ``error`` wraps (urllib3 nests them in ``args``)."""
    if isinstance(error, (TimeoutError, socket.timeout)):  # distinct classes before Python 3.10
        return True
    return depth < 4 and any(isinstance(arg, BaseException) and _timed_out(arg, depth + 1) for arg in error.args)


#: The wire engine's exceptions that say what happened to a connection, in plain words.
_NAMED_FAILURES = (
    (_wire.ClosedWithoutAnswer, CLOSED_WITHOUT_ANSWER),
    (_wire.AnswerBrokeOff, ANSWER_BROKE_OFF),
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
    connect_timeouts: Tuple[Type[BaseException], ...] = (_wire.ConnectTimeout,)
    named: Tuple[Tuple[Type[BaseException], str], ...] = _NAMED_FAILURES
    engine = _requests_engine()
    if engine is not None:
        connect_timeouts += engine.CONNECT_TIMEOUTS
        named += engine.NAMED_FAILURES
    return transport_error(
        error, failure_kind(error), method, url, attempt, elapsed=elapsed, secrets=secrets,
        connect_timeouts=connect_timeouts, named=named,
    )  # fmt: skip


def _proxies_for(base_url: str, proxies: Mapping[str, str]) -> Optional[Mapping[str, str]]:
    """The proxies to send through to ``base_url``, or ``None`` when none applies. Without any proxy given or
    named in the environment, requests is not even imported to ask."""
    if not proxies and not any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
                               for name, value in os.environ.items()):  # fmt: skip
        return None
    from ._requests_engine import proxy_settings

    return proxy_settings(base_url, proxies)


def _default_ca_bundle() -> str:
    """The CA bundle of ``verify=True`` when the environment names none: certifi's, as requests uses."""
    import certifi

    return str(certifi.where())


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
