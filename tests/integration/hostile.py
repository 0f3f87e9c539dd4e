"""A small misbehaving HTTP server for adversarial tests: real sockets, scripted answers.

Each accepted connection reads one request at a time (head, then the body its Content-Length announces,
unless ``read_body`` is off) and hands it to ``answer(request, sock)``, which writes whatever it likes
(a trickle, a huge body, a wrong status) and returns ``True`` to keep the connection for the next request.
Signatures are not checked: these tests are about what the client does with hostile answers.

:class:`CorruptingProxy` is the other half: a loopback TCP proxy in front of a real (local) server that
damages request bodies in transit, and can also forge the CRC-64 the server answers for a damaged body (a
man in the middle on plain HTTP) or trickle the answers to chosen requests.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from cos_multipart import CosClient, Credentials, RetryPolicy
from cos_multipart._protocol.checksum import crc64

SECRET_ID = "AKIDHOSTILETEST000000000000000000000"
SECRET_KEY = "HostileSecretKey0000000000000000"


@dataclass
class Request:
    method: str
    target: str
    headers: Dict[str, str]
    body: bytes = b""


Answer = Callable[[Request, socket.socket], bool]


@dataclass
class HostileServer:
    """Serves ``answer`` on a free loopback port from a daemon thread; ``requests`` records what came in."""

    answer: Answer
    read_body: bool = True
    #: Read request bodies at this many bytes/s (a slow link or a slow server), or at once (``None``).
    body_rate: Optional[float] = None
    requests: List[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._sockets: List[socket.socket] = []
        threading.Thread(target=self._accept, name="hostile-accept", daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, retry: Optional[RetryPolicy] = None, **kwargs: object) -> CosClient:
        return CosClient(
            "examplebucket-1250000000", "ap-guangzhou", Credentials(SECRET_ID, SECRET_KEY),
            endpoint=self.endpoint, retry=retry or RetryPolicy.never(), **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip

    def async_client(self, retry: Optional[RetryPolicy] = None, **kwargs: object) -> Any:
        """An :class:`~cos_multipart.aio.AsyncCosClient` of this server (made inside a running loop)."""
        from cos_multipart.aio import AsyncCosClient

        return AsyncCosClient(
            "examplebucket-1250000000", "ap-guangzhou", Credentials(SECRET_ID, SECRET_KEY),
            endpoint=self.endpoint, retry=retry or RetryPolicy.never(), **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
        for sock in list(self._sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> "HostileServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock,), name="hostile-conn", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        try:
            while not self._stopped.is_set():
                request = self._read(reader)
                if request is None:
                    return
                self.requests.append(request)
                if not self.answer(request, sock):
                    return
        except OSError:
            return
        finally:
            reader.close()
            sock.close()

    def _read(self, reader: "io.BufferedIOBase") -> Optional[Request]:
        line = reader.readline(65536)
        if not line:
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: Dict[str, str] = {}
        while True:
            raw = reader.readline(65536)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if self.read_body and headers.get("content-length", "0").isdigit():
            body = self._read_body(reader, int(headers.get("content-length", "0")))
        return Request(method, target, headers, body)


    def _read_body(self, reader: "io.BufferedIOBase", length: int) -> bytes:
        if self.body_rate is None:
            return reader.read(length)
        pieces: List[bytes] = []
        left = length
        while left > 0:
            piece = reader.read(min(64 * 1024, left))
            if not piece:
                break
            pieces.append(piece)
            left -= len(piece)
            time.sleep(len(piece) / self.body_rate)
        return b"".join(pieces)


def reply(sock: socket.socket, status: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None) -> None:
    """Write one complete answer with a Content-Length."""
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "x-cos-request-id: hostile"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


#: The bucket the command-line tests against a hostile server name (their targets are ``cos://BUCKET/...``).
BUCKET = "examplebucket-1250000000"


def object_listing(keys: Iterable[str], *, prefix: str = "", size: int = 1) -> bytes:
    """A List Objects answer naming ``keys`` as given (out of order, repeated or outside the prefix asked for:
    what a broken or hostile service might send), each of ``size`` bytes, with no CRC-64."""
    contents = "".join(
        f"<Contents><Key>{key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>\"e\"</ETag>"
        f"<Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"
        for key in keys
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><ListBucketResult><Name>{BUCKET}</Name><Prefix>{prefix}</Prefix>"
        f"<Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
    ).encode()


def uploads_listing(uploads: Iterable[Tuple[str, str]]) -> bytes:
    """A List Multipart Uploads answer naming ``(key, upload id)`` pairs as given, all initiated in 2020."""
    listed = "".join(
        f"<Upload><Key>{key}</Key><UploadId>{upload_id}</UploadId><Initiated>2020-01-01T00:00:00.000Z</Initiated></Upload>"
        for key, upload_id in uploads
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><ListMultipartUploadsResult><Bucket>{BUCKET}</Bucket>"
        f"<IsTruncated>false</IsTruncated>{listed}</ListMultipartUploadsResult>"
    ).encode()


@contextlib.contextmanager
def cli_against(answer: Callable[[Request, socket.socket], bool], monkeypatch: Any) -> Iterator[HostileServer]:
    """A :class:`HostileServer` answering with ``answer``, and the environment of an in-process command line
    pointed at it (``COS_ENDPOINT``, the hostile credentials, no region or token); closed afterwards."""
    server = HostileServer(answer)
    try:
        for name in ("COS_REGION", "COS_SECURITY_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("COS_SECRET_ID", SECRET_ID)
        monkeypatch.setenv("COS_SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("COS_ENDPOINT", server.endpoint)
        yield server
    finally:
        server.close()


class _Link:
    """What the request pump of one proxied connection tells its response pump."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: (CRC-64 the server will answer, CRC-64 to answer instead), one per damaged request, in order.
        self.forgeries: List[Tuple[int, int]] = []
        #: From the first trickled request on, every answer byte of the connection goes out slowly.
        self.trickle = False


class CorruptingProxy:
    """A loopback HTTP/1.1 proxy in front of the server that damages request bodies in transit.

    It parses each request's head (Content-Length bodies only, which is all this client sends), records
    ``(method, target, headers)``, and flips one bit of body byte ``offset`` in the first ``flips``
    requests whose method is in ``methods`` (``flips=None``: all of them). Responses pass through untouched,
    unless ``forge_crc``: then the answer to a damaged request carries the CRC-64 of the bytes the client
    sent instead of the server's (what a man in the middle on plain HTTP can do), so a per-part CRC-64
    check passes. ``trickle``: answers to requests whose target contains one of these strings (and every
    later answer on their connections) go out one byte every 0.2 s, so that each byte resets a read timeout.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        methods: Tuple[str, ...] = ("PUT",),
        flips: Optional[int] = 1,
        offset: int = 100,
        forge_crc: bool = False,
        trickle: Tuple[str, ...] = (),
    ) -> None:
        self._upstream = upstream_port
        self._methods = methods
        self._flips_left = flips
        self._offset = offset
        self._forge = forge_crc
        self._trickle = trickle
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._closed = threading.Event()
        self.requests: List[Tuple[str, str, Dict[str, str]]] = []
        self.flipped = 0
        self.forged = 0
        self.trickled = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._start(self._accept_loop)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name="holes-proxy", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self._upstream))
            except OSError:  # the server is gone: refuse this client too
                downstream.close()
                continue
            with self._lock:
                self._sockets += [downstream, upstream]
            link = _Link()
            self._start(self._pump_responses, upstream, downstream, link)
            self._start(self._pump_requests, downstream, upstream, link)

    def _pump_responses(self, upstream: socket.socket, downstream: socket.socket, link: _Link) -> None:
        buffer = b""
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                buffer += data
                with link.lock:
                    forgery = link.forgeries[0] if link.forgeries else None
                    trickle = link.trickle
                if forgery is not None:
                    if b"\r\n\r\n" not in buffer:
                        continue  # the whole head first: the header to forge may be split
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    told, wanted = (f": {value}\r\n".encode() for value in forgery)
                    forged = (head + b"\r\n").replace(told, wanted)
                    if forged != head + b"\r\n":
                        with self._lock:
                            self.forged += 1
                    buffer = forged + b"\r\n" + rest
                    with link.lock:
                        link.forgeries.pop(0)
                if trickle:
                    for index in range(len(buffer)):
                        if self._closed.wait(0.2):
                            return
                        downstream.sendall(buffer[index : index + 1])
                else:
                    downstream.sendall(buffer)
                buffer = b""
        except OSError:
            pass
        finally:
            with_shutdown(downstream)

    def _should_flip(self, method: str) -> bool:
        with self._lock:
            if method not in self._methods or self._flips_left == 0:
                return False
            if self._flips_left is not None:
                self._flips_left -= 1
            self.flipped += 1
            return True

    def _pump_requests(self, downstream: socket.socket, upstream: socket.socket, link: _Link) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = downstream.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                with self._lock:
                    self.requests.append((method, target, headers))
                if any(part in target for part in self._trickle):
                    with link.lock:
                        link.trickle = True
                    with self._lock:
                        self.trickled += 1
                upstream.sendall(head + b"\r\n\r\n")
                remaining = int(headers.get("content-length", "0"))
                flip = remaining > self._offset and self._should_flip(method)
                position = 0
                sent_crc = damaged_crc = 0
                while remaining > 0:
                    if not buffer:
                        buffer = downstream.recv(65536)
                        if not buffer:
                            return
                    chunk, buffer = buffer[:remaining], buffer[remaining:]
                    sent_crc = crc64(chunk, sent_crc)
                    if flip and position <= self._offset < position + len(chunk):
                        damaged = bytearray(chunk)
                        damaged[self._offset - position] ^= 0x01
                        chunk = bytes(damaged)
                    damaged_crc = crc64(chunk, damaged_crc)
                    position += len(chunk)
                    remaining -= len(chunk)
                    if remaining == 0 and flip and self._forge:
                        with link.lock:  # before the last byte goes: the answer cannot come first
                            link.forgeries.append((damaged_crc, sent_crc))
                    upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            with_shutdown(upstream)

    def close(self) -> None:
        self._closed.set()
        with_shutdown(self._listener)  # wakes the blocked accept() (closing alone does not, on Linux)
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with_shutdown(sock)
            sock.close()
        for thread in threads:
            thread.join(timeout=5)


def with_shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
