"""``cos-multipart sync cos://BUCKET/PREFIX/ DIR``: the download direction of ``sync``.

Objects under the prefix that DIR does not already hold (same size and CRC-64) are downloaded, each a verified,
resumable :func:`~cos_multipart.download_file`; keys unsafe as local names are refused and listed; ``--delete``
removes local files that no object has, with ``--max-delete N`` as for uploads (more than N: none is deleted,
exit 9) and ``--dry-run`` writing nothing. The decisions are pure (:mod:`cos_multipart._core._downloadsync`).
"""

from __future__ import annotations

import argparse
import os
import stat
import time
from typing import Any, Dict, List, Optional

from .bar import human
from .dirs import EXIT_DELETE_LIMIT
from .download import download_object, transfer_settings
from .download_tree import _inside, each_object
from .main import EXIT_OK, EXIT_PARTIAL, describe_error
from .target import Target, parse_target, scope_of
from .text import shown
from .transfer import make_client
from .._core._dirplan import LocalFile, WalkOptions, sync_decision
from .._core._downloadsync import RemoteObject, SyncItem, local_deletions, over_limit, plan_sync_download
from .._drivers.download import download_file
from .._io._crccache import CrcCache
from .._protocol.checksum import file_crc64
from .._protocol.errors import CosError, CosValidationError

__all__ = ["is_download_sync", "run_sync_download"]

#: ``sync`` options of the upload direction that mean nothing when downloading (refused, named).
_ALLOWED = (
    "part_size", "concurrency", "traffic_limit", "bandwidth_limit", "no_resume", "json", "sse", "include", "exclude",
    "no_hidden", "dry_run", "delete", "max_delete", "checksum", "no_cache",
)  # fmt: skip


def is_download_sync(args: argparse.Namespace) -> bool:
    """Whether ``sync``'s first operand is a target (``cos://``, ``oss://``): the download direction."""
    return "://" in str(getattr(args, "source", ""))


def run_sync_download(args: argparse.Namespace) -> int:
    """``sync cos://BUCKET/PREFIX/ DIR``: the exit code (8 some object refused or failed, 9 --max-delete)."""
    from .commands import refuse_given
    from .dirs import tree_options
    from .transfer import transfer_options

    refuse_given(args, [transfer_options(), tree_options()], "does not apply to a download (sync cos://BUCKET/PREFIX/ DIR)", allowed=_ALLOWED)
    for flag, dest in (("--follow-symlinks", "follow_symlinks"), ("--delete-bucket-wide", "delete_bucket_wide"), ("--failures", "failures")):
        if getattr(args, dest, None):
            raise CosValidationError(flag, flag, "does not apply to a download (sync cos://BUCKET/PREFIX/ DIR)")
    if args.sse not in (None, "c"):
        raise CosValidationError("--sse", args.sse, "'c' (an SSE-C object) when downloading; the others need no key")
    if not args.delete and args.max_delete is not None:
        raise CosValidationError("--max-delete", args.max_delete, "a bound of --delete: give it with --delete")
    target = parse_target(args.source, require_key=False)
    prefix = scope_of(target).prefix
    root = args.target
    if os.path.exists(root) and not os.path.isdir(root):
        raise CosValidationError("DIR", root, "a directory (sync downloads the objects below it)")
    options = WalkOptions(tuple(args.include), tuple(args.exclude), False, not args.no_hidden)
    settings = transfer_settings(args)
    cache = CrcCache(enabled=not args.no_cache, trust=not args.checksum)
    started = time.monotonic()
    lines: List[Dict[str, Any]] = []
    with make_client(args, target, workers=settings["concurrency"]) as client:
        objects = (RemoteObject(found.key, found.size, found.crc64) for found in client.list_objects(prefix))
        items = plan_sync_download(objects, prefix, options)
        if not args.dry_run:
            os.makedirs(root, exist_ok=True)
        def one(item: SyncItem, small: bool) -> Dict[str, Any]:
            return _one(client, target, item, root, {**settings, "concurrency": 1} if small else settings, args, cache)

        try:
            each_object(items, one, settings["concurrency"], lambda item: item.remote.size <= settings["part_size"], lines.append)
        finally:
            cache.save()
    deletions = local_deletions(_local_files(root), items, options) if args.delete else []
    limited = over_limit(len(deletions), args.max_delete)
    for relative in deletions:
        kind = "would_delete" if args.dry_run or limited else "deleted"
        if kind == "deleted":
            os.unlink(os.path.join(root, *relative.split("/")))
        lines.append({"type": kind, "path": os.path.abspath(os.path.join(root, *relative.split("/"))), "key": None})
    _report(lines, target, prefix, root, args, time.monotonic() - started, limited, len(deletions))
    if any(line["type"] in ("refused", "failed") for line in lines):
        return EXIT_PARTIAL
    return EXIT_DELETE_LIMIT if limited else EXIT_OK


def _one(
    client: Any, target: Target, item: SyncItem, root: str, settings: Dict[str, Any], args: argparse.Namespace, cache: CrcCache
) -> Dict[str, Any]:
    """Decide, then download (or plan) one object: its output line."""
    remote = item.remote
    where = target.url(remote.key)
    if item.relative is None:
        return {"type": "refused", "key": remote.key, "source": where, "reason": item.refused}
    path = os.path.join(root, *item.relative.split("/"))
    try:
        reason = _decision(client, remote, path, item.relative, settings, cache)
        if reason is None:
            return {"type": "skipped", "key": remote.key, "source": where, "path": os.path.abspath(path), "reason": "same size and CRC-64"}
        if args.dry_run:
            return {"type": "would_download", "key": remote.key, "source": where, "path": os.path.abspath(path), "size": remote.size, "reason": reason}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not _inside(root, path):
            return {"type": "refused", "key": remote.key, "source": where, "reason": "its directory leads outside the target (a symbolic link)"}
        line = download_object(target, download_file(client, remote.key, path, **settings))
        line["reason"] = reason
        return line
    except (CosError, OSError) as error:
        return {"type": "failed", "key": remote.key, "source": where, "message": describe_error(error, where)}


def _decision(client: Any, remote: RemoteObject, path: str, relative: str, settings: Dict[str, Any], cache: CrcCache) -> Optional[str]:
    """Why ``remote`` must be downloaded to ``path``, or ``None`` when the local file already holds it (its
    CRC-64 from the cache uploads' ``sync`` keeps, by path and identity, else read and then cached)."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return "new"
    if not stat.S_ISREG(status.st_mode):
        raise CosValidationError("DIR", path, "a regular file at this path (a directory or link is in the way)")
    local_crc: Optional[int] = None
    remote_crc = remote.crc64
    if status.st_size == remote.size:
        found = LocalFile(path, relative, status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev)
        local_crc = cache.get(found)
        if local_crc is None:
            local_crc = file_crc64(path)
            cache.put(found, local_crc)
        if remote_crc is None:  # the listing did not carry it: HEAD does
            remote_crc = client.head_object(remote.key, sse_c=settings["sse_c"]).crc64
    reason = sync_decision(status.st_size, local_crc, remote.size, remote_crc)
    return reason.replace("COS", "the object") if reason is not None else None


def _local_files(root: str) -> List[str]:
    """Relative paths (``/`` separators) of the regular files below ``root``; links are neither followed nor listed."""
    found: List[str] = []
    for folder, _, names in os.walk(root, followlinks=False):
        for name in names:
            path = os.path.join(folder, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                found.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(found)


def _report(
    lines: List[Dict[str, Any]], target: Target, prefix: str, root: str, args: argparse.Namespace,
    seconds: float, limited: bool, deletions: int,
) -> None:  # fmt: skip
    """One line per object (JSON or text), then the summary."""
    from .json_output import emit

    counts: Dict[str, int] = {}
    received = 0
    for line in lines:
        counts[line["type"]] = counts.get(line["type"], 0) + 1
        received += line.get("size", 0) if line["type"] == "downloaded" else 0
        if args.json:
            emit(line)
        elif not args.quiet or line["type"] in ("refused", "failed"):
            print(shown(_text(line)))
    if limited and not args.json:
        print(shown(f"cos-multipart: --max-delete: {deletions} local files would be deleted, more than --max-delete {args.max_delete}: nothing was deleted"))
    names = ("downloaded", "skipped", "refused", "failed", "deleted", "would_download", "would_delete")
    if args.json:
        emit({"type": "summary", **{name: counts.get(name, 0) for name in names}, "bytes": received,
              "seconds": round(seconds, 3), "dry_run": bool(args.dry_run), "deletions_over_limit": deletions if limited else 0})  # fmt: skip
        return
    if args.quiet:
        return
    if args.dry_run:
        print(f"dry run: {counts.get('would_download', 0)} to download, {counts.get('skipped', 0)} skipped, "
              f"{counts.get('would_delete', 0)} to delete, {counts.get('refused', 0)} refused")  # fmt: skip
        return
    rate = human(received / max(seconds, 1e-9))
    deleted = f", {counts.get('deleted', 0)} deleted" if counts.get("deleted") else ""
    print(shown(f"{counts.get('downloaded', 0)} downloaded, {counts.get('skipped', 0)} skipped, {counts.get('refused', 0)} refused, "
                f"{counts.get('failed', 0)} failed{deleted}: {human(received)} received in {seconds:.2f} s ({rate}/s) "
                f"from {target.url(prefix)} to {os.path.abspath(root)}"))  # fmt: skip


def _text(line: Dict[str, Any]) -> str:
    kind = line["type"]
    if kind == "refused":
        return f"refused {line['source']}: {line['reason']}; nothing written"
    if kind == "failed":
        return f"cos-multipart: failed: {line['source']}: {line['message']}"
    if kind == "skipped":
        return f"skipped {line['source']} ({line['reason']})"
    if kind == "would_download":
        return f"would download {line['source']} -> {line['path']} ({human(line['size'])}, {line['reason']})"
    if kind in ("deleted", "would_delete"):
        return f"{kind.replace('_', ' ')} {line['path']} (no object)"
    return f"downloaded {line['source']} to {line['target']}: {human(line['size'])} ({line['reason']}); {line['check']} verified"

