"""A multipart copy killed (kill -9, a real child process) or stopped, and run again: only the missing parts
are copied; a source changed in between starts over and leaves nothing behind. Every driver and dialect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.errors import kept_upload_of
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import Fault, LocalCOS

from test_copy import copy_with, uploads_left
from uploads import Driver, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

#: The checkpoint recorder's least time between two writes (CheckpointRecorder's min_interval).
RECORDER_INTERVAL = 1.0
#: Longer than any test: an answer held this long never comes while the test runs.
HELD = 600.0

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from cos_multipart import copy_object
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials

    endpoint, bucket, region, secret_id, secret_key, directory, dialect = sys.argv[1:8]
    client = CosClient(bucket, region, Credentials(secret_id, secret_key), endpoint=endpoint, dialect=dialect)

    def kill_after_three(event):
        if event.parts_done >= 3:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind, like a power cut

    copy_object(client, "src/big", "dst/big", part_size=1048576, threshold=0, concurrency=1,
                checkpoint_dir=directory, progress=kill_after_three)
    """
)


def stop_after(parts: int) -> Any:
    def callback(event: ProgressEvent) -> None:
        if event.parts_done >= parts:
            raise RuntimeError("simulated crash")

    return callback


def test_a_killed_copy_resumes_with_only_the_missing_parts(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore
) -> None:
    data = os.urandom(10 * MB + 1)
    client.put_object("src/big", data)
    # Each part answers a checkpoint interval (1 s) after the last: each is written before the next is asked
    # for, so the three reported before the kill are on disk. (A part the service copied but the checkpoint
    # does not name is copied again: only recorded parts carry the CRC-64 checked before Complete.)
    local_cos.faults.add(Fault.delay(RECORDER_INTERVAL, "UploadPartCopy", count=None))
    credentials = local_cos.credentials
    child = subprocess.run(
        [sys.executable, "-c", CHILD, local_cos.endpoint, local_cos.bucket, local_cos.region,
         credentials.secret_id, credentials.secret_key, str(store.directory), local_cos.dialect],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    (_, checkpoint), = list(store)
    assert len(checkpoint.parts) == 3
    local_cos.faults.clear()
    before = len(local_cos.log_entries("UploadPartCopy"))
    result = copy_with(driver, client, "src/big", "dst/big", store=store, threshold=0)
    copied = len(local_cos.log_entries("UploadPartCopy")) - before
    assert result.upload_id == checkpoint.upload_id and result.parts_reused == 3 and copied == 11 - 3
    assert stored(client, "dst/big") == data and result.crc64 == crc64(data) and result.crc64_verified
    assert list(store) == [] and uploads_left(client) == []


def test_a_stopped_copy_is_kept_and_resumed(driver: Driver, client: CosClient, store: CheckpointStore) -> None:
    data = os.urandom(5 * MB)
    client.put_object("src/k", data)
    with pytest.raises(RuntimeError, match="simulated crash") as caught:
        copy_with(driver, client, "src/k", "dst/k", store=store, concurrency=1, progress=stop_after(2))
    kept = kept_upload_of(caught.value)
    assert kept is not None and kept.parts_done == 2 and kept.parts_total == 5
    result = copy_with(driver, client, "src/k", "dst/k", store=store)
    assert result.parts_reused == 2 and result.upload_id == kept.upload_id
    assert stored(client, "dst/k") == data and uploads_left(client) == []


def test_a_source_changed_between_runs_starts_over(driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore) -> None:
    client.put_object("src/c", os.urandom(4 * MB))
    with pytest.raises(RuntimeError):
        copy_with(driver, client, "src/c", "dst/c", store=store, concurrency=1, progress=stop_after(2))
    (_, old), = list(store)
    data = os.urandom(4 * MB)
    client.put_object("src/c", data)  # a new version of the source
    result = copy_with(driver, client, "src/c", "dst/c", store=store)
    assert result.upload_id != old.upload_id and result.parts_reused == 0
    assert stored(client, "dst/c") == data
    assert len(local_cos.log_entries("AbortMultipartUpload")) == 1 and uploads_left(client) == []


def test_without_resume_nothing_is_kept(driver: Driver, client: CosClient, store: CheckpointStore, tmp_path: Path) -> None:
    client.put_object("src/n", os.urandom(3 * MB))
    with pytest.raises(RuntimeError):
        copy_with(driver, client, "src/n", "dst/n", store=store, concurrency=1, resume=False, progress=stop_after(1))
    assert list(store) == [] and uploads_left(client) == []


def test_cancelling_an_async_copy_keeps_it_for_a_resume(local_cos: LocalCOS, client: CosClient, store: CheckpointStore) -> None:
    import asyncio

    from cos_multipart.aio import async_copy_object

    from uploads import async_client_like

    data = os.urandom(4 * MB)
    client.put_object("src/a", data)
    local_cos.faults.add(Fault.delay(HELD, "UploadPartCopy", nth=2, count=None))  # the second part's answer never comes in time

    async def cancelled() -> Any:
        async with async_client_like(client) as made:
            first = asyncio.Event()

            def progress(event: ProgressEvent) -> None:
                if event.parts_done >= 1:
                    first.set()

            task = asyncio.ensure_future(
                async_copy_object(made, "src/a", "dst/a", part_size=MB, threshold=MB, concurrency=1, store=store, progress=progress)
            )
            await first.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as caught:
                await task
            return kept_upload_of(caught.value)

    kept = asyncio.run(cancelled())
    assert kept is not None and kept.parts_done == 1
    local_cos.faults.clear()
    result = copy_with(Driver("asyncio"), client, "src/a", "dst/a", store=store)
    assert result.upload_id == kept.upload_id and result.parts_reused == 1
    assert stored(client, "dst/a") == data and uploads_left(client) == []
