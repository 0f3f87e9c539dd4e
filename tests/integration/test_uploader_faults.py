"""Faults injected by the local COS server end in a correct object or a clear error, never in a corrupted
object reported as uploaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosIntegrityError, CosServiceError, CosTransportError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import Fault, LocalCOS

from uploads import Driver, make_file, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture()
def client(local_cos: LocalCOS) -> Iterator[CosClient]:
    with local_cos.client(retry=FAST_RETRY, timeout=(5, 5)) as made:
        yield made


@pytest.fixture()
def source(tmp_path: Path) -> Tuple[Path, bytes]:
    return make_file(tmp_path, 4 * MB + 17)


def object_exists(client: CosClient, key: str) -> bool:
    try:
        client.head_object(key)
    except CosServiceError as error:
        assert error.status == 404
        return False
    return True


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error("UploadPart", status=503, nth=2),
        Fault.error("UploadPart", status=500, nth=1, count=2),
        Fault.reset("UploadPart", after_bytes=300_000, nth=3),
        Fault.delay(0.3, "UploadPart", nth=1, count=2),
        Fault.error("InitiateMultipartUpload", status=503),
        Fault.error("CompleteMultipartUpload", status=500),
    ],
    ids=["503-once", "500-twice", "reset-mid-part", "slow", "initiate-503", "complete-500"],
)
def test_transient_faults_end_in_a_correct_object(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, source: Tuple[Path, bytes], fault: Fault
) -> None:
    path, data = source
    local_cos.faults.add(fault)
    result = driver.uploader(client, store).upload(path, "k")
    assert stored(client, "k") == data and result.crc64 == crc64(data)
    assert local_cos.faults.fired, "the fault did not fire: the test proves nothing"


@pytest.mark.parametrize("kind", ["wrong_etag", "wrong_crc64"])
def test_wrong_checksum_once_resends_the_part(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, source: Tuple[Path, bytes], kind: str
) -> None:
    path, data = source
    local_cos.faults.add(getattr(Fault, kind)("UploadPart", nth=2))
    result = driver.uploader(client, store).upload(path, "k")
    assert stored(client, "k") == data and result.crc64 == crc64(data)
    assert len(local_cos.log_entries("UploadPart")) == 6  # 5 parts, one of them twice


def test_wrong_crc_every_time_is_an_integrity_error(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, source: Tuple[Path, bytes]
) -> None:
    path, data = source
    local_cos.faults.add(Fault.wrong_crc64("UploadPart", nth=1, count=None))
    with pytest.raises(CosIntegrityError) as info:
        driver.uploader(client, store, concurrency=1, part_attempts=2).upload(path, "k")
    error = info.value
    assert error.what == "crc64" and error.part_number == 1 and error.request_id
    assert error.local == crc64(data[:MB]) and error.remote != error.local
    assert not object_exists(client, "k")
    assert len(list(store)) == 1  # kept: the upload can be resumed once the fault is gone
    local_cos.faults.clear()
    result = driver.uploader(client, store).upload(path, "k")
    assert stored(client, "k") == data and result.crc64 == crc64(data)


def test_wrong_whole_object_crc_is_not_reported_as_uploaded(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, source: Tuple[Path, bytes]
) -> None:
    path, data = source
    local_cos.faults.add(Fault.wrong_crc64("CompleteMultipartUpload"))
    with pytest.raises(CosIntegrityError) as info:
        driver.uploader(client, store).upload(path, "k")
    assert info.value.part_number is None and info.value.local == crc64(data)


def test_wrong_crc_on_single_put(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path = tmp_path / "small"
    data = os.urandom(1000)
    path.write_bytes(data)
    local_cos.faults.add(Fault.wrong_crc64("PutObject", nth=1, count=None))
    with pytest.raises(CosIntegrityError):
        driver.uploader(client, store, multipart_threshold=MB, part_attempts=2).upload(path, "small")
    assert len(local_cos.log_entries("PutObject")) == 2


def test_single_put_damaged_once_is_sent_again(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    # The service refuses a body that does not match its Content-MD5 (COS 400 BadDigest, OSS 400 InvalidDigest):
    # the local bytes are fine, so the PUT is sent again, as a part whose checksums disagree is.
    path, data = make_file(tmp_path, 1000, "small")
    local_cos.faults.add(Fault.corrupt("PutObject"))
    events: List[ProgressEvent] = []
    result = driver.upload_file(client, path, "small", multipart_threshold=MB, store=store, progress=events.append)
    assert stored(client, "small") == data and result.crc64 == crc64(data) and result.upload_id is None
    puts = local_cos.log_entries("PutObject")
    assert [(entry.status, entry.code) for entry in puts] == [(400, client.dialect.digest_mismatch), (200, "")]
    assert len(result.request_ids) == 2  # the refused attempt's and the verified one's
    assert events[-1].bytes_done == len(data) and all(event.bytes_done <= len(data) for event in events)


def test_single_put_damaged_every_time_raises_the_service_error(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 1000, "small")
    local_cos.faults.add(Fault.corrupt("PutObject", count=None))
    with pytest.raises(CosServiceError) as info:
        driver.uploader(client, store, multipart_threshold=MB, part_attempts=3).upload(path, "small")
    assert (info.value.status, info.value.code) == (400, client.dialect.digest_mismatch) and info.value.request_id
    assert len(local_cos.log_entries("PutObject")) == 3
    assert not object_exists(client, "small")


def test_persistent_5xx_raises_the_real_cause_and_keeps_the_checkpoint(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    data = os.urandom(12 * MB)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    local_cos.faults.add(Fault.error("UploadPart", status=503, code="SlowDown", nth=3, count=None))
    with pytest.raises(CosServiceError) as info:
        driver.uploader(client, store).upload(path, "k")
    error = info.value
    assert (error.status, error.code) == (503, "SlowDown") and error.request_id
    sent = len(local_cos.log_entries("UploadPart"))
    assert sent < 12 + 3 * 2  # stopped promptly, not every part tried
    assert len(list(store)) == 1 and not local_cos.log_entries("AbortMultipartUpload")
    local_cos.faults.clear()
    result = driver.uploader(client, store).upload(path, "k")
    assert result.parts_reused >= 2 and stored(client, "k") == data


def test_abort_on_failure_leaves_nothing(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, source: Tuple[Path, bytes]
) -> None:
    path, _ = source
    local_cos.faults.add(Fault.error("UploadPart", status=500, nth=2, count=None))
    with pytest.raises(CosServiceError):
        driver.uploader(client, store, abort_on_failure=True).upload(path, "k")
    assert list(client.list_multipart_uploads()) == [] and list(store) == []


def test_connection_failures_are_transport_errors(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, source: Tuple[Path, bytes]
) -> None:
    path, _ = source
    local_cos.faults.add(Fault.reset("UploadPart", after_bytes=1000, nth=1, count=None))
    with pytest.raises(CosTransportError) as info:
        driver.uploader(client, store).upload(path, "k")
    assert info.value.attempts == FAST_RETRY.max_attempts


def test_stream_failure_aborts_the_upload(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore
) -> None:
    import io

    local_cos.faults.add(Fault.error("UploadPart", status=500, nth=2, count=None))
    with pytest.raises(CosServiceError):
        driver.uploader(client, store).upload(io.BytesIO(os.urandom(3 * MB)), "k")
    assert list(client.list_multipart_uploads()) == []
