"""``cos-multipart check DIR cos://BUCKET/PREFIX/``, ``du cos://BUCKET/PREFIX/``, ``ls --summarize`` and
``abort cos://BUCKET/PREFIX/ --all``: the printing side of :mod:`cos_multipart._drivers.check`, and the abort of every
incomplete upload under a prefix.

Text output escapes control characters in names (:func:`~cos_multipart._cli.text.shown`); ``--json`` keeps
them exact (JSON Lines: one object per path, then one summary object; see docs/cli.md for the schemas).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Set, Tuple

from .commands import confirm
from .target import Target, parse_target, scope_of
from .text import shown
from .._core._defaults import DEFAULT_CHECK_CONCURRENCY, MAX_CHECK_CONCURRENCY

if TYPE_CHECKING:  # the drivers are imported by the commands that run them, not when the parser is built
    from .._drivers.check import CheckedPath, CheckReport, UsageReport
    from .._io.checkpoint import CheckpointStore
from .._protocol.errors import CosServiceError, CosValidationError

#: Exit code of ``check`` when a path differs, or is on one side only.
EXIT_DIFFER = 4
#: Exit code of ``check`` when nothing differs but some paths could not be compared (unreadable...).
EXIT_UNCHECKED = 8
#: How the text output names each status.
_WORDS = {
    "equal": "equal",
    "differ": "differ",
    "only_local": "only local",
    "only_remote": "only remote",
    "skipped": "skipped",
    "error": "not compared",
}
def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add ``check`` and ``du``."""
    from .transfer import connection_options

    check = subparsers.add_parser(
        "check",
        parents=[*parents, connection_options()],
        help="compare a directory with a prefix by size and CRC-64 (nothing downloaded)",
        description="Compare the files of DIR with the objects under cos://BUCKET/PREFIX/ (the walk, filters and "
        "target rule of sync) by size and CRC-64, and report each path: equal, differ, only local or only remote. "
        "Local CRC-64s come from sync's cache when a file is unchanged. Exit 0 only when every path is equal.",
    )
    check.add_argument("source", metavar="DIR")
    check.add_argument("target", metavar="cos://BUCKET/PREFIX/")
    check.add_argument("--one-way", action="store_true", help="check only the local files (objects without a local file are not reported)")
    check.add_argument("--json", action="store_true", help="JSON Lines: one object per path, then a summary object")
    check.add_argument("--checksum", action="store_true", help="re-read every local file (do not trust the CRC-64 cache)")
    check.add_argument("--no-cache", action="store_true", help="keep no CRC-64 cache")
    check.add_argument("--concurrency", type=int, default=DEFAULT_CHECK_CONCURRENCY, metavar="N",
                       help=f"files compared at once (a HEAD or a file read each), 1..{MAX_CHECK_CONCURRENCY} (default {DEFAULT_CHECK_CONCURRENCY})")
    group = check.add_argument_group("directories (as sync)")
    group.add_argument("--include", action="append", default=[], metavar="GLOB",
                       help="check only paths matching GLOB (relative, '/' separators, '*' crosses '/'; repeatable)")
    group.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="leave out paths matching GLOB (wins over --include; 'build/*' skips the folder; repeatable)")
    group.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links (default: skip them; loops are never entered)")
    group.add_argument("--no-hidden", action="store_true", help="leave out names starting with '.' (default: included)")
    check.set_defaults(handler=run_check)  # fmt: skip

    du = subparsers.add_parser(
        "du",
        parents=[*parents, connection_options()],
        help="objects and bytes under a prefix, by storage class, and its incomplete multipart uploads",
        description="Count the objects and bytes of cos://BUCKET/PREFIX/ (the folder rule of ls and rm -r), by "
        "storage class, and the incomplete multipart uploads there with their parts' bytes (billed too).",
    )
    du.add_argument("target", metavar="cos://BUCKET[/PREFIX]")
    du.add_argument("--json", action="store_true", help="print one JSON object")
    du.add_argument("--bytes", action="store_true", help="exact sizes in bytes")
    du.set_defaults(handler=run_du)


# --- check -----------------------------------------------------------------------------------------------


def run_check(args: argparse.Namespace) -> int:
    """``cos-multipart check DIR cos://BUCKET/PREFIX/``."""
    from .._drivers.check import check_directory
    from .transfer import make_client

    target = parse_target(args.target, require_key=False)
    prefix = scope_of(target).prefix  # the folder, as sync writes it: "t" and "t/" are "t/"
    if not os.path.isdir(args.source):
        raise CosValidationError("DIR", args.source, "an existing directory")
    if args.no_cache and args.checksum:
        raise CosValidationError("--checksum", "--checksum", "does not apply with --no-cache (every file is read anyway)")
    with make_client(args, target, workers=args.concurrency) as client:
        report = check_directory(
            client, args.source, prefix, include=args.include, exclude=args.exclude,
            follow_symlinks=args.follow_symlinks, hidden=not args.no_hidden, one_way=args.one_way,
            checksum=args.checksum, cache=not args.no_cache, concurrency=args.concurrency,
        )  # fmt: skip
    if args.json:
        for item in report.paths:
            print(json_line(path_object(item)))
        print(json_line(check_summary(report)))
    else:
        _print_check(report, target, args)
    return check_exit_code(report)


def check_exit_code(report: CheckReport) -> int:
    """0 when every path is equal; 4 when any differs or is on one side only; else 8 (some not compared)."""
    if any(report.count(status) for status in ("differ", "only_local", "only_remote")):
        return EXIT_DIFFER
    return EXIT_UNCHECKED if report.count("error") else 0


def path_object(item: CheckedPath) -> Dict[str, Any]:
    """One path of ``check --json`` (names exact)."""
    return {
        "type": "path",
        "status": item.status,
        "path": item.path,
        "key": item.key,
        "local_size": item.local_size,
        "remote_size": item.remote_size,
        "local_crc64": item.local_crc64,
        "remote_crc64": item.remote_crc64,
        "compared": item.compared,
        "reason": item.reason,
    }


def check_summary(report: CheckReport) -> Dict[str, Any]:
    """The last object of ``check --json``."""
    return {
        "type": "summary",
        "prefix": report.prefix,
        "one_way": report.one_way,
        "equal": report.count("equal"),
        "size_only": report.size_only,
        "differ": report.count("differ"),
        "only_local": report.count("only_local"),
        "only_remote": report.count("only_remote"),
        "skipped": report.count("skipped"),
        "error": report.count("error"),
        "ok": report.ok,
        "exit_code": check_exit_code(report),
    }


def json_line(value: Dict[str, Any]) -> str:
    """One JSON line, names exact: UTF-8 text, and ``\\udcXX`` escapes only for the bytes of a local name
    that is not UTF-8 (``json.loads`` then gives the name Python reads from the file system)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


def _print_check(report: CheckReport, target: Target, args: argparse.Namespace) -> None:
    for item in report.paths:
        if item.status == "equal" and args.quiet:
            continue
        word = _WORDS[item.status]
        if item.status == "equal" and item.compared == "size":
            word = "equal by size only (remote has no CRC-64)"
        where = shown(target.url(item.key))
        if item.status == "only_remote":
            line = f"{word}: {where}"
        else:
            line = f"{word}: {shown(item.path)} -> {where}"
        if item.reason and item.status not in ("equal", "only_local", "only_remote"):
            line += f" ({shown(item.reason)})"
        print(line)
    if args.quiet:
        return
    counts = [f"{report.count('equal')} equal"]
    if report.size_only:
        counts[0] += f" ({report.size_only} by size only: the service has no CRC-64 for them)"
    counts += [f"{report.count('differ')} differ", f"{report.count('only_local')} only local"]
    counts.append("only remote not checked (--one-way)" if report.one_way else f"{report.count('only_remote')} only remote")
    if report.count("skipped"):
        counts.append(f"{report.count('skipped')} skipped")
    if report.count("error"):
        counts.append(f"{report.count('error')} not compared")
    print(", ".join(counts))


# --- du and ls --summarize ------------------------------------------------------------------------------------


def run_du(args: argparse.Namespace) -> int:
    """``cos-multipart du cos://BUCKET[/PREFIX]``."""
    from .._drivers.check import disk_usage
    from .transfer import make_client

    target = parse_target(args.target, require_key=False)
    if args.json and args.bytes:
        from .commands import refuse_option

        refuse_option("--bytes", True, "does not apply with --json (its sizes are always in bytes)")
    scope = scope_of(target)
    with make_client(args, target) as client:
        usage = disk_usage(client, scope.prefix, key=scope.exact)
    if args.json:
        print(json_line(usage_object(usage, target)))
        return 0
    size = _size(args.bytes)
    where = target.url(scope.prefix) + (f" (and {target.url()})" if scope.exact else "")
    print(f"{shown(where)}: {usage.objects} object{'s' if usage.objects != 1 else ''}, {size(usage.bytes)}")
    for name, used in usage.by_class.items():
        print(f"  {shown(name):<20} {used.objects:>10} objects  {size(used.bytes):>12}")
    print(
        f"incomplete multipart uploads: {usage.uploads} ({usage.parts} parts, {size(usage.part_bytes)}, billed "
        f"until completed or aborted)"
    )
    return 0


def usage_object(usage: UsageReport, target: Target) -> Dict[str, Any]:
    """``du --json``."""
    return {
        "target": target.url(),
        "prefix": usage.prefix,
        "objects": usage.objects,
        "bytes": usage.bytes,
        "storage_classes": {name: {"objects": used.objects, "bytes": used.bytes} for name, used in usage.by_class.items()},
        "uploads": usage.uploads,
        "parts": usage.parts,
        "part_bytes": usage.part_bytes,
        "total_bytes": usage.bytes + usage.part_bytes,
    }


def _size(exact: bool) -> Any:
    from .transfer import human

    return (lambda count: f"{count} B") if exact else (lambda count: f"{human(count)} ({count} bytes)" if count >= 1024 else f"{count} B")


def summarize_line(objects: int, folders: int, total: int, *, as_json: bool) -> str:
    """The last line of ``ls --summarize``: objects and bytes listed (folders counted apart)."""
    if as_json:
        return json_line({"type": "summary", "objects": objects, "folders": folders, "bytes": total})
    from .transfer import human

    return f"total: {objects} object{'s' if objects != 1 else ''}, {human(total)} ({total} bytes), {folders} folder{'s' if folders != 1 else ''}"


# --- abort --all -----------------------------------------------------------------------------------------


def run_abort_all(args: argparse.Namespace) -> int:
    """``cos-multipart abort cos://BUCKET/PREFIX/ --all [--older-than 7d] [--dry-run] [--yes]``: abort every
    incomplete upload of the target's scope (the folder rule of ``scope_of``: never ``tree/`` for ``t``)."""
    from .._io.checkpoint import CheckpointStore
    from .commands import refuse_option
    from .transfer import make_client
    from .main import EXIT_PARTIAL

    if not args.all:
        for flag, value in (("--older-than", args.older_than), ("--yes", args.yes)):
            if value is not None and value is not False:  # "--older-than 0" is given too
                refuse_option(flag, value, "only with --all (abort every upload under a prefix)")
    if args.older_than is not None and args.older_than < 0:
        raise CosValidationError("--older-than", args.older_than, "a duration of 0 or more (90, 30m, 12h, 7d, 2w)")
    if args.upload_id is not None:
        refuse_option("--all", True, "aborts every upload under the prefix: give no UPLOAD_ID with it")
    target = parse_target(args.target, require_key=False)
    scope = scope_of(target)
    listed = scope.exact or scope.prefix  # the named key prefixes its folder too; the rest is filtered out
    store = CheckpointStore(args.checkpoint_dir)
    now = datetime.datetime.now(datetime.timezone.utc)
    where = target.url(scope.prefix) + (f" (and {target.url()})" if scope.exact else "")
    with make_client(args, target) as client:
        chosen: List[Tuple[str, str]] = []
        listed_once: Set[Tuple[str, str]] = set()
        too_recent = 0
        # Only what the scope covers, each once, whatever the listing answered (a key outside it is never sent).
        for upload in client.list_multipart_uploads(prefix=listed or None):
            if not scope.covers(upload.key) or (upload.key, upload.upload_id) in listed_once:
                continue
            listed_once.add((upload.key, upload.upload_id))
            if args.older_than is not None:
                age = (now - upload.initiated).total_seconds() if upload.initiated is not None else None
                if age is None or age < args.older_than:
                    too_recent += 1
                    continue
            chosen.append((upload.key, upload.upload_id))
        if args.json:
            return _abort_all_json(args, client, target, store, chosen, too_recent, where)
        if too_recent and not args.quiet:
            print(f"cos-multipart: {too_recent} upload{'s' if too_recent != 1 else ''} under {shown(where)} not older "
                  f"than --older-than (or of unknown age): kept", file=sys.stderr)  # fmt: skip
        if not chosen:
            if not args.quiet:
                print(f"no in-progress upload under {shown(where)}")
            return 0
        doomed = _checkpoints_of(store, target, set(chosen))
        if args.dry_run:
            for key, upload_id in chosen:
                print(f"would abort {shown(target.url(key))} upload {upload_id}")
            for path, source in doomed:
                print(f"would remove the checkpoint {shown(str(path))} (of {shown(source)})")
            return 0
        if not args.yes and not confirm(f"abort {len(chosen)} uploads under {shown(where)}?", f"aborting {len(chosen)} uploads"):
            print("cos-multipart: nothing aborted", file=sys.stderr)
            return 2
        aborted: Set[Tuple[str, str]] = set()
        failed = 0
        for key, upload_id in chosen:
            try:
                client.abort_multipart_upload(key, upload_id)
            except CosServiceError as error:
                if error.status != 404:  # NoSuchUpload: gone already, which is what was asked
                    failed += 1
                    print(f"cos-multipart: not aborted: {shown(target.url(key))} upload {upload_id}: {error.code or error.status}", file=sys.stderr)
                    continue
            aborted.add((key, upload_id))
            if not args.quiet:
                print(f"aborted {shown(target.url(key))} upload {upload_id}")
    for path, checkpoint in store:
        if _names(checkpoint, target, aborted):
            store.delete(checkpoint)
            if not args.quiet:
                print(f"removed the checkpoint {shown(str(path))} (of {shown(str(checkpoint.source))})")
    return EXIT_PARTIAL if failed else 0


def _abort_all_json(
    args: argparse.Namespace, client: Any, target: Target, store: CheckpointStore, chosen: List[Tuple[str, str]],
    too_recent: int, where: str,
) -> int:
    """``abort --all --json``: the same run as the text one, said as JSON Lines (docs/cli.md)."""
    from .json_output import abort_summary, checkpoint_line, emit_all, print_error, upload_line
    from .main import EXIT_PARTIAL

    lines: List[Dict[str, Any]] = []
    if args.dry_run or not chosen:
        if args.dry_run:
            lines = [upload_line("would_abort", key, upload_id) for key, upload_id in chosen]
            lines += [checkpoint_line("would_remove_checkpoint", path, source) for path, source in _checkpoints_of(store, target, set(chosen))]
        emit_all(lines, abort_summary(lines, dry_run=args.dry_run, too_recent=too_recent))
        return 0
    if not args.yes and not confirm(f"abort {len(chosen)} uploads under {shown(where)}?", f"aborting {len(chosen)} uploads"):
        print_error(2, "nothing aborted")
        return 2
    aborted: Set[Tuple[str, str]] = set()
    for key, upload_id in chosen:
        try:
            client.abort_multipart_upload(key, upload_id)
        except CosServiceError as error:
            if error.status != 404:  # NoSuchUpload: gone already, which is what was asked
                lines.append(upload_line("not_aborted", key, upload_id, error.code or str(error.status)))
                continue
        aborted.add((key, upload_id))
        lines.append(upload_line("aborted", key, upload_id))
    for path, checkpoint in store:
        if _names(checkpoint, target, aborted):
            store.delete(checkpoint)
            lines.append(checkpoint_line("checkpoint_removed", path, checkpoint.source))
    summary = abort_summary(lines, dry_run=False, too_recent=too_recent)
    emit_all(lines, summary)
    return EXIT_PARTIAL if summary["not_aborted"] else 0


def _names(checkpoint: Any, target: Target, uploads: Set[Tuple[str, str]]) -> bool:
    """Whether ``checkpoint`` records one of ``uploads`` of the target's bucket and service."""
    return bool(
        checkpoint.bucket == target.bucket
        and checkpoint.service == target.dialect.name
        and (checkpoint.key, checkpoint.upload_id) in uploads
    )


def _checkpoints_of(store: CheckpointStore, target: Target, uploads: Set[Tuple[str, str]]) -> List[Tuple[Any, str]]:
    return [(path, str(checkpoint.source)) for path, checkpoint in store if _names(checkpoint, target, uploads)]

