"""Part bodies: exact bytes, hashes computed once while sending, rewind for retries, progress, cancel."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from cos_multipart._protocol.errors import SourceChangedError
from cos_multipart._io._partreader import (
    BufferPartReader,
    FilePartReader,
    PartCancelled,
    _Hasher,
    read_stream_part,
)
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.integrity import CRC64_ECMA
from cos_multipart._core.progress import ProgressEvent, ProgressTracker
from cos_multipart._io.ratelimit import TokenBucket

DATA = os.urandom(300_000)


@pytest.fixture()
def fd(tmp_path: Path) -> Iterator[int]:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    handle = os.open(path, os.O_RDONLY)
    yield handle
    os.close(handle)


def drain(reader: FilePartReader, chunk: int = 16_384) -> bytes:
    out = bytearray()
    while True:
        block = reader.read(chunk)
        if not block:
            return bytes(out)
        out += block


def test_reads_exactly_its_range_and_hashes_it(fd: int) -> None:
    reader = FilePartReader(fd, 100_000, 150_000, 2)
    assert len(reader) == 150_000
    body = drain(reader)
    assert body == DATA[100_000:250_000]
    digest = reader.digest()
    assert digest.size == 150_000
    assert digest.crc64 == crc64(body)
    assert digest.md5_hex == hashlib.md5(body).hexdigest()


def test_rewind_before_a_retry_resets_the_hash(fd: int) -> None:
    reader = FilePartReader(fd, 0, 50_000)
    reader.read(30_000)
    assert reader.tell() == 30_000
    reader.seek(0)
    assert drain(reader, 7_000) == DATA[:50_000]
    assert reader.digest().crc64 == crc64(DATA[:50_000])


def test_reading_twice_without_rewind_hashes_once(fd: int) -> None:
    reader = FilePartReader(fd, 0, 10_000)
    drain(reader)
    assert reader.read(100) == b""
    assert reader.digest().size == 10_000


def test_seek_to_the_middle_then_digest_rehashes_what_was_skipped(fd: int) -> None:
    reader = FilePartReader(fd, 0, 40_000)
    reader.seek(20_000)
    assert drain(reader) == DATA[20_000:40_000]
    assert reader.digest().crc64 == crc64(DATA[:40_000])


def test_seek_end_and_relative(fd: int) -> None:
    reader = FilePartReader(fd, 0, 1000)
    assert reader.seek(0, io.SEEK_END) == 1000
    assert reader.read() == b""
    assert reader.seek(-10, io.SEEK_CUR) == 990
    with pytest.raises(ValueError):
        reader.seek(-1)


def test_read_all_with_negative_size(fd: int) -> None:
    reader = FilePartReader(fd, 5, 20)
    assert reader.read() == DATA[5:25]


def test_without_md5_only_crc(fd: int) -> None:
    reader = FilePartReader(fd, 0, 1000, md5=False)
    drain(reader)
    assert reader.digest().md5_hex is None and reader.digest().crc64 == crc64(DATA[:1000])


def test_empty_part(fd: int) -> None:
    reader = FilePartReader(fd, 0, 0)
    assert reader.read(10) == b"" and reader.digest().crc64 == 0 and len(reader) == 0


def test_file_shorter_than_planned(fd: int) -> None:
    reader = FilePartReader(fd, len(DATA) - 10, 20, 3, path="x.bin")
    with pytest.raises(SourceChangedError) as info:
        reader.read(20)
    assert "part 3" in str(info.value) and info.value.got == 10


def test_progress_counts_bytes_and_rewinds(fd: int) -> None:
    events: List[ProgressEvent] = []
    tracker = ProgressTracker(10_000, 1, events.append)
    reader = FilePartReader(fd, 0, 10_000, 1, progress=tracker)
    reader.seek(0, io.SEEK_END)  # measuring the length sends nothing
    reader.seek(0)
    assert events == []
    reader.read(6_000)
    reader.seek(0)
    drain(reader, 3_000)
    assert [e.bytes_done for e in events] == [6_000, 9_000, 9_999]  # capped until confirmed
    tracker.part_done(1, 10_000)
    assert events[-1].bytes_done == 10_000


def test_cancel_stops_the_next_read(fd: int) -> None:
    cancel = threading.Event()
    reader = FilePartReader(fd, 0, 10_000, 4, cancel=cancel)
    reader.read(100)
    cancel.set()
    with pytest.raises(PartCancelled, match="part 4"):
        reader.read(100)


def test_rate_limit_is_applied_per_read(fd: int) -> None:
    reserved: List[int] = []

    class Recording(TokenBucket):
        def reserve(self, amount: int) -> float:
            reserved.append(amount)
            return 0.0

    reader = FilePartReader(fd, 0, 10_000, limiter=Recording(1000))
    drain(reader, 4_000)
    assert reserved == [4_000, 4_000, 2_000]


def test_cancel_while_waiting_for_the_rate_limit(fd: int) -> None:
    cancel = threading.Event()
    reader = FilePartReader(fd, 0, 100_000, limiter=TokenBucket(1000, burst=1), cancel=cancel)
    threading.Timer(0.05, cancel.set).start()
    with pytest.raises(PartCancelled):
        reader.read(100_000)


def test_threads_share_one_descriptor(fd: int) -> None:
    size = len(DATA) // 4
    results: Dict[int, Any] = {}

    def work(index: int) -> None:
        reader = FilePartReader(fd, index * size, size, index + 1)
        results[index] = (drain(reader, 1000), reader.digest().crc64)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in range(4):
        expected = DATA[index * size : (index + 1) * size]
        assert results[index] == (expected, crc64(expected))


def test_requests_sends_content_length_even_for_empty_parts(fd: int) -> None:
    for length in (0, 1234):
        prepared = requests.Request("PUT", "http://127.0.0.1/x", data=FilePartReader(fd, 0, length)).prepare()
        assert prepared.headers.get("Content-Length") == str(length)
        assert "Transfer-Encoding" not in prepared.headers


def test_stream_part_is_bounded_and_hashed_once() -> None:
    stream = io.BytesIO(DATA)
    first = read_stream_part(stream, 200_000)
    second = read_stream_part(stream, 200_000)
    third = read_stream_part(stream, 200_000)
    assert bytes(first.data) == DATA[:200_000] and len(second.data) == 100_000 and len(third.data) == 0
    assert first.digest.crc64 == crc64(DATA[:200_000])
    assert second.digest.md5_hex == hashlib.md5(DATA[200_000:]).hexdigest()


def test_stream_without_readinto() -> None:
    class Pipe:
        def __init__(self) -> None:
            self.data = io.BytesIO(DATA)

        def read(self, size: int = -1) -> bytes:
            return self.data.read(min(size, 999))  # short reads like a pipe

    part = read_stream_part(Pipe(), 50_000, md5=False)  # type: ignore[arg-type]
    assert bytes(part.data) == DATA[:50_000] and part.digest.md5_hex is None


def test_buffer_reader_serves_views_and_rewinds() -> None:
    part = read_stream_part(io.BytesIO(DATA[:5000]), 10_000)
    events: List[ProgressEvent] = []
    tracker = ProgressTracker(None, None, events.append)
    reader = BufferPartReader(part.data, part.digest, 1, progress=tracker)
    first = reader.read(3000)
    assert isinstance(first, memoryview) and first.obj is part.data.obj  # no copy
    reader.seek(0)
    assert b"".join([reader.read(4000), reader.read(4000), reader.read(4000)]) == DATA[:5000]
    assert reader.digest() is part.digest and len(reader) == 5000
    assert events[-1].bytes_done == 5000


def test_readinto_a_reused_buffer_reads_hashes_and_counts_like_read(fd: int) -> None:
    reader = FilePartReader(fd, 100_000, 150_000, 2)
    buffer = memoryview(bytearray(40_000))
    out = bytearray()
    while True:
        got = reader.readinto(buffer)
        if not got:
            break
        out += buffer[:got]  # the caller sends the block before the next read overwrites it
    assert bytes(out) == DATA[100_000:250_000] and reader.tell() == 150_000
    digest = reader.digest()
    assert digest.crc64 == crc64(bytes(out)) and digest.md5_hex == hashlib.md5(bytes(out)).hexdigest()


def test_readinto_past_the_end_of_a_shrunk_file_is_a_changed_source(fd: int) -> None:
    reader = FilePartReader(fd, len(DATA) - 10, 20, 3, path="x.bin")
    with pytest.raises(SourceChangedError) as info:
        reader.readinto(memoryview(bytearray(64)))
    assert "part 3" in str(info.value) and info.value.got == 10


def test_each_chunk_is_crc_checked_before_md5_reads_it() -> None:
    # The order matters for CPU only (the CRC reads the chunk while it is still in cache, see _Hasher.update);
    # the values are the same either way.
    md5_before: List[str] = []

    def update(data: Any, value: int) -> int:
        md5_before.append(hasher.digest().md5_hex or "")
        return crc64(data, value)

    hasher = _Hasher(True, dataclasses.replace(CRC64_ECMA, update=update))
    hasher.update(b"abc")
    hasher.update(memoryview(b"defg"))
    assert md5_before == [hashlib.md5(b"").hexdigest(), hashlib.md5(b"abc").hexdigest()]
    digest = hasher.digest()
    assert (digest.size, digest.crc64, digest.md5_hex) == (7, crc64(b"abcdefg"), hashlib.md5(b"abcdefg").hexdigest())
