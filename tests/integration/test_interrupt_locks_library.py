"""A program's own Ctrl-C (Python's default SIGINT handler) landing right after the main thread took a lock
still stops ``upload_file`` and keeps the upload (``test_cli_interrupt_locks.py`` is the command line's case).

The threaded loop puts a handler of its own in place of the default one while it runs, so the interrupt is
taken at the top of a turn instead of inside the lock; here the signal is raised exactly there
(:mod:`signal_at_lock`), in a real child process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cos_multipart import CheckpointStore
from cos_multipart.testing import LocalCOS

from interrupted_child import MB, Child, wait_for
from signal_at_lock import FIRED

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pseudo-terminals")


def test_upload_file_stops_when_a_default_sigint_lands_inside_a_lock(child_env: LocalCOS, tmp_path: Path) -> None:
    server = child_env
    path = tmp_path / "one.bin"
    path.write_bytes(os.urandom(4 * MB))
    arm, checkpoints = tmp_path / "arm", tmp_path / "checkpoints"
    child = Child([server.endpoint, server.bucket, server.region, str(path), "one.bin", str(checkpoints)],
                  runner=[str(Path(__file__).with_name("upload_at_lock.py"))],
                  env={"COS_MULTIPART_TEST_ARM": str(arm)})  # fmt: skip
    store = CheckpointStore(checkpoints)
    wait_for(lambda: len(list(store)) == 1 and server.faults.requests_seen("UploadPart") >= 2, child, "parts sent")
    arm.touch()  # the loop waits for the parts: the next lock its thread takes gets the signal
    wait_for(lambda: FIRED in child.terminal, child, "the signal raised inside a lock")
    returncode, out, terminal = child.finish()

    assert returncode == 130, (out, terminal)
    ((_, checkpoint),) = list(store)
    assert out.strip() == f"kept {checkpoint.upload_id}", (out, terminal)
    (listed,) = server.client().list_multipart_uploads()
    assert listed.upload_id == checkpoint.upload_id
