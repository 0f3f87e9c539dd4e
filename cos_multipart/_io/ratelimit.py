"""A client-side bandwidth cap shared by all upload workers: a thread-safe token bucket.

Each worker asks for the bytes it is about to send; the bucket hands out ``rate`` bytes per second with a
small burst. A request larger than the burst is granted by going into debt: later callers wait for the debt
to be paid back, so the long-run rate holds however the bytes are split between threads. Waiting happens
outside the lock and can be cut short by a cancellation event, so a cancelled upload does not sit in a sleep.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from .._protocol.errors import CosValidationError

#: Smallest burst, so that tiny rates still move data in reasonably sized socket writes.
MIN_BURST = 64 * 1024


class RateLimitCancelled(Exception):
    """Raised by :meth:`TokenBucket.acquire` when its cancellation event is set while waiting."""


class TokenBucket:
    """Hands out at most ``rate`` bytes per second (plus ``burst``) across all threads.

    Args:
        rate: Bytes per second, more than 0.
        burst: Bytes that may go out at once after an idle period (default: a quarter second of ``rate``,
            at least 64 KiB).
        clock: Monotonic clock (injectable for tests).
        sleep: Sleep function (injectable for tests); used when no cancellation event is given.
    """

    def __init__(
        self,
        rate: float,
        burst: Optional[int] = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
            raise CosValidationError("bandwidth_limit", rate, "a number of bytes per second greater than 0")
        if burst is None:
            burst = max(MIN_BURST, int(rate / 4))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst <= 0:
            raise CosValidationError("burst", burst, "a number of bytes greater than 0")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = clock()

    def reserve(self, amount: int) -> float:
        """Take ``amount`` bytes now and return how many seconds the caller must wait before sending them."""
        if amount <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self, amount: int, cancel: Optional[threading.Event] = None) -> None:
        """Block until ``amount`` bytes may be sent.

        Args:
            amount: Bytes about to be sent.
            cancel: When set while waiting, stop waiting and raise :class:`RateLimitCancelled`.
        """
        delay = self.reserve(amount)
        if delay <= 0:
            return
        if cancel is None:
            self._sleep(delay)
        elif cancel.wait(delay):
            raise RateLimitCancelled("upload cancelled while waiting for the bandwidth limit")
