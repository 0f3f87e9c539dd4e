"""Upload a directory tree, or sync it (send only what changed), under one bound on requests at once.

Example::

    from cos_multipart import CosClient, UploadConfig
    from cos_multipart._drivers.directory import sync_directory

    with CosClient("examplebucket-1250000000", "ap-guangzhou") as client:
        report = sync_directory(client, "site/", "www/", config=UploadConfig(concurrency=16), delete=True)
        print(len(report.uploaded), "uploaded,", len(report.skipped), "unchanged,", len(report.failed), "failed")

Every file is one upload of :class:`~cos_multipart._drivers.uploader.Uploader` (verified, and resumable from its
checkpoint when it is large), and all of them share one pool of ``config.concurrency`` request slots: small
files go up in parallel single PUTs, large ones in parallel parts, and never more than ``concurrency``
requests are in flight (see docs/architecture.md, "Directories: one pool of request slots"). A file that
fails is reported and the others go on; running the same call again skips (sync) or re-sends (upload) the
finished files and resumes the interrupted large ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

from .._io._crccache import CACHE_FILE, CrcCache
from .._core._dirplan import WalkOptions
from .._core._dirreport import (
    DirectoryProgress,
    DirectoryReport,
    FailedFile,
    PlannedAction,
    ProgressFunction,
    SkippedFile,
    UploadedFile,
)
from ._dirrun import DirectoryRun, RunSettings
from .._io.checkpoint import CheckpointStore
from .._io.client import CosClient
from .uploader import UploadConfig

__all__ = [
    "DirectoryProgress",
    "DirectoryReport",
    "FailedFile",
    "PlannedAction",
    "SkippedFile",
    "UploadedFile",
    "WalkOptions",
    "sync_directory",
    "upload_directory",
]

PathLike = Union[str, "os.PathLike[str]"]


def run_settings(
    include: Sequence[str],
    exclude: Sequence[str],
    follow_symlinks: bool,
    hidden: bool,
    *,
    sync: bool,
    delete: bool,
    dry_run: bool,
    max_delete: Optional[int] = None,
    delete_bucket_wide: bool = False,
) -> RunSettings:
    """The settings of one run from the public arguments (shared with the cluster's directory upload)."""
    walk = WalkOptions(tuple(include), tuple(exclude), follow_symlinks, hidden)
    return RunSettings(walk, sync, delete, dry_run, max_delete, delete_bucket_wide)


def crc_cache(cache: Union[bool, PathLike], checksum: bool, directory: Optional[PathLike] = None) -> CrcCache:
    """The sync's CRC-64 cache: ``True`` the default file (in the checkpoint ``directory`` when one is given),
    ``False`` none, or a path; ``checksum`` re-reads."""
    if cache is True:
        # Beside the checkpoints the run was told to keep elsewhere (a full or read-only home), not in the default
        # directory: every other file of the run goes there.
        return CrcCache(Path(directory) / CACHE_FILE if directory is not None else None, trust=not checksum)
    if cache is False:
        return CrcCache(enabled=False)
    return CrcCache(path=Path(cache), trust=not checksum)


def upload_directory(
    client: CosClient,
    local_dir: PathLike,
    prefix: str = "",
    *,
    config: Optional[UploadConfig] = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    hidden: bool = True,
    dry_run: bool = False,
    progress: Optional[ProgressFunction] = None,
    store: Optional[CheckpointStore] = None,
) -> DirectoryReport:
    """Upload every selected file under ``local_dir`` to ``prefix`` + its relative path (``/`` separators).

    Args:
        client: The client (its connections are shared by every file).
        local_dir: The directory.
        prefix: Key prefix; a non-empty prefix without a trailing ``/`` gets one (``"photos"`` -> ``photos/``).
        config: Upload settings for every file; ``config.concurrency`` bounds the requests in flight across
            all files and parts, ``config.multipart_threshold`` splits single PUTs from multipart uploads.
        include: Glob patterns on the relative path (``*`` also matches ``/``); a file must match one.
        exclude: Glob patterns; a matching file is left out (a directory ``d`` is not entered when ``d/``
            matches).
        follow_symlinks: Follow links (loops are reported, never entered); default: skip and report them.
        hidden: Include dot files and directories (the default).
        dry_run: Report what would be uploaded (``planned``) without sending anything.
        progress: Called with a :class:`DirectoryProgress` as files and bytes go (one call at a time).
        store: Checkpoint storage for the large files (default: ``config.checkpoint_dir``).

    Returns:
        A :class:`DirectoryReport`; a failed file is in ``failed`` and does not stop the others.

    Raises:
        CosValidationError: ``local_dir`` is not a directory, or a bad prefix or pattern (nothing sent).
        KeyboardInterrupt: With the report so far as its ``directory_report`` attribute.
    """
    settings = run_settings(include, exclude, follow_symlinks, hidden, sync=False, delete=False, dry_run=dry_run)
    run = DirectoryRun(client, local_dir, prefix, config or UploadConfig(), settings, CrcCache(enabled=False), store)
    return run.run(progress)


def sync_directory(
    client: CosClient,
    local_dir: PathLike,
    prefix: str = "",
    *,
    config: Optional[UploadConfig] = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    hidden: bool = True,
    checksum: bool = False,
    delete: bool = False,
    max_delete: Optional[int] = None,
    delete_bucket_wide: bool = False,
    dry_run: bool = False,
    cache: Union[bool, PathLike] = True,
    progress: Optional[ProgressFunction] = None,
    store: Optional[CheckpointStore] = None,
) -> DirectoryReport:
    """Like :func:`upload_directory`, but skip files the bucket already holds, and optionally delete.

    A file is skipped when an object with its key exists with the same size and the same CRC-64 (from the
    listing when it carries one, else from HEAD Object); the local CRC-64 is computed only when the sizes
    are equal, and remembered in a cache keyed by path, size, mtime, ctime, inode and device (see
    :mod:`cos_multipart._io._crccache` for exactly what it trusts).

    Args:
        checksum: Re-read every local file instead of trusting the cache (the cache is refreshed).
        delete: Remove objects under ``prefix`` that have no local file. Kept: keys the filters leave out
            (an excluded path, or any path under a directory the walk does not enter), keys at or under a
            local entry that exists but was skipped (a link not followed, a socket, a FIFO...), folder
            markers ending in ``/``; nothing is deleted when part of the tree could not be read. See
            docs/directories.md.
        max_delete: With ``delete``: the most objects this run may delete (default ``None``: no limit).
            When the plan has more, nothing is deleted, ``report.delete_skipped`` says why and
            ``report.deletions_over_limit`` how many (``report.ok`` is false).
        delete_bucket_wide: Required with ``delete`` when ``prefix`` is empty (the whole bucket is the
            target); otherwise that call is refused before any request.
        cache: ``True`` for ``crc64-cache.json`` in the checkpoint directory (``store``'s, else
            ``config.checkpoint_dir``, else the default), ``False`` for none, or a path.
        Other arguments: as for :func:`upload_directory`; ``dry_run`` also covers ``delete``.
    """
    settings = run_settings(include, exclude, follow_symlinks, hidden, sync=True, delete=delete, dry_run=dry_run,
                            max_delete=max_delete, delete_bucket_wide=delete_bucket_wide)  # fmt: skip
    config = config or UploadConfig()
    directory = store.directory if store is not None else config.checkpoint_dir
    run = DirectoryRun(client, local_dir, prefix, config, settings, crc_cache(cache, checksum, directory), store)
    return run.run(progress)

