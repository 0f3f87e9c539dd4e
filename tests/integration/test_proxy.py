"""Through a real forward proxy: the transport's requests engine carries uploads end to end, verified.

Without a proxy the transport speaks HTTP/1.1 itself; with one it sends through ``requests``. Both must give the
same results, so the proxied path runs a multipart upload, a download and an error answer against the local
server, and the proxy records every request it carried (none may bypass it).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from cos_multipart import CosServiceError, CosTLSError, upload_file
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart.testing import LocalCOS


class ForwardProxy:
    """An HTTP/1.1 forward proxy for ``http://`` targets: each request's absolute-form target is rewritten to
    origin-form and forwarded (bodies by Content-Length); answers flow back byte for byte."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.targets: List[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._carry, args=(client,), daemon=True).start()

    def _carry(self, client: socket.socket) -> None:
        upstream: "socket.socket | None" = None
        buffered = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, target, version = lines[0].split(b" ")
                if method == b"CONNECT":  # HTTPS: a tunnel to host:port, the TLS inside it is not ours to read
                    with self._lock:
                        self.targets.append(f"CONNECT {target.decode()}")
                    host, _, port = target.decode().rpartition(":")
                    upstream = socket.create_connection((host, int(port)))
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    threading.Thread(target=self._back, args=(upstream, client), daemon=True).start()
                    if buffered:
                        upstream.sendall(buffered)
                    while True:
                        data = client.recv(65536)
                        if not data:
                            return
                        upstream.sendall(data)
                assert target.startswith(b"http://"), target  # a proxy is sent absolute-form targets
                authority, _, path = target[len(b"http://") :].partition(b"/")
                with self._lock:
                    self.targets.append(f"{method.decode()} /{path.decode()}")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffered) < length:
                    buffered += client.recv(65536)
                body, buffered = buffered[:length], buffered[length:]
                if upstream is None:
                    host, _, port = authority.decode().partition(":")
                    upstream = socket.create_connection((host, int(port or 80)))
                    threading.Thread(target=self._back, args=(upstream, client), daemon=True).start()
                kept = [line for line in lines[1:] if not line.lower().startswith(b"proxy-")]
                upstream.sendall(b"\r\n".join([b" ".join([method, b"/" + path, version]), *kept]) + b"\r\n\r\n" + body)
        except OSError:
            return
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    @staticmethod
    def _back(upstream: socket.socket, client: socket.socket) -> None:
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    running = ForwardProxy()
    yield running
    running.close()


@pytest.mark.both_dialects
def test_an_upload_through_a_proxy_is_carried_by_requests_and_verified(
    local_cos: LocalCOS, proxy: ForwardProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    data = bytes(range(256)) * (3 * 4096 + 17)  # 3 parts of 1 MiB and a short one
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with local_cos.client(proxies={"http": proxy.url}, retry=RetryPolicy.never()) as client:
        assert client.transport.engine == "requests"  # type: ignore[attr-defined]
        result = upload_file(client, str(path), "via/proxy", part_size=1024 * 1024, concurrency=3, multipart_threshold=1024 * 1024)
        assert result.size == len(data)
        with client.get_object("via/proxy") as body:
            assert body.read() == data
        with client.get_object("via/proxy") as body:  # into the caller's buffer, through requests too
            buffer, out = bytearray(1024 * 1024), bytearray()
            while count := body.readinto(buffer):
                out += buffer[:count]
            assert out == data
        with pytest.raises(CosServiceError) as missing:
            client.head_object("no/such/key")
        assert missing.value.status == 404
    assert len(proxy.targets) == len(local_cos.log_entries())  # every request went through the proxy
    assert sum(target.startswith("PUT ") and "via/proxy?" in target for target in proxy.targets) == 4, proxy.targets


def test_https_through_a_proxy_is_a_tunnel_and_the_certificate_still_checked(
    local_cos_factory: Any, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    secure = local_cos_factory(tls=True)
    with secure.client(proxies={"https": proxy.url}, retry=RetryPolicy.never()) as client:
        assert client.transport.engine == "requests"
        client.put_object("tunnelled", b"through CONNECT")
        with client.get_object("tunnelled") as body:
            assert body.read() == b"through CONNECT"
    assert proxy.targets and all(target.startswith("CONNECT 127.0.0.1:") for target in proxy.targets)
    with secure.client(proxies={"https": proxy.url}, verify=True, retry=RetryPolicy.never()) as untrusting:
        with pytest.raises(CosTLSError):  # the local CA is not in certifi's bundle: refused through the tunnel too
            untrusting.head_object("tunnelled")


def test_without_a_proxy_the_transport_speaks_http_itself(local_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with local_cos.client() as client:
        assert client.transport.engine == "wire"  # type: ignore[attr-defined]
        client.put_object("k", b"x")
