"""Regression tests for the holes of issue 8 (see ``hole_helpers``): a failure leaves the neighbours alone, a file that gets shorter, an upload COS lost."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosTransportError, SourceChangedError
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart.testing import Fault, LocalCOS

from uploads import Driver, make_file, stored, target

from holes.hole_helpers import (
    FAST_RETRY,
    interrupt,
    object_or_none,
    outcome,
    part_number,
    parts_sent,
    run_cli,
)

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


# --- 5. one upload's failure leaves its neighbours alone -----------------------------------------------


def test_5_a_failing_upload_does_not_touch_another_upload_on_the_same_client(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path_a, _ = make_file(tmp_path, 4 * MB, "a.bin")
    path_b, data_b = make_file(tmp_path, 12 * MB, "b.bin")
    local_cos.faults.set_bandwidth(4 * MB)  # B's parts take about 0.25 s each: they are in flight when A fails
    b_mid_round = threading.Event()

    def progress_b(event: ProgressEvent) -> None:
        if event.bytes_done >= 4 * MB + MB // 2:
            b_mid_round.set()

    a_failed: List[bool] = []

    def progress_a(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and not a_failed:
            a_failed.append(b_mid_round.wait(10))
            os.truncate(path_a, 0)  # A's source fails: its next part reads short

    results: Dict[str, Any] = {}
    with local_cos.client(retry=RetryPolicy.never(), timeout=(5, 10)) as shared:

        def run(name: str, path: Path, progress: Any, concurrency: int) -> None:
            results[name] = outcome(
                lambda: driver.uploader(shared, store, concurrency=concurrency).upload(path, name, progress=progress)
            )

        threads = [
            threading.Thread(target=run, args=("b.bin", path_b, progress_b, 4)),
            threading.Thread(target=run, args=("a.bin", path_a, progress_a, 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert a_failed == [True], "A failed before B was mid-way: the test proves nothing"
    assert results["a.bin"][1] is not None, "upload A did not fail: the test proves nothing"
    _, error_b, _ = results["b.bin"]
    assert error_b is None, f"the healthy upload B failed because A failed: {error_b!r}"
    assert stored(client, "b.bin") == data_b
    entries = [e for e in local_cos.log_entries("UploadPart") if e.path == "/b.bin"]
    assert sorted(part_number(e) for e in entries) == list(range(1, 13)), "B's parts were sent again"
    assert all(e.status == 200 for e in entries)


# --- 6. a file that gets shorter -----------------------------------------------------------------------


def test_6_a_file_shorter_than_planned_is_source_changed_and_not_retried(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)

    def shrink(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and os.path.getsize(path) == 4 * MB:
            os.truncate(path, MB + MB // 2)  # part 2 reads 512 KiB, then the file ends

    _, error, _ = outcome(lambda: driver.uploader(client, store, concurrency=1).upload(path, "k", progress=shrink))
    assert not isinstance(error, CosTransportError), f"a short local file was reported as a network error: {error!r}"
    assert isinstance(error, SourceChangedError), repr(error)
    assert parts_sent(local_cos, "k").count(2) <= 1, "the request with the short body was retried"


def test_6_a_seekable_stream_that_gets_shorter_than_its_measured_size_is_source_changed(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore
) -> None:
    # A seekable stream (no file descriptor) is measured with seek/tell before the upload: 4 MiB. It then
    # yields only 1.5 MiB. Reporting a 1.5 MiB object as the verified upload of a 4 MiB source is wrong.
    stream = io.BytesIO(os.urandom(4 * MB))

    def shrink(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and len(stream.getbuffer()) == 4 * MB:
            stream.truncate(MB + MB // 2)

    result, error, _ = outcome(
        lambda: driver.uploader(client, store, concurrency=1).upload(stream, "k", progress=shrink)
    )
    assert error is not None, f"a {result.size}-byte object was reported verified for a 4 MiB source"
    assert isinstance(error, SourceChangedError), repr(error)
    assert object_or_none(client, "k") is None
    parts = parts_sent(local_cos, "k")
    assert len(parts) == len(set(parts)), f"a request was retried: {parts}"


def test_6_cli_exit_code_for_a_file_that_shrinks(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    cli_env.faults.add(Fault.delay(1.0, "UploadPart", nth=1))  # part 1's answer is held back

    def shrink_when_part_1_arrives() -> None:
        deadline = time.monotonic() + 10
        while not cli_env.faults.fired and time.monotonic() < deadline:
            time.sleep(0.01)
        os.truncate(path, MB // 2)

    watcher = threading.Thread(target=shrink_when_part_1_arrives)
    watcher.start()
    code = run_cli(
        "upload", str(path), target(cli_env, "k"), "--part-size", "1MB", "--multipart-threshold", "0",
        "--concurrency", "1",
    )  # fmt: skip
    watcher.join()
    err = capsys.readouterr().err
    assert code == 6, f"exit {code}: {err}"  # EXIT_SOURCE_CHANGED
    assert parts_sent(cli_env, "k").count(2) <= 1


# --- 7. resume when COS no longer has the upload -------------------------------------------------------


def test_7_cli_resume_of_an_upload_cos_lost_fails_and_starts_nothing(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    with cli_env.client(retry=FAST_RETRY) as client:
        upload_id = interrupt(client, CheckpointStore(), path, "r.bin", 2)
        client.abort_multipart_upload("r.bin", upload_id)  # behind the checkpoint's back
    logged = len(cli_env.log_entries())
    code = run_cli("resume", str(path), target(cli_env, "r.bin"), "--part-size", "1MB")
    out, err = capsys.readouterr()
    apis = [e.api for e in cli_env.log_entries()[logged:]]
    assert "InitiateMultipartUpload" not in apis and "UploadPart" not in apis, f"resume started afresh: {apis}"
    assert code == cli.EXIT_USAGE, f"exit {code}"  # ResumeError
    assert err.startswith("cos-multipart: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert upload_id in err or "no longer" in err, err
    with cli_env.client() as client:
        assert list(client.list_multipart_uploads()) == [] and object_or_none(client, "r.bin") is None
    # `upload` in the same situation starts afresh and says so in one line (a real process: real stderr).
    child = subprocess.run(
        [sys.executable, "-m", "cos_multipart", "upload", str(path), target(cli_env, "r.bin"),
         "--part-size", "1MB", "--multipart-threshold", "0"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr.decode()
    lines = child.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cos-multipart: warning:") and upload_id in lines[0], lines
    with cli_env.client() as client:
        assert stored(client, "r.bin") == data


def test_7_uploader_resume_of_an_upload_cos_lost_raises_resume_error(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    # New names: Uploader.resume and errors.ResumeError (today only the CLI has a resume, tested above).
    path, _ = make_file(tmp_path, 4 * MB)
    upload_id = interrupt(client, store, path, "r.bin", 2, driver=driver)
    client.abort_multipart_upload("r.bin", upload_id)
    logged = len(local_cos.log_entries())
    from cos_multipart._protocol.errors import ResumeError

    with pytest.raises(ResumeError):
        driver.uploader(client, store).resume(path, "r.bin")
    apis = [e.api for e in local_cos.log_entries()[logged:]]
    assert "InitiateMultipartUpload" not in apis and "UploadPart" not in apis, apis
    assert list(client.list_multipart_uploads()) == []
