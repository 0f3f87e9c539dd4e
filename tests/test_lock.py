"""The checkpoint lock, with real processes: refusal names the holder, kill -9 frees it, nothing hangs."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, TypeVar

import pytest

from cos_multipart._io import _lock
from cos_multipart._io._lock import CheckpointLock
from cos_multipart._protocol.errors import CosError, CosValidationError, UploadLockedError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types and signals")

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    directory = tmp_path / "checkpoints"
    directory.mkdir(mode=0o700)
    return directory / "0123abcd.json"


@contextmanager
def _holder(checkpoint: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """A child process that takes the lock, says so on stdout, and waits for its stdin to close."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from cos_multipart._io._lock import CheckpointLock
        lock = CheckpointLock.acquire(Path({str(checkpoint)!r}))
        print("locked", flush=True)
        sys.stdin.read()
        {'lock.release()' if 'release' in extra else ''}
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)


def _within(seconds: float, call: Callable[[], T]) -> T:
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it has not returned in time."""
    outcome: List[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # handed back to the test below
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[return-value]


def test_acquire_writes_the_holder_and_release_removes_the_file(checkpoint: Path) -> None:
    lock = CheckpointLock.acquire(checkpoint)
    path = checkpoint.with_name("0123abcd.json.lock")
    assert lock.path == path == CheckpointLock.path_for(checkpoint)
    states = [lock.locked]
    assert "held" in repr(lock)
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    pid, host, started = path.read_text().split()
    assert (int(pid), host) == (os.getpid(), socket.gethostname())
    assert started.endswith("Z") and "T" in started
    lock.release()
    states.append(lock.locked)
    assert states == [True, False] and not path.exists()
    lock.release()  # idempotent
    with CheckpointLock.acquire(checkpoint) as again:
        states.append(again.locked)
    states.append(again.locked)
    assert states == [True, False, True, False]


def test_another_process_holding_the_lock_is_named(checkpoint: Path) -> None:
    with _holder(checkpoint) as child:
        before = CheckpointLock.path_for(checkpoint).read_bytes()
        with pytest.raises(UploadLockedError) as info:
            _within(10, lambda: CheckpointLock.acquire(checkpoint))
        error = info.value
        assert isinstance(error, CosError)
        assert (error.pid, error.host, error.in_process) == (child.pid, socket.gethostname(), False)
        assert error.path == str(CheckpointLock.path_for(checkpoint))
        assert f"another cos-multipart process (pid {child.pid} on " in str(error)
        assert "wait for it or stop it" in str(error) and error.path in str(error)
        # the refused run changed nothing of the holder's
        assert CheckpointLock.path_for(checkpoint).read_bytes() == before
        with pytest.raises(UploadLockedError):
            CheckpointLock.acquire(checkpoint)


def test_kill_9_of_the_holder_frees_the_lock(checkpoint: Path) -> None:
    with _holder(checkpoint) as child:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        path = CheckpointLock.path_for(checkpoint)
        assert path.exists()  # the dead holder could not remove it, and need not
        with _within(10, lambda: CheckpointLock.acquire(checkpoint)) as lock:
            assert int(path.read_text().split()[0]) == os.getpid()  # its line replaced the dead one's
        assert lock.path == path


def test_a_holder_that_releases_lets_the_next_run_in(checkpoint: Path) -> None:
    with _holder(checkpoint, "release") as child:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=30) == 0
        assert not CheckpointLock.path_for(checkpoint).exists()
        CheckpointLock.acquire(checkpoint).release()


def test_second_lock_in_the_same_process_is_refused(checkpoint: Path) -> None:
    with CheckpointLock.acquire(checkpoint):
        errors: List[BaseException] = []

        def other_thread() -> None:
            try:
                CheckpointLock.acquire(checkpoint)
            except UploadLockedError as error:
                errors.append(error)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(10)
        assert not thread.is_alive()
        assert len(errors) == 1
        error = errors[0]
        assert isinstance(error, UploadLockedError)
        assert (error.pid, error.in_process) == (os.getpid(), True)
        assert "another upload in this process" in str(error)
        with pytest.raises(UploadLockedError):  # the same thread twice
            CheckpointLock.acquire(checkpoint)
    CheckpointLock.acquire(checkpoint).release()


def test_same_file_by_another_path_is_the_same_lock(checkpoint: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(checkpoint.parent, target_is_directory=True)
    with CheckpointLock.acquire(checkpoint):
        with pytest.raises(UploadLockedError):
            CheckpointLock.acquire(alias / checkpoint.name)


def test_in_process_registry_holds_where_os_locks_do_not_conflict(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some file systems (NFS) emulate flock with per-process locks: a second lock in the process succeeds.
    monkeypatch.setattr(_lock, "_os_lock", lambda fd: True)
    monkeypatch.setattr(_lock, "_os_unlock", lambda fd: None)
    with CheckpointLock.acquire(checkpoint):
        with pytest.raises(UploadLockedError) as info:
            CheckpointLock.acquire(checkpoint)
        assert info.value.in_process


def test_many_processes_never_hold_it_together(checkpoint: Path) -> None:
    # Acquire and release in a loop in three processes; the unlink on release must never let two in at once.
    marker = checkpoint.with_name("inside")
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from cos_multipart._io._lock import CheckpointLock
        from cos_multipart._protocol.errors import UploadLockedError
        got = 0
        for _ in range(300):
            try:
                lock = CheckpointLock.acquire(Path({str(checkpoint)!r}))
            except UploadLockedError:
                continue
            with lock:
                os.close(os.open({str(marker)!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # fails if two hold it
                got += 1
                os.unlink({str(marker)!r})
        print(got)
        """
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0]
    assert sum(int(out) for out in outputs) > 0


def test_fifo_at_the_lock_path_does_not_hang(checkpoint: Path) -> None:
    os.mkfifo(CheckpointLock.path_for(checkpoint), 0o600)
    with pytest.raises(CosValidationError) as info:
        _within(10, lambda: CheckpointLock.acquire(checkpoint))
    assert info.value.field == "lock_file" and "FIFO" in info.value.allowed


def test_symlink_at_the_lock_path_is_not_followed(checkpoint: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    path = CheckpointLock.path_for(checkpoint)
    path.symlink_to(precious)
    with pytest.raises(CosValidationError) as info:
        _within(10, lambda: CheckpointLock.acquire(checkpoint))
    assert "symbolic link" in info.value.allowed
    assert precious.read_text() == "keep me"
    path.unlink()
    path.symlink_to(tmp_path / "nowhere")  # dangling: nothing may be created at its target
    with pytest.raises(CosValidationError):
        CheckpointLock.acquire(checkpoint)
    assert not (tmp_path / "nowhere").exists()


def test_symlink_swapped_in_after_the_check_is_refused_by_the_open(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    CheckpointLock.path_for(checkpoint).symlink_to(precious)
    monkeypatch.setattr(os, "lstat", lambda path: os.stat(precious))  # the check sees a regular file
    with pytest.raises(CosValidationError) as info:
        CheckpointLock.acquire(checkpoint)
    assert "symbolic link" in info.value.allowed and precious.read_text() == "keep me"


def test_device_and_directory_and_hard_link_are_refused(checkpoint: Path, tmp_path: Path) -> None:
    path = CheckpointLock.path_for(checkpoint)
    path.symlink_to("/dev/zero")
    with pytest.raises(CosValidationError):
        _within(10, lambda: CheckpointLock.acquire(checkpoint))
    path.unlink()
    path.mkdir()
    with pytest.raises(CosValidationError) as info:
        CheckpointLock.acquire(checkpoint)
    assert "directory" in info.value.allowed
    path.rmdir()
    other = tmp_path / "other"
    other.write_text("keep me")
    os.link(other, path)
    with pytest.raises(CosValidationError) as info:
        CheckpointLock.acquire(checkpoint)
    assert "hard links" in info.value.allowed and other.read_text() == "keep me"


def test_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CheckpointLock.acquire(tmp_path / "missing" / "x.json")


@pytest.mark.parametrize(
    ("content", "pid", "host"),
    [
        (b"1234 build-7 2026-01-01T00:00:00Z\n", 1234, "build-7"),
        (b"1234 host", 1234, "host"),
        (b"", None, None),
        (b"garbage", None, None),
        (b"-5 host x", None, None),
        (b"0 host x", None, None),
        (b"\xff\xfe\x00 \x01", None, None),
        ("\u00b2 host x".encode(), None, None),  # a digit to isdigit(), not to int()
        (b"99999999999999999999 host x", None, None),
    ],
)
def test_holder_line_parsing_tolerates_garbage(content: bytes, pid: object, host: object) -> None:
    assert _lock._parse_holder(content) == (pid, host)


def test_garbage_in_a_held_lock_file_gives_an_unknown_holder(checkpoint: Path) -> None:
    path = CheckpointLock.path_for(checkpoint)
    script = textwrap.dedent(
        f"""
        import fcntl, os, sys
        fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"\\x00\\xffnot a holder line")
        print("locked", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(UploadLockedError) as info:
            CheckpointLock.acquire(checkpoint)
        assert (info.value.pid, info.value.host) == (None, None)
        assert "pid unknown" in str(info.value)
    finally:
        child.kill()
        child.wait(timeout=30)


def test_upload_locked_error_pickles() -> None:
    error = UploadLockedError("/tmp/x.lock", pid=42, host="h", in_process=True)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.pid, copy.host, copy.in_process, str(copy)) == (
        "/tmp/x.lock",
        42,
        "h",
        True,
        str(error),
    )
