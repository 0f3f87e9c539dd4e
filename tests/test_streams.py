"""ObjectStream over a transport that gives bytes only (no readinto of its own): readinto fills from its reads."""

from __future__ import annotations

import io

from cos_multipart._io._streams import ObjectStream
from cos_multipart._protocol.models import ObjectResult, ResponseInfo


def test_readinto_fills_the_buffer_from_a_transport_that_only_reads() -> None:
    data = bytes(range(256)) * 40
    source = io.BytesIO(data)

    def trickle(size: int) -> bytes:
        return source.read(min(size, 1000))  # fewer bytes than asked: the buffer is still filled whole

    result = ObjectResult(key="k", etag='"e"', crc64=None, size=len(data), version_id=None, response=ResponseInfo(200, "", {}))
    body = ObjectStream(result, {}, trickle, lambda: None)
    buffer = bytearray(4096)
    got = bytearray()
    counts = []
    while count := body.readinto(buffer):
        counts.append(count)
        got += buffer[:count]
    assert bytes(got) == data and counts == [4096, 4096, 2048]
