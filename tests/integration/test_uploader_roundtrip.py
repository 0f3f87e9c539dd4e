"""Uploads against the local COS server over real sockets: sizes at every boundary, files and streams,
encryption modes, options, progress. Every object is read back and compared byte for byte."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, List

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._core.progress import ProgressEvent
from cos_multipart._protocol.sse import SseC, SseCos, SseKms
from cos_multipart.testing import LocalCOS
from cos_multipart._drivers.uploader import UploadConfig, UploadResult, upload_file

from uploads import Driver, stored, supported

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

SSE_C_KEY = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="


class Pipe(io.RawIOBase):
    """A non-seekable stream that hands out data in odd-sized pieces, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._inner.read(min(len(buffer), 65_537))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def check(client: CosClient, result: UploadResult, key: str, data: bytes, **options: Any) -> None:
    assert result.size == len(data) and result.crc64 == crc64(data)
    assert stored(client, key, **options) == data
    head = client.head_object(key, **options)
    assert head.crc64 == crc64(data) and head.size == len(data)


SIZES = [0, 1, MB - 1, MB, MB + 1, 3 * MB + 12_345]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("multipart", [True, False])
def test_file_sizes_at_the_boundaries(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path, size: int, multipart: bool
) -> None:
    data = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    threshold = 0 if multipart else 8 * MB
    config = UploadConfig(part_size=MB, multipart_threshold=threshold, concurrency=3)
    result = driver.Uploader(client, config, store=store).upload(path, f"sizes/{size}")
    assert result.multipart is multipart
    assert len(result.parts) == (max(1, -(-size // MB)) if multipart else 1)
    check(client, result, f"sizes/{size}", data)
    assert list(store) == []


@pytest.mark.parametrize("size", [0, 1, MB - 1, MB, MB + 1, 3 * MB + 12_345])
def test_stream_sizes(driver: Driver, client: CosClient, store: CheckpointStore, size: int) -> None:
    data = os.urandom(size)
    config = UploadConfig(part_size=MB, multipart_threshold=MB, concurrency=2)
    result = driver.Uploader(client, config, store=store).upload(Pipe(data), f"streams/{size}")
    assert result.multipart is (size >= MB)
    check(client, result, f"streams/{size}", data)


def test_seekable_file_object_from_its_position(driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path) -> None:
    data = os.urandom(2 * MB + 100)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    with open(path, "rb") as handle:
        handle.seek(100)
        result = driver.upload_file(client, handle, "fileobj", part_size=MB, multipart_threshold=0, store=store)
    check(client, result, "fileobj", data[100:])
    result = driver.upload_file(client, io.BytesIO(data), "bytesio", part_size=MB, multipart_threshold=0, store=store)
    check(client, result, "bytesio", data)


@pytest.mark.parametrize(
    "encryption",
    [SseCos(), SseKms(), SseKms(key_id="kms-key-1", context={"team": "a"}), SseC(SSE_C_KEY)],
    ids=["sse-cos", "sse-kms", "sse-kms-key", "sse-c"],
)
@pytest.mark.parametrize("multipart", [True, False])
def test_encryption_modes(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, encryption: Any,
    multipart: bool,
) -> None:
    data = os.urandom(2 * MB + 1)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    threshold = 0 if multipart else 8 * MB
    if not supported(client, ObjectOptions(encryption=encryption)):  # OSS: no SSE-C, no KMS context
        with pytest.raises(CosValidationError) as info:
            driver.upload_file(
                client, path, "enc", part_size=MB, multipart_threshold=threshold,
                options=ObjectOptions(encryption=encryption), store=store,
            )  # fmt: skip
        assert info.value.field.startswith("encryption") and "OSS does not have" in info.value.allowed
        assert not local_cos.log_entries() and not list(store)  # refused before any request or checkpoint
        return
    result = driver.upload_file(
        client, path, "enc", part_size=MB, multipart_threshold=threshold, options=ObjectOptions(encryption=encryption),
        store=store,
    )  # fmt: skip
    extra = {"sse_c": encryption} if isinstance(encryption, SseC) else {}
    check(client, result, "enc", data, **extra)


def test_sse_c_key_never_written_to_the_checkpoint(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    if not client.dialect.supports_sse_c:
        pytest.skip("OSS has no SSE-C: test_encryption_modes checks that it is refused before anything is sent")
    data = os.urandom(3 * MB)
    path = tmp_path / "data.bin"
    path.write_bytes(data)

    def stop(event: ProgressEvent) -> None:
        if event.parts_done >= 1:
            raise RuntimeError("stop")

    config = UploadConfig(
        part_size=MB, multipart_threshold=0, concurrency=1, options=ObjectOptions(encryption=SseC(SSE_C_KEY))
    )
    with pytest.raises(RuntimeError):
        driver.Uploader(client, config, store=store).upload(path, "enc", progress=stop)
    files = list(store.directory.iterdir())
    assert files and all(SSE_C_KEY not in f.read_text() for f in files)


def test_options_are_stored_with_the_object(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<html></html>" * 100_000)
    driver.upload_file(
        client,
        path,
        "site/index.html",
        part_size=MB,
        multipart_threshold=0,
        options=ObjectOptions(metadata={"owner": "team-a"}, storage_class="STANDARD_IA", cache_control="max-age=60"),
        store=store,
    )
    head = client.head_object("site/index.html")
    assert head.response.headers.get("content-type") == "text/html"  # guessed from the key
    assert head.response.headers.get("x-cos-meta-owner") == "team-a"
    assert head.response.headers.get("cache-control") == "max-age=60"


def test_forbid_overwrite(driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path) -> None:
    from cos_multipart._protocol.errors import ObjectExistsError

    path = tmp_path / "a.bin"
    path.write_bytes(os.urandom(MB + 1))
    driver.upload_file(client, path, "once", part_size=MB, multipart_threshold=0, store=store)
    with pytest.raises(ObjectExistsError):
        driver.upload_file(client, path, "once", part_size=MB, multipart_threshold=0, forbid_overwrite=True, store=store)
    assert list(client.list_multipart_uploads()) == []  # refused before Initiate: nothing left behind


def test_progress_is_monotonic_and_complete(driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path) -> None:
    data = os.urandom(5 * MB + 3)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    events: List[ProgressEvent] = []
    driver.upload_file(
        client, path, "progress", part_size=MB, multipart_threshold=0, concurrency=3, store=store,
        progress=events.append,
    )  # fmt: skip
    assert events[0].bytes_done == 0
    for before, after in zip(events, events[1:]):
        assert after.bytes_done >= before.bytes_done and after.parts_done >= before.parts_done
    assert all(event.bytes_done <= len(data) for event in events)
    assert events[-1].bytes_done == len(data) and events[-1].parts_done == events[-1].parts_total == 6
    assert len(events) > 6  # byte-level, not only per part


def test_bandwidth_limit_slows_the_upload(driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * MB))
    result = driver.upload_file(
        client, path, "capped", part_size=MB, multipart_threshold=0, bandwidth_limit=6 * MB, store=store
    )
    # 3 MB at 6 MB/s, minus the 1.5 MB burst: at least a quarter second
    assert result.elapsed >= 0.2


def test_traffic_limit_header_reaches_upload_part(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(MB + 1))
    driver.upload_file(
        client, path, "limited", part_size=MB, multipart_threshold=0, traffic_limit=838_860_800, store=store
    )
    parts = local_cos.log_entries("UploadPart")
    header = f"x-{local_cos.dialect}-traffic-limit"  # x-cos-traffic-limit / x-oss-traffic-limit
    assert parts and all(entry.headers.get(header) == "838860800" for entry in parts)


def test_each_byte_is_read_from_the_file_once(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    size = 6 * MB + 5
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(size))
    read = [0]
    real_pread = os.pread

    def counting_pread(fd: int, length: int, offset: int) -> bytes:
        data = real_pread(fd, length, offset)
        read[0] += len(data)
        return data

    real_preadv = os.preadv

    def counting_preadv(fd: int, buffers: List[memoryview], offset: int) -> int:
        got = real_preadv(fd, buffers, offset)
        read[0] += got
        return got

    monkeypatch.setattr(os, "pread", counting_pread)
    monkeypatch.setattr(os, "preadv", counting_preadv)  # the threaded engine reads a part into its own buffer
    driver.upload_file(client, path, "once", part_size=MB, multipart_threshold=0, concurrency=3, store=store)
    # every byte read once (hashed in the same pass, sent from the same buffer); the identity reads nothing
    assert read[0] == size


def test_client_pool_grows_to_the_worker_count(local_cos: LocalCOS, store: CheckpointStore, tmp_path: Path) -> None:
    # A pool of one connection blocks the other workers: the parts would go up one after the other.
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(4 * MB))
    local_cos.faults.set_latency(0.3)
    with local_cos.client(pool_size=1) as small_pool:
        upload_file(small_pool, path, "pooled", part_size=MB, multipart_threshold=0, concurrency=4, store=store)
        assert small_pool.transport.pool_size == 4
    spans = [(e.time, e.time + e.millis / 1000) for e in local_cos.log_entries("UploadPart")]
    overlapping = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert overlapping >= 2


def test_the_services_smallest_part_size_and_no_smaller(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    smallest = client.dialect.min_part_size  # COS 1 MB, OSS 100 KB
    path = tmp_path / "data.bin"
    data = os.urandom(3 * smallest + 7)
    path.write_bytes(data)
    result = driver.upload_file(client, path, "smallest", part_size=smallest, multipart_threshold=0, concurrency=3, store=store)
    assert [part.size for part in result.parts] == [smallest] * 3 + [7]
    check(client, result, "smallest", data)
    logged = len(local_cos.log_entries())
    with pytest.raises(CosValidationError) as info:
        driver.Uploader(client, UploadConfig(part_size=smallest - 1, multipart_threshold=0), store=store).upload(path, "smaller")
    assert info.value.field == "part_size" and str(smallest) in info.value.allowed
    assert len(local_cos.log_entries()) == logged  # refused before any request
