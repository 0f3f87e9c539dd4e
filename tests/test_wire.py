"""The HTTP/1.1 engine against a real socket whose other end writes exactly the bytes each test gives.

Each test scripts the server side byte for byte (how an answer is framed, split, folded, cut short), so
what RFC 9112 allows and what a broken server sends are both exercised on a real connection.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Callable, Iterator, List, Optional, Tuple

import pytest

from cos_multipart._io import _wire
from cos_multipart._io._wire import WireAnswer, WireConnection

Script = Callable[[socket.socket], None]


class RawServer:
    """Accepts connections on 127.0.0.1 and runs one script per connection, in order."""

    def __init__(self, scripts: List[Script]) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self.received: List[bytes] = []
        self.errors: List[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(scripts,), daemon=True)
        self._thread.start()

    def _serve(self, scripts: List[Script]) -> None:
        for script in scripts:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                try:
                    script(connection)
                except OSError:
                    pass
                except BaseException as error:  # noqa: BLE001 - reported by the test
                    self.errors.append(error)

    def close(self) -> None:
        self._listener.close()
        self._thread.join(10)


def read_request(connection: socket.socket) -> Tuple[bytes, bytes]:
    """One request's head and body (by its Content-Length) from ``connection``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += connection.recv(65536)
    return head, rest[:length]


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: List[RawServer] = []

    def start(*scripts: Script) -> RawServer:
        server = RawServer(list(scripts))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
        assert not server.errors, server.errors


def answering(*pieces: bytes, then: Callable[[socket.socket], None] = lambda c: None) -> Script:
    """A script that reads one request and writes ``pieces`` as separate sends."""

    def script(connection: socket.socket) -> None:
        read_request(connection)
        for piece in pieces:
            connection.sendall(piece)
        then(connection)

    return script


def exchange(port: int, method: str = "GET", body: bytes = b"") -> Tuple[WireAnswer, List[Tuple[WireConnection, bool]]]:
    released: List[Tuple[WireConnection, bool]] = []
    connection = _wire.connect("127.0.0.1", port, timeout=5, read_timeout=5, tls=None)
    fields = [("Host", "x"), ("Content-Length", str(len(body)))] if body else [("Host", "x")]
    connection.request(_wire.request_head(method, "/k", fields), body, len(body), 1024)
    return WireAnswer(connection, method, lambda used, keep: released.append((used, keep))), released


def test_a_head_split_over_many_segments_is_read_whole(serve: Callable[..., RawServer]) -> None:
    answer_bytes = b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nx-cos-request-id: r1\r\nContent-Length: 5\r\n\r\nhello"
    server = serve(answering(*[answer_bytes[i : i + 3] for i in range(0, len(answer_bytes), 3)]))
    answer, released = exchange(server.port)
    assert answer.status == 200 and answer.headers["etag"] == '"abc"' and answer.headers["X-Cos-Request-Id"] == "r1"
    assert answer.read(100) == b"hello" and answer.read(10) == b""
    assert released and released[0][1] is True  # read to its end, keep-alive: reusable


def test_chunked_answer_with_extensions_and_trailers(serve: Callable[..., RawServer]) -> None:
    server = serve(answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"3;ext=1\r\nabc\r\n",
                             b"A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"))  # fmt: skip
    answer, released = exchange(server.port)
    assert answer.read(4) == b"abc0" and answer.read(100) == b"123456789" and answer.read(1) == b""
    assert released[0][1] is True


def test_interim_answers_are_skipped_and_folded_and_repeated_fields_joined(serve: Callable[..., RawServer]) -> None:
    server = serve(answering(b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
                             b"HTTP/1.1 404 Not Found\r\nX-A: one\r\n  two\r\nX-B: 1\r\nx-b: 2\r\nContent-Length: 0\r\n\r\n"))  # fmt: skip
    answer, _ = exchange(server.port)
    assert answer.status == 404 and answer.headers["x-a"] == "one two" and answer.headers["X-B"] == "1, 2"
    assert "Link" not in answer.headers and list(answer.headers) == ["X-A", "X-B", "Content-Length"]


def test_a_body_framed_by_the_close_is_read_and_the_connection_not_kept(serve: Callable[..., RawServer]) -> None:
    server = serve(answering(b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end"))
    answer, released = exchange(server.port)
    assert answer.read(1000) == b"until the end"
    assert released[0][1] is False


@pytest.mark.parametrize(
    ("head", "keep"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 204 No Content\r\n\r\n", True),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", True),
    ],
)
def test_which_answers_leave_the_connection_reusable(serve: Callable[..., RawServer], head: bytes, keep: bool) -> None:
    server = serve(answering(head))
    answer, released = exchange(server.port)
    assert answer.done and released[0][1] is keep


def test_a_head_answer_has_no_body_whatever_its_content_length(serve: Callable[..., RawServer]) -> None:
    server = serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"))
    answer, released = exchange(server.port, "HEAD")
    assert answer.read(10) == b"" and released[0][1] is True


@pytest.mark.parametrize(
    ("pieces", "error"),
    [
        ((), _wire.ClosedWithoutAnswer),
        ((b"HTTP/1.1 200 OK\r\nContent-Le",), _wire.AnswerBrokeOff),
        ((b"SMTP ready\r\n\r\n",), _wire.BadAnswer),
        ((b"HTTP/1.1 2x0 OK\r\n\r\n",), _wire.BadAnswer),
        ((b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",), _wire.BadAnswer),
        ((b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",), _wire.BadAnswer),
        ((b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",), _wire.BadAnswer),
        ((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",), _wire.BadAnswer),
        ((b"HTTP/1.1 200 OK\r\nX: " + b"a" * (_wire.MAX_HEAD_BYTES + 10),), _wire.BadAnswer),
    ],
)
def test_broken_heads_fail_with_what_broke(serve: Callable[..., RawServer], pieces: Tuple[bytes, ...], error: type) -> None:
    server = serve(answering(*pieces))
    with pytest.raises(error):
        exchange(server.port)


@pytest.mark.parametrize(
    "pieces",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",),
    ],
)
def test_a_body_cut_short_is_an_answer_broken_off(serve: Callable[..., RawServer], pieces: Tuple[bytes, ...]) -> None:
    server = serve(answering(*pieces))
    answer, released = exchange(server.port)
    with pytest.raises(_wire.AnswerBrokeOff):
        answer.read(100)
    answer.close()
    assert released == [(released[0][0], False)]


def test_a_bad_chunk_size_is_refused(serve: Callable[..., RawServer]) -> None:
    server = serve(answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
    answer, _ = exchange(server.port)
    with pytest.raises(_wire.BadAnswer):
        answer.read(10)


def test_an_answer_closed_unread_does_not_give_the_connection_back_for_reuse(serve: Callable[..., RawServer]) -> None:
    server = serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"))
    answer, released = exchange(server.port)
    assert answer.read(3) == b"012"
    answer.close()
    answer.close()  # once only
    assert [keep for _, keep in released] == [False]


def test_a_small_body_leaves_with_its_head_in_one_write_and_a_large_one_whole(serve: Callable[..., RawServer]) -> None:
    seen: List[Tuple[bytes, bytes]] = []

    def record(connection: socket.socket) -> None:
        for _ in range(2):
            seen.append(read_request(connection))
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    server = serve(record)
    connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=5, tls=None)
    for body in (b"s" * 100, bytes(range(256)) * 1000):
        head = _wire.request_head("PUT", "/k", [("Host", "x"), ("Content-Length", str(len(body)))])
        connection.request(head, memoryview(bytearray(body)), len(body), 4096)
        WireAnswer(connection, "PUT", lambda used, keep: None)
    assert [body for _, body in seen] == [b"s" * 100, bytes(range(256)) * 1000]


def test_a_file_body_is_read_into_a_page_aligned_buffer_kept_with_the_connection(serve: Callable[..., RawServer]) -> None:
    # Aligned, the kernel's copy of the file's pages into the buffer costs ~25 % less CPU than into a bytearray's
    # storage (16 bytes past a cache line): see _buffers.aligned_buffer.
    import ctypes

    seen: List[Tuple[bytes, bytes]] = []

    def record(connection: socket.socket) -> None:
        for _ in range(2):
            seen.append(read_request(connection))
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    class FileBody:
        def __init__(self, data: bytes) -> None:
            self._data = data
            self._pos = 0

        def readinto(self, buffer: memoryview) -> int:
            count = min(len(buffer), len(self._data) - self._pos)
            buffer[:count] = self._data[self._pos : self._pos + count]
            self._pos += count
            return count

    server = serve(record)
    connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=5, tls=None)
    buffers = []
    for body in (bytes(range(256)) * 1000, bytes(range(255, -1, -1)) * 999):
        head = _wire.request_head("PUT", "/k", [("Host", "x"), ("Content-Length", str(len(body)))])
        connection.request(head, FileBody(body), len(body), 65536)
        WireAnswer(connection, "PUT", lambda used, keep: None)
        buffers.append(connection._send_buffer)
    assert [body for _, body in seen] == [bytes(range(256)) * 1000, bytes(range(255, -1, -1)) * 999]
    assert buffers[0] is not None and buffers[0] is buffers[1]  # made once, kept with the connection
    assert len(buffers[0]) == 65536
    assert ctypes.addressof(ctypes.c_char.from_buffer(buffers[0])) % 4096 == 0
    connection.close()


def test_a_file_body_shorter_than_its_length_fails_as_the_body_not_the_network(serve: Callable[..., RawServer]) -> None:
    import io

    server = serve(lambda connection: list(iter(lambda: connection.recv(100), b"")))  # reads until the client closes
    connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=5, tls=None)
    with pytest.raises(OSError, match="ended 6 bytes before its Content-Length") as caught:
        connection.request(b"PUT / HTTP/1.1\r\n\r\n", io.BytesIO(b"four"), 10, 3)
    assert not isinstance(caught.value, _wire.WireFailure)
    connection.close()


def test_an_error_answered_before_the_body_was_taken_is_read_after_the_reset(serve: Callable[..., RawServer]) -> None:
    """A server refusing a large body answers and closes; the client's write then fails, but the answer is there."""
    from cos_multipart._io._carrying import ConnectionRegistry
    from cos_multipart._io._wirepool import WireEngine

    def refuse(connection: socket.socket) -> None:
        connection.recv(1024)
        connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden")
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    server = serve(refuse)
    engine = WireEngine(
        f"http://127.0.0.1:{server.port}", tls=None, pool_size=1, blocksize=64 * 1024, timeout=(5, 5), answer_deadline=30,
        watcher=ConnectionRegistry(),
    )  # fmt: skip
    body = b"x" * (32 * 1024 * 1024)
    answer = engine.send("PUT", "/k", [("Content-Length", str(len(body)))], body, len(body), None)
    assert answer.status == 403 and answer.read(100) == b"forbidden"
    engine.close()


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("x-cos-meta-a", "v\r\nInjected: 1", "header value of 'x-cos-meta-a'"),
        ("x-cos-meta-a", "v\nx", "header value"),
        ("bad name", "v", "header name 'bad name'"),
        ("x-cos-meta-a", "caf\u00e9\u4e2d", "outside Latin-1"),
    ],
)
def test_header_fields_that_would_break_the_head_are_refused_without_quoting_the_value(name: str, value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        _wire.request_head("PUT", "/k", [(name, value)])
    assert "Injected" not in str(caught.value) and "\u4e2d" not in str(caught.value)


def test_connecting_where_nobody_listens_is_a_wire_failure_wrapping_the_refusal() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(_wire.WireFailure) as caught:
        _wire.connect("127.0.0.1", port, timeout=5, read_timeout=5, tls=None)
    assert isinstance(caught.value.args[0], ConnectionRefusedError)


def test_a_silent_server_is_a_read_timeout(serve: Callable[..., RawServer]) -> None:
    release = threading.Event()
    server = serve(lambda connection: (read_request(connection), release.wait(10)))
    connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=0.05, tls=None)
    connection.request(_wire.request_head("GET", "/k", [("Host", "x")]), None, 0, 1024)
    with pytest.raises(_wire.ReadTimeout):
        WireAnswer(connection, "GET", lambda used, keep: None)
    release.set()


def test_an_answer_trickling_forever_meets_the_deadline_not_the_read_timeout(serve: Callable[..., RawServer]) -> None:
    """Each byte resets the read timeout; the deadline set when the request was written still ends it."""
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not stop.wait(0.01):
            connection.sendall(b"a")  # never ends the head

    server = serve(trickle)
    connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=5, tls=None)
    connection.request(_wire.request_head("GET", "/k", [("Host", "x")]), None, 0, 1024)
    connection.set_deadline(0.2)
    with pytest.raises(_wire.DeadlinePassed):
        WireAnswer(connection, "GET", lambda used, keep: None)
    stop.set()
    connection.close()


def test_a_streamed_body_is_read_past_the_deadline_once_it_is_lifted(serve: Callable[..., RawServer]) -> None:
    release = threading.Event()

    def late_body(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
        release.wait(10)
        connection.sendall(b"cd")

    server = serve(late_body)
    connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=5, tls=None)
    connection.request(_wire.request_head("GET", "/k", [("Host", "x")]), None, 0, 1024)
    connection.set_deadline(0.05)
    answer = WireAnswer(connection, "GET", lambda used, keep: None)
    answer.end_deadline()
    assert answer.read(2) == b"ab"
    threading.Timer(0.2, release.set).start()  # after the deadline would have passed
    assert answer.read(2) == b"cd"


def test_a_client_without_a_proxy_never_imports_requests() -> None:
    """requests (with urllib3, http.client and the email package: ~80 ms per process) is the proxy engine's."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from cos_multipart._io.client import CosClient\n"
        "from cos_multipart._drivers.uploader import upload_file\n"
        "from cos_multipart._protocol.credentials import Credentials\n"
        "for url in ('http://127.0.0.1:9', 'https://127.0.0.1:9'):\n"
        "    CosClient('b-1250000000', 'ap-guangzhou', Credentials('AKIDx', 'k'), endpoint=url).close()\n"
        "loaded = sorted(m for m in ('requests', 'urllib3', 'http.client') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert done.stdout.strip() == "", done.stdout


def test_a_silent_tls_server_is_a_read_timeout_too() -> None:
    """Over TLS the socket keeps Python's own timeout: its TLS layer retries a read the kernel timed out."""
    import ssl

    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)
    release = threading.Event()

    def silent(connection: socket.socket) -> None:
        with server_context.wrap_socket(connection, server_side=True) as secured:
            secured.recv(65536)
            release.wait(30)

    server = RawServer([silent])
    try:
        connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=0.2, tls=client_context)
        connection.request(_wire.request_head("GET", "/k", [("Host", "x")]), None, 0, 1024)
        with pytest.raises(_wire.ReadTimeout):
            WireAnswer(connection, "GET", lambda used, keep: None)
        connection.close()
    finally:
        release.set()
        server.close()


def test_a_server_that_stops_reading_the_body_is_a_write_timeout(serve: Callable[..., RawServer]) -> None:
    """Each block must leave within the read timeout (the kernel's send timeout on Linux)."""
    release = threading.Event()
    server = serve(lambda connection: (connection.recv(1024), release.wait(30)))
    connection = _wire.connect("127.0.0.1", server.port, timeout=5, read_timeout=0.2, tls=None)
    body = b"x" * (64 * 1024 * 1024)  # far more than the socket buffers hold
    try:
        with pytest.raises(_wire.ReadTimeout):
            connection.request(b"PUT /k HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body), body, len(body), 1024 * 1024)
    finally:
        release.set()
        connection.close()


def test_an_interrupt_in_the_main_thread_while_it_takes_a_connection_leaves_the_pool_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C raised inside a Python-level ``Condition.__enter__`` right after it took its lock leaves that lock
    held for good; the pool must not take its lock that way (every other thread would then block on it)."""
    import threading as threads

    from cos_multipart._io._wirepool import WirePool

    opened: List[int] = []

    class Stub(WireConnection):
        def __init__(self) -> None:  # noqa: D107 - no socket: the pool only counts and hands out
            opened.append(1)

        def dropped(self) -> bool:
            return False

        def set_deadline(self, seconds: Optional[float]) -> None:
            pass

        def close(self) -> None:
            pass

    pool = WirePool(Stub, 2)
    enter = threads.Condition.__enter__

    def interrupted(self: threads.Condition) -> bool:
        enter(self)
        raise KeyboardInterrupt  # as a signal handler would, right after the lock was taken

    monkeypatch.setattr(threads.Condition, "__enter__", interrupted)
    try:
        pool.give_back(pool.take(None), True)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(threads.Condition, "__enter__", enter)
    taken: List[WireConnection] = []
    other = threads.Thread(target=lambda: taken.append(pool.take(None)), daemon=True)
    other.start()
    other.join(10)  # only a leaked lock makes it wait
    assert taken, "the pool's lock was left held by the interrupt"
