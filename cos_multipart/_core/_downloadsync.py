"""The pure side of ``sync cos://BUCKET/PREFIX/ DIR`` (the download direction): which objects to fetch, which to
skip, which to refuse, which local files ``--delete`` removes. No file is read and no request sent here.

* an object whose key below the prefix is not a safe local path (:mod:`~cos_multipart._core._downloadnames`) is
  refused and listed, never written;
* the include/exclude filters of uploads (:class:`~cos_multipart._core._dirplan.WalkOptions`) select the relative
  paths, the same rule in both directions;
* an object is skipped when the local file has its size and CRC-64 (the same
  :func:`~cos_multipart._core._dirplan.sync_decision` as uploads, the roles swapped);
* ``--delete`` removes a local regular file only when no object has its relative path, the filters cover it,
  and it is not a download's own temporary file or checkpoint; ``--max-delete N`` deletes nothing when more
  than N would go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from ._dirplan import WalkOptions
from ._downloadnames import is_folder_marker, local_parts

__all__ = ["RemoteObject", "SyncItem", "local_deletions", "plan_sync_download", "TEMP_SUFFIXES"]

#: Names a download leaves beside its target while it runs (``.NAME.cos-download``, its checkpoint and lock): never
#: taken for files to delete.
TEMP_SUFFIXES = (".cos-download", ".cos-download.json", ".cos-download.json.lock")


@dataclass(frozen=True)
class RemoteObject:
    """One object of the listing: ``key``, ``size`` and its CRC-64 when the listing gave it."""

    key: str
    size: int
    crc64: Optional[int] = None


@dataclass(frozen=True)
class SyncItem:
    """An object of the prefix and where it goes: ``relative`` (``/`` separators) or why it is ``refused``."""

    remote: RemoteObject
    relative: Optional[str]
    refused: str = ""


def plan_sync_download(objects: Iterable[RemoteObject], prefix: str, options: WalkOptions) -> List[SyncItem]:
    """The objects below ``prefix`` the filters select, each with its safe relative path or refused."""
    items: List[SyncItem] = []
    for found in objects:
        if not found.key.startswith(prefix):
            continue
        relative = found.key[len(prefix) :]
        if is_folder_marker(relative, found.size):
            continue
        parts, why = local_parts(relative)
        if parts is None:
            items.append(SyncItem(found, None, why))
        elif options.covers(relative):
            items.append(SyncItem(found, relative))
    return items


def local_deletions(local_files: Sequence[str], items: Sequence[SyncItem], options: WalkOptions) -> List[str]:
    """Relative paths of local regular files ``--delete`` removes: no object has them, the filters cover
    them, and they are not a download's temporary file or checkpoint."""
    wanted: Set[str] = {item.relative for item in items if item.relative is not None}
    return [
        relative for relative in local_files
        if relative not in wanted and options.covers(relative) and not _is_temp(relative)
    ]  # fmt: skip


def _is_temp(relative: str) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return name.startswith(".") and name.endswith(TEMP_SUFFIXES)


def over_limit(count: int, max_delete: Optional[int]) -> bool:
    """Whether ``count`` deletions break ``--max-delete`` (then none is made)."""
    return max_delete is not None and count > max_delete


def split_refused(items: Sequence[SyncItem]) -> Tuple[List[SyncItem], List[SyncItem]]:
    """``(writable, refused)``."""
    return [item for item in items if item.relative is not None], [item for item in items if item.relative is None]
