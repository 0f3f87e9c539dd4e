"""Hostile answers over real sockets: throttling, trickles, endless pages, huge bodies (issue 9)."""

from __future__ import annotations

import email.utils
import socket
import time
import pytest
from hostile import HostileServer, Request, reply

from cos_multipart import CosServiceError, RetryPolicy

pytestmark = pytest.mark.integration

HEAD_OK = {"ETag": '"d41d8cd98f00b204e9800998ecf8427e"', "x-cos-hash-crc64ecma": "0"}


# --- 429 Too Many Requests -------------------------------------------------------------------------------


def throttled_once(retry_after: str, with_date: bool = False) -> HostileServer:
    def answer(request: Request, sock: socket.socket) -> bool:
        if len(server.requests) == 1:
            headers = {"Retry-After": retry_after}
            if with_date:
                headers["Date"] = email.utils.formatdate(usegmt=True)
            reply(sock, "429 Too Many Requests", b"", headers)
        else:
            reply(sock, "200 OK", b"", HEAD_OK)
        return True

    server = HostileServer(answer)
    return server


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_is_retried_after_the_wait_retry_after_asks_for(form: str) -> None:
    if form == "seconds":
        server = throttled_once("1")
    else:
        server = throttled_once(email.utils.formatdate(time.time() + 2, usegmt=True), with_date=True)
    with server, server.client(RetryPolicy(backoff_base=0.001, backoff_cap=5.0)) as client:
        started = time.monotonic()
        result = client.head_object("k")
        waited = time.monotonic() - started
    assert result.etag == HEAD_OK["ETag"] and len(server.requests) == 2
    assert waited >= 0.9  # the server's wait, not the 1 ms jitter


def test_429_without_retry_after_is_retried_like_503() -> None:
    with throttled_once("") as server, server.client(RetryPolicy(backoff_base=0.01)) as client:
        assert client.head_object("k").etag == HEAD_OK["ETag"]
    assert len(server.requests) == 2


def test_retry_after_is_capped_by_backoff_cap_and_max_elapsed() -> None:
    import random

    error = CosServiceError(429, "TooManyRequests", retry_after=3600.0)
    capped = RetryPolicy(backoff_base=0.001, backoff_cap=2.0).next(error, elapsed=0.0, rng=random.Random(1))
    assert capped is not None and capped.delay == 2.0
    assert RetryPolicy(backoff_cap=8.0, max_elapsed=5.0).next(error, elapsed=0.0, rng=random.Random(1)) is None


def test_retry_after_forms() -> None:
    from cos_multipart.retry import retry_after_seconds

    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", date) == 30.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:27:00 GMT", date) == 0.0  # in the past: no wait
    assert retry_after_seconds(date) is None  # a date needs the answer's Date to be measured against
    for junk in (None, "", "-1", "1.5", "soon", "9" * 400):
        value = retry_after_seconds(junk, date)
        assert value is None or 0 <= value <= 10**9


def test_the_retry_after_of_an_answer_reaches_the_error() -> None:
    with throttled_once("7") as server, server.client() as client:
        with pytest.raises(CosServiceError) as caught:
            client.head_object("k")
    assert caught.value.status == 429 and caught.value.retry_after == 7.0

