"""Ctrl-C landing right after the main thread took a lock stops ``cp -r``, ``download -r`` and ``check`` (they
hung for good, as the uploads did: ``test_cli_interrupt_locks.py``).

These commands hand their objects (or files) to a pool of threads and wait for them in the main thread; the
pool's ``submit`` and ``Future.result`` take a ``Condition`` in Python code. A ``KeyboardInterrupt`` raised just
after one was taken leaves it held: the thread that then ends its call blocks on it, and the command waits for
that thread for ever. Here the signal is delivered at exactly that point (:mod:`signal_at_lock`), never after a
sleep. The requests are held back by the server, so the threads are busy when it lands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from cos_multipart.testing import Fault, LocalCOS

from interrupted_child import Child, wait_for
from signal_at_lock import FIRED
from uploads import target

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pseudo-terminals")

RUNNER = [str(Path(__file__).with_name("signal_at_lock.py"))]
#: Held longer than any test: the copies' answers never come (Ctrl-C stops the copies in flight at once).
HELD = 600.0
#: Downloads and HEADs in flight are waited for after Ctrl-C (no cancel of their own): held a little only.
HELD_BRIEFLY = 2.0
#: The locks taken in ``submit`` while the four threads start (a semaphore's and the thread's start event's,
#: two per thread): the signal lands in the fifth ``submit``, with four threads busy.
STARTING_LOCKS = 8


def armed_child(argv: List[str], arm: Path, *, at: Optional[str] = None, skip: int = 0) -> Child:
    env: Dict[str, str] = {"COS_MULTIPART_TEST_ARM": str(arm)}
    if at is not None:
        env.update(COS_MULTIPART_TEST_AT=at, COS_MULTIPART_TEST_SKIP=str(skip))
    return Child(argv, runner=RUNNER, env=env)


def stopped(child: Child) -> str:
    """The command ended as Ctrl-C ends it, the signal raised inside a lock: what its terminal showed."""
    returncode, out, terminal = child.finish()
    assert returncode == 130, (out, terminal)
    assert FIRED in terminal and "Traceback" not in terminal, terminal
    assert terminal.rstrip().endswith("cos-multipart: interrupted by Ctrl-C (SIGINT) (exit 130)"), terminal
    return out


@pytest.fixture()
def objects(cli_env: LocalCOS) -> Iterator[LocalCOS]:
    """Twelve small objects under ``src/``."""
    with cli_env.client() as client:
        for number in range(12):
            client.put_object(f"src/o{number}.bin", os.urandom(1000))
    yield cli_env
    cli_env.faults.clear()


def copy_argv(server: LocalCOS) -> List[str]:
    return ["cp", "-r", target(server, "src/"), target(server, "dst/"), "--concurrency", "4"]


def test_cp_r_stops_when_the_signal_lands_while_its_copies_are_handed_out(objects: LocalCOS, tmp_path: Path) -> None:
    server = objects
    server.faults.add(Fault.delay(HELD, "PutObjectCopy", count=None))
    arm = tmp_path / "arm"
    arm.touch()  # armed from the start: a lock taken in submit once four copies are under way
    child = armed_child(copy_argv(server), arm, at="submit", skip=STARTING_LOCKS)
    out = stopped(child)
    assert "copied 0 objects" not in out  # no summary: the run was interrupted
    with server.client() as client:
        assert not list(client.list_objects("dst/"))


def test_cp_r_stops_when_the_signal_lands_in_its_wait(objects: LocalCOS, tmp_path: Path) -> None:
    """Ctrl-C while the copies are under way stops them at once (exit 130). (Before, the wait of ``as_completed``
    took a harmful lock only when a copy ended at that very moment; this one pins the prompt stop.)"""
    server = objects
    server.faults.add(Fault.delay(HELD, "PutObjectCopy", count=None))
    arm = tmp_path / "arm"
    child = armed_child(copy_argv(server), arm)
    wait_for(lambda: server.faults.requests_seen("PutObjectCopy") >= 4, child, "four copies sent")
    arm.touch()  # the main thread waits for the copies: the next lock it takes (or its bell) gets the signal
    wait_for(lambda: FIRED in child.terminal, child, "the signal raised in the wait")
    stopped(child)


def test_download_r_stops_when_the_signal_lands_while_its_objects_are_handed_out(
    objects: LocalCOS, tmp_path: Path
) -> None:
    server = objects
    server.faults.add(Fault.delay(HELD_BRIEFLY, "GetObject", count=None))
    arm = tmp_path / "arm"
    arm.touch()
    into = tmp_path / "into"
    child = armed_child(["download", "-r", target(server, "src/"), str(into), "--concurrency", "4"], arm, at="submit",
                        skip=STARTING_LOCKS)  # fmt: skip
    stopped(child)
    assert len(list(into.iterdir())) <= 4  # at most the four under way: those not started never started


def test_download_r_stops_when_the_signal_lands_in_its_wait(objects: LocalCOS, tmp_path: Path) -> None:
    """The signal in the wait for the small objects: the command stops once those under way end (exit 130)."""
    server = objects
    server.faults.add(Fault.delay(HELD_BRIEFLY, "GetObject", count=None))
    arm = tmp_path / "arm"
    child = armed_child(["download", "-r", target(server, "src/"), str(tmp_path / "into"), "--concurrency", "4"], arm)
    wait_for(lambda: server.faults.requests_seen("GetObject") >= 4, child, "four downloads sent")
    arm.touch()
    wait_for(lambda: FIRED in child.terminal, child, "the signal raised in the wait")
    stopped(child)


@pytest.fixture()
def compared(objects: LocalCOS, tmp_path: Path) -> Iterator[Path]:
    """A directory with the same names and sizes as ``src/``: each file is compared by a HEAD (no CRC-64 in the
    listing: each is held back) or a read."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for number in range(12):
        (tree / f"o{number}.bin").write_bytes(os.urandom(1000))
    objects.faults.add(Fault.delay(HELD_BRIEFLY, "HeadObject", count=None))
    yield tree


def test_check_stops_when_the_signal_lands_in_its_wait_for_a_result(
    objects: LocalCOS, compared: Path, tmp_path: Path
) -> None:
    """``check`` waited on each file's ``Future.result`` in turn: the signal inside its lock hung it."""
    arm = tmp_path / "arm"
    arm.touch()
    child = armed_child(["check", str(compared), target(objects, "src/"), "--concurrency", "4", "--no-cache"], arm,
                        at="result")  # fmt: skip
    stopped(child)


def test_check_stops_when_the_signal_lands_while_its_files_are_handed_out(
    objects: LocalCOS, compared: Path, tmp_path: Path
) -> None:
    arm = tmp_path / "arm"
    arm.touch()
    child = armed_child(["check", str(compared), target(objects, "src/"), "--concurrency", "4", "--no-cache"], arm,
                        at="submit", skip=STARTING_LOCKS)  # fmt: skip
    stopped(child)
