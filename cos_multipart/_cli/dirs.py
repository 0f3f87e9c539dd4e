"""``cos-multipart upload -r DIR cos://BUCKET/PREFIX/`` and ``cos-multipart sync DIR cos://BUCKET/PREFIX/``.

One progress bar for files and bytes, a summary line, failures listed on stderr (and as JSON lines with
``--failures FILE``), exit code 8 when any file failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .bar import tree_bar
from .target import Target, parse_target, scope_of
from .text import shown

if TYPE_CHECKING:  # annotations only: the report's module loads with the run, not with the parser
    from .._core._dirreport import DirectoryReport

#: Failures printed on stderr before "... and N more" (all of them go to --failures).
_SHOWN_FAILURES = 10
#: Exit code of a sync whose deletions --max-delete refused (nothing was deleted).
EXIT_DELETE_LIMIT = 9


def _count(text: str) -> int:
    """A ``--max-delete`` value: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: a number of objects, 0 or more")
    return value


def tree_options() -> argparse.ArgumentParser:
    """The options of a directory upload, shared by ``upload -r`` and ``sync``."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("directories (upload -r, sync)")
    group.add_argument("--include", action="append", default=[], metavar="GLOB",
                       help="upload only paths matching GLOB (relative, '/' separators, '*' crosses '/'; repeatable)")
    group.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="leave out paths matching GLOB (wins over --include; 'build/*' skips the folder; repeatable)")
    group.add_argument("--follow-symlinks", action="store_true", help="follow symbolic links (default: skip them; loops are never entered)")
    group.add_argument("--no-hidden", action="store_true", help="leave out names starting with '.' (default: included)")
    group.add_argument("--dry-run", action="store_true", help="show what would be uploaded (and deleted) without doing it")
    group.add_argument("--failures", metavar="FILE", help="write each failed file as a JSON line (path, key, error)")
    return parser  # fmt: skip


def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add the ``sync`` command (``upload -r`` is registered with ``upload``)."""
    from .transfer import connection_options, transfer_options

    sync = subparsers.add_parser(
        "sync",
        parents=[*parents, connection_options(), transfer_options(), tree_options()],
        help="upload what changed in a directory (same size and CRC-64: skipped)",
        description="Upload the files of DIR that COS does not already hold under cos://BUCKET/PREFIX/: a file is "
        "skipped when its object has the same size and CRC-64. Local CRC-64s are cached by path, size, mtime, "
        "ctime and inode (--checksum re-reads every file). Interrupted large files resume. The other direction, "
        "sync cos://BUCKET/PREFIX/ DIR, downloads the objects DIR does not already hold (same size and CRC-64).",
    )
    sync.add_argument("source", metavar="DIR")
    sync.add_argument("target", metavar="cos://BUCKET/PREFIX/")
    sync.add_argument("--checksum", action="store_true", help="re-read every local file (do not trust the CRC-64 cache)")
    sync.add_argument("--delete", action="store_true",
                      help="delete objects under PREFIX that have no local file (never excluded paths or skipped entries)")
    sync.add_argument("--max-delete", type=_count, metavar="N",
                      help=f"with --delete: delete nothing (exit {EXIT_DELETE_LIMIT}) when more than N objects would go (default: no limit)")
    sync.add_argument("--delete-bucket-wide", action="store_true",
                      help="allow --delete with no PREFIX (cos://BUCKET): any object of the bucket without a local file")
    sync.add_argument("--no-cache", action="store_true", help="keep no CRC-64 cache")
    sync.set_defaults(handler=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    """``cos-multipart sync DIR cos://BUCKET/PREFIX/`` (``sync cos://BUCKET/PREFIX/ DIR``: the download direction)."""
    from .download_sync import is_download_sync, run_sync_download

    if is_download_sync(args):
        return run_sync_download(args)
    return run_tree(args, sync=True)


def run_tree(args: argparse.Namespace, *, sync: bool) -> int:
    """Upload (or sync) the directory ``args.source``; prints the summary, returns the exit code."""
    from .._drivers._dirrun import REPORT_ATTRIBUTE
    from .._drivers.directory import sync_directory, upload_directory
    from .transfer import build_config, make_client
    from .main import EXIT_PARTIAL, is_tty
    from .._protocol.errors import CosValidationError

    target = parse_target(args.target, require_key=False)
    prefix = scope_of(target).prefix  # the folder, as rm -r, ls and uploads mean it: "t" and "t/" are "t/"
    if not os.path.isdir(args.source):
        raise CosValidationError("DIR", args.source, "an existing directory")
    if sync and not args.delete and args.max_delete is not None:
        raise CosValidationError("--max-delete", args.max_delete, "a bound of --delete: give it with --delete")
    if sync and not args.delete and args.delete_bucket_wide:
        raise CosValidationError("--delete-bucket-wide", args.target, "a permission for --delete: give it with --delete")
    if sync and args.delete and not prefix.strip("/") and not args.delete_bucket_wide:
        raise CosValidationError(
            "--delete", target.url(""),
            "a target with a PREFIX (cos://BUCKET/PREFIX/); to delete anywhere in the bucket every object that "
            "has no local file, add --delete-bucket-wide",
        )  # fmt: skip
    if args.expected_size is not None:
        from .commands import refuse_option

        refuse_option("--expected-size", args.expected_size, "only for stdin ('-'): a directory's file sizes are known")
    config = build_config(args, target.dialect)
    common = dict(
        config=config, include=args.include, exclude=args.exclude, follow_symlinks=args.follow_symlinks,
        hidden=not args.no_hidden, dry_run=args.dry_run,
    )  # fmt: skip
    label = os.path.basename(os.path.normpath(args.source))
    max_delete = getattr(args, "max_delete", None)
    try:
        bar_shown = not args.quiet and not args.json and is_tty()
        with make_client(args, target, workers=config.concurrency) as client, tree_bar(label, enabled=bar_shown) as bar:
            if sync:
                cache: Any = False if args.no_cache else True
                report = sync_directory(client, args.source, prefix, checksum=args.checksum, delete=args.delete,
                                        max_delete=args.max_delete, delete_bucket_wide=args.delete_bucket_wide,
                                        cache=cache, progress=bar, **common)  # fmt: skip
            else:
                report = upload_directory(client, args.source, prefix, progress=bar, **common)
    except KeyboardInterrupt as interrupt:
        # Ctrl-C or SIGTERM: say what finished, what was kept and what was not started, then let cli.main
        # name the signal and pick the exit code.
        stopped: Optional[DirectoryReport] = getattr(interrupt, REPORT_ATTRIBUTE, None)
        if stopped is not None:
            _print_report(stopped, target, args, max_delete=max_delete, delete=sync and args.delete)
            if args.failures:
                _write_failures(args.failures, stopped)
        raise
    _print_report(report, target, args, max_delete=max_delete)
    if args.failures:
        _write_failures(args.failures, report)
    if report.failed:
        return EXIT_PARTIAL
    return EXIT_DELETE_LIMIT if report.deletions_over_limit else 0


def _print_report(
    report: DirectoryReport,
    target: Target,
    args: argparse.Namespace,
    *,
    max_delete: Optional[int] = None,
    delete: bool = False,
) -> None:
    from .transfer import human
    from .main import kept_line

    if args.json:
        return _print_report_json(report, args)
    for action in report.planned:
        where = shown(target.url(action.key))
        if action.action == "upload":
            print(f"would upload {shown(action.path)} -> {where} ({human(action.size)}, {action.reason})")
        else:
            print(f"would delete {where} ({action.reason})")
    failures = [failure for failure in report.failed if not failure.interrupted]
    for failure in failures[:_SHOWN_FAILURES]:
        text = failure.error.replace("forbid_overwrite", "--forbid-overwrite") if failure.kind == "ObjectExistsError" else failure.error
        print(f"cos-multipart: failed: {shown(failure.path or failure.key)}: {shown(text)}", file=sys.stderr)
    if len(failures) > _SHOWN_FAILURES:
        print(f"cos-multipart: ... and {len(failures) - _SHOWN_FAILURES} more failures (see --failures FILE)", file=sys.stderr)
    kept = report.kept
    for upload in kept[:_SHOWN_FAILURES]:
        print(kept_line(upload, args), file=sys.stderr)
    if len(kept) > _SHOWN_FAILURES:
        print(f"cos-multipart: ... and {len(kept) - _SHOWN_FAILURES} more uploads kept (cos-multipart resume lists them)", file=sys.stderr)
    if report.deletions_over_limit:
        outcome = "a real run would delete none of them" if report.dry_run else "so nothing was deleted"
        print(f"cos-multipart: --max-delete: {report.deletions_over_limit} objects would be deleted, more than "
              f"--max-delete {max_delete}: {outcome}", file=sys.stderr)  # fmt: skip
    elif report.delete_skipped:
        print(f"cos-multipart: --delete: {report.delete_skipped}", file=sys.stderr)
    if report.interrupted:
        if delete:
            print("cos-multipart: --delete: nothing was deleted (deletions come after every file is done)", file=sys.stderr)
        if kept or report.not_started or any(f.interrupted for f in report.failed):
            print(
                "cos-multipart: run the same command again to finish: kept uploads resume where they stopped "
                "(sync also skips the files already uploaded)",
                file=sys.stderr,
            )
    if args.quiet:
        return
    print(summary(report))


def _file_object(kind: str, key: str, **fields: Any) -> Dict[str, Any]:
    """One line of ``upload -r --json`` / ``sync --json``: every field present, ``null`` when it does not apply."""
    line: Dict[str, Any] = {"type": kind, "path": None, "key": key, "size": None, "crc64": None, "bytes_reused": 0,
                            "reason": None, "error": None, "kept": None}  # fmt: skip
    line.update(fields)
    return line


def _print_report_json(report: DirectoryReport, args: argparse.Namespace) -> None:
    """``upload -r --json`` and ``sync --json``: one object per file outcome, then the summary (docs/cli.md)."""
    from .json_output import emit, kept_object

    for action in report.planned:
        kind = "would_upload" if action.action == "upload" else "would_delete"
        emit(_file_object(kind, action.key, path=action.path or None, size=action.size, reason=action.reason or None))
    for done in report.uploaded:
        emit(_file_object("uploaded", done.key, path=done.path, size=done.size, crc64=done.crc64, bytes_reused=done.bytes_reused))
    for skipped in report.skipped:
        emit(_file_object("skipped", skipped.key, path=skipped.path, reason=skipped.reason))
    for key in report.deleted:
        emit(_file_object("deleted", key))
    for failure in report.failed:
        text = failure.error.replace("forbid_overwrite", "--forbid-overwrite") if failure.kind == "ObjectExistsError" else failure.error
        kind = "stopped" if failure.interrupted else "failed"
        emit(_file_object(kind, failure.key, path=failure.path or None, error=text, kept=kept_object(failure.kept, args)))
    emit({
        "type": "summary", "dry_run": report.dry_run, "uploaded": len(report.uploaded), "skipped": len(report.skipped),
        "failed": sum(1 for f in report.failed if not f.interrupted), "stopped": sum(1 for f in report.failed if f.interrupted),
        "deleted": len(report.deleted), "would_upload": sum(1 for a in report.planned if a.action == "upload"),
        "would_delete": sum(1 for a in report.planned if a.action == "delete"), "not_started": len(report.not_started),
        "bytes_sent": report.bytes_sent, "bytes_reused": report.bytes_reused, "seconds": round(report.elapsed, 3),
        "interrupted": report.interrupted, "deletions_over_limit": report.deletions_over_limit,
        "delete_skipped": report.delete_skipped or None,
    })  # fmt: skip


def summary(report: DirectoryReport) -> str:
    """One line: files uploaded, skipped, failed, deleted; bytes sent and time; reused bytes apart. After an
    interruption: ``interrupted: ...`` with the files stopped (kept for a resume or not) and not started."""
    from .transfer import human

    seconds = max(report.elapsed, 1e-9)
    if report.dry_run:
        uploads = sum(1 for a in report.planned if a.action == "upload")
        deletes = sum(1 for a in report.planned if a.action == "delete")
        return f"dry run: {uploads} to upload, {len(report.skipped)} skipped, {deletes} to delete, {len(report.failed)} failed"
    stopped = [failure for failure in report.failed if failure.interrupted]
    counts = f"{len(report.uploaded)} uploaded, {len(report.skipped)} skipped, {len(report.failed) - len(stopped)} failed"
    if report.interrupted:
        kept = sum(1 for failure in stopped if failure.kept is not None)
        counts = (
            f"interrupted: {counts}, {len(stopped)} stopped ({kept} kept for a resume, {len(stopped) - kept} to "
            f"send again), {len(report.not_started)} not started"
        )
    text = (
        f"{counts}{f', {len(report.deleted)} deleted' if report.deleted else ''}: {human(report.bytes_sent)} sent in "
        f"{report.elapsed:.2f} s ({human(report.bytes_sent / seconds)}/s, {len(report.uploaded) / seconds:.0f} files/s)"
    )
    if report.bytes_reused:
        text += f", {human(report.bytes_reused)} already uploaded by an earlier run (not sent again)"
    return text


def _write_failures(path: str, report: DirectoryReport) -> None:
    import json  # here: building the parsers (a command's --help) needs no JSON

    with open(path, "w", encoding="utf-8") as handle:
        for failure in report.failed:
            handle.write(json.dumps({"path": failure.path, "key": failure.key, "error": failure.error}, ensure_ascii=False) + "\n")
