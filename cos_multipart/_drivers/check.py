"""Compare a local tree with a prefix (``check``), and count what a prefix holds and bills (``du``).

Nothing is downloaded and nothing is written to the bucket: :func:`check_directory` lists the prefix once,
walks the tree with the same rules as ``sync`` (filters, links, hidden names: :class:`WalkOptions`), and
compares each file with its object by size, then CRC-64; a local CRC-64 comes from the ``sync`` cache when the
file's identity is unchanged (see :mod:`cos_multipart._io._crccache`), else the file is read once. An object whose
listing carries no CRC-64 is asked with HEAD; when the service has none at all (an object written by a tool
that does not compute it), the file and the object are compared by size only, and the result says so.
:func:`disk_usage` counts objects and bytes by storage class and the incomplete multipart uploads (their
parts are billed too) with List Parts of each.

Example::

    from cos_multipart import CosClient, check_directory

    with CosClient("examplebucket-1250000000", "ap-guangzhou") as client:
        report = check_directory(client, "site/", "www/")
        for item in report.paths:
            if item.status != "equal":
                print(item.status, item.path or item.key)
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

from .._core import _dirplan
from .._core._defaults import DEFAULT_CHECK_CONCURRENCY as DEFAULT_CHECK_CONCURRENCY
from .._core._defaults import MAX_CHECK_CONCURRENCY as MAX_CHECK_CONCURRENCY
from .._io import _walk
from .._io._crccache import CrcCache
from .._core._decisions import client_dialect
from .._core._dirplan import LocalFile, WalkOptions
from .._protocol.checksum import fd_crc64
from .._protocol.errors import CosError, CosServiceError, CosValidationError
from ._each import run_each

if TYPE_CHECKING:
    from .._io.client import CosClient

__all__ = [
    "CheckStatus",
    "CheckedPath",
    "CheckReport",
    "ClassUsage",
    "UsageReport",
    "check_directory",
    "disk_usage",
]

PathLike = Union[str, "os.PathLike[str]"]

#: How one path compared: ``"equal"`` (same size and CRC-64, or same size when the service has no CRC-64:
#: see :attr:`CheckedPath.compared`); ``"differ"``; ``"only_local"`` (no object has the file's key);
#: ``"only_remote"`` (an object under the prefix with no local file); ``"skipped"`` (a local entry the walk
#: leaves out and names: a link not followed, a socket...); ``"error"`` (the path could not be compared).
CheckStatus = Literal["equal", "differ", "only_local", "only_remote", "skipped", "error"]
#: Statuses that make a check fail (:attr:`CheckReport.ok` false).
_NOT_EQUAL = frozenset({"differ", "only_local", "only_remote", "error"})
#: Files compared at once by default (each a HEAD, or a read of the file), and at most.
#: Why a file was not compared: its bytes changed while they were read.
_CHANGED = "changed while being read; not compared (run again once it is written)"


@dataclass(frozen=True)
class CheckedPath:
    """One path of a check.

    Attributes:
        path: The path relative to the directory (``/`` separators; the key less the prefix for
            ``only_remote``).
        key: The object key.
        status: See :data:`CheckStatus`.
        local_size: Bytes of the local file (``None`` for ``only_remote``).
        remote_size: Bytes of the object (``None`` when there is none).
        local_crc64: CRC-64 of the file, when it was needed (sizes equal) and known.
        remote_crc64: CRC-64 the service reports, when it reports one.
        compared: ``"crc64"`` (size and CRC-64 compared), ``"size"`` (the service has no CRC-64 for the
            object, or the sizes already differ), or ``None`` (nothing to compare).
        reason: Why it differs, was skipped or failed; ``""`` when equal.
    """

    path: str
    key: str
    status: CheckStatus
    local_size: Optional[int] = None
    remote_size: Optional[int] = None
    local_crc64: Optional[int] = None
    remote_crc64: Optional[int] = None
    compared: Optional[str] = None
    reason: str = ""


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_directory` found.

    Attributes:
        prefix: The normalised prefix compared (``""`` or ending in ``/``).
        paths: Every path, sorted by key.
        one_way: Only local files were checked (objects without a local file not reported).
    """

    prefix: str
    paths: Tuple[CheckedPath, ...]
    one_way: bool = False

    def count(self, status: CheckStatus) -> int:
        """How many paths have ``status``."""
        return sum(1 for item in self.paths if item.status == status)

    @property
    def size_only(self) -> int:
        """Paths found equal by size only (the service has no CRC-64 for their objects)."""
        return sum(1 for item in self.paths if item.status == "equal" and item.compared == "size")

    @property
    def ok(self) -> bool:
        """Whether every compared path is equal (skipped entries aside)."""
        return not any(item.status in _NOT_EQUAL for item in self.paths)


def compare(
    local_size: int, local_crc: Optional[int], remote_size: Optional[int], remote_crc: Optional[int]
) -> Tuple[CheckStatus, Optional[str], str]:
    """``(status, compared, reason)`` of a file against its object (``remote_size`` ``None``: no object).

    ``local_crc`` is needed only when the sizes agree and ``remote_crc`` is known.
    """
    if remote_size is None:
        return "only_local", None, "no object has the key"
    if remote_size != local_size:
        return "differ", "size", f"size differs (local {local_size}, remote {remote_size})"
    if remote_crc is None:
        return "equal", "size", "the service has no CRC-64 for the object: compared by size only"
    if local_crc is None:
        return "error", None, "no local CRC-64"
    if local_crc != remote_crc:
        return "differ", "crc64", "content differs (CRC-64)"
    return "equal", "crc64", ""


def check_directory(
    client: "CosClient",
    local_dir: PathLike,
    prefix: str = "",
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    hidden: bool = True,
    one_way: bool = False,
    checksum: bool = False,
    cache: Union[bool, PathLike] = True,
    concurrency: int = DEFAULT_CHECK_CONCURRENCY,
) -> CheckReport:
    """Compare the files under ``local_dir`` with the objects under ``prefix``: size and CRC-64, nothing
    downloaded, nothing written to the bucket.

    The walk and its filters are those of :func:`~cos_multipart._drivers.directory.sync_directory`; so is the rule for
    which objects count as "only remote": those ``sync --delete`` would delete (an object whose path the
    filters leave out, at or under a skipped local entry, a folder marker ``x/`` or a key with an empty, ``.``
    or ``..`` name is not reported).

    Args:
        client: A client of the bucket (COS or OSS).
        local_dir: The directory.
        prefix: Key prefix; a non-empty prefix without a trailing ``/`` gets one.
        include: Glob patterns on the relative path (``*`` also matches ``/``); a file must match one.
        exclude: Glob patterns; a matching file is left out (a directory ``d`` is not entered when ``d/``
            matches).
        follow_symlinks: Follow links (loops are reported, never entered); default: skip and report them.
        hidden: Include dot files and directories (the default).
        one_way: Check only the local files: objects without a local file are not reported.
        checksum: Re-read every local file instead of trusting the CRC-64 cache (the cache is refreshed).
        cache: ``True`` for the default cache file (the one ``sync`` uses), ``False`` for none, or a path.
        concurrency: Files compared at once (a HEAD or a file read each), 1..256.

    Returns:
        A :class:`CheckReport`; ``report.ok`` is the verdict.

    Raises:
        CosValidationError: ``local_dir`` is not a directory, or a bad prefix or pattern (nothing sent).
        CosServiceError / CosTransportError: The listing failed.
    """
    from .directory import crc_cache  # the sync's cache, chosen the same way

    root = os.fspath(local_dir)
    if not os.path.isdir(root):
        raise CosValidationError("local_dir", root, "an existing directory")
    if not isinstance(one_way, bool):
        raise CosValidationError("one_way", one_way, "True or False")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CHECK_CONCURRENCY:
        raise CosValidationError("concurrency", concurrency, f"a whole number from 1 to {MAX_CHECK_CONCURRENCY}")
    normalised = _dirplan.normalise_prefix(prefix)
    options = WalkOptions(tuple(include), tuple(exclude), follow_symlinks, hidden)
    crcs = crc_cache(cache, checksum)
    files, issues = _walk.walk(root, options)
    remote = _listing(client, normalised)
    results: List[CheckedPath] = []
    for issue in issues:
        status: CheckStatus = "error" if issue.failed else "skipped"
        results.append(CheckedPath(issue.relative, normalised + issue.relative, status, reason=issue.reason))
    max_bytes = client_dialect(client).max_key_bytes
    keyed: List[Tuple[LocalFile, str]] = []
    for item in files:
        try:
            keyed.append((item, _dirplan.object_key(normalised, item.relative, max_bytes=max_bytes)))
        except CosValidationError as error:
            results.append(CheckedPath(item.relative, normalised + item.relative, "error", item.size, reason=str(error)))
    local_keys = [key for _, key in keyed]
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cos-check")
    try:
        # Ctrl-C is taken between two files' ends, never inside a lock of the pool's (_each: it hung there).
        calls = [
            functools.partial(_check_file, client, root, item, key, remote.get(key), crcs, follow_symlinks) for item, key in keyed
        ]
        run_each(pool, calls, results.append)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a stop waits only for the HEADs and reads under way
        crcs.save()
    if not one_way:
        kept = [issue.relative for issue in issues]
        for key in _dirplan.deletions(sorted(remote), local_keys, normalised, options, kept):
            size, crc = remote[key]
            results.append(CheckedPath(key[len(normalised) :], key, "only_remote", None, size, None, crc, None, "no local file"))
    return CheckReport(normalised, tuple(sorted(results, key=lambda item: item.key)), one_way)


def _listing(client: "CosClient", prefix: str) -> Mapping[str, Tuple[int, Optional[int]]]:
    """``key -> (size, crc64)`` of the objects under ``prefix`` (a key outside it, in a listing that names
    one, is left out)."""
    listed = ((o.key, o.size, o.crc64) for o in client.list_objects(prefix or None) if o.key.startswith(prefix))
    return _dirplan.remote_index(listed)


def _check_file(
    client: "CosClient",
    root: str,
    item: LocalFile,
    key: str,
    remote: Optional[Tuple[int, Optional[int]]],
    crcs: CrcCache,
    follow_symlinks: bool,
) -> CheckedPath:
    """One local file against its object (``remote``: its listed size and CRC-64, ``None`` when unlisted)."""
    remote_size, remote_crc = remote if remote is not None else (None, None)
    local_crc: Optional[int] = None
    try:
        if remote_size == item.size and remote_crc is None:
            found = client.find_object(key)  # the listing carries no CRC-64 (COS does not always): HEAD has it
            remote_size, remote_crc = (found.size, found.crc64) if found is not None else (None, None)
        if remote_size == item.size and remote_crc is not None:
            local_crc = crcs.get(item)
            if local_crc is None:
                local_crc = _read_crc(root, item, follow_symlinks)
                if local_crc is None:
                    return CheckedPath(item.relative, key, "error", item.size, remote_size, None, remote_crc, None, _CHANGED)
                crcs.put(item, local_crc)
    except CosServiceError as error:  # e.g. an SSE-C object, whose HEAD needs its key: this path only
        return CheckedPath(item.relative, key, "error", item.size, remote_size, None, remote_crc, None, _one_line(error))
    except OSError as error:
        reason = f"cannot read: {error.strerror or error}"
        return CheckedPath(item.relative, key, "error", item.size, remote_size, None, remote_crc, None, reason)
    status, compared, reason = compare(item.size, local_crc, remote_size, remote_crc)
    return CheckedPath(item.relative, key, status, item.size, remote_size, local_crc, remote_crc, compared, reason)


def _read_crc(root: str, item: LocalFile, follow_symlinks: bool) -> Optional[int]:
    """The file's CRC-64, read through the tree as the walk saw it (no link followed unless asked), or
    ``None`` when it is not the file the walk saw, or it changed while it was read."""
    fd = _walk.open_in_tree(root, item.relative, follow_symlinks=follow_symlinks)
    try:
        if _state(os.fstat(fd)) != _state_of(item):
            return None
        crc = fd_crc64(fd)
        if _state(os.fstat(fd)) != _state_of(item):
            return None
        return crc
    finally:
        os.close(fd)


def _state(info: os.stat_result) -> Tuple[int, int, int, int]:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _state_of(item: LocalFile) -> Tuple[int, int, int, int]:
    return (item.size, item.mtime_ns, item.ctime_ns, item.inode)


def _one_line(error: CosError) -> str:
    return " ".join(line.strip() for line in str(error).splitlines()) or type(error).__name__


# --- du ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassUsage:
    """Objects and bytes of one storage class."""

    objects: int
    bytes: int


@dataclass(frozen=True)
class UsageReport:
    """What a prefix holds, and what its incomplete multipart uploads hold (billed as well).

    Attributes:
        prefix: The prefix counted (``""``: the whole bucket).
        objects: Objects counted.
        bytes: Their bytes.
        by_class: Storage class (as the listing names it; ``STANDARD`` when it names none) -> usage.
        uploads: Incomplete multipart uploads counted.
        parts: Their uploaded parts.
        part_bytes: The parts' bytes.
    """

    prefix: str
    objects: int
    bytes: int
    by_class: Mapping[str, ClassUsage]
    uploads: int
    parts: int
    part_bytes: int


def disk_usage(client: "CosClient", prefix: str = "", *, key: Optional[str] = None) -> UsageReport:
    """Count the objects under ``prefix`` (and the object ``key``, when given) by storage class, and the
    incomplete multipart uploads of the same keys with their parts (List Parts of each).

    A key outside the prefix in a listing that names one is not counted; an upload that ends between its
    listing and its List Parts counts with no parts.

    Args:
        client: A client of the bucket.
        prefix: Key prefix, as given (``"t/"``; ``""`` for the bucket).
        key: One more key counted besides those under ``prefix`` (``"t"`` for the target ``cos://B/t``).

    Raises:
        CosValidationError: ``prefix`` or ``key`` is not a string (nothing sent).
        CosServiceError / CosTransportError: A listing failed.
    """
    if not isinstance(prefix, str):
        raise CosValidationError("prefix", prefix, "a string such as 'backups/' (or '' for the bucket)")
    if key is not None and not isinstance(key, str):
        raise CosValidationError("key", key, "None or a key")

    def covered(name: str) -> bool:
        return name.startswith(prefix) or name == key

    listed = key if key is not None and not key.startswith(prefix) else prefix  # the named key prefixes its folder
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    seen = set()
    for item in client.list_objects(listed or None):
        if not covered(item.key) or item.key in seen:
            continue
        seen.add(item.key)
        storage = item.storage_class or "STANDARD"
        counts[storage] += 1
        sizes[storage] += item.size
    uploads = parts = part_bytes = 0
    for upload in client.list_multipart_uploads(prefix=listed or None):
        if not covered(upload.key):
            continue
        uploads += 1
        try:
            for part in client.list_parts(upload.key, upload.upload_id):
                parts += 1
                part_bytes += part.size
        except CosServiceError as error:
            if error.status != 404:  # NoSuchUpload: completed or aborted since it was listed
                raise
    by_class: Dict[str, ClassUsage] = {name: ClassUsage(counts[name], sizes[name]) for name in sorted(counts)}
    return UsageReport(prefix, sum(counts.values()), sum(sizes.values()), by_class, uploads, parts, part_bytes)

