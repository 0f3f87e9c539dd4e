"""Token bucket: long-run rate, burst, sharing between threads, cancellation."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._io.ratelimit import RateLimitCancelled, TokenBucket


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_burst_is_free_then_the_rate_holds() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=500, clock=clock, sleep=clock.sleep)
    bucket.acquire(500)
    assert clock.now == 0
    for _ in range(10):
        bucket.acquire(100)
    assert clock.now == pytest.approx(1.0)  # 1000 bytes past the burst at 1000 B/s


def test_request_larger_than_burst_goes_into_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=100, clock=clock, sleep=clock.sleep)
    bucket.acquire(2100)
    assert clock.now == pytest.approx(2.0)
    bucket.acquire(1)  # debt was paid by the sleep; the bucket is empty, so one byte waits 1 ms
    assert clock.now == pytest.approx(2.001)


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=100, clock=clock, sleep=clock.sleep)
    clock.now = 100.0
    assert bucket.reserve(100) == 0
    assert bucket.reserve(100) == pytest.approx(0.1)


def test_zero_bytes_never_wait() -> None:
    bucket = TokenBucket(1, burst=1)
    assert bucket.reserve(0) == 0


@pytest.mark.parametrize("rate", [0, -5, True, "fast"])
def test_bad_rate(rate: object) -> None:
    with pytest.raises(CosValidationError) as info:
        TokenBucket(rate)  # type: ignore[arg-type]
    assert info.value.field == "bandwidth_limit"


def test_default_burst_has_a_floor() -> None:
    assert TokenBucket(10).burst == 64 * 1024
    assert TokenBucket(4_000_000).burst == 1_000_000


def test_threads_share_one_budget() -> None:
    rate = 2_000_000
    bucket = TokenBucket(rate, burst=50_000)
    sent = [0]
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(20):
            bucket.acquire(10_000)
            with lock:
                sent[0] += 10_000

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    # 800 kB at 2 MB/s minus the 50 kB burst: at least 0.375 s, whatever the number of threads.
    assert sent[0] == 800_000
    assert elapsed >= (800_000 - 50_000) / rate * 0.95


def test_cancel_cuts_the_wait_short() -> None:
    bucket = TokenBucket(1, burst=1)
    cancel = threading.Event()
    outcome: List[BaseException] = []

    def wait() -> None:
        try:
            bucket.acquire(10_000, cancel)  # would wait 10,000 s
        except BaseException as error:  # noqa: BLE001 - the outcome is what the test checks
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    threading.Timer(0.05, cancel.set).start()  # mostly mid-wait; set earlier, the outcome must be the same
    waiter.join(60)  # ends a broken run only: an uncut wait lasts 10,000 s, so no load brings them close
    assert not waiter.is_alive() and len(outcome) == 1 and isinstance(outcome[0], RateLimitCancelled)
