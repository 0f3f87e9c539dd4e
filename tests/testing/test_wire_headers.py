"""The local server reads request headers as ``http.server`` does (its own plain-block parser, see
``_headers.py``): limits, the order of errors, ``Connection``, over raw sockets."""

from __future__ import annotations

import socket
from typing import List

import pytest

from cos_multipart.testing import LocalCOS
from cos_multipart.testing._headers import MAX_HEADERS, MAX_LINE
from cos_multipart.testing.pytest_plugin import LocalCOSFactory


def _exchange(cos: LocalCOS, data: bytes) -> bytes:
    """Send ``data``; everything the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", cos.port), timeout=20) as sock:
        sock.sendall(data)
        chunks: List[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def cos(local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(anonymous=True)


def test_a_header_line_too_long_is_431(cos: LocalCOS) -> None:
    reply = _exchange(cos, b"GET / HTTP/1.1\r\nX-Long: " + b"a" * MAX_LINE + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_too_many_headers_is_431(cos: LocalCOS) -> None:
    many = b"".join(b"X-H%d: v\r\n" % number for number in range(MAX_HEADERS + 1))
    reply = _exchange(cos, b"GET / HTTP/1.1\r\n" + many + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_a_bad_request_line_is_answered_before_the_headers_are_read(cos: LocalCOS) -> None:
    reply = _exchange(cos, b"GET / HTTP/1.1 extra\r\nX-Long: " + b"a" * MAX_LINE + b"\r\n\r\n")
    # http.server answers a request line it cannot parse as to HTTP/0.9: an error page without a status line
    assert b"Error code: 400" in reply and b"431" not in reply, reply[:200]


def test_connection_close_closes_after_the_answer(cos: LocalCOS) -> None:
    host = f"Host: 127.0.0.1:{cos.port}\r\n".encode()
    first = b"GET /a HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n"
    reply = _exchange(cos, first + b"GET /b HTTP/1.1\r\n" + host + b"\r\n")
    assert reply.count(b"HTTP/1.1 ") == 1  # the second request was not read


def test_keep_alive_serves_pipelined_requests_then_close(cos: LocalCOS) -> None:
    host = f"Host: 127.0.0.1:{cos.port}\r\n".encode()
    first = b"GET /a HTTP/1.1\r\n" + host + b"X-Folded: a\r\n b\r\n\r\n"  # obs-fold: the email parser's path
    last = b"GET /b HTTP/1.1\r\n" + host + b"connection: CLOSE\r\n\r\n"
    reply = _exchange(cos, first + last)
    assert reply.count(b"HTTP/1.1 ") == 2
    assert [entry.path for entry in cos.log_entries()][-2:] == ["/a", "/b"]
