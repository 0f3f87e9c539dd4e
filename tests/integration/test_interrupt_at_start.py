"""An interrupt that lands on the upload's first progress event (right after Initiate and the checkpoint's
first write, before any part) stops an upload like any other interrupt: the upload is kept for a resume, the
error names it (``kept_upload_of``: the command's ``kept`` object and its pasteable commands), and a resume
finishes it. It once escaped the keep-or-abort step: upload and checkpoint were left, named by nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import pytest

from cos_multipart import Checkpoint, CheckpointStore, CosClient, UploadConfig, kept_upload_of
from cos_multipart._core.progress import ProgressEvent
from cos_multipart._protocol.limits import MB
from cos_multipart.cluster import upload_file_on_cluster
from cos_multipart.testing import LocalCOS

from cluster_helpers import target
from uploads import Driver, make_file, stored

pytestmark = [pytest.mark.integration]


def interrupt_at_first_event(seen: List[ProgressEvent]) -> Any:
    def progress(event: ProgressEvent) -> None:
        seen.append(event)
        raise KeyboardInterrupt

    return progress


def assert_kept(client: CosClient, store: CheckpointStore, error: Optional[BaseException], key: str) -> str:
    assert isinstance(error, KeyboardInterrupt), error
    kept = kept_upload_of(error)
    assert kept is not None, "the kept upload is named by nothing"
    assert kept.key == key and kept.parts_done == 0
    ((_, checkpoint),) = list(store)
    assert checkpoint.upload_id == kept.upload_id
    assert [upload.upload_id for upload in client.list_multipart_uploads()] == [kept.upload_id]
    return kept.upload_id


@pytest.mark.both_dialects
def test_an_interrupt_at_the_first_progress_event_keeps_the_upload_and_names_it(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 3 * MB + 5)
    seen: List[ProgressEvent] = []
    error: Optional[BaseException] = None
    try:
        driver.upload_file(client, path, "start/file.bin", part_size=MB, multipart_threshold=0, concurrency=2,
                           store=store, progress=interrupt_at_first_event(seen))  # fmt: skip
    except BaseException as raised:  # the test judges it
        error = raised
    assert len(seen) == 1 and seen[0].parts_done == 0
    upload_id = assert_kept(client, store, error, "start/file.bin")
    result = driver.uploader(client, store).resume(path, "start/file.bin")
    assert result.upload_id == upload_id and stored(client, "start/file.bin") == data
    assert list(client.list_multipart_uploads()) == [] and list(store) == []


@pytest.mark.both_dialects
def test_an_interrupt_at_the_first_progress_event_on_the_cluster_keeps_the_upload(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 3 * MB + 5)
    seen: List[ProgressEvent] = []
    error: Optional[BaseException] = None
    config = UploadConfig(part_size=MB, multipart_threshold=0)
    try:
        upload_file_on_cluster(cluster, target(cos), path, "start/file.bin", upload_config=config, store=store,
                               progress=interrupt_at_first_event(seen))  # fmt: skip
    except BaseException as raised:  # the test judges it
        error = raised
    with cos.client() as client:
        upload_id = assert_kept(client, store, error, "start/file.bin")
        result = upload_file_on_cluster(cluster, target(cos), path, "start/file.bin", upload_config=config, store=store)
        assert result.upload_id == upload_id and stored(client, "start/file.bin") == data


@pytest.mark.both_dialects
def test_an_interrupt_at_a_streams_first_progress_event_leaves_no_upload(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    data = make_file(tmp_path, 3 * MB + 5)[1]
    seen: List[ProgressEvent] = []
    with pytest.raises(KeyboardInterrupt) as raised:
        driver.upload_file(client, iter([data[:MB], data[MB:]]), "start/stream.bin", part_size=MB,
                           multipart_threshold=0, store=store, progress=interrupt_at_first_event(seen))  # fmt: skip
    assert len(seen) == 1 and kept_upload_of(raised.value) is None  # a stream cannot be resumed: aborted
    assert list(client.list_multipart_uploads()) == [] and list(store) == []


@pytest.mark.both_dialects
def test_an_interrupt_during_the_first_checkpoint_write_aborts_the_new_upload(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_file(tmp_path, 3 * MB)[0]
    real = CheckpointStore.save
    writes: List[str] = []

    def save(self: CheckpointStore, checkpoint: Checkpoint) -> Path:
        writes.append(checkpoint.upload_id)
        if len(writes) == 1:
            raise KeyboardInterrupt  # the Ctrl-C lands while the new upload's first checkpoint is written
        return real(self, checkpoint)

    monkeypatch.setattr(CheckpointStore, "save", save)
    with pytest.raises(KeyboardInterrupt) as raised:
        driver.upload_file(client, path, "start/file.bin", part_size=MB, multipart_threshold=0, store=store)
    assert writes and kept_upload_of(raised.value) is None  # no checkpoint names it: aborted, not kept
    assert list(client.list_multipart_uploads()) == [] and list(store) == []
