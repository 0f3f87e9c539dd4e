"""Ctrl-C (SIGINT) and SIGTERM stop every transfer command the same way: checkpoints kept, the progress bar
left where it was, a summary of what finished, what was kept (with the commands to resume it) and what was
not started, and a documented exit code (130, 143).

Each test runs the real command in a child process with stderr on a pseudo-terminal (so the bar is drawn),
against a local server that answers Upload Part only after the test is over: the signal is sent once the
server has seen the parts arrive and the checkpoints are on disk, never after a sleep.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cos_multipart.testing import LocalCOS

from uploads import target
from interrupted_child import (
    Child,
    MB,
    PATIENCE,
    checkpoints,
    last_bar,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pseudo-terminals")


@pytest.mark.both_dialects
@pytest.mark.parametrize(
    ("command", "signum", "code"),
    [("upload -r", signal.SIGINT, 130), ("sync", signal.SIGTERM, 143)],
    ids=["upload-r-SIGINT", "sync-SIGTERM"],
)
def test_a_directory_stopped_by_a_signal_says_what_finished_was_kept_and_was_not_started(
    child_env: LocalCOS, tmp_path: Path, command: str, signum: int, code: int
) -> None:
    server = child_env
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a-small.txt").write_bytes(os.urandom(10_000))  # one PUT: not held back
    for name in ("big1.bin", "big2.bin", "big3.bin"):
        (tree / name).write_bytes(os.urandom(3 * MB))
    argv = [*command.split(), str(tree), target(server, "t/"), "--part-size", "1MB", "--multipart-threshold", "1MB",
            "--concurrency", "4"]  # fmt: skip
    child = Child(argv)
    # Two large files at a time: both have initiated, recorded their checkpoint and sent parts; the third waits.
    wait_for(lambda: len(checkpoints(tmp_path)) == 2 and server.faults.requests_seen("UploadPart") >= 2, child,
             "two large files sending parts")  # fmt: skip
    # What the command itself has seen (its bar): the small file done, the parts sent and waiting.
    wait_for(lambda: re.search(r"1/4 files, [1-4]\.0 MiB in flight", child.terminal) is not None, child, "the bar")
    child.process.send_signal(signum)
    returncode, out, terminal = child.finish()

    assert returncode == code, (out, terminal)
    assert "Traceback" not in terminal
    summary = out.strip().splitlines()[-1]
    found = re.search(
        r"^interrupted: (\d+) uploaded, 0 skipped, 0 failed, (\d+) stopped \((\d+) kept for a resume, (\d+) to send "
        r"again\), (\d+) not started", summary,
    )  # fmt: skip
    assert found, summary
    # The small file uploaded; of the big files two were kept with their checkpoint, one never started.
    assert tuple(map(int, found.groups())) == (1, 2, 2, 0, 1), summary

    kept_lines = [line for line in terminal.splitlines() if line.startswith("cos-multipart: upload kept:")]
    recorded = checkpoints(tmp_path)  # still there, for the next run
    in_progress = {u.key: u.upload_id for u in server.client().list_multipart_uploads()}
    assert len(kept_lines) == 2 and recorded == in_progress and len(recorded) == 2, (terminal, recorded, in_progress)
    for key, upload_id in recorded.items():
        (line,) = [line for line in kept_lines if upload_id in line]
        assert f"resume with: cos-multipart resume {tree / key.split('/')[-1]} {target(server, key)}" in line
    assert "run the same command again to finish" in terminal
    assert f"cos-multipart: interrupted by {'SIGTERM' if signum == signal.SIGTERM else 'Ctrl-C (SIGINT)'} (exit {code})" in terminal

    # The bar stays where it was: the stopped files are not counted as done (it showed 3/4 files, 100 %), and
    # it shows what COS acknowledged, not the parts sent and still waiting for their answer.
    bar = last_bar(terminal)
    # (The bytes in flight at the signal may include a part partly handed to the socket: any amount.)
    assert re.match(r"tree:\s+0%\|.*\| 9\.8 KiB/9\.0 MiB \[.*\] 1/4 files, [0-9.]+ [KM]iB in flight$", bar.rstrip()), bar

    # The same command again finishes the job: the kept uploads resume (no new Initiate for them).
    server.faults.clear()
    # Counted as the server receives them (its log would wait for the held parts to settle, which they never do).
    initiated = server.faults.requests_seen("InitiateMultipartUpload")
    again_run = subprocess.run([sys.executable, "-m", "cos_multipart", *argv, "-q"], capture_output=True, timeout=PATIENCE)
    assert again_run.returncode == 0, again_run.stderr.decode()
    assert server.faults.requests_seen("InitiateMultipartUpload") - initiated == 1  # only the file never started
    with server.client() as client:
        assert list(client.list_multipart_uploads()) == []
        for path in tree.iterdir():
            response = client.get_object(f"t/{path.name}")
            assert response.content == path.read_bytes()
            response.close()
    assert checkpoints(tmp_path) == {}


@pytest.mark.both_dialects
def test_json_runs_stopped_by_sigterm_say_it_in_json_with_no_bar(child_env: LocalCOS, tmp_path: Path) -> None:
    """``--json``: no bar on the terminal, stdout JSON only (a directory's lines and its summary), and the
    stop as one error object on stderr naming the upload kept (issue 24)."""
    import json

    server = child_env
    path = tmp_path / "one.bin"
    path.write_bytes(os.urandom(3 * MB))
    child = Child(["upload", "--json", str(path), target(server, "j/one.bin"), "--part-size", "1MB",
                   "--multipart-threshold", "0", "--concurrency", "2"])  # fmt: skip
    wait_for(lambda: len(checkpoints(tmp_path)) == 1 and server.faults.requests_seen("UploadPart") >= 2, child, "parts sent")
    child.process.send_signal(signal.SIGTERM)
    returncode, out, terminal = child.finish()
    assert returncode == 143 and out == "", (out, terminal)
    (error,) = [json.loads(line) for line in terminal.splitlines()]  # nothing else: no bar, no text line
    assert error["type"] == "error" and error["exit_code"] == 143 and error["message"] == "interrupted by SIGTERM"
    assert error["kept"]["upload_id"] == checkpoints(tmp_path)["j/one.bin"] and error["kept"]["source"] == str(path)

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.bin").write_bytes(os.urandom(3 * MB))
    seen = server.faults.requests_seen("UploadPart")
    child = Child(["sync", "--json", str(tree), target(server, "t/"), "--part-size", "1MB", "--multipart-threshold", "1MB"])
    wait_for(lambda: "t/big.bin" in checkpoints(tmp_path) and server.faults.requests_seen("UploadPart") >= seen + 2,
             child, "parts sent")  # fmt: skip
    child.process.send_signal(signal.SIGTERM)
    returncode, out, terminal = child.finish()
    assert returncode == 143, (out, terminal)
    *files, summary = [json.loads(line) for line in out.splitlines()]
    assert [(f["type"], f["key"]) for f in files] == [("stopped", "t/big.bin")] and files[0]["kept"] is not None
    assert summary["type"] == "summary" and summary["interrupted"] and summary["stopped"] == 1
    (error,) = [json.loads(line) for line in terminal.splitlines()]
    assert error["exit_code"] == 143 and error["message"] == "interrupted by SIGTERM"
