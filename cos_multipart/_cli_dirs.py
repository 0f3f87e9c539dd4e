"""``cos-multipart upload -r DIR cos://BUCKET/PREFIX/`` and ``cos-multipart sync DIR cos://BUCKET/PREFIX/``.

One progress bar for files and bytes, a summary line, failures listed on stderr (and as JSON lines with
``--failures FILE``), exit code 8 when any file failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional

from ._cli_target import Target, parse_target, scope_of
from ._dirreport import DirectoryProgress, DirectoryReport
from .directory import sync_directory, upload_directory

#: Failures printed on stderr before "... and N more" (all of them go to --failures).
_SHOWN_FAILURES = 10


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
    from ._cli_transfer import connection_options, transfer_options

    sync = subparsers.add_parser(
        "sync",
        parents=[*parents, connection_options(), transfer_options(), tree_options()],
        help="upload what changed in a directory (same size and CRC-64: skipped)",
        description="Upload the files of DIR that COS does not already hold under cos://BUCKET/PREFIX/: a file is "
        "skipped when its object has the same size and CRC-64. Local CRC-64s are cached by path, size, mtime, "
        "ctime and inode (--checksum re-reads every file). Interrupted large files resume.",
    )
    sync.add_argument("source", metavar="DIR")
    sync.add_argument("target", metavar="cos://BUCKET/PREFIX/")
    sync.add_argument("--checksum", action="store_true", help="re-read every local file (do not trust the CRC-64 cache)")
    sync.add_argument("--delete", action="store_true", help="delete objects under PREFIX that have no local file")
    sync.add_argument("--no-cache", action="store_true", help="keep no CRC-64 cache")
    sync.set_defaults(handler=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    """``cos-multipart sync DIR cos://BUCKET/PREFIX/``."""
    return run_tree(args, sync=True)


def run_tree(args: argparse.Namespace, *, sync: bool) -> int:
    """Upload (or sync) the directory ``args.source``; prints the summary, returns the exit code."""
    from ._cli_transfer import build_config, make_client
    from .cli import EXIT_PARTIAL, is_tty
    from .errors import CosValidationError

    target = parse_target(args.target, require_key=False)
    prefix = scope_of(target).prefix  # the folder, as rm -r, ls and uploads mean it: "t" and "t/" are "t/"
    if not os.path.isdir(args.source):
        raise CosValidationError("DIR", args.source, "an existing directory")
    if args.expected_size is not None:
        from ._cli_commands import refuse_option

        refuse_option("--expected-size", args.expected_size, "only for stdin ('-'): a directory's file sizes are known")
    config = build_config(args, target.dialect)
    common = dict(
        config=config, include=args.include, exclude=args.exclude, follow_symlinks=args.follow_symlinks,
        hidden=not args.no_hidden, dry_run=args.dry_run,
    )  # fmt: skip
    with make_client(args, target, workers=config.concurrency) as client, _tree_bar(not args.quiet and is_tty()) as bar:
        if sync:
            cache: Any = False if args.no_cache else True
            report = sync_directory(client, args.source, prefix, checksum=args.checksum, delete=args.delete,
                                    cache=cache, progress=bar, **common)  # fmt: skip
        else:
            report = upload_directory(client, args.source, prefix, progress=bar, **common)
    _print_report(report, target, quiet=args.quiet)
    if args.failures:
        _write_failures(args.failures, report)
    return EXIT_PARTIAL if report.failed else 0


def _print_report(report: DirectoryReport, target: Target, *, quiet: bool) -> None:
    from ._cli_transfer import human

    for action in report.planned:
        where = target.url(action.key)
        if action.action == "upload":
            print(f"would upload {action.path} -> {where} ({human(action.size)}, {action.reason})")
        else:
            print(f"would delete {where} ({action.reason})")
    for failure in report.failed[:_SHOWN_FAILURES]:
        print(f"cos-multipart: failed: {failure.path or failure.key}: {failure.error}", file=sys.stderr)
    if len(report.failed) > _SHOWN_FAILURES:
        print(f"cos-multipart: ... and {len(report.failed) - _SHOWN_FAILURES} more failures (see --failures FILE)", file=sys.stderr)
    if report.delete_skipped:
        print(f"cos-multipart: --delete: {report.delete_skipped}", file=sys.stderr)
    if quiet:
        return
    print(summary(report))


def summary(report: DirectoryReport) -> str:
    """One line: files uploaded, skipped, failed, deleted; bytes sent and time; reused bytes apart."""
    from ._cli_transfer import human

    seconds = max(report.elapsed, 1e-9)
    if report.dry_run:
        uploads = sum(1 for a in report.planned if a.action == "upload")
        deletes = sum(1 for a in report.planned if a.action == "delete")
        return f"dry run: {uploads} to upload, {len(report.skipped)} skipped, {deletes} to delete, {len(report.failed)} failed"
    text = (
        f"{len(report.uploaded)} uploaded, {len(report.skipped)} skipped, {len(report.failed)} failed"
        f"{f', {len(report.deleted)} deleted' if report.deleted else ''}: {human(report.bytes_sent)} sent in "
        f"{report.elapsed:.2f} s ({human(report.bytes_sent / seconds)}/s, {len(report.uploaded) / seconds:.0f} files/s)"
    )
    if report.bytes_reused:
        text += f", {human(report.bytes_reused)} already uploaded by an earlier run (not sent again)"
    return text


def _write_failures(path: str, report: DirectoryReport) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for failure in report.failed:
            handle.write(json.dumps({"path": failure.path, "key": failure.key, "error": failure.error}, ensure_ascii=False) + "\n")


@contextmanager
def _tree_bar(enabled: bool) -> Iterator[Optional[Any]]:
    """One bar for the whole tree: bytes, with ``12/340 files`` beside them."""
    if not enabled:
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    bar = tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)
    shown = [0]

    def update(event: DirectoryProgress) -> None:
        if bar.total != event.bytes_total:
            bar.total = event.bytes_total
        bar.set_postfix_str(f"{event.files_done}/{event.files_total} files", refresh=False)
        bar.update(event.bytes_done - shown[0])
        shown[0] = event.bytes_done

    try:
        yield update
    finally:
        bar.close()
