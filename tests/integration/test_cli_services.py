"""The command line against the local server speaking each service: ``cos://`` and ``oss://`` targets, each
with its own credentials and spelling, and what ``stat`` reports read from the service's own headers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cos_multipart._cli import main as cli
from cos_multipart.testing import LocalCOS

from uploads import make_file, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def test_upload_then_stat_reads_the_services_own_headers(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 3 * 1024 * 1024 + 5)
    args = ("--part-size", "1MB", "--multipart-threshold", "0", "--meta", "owner=team-a", "--storage-class", "STANDARD_IA", "--sse", "kms")
    assert cli.main(["upload", str(path), target(cli_env, "dir/obj.bin"), *args]) == cli.EXIT_OK
    assert target(cli_env, "dir/obj.bin") in capsys.readouterr().out  # the line printed keeps the scheme
    assert cli.main(["stat", target(cli_env, "dir/obj.bin"), "--json"]) == cli.EXIT_OK
    info = json.loads(capsys.readouterr().out)
    oss = cli_env.dialect == "oss"
    assert info["size"] == len(data) and info["metadata"] == {"owner": "team-a"}
    assert info["storage_class"] == ("IA" if oss else "STANDARD_IA")  # each service's own spelling
    assert info["encryption"] == ("SSE-KMS (KMS)" if oss else "SSE-KMS (cos/kms)")
    assert cli.main(["verify", str(path), target(cli_env, "dir/obj.bin")]) == cli.EXIT_OK
    assert cli.main(["ls", target(cli_env, "dir/")]) == cli.EXIT_OK
    assert target(cli_env, "dir/obj.bin") in capsys.readouterr().out


def test_an_upload_kept_after_a_failure_names_the_services_scheme(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cos_multipart.testing import Fault

    path, _ = make_file(tmp_path, 3 * 1024 * 1024)
    cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    code = cli.main(["upload", str(path), target(cli_env, "kept.bin"), "--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_SERVICE
    assert f"resume with: cos-multipart resume {path} {target(cli_env, 'kept.bin')}" in err
    assert cli.main(["resume"]) == cli.EXIT_OK  # the checkpoint list shows the same scheme
    assert target(cli_env, "kept.bin") in capsys.readouterr().out


def test_output_to_a_closed_pipe_stops_quietly_with_exit_141(cli_env: LocalCOS) -> None:
    # `cos-multipart ls ... | head -1`: the reader is gone. The read end is closed before the command starts, so
    # its first line meets a closed pipe (EPIPE) whatever the timing; it used to print "error: [Errno 32] Broken
    # pipe" and exit 1 (and Python's "Exception ignored" at exit).
    with cli_env.client() as client:
        client.put_object("a.txt", b"a")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        child = subprocess.run(
            [sys.executable, "-m", "cos_multipart", "ls", target(cli_env, "")], stdout=write_end,
            stderr=subprocess.PIPE, timeout=60, env=dict(os.environ),
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert child.returncode == cli.EXIT_PIPE_CLOSED == 141, child.stderr.decode()
    assert child.stderr.decode() == ""
