"""A plain iterator (a generator, a list) of bytes-like chunks is a source of both drivers, read like a stream:
byte-exact, bounded memory, an empty one makes an empty object, and a chunk that is not bytes is a clear
``CosValidationError`` (before any request when it is the first; later, the upload is aborted)."""

from __future__ import annotations

import os
from typing import Any, Iterator, List

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.limits import KB, MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import LocalCOS

from uploads import Driver, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def chunks_of(data: bytes, sizes: List[int]) -> Iterator[Any]:
    """``data`` cut into chunks of the given sizes in turn, as bytes, bytearray, memoryview and empty ones."""
    position, turn = 0, 0
    while position < len(data):
        size = sizes[turn % len(sizes)]
        chunk = data[position : position + size]
        kinds = (bytes, bytearray, memoryview)
        yield kinds[turn % 3](chunk)
        if turn % 5 == 0:
            yield b""  # an empty chunk is not the end
        position += size
        turn += 1


@pytest.mark.parametrize("size", [0, 100, 3 * MB + 17], ids=["empty", "small", "multipart"])
def test_a_generator_of_chunks_is_uploaded_byte_exact(
    driver: Driver, client: CosClient, store: CheckpointStore, size: int
) -> None:
    data = os.urandom(size)
    chunks = chunks_of(data, [1, 7 * KB, 300 * KB + 3, 2 * MB])
    result = driver.uploader(client, store, multipart_threshold=MB).upload(chunks, "gen.bin")
    assert stored(client, "gen.bin") == data and result.size == size
    assert result.multipart == (size >= MB)
    assert list(client.list_multipart_uploads()) == []


def test_an_empty_iterator_makes_an_empty_object(driver: Driver, client: CosClient, store: CheckpointStore) -> None:
    result = driver.uploader(client, store, multipart_threshold=MB).upload(iter([]), "empty.bin")
    assert stored(client, "empty.bin") == b"" and result.size == 0 and not result.multipart


def test_a_list_of_chunks_is_a_source(driver: Driver, client: CosClient, store: CheckpointStore) -> None:
    driver.uploader(client, store).upload([b"ab", b"cd"], "list.bin")
    assert stored(client, "list.bin") == b"abcd"


def test_a_first_chunk_that_is_not_bytes_is_refused_before_any_request(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore
) -> None:
    with pytest.raises(CosValidationError) as excinfo:
        driver.uploader(client, store).upload(iter(["text"]), "bad.bin")
    error = excinfo.value
    assert error.field == "source" and "str" in str(error) and "bytes-like chunks" in error.allowed
    assert local_cos.log_entries() == []


def test_a_later_chunk_that_is_not_bytes_aborts_the_upload(
    driver: Driver, client: CosClient, store: CheckpointStore
) -> None:
    def chunks() -> Iterator[Any]:
        yield os.urandom(2 * MB)
        yield 42

    with pytest.raises(CosValidationError) as excinfo:
        driver.uploader(client, store).upload(chunks(), "bad-later.bin")
    assert "int" in str(excinfo.value)
    assert list(client.list_multipart_uploads()) == [] and list(store) == []


def test_an_async_iterator_is_refused_by_the_threaded_uploader_with_a_pointer(
    client: CosClient, store: CheckpointStore
) -> None:
    from cos_multipart import Uploader

    async def chunks() -> Any:
        yield b"x"

    with pytest.raises(CosValidationError) as excinfo:
        Uploader(client, store=store).upload(chunks(), "k")
    assert "cos_multipart.aio" in str(excinfo.value)


def test_an_iterator_is_read_with_bounded_memory(driver: Driver, client: CosClient, store: CheckpointStore) -> None:
    # The iterator is read only as parts go out: what it has yielded beyond the parts COS confirmed stays
    # within the parts in flight (concurrency), the one being read and one chunk.
    part, concurrency, total = MB, 2, 24 * MB
    confirmed = [0]
    ahead: List[int] = []

    def progress(event: ProgressEvent) -> None:
        confirmed[0] = max(confirmed[0], event.parts_done * part)

    def chunks() -> Iterator[bytes]:
        yielded = 0
        while yielded < total:
            ahead.append(yielded - confirmed[0])
            chunk = os.urandom(64 * KB)
            yielded += len(chunk)
            yield chunk

    result = driver.uploader(client, store, concurrency=concurrency).upload(chunks(), "bounded.bin", progress=progress)
    assert result.size == total and len(result.parts) == total // part
    assert max(ahead) <= (concurrency + 2) * part, max(ahead)
