"""An exclusive lock per checkpoint: two runs of the same upload must not share one upload id.

Two runs of the same upload (an overlapping cron job, two threads uploading the same file to the same key)
would read the same checkpoint, send parts to the same upload id, and the loser would fail with
``NoSuchUpload`` after the winner completes. :class:`CheckpointLock` makes the second run fail at once with
:class:`~cos_multipart._protocol.errors.UploadLockedError`, naming the process that holds the lock, and touches nothing
of the first run.

How:

* The lock is an OS lock on ``<checkpoint>.lock`` beside the checkpoint: ``fcntl.flock(LOCK_EX | LOCK_NB)``
  on POSIX, ``msvcrt.locking(LK_NBLCK)`` on Windows. It never waits, and the kernel releases it when the
  holder dies (``kill -9`` included), so there is no stale lock to clean up and no guessing from pids.
* The holder writes ``pid host started`` into the file so that the refused run can say who holds it.
* Within one process, a registry keyed by the lock file's device and inode refuses a second lock too
  (another thread, another upload of the same file and key, or the same file reached by another path). On
  Linux a second ``flock`` on a new descriptor conflicts anyway; the registry makes it independent of
  the platform and of file systems that emulate ``flock`` with per-process ``fcntl`` locks (NFS).
* The file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and must be a regular file with one link: a symbolic
  link, FIFO, device or hard link planted at that path raises :class:`~cos_multipart._protocol.errors.CosValidationError`
  at once instead of hanging or writing through to another file.

Removing the lock file on release (POSIX): a lock file left behind for every checkpoint ever made would pile
up, so the holder unlinks it while it still holds the lock, then unlocks. Unlinking is safe because whoever
takes the lock then checks that the path still names the file it locked; a process that opened the file
before the unlink and locked it after finds the path gone or pointing to a new file, drops that lock and
opens the path again. So two processes can never both believe they hold the lock, and release never removes
a file another process holds. A holder killed before releasing leaves the file; the next run locks it and
overwrites its content. On Windows an open file cannot be unlinked, and the file is kept.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Dict, Optional, Tuple, Type

from .._protocol.errors import CosValidationError, UploadLockedError

logger = logging.getLogger(__name__)

#: Suffix of the lock file beside a checkpoint: ``<name>.json`` -> ``<name>.json.lock``.
LOCK_SUFFIX = ".lock"

# The holder's line is short; a longer file is not ours, and reading more would only cost memory.
_MAX_HOLDER_BYTES = 512
# Opening again is needed only when a holder released (and unlinked) between our open and our lock; a path
# replaced again and again on every attempt is a file system gone wrong, not a race to win.
_OPEN_ATTEMPTS = 16
# Windows locks are mandatory: the locked byte cannot be read by others, so lock one far past the holder's line.
_WINDOWS_LOCK_OFFSET = 1 << 20

_OPEN_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)  # a symbolic link at the path is refused (ELOOP), not followed
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO at the path must not block the open
    | getattr(os, "O_NOCTTY", 0)  # nor a terminal become ours
    | getattr(os, "O_CLOEXEC", 0)  # a program we start must not inherit (and so keep) the lock
    | getattr(os, "O_BINARY", 0)
)
_LOCK_FILE_RULE = "a regular file with one link, or nothing (cos-multipart creates it); remove what is there"

_FileId = Tuple[int, int]
# Lock files held by this process: (st_dev, st_ino) -> pid that took the lock (a forked child is not it).
_held: Dict[_FileId, int] = {}
_registry_lock = threading.Lock()


if sys.platform == "win32":
    import msvcrt

    def _os_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _os_unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    _UNLINK_ON_RELEASE = False

else:
    import fcntl

    def _os_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return False
            raise
        return True

    def _os_unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    _UNLINK_ON_RELEASE = True


class CheckpointLock:
    """An exclusive, non-blocking lock on one checkpoint, held until :meth:`release` or the process ends.

    Use it as a context manager::

        with CheckpointLock.acquire(checkpoint_path):
            ...  # load, upload, save, delete the checkpoint

    Attributes:
        path: The lock file, ``<checkpoint>.lock`` in the checkpoint's directory.
    """

    __slots__ = ("path", "_fd", "_file_id", "_owner")

    def __init__(self, path: Path, fd: int, file_id: _FileId) -> None:
        """Wrap a lock already taken; use :meth:`acquire`."""
        self.path = path
        self._fd: Optional[int] = fd
        self._file_id = file_id
        self._owner = os.getpid()

    @staticmethod
    def path_for(checkpoint_path: Path) -> Path:
        """The lock file of ``checkpoint_path``: the same name with ``.lock`` appended, in the same directory."""
        return checkpoint_path.with_name(checkpoint_path.name + LOCK_SUFFIX)

    @classmethod
    def acquire(cls, checkpoint_path: Path) -> CheckpointLock:
        """Take the lock of ``checkpoint_path``, or fail at once if anyone holds it.

        The lock file is created (mode 0600) in the checkpoint's directory, which must exist; the checkpoint
        itself need not.

        Args:
            checkpoint_path: The checkpoint file the lock protects.

        Returns:
            The held lock.

        Raises:
            UploadLockedError: Another process, or another upload in this process, holds the lock; its pid and
                host (as written in the lock file) are attributes of the error. Nothing was changed.
            CosValidationError: Something other than a regular file with one link is at the lock file's path
                (a symbolic link, FIFO, device, directory or hard link): ``field`` is ``"lock_file"``.
            OSError: The lock file cannot be created or opened (no directory, no permission).
        """
        path = cls.path_for(Path(checkpoint_path))
        for _ in range(_OPEN_ATTEMPTS):
            fd = _open_lock_file(path)
            try:
                file_id = _lock_if_current(path, fd)
            except BaseException:
                os.close(fd)  # closing also drops an OS lock taken before the failure
                raise
            if file_id is not None:
                return cls(path, fd, file_id)
            os.close(fd)
            logger.debug("lock file %s was replaced while it was being locked; opening it again", path)
        raise UploadLockedError(str(path))

    @classmethod
    def acquire_if_writable(cls, checkpoint_path: Path) -> Optional[CheckpointLock]:
        """:meth:`acquire`, or ``None`` when the lock file cannot be made (no directory, a read-only or full
        disk): for an upload that records no checkpoint and so must not need the checkpoint disk.

        Raises:
            UploadLockedError, CosValidationError: As :meth:`acquire` (someone holds it; a hostile path).
        """
        try:
            return cls.acquire(checkpoint_path)
        except OSError as error:
            logger.debug("no lock for %s (the upload keeps no checkpoint): %s", checkpoint_path, error)
            return None

    @property
    def locked(self) -> bool:
        """True until :meth:`release`."""
        return self._fd is not None

    def release(self) -> None:
        """Release the lock (idempotent). On POSIX the lock file is removed first, while still held."""
        with _registry_lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            if os.getpid() != self._owner:
                # A forked child's copy: the lock belongs to the parent, whose descriptor keeps it held.
                os.close(fd)
                return
            _held.pop(self._file_id, None)
            try:
                if _UNLINK_ON_RELEASE and _names(path=self.path, fd=fd):
                    os.unlink(self.path)
            except OSError as error:  # the lock still goes; a file left behind is reused by the next run
                logger.debug("could not remove lock file %s: %s", self.path, error)
            finally:
                try:
                    _os_unlock(fd)
                finally:
                    os.close(fd)

    def __enter__(self) -> CheckpointLock:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.locked else "released"
        return f"CheckpointLock({str(self.path)!r}, {state})"


def _open_lock_file(path: Path) -> int:
    """Open (creating 0600) the lock file, refusing anything but a regular file with one link."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        # Checked before opening too: opening a device can have effects of its own (a tape rewinds).
        if not stat.S_ISREG(found.st_mode):
            raise _hostile(path, found.st_mode)
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o600)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a symbolic link (EMLINK on FreeBSD)
            raise _hostile(path, stat.S_IFLNK) from error
        raise
    try:
        opened = os.fstat(fd)
        # The path may have changed between lstat and open; what was opened is what counts. A hard link
        # would let the holder's line overwrite another file.
        if not stat.S_ISREG(opened.st_mode) or opened.st_nlink > 1:
            raise _hostile(path, opened.st_mode, links=opened.st_nlink)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_if_current(path: Path, fd: int) -> Optional[_FileId]:
    """Lock ``fd`` and record the holder; ``None`` if the path no longer names it (open again)."""
    opened = os.fstat(fd)
    file_id = (opened.st_dev, opened.st_ino)
    with _registry_lock:
        if _held.get(file_id) == os.getpid():
            raise UploadLockedError(str(path), pid=os.getpid(), host=_this_host(), in_process=True)
        if not _os_lock(fd):
            pid, host = _parse_holder(_read_holder(fd))
            raise UploadLockedError(str(path), pid=pid, host=host)
        if not _names(path=path, fd=fd):
            # Its holder released and unlinked it between our open and our lock: this lock protects nothing.
            _os_unlock(fd)
            return None
        _write_holder(fd)
        _held[file_id] = os.getpid()
    return file_id


def _names(*, path: Path, fd: int) -> bool:
    """True when ``path`` is the file open on ``fd`` (same device and inode)."""
    try:
        at_path = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (at_path.st_dev, at_path.st_ino) == (opened.st_dev, opened.st_ino)


def _write_holder(fd: int) -> None:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = f"{os.getpid()} {_this_host()} {started}\n".encode("utf-8", "replace")
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, line)
    except OSError as error:  # a full disk: the OS lock is what protects; the line only names the holder
        logger.debug("could not write the holder into lock file fd %d: %s", fd, error)


def _read_holder(fd: int) -> bytes:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, _MAX_HOLDER_BYTES)
    except OSError:  # the refusal matters, not who: report an unknown holder
        return b""


def _parse_holder(data: bytes) -> Tuple[Optional[int], Optional[str]]:
    """``(pid, host)`` from a holder's line ``pid host started``; ``(None, None)`` for anything else."""
    fields = data.decode("utf-8", "replace").split()
    if len(fields) < 2 or not (fields[0].isascii() and fields[0].isdigit()) or len(fields[0]) > 10:
        return None, None
    pid = int(fields[0])
    host = fields[1][:255]
    if pid <= 0 or not host.isprintable():
        return None, None
    return pid, host


def _this_host() -> str:
    # The holder's line is split on white space, so the host must not contain any.
    name = socket.gethostname() or "localhost"
    return "".join(c if c.isprintable() and not c.isspace() else "_" for c in name)


def _hostile(path: Path, mode: int, *, links: int = 1) -> CosValidationError:
    if links > 1:
        found = f"a file with {links} hard links"
    elif stat.S_ISLNK(mode):
        found = "a symbolic link"
    elif stat.S_ISFIFO(mode):
        found = "a FIFO"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        found = "a device"
    elif stat.S_ISDIR(mode):
        found = "a directory"
    else:
        found = "not a regular file"
    return CosValidationError("lock_file", str(path), f"{_LOCK_FILE_RULE} (found {found})")
