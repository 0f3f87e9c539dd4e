"""The checkpoint store against what can be on disk (issue 9): checked before Initiate, and a later failure
of the store never fails a verified upload nor leaves an upload nobody can name."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import List

import pytest

from cos_multipart import CosValidationError, RetryPolicy, kept_upload_of, upload_file
from cos_multipart._io.checkpoint import Checkpoint, CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosServiceError
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import Fault, LocalCOS

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def source(tmp_path: Path, size: int = 3 * MB) -> Path:
    path = tmp_path / "src.bin"
    path.write_bytes(os.urandom(size))
    return path


def small_parts(client: CosClient, path: Path, key: str, **kwargs: object) -> object:
    return upload_file(client, path, key, part_size=MB, multipart_threshold=0, concurrency=1, **kwargs)  # type: ignore[arg-type]


def assert_nothing_sent(local_cos: LocalCOS) -> None:
    assert not local_cos.log_entries(), [entry.api for entry in local_cos.log_entries()]


def test_a_checkpoint_dir_that_is_a_file_is_refused_before_any_request(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path = source(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    for directory in (blocker, blocker / "below"):
        with pytest.raises(CosValidationError) as caught:
            small_parts(client, path, "k", checkpoint_dir=str(directory))
        assert caught.value.field == "checkpoint_dir" and str(directory) in str(caught.value)
    assert_nothing_sent(local_cos)


def test_a_directory_at_the_checkpoint_path_is_refused_before_any_request(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path = source(tmp_path)
    store = CheckpointStore(tmp_path / "cp")
    store.path_for(client.endpoint.base_url, client.bucket, "k", path).mkdir(parents=True)
    with pytest.raises(CosValidationError) as caught:
        small_parts(client, path, "k", store=store)
    assert caught.value.field == "checkpoint"
    assert_nothing_sent(local_cos)


def unwritable_directory(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        directory = tmp_path / "read-only"
        directory.mkdir(mode=0o500)
        return directory
    # Root ignores permission bits; sysfs refuses new files even to root.
    for candidate in (Path("/sys/kernel"), Path("/sys")):
        try:
            fd = os.open(candidate / "cos-multipart-probe", os.O_CREAT | os.O_WRONLY, 0o600)
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                return candidate
            continue
        os.close(fd)
        os.unlink(candidate / "cos-multipart-probe")
    pytest.skip("no directory that this user cannot write")


def test_a_directory_that_cannot_be_written_is_refused_before_any_request(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path = source(tmp_path)
    directory = unwritable_directory(tmp_path)
    with pytest.raises(CosValidationError) as caught:
        small_parts(client, path, "k", checkpoint_dir=str(directory))
    assert caught.value.field == "checkpoint_dir" and str(directory) in str(caught.value)
    assert_nothing_sent(local_cos)


class DiskFull(CheckpointStore):
    """A store on a disk that fills up after the usability check: every checkpoint write fails."""

    def save(self, checkpoint: Checkpoint) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_store_that_never_wrote_a_checkpoint_leaves_no_unnamed_upload(local_cos: LocalCOS, tmp_path: Path) -> None:
    path = source(tmp_path)
    local_cos.faults.add(Fault.error("UploadPart", status=400, code="InvalidArgument", nth=2, count=None))
    with local_cos.client(retry=RetryPolicy.never()) as client, pytest.raises(CosServiceError) as caught:
        small_parts(client, path, "k", store=DiskFull(tmp_path / "cp"))
    # No checkpoint names the upload, so it is aborted rather than kept: nothing billed that nobody knows of.
    assert kept_upload_of(caught.value) is None
    assert local_cos.log_entries("AbortMultipartUpload")
    with local_cos.client() as client:
        assert list(client.list_multipart_uploads()) == []


def test_a_store_failing_mid_upload_never_fails_a_verified_upload(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path = source(tmp_path)
    store = CheckpointStore(tmp_path / "cp")
    checkpoint = store.path_for(client.endpoint.base_url, client.bucket, "k", path)
    replaced: List[bool] = []

    def break_the_store(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and not replaced and checkpoint.exists():
            # The checkpoint becomes a directory: every later write and the final removal fail.
            os.unlink(checkpoint)
            checkpoint.mkdir()
            replaced.append(True)

    result = upload_file(client, path, "k", part_size=MB, multipart_threshold=0, concurrency=1, store=store, progress=break_the_store)
    assert replaced and result.size == 3 * MB
    assert client.head_object("k").size == 3 * MB
    shutil.rmtree(checkpoint)
