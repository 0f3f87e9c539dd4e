"""The local server's HTTP/1.1 parsing under hostile clients, over raw sockets: request framing that could
smuggle a second request (RFC 9112 6.3), trickled requests, more connections than the server allows."""

from __future__ import annotations

import os
import re
import select
import socket
import ssl
import threading
import time
from typing import Callable, Dict, List, Tuple
from urllib.parse import quote

import pytest
import requests

from cos_multipart._protocol.signer import SignWindow, sign
from cos_multipart.testing import LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

from .conftest import Raw, error_code


def _signed_head(cos: LocalCOS, method: str, path: str, headers: List[Tuple[str, str]]) -> bytes:
    """A signed request head; ``headers`` are sent as given (repeated names too) and are not signed."""
    host = f"127.0.0.1:{cos.port}"
    authorization = sign(cos.credentials, SignWindow.around(time.time()), method, path, {}, {"host": host})
    lines = [f"{method} {quote(path)} HTTP/1.1", f"Host: {host}", f"Authorization: {authorization}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks: List[bytes] = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _exchange(cos: LocalCOS, data: bytes) -> bytes:
    """Send ``data`` without closing our side; everything the server sends until it closes the connection
    (a server that keeps the connection open fails the test by the socket timeout)."""
    with socket.create_connection(("127.0.0.1", cos.port), timeout=20) as sock:
        sock.sendall(data)
        return _read_until_closed(sock)


# --- framing: Content-Length with Transfer-Encoding, conflicting Content-Lengths --------------------------

SMUGGLING_CASES: Dict[str, Tuple[List[Tuple[str, str]], bytes]] = {
    "length and chunked": ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")], b"0\r\n\r\n"),
    "chunked and length": ([("Transfer-Encoding", "chunked"), ("Content-Length", "5")], b"0\r\n\r\n"),
    "conflicting lengths": ([("Content-Length", "5"), ("Content-Length", "3")], b"abcde"),
    "conflicting lengths in one field": ([("Content-Length", "5, 3")], b"abcde"),
    "coding not ending in chunked": ([("Transfer-Encoding", "gzip")], b"abcde"),
}


@pytest.mark.parametrize("dialect", ["cos", "oss"])
@pytest.mark.parametrize("case", sorted(SMUGGLING_CASES))
def test_ambiguous_framing_is_400_and_the_connection_closes(
    local_cos_factory: LocalCOSFactory, case: str, dialect: str
) -> None:
    cos = local_cos_factory(anonymous=True, dialect=dialect)
    headers, body = SMUGGLING_CASES[case]
    # a second request follows: the server must not read it as one (the connection closes instead)
    follow = f"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1:{cos.port}\r\n\r\n".encode()
    reply = _exchange(cos, _signed_head(cos, "PUT", "/framed", headers) + body + follow)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:200]
    assert b"Connection: close" in reply
    assert reply.count(b"HTTP/1.1 ") == 1  # the follow-up request was never answered
    entry = cos.log_entries()[-1]
    assert (entry.status, entry.code) == (400, "InvalidRequest")
    assert cos.log_entries("PutObject") == []
    with cos.client() as client:
        assert client.find_object("framed") is None  # nothing was stored (before: "0\r\n\r" under Content-Length 5)


def test_a_repeated_equal_content_length_is_one_length(local_cos: LocalCOS) -> None:
    head = _signed_head(local_cos, "PUT", "/twice", [("Content-Length", "5"), ("Content-Length", "5"), ("Connection", "close")])
    reply = _exchange(local_cos, head + b"hello")
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert Raw(local_cos).request("GET", "twice").content == b"hello"


# --- a whole-request deadline: a client trickling its request is cut off --------------------------------


def _trickle(sock: socket.socket, data: bytes, pause: float = 0.05) -> int:
    """Send ``data`` one byte at a time, ``pause`` s apart, until the server answers or closes; how many
    bytes were sent."""
    for sent in range(len(data)):
        try:
            sock.sendall(data[sent : sent + 1])
        except (BrokenPipeError, ConnectionResetError):
            return sent
        readable, _, _ = select.select([sock], [], [], pause)
        if readable:
            return sent + 1
    return len(data)


def _connect(cos: LocalCOS) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", cos.port), timeout=30)
    if cos.ca_path is None:
        return sock
    return ssl.create_default_context(cafile=str(cos.ca_path)).wrap_socket(sock, server_hostname="127.0.0.1")


@pytest.mark.parametrize("tls", [False, True])
def test_a_trickled_body_is_cut_off_at_the_request_deadline(local_cos_factory: LocalCOSFactory, tls: bool) -> None:
    # each byte comes well within the idle timeout: only the whole-request deadline can end this
    cos = local_cos_factory(idle_timeout=30, request_timeout=1.0, tls=tls)
    body = b"x" * 2000
    with _connect(cos) as sock:
        sock.sendall(_signed_head(cos, "PUT", "/trickled", [("Content-Length", str(len(body)))]))
        sent = _trickle(sock, body)
        reply = _read_until_closed(sock)
    assert sent < len(body)
    assert reply.startswith(b"HTTP/1.1 400 ") and b"<Code>RequestTimeout</Code>" in reply, reply[:300]
    assert b"Connection: close" in reply
    assert cos.log_entries("PutObject")[-1].code == "RequestTimeout"
    with cos.client() as client:
        assert client.find_object("trickled") is None


def test_trickled_headers_are_cut_off_at_the_request_deadline(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(idle_timeout=30, request_timeout=1.0)
    head = _signed_head(cos, "GET", "/k", [("X-Padding", "p" * 2000)])[:-2]  # never ends
    with socket.create_connection(("127.0.0.1", cos.port), timeout=30) as sock:
        sent = _trickle(sock, head)
        reply = _read_until_closed(sock)
    assert sent < len(head)
    assert reply == b""  # closed without an answer: the request never got complete
    assert cos.log_entries() == []


def test_time_the_server_spends_pacing_a_body_does_not_count(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(request_timeout=2.0, bandwidth=100_000)
    body = os.urandom(500_000)  # about 5 s at the server's own pace, sent at once
    head = _signed_head(cos, "PUT", "/paced", [("Content-Length", str(len(body))), ("Connection", "close")])
    reply = _exchange(cos, head + body)
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:300]
    assert Raw(cos).request("GET", "paced").content == body


def test_request_timeout_and_max_connections_are_validated() -> None:
    from cos_multipart._protocol.errors import CosValidationError

    for options in ({"request_timeout": 0}, {"request_timeout": -1.0}, {"request_timeout": "60"},
                    {"max_connections": 0}, {"max_connections": 2.5}, {"max_connections": True}):
        with pytest.raises(CosValidationError) as caught:
            LocalCOS(**options)
        assert caught.value.field == next(iter(options))
    assert LocalCOS().request_timeout == 600.0 and LocalCOS(request_timeout=None).request_timeout is None


# --- at most max_connections connections -------------------------------------------------------------


def _get(sock: socket.socket, port: int, key: str) -> bytes:
    """One anonymous GET on a kept-alive connection; the whole answer (read to its Content-Length)."""
    sock.sendall(f"GET /{key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    data = _read_until_closed_or_head(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def test_an_idle_connection_makes_room_for_a_new_one(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(anonymous=True, max_connections=2)
    first, second = (socket.create_connection(("127.0.0.1", cos.port), timeout=20) for _ in range(2))
    with first, second:
        assert _get(first, cos.port, "a").startswith(b"HTTP/1.1 404 ")
        assert _get(second, cos.port, "b").startswith(b"HTTP/1.1 404 ")  # both now idle keep-alive
        with socket.create_connection(("127.0.0.1", cos.port), timeout=20) as third:
            assert _get(third, cos.port, "c").startswith(b"HTTP/1.1 404 ")
        assert cos.idle_connections_closed == 1
        closed, _, _ = select.select([first, second], [], [], 20)  # one was closed (EOF), only one
        assert len(closed) == 1 and closed[0].recv(100) == b""
        _wait_for(lambda: cos.open_connections == 1, "one open, the third closed")
        (still_open,) = {first, second} - set(closed)
        assert _get(still_open, cos.port, "d").startswith(b"HTTP/1.1 404 ")
    assert cos.connections_accepted == 3 and cos.idle_connections_closed == 1


def test_busy_connections_hold_new_ones_in_the_listen_queue(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(max_connections=2)
    busy = [socket.create_connection(("127.0.0.1", cos.port), timeout=20) for _ in range(2)]
    for index, sock in enumerate(busy):  # each in the middle of a request body: not idle
        sock.sendall(_signed_head(cos, "PUT", f"/busy{index}", [("Content-Length", "4")]) + b"ab")
    _wait_for(lambda: cos.requests_in_progress == 2, "two busy connections")
    waiting = socket.create_connection(("127.0.0.1", cos.port), timeout=20)  # the kernel completes the handshake
    waiting.sendall(_signed_head(cos, "GET", "/busy0", []))
    connection_threads = [t for t in threading.enumerate() if t.name == "local-cos-connection"]
    assert len(connection_threads) <= 2 and cos.connections_accepted == 2 and cos.open_connections == 2
    busy[0].sendall(b"cd")  # the first request completes; its connection becomes idle and makes room
    assert _read_until_closed_or_head(busy[0]).startswith(b"HTTP/1.1 200 ")
    with waiting:
        assert _read_until_closed_or_head(waiting).startswith(b"HTTP/1.1 200 ")
    assert cos.connections_accepted == 3 and cos.idle_connections_closed == 1
    for sock in busy:
        sock.close()


def _read_until_closed_or_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# --- the same from the command line ---------------------------------------------------------------------


def test_serve_max_connections_and_request_timeout_flags() -> None:
    from .test_cli_server import start_serve, stop

    process, banner = start_serve(["--anonymous", "--max-connections", "1", "--request-timeout", "1"])
    port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", "\n".join(banner)).group(1))  # type: ignore[union-attr]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as idle:
            assert _get(idle, port, "a").startswith(b"HTTP/1.1 404 ")
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:  # the idle one makes room
                sock.sendall(f"PUT /t HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2000\r\n\r\n".encode())
                sent = _trickle(sock, b"x" * 2000)
                reply = _read_until_closed(sock)
            assert idle.recv(100) == b""
        assert sent < 2000 and reply.startswith(b"HTTP/1.1 400 ") and b"RequestTimeout" in reply
    finally:
        code, _, err = stop(process)
    assert code == 0


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--max-connections", "0"], "--max-connections"), (["--request-timeout", "0"], "--request-timeout"),
     (["--request-timeout", "soon"], "--request-timeout")],
)
def test_serve_flags_are_validated(argv: List[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    from cos_multipart._protocol.errors import CosValidationError

    from .test_cli_server import parse

    try:
        args = parse(["serve", *argv])
    except SystemExit:
        assert flag in capsys.readouterr().err  # argparse names the flag
        return
    with pytest.raises(CosValidationError) as caught:
        args.handler(args)
    assert caught.value.field == flag


def test_serve_request_timeout_none_disables_the_deadline() -> None:
    from .test_cli_server import parse

    assert parse(["serve", "--request-timeout", "none"]).request_timeout is None
    assert parse(["serve"]).request_timeout == 600.0 and parse(["serve"]).max_connections == 256


# --- pre-signed URLs with parameters added after signing -------------------------------------------------

ADDED = "&response-content-type=text%2Fhtml&response-content-disposition=attachment%3B%20filename%3Dx.html"


def test_cos_serves_a_presigned_get_with_unsigned_response_parameters(local_cos: LocalCOS) -> None:
    # COS documents appending response-content-disposition to a pre-signed URL (SDK guides 436/40944,
    # 436/31544): parameters outside q-url-param-list are not signed and take effect
    with local_cos.client() as client:
        client.put_object("page.txt", b"<b>hi</b>")
        url = client.presign("page.txt")
        host = {"Host": client.endpoint.host}  # the endpoint (an IP) names no bucket: the signed Host does
    answer = requests.get(url + ADDED, headers=host, timeout=10)
    assert answer.status_code == 200 and answer.content == b"<b>hi</b>"
    assert answer.headers["Content-Type"] == "text/html"
    assert answer.headers["Content-Disposition"] == "attachment; filename=x.html"
    tampered = url.replace("page.txt", "other.txt")  # what is signed still binds
    assert error_code(requests.get(tampered, headers=host, timeout=10)) == "SignatureDoesNotMatch"


def test_oss_refuses_a_presigned_get_with_unsigned_response_parameters(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(dialect="oss")
    with cos.client() as client:
        client.put_object("page.txt", b"<b>hi</b>")
        url = client.presign("page.txt")
    assert requests.get(url, timeout=10).content == b"<b>hi</b>"
    assert error_code(requests.get(url + ADDED, timeout=10)) == "SignatureDoesNotMatch"


def test_more_connections_than_the_default_bound_never_mean_more_threads(local_cos: LocalCOS) -> None:
    # 300 clients that connect and say nothing: before the bound, 300 threads (and buffers) at once
    opened = [socket.create_connection(("127.0.0.1", local_cos.port), timeout=20) for _ in range(300)]
    try:
        _wait_for(lambda: local_cos.connections_accepted == 300, "every connection accepted in turn")
        serving = [t for t in threading.enumerate() if t.name == "local-cos-connection" and t.is_alive()]
        assert len(serving) <= 256
        assert local_cos.open_connections <= 256 and local_cos.idle_connections_closed >= 44
    finally:
        for sock in opened:
            sock.close()


def test_a_client_resetting_its_connection_is_not_an_error(local_cos: LocalCOS, caplog: pytest.LogCaptureFixture) -> None:
    import struct

    with socket.create_connection(("127.0.0.1", local_cos.port), timeout=20) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # half a request, then a TCP reset
        _wait_for(lambda: local_cos.connections_accepted == 1, "accepted")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _wait_for(lambda: local_cos.open_connections == 0, "the connection's thread ended")
    assert [record for record in caplog.records if record.levelname == "ERROR"] == []
