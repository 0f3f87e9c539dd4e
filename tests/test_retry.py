"""The retry policy as a value: what is retried, how long it waits, when it stops."""

from __future__ import annotations

from typing import Any, Dict

import random

import pytest

from cos_multipart.errors import CosResponseError, CosServiceError, CosTransportError, CosValidationError, FailureKind
from cos_multipart.retry import REASON_CLOCK, RetryPolicy, clock_offset


def service(status: int, code: str = "", message: str = "") -> CosServiceError:
    return CosServiceError(status, code, message)


def transport(kind: FailureKind) -> CosTransportError:
    return CosTransportError(f"failed: {kind.value}", kind=kind)


@pytest.mark.parametrize(
    "error, reason",
    [
        (service(500, "InternalError"), "InternalError"),
        (service(503, "SlowDown"), "SlowDown"),
        (service(503, "ServiceUnavailable"), "ServiceUnavailable"),
        (service(502), "HTTP 502"),
        (service(504), "HTTP 504"),
        (service(400, "RequestTimeout"), "RequestTimeout"),
        (service(200, "InternalError"), "InternalError"),  # a 200 Complete with an <Error> body
        (transport(FailureKind.CONNECTION), "connection error"),
        (transport(FailureKind.TIMEOUT), "timeout"),
        (service(403, "RequestTimeTooSkewed"), REASON_CLOCK),
        (service(403, "AccessDenied", "Request has expired"), REASON_CLOCK),
    ],
)
def test_retryable(error: BaseException, reason: str) -> None:
    assert RetryPolicy().classify(error) == reason


@pytest.mark.parametrize(
    "error",
    [
        service(404, "NoSuchUpload"),
        service(400, "InvalidPart"),
        service(400, "EntityTooSmall"),
        service(403, "SignatureDoesNotMatch"),
        service(403, "AccessDenied", "Access Denied."),
        service(409, "PathConflict"),
        service(501, "NotImplemented"),
        CosResponseError("bad xml"),
        ValueError("x"),
        ConnectionError("a bare OSError: only a transport knows what its exceptions mean"),
        transport(FailureKind.TLS),
        transport(FailureKind.BODY),
        transport(FailureKind.OTHER),
        CosTransportError("made without a kind"),
    ],
)
def test_not_retryable(error: BaseException) -> None:
    policy = RetryPolicy()
    assert policy.classify(error) is None
    assert policy.next(error, elapsed=0, rng=random.Random(1)) is None


def test_attempts_are_bounded_and_history_kept() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_base=1, backoff_cap=100)
    error = service(503, "SlowDown")
    rng = random.Random(42)
    second = policy.next(error, elapsed=0, rng=rng)
    assert second is not None and second.attempt == 2
    third = second.next(error, elapsed=0, rng=rng)
    assert third is not None and third.attempt == 3
    assert third.next(error, elapsed=0, rng=rng) is None
    assert [event.attempt for event in third.history] == [1, 2]
    assert policy.history == () and policy.attempt == 1  # the original is untouched


def test_full_jitter_backoff_from_seeded_random() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_base=0.5, backoff_cap=3.0)
    expected_rng = random.Random(7)
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]
    expected = [expected_rng.uniform(0, ceiling) for ceiling in ceilings]
    rng = random.Random(7)
    delays = []
    current = policy
    for _ in ceilings:
        following = current.next(service(500, "InternalError"), elapsed=0, rng=rng)
        assert following is not None
        delays.append(following.delay)
        current = following
    assert delays == expected
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings))


def test_max_elapsed_stops_retries() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base=1, backoff_cap=1, max_elapsed=5)
    assert policy.next(service(503), elapsed=3.0, rng=random.Random(0)) is not None
    assert policy.next(service(503), elapsed=4.9, rng=random.Random(0)) is None  # 4.9 + 0.84 > 5
    assert policy.next(service(503), elapsed=6.0, rng=random.Random(0)) is None


def test_clock_error_retried_once_immediately_even_without_retries() -> None:
    policy = RetryPolicy.never()
    skew = service(403, "RequestTimeTooSkewed")
    following = policy.next(skew, elapsed=0, rng=random.Random(0))
    assert following is not None and following.delay == 0 and following.history[-1].reason == REASON_CLOCK
    assert following.next(skew, elapsed=0, rng=random.Random(0)) is None
    assert following.next(service(503), elapsed=0, rng=random.Random(0)) is None  # never(): one try
    assert RetryPolicy(fix_clock=False).next(skew, elapsed=0, rng=random.Random(0)) is None


def test_switches() -> None:
    assert RetryPolicy(retry_timeouts=False).classify(transport(FailureKind.TIMEOUT)) is None
    assert RetryPolicy(retry_connection_errors=False).classify(transport(FailureKind.CONNECTION)) is None
    assert RetryPolicy(statuses=frozenset()).classify(service(502)) is None


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"max_attempts": True}, {"backoff_base": -1}, {"max_elapsed": "1"}])
def test_bad_settings(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(CosValidationError):
        RetryPolicy(**kwargs)


def test_clock_offset() -> None:
    assert clock_offset("Thu, 16 May 2019 06:45:51 GMT", 1557989151.0 - 3600) == pytest.approx(3600)
    assert clock_offset("Thu, 16 May 2019 06:45:51 GMT", 1557989151.0 + 1200) == pytest.approx(-1200)
    assert clock_offset(None, 0) is None
    assert clock_offset("not a date", 0) is None
