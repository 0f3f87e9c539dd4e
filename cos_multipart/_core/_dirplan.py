"""The pure side of directory upload and sync: which files, which keys, what to send, what to delete.

Nothing here reads a file or sends a request, so every rule is tested with plain values
(``tests/test_dirplan.py``); :mod:`cos_multipart._io._walk` feeds it the directory and
:mod:`cos_multipart._drivers.directory` does the I/O.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

from .._protocol.endpoint import validate_key
from .._protocol.errors import CosValidationError
from .._protocol.limits import MAX_KEY_BYTES

#: What a sync decision says when a file is skipped.
SAME = "same size and CRC-64"


@dataclass(frozen=True)
class WalkOptions:
    """Which files of a directory are uploaded.

    Attributes:
        include: Glob patterns (``fnmatch``, case-sensitive) matched against the path relative to the
            directory, with ``/`` separators; ``*`` also matches ``/`` (``*.jpg`` matches at any depth).
            When given, a file must match at least one.
        exclude: Glob patterns as for ``include``; a file matching any is left out (it wins over include).
            A directory whose relative path followed by ``/`` matches an exclude is not entered.
        follow_symlinks: Follow symbolic links to files and directories (a link back to a directory being
            walked is reported, never followed). Off: links are skipped and reported.
        hidden: Include names starting with ``.``.
    """

    include: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = ()
    follow_symlinks: bool = False
    hidden: bool = True

    def __post_init__(self) -> None:
        for name in ("include", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
                raise CosValidationError(name, value, "a sequence of non-empty glob patterns, e.g. ('*.jpg',)")
            object.__setattr__(self, name, tuple(value))
        for name in ("follow_symlinks", "hidden"):
            if not isinstance(getattr(self, name), bool):
                raise CosValidationError(name, getattr(self, name), "True or False")

    def selects(self, relative: str) -> bool:
        """Whether the file at ``relative`` (``/`` separators) is uploaded."""
        if not self.hidden and any(part.startswith(".") for part in relative.split("/")):
            return False
        if any(fnmatch.fnmatchcase(relative, pattern) for pattern in self.exclude):
            return False
        return not self.include or any(fnmatch.fnmatchcase(relative, pattern) for pattern in self.include)

    def enters(self, relative_dir: str) -> bool:
        """Whether the directory at ``relative_dir`` is walked at all."""
        if not self.hidden and any(part.startswith(".") for part in relative_dir.split("/")):
            return False
        return not any(fnmatch.fnmatchcase(relative_dir + "/", pattern) for pattern in self.exclude)

    def covers(self, relative: str) -> bool:
        """Whether a file at ``relative`` would be considered by the walk: every directory above it is
        entered (:meth:`enters`) and the file is selected (:meth:`selects`).

        The one rule for what the filters leave out, for the walk (which asks it a directory at a time)
        and for ``delete`` alike: a key whose relative path is not covered is never deleted.
        """
        names = relative.split("/")
        return all(self.enters("/".join(names[:depth])) for depth in range(1, len(names))) and self.selects(relative)


@dataclass(frozen=True)
class LocalFile:
    """A regular file found by the walk, with the identity the CRC cache keys on.

    Attributes:
        path: The path as found (through the directory given; links not resolved).
        relative: The path relative to the directory, ``/`` separators on every OS.
        size: Bytes.
        mtime_ns: Modification time.
        ctime_ns: Status change time (what ``cp -p`` and ``touch -d`` cannot set back).
        inode: Inode number.
        device: Device number.
    """

    path: str
    relative: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int


@dataclass(frozen=True)
class WalkIssue:
    """Something the walk did not upload, and why (a link not followed, a loop, an unreadable directory)."""

    path: str
    relative: str
    reason: str
    failed: bool = False


def normalise_prefix(prefix: str) -> str:
    """The key prefix: ``""``, or the prefix ending with ``/`` (``"photos"`` and ``"photos/"`` are one folder).

    Raises:
        CosValidationError: Not a string, or starting with ``/`` (COS keys cannot).
    """
    if not isinstance(prefix, str):
        raise CosValidationError("prefix", prefix, "a string such as 'backups/2024/' (or '' for the bucket's root)")
    if prefix.startswith(("/", "\\")):
        raise CosValidationError("prefix", prefix, "no leading '/' or '\\' (COS keys cannot start with one)")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def object_key(prefix: str, relative: str, *, max_bytes: int = MAX_KEY_BYTES) -> str:
    """The key of the file at ``relative`` under the normalised ``prefix`` (at most ``max_bytes``: the
    service's limit).

    Raises:
        CosValidationError: The key breaks a key rule (too long, a name that is not valid Unicode...).
    """
    return validate_key(prefix + relative, max_bytes=max_bytes)


def sync_decision(size: int, local_crc: Optional[int], remote_size: Optional[int], remote_crc: Optional[int]) -> Optional[str]:
    """Why the file must be uploaded, or ``None`` when the object already holds it.

    The object holds the file when it exists with the same size and the same CRC-64. ``local_crc`` is only
    needed (and only computed by the caller) when the sizes are equal.
    """
    if remote_size is None:
        return "new"
    if remote_size != size:
        return f"size differs (local {size}, COS {remote_size})"
    if remote_crc is None:
        return "COS has no CRC-64 for the object"
    if local_crc is None:
        return "no local CRC-64"
    return None if local_crc == remote_crc else "content differs (CRC-64)"


def deletions(
    remote_keys: Iterable[str], local_keys: Iterable[str], prefix: str, options: WalkOptions, kept: Iterable[str] = ()
) -> List[str]:
    """Keys under ``prefix`` with no local file, in order: what ``--delete`` removes.

    Kept (never returned):

    * keys of local files (``local_keys``);
    * keys whose relative path the filters leave out (:meth:`WalkOptions.covers`: an excluded file, or any
      path under a directory the walk does not enter): their files were not considered, so their absence
      says nothing;
    * keys at or under a path in ``kept``: local entries that exist but were skipped (links not followed,
      sockets, FIFOs, devices, loops, entries that vanished or could not be read), relative paths;
    * folder markers (keys ending in ``/``), and keys whose relative path has an empty, ``.`` or ``..``
      name (``a//b``, ``./a``): no local path is written so, so their absence says nothing.
    """
    wanted = set(local_keys)
    protected = set(kept)
    chosen = []
    for key in remote_keys:
        if key in wanted or not key.startswith(prefix) or key.endswith("/"):
            continue
        relative = key[len(prefix) :]
        names = relative.split("/")
        if any(name in ("", ".", "..") for name in names):
            continue  # no walk gives such a path ('a//b', './a', '../a'): not a key of the tree, not judged
        if any("/".join(names[:depth]) in protected for depth in range(1, len(names) + 1)):
            continue
        if options.covers(relative):
            chosen.append(key)
    return chosen


def check_max_delete(max_delete: Optional[int]) -> Optional[int]:
    """``max_delete`` as given: ``None`` (no limit) or a count of objects, 0 or more.

    Raises:
        CosValidationError: Anything else.
    """
    if max_delete is not None and (isinstance(max_delete, bool) or not isinstance(max_delete, int) or max_delete < 0):
        raise CosValidationError("max_delete", max_delete, "None (no limit) or a number of objects, 0 or more")
    return max_delete


def split_by_size(files: Sequence[LocalFile], threshold: int) -> Tuple[List[LocalFile], List[LocalFile]]:
    """``(small, large)``: files below ``threshold`` go up in one PUT, the others in parts."""
    small = [item for item in files if item.size < threshold]
    large = [item for item in files if item.size >= threshold]
    return small, large


def remote_index(summaries: Iterable[Tuple[str, int, Optional[int]]]) -> Mapping[str, Tuple[int, Optional[int]]]:
    """``key -> (size, crc64 or None)`` from a listing's ``(key, size, crc64)`` rows."""
    return {key: (size, crc) for key, size, crc in summaries}


#: Most small files one cluster task uploads: a task costs about a millisecond of scheduler time and a
#: round trip to the worker, a small file's PUT about as much, so batches keep the overhead a few percent.
DEFAULT_FILES_PER_TASK = 64
#: Most bytes of small files in one task, so a batch of large-ish small files does not hold the tail.
DEFAULT_BYTES_PER_TASK = 64 * 1024 * 1024


def files_per_task(small_files: int, threads: int, asked: Optional[int] = None) -> int:
    """How many small files go in one task: ``asked``, else up to :data:`DEFAULT_FILES_PER_TASK`, fewer
    when there are few files, so that every cluster thread gets at least two tasks (a slow worker does
    not hold the tail)."""
    if asked is not None:
        return asked
    return max(1, min(DEFAULT_FILES_PER_TASK, -(-small_files // (2 * max(1, threads)))))


def file_batches(
    sizes: Sequence[int], threshold: int, *, files: int, max_bytes: int = DEFAULT_BYTES_PER_TASK
) -> List[Tuple[int, ...]]:
    """Indices into ``sizes`` grouped into tasks: every file of ``threshold`` bytes or more alone (first,
    largest first: they take longest), then the others in order, at most ``files`` files and ``max_bytes``
    bytes to a batch (a batch holds at least one file)."""
    if files < 1:
        raise ValueError("files must be at least 1")
    large = sorted((index for index, size in enumerate(sizes) if size >= threshold), key=lambda index: -sizes[index])
    batches: List[Tuple[int, ...]] = [(index,) for index in large]
    current: List[int] = []
    current_bytes = 0
    for index, size in enumerate(sizes):
        if size >= threshold:
            continue
        if current and (len(current) >= files or current_bytes + size > max_bytes):
            batches.append(tuple(current))
            current, current_bytes = [], 0
        current.append(index)
        current_bytes += size
    if current:
        batches.append(tuple(current))
    return batches
