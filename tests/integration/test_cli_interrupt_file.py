"""Ctrl-C (SIGINT) and SIGTERM stopping ``upload`` and ``resume`` of one file: the upload kept, how to resume it
said, the documented exit code (see ``test_cli_interrupt.py`` for directories and ``--json``)."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from cos_multipart.testing import LocalCOS

from uploads import target
from interrupted_child import (
    Child,
    MB,
    SIGNALS,
    checkpoints,
    last_bar,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pseudo-terminals")


@pytest.mark.parametrize("command", ["upload", "resume"])
@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_file_stopped_by_a_signal_keeps_its_upload_and_says_how_to_resume(
    child_env: LocalCOS, tmp_path: Path, command: str, signum: int, code: int
) -> None:
    server = child_env
    path = tmp_path / "local name.bin"
    path.write_bytes(os.urandom(4 * MB))
    argv = [command, str(path), target(server, "other-key.bin"), "--part-size", "1MB", "--multipart-threshold", "0",
            "--concurrency", "2"]  # fmt: skip
    if command == "resume":  # something to resume: an upload stopped the same way
        first = Child(["upload", *argv[1:]])
        wait_for(lambda: server.faults.requests_seen("UploadPart") >= 2, first, "parts sent")
        wait_for(lambda: "sent " in first.terminal, first, "the bar showing the parts sent")
        first.process.send_signal(signal.SIGINT)
        assert first.finish()[0] == 130
    seen = server.faults.requests_seen("UploadPart")
    child = Child(argv)
    wait_for(lambda: server.faults.requests_seen("UploadPart") >= seen + 2, child, "parts sent")
    wait_for(lambda: "sent " in child.terminal, child, "the bar showing the parts sent")
    child.process.send_signal(signum)
    returncode, out, terminal = child.finish()

    assert returncode == code, (out, terminal)
    assert "Traceback" not in terminal and out == ""
    (upload_id,) = checkpoints(tmp_path).values()
    (listed,) = server.client().list_multipart_uploads()
    assert listed.upload_id == upload_id
    (kept,) = [line for line in terminal.splitlines() if line.startswith("cos-multipart: upload kept:")]
    assert upload_id in kept and "resume with: cos-multipart resume" in kept
    found = re.search(r"upload kept: (\d)/4 parts", kept)
    assert found, kept
    # A resume reuses what the first run's parts left stored (their answers never came); an upload has none.
    done = int(found.group(1))
    assert done == 0 if command == "upload" else done <= 2, kept
    assert terminal.rstrip().endswith(f"(exit {code})")
    # Named by the local file, not the key; at what COS acknowledged, with what was sent beside it.
    bar = last_bar(terminal)
    assert re.match(rf"local name\.bin:\s+{25 * done}%", bar), bar
    assert f"{f'{done}.0 MiB' if done else '0 B'}/4.0 MiB" in bar and "sent " in bar and f"{done}/4 parts" in bar, bar
