"""``ProgressEvent.bytes_confirmed``: what COS acknowledged, apart from the bytes handed to the socket, with
every driver (threads, asyncio, a Dask cluster) against the local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import LocalCOS
from cos_multipart._drivers.uploader import UploadConfig

from uploads import Driver, make_file


def check_confirmed(events: List[ProgressEvent], size: int) -> None:
    """Acknowledged bytes move by whole parts (all 1 MiB but the last), never back, never past what was sent."""
    for before, after in zip(events, events[1:]):
        assert before.bytes_confirmed <= after.bytes_confirmed
    last = size - (-(-size // MB) - 1) * MB  # the last part's size
    for event in events:
        assert event.bytes_confirmed <= event.bytes_done
        done = event.parts_done  # in any order: the last part may be among them
        assert event.bytes_confirmed in (done * MB, (done - 1) * MB + last), event
    assert events[-1].bytes_confirmed == events[-1].bytes_done == size


def test_bytes_sent_are_not_reported_as_acknowledged(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 4 * MB + 5)
    events: List[ProgressEvent] = []
    driver.upload_file(
        client, path, "k", part_size=MB, multipart_threshold=0, concurrency=1, store=store, progress=events.append
    )
    check_confirmed(events, len(data))
    # One worker: the first part's bytes are reported as they go out, before its answer.
    first = next(event for event in events if event.bytes_done > 0)
    assert first.bytes_confirmed == 0 and first.parts_done == 0


def test_reused_parts_count_as_acknowledged(
    driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 3 * MB)

    def crash(event: ProgressEvent) -> None:
        if event.parts_done >= 2:
            raise RuntimeError("stopped by the test")

    with pytest.raises(RuntimeError):
        driver.upload_file(client, path, "r", part_size=MB, multipart_threshold=0, concurrency=1, store=store, progress=crash)
    events: List[ProgressEvent] = []
    driver.upload_file(client, path, "r", part_size=MB, multipart_threshold=0, concurrency=1, store=store, progress=events.append)
    assert events[0].parts_reused == 2 and events[0].bytes_confirmed == 2 * MB
    check_confirmed(events, len(data))


@pytest.mark.both_dialects
def test_a_cluster_upload_reports_acknowledged_bytes(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    from cos_multipart.cluster import upload_file_on_cluster

    from cluster_helpers import target

    path, data = make_file(tmp_path, 3 * MB + 7)
    events: List[ProgressEvent] = []
    config = UploadConfig(part_size=MB, multipart_threshold=0)
    upload_file_on_cluster(cluster, target(cos), path, "c.bin", upload_config=config, store=store, progress=events.append)
    check_confirmed(events, len(data))
