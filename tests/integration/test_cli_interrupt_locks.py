"""Ctrl-C landing right after the main thread took a lock still stops the command (it once hung for good).

A signal's handler runs in the main thread between two bytecodes, wherever it is; when that is inside
``threading.Condition.__enter__`` after the lock was taken (the waits of the loops that wait for the parts, or
for the files, use them), a ``KeyboardInterrupt`` raised there leaves the lock held for ever: the part thread
that then finishes blocks on it, and the command never ends (1 CI run in 5 or so). Here the signal is delivered
at exactly that point (:mod:`signal_at_lock`), never after a sleep.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import List

import pytest

from cos_multipart.testing import LocalCOS

from interrupted_child import MB, Child, checkpoints, wait_for
from signal_at_lock import FIRED
from uploads import target

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pseudo-terminals")

RUNNER = [str(Path(__file__).with_name("signal_at_lock.py"))]


def armed_child(argv: List[str], arm: Path) -> Child:
    return Child(argv, runner=RUNNER, env={"COS_MULTIPART_TEST_ARM": str(arm)})


def test_a_file_upload_stops_when_the_signal_lands_inside_a_lock(child_env: LocalCOS, tmp_path: Path) -> None:
    server = child_env
    path = tmp_path / "one.bin"
    path.write_bytes(os.urandom(4 * MB))
    arm = tmp_path / "arm"
    child = armed_child(["upload", str(path), target(server, "one.bin"), "--part-size", "1MB",
                         "--multipart-threshold", "0", "--concurrency", "2"], arm)  # fmt: skip
    wait_for(lambda: len(checkpoints(tmp_path)) == 1 and server.faults.requests_seen("UploadPart") >= 2, child,
             "parts sent")  # fmt: skip
    arm.touch()  # the loop waits for the parts: the next lock its thread takes gets the signal
    wait_for(lambda: FIRED in child.terminal, child, "the signal raised inside a lock")
    returncode, out, terminal = child.finish()

    assert returncode == 130, (out, terminal)
    assert "Traceback" not in terminal and out == ""
    (upload_id,) = checkpoints(tmp_path).values()
    (kept,) = [line for line in terminal.splitlines() if line.startswith("cos-multipart: upload kept:")]
    assert upload_id in kept and "0/4 parts" in kept, kept
    assert terminal.rstrip().endswith("(exit 130)")


def test_a_directory_upload_stops_when_the_signal_lands_inside_a_lock(child_env: LocalCOS, tmp_path: Path) -> None:
    server = child_env
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("big1.bin", "big2.bin", "big3.bin"):
        (tree / name).write_bytes(os.urandom(3 * MB))
    arm = tmp_path / "arm"
    child = armed_child(["upload", "-r", str(tree), target(server, "t/"), "--part-size", "1MB",
                         "--multipart-threshold", "1MB", "--concurrency", "4"], arm)  # fmt: skip
    wait_for(lambda: len(checkpoints(tmp_path)) == 2 and server.faults.requests_seen("UploadPart") >= 2, child,
             "two large files sending parts")  # fmt: skip
    arm.touch()  # the main thread waits for the files: the next lock it takes gets the signal
    wait_for(lambda: FIRED in child.terminal, child, "the signal raised inside a lock")
    returncode, out, terminal = child.finish()

    assert returncode == 130, (out, terminal)
    assert "Traceback" not in terminal
    summary = out.strip().splitlines()[-1]
    found = re.search(r"^interrupted: 0 uploaded, 0 skipped, 0 failed, 2 stopped \(2 kept for a resume, 0 to send "
                      r"again\), 1 not started", summary)  # fmt: skip
    assert found, (summary, terminal[-3000:])
    assert len(checkpoints(tmp_path)) == 2


def test_a_directory_upload_stops_when_the_signal_lands_while_its_files_are_handed_out(
    child_env: LocalCOS, tmp_path: Path
) -> None:
    """The lanes are handed every file at the start (``Lane.start``, whose threads' ``start`` takes a lock in
    Python code; a thread pool's ``submit`` did before): a signal there once escaped before the stop was set
    up, the files already started ran on, and the command waited for them (and a lane for the pool's lock) for
    good. It lands once the large files' lane has started its threads."""
    server = child_env
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("big1.bin", "big2.bin", "big3.bin"):
        (tree / name).write_bytes(os.urandom(3 * MB))
    for number in range(20):
        (tree / f"small{number}.txt").write_bytes(os.urandom(1000))
    arm = tmp_path / "arm"
    arm.touch()  # armed from the start: a lock taken while a lane starts its threads
    child = Child(["upload", "-r", str(tree), target(server, "t/"), "--part-size", "1MB", "--multipart-threshold",
                   "1MB", "--concurrency", "4"], runner=RUNNER,
                  env={"COS_MULTIPART_TEST_ARM": str(arm), "COS_MULTIPART_TEST_AT": "start",
                       "COS_MULTIPART_TEST_SKIP": "2"})  # fmt: skip
    returncode, out, terminal = child.finish()

    assert returncode == 130, (out, terminal)
    assert FIRED in terminal and "Traceback" not in terminal, terminal
    assert out.strip().splitlines()[-1].startswith("interrupted: "), out
