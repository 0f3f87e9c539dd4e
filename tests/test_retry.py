"""The retry policy as a value: what is retried, how long it waits, when it stops."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import random

import pytest

from cos_multipart._protocol.errors import CosResponseError, CosServiceError, CosTransportError, CosValidationError, FailureKind
from cos_multipart._protocol.retry import REASON_CLOCK, RetryPolicy, clock_offset

#: The default retry_time (cos_multipart._protocol.retry.DEFAULT_RETRY_TIME), spelled out: the issue asks for >= 30 s.
DEFAULT_RETRY_TIME = 60.0


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


@pytest.mark.parametrize("jitter, low", [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)])
def test_exponential_backoff_with_jitter_from_seeded_random(jitter: float, low: float) -> None:
    policy = RetryPolicy(max_attempts=6, backoff_base=0.5, backoff_cap=3.0, jitter=jitter)
    expected_rng = random.Random(7)
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]
    expected = [ceiling - expected_rng.uniform(0, ceiling * jitter) for ceiling in ceilings]
    rng = random.Random(7)
    delays = []
    current = policy
    for _ in ceilings:
        following = current.next(service(500, "InternalError"), elapsed=0, rng=rng)
        assert following is not None
        delays.append(following.delay)
        current = following
    assert delays == expected
    assert all(ceiling * low <= delay <= ceiling for delay, ceiling in zip(delays, ceilings))


def waited_out(policy: RetryPolicy, error: BaseException, seed: int) -> Tuple[float, int]:
    """Seconds of failures (instant ones) the policy keeps retrying through, and the attempts made."""
    rng = random.Random(seed)
    elapsed, current = 0.0, policy
    while True:
        following = current.next(error, elapsed=elapsed, rng=rng)
        if following is None:
            return elapsed, current.attempt
        elapsed += following.delay
        current = following


@pytest.mark.parametrize("error", [service(503, "SlowDown"), transport(FailureKind.CONNECTION), service(429)])
@pytest.mark.parametrize("seed", range(20))
def test_defaults_wait_out_a_minute_of_refusals_or_slowdown(error: BaseException, seed: int) -> None:
    # Issue 19 item 7: the old defaults (4 attempts, 0.25 s base) gave up after about a second.
    elapsed, attempts = waited_out(RetryPolicy(), error, seed)
    assert elapsed == pytest.approx(DEFAULT_RETRY_TIME)  # the last wait ends with the budget: >= 30 s survived
    assert 8 <= attempts <= 20  # spread out: about one try per 5-10 s once the waits have grown


def test_retry_time_is_the_budget_and_the_last_wait_ends_with_it() -> None:
    policy = RetryPolicy(backoff_base=1, backoff_cap=1, jitter=0, retry_time=5)
    following = policy.next(service(503), elapsed=3.0, rng=random.Random(0))
    assert following is not None and following.delay == 1.0
    last = policy.next(service(503), elapsed=4.5, rng=random.Random(0))
    assert last is not None and last.delay == pytest.approx(0.5)  # shortened to end with the budget
    assert policy.next(service(503), elapsed=5.0, rng=random.Random(0)) is None
    assert RetryPolicy(retry_time=0).next(service(503), elapsed=0.0, rng=random.Random(0)) is None
    assert waited_out(RetryPolicy(retry_time=300, max_attempts=3), service(503), 1)[1] == 3  # whichever first


def test_retry_after_is_honoured_up_to_the_budget() -> None:
    policy = RetryPolicy(backoff_cap=10, retry_time=60)
    asked = CosServiceError(503, "SlowDown", retry_after=25.0)
    following = policy.next(asked, elapsed=0.0, rng=random.Random(0))
    assert following is not None and following.delay == 25.0  # longer than the cap: the server's word wins
    assert policy.next(asked, elapsed=40.0, rng=random.Random(0)) is None  # 25 s more would pass the budget
    short = CosServiceError(503, "SlowDown", retry_after=0.0)
    following = RetryPolicy(backoff_base=2, jitter=0).next(short, elapsed=0.0, rng=random.Random(0))
    assert following is not None and following.delay == 2.0  # never shorter than the backoff


def test_client_options_apply_to_the_policy() -> None:
    from cos_multipart._protocol.retry import policy_with

    assert policy_with(None) is None
    base = RetryPolicy(backoff_base=0.01)
    assert policy_with(base) is base
    made = policy_with(base, retry_time=120, max_attempts=7)
    assert made is not None and (made.retry_time, made.max_attempts, made.backoff_base) == (120, 7, 0.01)
    default = policy_with(None, retry_time=5)
    assert default == RetryPolicy(retry_time=5)
    with pytest.raises(CosValidationError) as caught:
        policy_with(None, max_attempts=0)
    assert caught.value.field == "max_attempts"
    with pytest.raises(CosValidationError) as caught:
        policy_with(None, retry_time=-1)
    assert caught.value.field == "retry_time"
    with pytest.raises(CosValidationError):
        policy_with("3 tries")  # type: ignore[arg-type]


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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"backoff_base": -1},
        {"retry_time": "1"},
        {"retry_time": float("inf")},
        {"retry_time": float("nan")},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_bad_settings(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(CosValidationError):
        RetryPolicy(**kwargs)


def test_clock_offset() -> None:
    assert clock_offset("Thu, 16 May 2019 06:45:51 GMT", 1557989151.0 - 3600) == pytest.approx(3600)
    assert clock_offset("Thu, 16 May 2019 06:45:51 GMT", 1557989151.0 + 1200) == pytest.approx(-1200)
    assert clock_offset(None, 0) is None
    assert clock_offset("not a date", 0) is None


def test_what_a_retry_line_calls_a_request() -> None:
    from cos_multipart._io._attempts import _seconds, call_label, host_port

    assert [_seconds(d) for d in (4.0, 2.44, 12.3, 9.96, 0.02)] == ["4 s", "2.4 s", "12 s", "10 s", "20 ms"]
    from cos_multipart._protocol.models import HttpCall

    assert call_label(HttpCall("PUT", "big.bin", (("partNumber", "7"), ("uploadId", "u")))) == "part 7"
    assert call_label(HttpCall("POST", "big.bin", (("uploads", None),))) == "starting the upload of big.bin"
    assert call_label(HttpCall("POST", "big.bin", (("uploadId", "u"),))) == "completing the upload of big.bin"
    assert call_label(HttpCall("DELETE", "big.bin", (("uploadId", "u"),))) == "aborting the upload of big.bin"
    assert call_label(HttpCall("HEAD", "k")) == "HEAD k" and call_label(HttpCall("GET", "")) == "GET /"
    assert host_port("https://b.cos.ap-guangzhou.myqcloud.com/k") == "b.cos.ap-guangzhou.myqcloud.com:443"
    assert host_port("http://127.0.0.1/k") == "127.0.0.1:80" and host_port("http://[::1]:9000/") == "[::1]:9000"


def test_the_cluster_client_config_carries_the_retry_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    from cos_multipart.remote import ClientConfig

    monkeypatch.setenv("COS_SECRET_ID", "AKIDexample")
    monkeypatch.setenv("COS_SECRET_KEY", "example-secret")
    config = ClientConfig(
        "examplebucket-1250000000", "ap-guangzhou", endpoint="http://127.0.0.1:9",
        retry=RetryPolicy(backoff_base=0.1), retry_time=120.0, max_attempts=5,
    )  # fmt: skip
    travelled = pickle.loads(pickle.dumps(config))  # what a worker gets
    with travelled.client() as client:
        policy = client.transport.retry
    assert (policy.retry_time, policy.max_attempts, policy.backoff_base) == (120.0, 5, 0.1)
    with pytest.raises(CosValidationError) as caught:
        ClientConfig("examplebucket-1250000000", "ap-guangzhou", max_attempts=0)
    assert caught.value.field == "max_attempts"
