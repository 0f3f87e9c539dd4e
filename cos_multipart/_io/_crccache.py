"""The local CRC-64 cache of ``sync``: a file's CRC-64, trusted while its identity has not changed.

An entry is keyed by the file's absolute path and holds the size, mtime, ctime (nanoseconds), inode and
device seen when its CRC-64 was computed. It is used only when all five are equal now. ctime matters: any
write, rename onto the path, ``chmod`` or ``touch`` moves it, and nobody can set it back (``cp -p`` and
``touch -d`` restore mtime, not ctime). What the cache trusts, therefore, is that a file whose contents
change gets a new ctime. Two cases defeat that, and the cache guards the first:

* a write in the same clock tick as the CRC was computed (coarse file-system timestamps): entries are only
  stored when mtime and ctime are at least :data:`RACY_SECONDS` old, as git does for its index;
* a clock set back, or a file system that does not keep ctime: use ``--checksum`` (re-read everything).

The cache is one JSON file (mode 0600) next to the checkpoints, loaded once and written atomically at the
end of a run; a damaged file is ignored (everything is re-read), never an error.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from .._core._dirplan import LocalFile
from .checkpoint import default_checkpoint_dir

logger = logging.getLogger(__name__)

#: Entries younger than this (mtime or ctime) are not stored: a write in the same tick could go unseen.
RACY_SECONDS = 2.0
CACHE_FILE = "crc64-cache.json"
_VERSION = 1


def _identity(item: LocalFile) -> List[int]:
    return [item.size, item.mtime_ns, item.ctime_ns, item.inode, item.device]


class CrcCache:
    """CRC-64 of local files by path and identity; thread-safe.

    Args:
        path: The cache file (default ``crc64-cache.json`` in the checkpoint directory).
        enabled: ``False``: nothing is read or written (no cache at all).
        trust: Whether :meth:`get` answers from the cache; ``False`` (``--checksum``) re-reads every file
            and refreshes the cache with what it computed.
    """

    def __init__(self, path: Optional[Path] = None, *, enabled: bool = True, trust: bool = True) -> None:
        self.path = path if path is not None else default_checkpoint_dir() / CACHE_FILE
        self.enabled = enabled
        self.trust = trust
        self._lock = threading.Lock()
        self._entries: Dict[str, List[int]] = self._load() if enabled else {}
        self._changed = False

    def _load(self) -> Dict[str, List[int]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            logger.warning("ignoring the CRC-64 cache %s: %s", self.path, error)
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("files"), dict):
            return {}
        return {str(k): v for k, v in data["files"].items() if isinstance(v, list) and len(v) == 6}

    def get(self, item: LocalFile) -> Optional[int]:
        """The cached CRC-64 of ``item`` when its identity is unchanged, else ``None``."""
        if not (self.enabled and self.trust):
            return None
        with self._lock:
            entry = self._entries.get(os.path.abspath(item.path))
        if entry is None or entry[:5] != _identity(item):
            return None
        return int(entry[5])

    def put(self, item: LocalFile, crc: int, *, now: Optional[float] = None) -> None:
        """Remember ``crc`` for ``item`` unless its timestamps are too recent to be trusted."""
        if not self.enabled:
            return
        limit = ((time.time() if now is None else now) - RACY_SECONDS) * 1e9
        if item.mtime_ns > limit or item.ctime_ns > limit:
            return
        with self._lock:
            self._entries[os.path.abspath(item.path)] = [*_identity(item), crc]
            self._changed = True

    def save(self) -> None:
        """Write the cache atomically if anything was added (errors are logged: the cache is optional)."""
        with self._lock:
            if not (self.enabled and self._changed):
                return
            payload = json.dumps({"version": _VERSION, "files": self._entries})
            self._changed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(temporary, self.path)
        except OSError as error:
            logger.warning("could not write the CRC-64 cache %s: %s", self.path, error)
