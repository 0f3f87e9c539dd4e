"""No upload left behind, and no work done twice: a false NoSuchUpload, and a kill after Complete was sent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import Fault, LocalCOS

from uploads import Driver, make_file, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def interrupted(driver: Driver, client: CosClient, store: CheckpointStore, path: Path, key: str) -> str:
    """An upload of ``path`` stopped after two parts; returns its upload id."""

    def stop(event: Any) -> None:
        if event.parts_done >= 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        driver.uploader(client, store, concurrency=1).upload(path, key, progress=stop)
    (checkpoint,) = [cp for _, cp in store if cp.key == key]
    return checkpoint.upload_id


def test_a_false_no_such_upload_during_resume_does_not_orphan_the_upload(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    old = interrupted(driver, client, store, path, "k")
    # A proxy or a confused server says the upload is gone while COS still has it.
    local_cos.faults.add(Fault.error("ListParts", status=404, code="NoSuchUpload", count=1))
    result = driver.uploader(client, store).upload(path, "k")
    assert result.upload_id != old and stored(client, "k") == data
    assert [u.upload_id for u in client.list_multipart_uploads()] == []  # the old one was aborted, not orphaned


def test_a_kill_after_complete_was_sent_is_finished_without_sending_anything_again(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, data = make_file(tmp_path, 4 * MB + 7)
    real_delete = CheckpointStore.delete

    def killed(self: CheckpointStore, checkpoint: Any) -> None:
        raise KeyboardInterrupt  # the process dies right after Complete answered, before the checkpoint goes

    monkeypatch.setattr(CheckpointStore, "delete", killed)
    with pytest.raises(KeyboardInterrupt):
        driver.uploader(client, store).upload(path, "done")
    monkeypatch.setattr(CheckpointStore, "delete", real_delete)
    assert stored(client, "done") == data  # Complete did happen
    (checkpoint,) = [cp for _, cp in store]
    assert checkpoint.completing
    logged = len(local_cos.log_entries())
    result = driver.uploader(client, store).upload(path, "done")
    apis = [entry.api for entry in local_cos.log_entries()[logged:]]
    assert "UploadPart" not in apis and "InitiateMultipartUpload" not in apis, apis
    assert result.parts_reused == len(result.parts) and result.size == len(data) and result.bytes_sent == 0
    assert list(store) == []


def test_after_a_kill_after_complete_a_changed_file_is_uploaded_again(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    real_delete = CheckpointStore.delete
    monkeypatch.setattr(CheckpointStore, "delete", lambda self, checkpoint: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        driver.uploader(client, store).upload(path, "again")
    monkeypatch.setattr(CheckpointStore, "delete", real_delete)
    changed = bytearray(data)
    changed[MB + 3] ^= 0xFF
    stat = os.stat(path)
    path.write_bytes(bytes(changed))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back: only ctime (and the bytes) tell
    result = driver.uploader(client, store).upload(path, "again")
    assert stored(client, "again") == bytes(changed) and result.bytes_sent > 0


def test_a_retried_initiate_leaves_no_upload_behind(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    # The first Initiate is served (an upload is created) but its answer never arrives: the client retries.
    local_cos.faults.add(Fault.reset("InitiateMultipartUpload", count=1))
    result = driver.uploader(client, store).upload(path, "once")
    assert stored(client, "once") == data
    initiated = [entry for entry in local_cos.log_entries() if entry.api == "InitiateMultipartUpload"]
    assert len(initiated) == 2 and result.upload_id is not None  # the retry happened
    assert [u.upload_id for u in client.list_multipart_uploads()] == []  # the first attempt's upload was aborted


def test_attempts_are_recorded_on_the_answer(local_cos: LocalCOS, client: CosClient) -> None:
    assert client.initiate_multipart_upload("plain").response.attempts == 1
    local_cos.faults.add(Fault.reset("InitiateMultipartUpload", count=1))
    assert client.initiate_multipart_upload("retried").response.attempts == 2


def test_a_rerun_with_one_option_changed_names_it_and_says_the_old_upload_was_aborted(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    old = interrupted(driver, client, store, path, "opt")
    with caplog.at_level("WARNING"):
        driver.uploader(client, store, metadata={"owner": "team-b"}).upload(path, "opt")
    (line,) = [r.getMessage() for r in caplog.records if "not resuming" in r.getMessage()]
    assert "x-cos-meta-owner" in line and "was aborted" in line and old in line, line
    assert stored(client, "opt") == data and list(client.list_multipart_uploads()) == []
