"""The transport's lean request preparation gives the request ``Session.prepare_request`` gives (issue 25)."""

from __future__ import annotations

import io
from typing import Any, Dict, Optional

import pytest
import requests

from cos_multipart._io._prepare import prepare

URL = "http://127.0.0.1:9000/dir/%2E/file%20name.bin?partNumber=1&uploadId=abc"
HEADERS = {"Content-MD5": "1B2M2Y8AsgTpgAEKBSzDTA==", "authorization": "q-sign-algorithm=sha1&q-signature=00",
           "x-cos-meta-name": "value", "user-agent": "mine"}  # fmt: skip


class _Reader(io.RawIOBase):
    """A request body with a length, as the transport's part readers are."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)

    def tell(self) -> int:
        return self._data.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data.seek(offset, whence)

    def __len__(self) -> int:
        return len(self._data.getvalue())


def _session() -> requests.Session:
    session = requests.Session()
    session.headers.update({"User-Agent": "cos-multipart/test", "Accept-Encoding": "identity"})
    session.trust_env = False
    return session


def _as_sent(prepared: requests.PreparedRequest) -> Dict[str, Any]:
    return {"method": prepared.method, "url": prepared.url, "headers": dict(prepared.headers),
            "body": prepared.body, "position": getattr(prepared, "_body_position", None)}  # fmt: skip


def _full(session: requests.Session, method: str, data: Any) -> requests.PreparedRequest:
    prepared = session.prepare_request(requests.Request(method, URL, headers=HEADERS, data=data))
    prepared.url = URL
    return prepared


@pytest.mark.parametrize("method", ["PUT", "POST", "GET", "HEAD", "DELETE"])
@pytest.mark.parametrize("kind", ["none", "empty", "bytes", "reader"])
def test_the_lean_path_prepares_what_the_session_prepares(method: str, kind: str) -> None:
    def body() -> Optional[Any]:
        return {"none": None, "empty": b"", "bytes": b"x" * 4096, "reader": _Reader(b"y" * 4096)}[kind]

    session = _session()
    lean, full = _as_sent(prepare(session, method, URL, HEADERS, body())), _as_sent(_full(session, method, body()))
    if kind == "reader":  # two readers: the same length and position, not the same object
        assert lean.pop("body").read() == full.pop("body").read()
    assert lean == full
    assert lean["headers"]["user-agent"] == "mine"  # the request's own header wins over the session's


def test_a_session_with_cookies_takes_the_sessions_own_path() -> None:
    session = _session()
    session.cookies.set("name", "value")
    assert prepare(session, "PUT", URL, HEADERS, b"x").headers["Cookie"] == "name=value"


def test_a_header_requests_refuses_is_refused_on_the_lean_path_too() -> None:
    with pytest.raises(requests.exceptions.InvalidHeader):
        prepare(_session(), "PUT", URL, {"x-cos-meta-a": "line\r\nInjected: yes"}, b"x")
