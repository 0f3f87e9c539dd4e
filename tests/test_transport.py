"""The transport: signing every attempt, retries, rewinding bodies, the wire format, no secrets leaked."""

from __future__ import annotations

import email.utils
import functools
import io
import logging
import random
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Tuple
from urllib.parse import unquote

import pytest

from cos_multipart._protocol import operations as ops
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.endpoint import Endpoint
from cos_multipart._protocol.errors import CosCancelledError, CosServiceError, CosTransportError, FailureKind
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart._protocol.signer import SignWindow, sign
from cos_multipart._protocol.sse import SseC
from cos_multipart._io.transport import Transport

from scripted_http import Recorded, ScriptedServer

SECRET_KEY = "SECRETKEYabcdefghijklmnopqrstuvw"
TOKEN = "TOKENsts0123456789tokentokentoken"
CREDS = Credentials("AKIDexampleid", SECRET_KEY, TOKEN)
SSE_KEY = b"K" * 32
UPLOAD = "1585130821cbb7df"
NOW = 1_700_000_000.0


def make_transport(base: str, **kwargs: Any) -> Tuple[Transport, List[float]]:
    """A transport on ``base`` with a frozen clock and a recorded sleep."""
    slept: List[float] = []
    settings: Dict[str, Any] = {
        "retry": RetryPolicy(max_attempts=3, backoff_base=0.5),
        "clock": lambda: NOW,
        "sleep": slept.append,
        "rng": random.Random(3),
    }
    settings.update(kwargs)
    return Transport(Endpoint.parse(base), settings.pop("credentials", CREDS), **settings), slept


def verify_signature(request: Recorded, credentials: Credentials = CREDS) -> Dict[str, str]:
    """Recompute the signature of a recorded request from its own target and headers; return the fields."""
    fields = dict(item.split("=", 1) for item in request.headers["Authorization"].split("&"))
    start, end = fields["q-key-time"].split(";")
    params = request.params
    header_names = fields["q-header-list"].split(";") if fields["q-header-list"] else []
    headers = {name: request.headers[name] for name in header_names}
    assert sorted(name.lower() for name in params) == sorted(fields["q-url-param-list"].split(";") if params else [])
    expected = sign(credentials, SignWindow(int(start), int(end)), request.method, unquote(request.path), params, headers)
    assert request.headers["Authorization"] == expected
    return fields


PARSE_PART = functools.partial(ops.parse_upload_part, part_number=1, size=4)
INITIATED = b"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>"


def test_signature_verifies_and_token_and_host_are_signed(scripted: ScriptedServer) -> None:
    scripted.add("POST", "/dir/a%20b%2Bc", body=INITIATED)
    transport, _ = make_transport(scripted.base_url)
    call = ops.prepare_initiate("dir/a b+c", ops.ObjectOptions(acl="private", metadata={"m": "v"}))
    assert transport.send(call, ops.parse_initiate).upload_id == "u"
    request = scripted.requests[0]
    fields = verify_signature(request)
    signed = fields["q-header-list"].split(";")
    assert {"host", "content-length", "content-type", "x-cos-acl", "x-cos-meta-m", "x-cos-security-token"} <= set(signed)
    assert fields["q-url-param-list"] == "uploads"
    assert request.headers["x-cos-security-token"] == TOKEN
    # The window starts 60 s in the past (limits.SIGN_SKEW_SECONDS) and lasts DEFAULT_SIGN_EXPIRES.
    assert fields["q-sign-time"] == f"{int(NOW) - 60};{int(NOW) + 3600}"
    assert request.headers["Content-Length"] == "0"
    transport.close()


def test_503_then_200_rewinds_file_body_and_resends_identically(scripted: ScriptedServer) -> None:
    seen: List[bytes] = []
    statuses = iter([503, 200])

    def reply(request: Recorded) -> Tuple[int, Dict[str, str], bytes]:
        seen.append(request.body)
        verify_signature(request)
        status = next(statuses)
        if status == 503:
            return 503, {"x-cos-request-id": "r1"}, b"<Error><Code>SlowDown</Code><Message>slow</Message></Error>"
        return 200, {"ETag": '"e"', "x-cos-hash-crc64ecma": "5"}, b""

    scripted.add_callback("PUT", "/k", reply)
    transport, slept = make_transport(scripted.base_url)
    stream = io.BytesIO(b"HEADER" + bytes(range(256)) * 40 + b"TRAILER")
    stream.seek(6)
    call = ops.prepare_upload_part("k", UPLOAD, 1, stream, content_length=256 * 40)
    result = transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=256 * 40))
    assert result.etag == '"e"' and result.crc64 == 5
    assert seen[0] == seen[1] == bytes(range(256)) * 40
    assert len(slept) == 1 and 0 <= slept[0] <= 0.5
    assert [r.headers["Content-Length"] for r in scripted.requests] == ["10240", "10240"]
    transport.close()


def test_memoryview_body_retried(scripted: ScriptedServer) -> None:
    scripted.add("PUT", "/k", 500)
    scripted.add("PUT", "/k", 200, {"ETag": '"e"'})
    transport, _ = make_transport(scripted.base_url)
    data = bytearray(b"abcdefgh" * 100)
    call = ops.prepare_upload_part("k", UPLOAD, 2, memoryview(data)[8:], content_length=16)
    transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=2, size=16))
    assert [r.body for r in scripted.requests] == [b"abcdefgh" * 2] * 2
    transport.close()


def test_404_is_not_retried(scripted: ScriptedServer) -> None:
    scripted.add("PUT", "/k", 404, {"x-cos-request-id": "r9"}, b"<Error><Code>NoSuchUpload</Code></Error>")
    transport, slept = make_transport(scripted.base_url)
    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"x"), lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=1))
    assert len(scripted.requests) == 1 and slept == []
    error = info.value
    assert (error.status, error.code, error.request_id, error.method, error.url) == (404, "NoSuchUpload", "r9", "PUT", f"{scripted.base_url}/k")
    transport.close()


def test_attempts_bounded(scripted: ScriptedServer) -> None:
    scripted.add("DELETE", "/k", 503)
    transport, slept = make_transport(scripted.base_url, retry=RetryPolicy(max_attempts=4, backoff_base=0.01))
    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert info.value.status == 503
    assert len(scripted.requests) == 4 and len(slept) == 3
    transport.close()


def test_clock_skew_corrected_once(scripted: ScriptedServer) -> None:
    server_now = NOW + 3600.0  # the local clock is an hour slow
    date = email.utils.formatdate(server_now, usegmt=True)
    skew = b"<Error><Code>RequestTimeTooSkewed</Code><Message>too skewed</Message></Error>"
    scripted.add("DELETE", "/k", 403, {"Date": date}, skew)
    scripted.add("DELETE", "/k", 204, {"Date": date})
    transport, slept = make_transport(scripted.base_url, retry=RetryPolicy.never())
    assert transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort).status == 204
    first, second = (verify_signature(request)["q-sign-time"] for request in scripted.requests)
    assert first.startswith(f"{int(NOW) - 60};")
    assert second.startswith(f"{int(server_now) - 60};")
    assert transport.clock_offset == pytest.approx(3600)
    assert slept == []
    transport.close()


def test_clock_error_twice_is_raised(scripted: ScriptedServer) -> None:
    date = email.utils.formatdate(NOW + 3600, usegmt=True)
    body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    scripted.add("DELETE", "/k", 403, {"Date": date}, body)
    transport, _ = make_transport(scripted.base_url)
    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert info.value.is_clock_error
    assert len(scripted.requests) == 2
    transport.close()


def test_clock_error_without_date_is_not_retried(scripted: ScriptedServer) -> None:
    scripted.add("DELETE", "/k", 403, body=b"<Error><Code>RequestTimeTooSkewed</Code></Error>")
    transport, _ = make_transport(scripted.base_url)
    with pytest.raises(CosServiceError):
        transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert len(scripted.requests) == 1
    transport.close()


def test_200_complete_with_internal_error_body_is_retried(scripted: ScriptedServer) -> None:
    error = b"   <Error><Code>InternalError</Code><Message>merge failed</Message></Error>"
    ok = b"<CompleteMultipartUploadResult><Key>k</Key><ETag>&quot;x-1&quot;</ETag></CompleteMultipartUploadResult>"
    scripted.add("POST", "/k", body=error)
    scripted.add("POST", "/k", body=ok)
    transport, _ = make_transport(scripted.base_url)
    result = transport.send(ops.prepare_complete("k", UPLOAD, [(1, "e")]), ops.parse_complete)
    assert result.etag == '"x-1"' and len(scripted.requests) == 2
    assert scripted.requests[0].body == scripted.requests[1].body != b""
    transport.close()


def test_credentials_provider_called_for_every_attempt(scripted: ScriptedServer) -> None:
    issued = iter([Credentials("AKID1", "key-one"), Credentials("AKID2", "key-two")])
    used: List[Credentials] = []

    def provider() -> Credentials:
        used.append(next(issued))
        return used[-1]

    scripted.add("DELETE", "/k", 500)
    scripted.add("DELETE", "/k", 204)
    transport, _ = make_transport(scripted.base_url, credentials=provider)
    transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert len(scripted.requests) == len(used) == 2
    for request, credentials in zip(scripted.requests, used):
        assert verify_signature(request, credentials)["q-ak"] == credentials.secret_id
    assert "x-cos-security-token" not in scripted.requests[0].headers
    transport.close()


def test_no_content_length_on_delete(scripted: ScriptedServer) -> None:
    scripted.add("DELETE", "/k", 204)
    transport, _ = make_transport(scripted.base_url)
    transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert "Content-Length" not in scripted.requests[0].headers
    transport.close()


def test_connection_error_becomes_transport_error_without_query_or_secrets(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport, slept = make_transport(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=2, backoff_base=0.01))
    sse = SseC(SSE_KEY)
    call = ops.prepare_upload_part("k", UPLOAD, 1, b"data", sse_c=sse)
    with caplog.at_level(logging.DEBUG), pytest.raises(CosTransportError) as info:
        transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=4))
    error = info.value
    assert error.kind is FailureKind.CONNECTION and error.attempts == 2 and error.method == "PUT" and error.url == f"http://127.0.0.1:{port}/k"
    assert error.__cause__ is not None  # raised from the network's own exception, whichever library raised it
    assert len(slept) == 1
    assert "retrying PUT" in caplog.text
    for secret in (SECRET_KEY, TOKEN, sse.headers()["x-cos-server-side-encryption-customer-key"], UPLOAD, "q-signature"):
        assert secret not in str(error)
        assert secret not in caplog.text
    assert "Authorization" not in caplog.text


def _send_parts(transport: Transport, threads: int, each: int) -> List[BaseException]:
    """Part uploads from ``threads`` threads sharing ``transport``, ``each`` in turn; the errors raised."""
    errors: List[BaseException] = []

    def work(index: int) -> None:
        try:
            for _ in range(each):
                transport.send(ops.prepare_upload_part(f"k{index}", UPLOAD, 1, b"x" * 1000), PARSE_PART)
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            errors.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)
    return errors


def test_pool_is_sized_and_blocking(scripted: ScriptedServer) -> None:
    """With every pooled connection waiting for its answer, the other requests wait for one (no extra
    connection is opened), then go over the same connections."""
    stalls = [scripted.add_stall("PUT", f"/k{i}", headers={"ETag": '"e"'}) for i in range(2)]
    for index in range(6):
        scripted.add("PUT", f"/k{index}", headers={"ETag": '"e"'})
    transport, _ = make_transport(scripted.base_url, pool_size=2)
    sender = threading.Thread(target=lambda: _send_parts(transport, 6, 1))
    sender.start()
    assert all(stall.wait_arrived() for stall in stalls)
    for stall in stalls:
        stall.release()
    sender.join(60)
    assert len(scripted.requests) == 6
    assert scripted.connections == scripted.most_open == 2
    assert repr(transport) == f"Transport(endpoint='{scripted.base_url}')"
    transport.close()


@pytest.mark.parametrize(
    "key, path",
    [
        ("文件 a+b?c#d%e~f.txt", "/%E6%96%87%E4%BB%B6%20a%2Bb%3Fc%23d%25e~f.txt"),
        ("a/../b", "/a/%2E%2E/b"),
        ("./x", "/%2E/x"),
        ("dir//x", "/dir//x"),
    ],
)
def test_wire_path_encoding(scripted: ScriptedServer, key: str, path: str) -> None:
    scripted.add("POST", path, body=INITIATED)
    transport, _ = make_transport(scripted.base_url)
    transport.send(ops.prepare_initiate(key), ops.parse_initiate)
    request = scripted.requests[0]
    assert (request.method, request.target, request.version) == ("POST", f"{path}?uploads", "HTTP/1.1")
    assert request.headers["Host"] == scripted.base_url[len("http://") :]
    transport.close()


def test_file_body_sent_with_content_length_not_chunked(scripted: ScriptedServer, tmp_path: Any) -> None:
    scripted.add("PUT", "/k", headers={"ETag": '"e"'})
    transport, _ = make_transport(scripted.base_url)
    path = tmp_path / "data.bin"
    path.write_bytes(b"P" * 100 + b"Q" * 3_000_000)
    with path.open("rb") as stream:
        stream.seek(100)
        call = ops.prepare_upload_part("k", UPLOAD, 1, stream, content_length=3_000_000)
        transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=3_000_000))
    headers = scripted.requests[0].headers
    assert headers["Content-Length"] == "3000000" and "Transfer-Encoding" not in headers
    assert scripted.requests[0].body == b"Q" * 3_000_000
    transport.send(ops.prepare_upload_part("k", UPLOAD, 2, b""), lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=2, size=0))
    assert scripted.requests[1].headers["Content-Length"] == "0" and "Transfer-Encoding" not in scripted.requests[1].headers
    transport.close()


def test_short_body_fails_instead_of_hanging() -> None:
    from cos_multipart._io._requests_engine import BodyReader  # the proxy engine's; tests/test_wire.py has the other's

    reader = BodyReader(io.BytesIO(b"abc"), 5, 1024)
    assert len(reader) == 5 and reader.read(2) == b"ab" and len(reader) == 3
    with pytest.raises(OSError, match="2 bytes before"):
        reader.read(10)  # gets b"c", then the source is empty
        reader.read(10)


def test_shared_pool_blocks_instead_of_discarding(scripted: ScriptedServer) -> None:
    """Eight threads over a pool of two: never more than two connections, each reused (a pool that gave up
    waiting would open, and then discard, connections beyond its size)."""
    for index in range(8):
        scripted.add("PUT", f"/k{index}", headers={"ETag": '"e"'})
    transport, _ = make_transport(scripted.base_url, pool_size=2)
    assert _send_parts(transport, 8, 3) == []
    assert len(scripted.requests) == 24
    assert scripted.connections <= 2 and scripted.most_open <= 2
    transport.close()


# --- cancellation -----------------------------------------------------------------------------------------


def test_cancel_ends_a_backoff_wait_at_once(scripted: ScriptedServer) -> None:
    scripted.add("PUT", "/k", 503, body=b"<Error><Code>SlowDown</Code></Error>")
    # A first backoff of 30..60 minutes, so an uncut wait cannot be confused with a slow machine. The real
    # sleep: an injected one (tests) replaces the cancellable wait.
    transport, slept = make_transport(
        scripted.base_url,
        retry=RetryPolicy(max_attempts=5, backoff_base=3600.0, backoff_cap=3600.0, retry_time=7200.0),
        rng=random.Random(0),
        sleep=time.sleep,
    )
    cancel = threading.Event()
    outcome: List[BaseException] = []

    def send() -> None:
        try:
            transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"data"), PARSE_PART, cancel=cancel)
        except BaseException as error:  # noqa: BLE001 - the outcome is what the test checks
            outcome.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    assert scripted.wait_for_requests(1)
    cancel.set()  # during the backoff wait, or just before it: either way no second attempt
    sender.join(120)  # ends a broken run only: the wait it must cut lasts at least 30 minutes
    assert not sender.is_alive() and len(outcome) == 1 and isinstance(outcome[0], CosCancelledError), outcome
    assert len(scripted.requests) == 1 and slept == []  # no second attempt
    transport.close()


def test_cancelled_before_sending_sends_nothing(scripted: ScriptedServer) -> None:
    transport, _ = make_transport(scripted.base_url)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CosCancelledError):
        transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"data"), PARSE_PART, cancel=cancel)
    transport.close()
    assert scripted.requests == [] and scripted.connections == 0


def waiting_upload(transport: Transport, cancel: threading.Event) -> Tuple[threading.Thread, List[BaseException]]:
    """A thread whose part upload is sent and then waits for its answer (the caller waits for the request
    to reach the server)."""
    outcome: List[BaseException] = []

    def upload() -> None:
        try:
            transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"x" * 1000), PARSE_PART, cancel=cancel)
        except BaseException as error:  # noqa: BLE001 - the outcome is what the test checks
            outcome.append(error)

    worker = threading.Thread(target=upload)
    worker.start()
    return worker, outcome


def test_abort_connections_frees_a_request_waiting_for_its_answer(scripted: ScriptedServer) -> None:
    stall = scripted.add_stall("PUT", "/k")  # like COS stuck before its reply
    transport, _ = make_transport(scripted.base_url, timeout=(5.0, 3600.0))
    cancel = threading.Event()
    worker, outcome = waiting_upload(transport, cancel)
    assert stall.wait_arrived()
    cancel.set()
    assert transport.abort_connections() >= 1
    worker.join(timeout=120)  # ends a broken run only: the read timeout it must not wait for is an hour
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], CosCancelledError)
    transport.close()


def test_abort_connections_of_another_scope_leaves_a_request_waiting(scripted: ScriptedServer) -> None:
    first = scripted.add_stall("PUT", "/k", headers={"ETag": '"e"'})
    second = scripted.add_stall("PUT", "/k", headers={"ETag": '"e"'})
    transport, _ = make_transport(scripted.base_url, timeout=(5.0, 60.0))
    mine, other = threading.Event(), threading.Event()
    worker, outcome = waiting_upload(transport, mine)
    assert first.wait_arrived()
    other.set()
    assert transport.abort_connections(cancel=other) == 0
    first.release()  # its connection was untouched: the answer arrives and the upload succeeds
    worker.join(timeout=60)
    assert not worker.is_alive() and outcome == [] and len(scripted.requests) == 1
    worker, outcome = waiting_upload(transport, mine)
    assert second.wait_arrived()
    mine.set()
    assert transport.abort_connections(cancel=mine) == 1
    worker.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], CosCancelledError)
    transport.close()


# --- how real network failures are judged -------------------------------------------------------------------

_ANSWER = (200, {"ETag": '"e"'}, b"")


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        (lambda server: server.add_close("PUT", "/k"), FailureKind.CONNECTION),
        (lambda server: server.add_reset("PUT", "/k"), FailureKind.CONNECTION),
        (lambda server: server.add_partial("PUT", "/k", 200, {"ETag": '"e"'}, b"0123456789", send_bytes=50), FailureKind.CONNECTION),
        (lambda server: server.add_raw("PUT", "/k", b"HTTP/1.1 2x0 OK\r\n\r\n"), FailureKind.CONNECTION),
        (lambda server: server.add_stall("PUT", "/k", *_ANSWER), FailureKind.TIMEOUT),
    ],
    ids=["closed", "reset", "answer-broke-off", "malformed-head", "read-timeout"],
)
def test_network_failures_are_judged_by_kind_and_retried(
    scripted: ScriptedServer, script: Callable[[ScriptedServer], object], kind: FailureKind
) -> None:
    script(scripted)
    # A short read timeout ends a stalled answer (no test waits on the wall clock for a verdict).
    transport, slept = make_transport(scripted.base_url, retry=RetryPolicy(max_attempts=2, backoff_base=0.01), timeout=(5.0, 0.3))
    with pytest.raises(CosTransportError) as info:
        transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"data"), PARSE_PART)
    assert (info.value.kind, info.value.attempts, len(slept)) == (kind, 2, 1)
    assert len(scripted.requests) == 2 and all(r.body == b"data" for r in scripted.requests)
    transport.close()


class _Unseekable(io.BytesIO):
    """A request body whose rewinding fails, as a file on a broken disk or a closed pipe does."""

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("seek failed")


def test_a_body_that_cannot_be_rewound_fails_as_a_body_error_and_sends_nothing(scripted: ScriptedServer) -> None:
    transport, _ = make_transport(scripted.base_url)
    call = ops.prepare_upload_part("k", UPLOAD, 1, _Unseekable(b"data"), content_length=4)
    with pytest.raises(CosTransportError) as info:
        transport.send(call, PARSE_PART)
    assert info.value.kind is FailureKind.BODY and "seek failed" in str(info.value)
    transport.close()
    assert scripted.requests == []


def test_a_service_error_reaches_the_caller_as_raised_with_its_request_added(scripted: ScriptedServer) -> None:
    scripted.add("DELETE", f"/k?uploadId={UPLOAD}", 404)
    transport, _ = make_transport(scripted.base_url)
    raised: List[CosServiceError] = []

    def parse(status: int, headers: Any, body: bytes) -> None:
        raised.append(CosServiceError(status, "NoSuchUpload", "gone", request_id="r1"))
        raise raised[-1]

    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_abort("k", UPLOAD), parse)
    base = scripted.base_url
    assert info.value is raised[0]  # not a copy
    assert (info.value.method, info.value.url) == ("DELETE", f"{base}/k")
    assert str(info.value) == f"404 NoSuchUpload: gone (DELETE {base}/k) [request id r1]"
    transport.close()


def test_in_request_keeps_a_request_already_recorded() -> None:
    error = CosServiceError(500, "InternalError", method="PUT", url="http://a/k")
    assert error.in_request("GET", "http://b/other") is error and (error.method, error.url) == ("PUT", "http://a/k")
    assert "(PUT http://a/k)" in str(error)


# --- answer deadlines ---------------------------------------------------------------------------------------


def test_answer_deadlines_start_no_thread_per_request(scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread started (and ended) per request for its answer deadline froze Dask workers on CPython 3.11:
    a thread starting or ending while the worker's profiler runs ``sys._current_frames()`` can deadlock the
    process (python/cpython#106883). One watcher thread serves every deadline of the process."""
    scripted.add("PUT", "/k", headers={"ETag": '"e"'})
    started: List[str] = []
    original = threading.Thread.start
    me = threading.get_ident()

    def start(thread: threading.Thread) -> None:
        if threading.get_ident() == me:  # not the test server's threads
            started.append(thread.name)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    transport, _ = make_transport(scripted.base_url, answer_deadline=30.0)
    parse = functools.partial(ops.parse_upload_part, part_number=1, size=10)
    for _ in range(40):
        transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"x" * 10), parse)
    transport.close()
    assert len(scripted.requests) == 40
    assert len(started) <= 1, started  # the watcher, if no earlier test of this process started it


def test_the_deadline_watcher_expires_the_earliest_deadline_first() -> None:
    from cos_multipart._io._carrying import Carrying as _Carrying

    class Connection:
        def __init__(self) -> None:
            self.sock = self
            self.shut = threading.Event()

        def shutdown(self, how: int) -> None:
            self.shut.set()

    late, early, finished = (_Carrying(None, seconds, None) for seconds in (60.0, 0.2, 0.1))
    for entry in (late, early, finished):
        entry.connection = Connection()
        entry.arm()
    finished.disarm()  # its answer was read in time
    assert early.connection.shut.wait(5)
    assert early.expired and not late.expired and not finished.expired
    time.sleep(0.2)
    assert not finished.connection.shut.is_set() and not late.connection.shut.is_set()
    late.disarm()
    assert not late.expired


# --- what a real socket adds ------------------------------------------------------------------------------


def test_an_answer_whose_head_and_body_arrive_in_several_segments(scripted: ScriptedServer) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {len(INITIATED)}\r\n\r\n".encode()
    # Cut inside the status line, inside a header name, inside the blank line ending the head, inside the body.
    scripted.add_raw("POST", "/k", head[:6], head[6:20], head[20:-1], head[-1:] + INITIATED[:9], INITIATED[9:])
    transport, _ = make_transport(scripted.base_url, retry=RetryPolicy.never())
    assert transport.send(ops.prepare_initiate("k"), ops.parse_initiate).upload_id == "u"
    transport.close()


def test_a_keep_alive_connection_closed_by_the_server_while_idle(scripted: ScriptedServer) -> None:
    scripted.add("PUT", "/k", headers={"ETag": '"e"'})
    transport, _ = make_transport(scripted.base_url)
    assert transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"data"), PARSE_PART).etag == '"e"'
    assert scripted.close_idle() == 1
    assert transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"data"), PARSE_PART).etag == '"e"'
    # By a retry or by a fresh connection, the second request reached the server on a new connection.
    assert [request.connection for request in scripted.requests] == [1, 2]
    transport.close()


def test_a_chunked_answer_is_read_to_its_end_and_the_connection_reused(scripted: ScriptedServer) -> None:
    chunked = {"Transfer-Encoding": "chunked"}
    scripted.add("PUT", "/k", headers={"ETag": '"e"', "x-cos-hash-crc64ecma": "5", **chunked}, body=b"<Ok>a text the client ignores</Ok>")
    done = b"<CompleteMultipartUploadResult><Key>k</Key><ETag>&quot;x-1&quot;</ETag></CompleteMultipartUploadResult>"
    scripted.add("POST", "/k", headers=chunked, body=done)
    transport, _ = make_transport(scripted.base_url, retry=RetryPolicy.never())
    for _ in range(2):
        part = transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"data"), PARSE_PART)
        assert (part.etag, part.crc64) == ('"e"', 5)
    assert transport.send(ops.prepare_complete("k", UPLOAD, [(1, '"e"')]), ops.parse_complete).etag == '"x-1"'
    assert len(scripted.requests) == 3 and scripted.connections == 1
    transport.close()


def test_no_request_asks_for_100_continue(scripted: ScriptedServer, tmp_path: Any) -> None:
    """COS answers ``Expect: 100-continue`` as it likes; the client never asks, whatever the body's size or
    kind, and sends every body at once (the server answers only once the whole body is in)."""
    scripted.add("PUT", "/k", headers={"ETag": '"e"'})
    scripted.add("POST", "/k", body=b"<CompleteMultipartUploadResult><ETag>&quot;x&quot;</ETag></CompleteMultipartUploadResult>")
    transport, _ = make_transport(scripted.base_url, retry=RetryPolicy.never())
    path = tmp_path / "part.bin"
    path.write_bytes(b"F" * 2_000_000)
    with path.open("rb") as stream:
        transport.send(ops.prepare_upload_part("k", UPLOAD, 1, stream, content_length=2_000_000), PARSE_PART)
    transport.send(ops.prepare_upload_part("k", UPLOAD, 2, b"B" * 3_000_000), PARSE_PART)
    transport.send(ops.prepare_upload_part("k", UPLOAD, 3, memoryview(bytearray(b"M" * 1_500_000))), PARSE_PART)
    transport.send(ops.prepare_complete("k", UPLOAD, [(1, "a"), (2, "b"), (3, "c")]), ops.parse_complete)
    assert [len(request.body) for request in scripted.requests] == [2_000_000, 3_000_000, 1_500_000, len(scripted.requests[3].body)]
    assert not any("Expect" in request.headers for request in scripted.requests)
    assert scripted.connections == 1
    transport.close()


@pytest.mark.parametrize("deadline", [30.0, None])
def test_through_requests_each_body_write_is_bounded_by_the_read_timeout_with_or_without_a_deadline(
    deadline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib3 writes a body with the connect timeout on the socket; the transport gives it the read timeout,
    also when no answer deadline is set (an early wire-engine change tied the one to the other)."""
    monkeypatch.setenv("NO_PROXY", "")
    transport, _ = make_transport("http://127.0.0.1:9", proxies={"http": "http://127.0.0.1:1"}, timeout=(60.0, 7.0),
                                  answer_deadline=deadline, retry=RetryPolicy.never())  # fmt: skip
    assert transport.engine == "requests"
    seen: List[Tuple[Any, Any]] = []
    carrying = transport._registry.carrying  # noqa: SLF001 - the seam both engines share

    def recording(cancel: Any, deadline: Any = None, send_timeout: Any = None) -> Any:
        seen.append((deadline, send_timeout))
        return carrying(cancel, deadline, send_timeout)

    monkeypatch.setattr(transport._registry, "carrying", recording)  # noqa: SLF001
    with pytest.raises(CosTransportError):  # nothing listens where the proxy is: what counts is the set-up
        transport.send(ops.prepare_head_object("k"), functools.partial(ops.parse_head_object, key="k"))
    assert seen == [(deadline, 7.0)]
    transport.close()
