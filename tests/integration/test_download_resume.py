"""Resumed downloads against the local server: a killed process (kill -9), an error, a changed object, a
temporary file damaged between the runs; (threads, asyncio) x (COS, OSS)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List

import pytest

from cos_multipart._io._downloadfile import DownloadFiles
from cos_multipart._io.client import CosClient
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import LocalCOS

from downloads import DRIVERS, PART, fetch, leftovers, put

pytestmark = pytest.mark.both_dialects

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from cos_multipart import CosClient, Credentials, download_file

    endpoint, bucket, region, secret_id, secret_key, path, dialect, part = sys.argv[1:9]
    client = CosClient(bucket, region, Credentials(secret_id, secret_key), endpoint=endpoint, dialect=dialect)

    def kill_after_three(event):
        if event.parts_done >= 3:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind, like a power cut

    download_file(client, "big", path, part_size=int(part), concurrency=1, progress=kill_after_three)
    """
)


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def stop_after(ranges: int) -> Any:
    def callback(event: ProgressEvent) -> None:
        if event.parts_done >= ranges:
            raise RuntimeError("simulated crash")

    return callback


def test_a_killed_process_resumes_with_only_the_missing_ranges(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    data = put(client, "big", 8 * PART + 7)
    target = tmp_path / "out"
    credentials = local_cos.credentials
    child = subprocess.run(
        [sys.executable, "-c", CHILD, local_cos.endpoint, local_cos.bucket, local_cos.region,
         credentials.secret_id, credentials.secret_key, str(target), local_cos.dialect, str(PART)],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert not target.exists()  # never half-written
    files = DownloadFiles(str(target))
    stored = files.load()
    assert stored is not None and len(stored.done) >= 3
    before = len(local_cos.log_entries("GetObject"))
    result = fetch(driver, client, "big", target)
    fetched = len(local_cos.log_entries("GetObject")) - before
    assert result.ranges_reused == len(stored.done) and fetched == 9 - len(stored.done)
    assert target.read_bytes() == data and result.restarted == ""
    assert leftovers(tmp_path) == []


def test_an_error_keeps_the_ranges_for_the_next_run(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    data = put(client, "big", 6 * PART)
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        fetch(driver, client, "big", target, concurrency=1, progress=stop_after(2))
    assert not target.exists() and len(leftovers(tmp_path)) == 2  # the temporary file and its checkpoint
    events: List[ProgressEvent] = []
    result = fetch(driver, client, "big", target, progress=events.append)
    assert result.ranges_reused == 2 and events[0].parts_reused == 2 and events[0].bytes_done == 2 * PART
    assert target.read_bytes() == data and leftovers(tmp_path) == []


def test_resume_off_removes_the_temporary_file(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    put(client, "big", 6 * PART)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fetch(driver, client, "big", tmp_path / "out", concurrency=1, resume=False, progress=stop_after(2))
    assert leftovers(tmp_path) == [] and not (tmp_path / "out").exists()


def test_a_changed_object_restarts_and_says_so(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    put(client, "big", 6 * PART)
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        fetch(driver, client, "big", target, concurrency=1, progress=stop_after(3))
    data = put(client, "big", 6 * PART)  # another object under the same key
    result = fetch(driver, client, "big", target)
    assert "changed" in result.restarted and result.ranges_reused == 0
    assert target.read_bytes() == data


def test_ranges_damaged_on_disk_between_runs_are_fetched_again(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    data = put(client, "big", 6 * PART)
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        fetch(driver, client, "big", target, concurrency=1, progress=stop_after(3))
    temp = DownloadFiles(str(target)).temp
    with open(temp, "r+b") as handle:  # flip a byte of the first range: its CRC-64 no longer matches
        handle.seek(10)
        byte = handle.read(1)
        handle.seek(10)
        handle.write(bytes([byte[0] ^ 0xFF]))
        os.fsync(handle.fileno())
    result = fetch(driver, client, "big", target)
    assert result.ranges_reused == 2 and target.read_bytes() == data


def test_cancelling_the_async_download_keeps_the_ranges_and_leaves_no_thread(client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    import asyncio
    import threading

    from cos_multipart.aio import async_download_file
    from uploads import async_client_like

    data = put(client, "big", 8 * PART)
    target = tmp_path / "out"

    async def run() -> None:
        loop = asyncio.get_running_loop()
        async with async_client_like(client) as aclient:
            task: "asyncio.Task[Any]" = asyncio.ensure_future(
                async_download_file(aclient, "big", target, part_size=PART, concurrency=1, progress=lambda event: cancel(event))
            )

            def cancel(event: ProgressEvent) -> None:
                if event.parts_done >= 3:
                    loop.call_soon_threadsafe(task.cancel)

            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert not target.exists() and len(leftovers(tmp_path)) == 2
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("cos-multipart-download")]
    stored = DownloadFiles(str(target)).load()
    assert stored is not None and len(stored.done) >= 3
    result = fetch("threads", client, "big", target)  # resumed by the other driver
    assert result.ranges_reused == len(stored.done) and target.read_bytes() == data
