"""A download's files: the temporary file beside the target, its checkpoint, and the atomic rename.

The target is never opened for writing: ranges go into ``.<name>.cos-download`` in the target's directory (the
same file system, so the final :func:`os.replace` is atomic), written at their offsets with :func:`os.pwrite`.
Beside it, ``.<name>.cos-download.json`` is the checkpoint (the object's identity and the ranges fetched with
their CRC-64s; no secret), written atomically with mode 0600. :meth:`DownloadFiles.commit` fsyncs the temporary
file, renames it over the target and fsyncs the directory; :meth:`DownloadFiles.discard` keeps both files for a
resume or removes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from .._core._download import DownloadCheckpoint, ObjectFacts
from .._protocol.checksum import crc64
from .._protocol.errors import CosValidationError

logger = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_SCHEMA", "DownloadFiles", "READ_CHUNK", "checked_target"]

#: What a download checkpoint's ``schema`` says (another value is not ours: ignored).
CHECKPOINT_SCHEMA = "cos-multipart-download/1"
#: Bytes read at a time when a resume re-checks the temporary file or an MD5 is computed.
READ_CHUNK = 1024 * 1024
_SUFFIX = ".cos-download"


def checked_target(path: "os.PathLike[str] | str") -> str:
    """``path`` as a string, refused when it is a directory or its directory does not exist (before any request)."""
    text = os.fspath(path)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise CosValidationError("path", path, "the path of the file to write")
    if os.path.isdir(text):
        raise CosValidationError("path", text, "a file path, not a directory (name the file to write)")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise CosValidationError("path", text, f"a path in an existing directory ({parent} does not exist)")
    return text


class DownloadFiles:
    """The temporary file and checkpoint of one download to ``path`` (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        folder, name = os.path.split(os.path.abspath(path))
        self.folder = folder
        self.temp = os.path.join(folder, f".{name}{_SUFFIX}")
        self.checkpoint = self.temp + ".json"
        self.fd: Optional[int] = None

    # --- the temporary file ------------------------------------------------------------------------------

    def prepare(self, size: int, keep: bool) -> bool:
        """Open the temporary file, ``size`` bytes: the earlier one when ``keep`` and it has that size (a
        resume), else a new one. Whether the earlier one was kept."""
        self.close()
        if keep:
            try:
                fd = os.open(self.temp, os.O_RDWR | os.O_NOFOLLOW)
            except OSError:
                fd = -1
            if fd >= 0:
                if os.fstat(fd).st_size == size:
                    self.fd = fd
                    return True
                os.close(fd)
        # The mode a new file gets (0666 less the umask), as the file it becomes: the checkpoint is the 0600 one.
        fd = os.open(self.temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
        os.ftruncate(fd, size)
        self.fd = fd
        return False

    def open_existing(self) -> None:
        """Open the temporary file another process prepared (a cluster worker writing its ranges into it)."""
        self.close()
        self.fd = os.open(self.temp, os.O_RDWR | os.O_NOFOLLOW)

    def flush(self) -> None:
        """fsync what was written (a worker's ranges are on the shared file system before it answers)."""
        os.fsync(self._fd())

    def write(self, offset: int, data: Union[bytes, memoryview]) -> None:
        """Write ``data`` at ``offset`` (all of it: ``pwrite`` may write less)."""
        fd = self._fd()
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

    def crcs(self, spans: Sequence[Tuple[int, int, int]]) -> Tuple[int, ...]:
        """The CRC-64 of each ``(index, offset, length)`` range as the temporary file holds it."""
        return tuple(self._crc(offset, length) for _, offset, length in spans)

    def _crc(self, offset: int, length: int) -> int:
        fd, value, end = self._fd(), 0, offset + length
        while offset < end:
            chunk = os.pread(fd, min(READ_CHUNK, end - offset), offset)
            if not chunk:
                return -1  # shorter than the plan: never equal to a CRC-64
            value, offset = crc64(chunk, value), offset + len(chunk)
        return value

    def md5(self) -> str:
        """The MD5 (hex) of the temporary file."""
        fd, digest, offset = self._fd(), hashlib.md5(), 0
        while True:
            chunk = os.pread(fd, READ_CHUNK, offset)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
            offset += len(chunk)

    def commit(self) -> None:
        """fsync the temporary file, rename it over the target, fsync the directory; the checkpoint goes."""
        fd = self._fd()
        os.fsync(fd)
        self.close()
        os.replace(self.temp, self.path)
        self._fsync_folder()
        self._remove(self.checkpoint)

    def discard(self, keep: bool) -> None:
        """After a failure: keep the temporary file and checkpoint (a resume), or remove both."""
        self.close()
        if not keep:
            self._remove(self.temp)
            self._remove(self.checkpoint)

    def close(self) -> None:
        """Close the temporary file (idempotent)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def _fd(self) -> int:
        if self.fd is None:
            raise RuntimeError("the temporary file is not open")
        return self.fd

    # --- the checkpoint ----------------------------------------------------------------------------------

    def load(self) -> Optional[DownloadCheckpoint]:
        """The checkpoint beside the target, or ``None`` (none, unreadable, or not a download checkpoint)."""
        try:
            with open(self.checkpoint, encoding="utf-8") as handle:
                return _from_json(json.load(handle))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.info("the download checkpoint %s is not usable (%s): starting again", self.checkpoint, error)
            return None

    def save(self, checkpoint: DownloadCheckpoint) -> None:
        """Write ``checkpoint`` atomically (a temporary file renamed over it), mode 0600."""
        text = json.dumps(_to_json(checkpoint), sort_keys=True)
        fd, name = tempfile.mkstemp(prefix=".cos-download-", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(name, self.checkpoint)
        except BaseException:
            self._remove(name)
            raise

    def _fsync_folder(self) -> None:
        try:
            fd = os.open(self.folder, os.O_RDONLY)
        except OSError:  # pragma: no cover - a folder that cannot be opened (some platforms): the rename stands
            return
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(fd)

    @staticmethod
    def _remove(name: str) -> None:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def _to_json(checkpoint: DownloadCheckpoint) -> Dict[str, Any]:
    facts = checkpoint.facts
    return {
        "schema": CHECKPOINT_SCHEMA, "key": checkpoint.key, "size": facts.size, "etag": facts.etag,
        "crc64": None if facts.crc64 is None else str(facts.crc64), "version_id": facts.version_id, "md5": facts.md5,
        "part_size": checkpoint.part_size, "done": {str(index): str(crc) for index, crc in sorted(checkpoint.done.items())},
    }  # fmt: skip


def _from_json(data: Any) -> Optional[DownloadCheckpoint]:
    if not isinstance(data, dict) or data.get("schema") != CHECKPOINT_SCHEMA:
        return None
    crc = data["crc64"]
    facts = ObjectFacts(int(data["size"]), str(data["etag"]), None if crc is None else int(crc), data["version_id"], data["md5"])
    done = {int(index): int(value) for index, value in dict(data["done"]).items()}
    return DownloadCheckpoint(str(data["key"]), facts, int(data["part_size"]), done)
