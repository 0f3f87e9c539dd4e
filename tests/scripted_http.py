"""A scripted HTTP/1.1 server on a real socket, for the transport's and the client's unit tests.

Each test registers what the server answers (:meth:`ScriptedServer.add` and friends); the server records
every request as it arrived on the wire (:class:`Recorded`), including which connection carried it, and
collects what a well-behaved client must never do (a chunked or mis-sized request body, a request no rule
expected) in :attr:`ScriptedServer.failures`, which the ``scripted`` fixture reports at teardown. It speaks
to whatever HTTP library the client uses, and imports no client code.
"""

from __future__ import annotations

import dataclasses
import http
import io
import socket
import struct
import threading
import time
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

HeadersLike = Union[Mapping[str, str], Sequence[Tuple[str, str]]]
Answer = Tuple[int, HeadersLike, bytes]
#: Longest request head read (a longer one is recorded as a failure).
_MAX_HEAD = 256 * 1024


class Headers(Mapping[str, str]):
    """Headers as sent: :attr:`raw` keeps their order and case; lookups ignore case (repeats joined by ``, ``)."""

    def __init__(self, raw: Sequence[Tuple[str, str]]) -> None:
        self.raw: Tuple[Tuple[str, str], ...] = tuple(raw)
        self._folded: Dict[str, str] = {}
        for name, value in self.raw:
            key = name.lower()
            self._folded[key] = f"{self._folded[key]}, {value}" if key in self._folded else value

    def __getitem__(self, name: str) -> str:
        return self._folded[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._folded)  # lower case

    def __len__(self) -> int:
        return len(self._folded)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._folded

    def __repr__(self) -> str:
        return f"Headers({list(self.raw)!r})"


@dataclasses.dataclass(frozen=True)
class Recorded:
    """One request as it arrived: ``target`` exactly as sent (path and query), ``connection`` numbers the
    connection that carried it (1, 2, ... in the order they were accepted)."""

    method: str
    target: str
    version: str
    headers: Headers
    body: bytes
    connection: int
    base_url: str

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    @property
    def params(self) -> Dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def url(self) -> str:
        return self.base_url + self.target


class Stall:
    """An answer held back: :attr:`arrived` is set when its request is in; :meth:`release` sends the answer
    (and lets every later request of a repeating stall rule through).

    When the server stops first, the connection is closed without an answer.
    """

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.arrived = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def wait_arrived(self, timeout: float = 30.0) -> bool:
        """Whether the request came (``timeout`` only ends a broken run)."""
        return self.arrived.wait(timeout)


@dataclasses.dataclass(frozen=True)
class _Action:
    """What to do with one request: answer (``answer``/``callback``), or misbehave (``kind``)."""

    kind: str  # "answer", "callback", "close", "reset", "partial", "stall", "raw"
    answer: Answer = (200, (), b"")
    callback: Optional[Callable[[Recorded], Answer]] = None
    send_bytes: int = 0
    stall: Optional[Stall] = None
    pieces: Tuple[bytes, ...] = ()


@dataclasses.dataclass
class _Route:
    method: str
    path: str
    query: Optional[List[Tuple[str, str]]]
    actions: List[_Action]
    used: int = 0

    def matches(self, request: Recorded) -> bool:
        if (request.method, request.path) != (self.method, self.path):
            return False
        return self.query is None or sorted(parse_qsl(request.query, keep_blank_values=True)) == self.query

    def next_action(self) -> _Action:
        self.used += 1
        return self.actions[min(self.used, len(self.actions)) - 1]


def encode_answer(status: int, headers: HeadersLike, body: bytes, *, head_only: bool = False) -> bytes:
    """The bytes of an answer. ``Content-Length`` is added unless the headers frame the body themselves
    (``Transfer-Encoding: chunked`` bodies are encoded here, in three chunks) or the status has no body."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    names = {name.lower() for name, _ in pairs}
    chunked = any(name.lower() == "transfer-encoding" and "chunked" in value.lower() for name, value in pairs)
    if chunked:
        step = max(1, -(-len(body) // 3))
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + step]), body[i : i + step]) for i in range(0, len(body), step))
        body += b"0\r\n\r\n"
    elif "content-length" not in names and status not in (204, 304) and status >= 200:
        pairs.append(("Content-Length", str(len(body))))
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in pairs) + "\r\n"
    return head.encode("latin-1") + (b"" if head_only else body)


class Script:
    """What the server answers: routes (method, path[?query]), each answering with its rules in order, the
    last one repeating for every later request.

    Paths are matched as sent (percent-encoded); a route whose path carries a query matches only requests
    with those query parameters (in any order), and is preferred over a route without one.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._routes: List[_Route] = []
        self._stalls: List[Stall] = []

    def _add(self, method: str, path: str, action: _Action) -> None:
        parts = urlsplit(path)
        query = sorted(parse_qsl(parts.query, keep_blank_values=True)) if "?" in path else None
        with self._lock:
            for route in self._routes:
                if (route.method, route.path, route.query) == (method, parts.path, query):
                    route.actions.append(action)
                    return
            self._routes.append(_Route(method, parts.path, query, [action]))

    def _next_action(self, request: Recorded) -> Optional[_Action]:
        with self._lock:
            matching = [route for route in self._routes if route.matches(request)]
            matching.sort(key=lambda route: route.query is None)  # a route naming the query first
            return matching[0].next_action() if matching else None

    def add(self, method: str, path: str, status: int = 200, headers: HeadersLike = (), body: bytes = b"") -> None:
        """Answer ``method path`` with ``status``, ``headers`` and ``body``.

        Each rule added to a route answers one request, in the order added; the last one answers every
        request after it.
        """
        self._add(method, path, _Action("answer", answer=(status, headers, body)))

    def add_callback(self, method: str, path: str, fn: Callable[[Recorded], Answer]) -> None:
        """Answer with ``fn(request) -> (status, headers, body)`` (in the route's order, as :meth:`add`)."""
        self._add(method, path, _Action("callback", callback=fn))

    def add_close(self, method: str, path: str) -> None:
        """Close the connection without answering (the client sees an orderly end of stream)."""
        self._add(method, path, _Action("close"))

    def add_reset(self, method: str, path: str) -> None:
        """Reset the connection (SO_LINGER 0: the client sees ECONNRESET)."""
        self._add(method, path, _Action("reset"))

    def add_partial(self, method: str, path: str, status: int, headers: HeadersLike, body: bytes, send_bytes: int) -> None:
        """Send the first ``send_bytes`` bytes of the answer, then close the connection."""
        self._add(method, path, _Action("partial", answer=(status, headers, body), send_bytes=send_bytes))

    def add_stall(self, method: str, path: str, status: int = 200, headers: HeadersLike = (), body: bytes = b"") -> Stall:
        """Hold the answer until the test releases the returned :class:`Stall` (or the server stops). As the
        last rule of its route it holds every later request too, until released; then it answers at once."""
        stall = Stall((status, headers, body))
        with self._lock:
            self._stalls.append(stall)
        self._add(method, path, _Action("stall", stall=stall))
        return stall

    def add_raw(self, method: str, path: str, *pieces: bytes) -> None:
        """Answer with these bytes as they are, each piece written on its own (a short pause between them,
        so they leave as separate TCP segments), then close the connection."""
        self._add(method, path, _Action("raw", pieces=pieces))


class ScriptedServer(Script):
    """The server on 127.0.0.1 (an ephemeral port), one thread per connection, keep-alive.

    :attr:`requests` lists every request in arrival order, :attr:`failures` what a client did wrong;
    :attr:`connections` counts the connections accepted and :attr:`most_open` the most open at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests: List[Recorded] = []
        self.failures: List[str] = []
        self._sockets: Dict[int, socket.socket] = {}
        self._busy: Dict[int, bool] = {}
        self._threads: List[threading.Thread] = []
        self._stopping = threading.Event()
        self.connections = 0
        self.most_open = 0

    # --- observing -------------------------------------------------------------------------------------------

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> bool:
        """Whether ``count`` requests have arrived (``timeout`` only ends a broken run)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

    def close_idle(self, timeout: float = 30.0) -> int:
        """Once no answer is being written (nor held by a stall), close every open connection (all idle
        then); returns how many."""
        with self._lock:
            self._lock.wait_for(lambda: not any(self._busy.values()), timeout)
            sockets = list(self._sockets.values())
        for sock in sockets:
            _shut(sock)
        return len(sockets)

    # --- running ---------------------------------------------------------------------------------------------

    def start(self) -> "ScriptedServer":
        self._start(self._accept)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            stalls, sockets = list(self._stalls), list(self._sockets.values())
        for stall in stalls:
            stall.release()
        for sock in sockets:
            _shut(sock)
        for thread in list(self._threads):
            thread.join(10)
        self._listener.close()

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name="scripted-http", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:  # a timeout: look at the stop flag again
                continue
            sock.settimeout(None)
            with self._lock:
                self.connections += 1
                number = self.connections
                self._sockets[number] = sock
                self._busy[number] = False
                self.most_open = max(self.most_open, len(self._sockets))
            self._start(self._serve, sock, number)

    def _serve(self, sock: socket.socket, number: int) -> None:
        reader = sock.makefile("rb")
        try:
            while not self._stopping.is_set():
                request = self._read_request(reader, number)
                if request is None:
                    break
                with self._lock:
                    self._busy[number] = True
                    self.requests.append(request)
                    self._lock.notify_all()
                keep = self._perform(sock, request, self._next_action(request))
                with self._lock:
                    self._busy[number] = False
                    self._lock.notify_all()
                if not keep or request.headers.get("Connection", "").lower() == "close":
                    break
        except OSError:
            pass  # the client went away, or the test shut the connection
        finally:
            with self._lock:
                self._sockets.pop(number, None)
                self._busy.pop(number, None)
                self._lock.notify_all()
            reader.close()
            sock.close()

    def _read_request(self, read: io.BufferedReader, number: int) -> Optional[Recorded]:
        line = read.readline(_MAX_HEAD)
        if not line:
            return None
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.failures.append(f"connection {number}: not a request line {line[:80]!r} (a body longer than its Content-Length?)")
            return None
        raw: List[Tuple[str, str]] = []
        while True:
            field = read.readline(_MAX_HEAD)
            if field in (b"\r\n", b"\n"):
                break
            if not field:
                self.failures.append(f"connection {number}: closed inside the head of {parts[0]} {parts[1]}")
                return None
            name, _, value = field.decode("latin-1").partition(":")
            raw.append((name, value.strip()))
        headers = Headers(raw)
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            self.failures.append(f"{parts[0]} {parts[1]}: body sent chunked")
            return None
        length = int(headers.get("Content-Length", "0") or 0)
        body = read.read(length) if length else b""
        if len(body) < length:
            self.failures.append(f"{parts[0]} {parts[1]}: body ended {length - len(body)} bytes before its Content-Length")
            return None
        return Recorded(parts[0], parts[1], parts[2], headers, body, number, self.base_url)

    def _perform(self, sock: socket.socket, request: Recorded, action: Optional[_Action]) -> bool:
        """Carry out ``action``; whether the connection stays open."""
        head_only = request.method == "HEAD"
        if action is None:
            self.failures.append(f"no rule for {request.method} {request.target}")
            sock.sendall(encode_answer(501, (), b"no rule for this request"))
            return True
        if action.kind in ("close", "reset"):
            if action.kind == "reset":  # the close that follows sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if action.kind == "raw":
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for index, piece in enumerate(action.pieces):
                if index:
                    time.sleep(0.02)  # not a test's verdict: only so the pieces leave as separate segments
                sock.sendall(piece)
            return False
        answer = action.answer
        if action.kind == "callback" and action.callback is not None:
            try:
                answer = action.callback(request)
            except Exception as error:  # noqa: BLE001 - reported at teardown, answered as a server error
                self.failures.append(f"callback for {request.method} {request.target} raised {error!r}")
                answer = (500, (), b"callback failed")
        if action.kind == "stall" and action.stall is not None:
            action.stall.arrived.set()
            action.stall._released.wait()
            if self._stopping.is_set():
                return False
            answer = action.stall.answer
        data = encode_answer(*answer, head_only=head_only)
        if action.kind == "partial":
            sock.sendall(data[: action.send_bytes])
            return False
        sock.sendall(data)
        return True


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
