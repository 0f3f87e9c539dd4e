"""What every transport does around one attempt, whatever its HTTP library: sign it, judge its failure.

The requests transport (:mod:`cos_multipart.transport`) and the aiohttp transport
(:mod:`cos_multipart.aio._transport`) differ only in how bytes reach the socket and how they wait; the
signing window, the retry decision (:meth:`~cos_multipart.retry.RetryPolicy.next`), the clock-skew
correction and what is logged are here, once. Pure: no HTTP library, no sleeping.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from dataclasses import replace
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type, TypeVar, cast

from .credentials import Credentials
from .endpoint import Endpoint
from .errors import FailureKind
from .models import HttpCall, ResponseInfo
from .retry import REASON_CLOCK, RetryPolicy, clock_offset

T = TypeVar("T")

logger = logging.getLogger("cos_multipart.transport")


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
    wire = replace(call, headers=tuple(dialect.to_wire(dict(call.headers)).items()))
    return dialect.signer(wire, credentials, endpoint, now, sign_expires)


class Retries:
    """The retry state of one request: each failure either gets a delay to wait or is raised.

    Args:
        policy: The transport's policy (each request starts from it).
        method: For the log line.
        url: For the log line, without its query string.
        rng: The backoff jitter's random source (shared by a transport's requests).
        rng_lock: Guards ``rng`` when threads share it.
        fix_clock: Learns the clock offset from a ``Date`` header; ``False`` when it cannot.
        describe: One line about a failure, without secrets.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        method: str,
        url: str,
        rng: random.Random,
        rng_lock: threading.Lock,
        fix_clock: Callable[[Optional[str]], bool],
        describe: Callable[[BaseException], str],
    ) -> None:
        self.policy = policy
        self._method = method
        self._url = url
        self._rng = rng
        self._rng_lock = rng_lock
        self._fix_clock = fix_clock
        self._describe = describe

    def delay_after(self, failure: BaseException, date: Optional[str], elapsed: float) -> Optional[float]:
        """Seconds to wait before the next attempt after ``failure``, or ``None`` to raise it.

        ``date`` is the answer's ``Date`` header (clock errors are retried once it corrects the clock).
        """
        with self._rng_lock:
            following = self.policy.next(failure, elapsed=elapsed, rng=self._rng)
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
        self.policy = following
        return event.delay


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
    if isinstance(value, ResponseInfo):
        return cast(T, dataclasses.replace(value, attempts=attempts))
    info = getattr(value, "response", None)
    if isinstance(info, ResponseInfo) and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return cast(T, dataclasses.replace(value, response=dataclasses.replace(info, attempts=attempts)))
    return result
