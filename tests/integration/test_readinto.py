"""ObjectStream.readinto / AsyncObjectStream.readinto: a body read into the caller's buffer, over real sockets."""

from __future__ import annotations

import array
import asyncio
import os
from typing import List

import pytest

from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosValidationError
from uploads import async_client_like

pytestmark = [pytest.mark.integration]

DATA = os.urandom(3 * 1024 * 1024 + 12345)


def _drain(body: object, size: int) -> List[int]:
    counts: List[int] = []
    out = bytearray()
    buffer = bytearray(size)
    while True:
        count = body.readinto(buffer)  # type: ignore[attr-defined]
        counts.append(count)
        if not count:
            break
        out += buffer[:count]
    assert bytes(out) == DATA
    return counts


def test_the_buffer_is_filled_whole_until_the_last_piece_then_zero(client: CosClient) -> None:
    client.put_object("r/k", DATA)
    with client.get_object("r/k") as body:
        counts = _drain(body, 1024 * 1024)
    assert counts == [1024 * 1024] * 3 + [12345, 0]
    with client.get_object("r/k", byte_range=(10, 19)) as body:
        view = memoryview(bytearray(64))
        assert body.readinto(view[5:]) == 10 and bytes(view[5:15]) == DATA[10:20]
        assert body.readinto(view) == 0


def test_any_writable_contiguous_buffer_of_bytes_and_nothing_else(client: CosClient) -> None:
    client.put_object("r/small", DATA[:100])
    with client.get_object("r/small") as body:
        signed = array.array("b", bytes(60))  # format "b": taken as bytes
        assert body.readinto(memoryview(signed)) == 60 and signed.tobytes() == DATA[:60]
        for refused in (bytes(10), memoryview(bytearray(10)).toreadonly(), array.array("i", [0, 0]), "text",
                        memoryview(bytearray(20))[::2]):  # fmt: skip
            with pytest.raises(CosValidationError) as caught:
                body.readinto(refused)  # type: ignore[arg-type]
            assert caught.value.field == "buffer"
        assert body.readinto(bytearray(0)) == 0
        assert body.readinto(bytearray(100)) == 40
    with pytest.raises(ValueError, match="closed"):
        body.readinto(bytearray(10))


def test_the_async_stream_fills_the_buffer_the_same_way(client: CosClient) -> None:
    client.put_object("r/a", DATA)

    async def scenario() -> List[int]:
        async with async_client_like(client) as aclient:
            async with await aclient.get_object("r/a") as body:
                counts: List[int] = []
                out = bytearray()
                buffer = bytearray(1024 * 1024)
                while count := await body.readinto(buffer):
                    counts.append(count)
                    out += buffer[:count]
                assert bytes(out) == DATA
                return counts

    assert asyncio.run(scenario()) == [1024 * 1024] * 3 + [12345]
