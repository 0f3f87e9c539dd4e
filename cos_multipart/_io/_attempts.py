"""What every transport does around one attempt, whatever its HTTP library: sign it, judge its failure.

The requests transport (:mod:`cos_multipart._io.transport`) and the aiohttp transport
(:mod:`cos_multipart._io.aio_transport`) differ only in how bytes reach the socket and how they wait; the
signing window, the retry decision (:meth:`~cos_multipart._protocol.retry.RetryPolicy.next`), the clock-skew
correction and what is logged are here, once. Pure: no HTTP library, no sleeping.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import socket
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Type, TypeVar, cast
from urllib.parse import urlsplit

from ._streams import _Head
from ._tls import tls_failure
from .._protocol.credentials import Credentials
from .._protocol.endpoint import Endpoint
from .._protocol.errors import CosServiceError, CosTLSError, CosTransportError, FailureKind, quotes_secret, redact
from .._protocol.models import HttpCall, ResponseInfo
from .._protocol.retry import REASON_CLOCK, RetryPolicy, clock_offset

T = TypeVar("T")

logger = logging.getLogger("cos_multipart._io.transport")


def signed_headers(
    call: HttpCall, credentials: Credentials, endpoint: Endpoint, now: float, sign_expires: int
) -> Dict[str, str]:
    """The headers of one attempt of ``call``: its own in the endpoint's dialect, the STS token, and an
    ``Authorization`` by the dialect's signer (COS: valid from ``now`` minus the skew allowance for
    ``sign_expires`` seconds; ``now`` is already clock-corrected).

    Raises:
        CosValidationError: The call carries a header the endpoint's service does not have, or its key is
            longer than the service allows.
    """
    dialect = endpoint.dialect
    if call.key:
        dialect.check_key(call.key)
    # COS's headers are the neutral ones: the call goes as it is (no copy of the call per request).
    wire = call if dialect.speaks_neutral else replace(call, headers=tuple(dialect.to_wire(dict(call.headers)).items()))
    return dialect.signer(wire, credentials, endpoint, now, sign_expires)


class Retries:
    """The retry state of one request: each failure either gets a delay to wait or is raised.

    Args:
        policy: The transport's policy (each request starts from it).
        call: The request (its method, key and query name it in the log lines).
        url: For the log line, without its query string.
        rng: The backoff jitter's random source (shared by a transport's requests).
        rng_lock: Guards ``rng`` when threads share it.
        fix_clock: Learns the clock offset from a ``Date`` header; ``False`` when it cannot.
        describe: One line about a failure, without secrets.
        service: The service's name for the log lines ("COS", "OSS").
        monotonic: The clock the policy's ``retry_time`` is counted on (tests inject one with their sleep).
    """

    def __init__(
        self,
        policy: RetryPolicy,
        call: HttpCall,
        url: str,
        rng: random.Random,
        rng_lock: threading.Lock,
        fix_clock: Callable[[Optional[str]], bool],
        describe: Callable[[BaseException], str],
        *,
        service: str = "COS",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._call = call
        self._method = call.method
        self._url = url
        self._rng = rng
        self._rng_lock = rng_lock
        self._fix_clock = fix_clock
        self._describe = describe
        self._service = service
        self._monotonic = monotonic
        self.started = monotonic()
        self._first_failure: Optional[float] = None

    @property
    def elapsed(self) -> float:
        """Seconds since the first attempt started (for the error's "over how long")."""
        return max(0.0, self._monotonic() - self.started)

    def delay_after(self, failure: BaseException, date: Optional[str]) -> Optional[float]:
        """Seconds to wait before the next attempt after ``failure``, or ``None`` to raise it.

        ``date`` is the answer's ``Date`` header (clock errors are retried once it corrects the clock). The
        policy's ``retry_time`` is counted from the first failure. A wait is announced by one WARNING line
        ("COS busy (503 SlowDown): retrying part 7 in 4 s"), the only one a user sees while it lasts.
        """
        now = self._monotonic()
        if self._first_failure is None:
            self._first_failure = now
        with self._rng_lock:
            following = self.policy.next(failure, elapsed=now - self._first_failure, rng=self._rng)
        if following is None or (following.history[-1].reason == REASON_CLOCK and not self._fix_clock(date)):
            return None
        event = following.history[-1]
        logger.debug(
            "retrying %s %s after attempt %d: %s; waiting %.3f s",
            self._method,
            self._url,
            event.attempt,
            self._describe(failure.__cause__ or failure),
            event.delay,
        )
        if event.reason != REASON_CLOCK:
            logger.warning("%s: retrying %s in %s", self._trouble(failure), call_label(self._call), _seconds(event.delay))
        self.policy = following
        return event.delay

    def _trouble(self, failure: BaseException) -> str:
        """What went wrong, in the user's words: "COS busy (503 SlowDown)", "OSS unreachable (...)"."""
        if isinstance(failure, CosServiceError):
            what = f"{failure.status} {failure.code}".strip() if failure.code else f"HTTP {failure.status}"
            busy = failure.status in (429, 503) or failure.code in ("SlowDown", "ServiceUnavailable")
            return f"{self._service} {'busy' if busy else 'error'} ({what})"
        if isinstance(failure, CosTransportError):
            plain = str(failure).split(f" ({failure.method} {failure.url},", 1)[0]
            verb = "did not answer" if failure.kind is FailureKind.TIMEOUT else "unreachable"
            return f"{self._service} {verb} ({plain})"
        return f"{self._service} request failed"


def call_label(call: HttpCall) -> str:
    """What a request is, for a user reading a retry line: "part 7", "starting the upload of k", "PUT k"."""
    params = dict(call.params)
    number = params.get("partNumber")
    if number is not None:
        return f"part {number}"
    key = call.key or "/"
    if "uploads" in params and call.method == "POST":
        return f"starting the upload of {key}"
    if "uploadId" in params:
        action = {"POST": "completing", "DELETE": "aborting", "GET": "listing the parts of"}.get(call.method)
        if action is not None:
            return f"{action} the upload of {key}"
    return f"{call.method} {key}"


def _seconds(delay: float) -> str:
    """A wait as a person reads it: "4 s", "2.4 s", "12 s", "20 ms"."""
    if delay < 0.05:
        return f"{delay * 1000:.0f} ms"
    return f"{delay:.1f} s" if delay < 9.95 and round(delay) != delay else f"{delay:.0f} s"


def host_port(url: str) -> str:
    """``host:port`` of ``url`` (the scheme's port when it names none)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or parts.netloc or url
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"


def _linked(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception it wraps (in ``args``, ``reason``, ``os_error``, causes), breadth first."""
    seen: Set[int] = set()
    pending: List[BaseException] = [error]
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(item for item in current.args if isinstance(item, BaseException))
        for name in ("reason", "os_error", "certificate_error", "__cause__", "__context__"):
            linked = getattr(current, name, None)
            if isinstance(linked, BaseException):
                pending.append(linked)


class AnswerDeadlineMixin:
    """Marks the transports' "whole answer not in time" exceptions (each subclasses its library's timeout)."""

    deadline: Optional[float] = None


#: What a transport's ``named`` exceptions mean (see :func:`plain_failure`); ``{where}`` is ``host:port``.
CLOSED_WITHOUT_ANSWER = "{where} closed the connection without answering"
ANSWER_BROKE_OFF = "the answer from {where} broke off"


def plain_failure(
    error: BaseException,
    kind: FailureKind,
    url: str,
    connect_timeouts: Tuple[Type[BaseException], ...] = (),
    secrets: Tuple[Optional[str], ...] = (),
    named: "Tuple[Tuple[Type[BaseException], str], ...]" = (),
) -> str:
    """What failed, in plain words and with the ``host:port`` it failed on, whatever the HTTP library:
    "connection refused by 127.0.0.1:9000", "cannot resolve cos.example.com:443 (name resolution failed:
    ...)", "connection to ...:443 reset", "no answer from ...:443 within the read timeout".

    ``connect_timeouts`` are the library's exceptions for "could not connect in time"; ``named`` pairs more of
    its exceptions with what they mean (:data:`CLOSED_WITHOUT_ANSWER`, :data:`ANSWER_BROKE_OFF`), so this
    module imports no HTTP library. Failures of other kinds (the body, TLS, anything else) keep the library's
    text, redacted and on one line.
    """
    where = host_port(url)
    chain = list(_linked(error))
    if kind is FailureKind.TIMEOUT:
        deadline = next((item for item in chain if isinstance(item, AnswerDeadlineMixin)), None)
        if deadline is not None:
            return f"no complete answer from {where} within {deadline.deadline:g} s of sending the request (answer_deadline)"
        if any(isinstance(item, connect_timeouts) for item in chain):
            return f"connecting to {where} timed out"
        return f"no answer from {where} within the read timeout"
    if kind is FailureKind.CONNECTION:
        for item in chain:
            if isinstance(item, socket.gaierror):
                reason = item.strerror or str(item)
                return f"cannot resolve {where} (name resolution failed: {reason})"
            if isinstance(item, ConnectionRefusedError):
                return f"connection refused by {where}"
            if isinstance(item, (ConnectionResetError, BrokenPipeError)):
                return f"connection to {where} reset"
            if isinstance(item, ConnectionAbortedError):
                return f"connection to {where} aborted"
            phrase = next((phrase for cls, phrase in named if isinstance(item, cls)), None)
            if phrase is not None:
                return phrase.format(where=where)
        return f"connection to {where} failed ({_library_text(chain[-1], secrets)})"
    return _library_text(error, secrets)


def _library_text(error: BaseException, secrets: Tuple[Optional[str], ...]) -> str:
    """One line about ``error`` without query strings, header values or secrets."""
    text = " ".join(redact(str(error), secrets).split()) or type(error).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}: {text}"


def transport_error(
    error: BaseException,
    kind: FailureKind,
    method: str,
    url: str,
    attempts: int,
    *,
    elapsed: float = 0.0,
    connect_timeouts: Tuple[Type[BaseException], ...] = (),
    secrets: Tuple[Optional[str], ...] = (),
    named: "Tuple[Tuple[Type[BaseException], str], ...]" = (),
) -> CosTransportError:
    """The :class:`CosTransportError` (a :class:`CosTLSError` for TLS) for ``error`` of the HTTP library,
    kept as its ``__cause__`` unless its text quotes a secret."""
    failure: CosTransportError
    if kind is FailureKind.TLS:
        host, reason, certificate = tls_failure(error, url)
        failure = CosTLSError(host, reason, certificate=certificate, method=method, url=url, attempts=attempts)
    else:
        message = plain_failure(error, kind, url, connect_timeouts, secrets, named)
        failure = CosTransportError(message, method=method, url=url, attempts=attempts, kind=kind, elapsed=elapsed)
    if not quotes_secret(str(error), secrets):
        failure.__cause__ = error
    else:
        # The library's own exception quotes something secret: a traceback must not print it as the cause.
        failure.__suppress_context__ = True
    return failure


def corrected_offset(date: Optional[str], local_now: float) -> Optional[float]:
    """The clock offset a server's ``Date`` shows (logged), or ``None`` when it cannot be read."""
    offset = clock_offset(date, local_now)
    if offset is not None:
        logger.debug("server clock differs by %.0f s; correcting the signing window", offset)
    return offset


def kind_in(table: Sequence[Tuple[Type[BaseException], FailureKind]], error: BaseException) -> FailureKind:
    """The kind of the first ``(exception class, kind)`` of a transport's table that ``error`` is; else OTHER."""
    return next((kind for cls, kind in table if isinstance(error, cls)), FailureKind.OTHER)


def with_attempts(result: T, attempts: int) -> T:
    """``result`` with ``response.attempts`` set when it took more than one attempt (results are frozen)."""
    if attempts <= 1:
        return result
    value: Any = result
    if isinstance(value, _Head):  # a streamed body: its parsed head says how many attempts it took
        value._result = with_attempts(value.result, attempts)  # noqa: SLF001 - made by this package's transports
        return result
    if isinstance(value, ResponseInfo):
        return cast(T, dataclasses.replace(value, attempts=attempts))
    info = getattr(value, "response", None)
    if isinstance(info, ResponseInfo) and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return cast(T, dataclasses.replace(value, response=dataclasses.replace(info, attempts=attempts)))
    return result
