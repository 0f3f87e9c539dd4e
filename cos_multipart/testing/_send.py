"""Writing a :class:`Reply` to the connection: the head, a small body, an object streamed segment after
segment, Complete's chunked answer with keep-alive whitespace, and resets.

Plain connections send object data with ``sendfile`` (no copy through Python); TLS connections, paced
answers and answers a reset fault cuts short go through the connection's buffer.
"""

from __future__ import annotations

import http
import socket
import ssl
import struct
import threading
from io import BufferedIOBase, FileIO
from typing import Callable, Iterator, List, Optional, Tuple

from ._body import Throttle
from ._messages import Completed, ObjectBody, Reply
from .server_dialect import COS, ServerDialect

#: Complete sends a whitespace chunk at least this often until it answers [ref 2.3].
KEEPALIVE_SECONDS = 1.0
SERVER_NAME = COS.server_name


class ConnectionReset(Exception):
    """Raised after the connection was reset on purpose (a fault)."""


class BodyTruncated(Exception):
    """Raised after an answer's body was cut short on purpose (a fault): the connection must close."""


def reset(connection: socket.socket, rfile: BufferedIOBase) -> None:
    """Abort ``connection`` with a TCP reset (SO_LINGER 0), as a failing network would; raises
    :class:`ConnectionReset`. (The reader holds the socket open until it is closed too.)"""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rfile.close()
    connection.close()
    raise ConnectionReset()


def head(reply: Reply, *, request_id: str, date: str, close: bool, dialect: ServerDialect = COS) -> bytes:
    """The status line and headers of ``reply``, in the header vocabulary of ``dialect``."""
    reason = http.HTTPStatus(reply.status).phrase if reply.status in http.HTTPStatus._value2member_map_ else ""
    lines: List[str] = [
        f"HTTP/1.1 {reply.status} {reason}",
        f"Server: {dialect.server_name}",
        f"Date: {date}",
        f"{dialect.request_id_header}: {request_id}",
    ]
    if reply.content_type:
        lines.append(f"Content-Type: {reply.content_type}")
    if reply.etag is not None:
        lines.append(f'ETag: "{reply.etag}"')
    if reply.crc64 is not None:
        lines.append(f"{dialect.crc64_header}: {reply.crc64}")
    lines.extend(f"{name}: {value}" for name, value in dialect.outbound(reply.headers))
    if reply.pending is not None:
        lines.append("Transfer-Encoding: chunked")
    elif reply.status not in (204, 304):
        lines.append(f"Content-Length: {reply.length if reply.length is not None else len(reply.body)}")
    lines.append(f"Connection: {'close' if close else 'keep-alive'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class ReplySender:
    """Sends the bodies of one connection's replies and counts the bytes sent.

    Args:
        connection: The socket (plain or TLS).
        rfile: Its reader (closed by a reset).
        wfile: Its writer.
        buffer: The connection's transfer buffer.
        stopping: Set when the server stops (ends paced waits).
    """

    def __init__(
        self, connection: socket.socket, rfile: BufferedIOBase, wfile: BufferedIOBase, buffer: memoryview, stopping: threading.Event
    ) -> None:
        self._connection = connection
        self._rfile = rfile
        self._wfile = wfile
        self._buffer = buffer
        self._stopping = stopping
        self._sendfile = not isinstance(connection, ssl.SSLSocket)
        self._damage_at: Optional[int] = None
        self.bytes_out = 0

    def write(self, data: bytes) -> None:
        """Send ``data`` as it is (a head)."""
        self._wfile.write(data)

    def body(self, data: bytes) -> None:
        """Send a small body."""
        self._wfile.write(data)
        self.bytes_out += len(data)

    def chunk(self, data: bytes) -> None:
        """Send one chunk of a chunked body (``b""``: the last one)."""
        self._wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n")
        self.bytes_out += len(data)

    def object(
        self,
        stream: ObjectBody,
        rate: Optional[float],
        reset_after: Optional[int],
        *,
        damage_at: Optional[int] = None,
        truncate_after: Optional[int] = None,
    ) -> None:
        """Send the object bytes of ``stream``, paced at ``rate``, resetting after ``reset_after`` bytes; flip
        the lowest bit of body byte ``damage_at``; stop after ``truncate_after`` bytes (then
        :class:`BodyTruncated` is raised)."""
        pieces = stream.reader.pieces(stream.first, stream.length)
        self._damage_at = None if damage_at is None else self.bytes_out + damage_at
        if truncate_after is not None:
            pieces = _cut(pieces, truncate_after)
        if rate is None and reset_after is None and damage_at is None and truncate_after is None and self._sendfile:
            for data, offset, count in pieces:
                sent = self._connection.sendfile(data, offset, count)
                self.bytes_out += sent
                if sent < count:
                    raise OSError("the object data ended early")
            return
        throttle = Throttle(rate, self._stopping)
        for data, offset, count in pieces:
            data.seek(offset)
            self._buffered(data, count, throttle, reset_after)
        if truncate_after is not None:
            self._wfile.flush()
            raise BodyTruncated()

    def _buffered(self, data: FileIO, count: int, throttle: Throttle, reset_after: Optional[int]) -> None:
        remaining = count
        while remaining:
            want = min(throttle.chunk(), remaining)
            if reset_after is not None:
                want = min(want, reset_after - self.bytes_out)
                if want <= 0:
                    self.reset()
            got = data.readinto(self._buffer[:want])
            if not got:
                raise OSError("the object data ended early")
            damaged = self._damage_at
            if damaged is not None and self.bytes_out <= damaged < self.bytes_out + got:
                self._buffer[damaged - self.bytes_out] ^= 0x01
            self._wfile.write(self._buffer[:got])
            remaining -= got
            self.bytes_out += got
            throttle.account(got)

    def reset(self) -> None:
        """Reset the connection (see :func:`reset`)."""
        reset(self._connection, self._rfile)

    def completion(self, pending: Callable[[], Completed], render: Callable[[Completed], bytes]) -> Completed:
        """Send whitespace chunks every :data:`KEEPALIVE_SECONDS` while ``pending`` runs (COS answers at once
        and sends whitespace while it merges the parts [ref 2.3]), then its rendered outcome."""
        keepalive = _KeepAlive(self.chunk, self._stopping)
        try:
            done = pending()
        finally:
            alive = keepalive.stop()
        if alive:  # the client left otherwise; the object is still assembled, as on COS
            self.chunk(render(done))
            self.chunk(b"")
        return done


def _cut(pieces: Iterator[Tuple[FileIO, int, int]], limit: int) -> Iterator[Tuple[FileIO, int, int]]:
    """The runs of ``pieces`` up to ``limit`` bytes in all."""
    left = limit
    for data, offset, count in pieces:
        if left <= 0:
            return
        yield data, offset, min(count, left)
        left -= count


class _KeepAlive:
    """A whitespace chunk now and then one every :data:`KEEPALIVE_SECONDS` from a thread, until stopped."""

    def __init__(self, write: Callable[[bytes], None], stopping: threading.Event) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stopping = stopping
        self._alive = True
        self._send()
        self._thread = threading.Thread(target=self._run, name="local-cos-keepalive", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        with self._lock:
            if self._alive and not self._done.is_set():
                try:
                    self._write(b"\n" + b" " * 31)
                except OSError:
                    self._alive = False

    def _run(self) -> None:
        while not self._done.wait(KEEPALIVE_SECONDS) and not self._stopping.is_set():
            self._send()

    def stop(self) -> bool:
        """Stop sending; whether the client is still there."""
        with self._lock:
            self._done.set()
        self._thread.join()
        return self._alive

