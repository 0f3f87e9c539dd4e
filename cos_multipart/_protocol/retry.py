"""When to try a request again, and how long to wait: an immutable :class:`RetryPolicy`.

A policy is a value. :meth:`RetryPolicy.next` returns the policy for the next attempt (with the delay and
the reason appended to its history) or ``None`` when the failure must be raised; the random source is an
argument, so backoff is testable. The policy knows no HTTP library: a transport hands it
:class:`~cos_multipart._protocol.errors.CosServiceError` answers and
:class:`~cos_multipart._protocol.errors.CosTransportError` failures whose :class:`~cos_multipart._protocol.errors.FailureKind`
it has mapped from its own exceptions. What is retried follows the COS SDKs [ref 4.3]: connection failures,
timeouts, 500/502/503/504 (InternalError, SlowDown, ServiceUnavailable), 429 Too Many Requests, 400
RequestTimeout. Other 4xx never are.

How long: a *time budget* (``retry_time``, 60 s by default) counted from a request's first failure, so a
server restarting (connection refused) or shedding load (503 SlowDown) for tens of seconds is waited out,
while a request that keeps failing still ends: no retry starts once the budget is spent, and the last wait
is shortened to end with it. The waits grow exponentially with jitter; a ``Retry-After`` on the answer
(seconds or an HTTP-date) is honoured when it fits in what is left of the budget (a server asking for more
than that gets the failure at once rather than a retry it said would fail). ``max_attempts`` may also
bound the number of tries. Clock errors (``RequestTimeTooSkewed``, ``AccessDenied`` "Request has expired"
[ref 1.9]) are retried once, immediately, after the transport has corrected its clock offset from the
``Date`` header.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Dict, FrozenSet, Optional, Tuple

from .errors import CosServiceError, CosTransportError, CosValidationError, FailureKind

if TYPE_CHECKING:  # the caller brings the random source; the command line's help reads DEFAULT_RETRY_TIME only
    import random

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


#: Seconds a request may go on retrying after its first failure (``RetryPolicy.retry_time``): longer than a
#: server restart or a load balancer's failover (tens of seconds), short enough that a dead endpoint is
#: reported within a minute.
DEFAULT_RETRY_TIME = 60.0
#: The first wait's ceiling and the largest wait, seconds (``RetryPolicy.backoff_base``/``backoff_cap``).
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 10.0
#: The random share of each wait (``RetryPolicy.jitter``): 0.5 waits between half and all of the ceiling, so
#: clients retrying together spread out, and the waits still add up (the budget, not the count, ends them).
DEFAULT_JITTER = 0.5


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings plus the state of one request's retries (like urllib3's ``Retry``).

    Args:
        max_attempts: Tries in all, the first included (1 disables retries); ``None``: as many as
            ``retry_time`` allows.
        retry_time: The time budget, seconds counted from the request's first failure: no retry starts
            later, and the last wait is shortened to end with it (0 disables retries).
        backoff_base: Seconds; the ceiling of the wait before retry ``n`` is
            ``min(backoff_cap, backoff_base * 2 ** (n - 1))``.
        backoff_cap: Largest ceiling, seconds (a ``Retry-After`` may ask for longer, within ``retry_time``).
        jitter: The random share of each wait, 0..1: the wait is uniform in
            ``[ceiling * (1 - jitter), ceiling]`` (0: no randomness; 1: "full jitter").
        statuses: HTTP statuses retried.
        codes: COS error codes retried.
        retry_connection_errors: Retry when the connection failed or broke.
        retry_timeouts: Retry after a connect or read timeout.
        fix_clock: Retry clock errors once with a corrected clock.
        attempt: The attempt about to be made (state; starts at 1).
        history: Retries scheduled so far (state).
    """

    max_attempts: Optional[int] = None
    retry_time: float = DEFAULT_RETRY_TIME
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    jitter: float = DEFAULT_JITTER
    statuses: FrozenSet[int] = RETRY_STATUSES
    codes: FrozenSet[str] = RETRY_CODES
    retry_connection_errors: bool = True
    retry_timeouts: bool = True
    fix_clock: bool = True
    attempt: int = 1
    history: Tuple[RetryEvent, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1):
            raise CosValidationError("max_attempts", attempts, "an integer >= 1 (tries in all, the first included)")
        for name in ("retry_time", "backoff_base", "backoff_cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise CosValidationError(name, value, "a number of seconds >= 0")
        jitter = self.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise CosValidationError("jitter", jitter, "a fraction from 0 (no randomness) to 1 (full jitter)")

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
        """The jittered wait before retry number ``attempt`` (1 for the first retry), before the budget."""
        ceiling = float(min(self.backoff_cap, self.backoff_base * (2 ** min(attempt - 1, 62))))
        return ceiling - rng.uniform(0.0, ceiling * self.jitter)

    def next(self, error: BaseException, *, elapsed: float, rng: random.Random) -> Optional["RetryPolicy"]:
        """The policy for the next attempt after ``error``, or ``None`` to give up.

        Args:
            error: What the last attempt raised.
            elapsed: Seconds since the request's first failure (what ``retry_time`` is counted against;
                0 at the first failure).
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
            if self.max_attempts is not None and retries + 1 >= self.max_attempts:
                return None
            left = self.retry_time - max(0.0, elapsed)
            if left <= 0:
                return None
            delay = min(self.backoff(retries + 1, rng), left)  # the last wait ends with the budget
            asked = error.retry_after if isinstance(error, CosServiceError) else None
            if asked is not None:
                if asked > left:
                    # The server says a retry before then fails too, and the budget ends first: fail now
                    # rather than wait for nothing (a Retry-After of an hour must not park a part for an hour).
                    return None
                delay = max(delay, asked)
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
    import email.utils  # only for a Retry-After date (rare): not loaded for every start-up

    if not text:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.timestamp()


def policy_with(
    retry: Optional[RetryPolicy], *, retry_time: Optional[float] = None, max_attempts: Optional[int] = None
) -> Optional[RetryPolicy]:
    """A client's ``retry`` policy (the default when ``None``) with its ``retry_time`` and ``max_attempts``
    options applied; ``None`` when there is nothing to apply.

    Raises:
        CosValidationError: ``retry`` is not a policy, or an option is out of range (named by the option).
    """
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise CosValidationError("retry", retry, "a RetryPolicy or None")
    changes: Dict[str, object] = {}
    if retry_time is not None:
        changes["retry_time"] = retry_time
    if max_attempts is not None:
        changes["max_attempts"] = max_attempts
    if not changes:
        return retry
    return replace(retry if retry is not None else RetryPolicy(), **changes)  # type: ignore[arg-type]
