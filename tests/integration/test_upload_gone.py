"""An upload aborted elsewhere while it runs is gone: the run says so (:class:`UploadGoneError`), drops its
checkpoint and keeps nothing, in every driver; the command line says it in one line and exits 3. A lost answer
of Complete whose object is there complete is still accepted (HEAD)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, List

import pytest

from cos_multipart import UploadGoneError, kept_upload_of
from cos_multipart._cli import main as cli
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosServiceError
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import Fault, LocalCOS

from uploads import Driver, make_file, stored, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

#: Small parts, one at a time: the abort lands between parts.
PARTS = ("--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1")


def aborter(server: LocalCOS, key: str) -> Callable[[], None]:
    """Once the server has logged a part of ``key``'s upload: abort that upload with a second client (another
    shell running ``cos-multipart abort``); later calls do nothing."""
    done: List[str] = []

    def abort() -> None:
        if done or not server.log_entries("UploadPart"):
            return
        with server.client() as other:
            (upload,) = [u for u in other.list_multipart_uploads() if u.key == key]
            other.abort_multipart_upload(key, upload.upload_id)
        done.append(upload.upload_id)

    return abort


def abort_from_elsewhere(server: LocalCOS, key: str) -> Callable[[ProgressEvent], None]:
    """A progress callback that aborts the upload from elsewhere (:func:`aborter`) once a part is confirmed."""
    abort = aborter(server, key)

    def progress(event: ProgressEvent) -> None:
        if event.parts_done >= 1:
            abort()

    return progress


def assert_gone(error: UploadGoneError, client: CosClient, store: CheckpointStore, key: str) -> None:
    assert isinstance(error, CosServiceError) and error.code == "NoSuchUpload" and error.key == key
    assert "was aborted elsewhere (NoSuchUpload); nothing kept" in str(error)
    assert kept_upload_of(error) is None  # no "upload kept ... resume with" for an upload that is gone
    assert list(store) == []  # the checkpoint is dropped: a resume of it could only fail
    assert list(client.list_multipart_uploads()) == []
    with pytest.raises(CosServiceError):
        client.head_object(key)


def test_an_upload_aborted_elsewhere_while_running_is_gone_and_keeps_nothing(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 8 * MB)
    with pytest.raises(UploadGoneError) as excinfo:
        driver.uploader(client, store, concurrency=1).upload(path, "gone.bin", progress=abort_from_elsewhere(local_cos, "gone.bin"))
    assert_gone(excinfo.value, client, store, "gone.bin")
    assert excinfo.value.upload_id in str(excinfo.value)


def test_a_stream_aborted_elsewhere_is_gone(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 6 * MB)
    with open(path, "rb") as handle:
        stream: Any = type("Pipe", (), {"read": lambda self, n=-1: handle.read(n)})()  # no fileno, no seek
        with pytest.raises(UploadGoneError) as excinfo:
            driver.uploader(client, store, concurrency=1).upload(
                stream, "gone-stream.bin", progress=abort_from_elsewhere(local_cos, "gone-stream.bin")
            )
    assert_gone(excinfo.value, client, store, "gone-stream.bin")


def test_complete_answered_no_such_upload_without_the_object_is_gone(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    local_cos.faults.add(Fault.error("CompleteMultipartUpload", status=404, code="NoSuchUpload", count=None))
    with pytest.raises(UploadGoneError) as excinfo:
        driver.uploader(client, store).upload(path, "gone-at-complete.bin")
    local_cos.faults.clear()
    assert_gone(excinfo.value, client, store, "gone-at-complete.bin")


def test_complete_answered_no_such_upload_with_the_object_complete_is_accepted(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    # As when a retried Complete's first attempt had succeeded: Complete answers NoSuchUpload, but HEAD shows
    # the object complete, with the plan's size and the parts' combined CRC-64: the upload succeeded.
    path, data = make_file(tmp_path, 3 * MB)
    client.put_object("done.bin", data)
    local_cos.faults.add(Fault.error("CompleteMultipartUpload", status=404, code="NoSuchUpload", count=None))
    seen = len(local_cos.log_entries())
    result = driver.uploader(client, store).upload(path, "done.bin")
    # In the order the requests arrived: the server logs each when it has answered, and under load the HEAD's
    # entry can be written before Complete's.
    apis = [entry.api for entry in sorted(local_cos.log_entries()[seen:], key=lambda entry: entry.time)]
    assert apis[-2:] == ["CompleteMultipartUpload", "HeadObject"], apis
    assert stored(client, "done.bin") == data and result.size == len(data) and result.multipart
    assert list(store) == []


def test_the_cli_says_an_upload_aborted_elsewhere_in_one_line_and_exits_3(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    # What COS answers to the parts sent after another shell ran `cos-multipart abort`.
    cli_env.faults.add(Fault.error("UploadPart", status=404, code="NoSuchUpload", nth=2, count=None))
    code = cli.main(["upload", str(path), target(cli_env, "gone.bin"), "--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_SERVICE == 3, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "was aborted elsewhere (NoSuchUpload); nothing kept" in lines[0], err
    assert "resume" not in err
    cli_env.faults.clear()
    assert cli.main(["resume"]) == cli.EXIT_OK  # no checkpoint is listed
    assert "gone.bin" not in capsys.readouterr().out
    with cli_env.client() as client:
        assert list(client.list_multipart_uploads()) == []


def test_the_cli_upload_aborted_from_another_shell_exits_3_and_keeps_no_checkpoint(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real abort, made by a second client as soon as the running command has its first part confirmed.
    from cos_multipart._core.progress import ProgressTracker

    path, _ = make_file(tmp_path, 6 * MB)
    abort = aborter(cli_env, "shell.bin")
    real_part_done = ProgressTracker.part_done

    def part_done(self: ProgressTracker, *args: Any, **kwargs: Any) -> None:
        real_part_done(self, *args, **kwargs)  # the part is confirmed and recorded, then the other shell aborts
        abort()

    monkeypatch.setattr(ProgressTracker, "part_done", part_done)
    code = cli.main(["upload", str(path), target(cli_env, "shell.bin"), *PARTS])
    err = capsys.readouterr().err
    assert code == 3, err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert "was aborted elsewhere (NoSuchUpload); nothing kept" in line and target(cli_env, "shell.bin") in line
    assert not [name for _, _, names in os.walk(tmp_path / "cache") for name in names if name.endswith(".json")]
    with cli_env.client() as client:
        assert list(client.list_multipart_uploads()) == []
