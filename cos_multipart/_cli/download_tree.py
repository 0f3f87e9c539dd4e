"""``cos-multipart download -r cos://BUCKET/PREFIX/ DIR``: every object under a prefix into a directory.

Each key's part below the prefix becomes a path below DIR only when it is safe
(:func:`cos_multipart._core._downloadnames.local_parts`: no ``..``, no absolute path, no NUL...); the others are
refused, listed, and nothing is written for them. Once a file's directories exist, its real path is checked to be
inside DIR (a symbolic link already there could lead out). Each object is one verified, resumable
:func:`~cos_multipart.download_file`; a failed or refused object does not stop the others, and the exit code is 8
when any was.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from .bar import human
from .download import _option, download_object, summary, transfer_settings
from .main import EXIT_OK, EXIT_PARTIAL, describe_error
from .target import Target, parse_target
from .text import shown
from .transfer import make_client
from .._core._downloadnames import is_folder_marker, local_parts
from .._drivers._each import run_each
from .._drivers.download import download_file
from .._protocol.errors import CosError, CosValidationError
from .._protocol.models import ObjectSummary

__all__ = ["Planned", "each_object", "plan_tree", "run_tree_download"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Planned:
    """One object of the prefix: where it goes (``path``), or why it is refused (``refused``)."""

    key: str
    size: int
    path: Optional[str]
    refused: str = ""


def plan_tree(objects: List[ObjectSummary], prefix: str, root: str) -> List[Planned]:
    """Where each object of the listing goes below ``root`` (pure; folder markers left out)."""
    planned: List[Planned] = []
    for found in objects:
        relative = found.key[len(prefix) :]
        if is_folder_marker(relative, found.size):
            continue
        parts, why = local_parts(relative)
        if parts is None:
            planned.append(Planned(found.key, found.size, None, why))
        else:
            planned.append(Planned(found.key, found.size, os.path.join(root, *parts)))
    return planned


def each_object(
    items: Sequence[T], one: Callable[[T, bool], R], concurrency: int, small: Callable[[T], bool], handle: Callable[[R], None]
) -> None:
    """``handle(one(item, small))`` for every item, as each finishes: the small objects (one GET each)
    ``concurrency`` at a time on a pool of threads, then the large ones one after another (each with its own
    ``concurrency`` ranges), so requests in flight stay within ``concurrency`` either way. Ctrl-C among the small
    ones is taken between their ends, never inside a lock of the pool's (:mod:`~cos_multipart._drivers._each`):
    the objects not started are not started."""
    smalls = [item for item in items if small(item)]
    if concurrency > 1 and len(smalls) > 1:
        with concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="cos-multipart-objects") as pool:
            run_each(pool, [functools.partial(one, item, True) for item in smalls], handle)
    else:
        for item in smalls:
            handle(one(item, True))
    for item in items:
        if not small(item):
            handle(one(item, False))


def _inside(root: str, path: str) -> bool:
    """Whether ``path``'s directory, symbolic links resolved, is ``root`` or below it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.dirname(path))
    return real == real_root or real.startswith(real_root + os.sep)


def run_tree_download(args: argparse.Namespace) -> int:
    """``download -r``: the exit code (8 when some object was refused or failed)."""
    target = parse_target(args.target, require_key=False)
    prefix = target.key
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    root = args.local
    if os.path.exists(root) and not os.path.isdir(root):
        raise CosValidationError("LOCAL", root, "a directory (with -r the objects go below it)")
    settings = transfer_settings(args)
    as_json = bool(_option(args, "json", False))
    dry_run = bool(_option(args, "dry_run", False))
    with make_client(args, target, workers=settings["concurrency"]) as client:
        planned = plan_tree(list(client.list_objects(prefix)), prefix, root)
        lines: List[Dict[str, Any]] = []
        counts = {"downloaded": 0, "refused": 0, "failed": 0, "would_download": 0}
        size = 0
        def one(item: Planned, small: bool) -> Tuple[str, Dict[str, Any], str]:
            return _one(client, target, item, root, {**settings, "concurrency": 1} if small else settings, dry_run)

        def handle(outcome: Tuple[str, Dict[str, Any], str]) -> None:
            nonlocal size
            kind, line, text = outcome
            counts[kind] += 1
            size += int(line.get("size") or 0) if kind in ("downloaded", "would_download") else 0
            lines.append(line)
            if as_json:
                from .json_output import emit

                emit(line)
            elif not _option(args, "quiet", False) or kind in ("refused", "failed"):
                print(shown(text))

        each_object(planned, one, settings["concurrency"], lambda item: item.size <= settings["part_size"], handle)
    total = {"type": "summary", **counts, "bytes": size, "target": os.path.abspath(root), "dry_run": dry_run}
    if as_json:
        from .json_output import emit

        emit(total)
    elif not _option(args, "quiet", False):
        verb = "would download" if dry_run else "downloaded"
        done = counts["would_download"] if dry_run else counts["downloaded"]
        print(shown(f"{verb} {done} objects ({human(size)}) from {target.url(prefix)} to {os.path.abspath(root)}; "
                    f"{counts['refused']} refused (unsafe local names), {counts['failed']} failed"))  # fmt: skip
    return EXIT_PARTIAL if counts["refused"] or counts["failed"] else EXIT_OK


def _one(
    client: Any, target: Target, item: Planned, root: str, settings: Dict[str, Any], dry_run: bool
) -> Tuple[str, Dict[str, Any], str]:
    """Download (or plan) one object: ``(kind, json line, text line)``."""
    where = target.url(item.key)
    if item.path is None:
        line: Dict[str, Any] = {"type": "refused", "source": where, "key": item.key, "reason": item.refused}
        return "refused", line, f"refused {where}: {item.refused}; nothing written"
    if dry_run:
        line = {"type": "would_download", "source": where, "key": item.key, "target": os.path.abspath(item.path), "size": item.size}
        return "would_download", line, f"would download {where} -> {os.path.abspath(item.path)} ({human(item.size)})"
    try:
        os.makedirs(os.path.dirname(item.path) or ".", exist_ok=True)
        if not _inside(root, item.path):
            reason = "its directory leads outside the target (a symbolic link)"
            return "refused", {"type": "refused", "source": where, "key": item.key, "reason": reason}, f"refused {where}: {reason}; nothing written"
        result = download_file(client, item.key, item.path, **settings)
    except (CosError, OSError) as error:
        message = describe_error(error, where)
        return "failed", {"type": "failed", "source": where, "key": item.key, "message": message}, f"failed {where}: {message}"
    return "downloaded", download_object(target, result), summary(target, result)
