"""The transport: signing every attempt, retries, rewinding bodies, the wire format, no secrets leaked."""

from __future__ import annotations

import email.utils
import functools
import http.server
import io
import logging
import random
import socket
import threading
import time
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
import responses

from cos_multipart._protocol import operations as ops
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.endpoint import Endpoint
from cos_multipart._protocol.errors import CosCancelledError, CosServiceError, CosTransportError, FailureKind
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart._protocol.signer import SignWindow, sign
from cos_multipart._protocol.sse import SseC
from cos_multipart._io.transport import Transport, failure_kind

SECRET_KEY = "SECRETKEYabcdefghijklmnopqrstuvw"
TOKEN = "TOKENsts0123456789tokentokentoken"
CREDS = Credentials("AKIDexampleid", SECRET_KEY, TOKEN)
SSE_KEY = b"K" * 32
BASE = "http://127.0.0.1:9000"
UPLOAD = "1585130821cbb7df"
NOW = 1_700_000_000.0


def make_transport(**kwargs: Any) -> Tuple[Transport, List[float]]:
    """A transport on BASE with a frozen clock and a recorded sleep."""
    slept: List[float] = []
    settings: Dict[str, Any] = {
        "retry": RetryPolicy(max_attempts=3, backoff_base=0.5),
        "clock": lambda: NOW,
        "sleep": slept.append,
        "rng": random.Random(3),
    }
    settings.update(kwargs)
    return Transport(Endpoint.parse(settings.pop("endpoint", BASE)), settings.pop("credentials", CREDS), **settings), slept


def body_bytes(request: requests.PreparedRequest) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)  # responses has already read file-like bodies
    reader: Any = body
    return b"".join(bytes(chunk) for chunk in iter(lambda: reader.read(7), b""))


def verify_signature(request: requests.PreparedRequest, credentials: Credentials = CREDS) -> Dict[str, str]:
    """Recompute the signature of a captured request from its own URL and headers; return the fields."""
    fields = dict(item.split("=", 1) for item in request.headers["Authorization"].split("&"))
    start, end = fields["q-key-time"].split(";")
    parts = urlsplit(request.url or "")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    header_names = fields["q-header-list"].split(";") if fields["q-header-list"] else []
    lowered = {name.lower(): value for name, value in request.headers.items()}
    lowered.setdefault("host", parts.netloc)
    headers = {name: lowered[name] for name in header_names}
    assert sorted(name.lower() for name in params) == sorted(fields["q-url-param-list"].split(";") if params else [])
    expected = sign(credentials, SignWindow(int(start), int(end)), request.method or "", unquote(parts.path), params, headers)
    assert request.headers["Authorization"] == expected
    return fields


@responses.activate
def test_signature_verifies_and_token_and_host_are_signed() -> None:
    responses.add(responses.POST, f"{BASE}/dir/a%20b%2Bc", body=b"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>")
    transport, _ = make_transport()
    call = ops.prepare_initiate("dir/a b+c", ops.ObjectOptions(acl="private", metadata={"m": "v"}))
    assert transport.send(call, ops.parse_initiate).upload_id == "u"
    request = responses.calls[0].request
    fields = verify_signature(request)
    signed = fields["q-header-list"].split(";")
    assert {"host", "content-length", "content-type", "x-cos-acl", "x-cos-meta-m", "x-cos-security-token"} <= set(signed)
    assert fields["q-url-param-list"] == "uploads"
    assert request.headers["x-cos-security-token"] == TOKEN
    # The window starts 60 s in the past (limits.SIGN_SKEW_SECONDS) and lasts DEFAULT_SIGN_EXPIRES.
    assert fields["q-sign-time"] == f"{int(NOW) - 60};{int(NOW) + 3600}"
    assert request.headers["Content-Length"] == "0"


@responses.activate
def test_503_then_200_rewinds_file_body_and_resends_identically() -> None:
    seen: List[bytes] = []
    statuses = iter([503, 200])

    def reply(request: requests.PreparedRequest) -> Tuple[int, Dict[str, str], bytes]:
        seen.append(body_bytes(request))
        verify_signature(request)
        status = next(statuses)
        if status == 503:
            return 503, {"x-cos-request-id": "r1"}, b"<Error><Code>SlowDown</Code><Message>slow</Message></Error>"
        return 200, {"ETag": '"e"', "x-cos-hash-crc64ecma": "5"}, b""

    responses.add_callback(responses.PUT, f"{BASE}/k", callback=reply)
    transport, slept = make_transport()
    stream = io.BytesIO(b"HEADER" + bytes(range(256)) * 40 + b"TRAILER")
    stream.seek(6)
    call = ops.prepare_upload_part("k", UPLOAD, 1, stream, content_length=256 * 40)
    result = transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=256 * 40))
    assert result.etag == '"e"' and result.crc64 == 5
    assert seen[0] == seen[1] == bytes(range(256)) * 40
    assert len(slept) == 1 and 0 <= slept[0] <= 0.5
    assert [c.request.headers["Content-Length"] for c in responses.calls] == ["10240", "10240"]


@responses.activate
def test_memoryview_body_retried() -> None:
    seen: List[bytes] = []
    statuses = iter([500, 200])

    def reply(request: requests.PreparedRequest) -> Tuple[int, Dict[str, str], bytes]:
        seen.append(body_bytes(request))
        return next(statuses), {"ETag": '"e"'}, b""

    responses.add_callback(responses.PUT, f"{BASE}/k", callback=reply)
    transport, _ = make_transport()
    data = bytearray(b"abcdefgh" * 100)
    call = ops.prepare_upload_part("k", UPLOAD, 2, memoryview(data)[8:], content_length=16)
    transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=2, size=16))
    assert seen == [b"abcdefgh" * 2] * 2


@responses.activate
def test_404_is_not_retried() -> None:
    responses.add(responses.PUT, f"{BASE}/k", status=404, body=b"<Error><Code>NoSuchUpload</Code></Error>", headers={"x-cos-request-id": "r9"})
    transport, slept = make_transport()
    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"x"), lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=1))
    assert len(responses.calls) == 1 and slept == []
    error = info.value
    assert (error.status, error.code, error.request_id, error.method, error.url) == (404, "NoSuchUpload", "r9", "PUT", f"{BASE}/k")


@responses.activate
def test_attempts_bounded() -> None:
    responses.add(responses.DELETE, f"{BASE}/k", status=503, body=b"")
    transport, slept = make_transport(retry=RetryPolicy(max_attempts=4, backoff_base=0.01))
    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert info.value.status == 503
    assert len(responses.calls) == 4 and len(slept) == 3


@responses.activate
def test_clock_skew_corrected_once() -> None:
    server_now = NOW + 3600.0  # the local clock is an hour slow
    date = email.utils.formatdate(server_now, usegmt=True)
    skew = b"<Error><Code>RequestTimeTooSkewed</Code><Message>too skewed</Message></Error>"
    responses.add(responses.DELETE, f"{BASE}/k", status=403, body=skew, headers={"Date": date})
    responses.add(responses.DELETE, f"{BASE}/k", status=204, headers={"Date": date})
    transport, slept = make_transport(retry=RetryPolicy.never())
    assert transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort).status == 204
    first, second = (verify_signature(c.request)["q-sign-time"] for c in responses.calls)
    assert first.startswith(f"{int(NOW) - 60};")
    assert second.startswith(f"{int(server_now) - 60};")
    assert transport.clock_offset == pytest.approx(3600)
    assert slept == []


@responses.activate
def test_clock_error_twice_is_raised() -> None:
    date = email.utils.formatdate(NOW + 3600, usegmt=True)
    body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    responses.add(responses.DELETE, f"{BASE}/k", status=403, body=body, headers={"Date": date})
    transport, _ = make_transport()
    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert info.value.is_clock_error
    assert len(responses.calls) == 2


@responses.activate
def test_clock_error_without_date_is_not_retried() -> None:
    responses.add(responses.DELETE, f"{BASE}/k", status=403, body=b"<Error><Code>RequestTimeTooSkewed</Code></Error>")
    transport, _ = make_transport()
    with pytest.raises(CosServiceError):
        transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert len(responses.calls) == 1


@responses.activate
def test_200_complete_with_internal_error_body_is_retried() -> None:
    error = b"   <Error><Code>InternalError</Code><Message>merge failed</Message></Error>"
    ok = b"<CompleteMultipartUploadResult><Key>k</Key><ETag>&quot;x-1&quot;</ETag></CompleteMultipartUploadResult>"
    responses.add(responses.POST, f"{BASE}/k", body=error)
    responses.add(responses.POST, f"{BASE}/k", body=ok)
    transport, _ = make_transport()
    result = transport.send(ops.prepare_complete("k", UPLOAD, [(1, "e")]), ops.parse_complete)
    assert result.etag == '"x-1"' and len(responses.calls) == 2
    assert responses.calls[0].request.body == responses.calls[1].request.body


@responses.activate
def test_credentials_provider_called_for_every_attempt() -> None:
    issued = iter([Credentials("AKID1", "key-one"), Credentials("AKID2", "key-two")])
    used: List[Credentials] = []

    def provider() -> Credentials:
        used.append(next(issued))
        return used[-1]

    responses.add(responses.DELETE, f"{BASE}/k", status=500)
    responses.add(responses.DELETE, f"{BASE}/k", status=204)
    transport, _ = make_transport(credentials=provider)
    transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    for call, credentials in zip(responses.calls, used):
        assert verify_signature(call.request, credentials)["q-ak"] == credentials.secret_id
    assert "x-cos-security-token" not in responses.calls[0].request.headers


@responses.activate
def test_no_content_length_on_delete() -> None:
    responses.add(responses.DELETE, f"{BASE}/k", status=204)
    transport, _ = make_transport()
    transport.send(ops.prepare_abort("k", UPLOAD), ops.parse_abort)
    assert "Content-Length" not in responses.calls[0].request.headers


def test_connection_error_becomes_transport_error_without_query_or_secrets(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport, slept = make_transport(endpoint=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=2, backoff_base=0.01))
    sse = SseC(SSE_KEY)
    call = ops.prepare_upload_part("k", UPLOAD, 1, b"data", sse_c=sse)
    with caplog.at_level(logging.DEBUG), pytest.raises(CosTransportError) as info:
        transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=4))
    error = info.value
    assert error.kind is FailureKind.CONNECTION and error.attempts == 2 and error.method == "PUT" and error.url == f"http://127.0.0.1:{port}/k"
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert len(slept) == 1
    assert "retrying PUT" in caplog.text
    for secret in (SECRET_KEY, TOKEN, sse.headers()["x-cos-server-side-encryption-customer-key"], UPLOAD, "q-signature"):
        assert secret not in str(error)
        assert secret not in caplog.text
    assert "Authorization" not in caplog.text


def test_pool_is_sized_and_blocking() -> None:
    transport, _ = make_transport(pool_size=7)
    adapter = transport.session.get_adapter(BASE)
    assert adapter._pool_maxsize == 7 and adapter._pool_block is True  # type: ignore[attr-defined]
    assert adapter.poolmanager.connection_pool_kw["blocksize"] == 1024 * 1024  # type: ignore[attr-defined]
    assert repr(transport) == f"Transport(endpoint='{BASE}')"
    transport.close()


# --- a real loopback server, to see the bytes on the wire ----------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: List[Dict[str, Any]] = []

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append({"line": self.requestline, "headers": dict(self.headers), "size": len(body), "head": body[:16]})
        reply = b"" if self.command in ("PUT", "DELETE") else b"<InitiateMultipartUploadResult><UploadId>u</UploadId></InitiateMultipartUploadResult>"
        self.send_response(200)
        self.send_header("ETag", '"e"')
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_PUT = do_POST = do_GET = do_DELETE = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def recorder() -> Iterator[Tuple[str, List[Dict[str, Any]]]]:
    seen: List[Dict[str, Any]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "key, path",
    [
        ("文件 a+b?c#d%e~f.txt", "/%E6%96%87%E4%BB%B6%20a%2Bb%3Fc%23d%25e~f.txt"),
        ("a/../b", "/a/%2E%2E/b"),
        ("./x", "/%2E/x"),
        ("dir//x", "/dir//x"),
    ],
)
def test_wire_path_encoding(recorder: Tuple[str, List[Dict[str, Any]]], key: str, path: str) -> None:
    base, seen = recorder
    transport, _ = make_transport(endpoint=base)
    transport.send(ops.prepare_initiate(key), ops.parse_initiate)
    assert seen[0]["line"] == f"POST {path}?uploads HTTP/1.1"
    assert seen[0]["headers"]["Host"] == base[len("http://"):]
    transport.close()


def test_file_body_sent_with_content_length_not_chunked(recorder: Tuple[str, List[Dict[str, Any]]], tmp_path: Any) -> None:
    base, seen = recorder
    transport, _ = make_transport(endpoint=base)
    path = tmp_path / "data.bin"
    path.write_bytes(b"P" * 100 + b"Q" * 3_000_000)
    with path.open("rb") as stream:
        stream.seek(100)
        call = ops.prepare_upload_part("k", UPLOAD, 1, stream, content_length=3_000_000)
        transport.send(call, lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=3_000_000))
    headers = seen[0]["headers"]
    assert headers["Content-Length"] == "3000000" and "Transfer-Encoding" not in headers
    assert seen[0]["size"] == 3_000_000 and seen[0]["head"] == b"Q" * 16
    transport.send(ops.prepare_upload_part("k", UPLOAD, 2, b""), lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=2, size=0))
    assert seen[1]["headers"]["Content-Length"] == "0" and "Transfer-Encoding" not in seen[1]["headers"]
    transport.close()


def test_short_body_fails_instead_of_hanging() -> None:
    from cos_multipart._io.transport import _BodyReader

    reader = _BodyReader(io.BytesIO(b"abc"), 5)
    assert len(reader) == 5 and reader.read(2) == b"ab" and len(reader) == 3
    with pytest.raises(OSError, match="2 bytes before"):
        reader.read(10)  # gets b"c", then the source is empty
        reader.read(10)


def test_shared_pool_blocks_instead_of_discarding(recorder: Tuple[str, List[Dict[str, Any]]], caplog: pytest.LogCaptureFixture) -> None:
    base, seen = recorder
    transport, _ = make_transport(endpoint=base, pool_size=2)
    errors: List[BaseException] = []

    def work(index: int) -> None:
        try:
            for _ in range(3):
                transport.send(ops.prepare_upload_part(f"k{index}", UPLOAD, 1, b"x" * 1000), lambda s, h, b: ops.parse_upload_part(s, h, b, part_number=1, size=1000))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    with caplog.at_level(logging.WARNING, logger="urllib3"):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors and len(seen) == 24
    assert "Connection pool is full" not in caplog.text
    transport.close()


# --- cancellation -----------------------------------------------------------------------------------------

PARSE_PART = functools.partial(ops.parse_upload_part, part_number=1, size=4)


@responses.activate
def test_cancel_ends_a_backoff_wait_at_once() -> None:
    responses.add(responses.PUT, f"{BASE}/k", status=503, body=b"<Error><Code>SlowDown</Code></Error>")
    # A first backoff of 30..60 minutes, so an uncut wait cannot be confused with a slow machine. The real
    # sleep: an injected one (tests) replaces the cancellable wait.
    transport, slept = make_transport(
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
    threading.Timer(0.2, cancel.set).start()
    sender.join(120)  # ends a broken run only: the wait it must cut lasts at least 30 minutes
    assert not sender.is_alive() and len(outcome) == 1 and isinstance(outcome[0], CosCancelledError), outcome
    assert len(responses.calls) == 1 and slept == []  # no second attempt


def test_cancelled_before_sending_sends_nothing() -> None:
    transport, _ = make_transport()
    cancel = threading.Event()
    cancel.set()
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        with pytest.raises(CosCancelledError):
            transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"data"), PARSE_PART, cancel=cancel)


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A server that reads requests and never answers, like COS stuck before its reply."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: List[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def waiting_upload(transport: Transport, cancel: threading.Event) -> Tuple[threading.Thread, List[BaseException]]:
    """A thread whose part upload is sent and then waits for an answer that never comes."""
    outcome: List[BaseException] = []

    def upload() -> None:
        try:
            transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"x" * 1000), PARSE_PART, cancel=cancel)
        except BaseException as error:  # noqa: BLE001 - the outcome is what the test checks
            outcome.append(error)

    worker = threading.Thread(target=upload)
    worker.start()
    time.sleep(0.3)
    return worker, outcome


def test_abort_connections_frees_a_request_waiting_for_its_answer(silent_server: str) -> None:
    transport, _ = make_transport(endpoint=silent_server, timeout=(5.0, 3600.0))
    cancel = threading.Event()
    worker, outcome = waiting_upload(transport, cancel)
    cancel.set()
    assert transport.abort_connections() >= 1
    worker.join(timeout=120)  # ends a broken run only: the read timeout it must not wait for is an hour
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], CosCancelledError)
    transport.close()


def test_abort_connections_of_another_scope_leaves_a_request_waiting(silent_server: str) -> None:
    transport, _ = make_transport(endpoint=silent_server, timeout=(5.0, 60.0))
    mine, other = threading.Event(), threading.Event()
    worker, outcome = waiting_upload(transport, mine)
    other.set()
    assert transport.abort_connections(cancel=other) == 0
    time.sleep(0.2)
    assert worker.is_alive() and not outcome  # untouched
    mine.set()
    assert transport.abort_connections(cancel=mine) == 1
    worker.join(timeout=5)
    assert len(outcome) == 1 and isinstance(outcome[0], CosCancelledError)
    transport.close()


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (requests.ConnectionError("refused"), FailureKind.CONNECTION),
        (requests.exceptions.ChunkedEncodingError("broken"), FailureKind.CONNECTION),
        (requests.ReadTimeout("slow"), FailureKind.TIMEOUT),
        (requests.ConnectTimeout("slow"), FailureKind.TIMEOUT),  # also a ConnectionError
        (requests.exceptions.InvalidURL("x"), FailureKind.OTHER),
        (OSError("seek failed"), FailureKind.BODY),
        (ValueError("x"), FailureKind.OTHER),
    ],
)
def test_failure_kinds_of_requests_exceptions(error: BaseException, kind: FailureKind) -> None:
    assert failure_kind(error) is kind


@responses.activate
def test_a_service_error_reaches_the_caller_as_raised_with_its_request_added() -> None:
    responses.add(responses.DELETE, f"{BASE}/k?uploadId={UPLOAD}", status=404)
    transport, _ = make_transport()
    raised: List[CosServiceError] = []

    def parse(status: int, headers: Any, body: bytes) -> None:
        raised.append(CosServiceError(status, "NoSuchUpload", "gone", request_id="r1"))
        raise raised[-1]

    with pytest.raises(CosServiceError) as info:
        transport.send(ops.prepare_abort("k", UPLOAD), parse)
    assert info.value is raised[0]  # not a copy
    assert (info.value.method, info.value.url) == ("DELETE", f"{BASE}/k")
    assert str(info.value) == f"404 NoSuchUpload: gone (DELETE {BASE}/k) [request id r1]"


def test_in_request_keeps_a_request_already_recorded() -> None:
    error = CosServiceError(500, "InternalError", method="PUT", url="http://a/k")
    assert error.in_request("GET", "http://b/other") is error and (error.method, error.url) == ("PUT", "http://a/k")
    assert "(PUT http://a/k)" in str(error)


# --- answer deadlines ---------------------------------------------------------------------------------------


def test_answer_deadlines_start_no_thread_per_request(recorder: Tuple[str, List[Dict[str, Any]]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread started (and ended) per request for its answer deadline froze Dask workers on CPython 3.11:
    a thread starting or ending while the worker's profiler runs ``sys._current_frames()`` can deadlock the
    process (python/cpython#106883). One watcher thread serves every deadline of the process."""
    base, seen = recorder
    started: List[str] = []
    original = threading.Thread.start
    me = threading.get_ident()

    def start(thread: threading.Thread) -> None:
        if threading.get_ident() == me:  # not the test server's threads
            started.append(thread.name)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    transport, _ = make_transport(endpoint=base, answer_deadline=30.0)
    parse = functools.partial(ops.parse_upload_part, part_number=1, size=10)
    for _ in range(40):
        transport.send(ops.prepare_upload_part("k", UPLOAD, 1, b"x" * 10), parse)
    transport.close()
    assert len(seen) == 40
    assert len(started) <= 1, started  # the watcher, if no earlier test of this process started it


def test_the_deadline_watcher_expires_the_earliest_deadline_first() -> None:
    from cos_multipart._io.transport import _Carrying

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
