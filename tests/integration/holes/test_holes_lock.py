"""Regression tests for the holes of issue 8 (see ``hole_helpers``): the lock on the checkpoint (a second run in a child process, killed with SIGKILL)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import LocalCOS

from loop_guard import LoopGuard
from uploads import Driver, make_file, stored

from holes.hole_helpers import (
    outcome,
    start_child,
)

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


# --- 4. a lock on the checkpoint -----------------------------------------------------------------------


def test_4_second_run_of_the_same_upload_is_refused_at_once_and_the_first_completes(
    driver: Driver, local_cos: LocalCOS, client: CosClient, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 8 * MB)
    directory = tmp_path / "checkpoints"
    child = start_child(local_cos, path, "locked.bin", directory)  # held mid-way with the lock until released
    try:
        store = CheckpointStore(directory)
        # "At once", decided without a clock: the second run is refused while the first is held mid-way (a run
        # that waited for the lock would never end: the guard below ends the test instead), and it neither
        # sleeps nor waits for a thread on the way (a polling lock would).
        guard, found = LoopGuard(), []

        def second_run() -> None:
            sys.setprofile(guard)
            try:
                found.append(outcome(lambda: driver.uploader(client, store).upload(path, "locked.bin")))
            finally:
                sys.setprofile(None)

        runner = threading.Thread(target=second_run)
        runner.start()
        runner.join(120)  # ends a broken run only
        assert not runner.is_alive(), "the second run waited for the first one's lock instead of being refused"
        assert child.poll() is None  # the first run still holds the lock
        _, error, _ = found[0]
        assert error is not None, "a second run of the same upload was not refused: both ran on one checkpoint"
        assert type(error).__name__ == "UploadLockedError", f"not refused by a lock: {error!r}"
        from cos_multipart._protocol.errors import UploadLockedError

        assert isinstance(error, UploadLockedError), repr(error)
        assert error.pid == child.pid and str(child.pid) in str(error)
        waits = [str(call) for call in guard.found if call.call.startswith(("time.sleep", "Event.", "Condition."))]
        assert waits == [], f"the refusal waited: {waits}"
        out, err = child.communicate(b"go\n", timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err.decode()
    assert out.split()[-2:] == [b"done", str(crc64(data)).encode()]
    assert stored(client, "locked.bin") == data
    assert list(client.list_multipart_uploads()) == []


def test_4_the_lock_dies_with_its_process(driver: Driver, local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 8 * MB)
    directory = tmp_path / "checkpoints"
    child = start_child(local_cos, path, "locked.bin", directory)
    store = CheckpointStore(directory)
    try:
        _, error, _ = outcome(lambda: driver.uploader(client, store).upload(path, "locked.bin"))
        assert error is not None, "a second run of the same upload was not refused while the first held it"
        assert type(error).__name__ == "UploadLockedError", f"not refused by a lock: {error!r}"
        assert child.poll() is None, "the first run was disturbed (it ended before it was killed)"
    finally:
        os.kill(child.pid, signal.SIGKILL)  # no cleanup of any kind: only the kernel can release the lock
        child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    result = driver.uploader(client, store).upload(path, "locked.bin")
    assert stored(client, "locked.bin") == data and result.crc64 == crc64(data)
