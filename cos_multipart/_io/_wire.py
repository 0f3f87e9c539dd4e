"""HTTP/1.1 over a socket, as the transport needs it and no more: one request written, one answer read.

The transport sends every request without a proxy through this module (``requests`` stays for proxies).
What it does per request: the head and a small body leave in one ``sendall`` (a larger body follows in
``blocksize`` writes, each with the full send timeout), and the answer's head is read with as few
``recv`` calls as it arrived in and parsed from bytes. ``requests`` + urllib3 spent ~0.2-0.7 ms of Python per
request on work this client never needs (cookies, hooks, redirects, the ``email`` package parsing each
answer's headers); over many small files that was most of the client's CPU (docs/benchmarks.md).

What it reads, per RFC 9112: a status line, header fields (a folded line joins the one before), then the body
framed by ``Transfer-Encoding: chunked``, else ``Content-Length``, else the connection's end (then the
connection is not reused); a HEAD answer and 1xx/204/304 have no body, and 1xx interim answers are skipped.
A connection is reused only when its answer was read to the end and neither side said ``close``.

Failures are this module's exceptions, each wrapping the socket's own (so a reset still reads as a reset):
:class:`WireFailure` (a connection-level failure), :class:`TLSFailure` (the handshake), :class:`WireTimeout`
(:class:`ConnectTimeout`, :class:`ReadTimeout`), and the named ends :class:`ClosedWithoutAnswer` and
:class:`AnswerBrokeOff`. An ``OSError`` that is none of these came from reading the request body, not the
network.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import sys
import time
from typing import Any, Callable, Dict, ItemsView, Iterator, List, Mapping, Optional, Tuple

from ._buffers import aligned_buffer

__all__ = [
    "AnswerBrokeOff",
    "BadAnswer",
    "ClosedWithoutAnswer",
    "ConnectTimeout",
    "DeadlinePassed",
    "ReadTimeout",
    "TLSFailure",
    "WireAnswer",
    "WireConnection",
    "WireFailure",
    "WireHeaders",
    "WireTimeout",
    "connect",
    "request_head",
]

#: The longest answer head accepted (status line and header fields): a server sending more is broken.
MAX_HEAD_BYTES = 64 * 1024
#: The most header fields accepted in one answer.
MAX_HEADER_FIELDS = 200
#: The longest chunk-size line of a chunked answer.
_MAX_CHUNK_LINE = 4096
#: A body up to this size leaves with its head in one write (one segment, no wait for a delayed ACK).
SMALL_BODY = 64 * 1024
_RECEIVE = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


class WireFailure(ConnectionError):
    """The connection failed (refused, reset, closed, a malformed answer); the cause is the first argument
    when the socket raised one."""


class TLSFailure(WireFailure):
    """The TLS handshake failed (an untrusted or expired certificate, another host's, no common protocol)."""


class ClosedWithoutAnswer(WireFailure):
    """The server closed the connection before sending any byte of an answer."""


class AnswerBrokeOff(WireFailure):
    """The answer ended before its head or its body was complete."""


class BadAnswer(WireFailure):
    """The answer is not HTTP/1.x as RFC 9112 frames it (a bad status line, header field or chunk size)."""


class WireTimeout(TimeoutError):
    """No progress within the timeout."""


class ConnectTimeout(WireTimeout):
    """The connection (and its TLS handshake) was not made within the connect timeout."""


class ReadTimeout(WireTimeout):
    """Writing the request or reading its answer made no progress within the read timeout."""


class DeadlinePassed(WireTimeout):
    """The whole answer did not arrive within the deadline set when the request was written."""


class WireHeaders(Mapping[str, str]):
    """An answer's header fields: looked up in any case, iterated with the names as sent; a field sent
    several times has its values joined with ``", "`` (RFC 9110, 5.3)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Dict[str, Tuple[str, str]]) -> None:
        self._fields = fields  # lowercase name -> (name as sent, value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def get(self, name: str, default: Any = None) -> Any:
        field = self._fields.get(name.lower())
        return default if field is None else field[1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def items(self) -> ItemsView[str, str]:
        # Every parser lowers the names of every field: one C-level copy, not a lookup per field.
        return dict(self._fields.values()).items()

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"WireHeaders({[name for name, _ in self._fields.values()]!r})"  # names only: values may be secret


def connect(
    host: str,
    port: int,
    *,
    timeout: Optional[float],
    read_timeout: Optional[float],
    tls: Optional[ssl.SSLContext],
    server_hostname: Optional[str] = None,
) -> "WireConnection":
    """A new connection to ``host:port`` (TLS with ``tls``), made within ``timeout`` seconds.

    Raises:
        ConnectTimeout: Not connected (handshake included) in time.
        TLSFailure: The handshake failed.
        WireFailure: Anything else (refused, unresolvable, reset).
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as error:  # TimeoutError from 3.10: caught before OSError
        raise ConnectTimeout(error) from error
    except OSError as error:
        raise WireFailure(error) from error
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=server_hostname or host)
    except TimeoutError as error:
        sock.close()
        raise ConnectTimeout(error) from error
    except ssl.SSLError as error:
        sock.close()
        raise TLSFailure(error) from error
    except OSError as error:
        sock.close()
        raise WireFailure(error) from error
    return WireConnection(sock, read_timeout)


#: On Linux a connection's timeouts are the kernel's (SO_RCVTIMEO, SO_SNDTIMEO on a blocking socket): Python's
#: own timeout polls the socket before every send and receive, one more system call and one more hand-off of
#: the GIL each, which many threads sending small files paid several times per file.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_BYTES_LIKE = (bytes, bytearray, memoryview)
#: What a send or receive raises when the kernel's timeout passed on a blocking socket.
_TIMED_OUT = (TimeoutError, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def _timeval(seconds: Optional[float]) -> bytes:
    if seconds is None:
        return struct.pack("ll", 0, 0)  # no limit
    whole = int(seconds)
    micro = max(1, int((seconds - whole) * 1_000_000)) if whole == 0 else int((seconds - whole) * 1_000_000)
    return struct.pack("ll", whole, micro)




class WireConnection:
    """One HTTP/1.1 connection: writes requests and reads their answers, one at a time.

    ``sock`` is public so that a watcher (the transport's connection registry) can shut it down from another
    thread: the request blocked on it then fails at once.
    """

    __slots__ = (
        "__weakref__", "_buffer", "_deadline", "_end", "_kernel", "_read_timeout", "_send_buffer", "_shortened", "_start", "sock",
    )  # fmt: skip

    def __init__(self, sock: socket.socket, read_timeout: Optional[float]) -> None:
        self.sock = sock
        self._buffer = bytearray(_RECEIVE)
        self._start = 0
        self._end = 0
        self._read_timeout = read_timeout
        #: A large body's blocks are read into this (made at the first such body, kept with the connection).
        self._send_buffer: Optional[memoryview] = None
        # The kernel keeps the time on Linux, but not over TLS: Python's TLS layer retries a read the kernel timed
        # out on a blocking socket, so only its own timeout ends a silent TLS peer.
        self._kernel = _KERNEL_TIMEOUTS and not isinstance(sock, ssl.SSLSocket)
        if self._kernel:
            sock.settimeout(None)  # blocking: SO_RCVTIMEO/SO_SNDTIMEO bound each call
        self._set_timeout(read_timeout)
        self._deadline: Optional[float] = None
        self._shortened = False

    def set_deadline(self, seconds: Optional[float]) -> None:
        """Bound reading the answer to ``seconds`` from now (``None``: no bound beyond the read timeout).

        The read timeout alone is reset by every byte, so an answer trickling in would never meet it. Each
        read here waits at most for what is left of the deadline; no watcher thread is involved.
        """
        self._deadline = None if seconds is None else time.monotonic() + seconds
        if seconds is None and self._shortened:
            self._set_timeout(self._read_timeout)
            self._shortened = False

    def _set_timeout(self, seconds: Optional[float]) -> None:
        """Each send and receive waits at most ``seconds`` (``None``: without limit)."""
        if self._kernel:
            value = _timeval(seconds)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        else:
            self.sock.settimeout(seconds)

    def _before_read(self) -> None:
        deadline = self._deadline
        if deadline is None:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("the answer's deadline passed")
        if self._read_timeout is None or left < self._read_timeout:
            self._set_timeout(left)
            self._shortened = True

    def _read_failed(self, error: OSError) -> Exception:
        if isinstance(error, _TIMED_OUT):
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return DeadlinePassed(error)
            return ReadTimeout(error)
        return WireFailure(error)

    def dropped(self) -> bool:
        """Whether the idle connection can no longer carry a request: closed by the server, or with bytes
        nobody asked for waiting (checked without blocking before a pooled connection is reused)."""
        if self._start != self._end:
            return True
        if self._kernel:  # a plain socket on Linux: one peek, no poll object
            try:
                self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                return True  # bytes nobody asked for, or b"": closed by the server
            except BlockingIOError:
                return False  # nothing to read: alive
            except (OSError, ValueError):
                return True
        try:
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):  # closed, or shut down by a watcher
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def request(self, head: bytes, body: Any, length: int, blocksize: int) -> None:
        """Write ``head`` and ``length`` bytes of ``body`` (bytes-like, or an object with ``read(n)``, read into
        the connection's own buffer when it has ``readinto``), in writes of at most ``blocksize`` bytes.

        Raises:
            ReadTimeout: A write made no progress within the socket's timeout.
            WireFailure: The connection failed.
            OSError: Reading ``body`` failed (not a :class:`WireFailure`: the network is not at fault).
        """
        if length <= SMALL_BODY and body is not None and not isinstance(body, _BYTES_LIKE):
            body = _read_exactly(body, length)  # read first (a failure is the body's own): one write with the head
        if body is None or length == 0:
            self._send(head)
        elif isinstance(body, _BYTES_LIKE):
            view = memoryview(body).cast("B")[:length]
            if length <= SMALL_BODY:
                self._send(head + view)
                return
            self._send(head)
            for offset in range(0, length, blocksize):
                self._send(view[offset : offset + blocksize])
        else:
            self._send(head)
            for block in self._blocks(body, length, blocksize):
                self._send(block)

    def _blocks(self, body: Any, length: int, blocksize: int) -> Iterator[Any]:
        """``length`` bytes of ``body`` in blocks of up to ``blocksize``; an OSError is the body's own."""
        readinto: Optional[Callable[[memoryview], Optional[int]]] = getattr(body, "readinto", None)
        buffer: Optional[memoryview] = None
        if readinto is not None:
            if self._send_buffer is None or len(self._send_buffer) < blocksize:
                self._send_buffer = aligned_buffer(blocksize)  # page-aligned: the file's pages copy into it faster
            buffer = self._send_buffer
        left = length
        while left > 0:
            want = min(blocksize, left)
            if buffer is not None and readinto is not None:
                got = readinto(buffer[:want])
                block: Any = buffer[:got] if got else b""  # None (no data from a non-blocking file) is an end too
            else:
                block = body.read(want)
            if not block:
                raise OSError(f"request body ended {left} bytes before its Content-Length")
            left -= len(block)
            yield block  # sent before the next block is read into the same buffer

    def _send(self, data: Any) -> None:
        try:
            self.sock.sendall(data)
        except _TIMED_OUT as error:
            raise ReadTimeout(error) from error
        except OSError as error:
            raise WireFailure(error) from error

    # -- reading ---------------------------------------------------------------------------------------------

    def _fill(self) -> int:
        """Receive more bytes into the buffer; returns how many (0: the connection ended)."""
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == len(self._buffer):
            if self._start == 0:  # a head filling the whole buffer: grow it (bounded by MAX_HEAD_BYTES)
                self._buffer.extend(bytes(len(self._buffer)))
            else:
                self._buffer[: self._end - self._start] = self._buffer[self._start : self._end]
                self._end -= self._start
                self._start = 0
        self._before_read()
        try:
            with memoryview(self._buffer) as view:
                count = self.sock.recv_into(view[self._end :])
        except OSError as error:
            raise self._read_failed(error) from error
        self._end += count
        return count

    def read_head(self) -> Tuple[int, str, WireHeaders]:
        """The next answer's status, HTTP version and header fields (1xx interim answers skipped)."""
        while True:
            received_any = self._start != self._end
            while True:
                found = self._buffer.find(b"\r\n\r\n", self._start, self._end)
                if found >= 0:
                    break
                if self._end - self._start > MAX_HEAD_BYTES:
                    raise BadAnswer(f"answer head longer than {MAX_HEAD_BYTES} bytes")
                if not self._fill():
                    if received_any or self._start != self._end:
                        raise AnswerBrokeOff("the connection ended inside the answer's head")
                    raise ClosedWithoutAnswer("the connection ended before any answer")
                received_any = True
            head = bytes(self._buffer[self._start : found])
            self._start = found + 4
            status, version, headers = _parse_head(head)
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            return status, version, headers

    def read_into(self, view: memoryview) -> int:
        """Read up to ``len(view)`` bytes into ``view`` (buffered bytes first); 0 when the connection ended."""
        buffered = self._end - self._start
        if buffered:
            count = min(buffered, len(view))
            view[:count] = self._buffer[self._start : self._start + count]
            self._start += count
            return count
        self._before_read()
        try:
            return self.sock.recv_into(view)
        except OSError as error:
            raise self._read_failed(error) from error

    def read_line(self, limit: int) -> bytes:
        """One CRLF-terminated line without its end (for chunked framing)."""
        while True:
            found = self._buffer.find(b"\r\n", self._start, self._end)
            if found >= 0:
                line = bytes(self._buffer[self._start : found])
                self._start = found + 2
                return line
            if self._end - self._start > limit:
                raise BadAnswer("a chunk-size line too long")
            if not self._fill():
                raise AnswerBrokeOff("the connection ended inside a chunked answer")


def _read_exactly(body: Any, length: int) -> bytes:
    pieces = []
    left = length
    while left > 0:
        block = body.read(left)
        if not block:
            raise OSError(f"request body ended {left} bytes before its Content-Length")
        pieces.append(block)
        left -= len(block)
    return pieces[0] if len(pieces) == 1 and isinstance(pieces[0], bytes) else b"".join(pieces)


def _parse_head(head: bytes) -> Tuple[int, str, WireHeaders]:
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise BadAnswer(f"not an HTTP/1.x status line: {status_line[:60]!r}")
    if len(lines) - 1 > MAX_HEADER_FIELDS:
        raise BadAnswer(f"more than {MAX_HEADER_FIELDS} header fields")
    fields: Dict[str, Tuple[str, str]] = {}
    last: Optional[str] = None
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):  # obsolete line folding: part of the previous field's value
            if last is None:
                raise BadAnswer("a folded line before any header field")
            name, value = fields[last]
            fields[last] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadAnswer(f"malformed header field {name[:60]!r}")
        lowered = name.lower()
        value = value.strip()
        known = fields.get(lowered)
        fields[lowered] = (name, value) if known is None else (known[0], f"{known[1]}, {value}")
        last = lowered
    return int(parts[1]), parts[0], WireHeaders(fields)


class WireAnswer:
    """One answer being read: its status and headers, and its body as the caller asks for it.

    Reading the body to its end, or :meth:`close`, hands the connection to ``release`` with whether it can
    carry another request (a body left unread, or ``Connection: close``, closes it instead).
    """

    __slots__ = ("_chunk_left", "_connection", "_keep", "_left", "_mode", "_release", "headers", "status")

    _LENGTH, _CHUNKED, _UNTIL_CLOSE, _DONE = range(4)

    def __init__(self, connection: WireConnection, method: str, release: Any) -> None:
        self._connection: Optional[WireConnection] = connection
        self._release = release
        status, version, headers = connection.read_head()
        self.status = status
        self.headers = headers
        tokens = {token.strip().lower() for token in headers.get("Connection", "").split(",")}
        self._keep = "close" not in tokens and (version != "HTTP/1.0" or "keep-alive" in tokens)
        self._left = 0
        self._chunk_left = 0
        encoding = headers.get("Transfer-Encoding")
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            self._mode = WireAnswer._DONE
        elif encoding is not None:
            if encoding.split(",")[-1].strip().lower() != "chunked":
                raise BadAnswer(f"unsupported Transfer-Encoding {encoding[:60]!r}")
            self._mode = WireAnswer._CHUNKED
        elif "Content-Length" in headers:
            self._mode = WireAnswer._LENGTH
            self._left = _content_length(headers["Content-Length"])
            if self._left == 0:
                self._mode = WireAnswer._DONE
        else:
            self._mode = WireAnswer._UNTIL_CLOSE
            self._keep = False
        if self._mode == WireAnswer._DONE:
            self._finish()

    @property
    def done(self) -> bool:
        """Whether the body has been read to its end."""
        return self._mode == WireAnswer._DONE

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the body: exactly ``size`` unless the body ends first; ``b""`` at its end.

        Raises:
            AnswerBrokeOff: The connection ended before the body did.
            ReadTimeout, WireFailure: As for the connection.
        """
        if self._mode == WireAnswer._DONE or size <= 0:
            return b""
        if self._mode == WireAnswer._LENGTH:
            size = min(size, self._left)
        out = bytearray(size)
        with memoryview(out) as view:
            filled = self.readinto(view)
        if filled < size:
            del out[filled:]
        return bytes(out)

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` with the next bytes of the body: all of it unless the body ends first; 0 at its end.

        Raises:
            As :meth:`read`.
        """
        size = len(view)
        filled = 0
        while filled < size and self._mode != WireAnswer._DONE:
            filled += self._read_some(view[filled:])
        return filled

    def _read_some(self, view: memoryview) -> int:
        connection = self._connection
        assert connection is not None  # noqa: S101 - DONE is set when the connection is handed back
        if self._mode == WireAnswer._CHUNKED:
            if self._chunk_left == 0:
                self._chunk_left = self._next_chunk(connection)
                if self._chunk_left == 0:
                    return 0
            count = connection.read_into(view[: self._chunk_left])
            if count == 0:
                raise AnswerBrokeOff("the connection ended inside a chunk")
            self._chunk_left -= count
            if self._chunk_left == 0 and connection.read_line(2) != b"":
                raise BadAnswer("a chunk not followed by CRLF")
            return count
        limit = len(view) if self._mode == WireAnswer._UNTIL_CLOSE else min(len(view), self._left)
        count = connection.read_into(view[:limit])
        if count == 0:
            if self._mode == WireAnswer._UNTIL_CLOSE:
                self._finish()
                return 0
            raise AnswerBrokeOff(f"the connection ended {self._left} bytes before the answer's Content-Length")
        if self._mode == WireAnswer._LENGTH:
            self._left -= count
            if self._left == 0:
                self._finish()
        return count

    def _next_chunk(self, connection: WireConnection) -> int:
        line = connection.read_line(_MAX_CHUNK_LINE).split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise BadAnswer(f"a bad chunk size {line[:20]!r}") from None
        if size < 0:
            raise BadAnswer(f"a bad chunk size {line[:20]!r}")
        if size == 0:
            while connection.read_line(MAX_HEAD_BYTES):  # trailer fields, ignored, up to the empty line
                pass
            self._finish()
        return size

    def _finish(self) -> None:
        self._mode = WireAnswer._DONE
        connection, self._connection = self._connection, None
        if connection is not None:
            self._release(connection, self._keep)

    def end_deadline(self) -> None:
        """Read the rest of the body without the answer deadline (a caller streaming it at its own pace)."""
        if self._connection is not None:
            self._connection.set_deadline(None)

    def close(self) -> None:
        """Hand the connection back: to be reused when the body was read to its end, else closed."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._mode = WireAnswer._DONE
            self._release(connection, False)


def _content_length(value: str) -> int:
    values = {item.strip() for item in value.split(",")}
    if len(values) != 1:
        raise BadAnswer("conflicting Content-Length values")
    (single,) = values
    if not single.isdigit():
        raise BadAnswer(f"a bad Content-Length {single[:30]!r}")
    return int(single)


def request_head(method: str, target: str, headers: List[Tuple[str, str]]) -> bytes:
    """The request line and header fields, encoded (Latin-1, as HTTP/1.1 field values are).

    Raises:
        ValueError: A name or value holds a CR, LF or NUL (which would end the field early: header
            injection) or a character Latin-1 cannot encode. The value is not quoted: it may be secret.
    """
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"invalid header value of {name[:60]!r}: a CR, LF or NUL (it would end the field)")
        if not name or ":" in name or "\r" in name or "\n" in name or " " in name:
            raise ValueError(f"invalid header name {name[:60]!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError as error:
        raise ValueError(f"a header field holds a character outside Latin-1 (position {error.start})") from None

