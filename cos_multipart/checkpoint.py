"""Resumable upload state: what was uploaded, for which file, and how to check it is still the same file.

A :class:`Checkpoint` is a frozen record of one multipart upload of one local file: bucket, key, upload id,
part plan, the file's identity (size, mtime, and a CRC-64 fingerprint of its first, middle and last 64 KiB),
the options that decide how the parts were stored (encryption mode, the SSE-C key's MD5, a digest of the
Initiate options) and every part verified so far with its ETag, size and CRC-64, so the whole-object CRC can
still be checked after a resume.

It never holds a secret: the SSE-C key is represented by its MD5 only (which COS itself echoes in responses).

:class:`CheckpointStore` keeps one JSON file per (endpoint, bucket, key, absolute path) in a private
directory (mode 0700; files 0600), written atomically (temporary file in the same directory, fsync,
``os.replace``). A file that cannot be read, is corrupt or has another schema is ignored with a warning:
the upload then starts afresh instead of crashing. The default directory is
``$XDG_CACHE_HOME/cos-multipart`` or ``~/.cache/cos-multipart``.

:class:`CheckpointRecorder` records parts as they are verified and rewrites the file at most once per
``min_interval`` seconds (each write costs O(parts), so writing after every part would cost O(parts^2) for
10,000 parts); :meth:`CheckpointRecorder.flush` writes what is pending, and the uploader calls it whenever it
stops. Parts verified in the last interval before a hard crash are not lost either: on resume, List Parts
shows them and they are reused when their ETag matches the MD5 of the local bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from .checksum import crc64
from .limits import KB
from .planner import PartPlan, plan_parts

logger = logging.getLogger(__name__)

SCHEMA = "cos-multipart-checkpoint"
VERSION = 1
#: Bytes sampled at the start, middle and end of a file for its fingerprint.
FINGERPRINT_SAMPLE = 64 * KB
#: Encryption modes a checkpoint records (how the stored parts' ETags can be checked).
ENCRYPTION_MODES = ("none", "cos", "kms", "c")

PathLike = Union[str, "os.PathLike[str]"]


# --- Records -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileIdentity:
    """What identifies the content of a local file cheaply.

    Attributes:
        size: Size in bytes.
        mtime_ns: Modification time in nanoseconds.
        fingerprint: CRC-64 of the first, middle and last 64 KiB (the whole file when it is smaller).
    """

    size: int
    mtime_ns: int
    fingerprint: int

    @classmethod
    def of_fd(cls, fd: int) -> "FileIdentity":
        """Identity of an open regular file."""
        info = os.fstat(fd)
        return cls(size=info.st_size, mtime_ns=info.st_mtime_ns, fingerprint=fingerprint(fd, info.st_size))

    @classmethod
    def of_path(cls, path: PathLike) -> "FileIdentity":
        """Identity of the file at ``path``."""
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            return cls.of_fd(fd)
        finally:
            os.close(fd)


def fingerprint(fd: int, size: int) -> int:
    """CRC-64 of the first, middle and last :data:`FINGERPRINT_SAMPLE` bytes of a file (all of a small file)."""
    if size <= 3 * FINGERPRINT_SAMPLE:
        offsets = [(0, size)]
    else:
        middle = size // 2 - FINGERPRINT_SAMPLE // 2
        last = size - FINGERPRINT_SAMPLE
        offsets = [(0, FINGERPRINT_SAMPLE), (middle, FINGERPRINT_SAMPLE), (last, FINGERPRINT_SAMPLE)]
    value = 0
    for offset, length in offsets:
        value = crc64(os.pread(fd, length, offset), value)
    return value


@dataclass(frozen=True)
class VerifiedPart:
    """A part COS confirmed and this package verified.

    Attributes:
        part_number: 1..10000.
        etag: The ETag COS returned (quotes included, as Complete wants it).
        size: Bytes in the part.
        crc64: CRC-64 of the part's bytes (equal to COS's ``x-cos-hash-crc64ecma``).
    """

    part_number: int
    etag: str
    size: int
    crc64: int


@dataclass(frozen=True)
class Checkpoint:
    """The state of one resumable multipart upload of a local file.

    Attributes:
        endpoint: Service endpoint the upload went to (the checkpoint is only valid there).
        bucket: Bucket name.
        key: Object key.
        source: Absolute path of the local file.
        upload_id: The multipart upload id.
        part_size: Part size of the plan.
        identity: The local file as it was when the upload started.
        encryption: ``"none"``, ``"cos"``, ``"kms"`` or ``"c"`` (SSE mode of the upload).
        sse_c_key_md5: Base64 MD5 of the SSE-C key (never the key), or ``None``.
        options_digest: Digest of the Initiate options (content type, metadata, ACL, ...); a resume with
            different options starts afresh.
        parts: Verified parts, ordered by part number.
        created: When the upload was initiated (seconds since the epoch).
    """

    endpoint: str
    bucket: str
    key: str
    source: str
    upload_id: str
    part_size: int
    identity: FileIdentity
    encryption: str = "none"
    sse_c_key_md5: Optional[str] = None
    options_digest: str = ""
    parts: Tuple[VerifiedPart, ...] = ()
    created: float = field(default_factory=time.time)

    @property
    def plan(self) -> PartPlan:
        """The part plan of the upload."""
        return plan_parts(self.identity.size, self.part_size)

    def with_parts(self, parts: Iterable[VerifiedPart]) -> "Checkpoint":
        """A copy holding ``parts`` (ordered by part number, one per number)."""
        by_number = {part.part_number: part for part in parts}
        return replace(self, parts=tuple(by_number[n] for n in sorted(by_number)))

    def to_json(self) -> Dict[str, Any]:
        """The JSON document stored on disk."""
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "key": self.key,
            "source": self.source,
            "upload_id": self.upload_id,
            "part_size": self.part_size,
            # CRC-64 values are strings: they can exceed 2**53, which many JSON readers cannot hold.
            "file": {
                "size": self.identity.size,
                "mtime_ns": self.identity.mtime_ns,
                "fingerprint": str(self.identity.fingerprint),
            },
            "encryption": self.encryption,
            "sse_c_key_md5": self.sse_c_key_md5,
            "options_digest": self.options_digest,
            "created": self.created,
            "parts": [[p.part_number, p.etag, p.size, str(p.crc64)] for p in self.parts],
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "Checkpoint":
        """Parse a stored document.

        Raises:
            ValueError: Wrong schema or version, a missing field or a field of the wrong type.
        """
        if document.get("schema") != SCHEMA:
            raise ValueError(f"not a cos-multipart checkpoint (schema {document.get('schema')!r})")
        if document.get("version") != VERSION:
            raise ValueError(f"checkpoint version {document.get('version')!r}, this version reads {VERSION}")
        file = _get(document, "file", dict)
        encryption = _get(document, "encryption", str)
        if encryption not in ENCRYPTION_MODES:
            raise ValueError(f"unknown encryption mode {encryption!r}")
        key_md5 = document.get("sse_c_key_md5")
        if key_md5 is not None and not isinstance(key_md5, str):
            raise ValueError("sse_c_key_md5 is not a string")
        checkpoint = cls(
            endpoint=_get(document, "endpoint", str),
            bucket=_get(document, "bucket", str),
            key=_get(document, "key", str),
            source=_get(document, "source", str),
            upload_id=_get(document, "upload_id", str),
            part_size=_get(document, "part_size", int),
            identity=FileIdentity(
                size=_get(file, "size", int),
                mtime_ns=_get(file, "mtime_ns", int),
                fingerprint=_uint64(_get(file, "fingerprint", str)),
            ),
            encryption=encryption,
            sse_c_key_md5=key_md5,
            options_digest=_get(document, "options_digest", str),
            created=float(_get(document, "created", (int, float))),
            parts=tuple(_part(item) for item in _get(document, "parts", list)),
        )
        plan = checkpoint.plan  # raises CosValidationError (a ValueError) for an impossible plan
        for part in checkpoint.parts:
            if part.size != plan.part(part.part_number)[1]:
                raise ValueError(f"part {part.part_number} has size {part.size}, the plan says otherwise")
        return checkpoint


def _get(document: Mapping[str, Any], name: str, kind: Any) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"field {name!r} is missing or not of the expected type")
    return value


def _uint64(text: str) -> int:
    value = int(text)
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{text!r} is not a 64-bit unsigned value")
    return value


def _part(item: Any) -> VerifiedPart:
    if not isinstance(item, list) or len(item) != 4:
        raise ValueError("a part entry is not [number, etag, size, crc64]")
    number, etag, size, crc = item
    if not (isinstance(number, int) and isinstance(etag, str) and isinstance(size, int) and isinstance(crc, str)):
        raise ValueError("a part entry has a field of the wrong type")
    return VerifiedPart(part_number=number, etag=etag, size=size, crc64=_uint64(crc))


def options_digest(options: Mapping[str, Any]) -> str:
    """A stable digest of the Initiate options (pass no secrets: the SSE-C key belongs in as its MD5)."""
    text = json.dumps(options, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Storage -----------------------------------------------------------------------------------------


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

    def save(self, checkpoint: Checkpoint) -> Path:
        """Write ``checkpoint`` atomically (mode 0600) and return its path."""
        self._make_directory()
        path = self.path_for(checkpoint.endpoint, checkpoint.bucket, checkpoint.key, checkpoint.source)
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
        """Remove the stored checkpoint of this upload (no error if there is none)."""
        path = self.path_for(checkpoint.endpoint, checkpoint.bucket, checkpoint.key, checkpoint.source)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def __iter__(self) -> Iterator[Tuple[Path, Checkpoint]]:
        """Every readable checkpoint in the directory, with its path."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith(".tmp-"):
                continue
            checkpoint = self._read(path)
            if checkpoint is not None:
                yield path, checkpoint

    def _read(self, path: Path) -> Optional[Checkpoint]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.warning("ignoring checkpoint %s: %s", path, error)
            return None
        try:
            document = json.loads(raw.decode("utf-8"))
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return Checkpoint.from_json(document)
        except (ValueError, UnicodeDecodeError) as error:
            logger.warning("ignoring checkpoint %s: %s", path, error)
            return None

    def _make_directory(self) -> None:
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
        self._parts: Dict[int, VerifiedPart] = {p.part_number: p for p in checkpoint.parts}
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
    def parts(self) -> List[VerifiedPart]:
        """Parts recorded so far, ordered by part number."""
        return list(self.checkpoint.parts)

    def add(self, part: VerifiedPart) -> None:
        """Record a verified part; writes the file if the last write is old enough."""
        with self._lock:
            self._parts[part.part_number] = part
            self._dirty = True
            if self._clock() - self._last_write >= self._interval:
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
