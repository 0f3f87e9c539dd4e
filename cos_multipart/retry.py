"""When to try a request again, and how long to wait: an immutable :class:`RetryPolicy`.

A policy is a value. :meth:`RetryPolicy.next` returns the policy for the next attempt (with the delay and
the reason appended to its history) or ``None`` when the failure must be raised; the random source is an
argument, so backoff is testable. The policy knows no HTTP library: a transport hands it
:class:`~cos_multipart.errors.CosServiceError` answers and
:class:`~cos_multipart.errors.CosTransportError` failures whose :class:`~cos_multipart.errors.FailureKind`
it has mapped from its own exceptions. What is retried follows the COS SDKs [ref 4.3]: connection failures,
timeouts, 500/502/503/504 (InternalError, SlowDown, ServiceUnavailable), 429 Too Many Requests, 400
RequestTimeout. Other 4xx never are. A ``Retry-After`` on the answer (seconds or an HTTP-date) sets the wait
when it is longer than the jitter, capped at ``backoff_cap``. Clock errors (``RequestTimeTooSkewed``, ``AccessDenied`` "Request has expired" [ref 1.9]) are
retried once, immediately, after the transport has corrected its clock offset from the ``Date`` header.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass, field, replace
from typing import FrozenSet, Optional, Tuple

from .errors import CosServiceError, CosTransportError, CosValidationError, FailureKind

#: "500 InternalError, 503 SlowDown/ServiceUnavailable, 502/504 ... retryable" [ref 4.3], and 429 Too Many
#: Requests (RFC 6585: "the user has sent too many requests in a given amount of time"), which asks for the
#: same thing as 503 SlowDown: wait and try again.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Codes retried whatever the status: the 5xx codes (also when COS returns them in a 200 Complete body)
#: and "RequestTimeout (400): reading the body timed out" (436/7730; older docs spell it RequestTimeOut).
RETRY_CODES = frozenset({"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "RequestTimeOut"})

REASON_CONNECTION = FailureKind.CONNECTION.value
REASON_TIMEOUT = FailureKind.TIMEOUT.value
REASON_CLOCK = "clock skew"


@dataclass(frozen=True)
class RetryEvent:
    """One scheduled retry: after which attempt, why, and how long to wait."""

    attempt: int
    reason: str
    delay: float


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings plus the state of one request's retries (like urllib3's ``Retry``).

    Args:
        max_attempts: Tries in all, the first included (1 disables retries).
        backoff_base: Seconds; the wait before retry ``n`` is uniform in
            ``[0, min(backoff_cap, backoff_base * 2 ** (n - 1))]`` ("full jitter").
        backoff_cap: Largest wait, seconds.
        max_elapsed: No retry is scheduled that would start later than this many seconds after the first try.
        statuses: HTTP statuses retried.
        codes: COS error codes retried.
        retry_connection_errors: Retry when the connection failed or broke.
        retry_timeouts: Retry after a connect or read timeout.
        fix_clock: Retry clock errors once with a corrected clock.
        attempt: The attempt about to be made (state; starts at 1).
        history: Retries scheduled so far (state).
    """

    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_cap: float = 8.0
    max_elapsed: float = 300.0
    statuses: FrozenSet[int] = RETRY_STATUSES
    codes: FrozenSet[str] = RETRY_CODES
    retry_connection_errors: bool = True
    retry_timeouts: bool = True
    fix_clock: bool = True
    attempt: int = 1
    history: Tuple[RetryEvent, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise CosValidationError("max_attempts", self.max_attempts, "an integer >= 1")
        for name in ("backoff_base", "backoff_cap", "max_elapsed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise CosValidationError(name, value, "a number of seconds >= 0")

    @classmethod
    def never(cls) -> "RetryPolicy":
        """A policy that tries once (clock errors excepted: they are fixed and retried once)."""
        return cls(max_attempts=1)

    def classify(self, error: BaseException) -> Optional[str]:
        """Why ``error`` may be retried under this policy's settings, or ``None`` if it may not."""
        if isinstance(error, CosServiceError):
            if error.is_clock_error:
                return REASON_CLOCK if self.fix_clock else None
            if error.code in self.codes:
                return error.code
            # A 200 Complete with an <Error> body is judged by its code alone.
            if error.status in self.statuses:
                return f"HTTP {error.status}"
            return None
        if isinstance(error, CosTransportError):
            # The transport has mapped its HTTP library's exception to a kind; TLS, BODY and OTHER never retry.
            if error.kind is FailureKind.TIMEOUT:
                return REASON_TIMEOUT if self.retry_timeouts else None
            if error.kind is FailureKind.CONNECTION:
                return REASON_CONNECTION if self.retry_connection_errors else None
        return None

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The full-jitter wait before retry number ``attempt`` (1 for the first retry)."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** min(attempt - 1, 62)))
        return rng.uniform(0.0, ceiling)

    def next(self, error: BaseException, *, elapsed: float, rng: random.Random) -> Optional["RetryPolicy"]:
        """The policy for the next attempt after ``error``, or ``None`` to give up.

        Args:
            error: What the last attempt raised.
            elapsed: Seconds since the first attempt started.
            rng: Random source for the jitter.

        Returns:
            A new policy whose ``history[-1]`` holds the reason and the delay to sleep before retrying.
        """
        reason = self.classify(error)
        if reason is None:
            return None
        if reason == REASON_CLOCK:
            # One corrected retry, even under a no-retry policy: a second clock error is real.
            if any(event.reason == REASON_CLOCK for event in self.history):
                return None
            delay = 0.0
        else:
            retries = sum(1 for event in self.history if event.reason != REASON_CLOCK)
            if retries + 1 >= self.max_attempts:
                return None
            delay = self.backoff(retries + 1, rng)
            asked = error.retry_after if isinstance(error, CosServiceError) else None
            if asked is not None:
                # The server's wait wins over the jitter, within the cap: a Retry-After of an hour must not
                # park a part upload for an hour (max_elapsed then decides whether to try at all).
                delay = max(delay, min(asked, self.backoff_cap))
            if elapsed + delay > self.max_elapsed:
                return None
        event = RetryEvent(self.attempt, reason, delay)
        return replace(self, attempt=self.attempt + 1, history=self.history + (event,))

    @property
    def delay(self) -> float:
        """The wait scheduled by the last :meth:`next` (0 before any retry)."""
        return self.history[-1].delay if self.history else 0.0


def clock_offset(date_header: Optional[str], local_now: float) -> Optional[float]:
    """Seconds to add to the local clock so it matches the server's ``Date`` header; ``None`` if unreadable."""
    server = _http_date(date_header or "")
    return None if server is None else server - local_now


def retry_after_seconds(value: Optional[str], date_header: Optional[str] = None) -> Optional[float]:
    """The wait a ``Retry-After`` header asks for, in seconds (>= 0), or ``None`` if absent or unreadable.

    ``Retry-After`` is "a non-negative decimal integer of seconds" or an HTTP-date (RFC 9110 10.2.3). A date
    is measured from the answer's own ``Date`` header, so a local clock that is off does not change the
    wait; without a ``Date`` the date form is ignored. Pure: the caller caps the result.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(min(int(text), 10**9))  # a 100-digit value must not overflow a float conversion later
    until = _http_date(text)
    now = _http_date(date_header or "")
    if until is None or now is None:
        return None
    return max(0.0, until - now)


def _http_date(text: str) -> Optional[float]:
    if not text:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.timestamp()
