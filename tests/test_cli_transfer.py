"""``cos-multipart upload | resume | abort | uploads`` run in-process against the local COS server."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._cli.main import parse_size
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io._crccache import CACHE_FILE, CrcCache
from cos_multipart._core._dirplan import WalkOptions
from cos_multipart._io._walk import walk
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart._drivers.uploader import UploadConfig, Uploader

SSE_C_KEY = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="


@pytest.fixture()
def server(cli_server: LocalCOS) -> LocalCOS:
    return cli_server


@pytest.fixture()
def client(cli_client: CosClient) -> CosClient:
    return cli_client


def target(server: LocalCOS, key: str) -> str:
    return f"cos://{server.bucket}/{key}"


def make_file(tmp_path: Path, size: int, name: str = "data.bin") -> Tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def stored(client: CosClient, key: str, **options: Any) -> bytes:
    response = client.get_object(key, **options)
    try:
        return response.content
    finally:
        response.close()


def run(*argv: str) -> int:
    return cli.main(list(argv))


# --- upload --------------------------------------------------------------------------------------------


def test_upload_file_prints_one_line(
    server: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 3 * MB + 1)
    assert run("upload", str(path), target(server, "dir/"), "--part-size", "1MB", "--multipart-threshold", "0") == 0
    out, err = capsys.readouterr()
    assert stored(client, "dir/data.bin") == data  # a key ending in / takes the file's name
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "4 parts" in lines[0] and str(crc64(data)) in lines[0]
    assert err == ""  # not a terminal: no progress bar


def test_upload_small_file_and_quiet(
    server: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 1000)
    assert run("upload", str(path), target(server, "small.txt"), "--quiet") == 0
    assert capsys.readouterr() == ("", "")
    assert stored(client, "small.txt") == data
    assert client.head_object("small.txt").response.headers["content-type"] == "text/plain"


def test_upload_from_stdin(
    server: LocalCOS, client: CosClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = os.urandom(2 * MB + 3)

    class Stdin:
        buffer = io.BufferedReader(io.BytesIO(data))

    monkeypatch.setattr("sys.stdin", Stdin)
    assert run("upload", "-", target(server, "piped.bin"), "--part-size", "1MB", "--multipart-threshold", "1MB") == 0
    assert stored(client, "piped.bin") == data
    assert "uploaded stdin" in capsys.readouterr().out


def test_object_and_encryption_options(
    server: LocalCOS, client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    monkeypatch.setenv("COS_SSE_C_KEY", SSE_C_KEY)
    code = run(
        "upload", str(path), target(server, "opts.bin"), "--part-size", "1MB", "--multipart-threshold", "0",
        "--meta", "owner=team-a", "--storage-class", "STANDARD_IA", "--content-type", "application/x-test",
        "--tag", "env=test", "--sse", "c", "--traffic-limit", "838860800", "--concurrency", "2",
        "--bandwidth-limit", "200MB",
    )  # fmt: skip
    assert code == 0
    from cos_multipart._protocol.sse import SseC

    key = SseC(SSE_C_KEY)
    assert stored(client, "opts.bin", sse_c=key) == data
    head = client.head_object("opts.bin", sse_c=key).response.headers
    assert head["x-cos-meta-owner"] == "team-a" and head["content-type"] == "application/x-test"
    initiate = server.log_entries("InitiateMultipartUpload")[-1].headers
    assert initiate.get("x-cos-storage-class") == "STANDARD_IA" and initiate.get("x-cos-tagging") == "env=test"
    assert all(e.headers.get("x-cos-traffic-limit") == "838860800" for e in server.log_entries("UploadPart"))


@pytest.mark.parametrize("mode", ["cos", "kms"])
def test_sse_cos_and_kms(server: LocalCOS, client: CosClient, tmp_path: Path, mode: str) -> None:
    path, data = make_file(tmp_path, MB + 1)
    extra = ["--sse-kms-key-id", "key-1", "--sse-kms-context", '{"team": "a"}'] if mode == "kms" else []
    code = run("upload", str(path), target(server, "e"), "--sse", mode, "--multipart-threshold", "0", *extra)
    assert code == 0 and stored(client, "e") == data


def test_sse_c_key_is_never_printed(
    server: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 10)
    monkeypatch.setenv("COS_SSE_C_KEY", "bm90LWEtMzItYnl0ZS1rZXk=")  # valid base64, wrong length
    assert run("upload", str(path), target(server, "k"), "--sse", "c", "--verbose") == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "bm90LWEtMzItYnl0ZS1rZXk=" not in err and "redacted" in err
    monkeypatch.delenv("COS_SSE_C_KEY")
    assert run("upload", str(path), target(server, "k"), "--sse", "c") == cli.EXIT_USAGE
    assert "COS_SSE_C_KEY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--part-size", "100KB"], "--part-size"),
        (["--concurrency", "0"], "--concurrency"),
        (["--traffic-limit", "5"], "--traffic-limit"),
        (["--storage-class", "FAST"], "--storage-class"),
        (["--meta", "novalue"], "--meta"),
        (["--sse-kms-key-id", "k"], "--sse"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    server: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: List[str], message: str
) -> None:
    path, _ = make_file(tmp_path, 10)
    assert run("upload", str(path), target(server, "k"), *args) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("cos-multipart: error:") and message in err and err.count("\n") == 1
    assert not server.log_entries()  # nothing was sent


def test_bad_target_and_missing_region(
    server: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 10)
    assert run("upload", str(path), "s3://bucket/key") == cli.EXIT_USAGE
    assert "cos://BUCKET/KEY" in capsys.readouterr().err
    monkeypatch.delenv("COS_ENDPOINT")
    assert run("upload", str(path), target(server, "k")) == cli.EXIT_USAGE
    assert "region" in capsys.readouterr().err


def test_missing_credentials(server: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = make_file(tmp_path, 10)
    monkeypatch.delenv("COS_SECRET_ID")
    monkeypatch.delenv("TENCENTCLOUD_SECRET_ID", raising=False)
    assert run("upload", str(path), target(server, "k")) == cli.EXIT_USAGE


def test_integrity_failure_exit_code(
    server: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 2 * MB)
    server.faults.add(Fault.wrong_crc64("UploadPart", nth=1, count=None))
    assert run("upload", str(path), target(server, "k"), "--multipart-threshold", "0") == cli.EXIT_INTEGRITY
    err = capsys.readouterr().err
    assert "crc64 mismatch for part 1" in err and "Traceback" not in err


def test_service_error_exit_code(server: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = make_file(tmp_path, 2 * MB)
    server.faults.add(Fault.error("InitiateMultipartUpload", status=403, code="AccessDenied", count=None))
    assert run("upload", str(path), target(server, "k"), "--multipart-threshold", "0") == cli.EXIT_SERVICE
    assert "AccessDenied" in capsys.readouterr().err


def test_progress_bar_only_on_a_terminal(
    server: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 2 * MB)
    monkeypatch.setattr("cos_multipart._cli.transfer._is_tty", lambda: True)
    assert run("upload", str(path), target(server, "bar"), "--multipart-threshold", "0") == 0
    err = capsys.readouterr().err
    # Binary values labelled as binary (tqdm's scaling said 2.00M and MB/s), named by the local file, not the key.
    assert "100%" in err and "2.0 MiB/2.0 MiB" in err
    assert "2.00M" not in err and "MB/s" not in err
    assert all(line.startswith("data.bin:") for line in err.replace("\n", "\r").split("\r") if "%|" in line)
    assert run("upload", str(path), target(server, "bar2"), "--multipart-threshold", "0", "--quiet") == 0
    assert capsys.readouterr() == ("", "")


def test_warnings_are_the_commands_own_lines_written_through_the_bar(
    server: LocalCOS, client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A warning while the bar is drawn (here: the upload to resume is gone) gets a line of its own, as
    ``cos-multipart: warning: ...`` without the Python logger's name, and the bar is drawn again below it."""
    path, data = make_file(tmp_path, 3 * MB)
    upload_id = interrupt(server, client, path, "w.bin", 1)
    client.abort_multipart_upload("w.bin", upload_id)
    monkeypatch.setattr("cos_multipart._cli.transfer._is_tty", lambda: True)
    assert run("upload", str(path), target(server, "w.bin"), "--part-size", "1MB", "--multipart-threshold", "0") == 0
    err = capsys.readouterr().err
    lines = [line for line in err.split("\n") if "is gone from" in line]
    assert len(lines) == 1, err
    before, _, message = lines[0].rpartition("\r")  # the bar, cleared, then the warning from the line's start
    assert message.startswith(f"cos-multipart: warning: upload {upload_id} of w.bin is gone from"), err
    assert "cos_multipart." not in err and "WARNING" not in err
    after = err.partition(lines[0])[2]
    assert "%|" in before and before.endswith(" ") and "%|" in after  # the bar, cleared, drawn again below
    assert stored(client, "w.bin") == data


def test_the_sync_crc_cache_is_not_taken_for_a_broken_checkpoint(
    server: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """``sync`` keeps its CRC-64 cache in the checkpoint directory: resume, uploads and abort list that
    directory and must not warn about the cache as a checkpoint they cannot read."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"a" * 1000)
    assert run("sync", str(tree), target(server, "site/")) == 0
    cache = CrcCache()
    (item,) = walk(str(tree), WalkOptions())[0]
    cache.put(item, 1, now=item.mtime_ns / 1e9 + 60)  # what a sync of an older file stores
    cache.save()
    assert (CheckpointStore().directory / CACHE_FILE).is_file()
    path, _ = make_file(tmp_path, 3 * MB)
    upload_id = interrupt(server, client, path, "r.bin", 1)
    capsys.readouterr()
    caplog.clear()
    assert run("resume") == 0
    assert upload_id in capsys.readouterr().out  # the real checkpoint is still listed
    assert run("uploads", target(server, "")) == 0
    assert f"resumable from local file {path}" in capsys.readouterr().out
    assert run("abort", target(server, "r.bin")) == 0
    err = capsys.readouterr().err
    assert "ignoring checkpoint" not in err and "crc64-cache" not in err
    assert not [r for r in caplog.records if "ignoring checkpoint" in r.getMessage()], caplog.text
    assert (CheckpointStore().directory / CACHE_FILE).is_file()  # the cache itself is left alone


def test_the_sync_crc_cache_is_the_one_in_the_checkpoint_dir_given(
    server: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--checkpoint-dir`` (a home that is full or read-only) moves every file the run keeps, the CRC-64
    cache too: it was read and written in the default directory whatever the flag said."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"a" * 1000)
    elsewhere = tmp_path / "elsewhere"
    assert run("sync", str(tree), target(server, "site/"), "--checkpoint-dir", str(elsewhere)) == 0
    cache = CrcCache(elsewhere / CACHE_FILE)
    (item,) = walk(str(tree), WalkOptions())[0]
    cache.put(item, 1, now=item.mtime_ns / 1e9 + 60)  # a CRC-64 the object does not have: trusted, it re-uploads
    cache.save()
    capsys.readouterr()
    assert run("sync", str(tree), target(server, "site/"), "--checkpoint-dir", str(elsewhere)) == 0
    assert capsys.readouterr().out.startswith("1 uploaded, 0 skipped")  # the cache given was the one read
    assert not (CheckpointStore().directory / CACHE_FILE).exists()


# --- resume, abort, ls ---------------------------------------------------------------------------------


def interrupt(server: LocalCOS, client: CosClient, path: Path, key: str, parts: int) -> str:
    """Leave an interrupted upload with a checkpoint in the default (XDG) directory."""

    def stop(event: ProgressEvent) -> None:
        if event.parts_done >= parts:
            raise RuntimeError("crash")

    config = UploadConfig(part_size=MB, multipart_threshold=0, concurrency=1)
    with pytest.raises(RuntimeError):
        Uploader(client, config).upload(path, key, progress=stop)
    (_, checkpoint), = list(CheckpointStore())
    return checkpoint.upload_id


def test_resume_lists_and_finishes_interrupted_uploads(
    server: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    assert run("resume") == 0
    assert "no interrupted uploads" in capsys.readouterr().err
    upload_id = interrupt(server, client, path, "r.bin", 2)
    assert run("resume") == 0
    listing = capsys.readouterr().out
    assert str(path) in listing and "2/4 parts" in listing and upload_id in listing
    sent_before = len(server.log_entries("UploadPart"))
    assert run("resume", str(path), target(server, "r.bin")) == 0
    assert "2 parts (2.0 MiB) reused" in capsys.readouterr().out
    assert len(server.log_entries("UploadPart")) - sent_before == 2
    assert stored(client, "r.bin") == data


def test_resume_refuses_to_start_afresh(
    server: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    assert run("resume", str(path), target(server, "nothing")) == cli.EXIT_USAGE
    assert "no checkpoint" in capsys.readouterr().err
    interrupt(server, client, path, "r.bin", 1)
    path.write_bytes(os.urandom(3 * MB))
    assert run("resume", str(path), target(server, "r.bin")) == cli.EXIT_USAGE
    assert "changed" in capsys.readouterr().err
    assert not server.log_entries("AbortMultipartUpload") and len(list(client.list_multipart_uploads())) == 1
    assert run("resume", "-", target(server, "r.bin")) == cli.EXIT_USAGE


def test_upload_again_resumes_and_no_resume_starts_afresh(
    server: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    interrupt(server, client, path, "u.bin", 1)
    assert run("upload", str(path), target(server, "u.bin"), "--no-resume") == 0
    assert "reused" not in capsys.readouterr().out
    assert list(client.list_multipart_uploads()) == [] and stored(client, "u.bin") == data


def test_uploads_and_abort(
    server: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    upload_id = interrupt(server, client, path, "dir/a.bin", 1)
    other = client.initiate_multipart_upload("dir/b.bin").upload_id
    client.initiate_multipart_upload("elsewhere.bin")
    assert run("uploads", target(server, "dir/")) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and " UTC  " in lines[0]
    assert upload_id in lines[0] and f"resumable from local file {path}" in lines[0] and "dir/a.bin" in lines[0]
    assert other in lines[1] and "resumable" not in lines[1]
    assert run("ls", "--uploads", target(server, "dir/")) == 0  # the old spelling still works
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert run("abort", target(server, "dir/a.bin")) == 0
    assert f"aborted cos://{server.bucket}/dir/a.bin upload {upload_id}" in capsys.readouterr().out
    assert list(CheckpointStore()) == []  # its checkpoint went with it
    assert run("abort", target(server, "dir/b.bin"), other) == 0
    assert run("abort", target(server, "dir/b.bin"), other) == cli.EXIT_SERVICE  # already gone: NoSuchUpload
    capsys.readouterr()
    assert run("uploads", f"cos://{server.bucket}") == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()] == [
        f"cos://{server.bucket}/elsewhere.bin"
    ]


# --- helpers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("1048576", MB), ("8MB", 8 * MB), ("8mb", 8 * MB), ("1.5GB", 3 * 512 * MB), ("64KiB", 65536), ("0", 0)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "MB", "8XB", "-1MB", "eight"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_no_md5_checks_parts_by_crc_only(server: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    args = ("--multipart-threshold", "0", "--part-size", "1MB", "--no-resume")
    # With the MD5 check, a part answered with a wrong ETag is caught and sent again.
    server.faults.add(Fault.wrong_etag("UploadPart", nth=1, count=1))
    assert run("upload", str(path), target(server, "md5"), *args) == cli.EXIT_OK
    assert len(server.log_entries("UploadPart")) == 3 and stored(client, "md5") == data
    # With --no-md5 the part is checked by CRC-64 only (which is right), so the wrong ETag goes to Complete,
    # where COS refuses it: an error, never a corrupted object.
    server.faults.clear()
    server.faults.add(Fault.wrong_etag("UploadPart", nth=1, count=1))
    assert run("upload", str(path), target(server, "crc"), *args, "--no-md5") == cli.EXIT_SERVICE
    assert len(server.log_entries("UploadPart")) == 3 + 2
