"""A small misbehaving HTTP server for adversarial tests: real sockets, scripted answers.

Each accepted connection reads one request at a time (head, then the body its Content-Length announces,
unless ``read_body`` is off) and hands it to ``answer(request, sock)``, which writes whatever it likes
(a trickle, a huge body, a wrong status) and returns ``True`` to keep the connection for the next request.
Signatures are not checked: these tests are about what the client does with hostile answers.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from cos_multipart import CosClient, Credentials, RetryPolicy

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
