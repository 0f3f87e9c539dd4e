"""Faults on GetObject answers: a body with one bit flipped, a body cut short (then the connection closes),
for the tests of a download that must fetch a damaged range again and never call it verified."""

from __future__ import annotations

import http.client
import os
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

from .anon import put

DATA = os.urandom(200_000)


@pytest.fixture(params=["cos", "oss"])
def server(request: pytest.FixtureRequest, local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(anonymous=True, dialect=request.param)


def _get(server: LocalCOS, key: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes, bool]:
    """Status, headers, the body bytes received, and whether the body was complete."""
    parts = urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    path = f"/{server.bucket}/{key}" if server.dialect == "oss" else f"/{key}"
    sent = dict(headers or {})
    if server.dialect == "cos":
        sent["Host"] = f"{server.bucket}.cos.{server.region}.myqcloud.com"
    try:
        connection.request("GET", path, headers=sent)
        response = connection.getresponse()
        try:
            body, complete = response.read(), True
        except http.client.IncompleteRead as short:
            body, complete = short.partial, False
        return response.status, {name.lower(): value for name, value in response.getheaders()}, body, complete
    finally:
        connection.close()


def _flipped(sent: bytes, original: bytes) -> int:
    """The one offset where ``sent`` differs from ``original`` in exactly one bit."""
    differences = [index for index, (a, b) in enumerate(zip(sent, original)) if a != b]
    assert len(sent) == len(original) and len(differences) == 1
    assert bin(sent[differences[0]] ^ original[differences[0]]).count("1") == 1
    return differences[0]


def test_corrupt_flips_one_bit_of_the_nth_get(server: LocalCOS) -> None:
    put(server, "obj", DATA)
    server.faults.add(Fault.corrupt("GetObject", nth=2, after_bytes=70_000))
    status, headers, body, complete = _get(server, "obj", {"Range": "bytes=1000-150999"})
    assert (status, body, complete) == (206, DATA[1000:151000], True)
    status, headers, body, complete = _get(server, "obj", {"Range": "bytes=1000-150999"})
    assert status == 206 and complete
    assert _flipped(body, DATA[1000:151000]) == 70_000
    # the headers still describe the object: only a client checking the bytes sees the damage
    assert headers[f"x-{server.dialect}-hash-crc64ecma"] == str(crc64(DATA))
    assert headers["content-length"] == str(150_000)
    assert _get(server, "obj", {"Range": "bytes=1000-150999"})[2] == DATA[1000:151000]
    assert [(fired.api, fired.kind, fired.request_number) for fired in server.faults.fired] == [("GetObject", "corrupt", 2)]


def test_corrupt_offset_is_clamped_and_whole_objects_too(server: LocalCOS) -> None:
    put(server, "obj", DATA)
    server.faults.add(Fault.corrupt("GetObject", after_bytes=10**9))
    status, _, body, _ = _get(server, "obj", {"Range": "bytes=0-99"})
    assert status == 206 and _flipped(body, DATA[:100]) == 99
    server.faults.add(Fault.corrupt("GetObject"))
    status, _, body, _ = _get(server, "obj")
    assert status == 200 and _flipped(body, DATA) == 0


def test_truncate_sends_fewer_bytes_then_closes(server: LocalCOS) -> None:
    put(server, "obj", DATA)
    server.faults.add(Fault.truncate(after_bytes=4096, nth=1))
    status, headers, body, complete = _get(server, "obj", {"Range": "bytes=100-99999"})
    assert status == 206 and headers["content-length"] == "99900"
    assert not complete and body == DATA[100:4196]
    entry = server.log_entries("GetObject")[-1]
    assert (entry.status, entry.bytes_out) == (206, 4096)
    # the next request is served whole, on a new connection
    assert _get(server, "obj", {"Range": "bytes=100-99999"})[2:] == (DATA[100:100000], True)


def test_truncate_always_leaves_a_byte_out_and_spares_empty_bodies(server: LocalCOS) -> None:
    put(server, "obj", DATA[:10])
    put(server, "empty", b"")
    server.faults.add(Fault.truncate(after_bytes=10**6, count=None))
    _, _, body, complete = _get(server, "obj")
    assert (body, complete) == (DATA[:9], False)
    assert _get(server, "empty")[2:] == (b"", True)


def test_get_faults_from_the_command_line_form() -> None:
    assert Fault.parse("corrupt:api=GetObject,nth=2,after_bytes=100") == Fault.corrupt("GetObject", nth=2, after_bytes=100)
    assert Fault.parse("truncate:api=GetObject,after_bytes=4096,count=all") == Fault.truncate(after_bytes=4096, count=None)
    assert Fault.parse("truncate") == Fault.truncate(api=None)
    with pytest.raises(CosValidationError, match="after_bytes"):
        Fault.truncate(after_bytes=-1)


def test_object_replaced_after_the_nth_get_fails_the_pinned_next_range(server: LocalCOS) -> None:
    etag = put(server, "obj", DATA).headers["etag"]
    server.faults.add(Fault.replace_source("GetObject", nth=2))
    pinned = {"If-Match": etag}
    assert _get(server, "obj", {**pinned, "Range": "bytes=0-99"})[2] == DATA[:100]
    status, headers, body, _ = _get(server, "obj", {**pinned, "Range": "bytes=100-199"})
    assert (status, body, headers["etag"]) == (206, DATA[100:200], etag)  # served from the version it opened
    status, _, _, _ = _get(server, "obj", {**pinned, "Range": "bytes=200-299"})
    assert status == 412
    status, headers, body, _ = _get(server, "obj")
    assert body == bytes(byte ^ 0xFF for byte in DATA) and headers["etag"] != etag
    assert headers[f"x-{server.dialect}-hash-crc64ecma"] == str(crc64(body))
