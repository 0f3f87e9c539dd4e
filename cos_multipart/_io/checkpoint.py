"""Checkpoints: an :class:`~cos_multipart._core.session.UploadSession` kept on disk so an upload can resume.

A checkpoint is the session of one multipart upload of one local file: bucket, key, upload id, part plan, the
file's identity (size, mtime, ctime, inode, device), the options that decide how the parts were stored
(encryption mode, the SSE-C key's MD5, a digest of the Initiate options) and every part verified so far with its
ETag, size and CRC-64, so the whole-object CRC can still be checked after a resume. It never holds a secret.

:class:`CheckpointStore` keeps one JSON file per (endpoint, bucket, key, absolute path) in a private
directory (mode 0700; files 0600), written atomically (temporary file in the same directory, fsync,
``os.replace``). A file that cannot be read, is not a regular file, is too large, is corrupt or has another
schema is ignored with a warning: the upload then starts afresh instead of crashing or hanging. The default
directory is ``$XDG_CACHE_HOME/cos-multipart`` or ``~/.cache/cos-multipart``.

:class:`CheckpointRecorder` records parts as they are verified and rewrites the file at most once per
``min_interval`` seconds (each write costs O(parts), so writing after every part would cost O(parts^2) for
10,000 parts); :meth:`CheckpointRecorder.flush` writes what is pending, and the uploader calls it whenever it
stops. Parts verified in the last interval before a hard crash are not lost either: on resume, List Parts
shows them and they are reused when their ETag matches the MD5 of the local bytes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from .._protocol.errors import CosValidationError
from .._protocol.limits import MB
from .._core.session import ENCRYPTION_MODES, SCHEMA, VERSION, FileIdentity, PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = [
    "ENCRYPTION_MODES",
    "Checkpoint",
    "CheckpointRecorder",
    "CheckpointStore",
    "FileIdentity",
    "VerifiedPart",
    "default_checkpoint_dir",
    "options_digest",
]

#: A checkpoint is a stored upload session (the name of earlier versions).
Checkpoint = UploadSession
#: A verified part is a part receipt (the name of earlier versions).
VerifiedPart = PartReceipt
#: Largest checkpoint file read: 10,000 parts take about 1 MB of JSON.
MAX_CHECKPOINT_BYTES = 8 * MB
#: The file name of a checkpoint (:func:`checkpoint_name`). Other files share the directory (the sync's
#: ``crc64-cache.json``, lock files, temporary files): listing the directory reads only these.
CHECKPOINT_FILE_NAME = re.compile(r"[0-9a-f]{40}\.json")
#: Checkpoint versions read only to abort the upload they name (their file identity is not comparable).
_OLD_VERSIONS = (1,)

PathLike = Union[str, "os.PathLike[str]"]


def options_digest(options: Mapping[str, Any]) -> str:
    """A stable digest of the Initiate options (pass no secrets: the SSE-C key belongs in as its MD5)."""
    text = json.dumps(options, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Storage -----------------------------------------------------------------------------------------


#: Bytes :meth:`CheckpointStore.check_usable` writes to find a full disk before an upload starts (about a
#: checkpoint of a few dozen parts).
_PROBE_BYTES = 4096


def default_checkpoint_dir() -> Path:
    """``$XDG_CACHE_HOME/cos-multipart``, else ``~/.cache/cos-multipart``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cos-multipart"


def checkpoint_name(endpoint: str, bucket: str, key: str, source: PathLike) -> str:
    """The file name of the checkpoint for one upload (a hash: keys and paths may hold any character)."""
    text = "\0".join((endpoint, bucket, key, os.path.abspath(os.fspath(source))))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:40] + ".json"


class CheckpointStore:
    """A directory of checkpoint files.

    Args:
        directory: Where checkpoints live (default :func:`default_checkpoint_dir`). Created with mode 0700
            on the first write, not before.
    """

    def __init__(self, directory: Optional[PathLike] = None) -> None:
        self.directory = Path(directory) if directory is not None else default_checkpoint_dir()

    def check_usable(self, checkpoint_path: Optional[PathLike] = None) -> None:
        """Make sure checkpoints can be written here, before an upload creates anything to record.

        Creates the directory (mode 0700) when missing, then creates and removes a temporary file in it:
        permission bits alone cannot tell (root ignores them; a read-only mount or sysfs does not). With
        ``checkpoint_path``, also refuses a directory or other non-file standing at that path (the atomic
        rename over it would fail only after the upload completed).

        Raises:
            CosValidationError: ``field="checkpoint_dir"`` (a file, or a directory that cannot be created or
                written) or ``field="checkpoint"`` (something other than a regular file at the path).
        """
        directory = str(self.directory)
        if os.path.lexists(self.directory) and not self.directory.is_dir():
            raise CosValidationError("checkpoint_dir", directory, "a directory (a file of that name is in the way)")
        try:
            self.make_directory()
        except OSError as error:
            raise CosValidationError(
                "checkpoint_dir", directory, f"a directory that can be created ({error.strerror or error})"
            ) from None
        try:
            fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=self.directory)
            try:
                os.write(fd, bytes(_PROBE_BYTES))  # an empty file needs no block: a full disk shows only on write
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as error:
            raise CosValidationError(
                "checkpoint_dir", directory, f"a directory this process can write ({error.strerror or error})"
            ) from None
        if checkpoint_path is not None:
            try:
                found = os.lstat(checkpoint_path)
            except FileNotFoundError:
                return
            except OSError as error:
                raise CosValidationError("checkpoint", str(checkpoint_path), f"a readable path ({error.strerror})") from None
            if stat.S_ISDIR(found.st_mode):
                raise CosValidationError(
                    "checkpoint", str(checkpoint_path), "a regular file or nothing (a directory is in the way: remove it)"
                )

    def path_for(self, endpoint: str, bucket: str, key: str, source: PathLike) -> Path:
        """Where the checkpoint of this upload is (or would be) stored."""
        return self.directory / checkpoint_name(endpoint, bucket, key, source)

    def load(self, endpoint: str, bucket: str, key: str, source: PathLike) -> Optional[Checkpoint]:
        """The checkpoint of this upload, or ``None`` (none stored, or unreadable: logged as a warning)."""
        path = self.path_for(endpoint, bucket, key, source)
        checkpoint = self._read(path)
        if checkpoint is None:
            return None
        wanted = (endpoint, bucket, key, os.path.abspath(os.fspath(source)))
        if (checkpoint.endpoint, checkpoint.bucket, checkpoint.key, checkpoint.source) != wanted:
            logger.warning("ignoring checkpoint %s: it belongs to another upload", path)
            return None
        return checkpoint

    def path_of(self, checkpoint: Checkpoint) -> Path:
        """Where ``checkpoint`` is stored."""
        if checkpoint.source is None:
            raise ValueError("only uploads of files given by path have a checkpoint")
        return self.path_for(checkpoint.endpoint, checkpoint.bucket, checkpoint.key, checkpoint.source)

    def save(self, checkpoint: Checkpoint) -> Path:
        """Write ``checkpoint`` atomically (mode 0600) and return its path."""
        self.make_directory()
        path = self.path_of(checkpoint)
        data = json.dumps(checkpoint.to_json(), separators=(",", ":")).encode("utf-8")
        # mkstemp creates the file with mode 0600 ("readable and writable only by the creating user").
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._sync_directory()
        return path

    def delete(self, checkpoint: Checkpoint) -> None:
        """Remove the stored checkpoint of this upload (no error if there is none, or if it cannot be removed:
        logged, because the upload it named is finished or aborted, and failing here would report a verified
        upload as failed; a checkpoint left behind is found stale by the next run)."""
        path = self.path_of(checkpoint)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            logger.warning("could not remove checkpoint %s: %s", path, error.strerror or error)

    def __iter__(self) -> Iterator[Tuple[Path, Checkpoint]]:
        """Every readable checkpoint in the directory, with its path.

        Only files named as checkpoints are read (a damaged one is skipped with a warning); anything else
        in the directory (the CRC-64 cache of ``sync``, locks, temporary files) is not a checkpoint and is
        passed over in silence.
        """
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            if not CHECKPOINT_FILE_NAME.fullmatch(path.name):
                continue
            checkpoint = self._read(path)
            if checkpoint is not None:
                yield path, checkpoint

    def _read(self, path: Path) -> Optional[Checkpoint]:
        raw = _read_regular_file(path, MAX_CHECKPOINT_BYTES)
        if raw is None:
            return None
        try:
            document = json.loads(raw.decode("utf-8"))
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            if document.get("schema") == SCHEMA and document.get("version") in _OLD_VERSIONS:
                return self._old_version(path, document)
            return Checkpoint.from_json(document)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            logger.warning("ignoring checkpoint %s: %s", path, str(error)[:200])
            return None

    def _old_version(self, path: Path, document: Dict[str, Any]) -> Optional[Checkpoint]:
        """A checkpoint of an earlier version: kept only to name its upload, so it can be aborted."""
        upgraded = dict(document, version=VERSION, file=None)
        file = document.get("file")
        upgraded["size"] = file.get("size") if isinstance(file, dict) else None
        upgraded["parts"] = []
        upgraded["options_digest"] = ""  # never equal to a real digest: the upload is stale
        logger.info("checkpoint %s is from an earlier version; its upload will be aborted, not resumed", path)
        return Checkpoint.from_json(upgraded)

    def make_directory(self) -> None:
        """Create the directory (mode 0700) if it does not exist."""
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir's mode is filtered by the umask only to be narrower, but make it explicit.
            os.chmod(self.directory, stat.S_IRWXU)

    def _sync_directory(self) -> None:
        # Makes the rename durable; not possible on every platform, where it is skipped.
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


class CheckpointRecorder:
    """Adds verified parts to a checkpoint and writes it at most once per ``min_interval`` seconds.

    Thread-safe. Write errors are logged and do not fail the upload (a checkpoint is an optimisation).

    Args:
        store: Where to write.
        checkpoint: The initial state (written by :meth:`flush` or the first :meth:`add` after the interval).
        min_interval: Least time between two writes, in seconds.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        store: CheckpointStore,
        checkpoint: Checkpoint,
        *,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._base = checkpoint
        self._parts: Dict[int, PartReceipt] = {p.part_number: p for p in checkpoint.parts}
        self._dirty = False
        self._interval = min_interval
        self._clock = clock
        self._last_write = clock()
        self.writes = 0

    @property
    def checkpoint(self) -> Checkpoint:
        """The current state (including parts not written yet)."""
        with self._lock:
            return self._snapshot()

    @property
    def written(self) -> bool:
        """Whether the checkpoint was ever written: only then does a kept upload have a name on disk."""
        return self.writes > 0

    @property
    def parts(self) -> List[PartReceipt]:
        """Parts recorded so far, ordered by part number."""
        return list(self.checkpoint.parts)

    def add(self, part: PartReceipt) -> None:
        """Record a verified part; writes the file if the last write is old enough."""
        with self._lock:
            self._parts[part.part_number] = part
            self._dirty = True
            if self._clock() - self._last_write >= self._interval:
                self._write()

    def mark_completing(self) -> None:
        """Record, durably, that Complete is being sent with the parts recorded (see ``UploadSession.completing``)."""
        with self._lock:
            self._base = replace(self._base, completing=True)
            self._write()

    def flush(self) -> None:
        """Write the file now if anything changed since the last write."""
        with self._lock:
            if self._dirty or self.writes == 0:
                self._write()

    def _snapshot(self) -> Checkpoint:
        return replace(self._base, parts=tuple(self._parts[n] for n in sorted(self._parts)))

    def _write(self) -> None:
        try:
            self._store.save(self._snapshot())
        except OSError as error:
            logger.warning("could not write checkpoint in %s: %s", self._store.directory, error)
            return
        finally:
            self._last_write = self._clock()
        self._dirty = False
        self.writes += 1


def _read_regular_file(path: Path, limit: int) -> Optional[bytes]:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else ``None`` (logged).

    Opened without following a symlink and without blocking, so a FIFO, a device or a link to
    ``/dev/zero`` at a checkpoint's path cannot hang or exhaust memory.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        reason = "it is a symbolic link" if error.errno == errno.ELOOP else error.strerror
        logger.warning("ignoring checkpoint %s: %s", path, reason)
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            logger.warning("ignoring checkpoint %s: not a regular file", path)
            return None
        if info.st_size > limit:
            logger.warning("ignoring checkpoint %s: %d bytes, more than %d", path, info.st_size, limit)
            return None
        chunks: List[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, MB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            logger.warning("ignoring checkpoint %s: more than %d bytes", path, limit)
            return None
        return b"".join(chunks)
    except OSError as error:
        logger.warning("ignoring checkpoint %s: %s", path, error.strerror)
        return None
    finally:
        os.close(fd)
