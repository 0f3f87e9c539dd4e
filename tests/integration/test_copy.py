"""Server-side copy against the local server over real sockets: one suite, every driver (threads, asyncio) and
dialect (COS, OSS): single and multipart copies, another bucket, a source replaced mid-copy, a damaged part,
an SSE-C source, a 0-byte source, a source exactly at the threshold."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from cos_multipart import CopyResult, CopySource, copy_object
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosIntegrityError, CosValidationError, ObjectExistsError, SourceChangedError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.sse import SseC
from cos_multipart.testing import Fault, LocalCOS

from uploads import Driver, async_client_like, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

OTHER_BUCKETS = {"cos": "other-1250000000", "oss": "other-bucket"}
KEY_BYTES = b"0123456789ABCDEF0123456789ABCDEF"


@pytest.fixture()
def server(local_cos_factory: Callable[..., LocalCOS], dialect: str) -> LocalCOS:
    return local_cos_factory(dialect=dialect, buckets=[OTHER_BUCKETS[dialect]])


@pytest.fixture()
def client(server: LocalCOS) -> Iterator[CosClient]:
    with server.client() as made:
        yield made


@pytest.fixture()
def store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path / "checkpoints")


def copy_with(driver: Driver, client: CosClient, source: Any, key: str, **options: Any) -> CopyResult:
    """:func:`copy_object` with the driver's engine (threads, or asyncio with an async client like ``client``)."""
    options.setdefault("part_size", MB)
    options.setdefault("threshold", MB)
    options.setdefault("concurrency", 2)
    if driver.name == "threads":
        return copy_object(client, source, key, **options)
    from cos_multipart.aio import async_copy_object

    async def run() -> CopyResult:
        async with async_client_like(client) as made:
            return await async_copy_object(made, source, key, **options)

    return asyncio.run(run())


def uploads_left(client: CosClient) -> List[Any]:
    return list(client.list_multipart_uploads())


def put(client: CosClient, key: str, size: int, **options: Any) -> bytes:
    data = os.urandom(size)
    client.put_object(key, data, **options)
    return data


def test_a_small_source_is_copied_in_one_request(driver: Driver, client: CosClient, server: LocalCOS, store: CheckpointStore) -> None:
    data = put(client, "src/small", 300 * 1024, content_type="text/plain", metadata={"owner": "a"})
    result = copy_with(driver, client, "src/small", "dst/small", store=store)
    assert (result.upload_id, result.parts, result.size, result.crc64_verified) == (None, 1, len(data), True)
    assert stored(client, "dst/small") == data
    head = client.head_object("dst/small")
    assert head.headers["content-type"] == "text/plain" and head.crc64 == result.source_crc64
    assert server.faults.requests_seen("PutObjectCopy") == 1


def test_a_large_source_is_copied_part_by_part_with_its_metadata(driver: Driver, client: CosClient, server: LocalCOS, store: CheckpointStore) -> None:
    data = put(client, "src/large", 3 * MB + 12345, content_type="video/mp4", metadata={"owner": "a"})
    events: List[Any] = []
    result = copy_with(driver, client, "src/large", "dst/large", store=store, progress=events.append, storage_class="STANDARD_IA")
    assert result.upload_id is not None and result.parts == 4 and result.crc64_verified
    assert stored(client, "dst/large") == data
    head = client.head_object("dst/large")
    assert head.headers["content-type"] == "video/mp4" and head.size == len(data)
    assert any(name.endswith("meta-owner") for name in head.headers)
    assert server.faults.requests_seen("UploadPartCopy") == 4
    assert uploads_left(client) == [] and list(store) == []
    assert events and events[-1].bytes_done == len(data)


def test_a_source_in_another_bucket(driver: Driver, client: CosClient, server: LocalCOS, dialect: str, store: CheckpointStore) -> None:
    other = OTHER_BUCKETS[dialect]
    with server.client(bucket=other) as source_client:
        data = put(source_client, "far/away", 2 * MB + 7)
    result = copy_with(driver, client, CopySource("far/away", other), "near", store=store)
    assert stored(client, "near") == data and result.source.startswith(other)


def test_a_source_replaced_mid_copy_fails_cleanly(driver: Driver, client: CosClient, server: LocalCOS, store: CheckpointStore) -> None:
    put(client, "src/moving", 4 * MB)
    server.faults.add(Fault.replace_source("UploadPartCopy", nth=1))
    with pytest.raises(SourceChangedError, match="changed while it was copied"):
        copy_with(driver, client, "src/moving", "dst/moving", store=store, concurrency=1)
    assert uploads_left(client) == [] and list(store) == []
    assert client.find_object("dst/moving") is None


def test_a_damaged_part_is_found_before_complete(driver: Driver, client: CosClient, server: LocalCOS, store: CheckpointStore) -> None:
    put(client, "src/x", 3 * MB)
    server.faults.add(Fault.corrupt("UploadPartCopy"))
    with pytest.raises(CosIntegrityError) as caught:
        copy_with(driver, client, "src/x", "dst/x", store=store)
    assert caught.value.what == "parts-crc64"
    assert uploads_left(client) == [] and client.find_object("dst/x") is None and list(store) == []


def test_a_damaged_single_copy_is_deleted(driver: Driver, client: CosClient, server: LocalCOS, store: CheckpointStore) -> None:
    put(client, "src/y", 1000)
    server.faults.add(Fault.corrupt("PutObjectCopy"))
    with pytest.raises(CosIntegrityError, match="crc64") as caught:
        copy_with(driver, client, "src/y", "dst/y", store=store)
    assert "deleted" in caught.value.outcome and client.find_object("dst/y") is None


def test_an_sse_c_source(driver: Driver, client: CosClient, dialect: str, store: CheckpointStore) -> None:
    if dialect == "oss":
        with pytest.raises(CosValidationError, match="source_sse_c"):
            copy_with(driver, client, "src/secret", "dst/secret", source_sse_c=SseC(KEY_BYTES), store=store)
        return
    data = put(client, "src/secret", 2 * MB + 1, encryption=SseC(KEY_BYTES))
    for threshold in (4 * MB, MB):  # single and multipart
        key = f"dst/secret-{threshold}"
        result = copy_with(driver, client, "src/secret", key, source_sse_c=SseC(KEY_BYTES), store=store, threshold=threshold)
        assert stored(client, key) == data and result.size == len(data)


def test_an_sse_c_destination(driver: Driver, client: CosClient, dialect: str, store: CheckpointStore) -> None:
    if dialect == "oss":
        pytest.skip("OSS has no SSE-C (refused before any request: test_an_sse_c_source)")
    data = put(client, "src/plain", 2 * MB + 1)
    other = SseC(bytes(reversed(KEY_BYTES)))
    for threshold in (4 * MB, MB):  # single and multipart
        key = f"dst/sealed-{threshold}"
        result = copy_with(driver, client, "src/plain", key, encryption=other, store=store, threshold=threshold)
        assert result.crc64_verified and stored(client, key, sse_c=other) == data


def test_an_empty_source(driver: Driver, client: CosClient, store: CheckpointStore) -> None:
    put(client, "src/empty", 0)
    result = copy_with(driver, client, "src/empty", "dst/empty", store=store, threshold=0)
    assert (result.size, result.upload_id) == (0, None)
    assert stored(client, "dst/empty") == b""


def test_a_source_exactly_at_the_threshold_is_one_copy(driver: Driver, client: CosClient, server: LocalCOS, store: CheckpointStore) -> None:
    data = put(client, "src/edge", 2 * MB)
    at = copy_with(driver, client, "src/edge", "dst/at", store=store, threshold=2 * MB)
    above = copy_with(driver, client, "src/edge", "dst/above", store=store, threshold=2 * MB - 1)
    assert at.upload_id is None and above.upload_id is not None and above.parts == 2
    assert stored(client, "dst/at") == data == stored(client, "dst/above")


def test_forbid_overwrite_refuses_an_existing_destination(driver: Driver, client: CosClient, store: CheckpointStore) -> None:
    put(client, "src/z", 2 * MB)
    put(client, "dst/z", 10)
    for threshold in (4 * MB, MB):
        with pytest.raises(ObjectExistsError):
            copy_with(driver, client, "src/z", "dst/z", store=store, forbid_overwrite=True, threshold=threshold)
    assert stored(client, "dst/z") != b"" and uploads_left(client) == []


def test_a_missing_source_is_the_services_404(driver: Driver, client: CosClient, store: CheckpointStore) -> None:
    from cos_multipart._protocol.errors import CosServiceError

    with pytest.raises(CosServiceError) as caught:
        copy_with(driver, client, "src/none", "dst/none", store=store)
    assert caught.value.status == 404


class _NoCrcHeads:
    """A transport that answers every HEAD without its CRC-64 header: the source looks like an object older than
    the service's CRC-64 (the local server always has one)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def send(self, call: Any, parse: Any, *, cancel: Any = None) -> Any:
        if call.method != "HEAD":
            return self._inner.send(call, parse, cancel=cancel)

        def without_crc(status: int, headers: Any, body: bytes) -> Any:
            return parse(status, {name: value for name, value in headers.items() if "hash-crc64ecma" not in name.lower()}, body)

        return self._inner.send(call, without_crc, cancel=cancel)


def test_a_source_without_crc64_is_copied_and_said_so(
    client: CosClient, store: CheckpointStore, caplog: pytest.LogCaptureFixture
) -> None:
    data = put(client, "src/old", 3 * MB)
    blind = client.with_transport(_NoCrcHeads(client.transport))
    for threshold in (4 * MB, MB):  # single and multipart
        key = f"dst/old-{threshold}"
        result = copy_object(client, "src/old", key, source_client=blind, store=store, threshold=threshold, part_size=MB)
        assert (result.source_crc64, result.crc64_verified, result.size) == (None, False, len(data))
        assert stored(client, key) == data
    assert "has no CRC-64" in caplog.text


@pytest.mark.parametrize("arguments, field", [
    ({"source": CopySource("src/k", version_id="v1")}, "source"),
    ({"key": "src/k"}, "metadata_directive"),  # onto itself with "Copy"
    ({"content_type": "text/plain"}, "content_type"),  # a content option with "Copy"
    ({"threshold": 6 * 1024**3}, "threshold"),
    ({"metadata_directive": "COPY"}, "metadata_directive"),
    ({"source": CopySource("src/k", region="ap-beijing")}, "source region"),  # OSS only: COS copies across regions
    ({"source_sse_c": SseC(KEY_BYTES)}, "source_sse_c"),  # OSS only
])  # fmt: skip
def test_bad_arguments_are_refused_before_any_request(
    server: LocalCOS, client: CosClient, dialect: str, store: CheckpointStore, arguments: Any, field: str
) -> None:
    if field in ("source region", "source_sse_c") and dialect == "cos":
        pytest.skip("COS takes it")
    before = len(server.log_entries())
    call = {"source": "src/k", "key": "dst/k", **arguments}
    with pytest.raises(CosValidationError) as caught:
        copy_object(client, call.pop("source"), call.pop("key"), store=store, **call)
    assert caught.value.field == field
    assert len(server.log_entries()) == before
