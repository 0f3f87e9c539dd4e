"""Hostile answers over real sockets: throttling, trickles, endless pages, huge bodies (issue 9)."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import socket
import subprocess
import sys
import time
from typing import Dict

from cos_multipart.testing import LocalCOS
from urllib.parse import parse_qs, urlsplit

import pytest
from hostile import Answer, HostileServer, Request, reply

from cos_multipart import CosServiceError, CosTransportError, FailureKind, RetryPolicy
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.errors import CosResponseError

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


def test_retry_after_is_honoured_within_retry_time() -> None:
    import random

    error = CosServiceError(429, "TooManyRequests", retry_after=30.0)
    honoured = RetryPolicy(backoff_base=0.001, backoff_cap=2.0).next(error, elapsed=0.0, rng=random.Random(1))
    assert honoured is not None and honoured.delay == 30.0  # beyond backoff_cap, within retry_time (60 s)
    assert RetryPolicy(retry_time=20.0).next(error, elapsed=0.0, rng=random.Random(1)) is None  # beyond it: fail now
    hour = CosServiceError(429, "TooManyRequests", retry_after=3600.0)
    assert RetryPolicy().next(hour, elapsed=0.0, rng=random.Random(1)) is None


def test_retry_after_forms() -> None:
    from cos_multipart._protocol.retry import retry_after_seconds

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



# --- pagination that never ends --------------------------------------------------------------------------


def query_of(request: Request) -> Dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(request.target).query, keep_blank_values=True).items()}


def endless_parts(step: int, per_page: int, stop_after: int) -> HostileServer:
    """List Parts that stays truncated with advancing markers (until ``stop_after`` pages, so that a client
    without a bound ends too, listing every bogus part)."""

    def answer(request: Request, sock: socket.socket) -> bool:
        marker = int(query_of(request).get("part-number-marker", "0"))
        parts = "".join(
            f"<Part><PartNumber>{marker + i + 1}</PartNumber><ETag>\"e\"</ETag><Size>1</Size></Part>" for i in range(per_page)
        )
        truncated = "true" if len(server.requests) < stop_after else "false"
        body = (f"<ListPartsResult><IsTruncated>{truncated}</IsTruncated>"
                f"<NextPartNumberMarker>{marker + step}</NextPartNumberMarker>{parts}</ListPartsResult>")  # fmt: skip
        reply(sock, "200 OK", body.encode())
        return True

    server = HostileServer(answer)
    return server


@pytest.mark.parametrize("step, per_page", [(1, 1), (1000, 1000)])
def test_list_parts_stops_at_what_the_limits_allow(step: int, per_page: int) -> None:
    with endless_parts(step, per_page, stop_after=100) as server, server.client() as client:
        with pytest.raises(CosResponseError, match="still truncated after 10 pages"):
            for _ in client.list_parts("k", "upload-1"):
                pass
    assert len(server.requests) == 10  # 10,000 parts in pages of 1,000


def test_list_parts_of_a_real_10000_part_upload_is_read_whole() -> None:
    def answer(request: Request, sock: socket.socket) -> bool:
        marker = int(query_of(request).get("part-number-marker", "0"))
        parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>\"e\"</ETag><Size>1</Size></Part>" for n in range(marker + 1, marker + 1001))
        truncated = "true" if marker + 1000 < 10000 else "false"
        body = f"<ListPartsResult><IsTruncated>{truncated}</IsTruncated><NextPartNumberMarker>{marker + 1000}</NextPartNumberMarker>{parts}</ListPartsResult>"
        reply(sock, "200 OK", body.encode())
        return True

    with HostileServer(answer) as server, server.client() as client:
        assert [p.part_number for p in client.list_parts("k", "upload-1")] == list(range(1, 10001))


def endless_uploads(backwards: bool = False, stop_after: int = 1100) -> HostileServer:
    def answer(request: Request, sock: socket.socket) -> bool:
        count = len(server.requests)
        key = f"k{(10**6 - count) if backwards else count:07d}"
        truncated = "true" if count < stop_after else "false"
        body = (f"<ListMultipartUploadsResult><IsTruncated>{truncated}</IsTruncated><NextKeyMarker>{key}</NextKeyMarker>"
                f"<NextUploadIdMarker>u{count}</NextUploadIdMarker><Upload><Key>{key}</Key><UploadId>u{count}</UploadId>"
                f"</Upload></ListMultipartUploadsResult>")  # fmt: skip
        reply(sock, "200 OK", body.encode())
        return True

    server = HostileServer(answer)
    return server


def test_list_multipart_uploads_stops_at_its_page_cap() -> None:
    with endless_uploads() as server, server.client() as client:
        with pytest.raises(CosResponseError, match="still truncated after 1000 pages"):
            for _ in client.list_multipart_uploads():
                pass
    assert len(server.requests) == 1000


def test_list_multipart_uploads_refuses_a_key_marker_going_backwards() -> None:
    with endless_uploads(backwards=True) as server, server.client() as client:
        with pytest.raises(CosResponseError, match="do not advance"):
            for _ in client.list_multipart_uploads():
                pass
    assert len(server.requests) == 2


# --- answers that trickle, request bodies nobody reads ----------------------------------------------------


def trickling(length: int, byte: bytes) -> Answer:
    """A head, then one byte every 0.2 s: each byte resets the read timeout, so only a deadline ends it."""

    def answer(request: Request, sock: socket.socket) -> bool:
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nETag: \"x\"\r\n\r\n".encode())
        for _ in range(length):
            time.sleep(0.2)
            sock.sendall(byte)
        return False

    return answer


def test_a_trickling_answer_fails_at_the_answer_deadline_as_a_retried_timeout() -> None:
    with HostileServer(trickling(1000, b" ")) as server, server.client(
        RetryPolicy(max_attempts=2, backoff_base=0.01), timeout=(1, 1), answer_deadline=1.5
    ) as client:
        started = time.monotonic()
        with pytest.raises(CosTransportError) as caught:
            list(client.list_parts("k", "upload-1"))
        elapsed = time.monotonic() - started
    assert caught.value.kind is FailureKind.TIMEOUT and caught.value.attempts == 2
    assert "answer_deadline" in str(caught.value)
    assert len(server.requests) == 2 and elapsed >= 3.0  # both attempts ran to their deadline (a lower bound:
    # load only adds to it); a deadline that never fires would let the 200 s trickle end as a success instead


def test_a_trickling_answer_fails_at_the_answer_deadline_with_asyncio_too() -> None:
    async def scenario(server: HostileServer) -> float:
        async with server.async_client(
            RetryPolicy(max_attempts=2, backoff_base=0.01), timeout=(1, 1), answer_deadline=1.5
        ) as client:
            started = time.monotonic()
            with pytest.raises(CosTransportError) as caught:
                [part async for part in client.list_parts("k", "upload-1")]
            assert caught.value.kind is FailureKind.TIMEOUT and caught.value.attempts == 2
            assert "answer_deadline" in str(caught.value)
            return time.monotonic() - started

    with HostileServer(trickling(1000, b" ")) as server:
        elapsed = asyncio.run(scenario(server))
    assert len(server.requests) == 2 and elapsed >= 3.0  # both attempts ran to their deadline (a lower bound:
    # load only adds to it); a deadline that never fires would let the 200 s trickle end as a success instead


def test_the_callers_cancel_is_never_taken_for_the_deadline() -> None:
    async def scenario(server: HostileServer) -> None:
        async with server.async_client(timeout=(1, 1), answer_deadline=0.5) as client:
            async def listing() -> None:
                async for _ in client.list_parts("k", "upload-1"):
                    pass

            task = asyncio.ensure_future(listing())
            await asyncio.sleep(0.45)
            task.cancel()  # just before the deadline: the caller's cancellation must win, not become a timeout
            await asyncio.sleep(0.2)
            with pytest.raises(asyncio.CancelledError):
                await task

    with HostileServer(trickling(1000, b" ")) as server:
        asyncio.run(scenario(server))


BIG = b"z" * (24 * 1024 * 1024)
SLOW_READ = 8 * 1024 * 1024  # bytes/s


def test_a_large_in_memory_body_over_a_slow_link_is_not_cut_by_the_deadline() -> None:
    """The clock starts when the body has gone out, not when the request starts: 24 MiB read at 8 MiB/s
    take 3 s, more than the 2 s deadline; the last piece is handed to the socket while the kernel's buffers
    (a few MiB, under 1.3 s at this rate) still hold some, and the answer comes at once after the body."""

    def answer(request: Request, sock: socket.socket) -> bool:
        assert len(request.body) == len(BIG)
        reply(sock, "200 OK", b"", {"ETag": f'"{hashlib.md5(BIG).hexdigest()}"', "x-cos-hash-crc64ecma": str(crc64(BIG))})
        return True

    async def scenario(server: HostileServer) -> None:
        async with server.async_client(timeout=(5, 5), answer_deadline=2.0) as client:
            started = time.monotonic()
            await client.put_object("k", BIG)
            assert time.monotonic() - started > 2.0

    with HostileServer(answer, body_rate=SLOW_READ) as server:
        asyncio.run(scenario(server))


def test_a_streamed_get_body_is_not_cut_by_the_deadline() -> None:
    with HostileServer(trickling(10, b"a")) as server, server.client(timeout=(1, 1), answer_deadline=0.5) as client:
        response = client.get_object("k")
        with response:
            assert b"".join(response.iter_content(1)) == b"a" * 10  # 2 s of body: the caller's pace


def test_a_request_body_the_server_stops_reading_fails_at_the_read_timeout() -> None:
    def never_read(request: Request, sock: socket.socket) -> bool:
        time.sleep(30)
        return False

    with HostileServer(never_read, read_body=False) as server, server.client(timeout=(60, 1)) as client:
        started = time.monotonic()
        with pytest.raises(CosTransportError) as caught:
            client.upload_part("k", "upload-1", 1, bytes(64 * 1024 * 1024))
        elapsed = time.monotonic() - started
    # One block (1 MiB) written per read timeout (1 s), not per connect timeout (60 s, so far from the 1 s that
    # a loaded machine cannot bring one near the other).
    assert caught.value.kind is FailureKind.TIMEOUT and elapsed < 30.0


# --- answers too large to hold --------------------------------------------------------------------------

CLIENT_PROGRAM = """
import resource, sys
from cos_multipart import CosClient, Credentials, RetryPolicy
client = CosClient("examplebucket-1250000000", "ap-guangzhou", Credentials("AKIDxxxxxxxx", "secretsecret"),
                   endpoint=sys.argv[1], retry=RetryPolicy.never())
try:
    sum(1 for _ in client.list_parts("k", "upload-1"))
    outcome = "listed"
except Exception as error:
    outcome = type(error).__name__
# VmHWM is this image's peak RSS; ru_maxrss also keeps the parent's at fork time (Linux keeps it across exec).
try:
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(outcome, peak_kib // 1024)
"""


@pytest.mark.parametrize("announced", [False, True], ids=["close-delimited", "content-length"])
def test_a_768_mib_answer_is_refused_and_memory_stays_bounded(announced: bool) -> None:
    size = 768 * 1024 * 1024
    block = b" " * (1024 * 1024)

    def huge(request: Request, sock: socket.socket) -> bool:
        length = f"Content-Length: {size + 19}\r\n" if announced else "Connection: close\r\n"
        sock.sendall(f"HTTP/1.1 200 OK\r\n{length}\r\n<ListPartsResult>\n".encode())
        for _ in range(size // len(block)):
            sock.sendall(block)
        return False

    with HostileServer(huge) as server:
        done = subprocess.run([sys.executable, "-c", CLIENT_PROGRAM, server.endpoint], capture_output=True, text=True, timeout=120)
    outcome, rss_mib = done.stdout.split()
    assert outcome == "CosResponseError", done.stderr
    assert int(rss_mib) < 100, f"max RSS {rss_mib} MiB"


def test_head_of_an_object_larger_than_the_answer_cap_is_read(local_cos: "LocalCOS") -> None:
    """HEAD announces the object's Content-Length (here past the 8 MiB answer cap) with no body: not refused,
    by either client (the demo and forbid_overwrite HEAD large objects)."""
    import asyncio

    from cos_multipart.aio import AsyncCosClient
    from cos_multipart._protocol.limits import MAX_XML_ANSWER_BYTES

    size = MAX_XML_ANSWER_BYTES + 1
    with local_cos.client() as client:
        client.put_object("big", b"x" * size)
        assert client.head_object("big").size == size

    async def head() -> object:
        async with AsyncCosClient(local_cos.bucket, local_cos.region, local_cos.credentials, endpoint=local_cos.endpoint) as aclient:
            return (await aclient.head_object("big")).size

    assert asyncio.run(head()) == size
