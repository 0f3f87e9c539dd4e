"""The scripted HTTP server itself (``tests/scripted_http.py``), driven by the standard library's client."""

from __future__ import annotations

import http.client
import socket
from typing import Dict, Iterator, Tuple

import pytest

from scripted_http import Recorded, ScriptedServer, encode_answer


@pytest.fixture()
def server() -> Iterator[ScriptedServer]:
    """A server whose failures the test itself looks at (``scripted`` would fail the test at teardown)."""
    with ScriptedServer() as made:
        yield made


def connect(server: ScriptedServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(server.base_url[len("http://") :], timeout=30)


def ask(connection: http.client.HTTPConnection, method: str, target: str, body: bytes = b"") -> Tuple[int, Dict[str, str], bytes]:
    connection.request(method, target, body=body or None, headers={"X-Case": "Kept"})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_answers_in_order_the_last_repeating_and_records_every_request(server: ScriptedServer) -> None:
    server.add("PUT", "/k", 500)
    server.add("PUT", "/k", 200, {"ETag": '"e"'}, b"ok")
    connection = connect(server)
    statuses = [ask(connection, "PUT", "/k?partNumber=1", b"abc")[0] for _ in range(3)]
    connection.close()
    assert statuses == [500, 200, 200]
    first = server.requests[0]
    assert (first.method, first.target, first.path, first.params, first.body, first.version) == ("PUT", "/k?partNumber=1", "/k", {"partNumber": "1"}, b"abc", "HTTP/1.1")
    assert first.headers["x-case"] == "Kept" and ("X-Case", "Kept") in first.headers.raw
    assert [request.connection for request in server.requests] == [1, 1, 1] and server.connections == 1
    assert server.failures == []


def test_a_route_naming_the_query_is_preferred_and_matches_in_any_order(server: ScriptedServer) -> None:
    server.add("GET", "/k", 200, body=b"any")
    server.add("GET", "/k?b=2&a=1", 200, body=b"this")
    connection = connect(server)
    assert ask(connection, "GET", "/k?a=1&b=2")[2] == b"this"
    assert ask(connection, "GET", "/k?a=1")[2] == b"any"
    connection.close()


def test_a_callback_sees_the_request(server: ScriptedServer) -> None:
    def echo(request: Recorded) -> Tuple[int, Dict[str, str], bytes]:
        return 201, {"X-Seen": request.method}, request.body[::-1]

    server.add_callback("POST", "/echo", echo)
    connection = connect(server)
    status, headers, body = ask(connection, "POST", "/echo", b"abc")
    connection.close()
    assert (status, headers["X-Seen"], body) == (201, "POST", b"cba")


def test_an_unexpected_request_gets_a_501_and_is_a_failure(server: ScriptedServer) -> None:
    connection = connect(server)
    assert ask(connection, "DELETE", "/nowhere")[0] == 501
    connection.close()
    assert server.failures == ["no rule for DELETE /nowhere"]


def test_a_chunked_or_longer_request_body_is_a_failure(server: ScriptedServer) -> None:
    server.add("PUT", "/k")
    with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))) as raw:
        raw.sendall(b"PUT /k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabcd")  # two bytes too many
        assert raw.recv(1024).startswith(b"HTTP/1.1 200 ")
        # Read to the server's close before closing: a socket closed with bytes of the answer still unread sends a
        # reset, and a reset makes the server's kernel drop the "cd" it has not read yet (then nothing to report).
        raw.shutdown(socket.SHUT_WR)
        while raw.recv(1024):
            pass
    with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))) as raw:
        raw.sendall(b"PUT /k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
        assert raw.recv(1024) == b""  # closed without an answer
    server.stop()  # every connection's thread has finished
    assert len(server.failures) == 2
    assert any("not a request line b'cd'" in failure for failure in server.failures)
    assert any("body sent chunked" in failure for failure in server.failures)


def test_close_reset_partial_and_stall(server: ScriptedServer) -> None:
    server.add_close("GET", "/close")
    server.add_reset("GET", "/reset")
    server.add_partial("GET", "/partial", 200, {}, b"0123456789", send_bytes=len(encode_answer(200, {}, b"0123456789")) - 4)
    stall = server.add_stall("GET", "/stall", 200, {}, b"late")
    with pytest.raises(http.client.RemoteDisconnected):
        ask(connect(server), "GET", "/close")
    with pytest.raises(ConnectionResetError):
        ask(connect(server), "GET", "/reset")
    with pytest.raises(http.client.IncompleteRead):
        ask(connect(server), "GET", "/partial")
    connection = connect(server)
    connection.request("GET", "/stall")
    assert stall.wait_arrived()
    stall.release()
    assert connection.getresponse().read() == b"late"
    connection.close()
    assert server.failures == []


def test_close_idle_closes_kept_alive_connections(server: ScriptedServer) -> None:
    server.add("GET", "/k", body=b"x")
    connection = connect(server)
    ask(connection, "GET", "/k")
    assert server.close_idle() == 1
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        ask(connection, "GET", "/k")
    connection.close()
    assert server.most_open == 1


def test_encode_answer_frames_bodies() -> None:
    assert encode_answer(200, {}, b"abc") == b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    assert encode_answer(204, {}, b"") == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert encode_answer(200, {"Content-Length": "3"}, b"abc", head_only=True) == b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
    chunked = encode_answer(200, [("Transfer-Encoding", "chunked")], b"abcdefg")
    assert chunked.endswith(b"\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n1\r\ng\r\n0\r\n\r\n")
