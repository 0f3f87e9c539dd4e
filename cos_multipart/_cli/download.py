"""``cos-multipart download | cat``: verified downloads from the command line (``download -r``: see
:mod:`cos_multipart._cli.download_tree`).

``download cos://BUCKET/KEY LOCAL`` writes the object to LOCAL (a directory takes the key's name) through a
temporary file beside it, replaced only once the object's CRC-64 matched; an interrupted download resumes when
the same command is run again. ``cat cos://BUCKET/KEY`` writes the object to stdout in order and exits with 4 when
its CRC-64 did not match at the end. :func:`download_command` is the entry point other commands route to (``cp
cos://B/K LOCAL``): it reads ``args.target`` (the object), ``args.local`` (the local path) and the download
options, each optional with its default.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .bar import file_bar, human
from .main import EXIT_INTEGRITY, EXIT_OK, EXIT_SOURCE_CHANGED, is_tty, parse_bit_rate, parse_size
from .target import Target, parse_target
from .text import shown
from .transfer import connection_options, make_client, sse_c_from_environment
from .._core._defaults import DEFAULT_CONCURRENCY
from .._core.planner import DEFAULT_PART_SIZE
from .._protocol.errors import CosError, CosIntegrityError, CosValidationError, ObjectChangedError

# The client and the downloader are imported by the commands that run them, not when the parser is built
# (tests/test_cli_startup.py).
if TYPE_CHECKING:
    from .._core._download import DownloadResult
    from .._io.client import CosClient
    from .._protocol.sse import SseC

__all__ = ["download_command", "download_options", "register", "run_cat", "summary"]


def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add the ``download`` and ``cat`` commands."""
    download = subparsers.add_parser(
        "download",
        parents=[*parents, connection_options(), download_options()],
        help="download an object (or with -r a prefix) in parallel ranges, verified by CRC-64, resumable",
        description="Download cos://BUCKET/KEY to LOCAL (a directory takes the key's name), or with -r every "
        "object under cos://BUCKET/PREFIX/ into the directory LOCAL. Ranges are fetched in parallel, each pinned "
        "to the object's ETag, written into a temporary file beside the target, and their CRC-64s combined and "
        "compared with the object's; only then is LOCAL replaced. An interrupted download resumes when the same "
        "command is run again.",
    )
    download.add_argument("target", metavar="cos://BUCKET/KEY", help="the object (oss://BUCKET/KEY: Aliyun OSS); with -r a prefix")
    download.add_argument("local", metavar="LOCAL", help="the file to write, or a directory (the key's name is used)")
    download.add_argument("-r", "--recursive", action="store_true", help="every object under the prefix, into the directory LOCAL")
    download.add_argument("--dry-run", action="store_true", help="say what would be downloaded (one HEAD or listing) and write nothing")
    download.set_defaults(handler=download_command)

    cat = subparsers.add_parser(
        "cat",
        parents=[*parents, connection_options()],
        help="write an object to stdout, in order, CRC-64 checked at the end (exit 4 when it does not match)",
        description="Write cos://BUCKET/KEY to stdout. Ranges are fetched in parallel and written in order, with "
        "memory bounded by --concurrency x --part-size; the object's CRC-64 is compared at the end and a mismatch "
        "exits with 4 (the bytes are already written: use download for all-or-nothing).",
    )
    cat.add_argument("target", metavar="cos://BUCKET/KEY")
    cat.add_argument("--part-size", type=parse_size, help="bytes per ranged GET (default 8MB)")
    cat.add_argument("--concurrency", type=int, help="ranges in flight or held at most (default 4)")
    cat.add_argument("--sse", choices=("c",), help="the object is SSE-C encrypted: the key is read from $COS_SSE_C_KEY")
    cat.set_defaults(handler=run_cat)


def download_options() -> argparse.ArgumentParser:
    """The options of ``download`` (and of a command that routes to :func:`download_command`)."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("download")
    group.add_argument("--part-size", type=parse_size, help="bytes per ranged GET, e.g. 8MB (default 8MB)")
    group.add_argument("--concurrency", type=int, help=f"ranged GETs in parallel (default {DEFAULT_CONCURRENCY})")
    group.add_argument(
        "--traffic-limit", type=parse_bit_rate, metavar="RATE",
        help="server-side cap per request in BITS per second: 819200..838860800, or 800Kbit, 8Mbit...",
    )  # fmt: skip
    group.add_argument("--bandwidth-limit", type=parse_size, help="client-side cap in bytes/s over all ranges, e.g. 20MB")
    group.add_argument("--no-resume", action="store_true", help="keep no temporary file after a failure (start afresh next time)")
    group.add_argument("--sse", choices=("c",), help="the object is SSE-C encrypted: the key is read from $COS_SSE_C_KEY")
    group.add_argument("--json", action="store_true", help="print the result as JSON (one object; with -r one per object, then a summary)")
    return parser


def _option(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    value = getattr(args, name, None)
    return default if value is None else value


def sse_c_of(args: argparse.Namespace) -> Optional[SseC]:
    """The SSE-C key ``--sse c`` names (from the environment), or ``None``."""
    return sse_c_from_environment("--sse c") if _option(args, "sse") == "c" else None


def transfer_settings(args: argparse.Namespace) -> Dict[str, Any]:
    """The keyword options of :func:`~cos_multipart.download_file` the flags give."""
    return {
        "part_size": _option(args, "part_size", DEFAULT_PART_SIZE), "concurrency": _option(args, "concurrency", DEFAULT_CONCURRENCY),
        "traffic_limit": _option(args, "traffic_limit"), "bandwidth_limit": _option(args, "bandwidth_limit") or None,
        "resume": not _option(args, "no_resume", False), "sse_c": sse_c_of(args),
    }  # fmt: skip


def local_path(key: str, local: str) -> str:
    """Where ``key`` goes: ``local``, or ``local/<the key's last name>`` when ``local`` is a directory (or
    ends with a separator)."""
    if os.path.isdir(local) or local.endswith(os.sep):
        name = key.rstrip("/").rsplit("/", 1)[-1]
        if name in ("", ".", "..") or "\x00" in name:
            raise CosValidationError("LOCAL", local, f"a file name: the key {key!r} has no name usable here")
        return os.path.join(local, name)
    return local


def download_command(args: argparse.Namespace) -> int:
    """``cos-multipart download cos://BUCKET/KEY LOCAL`` (``-r``: a prefix into a directory; LOCAL ``-``: stdout,
    as ``cat``); the exit code.

    A namespace of ``cp SOURCE TARGET`` (``source`` the object, ``target`` the local path, no ``local``) is
    taken as well, so ``cp cos://B/K LOCAL`` can be routed here as it is parsed.
    """
    from .._drivers.download import download_file

    if getattr(args, "local", None) is None and "://" in str(getattr(args, "source", "")):
        args = argparse.Namespace(**{**vars(args), "target": args.source, "local": args.target})
    if args.local == "-" and not _option(args, "recursive", False):
        _refuse_for_stdout(args)
        return run_cat(args)
    if _option(args, "recursive", False):
        from .download_tree import run_tree_download

        return run_tree_download(args)
    target = parse_target(args.target)
    if target.key.endswith("/"):
        raise CosValidationError("target", args.target, "an object's key (a prefix ending in '/' needs -r)")
    path = local_path(target.key, args.local)
    _require_directory(args.local, path)
    settings = transfer_settings(args)
    as_json = bool(_option(args, "json", False))
    with make_client(args, target, workers=settings["concurrency"]) as client:
        if _option(args, "dry_run", False):
            return _plan(args, client, target, path, settings)
        try:
            with file_bar(path, enabled=not _option(args, "quiet", False) and not as_json and is_tty(), moved="received") as progress:
                result = download_file(client, target.key, path, progress=progress, **settings)
        except (KeyboardInterrupt, CosError) as error:
            _say_kept(path, settings["resume"], as_json)
            raise error
    if as_json:
        from .json_output import emit

        emit(download_object(target, result))
    elif not _option(args, "quiet", False):
        print(shown(summary(target, result)))
    return EXIT_OK


#: The download options LOCAL ``-`` (stdout, as ``cat``) cannot honour: (attribute, flag, why).
_NOT_FOR_STDOUT = (
    ("dry_run", "--dry-run", "stdout is written as the ranges arrive: there is no plan to print (use download to a file --dry-run)"),
    ("json", "--json", "stdout carries the object's bytes, not JSON"),
    ("no_resume", "--no-resume", "stdout keeps nothing to resume from"),
    ("traffic_limit", "--traffic-limit", "not applied when writing to stdout"),
    ("bandwidth_limit", "--bandwidth-limit", "not applied when writing to stdout"),
)  # fmt: skip


def _refuse_for_stdout(args: argparse.Namespace) -> None:
    """LOCAL ``-``: an option ``cat`` would ignore is an error naming it, before any request."""
    for name, flag, why in _NOT_FOR_STDOUT:
        value = getattr(args, name, None)
        if value:
            raise CosValidationError(flag, flag if value is True else value, f"does not apply to LOCAL '-' (stdout, as cat): {why}")


def _require_directory(local: str, path: str) -> None:
    """The file's directory must exist (nothing is created but the file): an error naming LOCAL, before any request."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        what = "is not a directory" if os.path.exists(parent) else "does not exist"
        raise CosValidationError("LOCAL", local, f"a path in an existing directory: {parent} {what} (create it first)")


def _say_kept(path: str, resume: bool, as_json: bool) -> None:
    """After a failure: one line naming what an interrupted download left for a resume, if anything."""
    from .._io._downloadfile import DownloadFiles

    files = DownloadFiles(path)
    if resume and not as_json and os.path.exists(files.temp) and os.path.exists(files.checkpoint):
        print(shown(f"cos-multipart: download kept: {files.temp} (ranges recorded in {files.checkpoint}); "
                    f"run the same command again to resume, or delete both files"), file=sys.stderr)  # fmt: skip


def _plan(args: argparse.Namespace, client: CosClient, target: Target, path: str, settings: Dict[str, Any]) -> int:
    """``download --dry-run``: one HEAD; what would be fetched and replaced; nothing is written."""
    from .._io._downloadfile import DownloadFiles

    head = client.head_object(target.key, sse_c=settings["sse_c"])
    size = head.size or 0
    part_size = settings["part_size"]
    ranges = 1 if size <= part_size else -(-size // part_size)
    stored = DownloadFiles(path).load() if settings["resume"] else None
    recorded = len(stored.done) if stored is not None and stored.key == target.key else 0
    existing = "replaces the existing file" if os.path.exists(path) else "a new file"
    check = "crc64" if head.crc64 is not None else "md5 or size (the object has no CRC-64)"
    if _option(args, "json", False):
        from .json_output import emit

        emit({"type": "would_download", "source": target.url(), "key": target.key, "target": os.path.abspath(path), "size": size,
              "ranges": ranges, "ranges_recorded": recorded, "existing": existing, "check": check})  # fmt: skip
        return EXIT_OK
    how = "in one request" if ranges == 1 else f"in {ranges} ranges of {human(part_size)}"
    resumed = f"; {recorded} ranges recorded by an interrupted run, re-checked first" if recorded else ""
    print(shown(f"would download {target.url()} -> {os.path.abspath(path)} ({human(size)} {how}; {existing}{resumed}; checked by {check})"))
    return EXIT_OK


def run_cat(args: argparse.Namespace) -> int:
    """``cos-multipart cat cos://BUCKET/KEY``: the object on stdout; 4 when its CRC-64 did not match."""
    from .._drivers.download import download_stream

    target = parse_target(args.target)
    concurrency = _option(args, "concurrency", 4)
    with make_client(args, target, workers=concurrency) as client:
        try:
            sys.stdout.flush()
            download_stream(
                client, target.key, sys.stdout.buffer, part_size=_option(args, "part_size", DEFAULT_PART_SIZE),
                concurrency=concurrency, sse_c=sse_c_of(args),
            )  # fmt: skip
            sys.stdout.buffer.flush()
        except CosIntegrityError as error:
            sys.stdout.buffer.flush()
            print(shown(f"cos-multipart: error: {target.url()}: the bytes written do not match the object ({error})"), file=sys.stderr)
            return EXIT_INTEGRITY
        except ObjectChangedError as error:  # stdout already holds bytes: "the target was not touched" is a file's
            sys.stdout.buffer.flush()
            print(shown(f"cos-multipart: error: the object {target.url()} was replaced during the download (it is no longer "
                        f"ETag {error.etag}): what stdout received is the old object's start, the rest was not written; "
                        "run the same command again to download the new object"), file=sys.stderr)  # fmt: skip
            return EXIT_SOURCE_CHANGED
    return EXIT_OK


# --- output --------------------------------------------------------------------------------------------


def download_object(target: Target, result: DownloadResult) -> Dict[str, Any]:
    """``download --json``: the finished download (names exact)."""
    return {
        "type": "downloaded", "source": target.url(result.key), "key": result.key, "target": os.path.abspath(result.path),
        "size": result.size, "ranges": result.ranges, "crc64": result.crc64, "etag": result.etag, "check": result.check,
        "ranges_reused": result.ranges_reused, "refetched": result.refetched, "restarted": result.restarted or None,
        "seconds": round(result.elapsed, 3),
    }  # fmt: skip


def summary(target: Target, result: DownloadResult) -> str:
    """The one-line report of a finished download, in the manner of ``upload``'s."""
    seconds = max(result.elapsed, 1e-9)
    how = "one request" if result.ranges == 1 else f"{result.ranges} ranges"
    text = (
        f"downloaded {target.url(result.key)} to {result.path}: {human(result.size)} in {how}; "
        f"{result.elapsed:.2f} s ({human(result.size / seconds)}/s)"
    )
    if result.ranges_reused:
        text += f"; {result.ranges_reused} ranges reused from the interrupted download"
    if result.restarted:
        text += f"; started again: {result.restarted}"
    if result.refetched:
        text += f"; {result.refetched} range fetches repeated"
    from .._core._download import CHECK_CRC64, CHECK_MD5

    if result.check == CHECK_CRC64:
        return f"{text}; crc64 {result.crc64} verified"
    if result.check == CHECK_MD5:
        return f"{text}; md5 {result.etag.strip(chr(34))} verified (the object has no CRC-64)"
    return f"{text}; size only checked (the object has no CRC-64 and its ETag is not an MD5)"
