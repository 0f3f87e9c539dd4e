"""``cos-multipart cp | mv``: server-side copy from the command line (:func:`cos_multipart.copy_object`).

``cp SRC DST`` copies one object (both ``cos://`` or both ``oss://``, the same service; another bucket is fine);
``cp -r`` copies every object under the folder SRC names (as ``sync`` reads a prefix) to the folder DST;
``mv`` deletes each source only after its copy is verified. No byte of the objects passes through this
machine. ``--dry-run`` reads (HEAD, List Objects) and writes nothing. Errors reach
:func:`cos_multipart._cli.main.main`, which prints them as one line and picks the exit code.
"""

from __future__ import annotations

import argparse
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple, Union

from .bar import file_bar, human
from .main import EXIT_PARTIAL, FLAGS, describe_error, exit_code_for, is_tty, kept_line, parse_bit_rate, parse_size
from .target import TARGET_FORM, Target, folder_of, parse_target
from .text import shown
from .._core._defaults import DEFAULT_CONCURRENCY, DEFAULT_COPY_THRESHOLD
from .._protocol.errors import REDACTED, CosError, CosValidationError, SourceChangedError, kept_upload_of

# The client and the copier are imported by the commands that run them, not when the parser is built
# (tests/test_cli_startup.py).
if TYPE_CHECKING:
    from .._core._copyvalues import CopyResult
    from .._protocol.sse import SseC
    from .._io.client import CosClient

__all__ = ["ENV_SOURCE_SSE_C_KEY", "register"]

#: The source's SSE-C key (``--source-sse-c``), from the environment only: never on a command line.
ENV_SOURCE_SSE_C_KEY = "COS_SOURCE_SSE_C_KEY"
#: The flags of copy's own option names, in errors.
_FLAGS = {**FLAGS, "threshold": "--threshold", "metadata_directive": "--metadata-directive", "source_sse_c": "--source-sse-c"}


def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add the ``cp`` and ``mv`` commands."""
    from .transfer import connection_options

    for name, verb in (("cp", "copy"), ("mv", "move")):
        command = subparsers.add_parser(
            name,
            parents=[*parents, connection_options(), copy_options()],
            help=f"{verb} an object (or with -r a folder) on the service side, verified and resumable",
            description=f"{verb.capitalize()} SRC to DST on the service side ({TARGET_FORM}, the same service; "
            "another bucket or region is fine). Up to --threshold one request, above it parts copied in parallel, "
            "each pinned to the source's ETag (a source replaced meanwhile fails the copy, nothing is left); the "
            "destination's size and CRC-64 are checked against the source's."
            + (" The source is deleted only after its copy is verified." if name == "mv" else ""),
        )
        command.add_argument("source", metavar="SRC", help="the object (with -r: the folder) to " + verb)
        command.add_argument("target", metavar="DST", help="the destination key; a KEY ending in '/' gets SRC's name (with -r: the folder)")
        command.set_defaults(handler=run_cp if name == "cp" else run_mv)


def copy_options() -> argparse.ArgumentParser:
    """The options of ``cp`` and ``mv``."""
    parser = argparse.ArgumentParser(add_help=False)
    run = parser.add_argument_group("copy")
    run.add_argument("-r", "--recursive", action="store_true", help="every object under the folder SRC, to the folder DST")
    run.add_argument("--dry-run", action="store_true", help="say what would be copied; copy, write and delete nothing")
    run.add_argument("--json", action="store_true", help="JSON: one object per copy (then a summary with -r), no progress bar")
    run.add_argument("--part-size", type=parse_size, help="bytes per part copy, e.g. 64MB (default 64MB, grown as needed)")
    run.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help=f"part copies in parallel (default {DEFAULT_CONCURRENCY})")
    run.add_argument("--threshold", type=parse_size, default=DEFAULT_COPY_THRESHOLD,
                     help="sources up to this size are copied in one request (default 64MB, at most 5GB; OSS 1GB)")  # fmt: skip
    run.add_argument("--source-region", metavar="REGION", help="the region of SRC's bucket when it is not --region's (COS: a cross-region copy)")
    run.add_argument("--traffic-limit", type=parse_bit_rate, metavar="RATE", help="server-side cap per request, bits/s (e.g. 8Mbit)")
    run.add_argument("--checkpoint-dir", help="checkpoint directory (default ~/.cache/cos-multipart)")
    run.add_argument("--no-resume", action="store_true", help="keep no checkpoint; a failed copy is aborted")
    run.add_argument("--abort-on-failure", action="store_true", help="abort a failed multipart copy (no resume)")
    obj = parser.add_argument_group("destination object")
    obj.add_argument("--metadata-directive", choices=("copy", "replace"), default="copy",
                     help="copy: keep the source's content type and metadata (default); replace: take the flags below")  # fmt: skip
    obj.add_argument("--content-type", help="Content-Type (with --metadata-directive replace)")
    obj.add_argument("--meta", action="append", default=[], metavar="NAME=VALUE", help="x-cos-meta-NAME (with replace; repeatable)")
    obj.add_argument("--cache-control", help="Cache-Control (with replace)")
    obj.add_argument("--content-disposition", help="Content-Disposition (with replace)")
    obj.add_argument("--content-encoding", help="Content-Encoding (with replace)")
    obj.add_argument("--storage-class", help="e.g. STANDARD, STANDARD_IA (default STANDARD)")
    obj.add_argument("--acl", help="e.g. private, public-read, default")
    obj.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="object tag (repeatable)")
    obj.add_argument("--forbid-overwrite", action="store_true", help="fail if the destination key already holds an object")
    enc = parser.add_argument_group("encryption")
    enc.add_argument("--sse", choices=("cos", "kms", "c"), help="the destination's encryption: SSE-COS, SSE-KMS, or SSE-C (key in $COS_SSE_C_KEY)")
    enc.add_argument("--sse-kms-key-id", help="KMS key id for --sse kms")
    enc.add_argument("--sse-kms-context", metavar="JSON", help="KMS encryption context for --sse kms")
    enc.add_argument("--source-sse-c", action="store_true", help=f"the source is encrypted with SSE-C: its key is in ${ENV_SOURCE_SSE_C_KEY}")
    return parser


# --- the one place a local path is turned away ---------------------------------------------------------------


#: The copy-only options, refused when DST is a local path (they describe a destination object): (attribute,
#: flag, the value that means "not given").
_COPY_ONLY: Tuple[Tuple[str, str, Any], ...] = (
    ("threshold", "--threshold", DEFAULT_COPY_THRESHOLD), ("source_region", "--source-region", None),
    ("checkpoint_dir", "--checkpoint-dir", None), ("abort_on_failure", "--abort-on-failure", False),
    ("metadata_directive", "--metadata-directive", "copy"), ("content_type", "--content-type", None),
    ("meta", "--meta", []), ("cache_control", "--cache-control", None),
    ("content_disposition", "--content-disposition", None), ("content_encoding", "--content-encoding", None),
    ("storage_class", "--storage-class", None), ("acl", "--acl", None), ("tag", "--tag", []),
    ("forbid_overwrite", "--forbid-overwrite", False), ("sse", "--sse", None),
    ("sse_kms_key_id", "--sse-kms-key-id", None), ("sse_kms_context", "--sse-kms-context", None),
    ("source_sse_c", "--source-sse-c", False),
)  # fmt: skip


def _local_side(args: argparse.Namespace, *, move: bool) -> Optional[int]:
    """``None`` when SRC and DST are both service targets (a server-side copy follows); otherwise the command's
    exit code once it is handled here: ``cp cos://B/K LOCAL`` (and ``-r``) is the verified download of
    ``cos-multipart download``; a local SRC is refused (``upload`` sends files), as is ``mv`` to a local path
    (the object is not deleted by a download)."""
    source_remote, target_remote = "://" in args.source, "://" in args.target
    if source_remote and target_remote:
        return None
    if not source_remote:
        raise CosValidationError("SRC", args.source, f"a {TARGET_FORM} target: to send local files use upload or sync")
    if move:
        raise CosValidationError("DST", args.target, f"a {TARGET_FORM} target: mv moves within the service; to fetch an object use cp or download")
    for name, flag, unset in _COPY_ONLY:
        if getattr(args, name, unset) != unset:
            hint = " (an SSE-C object: download --sse c, key in $COS_SSE_C_KEY)" if name == "source_sse_c" else ""
            raise CosValidationError(flag, getattr(args, name), f"not given: DST {args.target!r} is a local path, and {flag} describes a destination object{hint}")
    from .download import download_command

    return download_command(args)


def _targets(args: argparse.Namespace) -> Tuple[Target, Target]:
    source = parse_target(args.source, require_key=not args.recursive)
    target = parse_target(args.target, require_key=False)
    if source.dialect is not target.dialect:
        raise CosValidationError("DST", args.target, f"a {source.scheme} target: SRC and DST are copied within one service")
    return source, target


def _options(args: argparse.Namespace) -> Dict[str, Any]:
    """The keyword arguments of :func:`copy_object` the flags give (errors named by flag)."""
    from .transfer import _encryption, _pairs
    from .._protocol.options import ObjectOptions
    from .._protocol.sse import SseC

    source_key: Optional[SseC] = None
    if args.source_sse_c:
        value = os.environ.get(ENV_SOURCE_SSE_C_KEY)
        if not value:
            raise CosValidationError(f"${ENV_SOURCE_SSE_C_KEY}", f"${ENV_SOURCE_SSE_C_KEY}", "not set: --source-sse-c reads the source's SSE-C key from it")
        try:
            source_key = SseC(value)
        except CosValidationError as error:
            raise CosValidationError(ENV_SOURCE_SSE_C_KEY, REDACTED, error.allowed) from error
    options = ObjectOptions(
        content_type=args.content_type, metadata=_pairs(args.meta, "--meta"), acl=args.acl, storage_class=args.storage_class,
        tagging=_pairs(args.tag, "--tag"), encryption=_encryption(args), cache_control=args.cache_control,
        content_disposition=args.content_disposition, content_encoding=args.content_encoding,
    )  # fmt: skip
    return dict(
        metadata_directive="Replaced" if args.metadata_directive == "replace" else "Copy", options=options,
        source_sse_c=source_key, traffic_limit=args.traffic_limit, forbid_overwrite=True if args.forbid_overwrite else None,
        part_size=args.part_size, concurrency=args.concurrency, threshold=args.threshold, resume=not args.no_resume,
        checkpoint_dir=args.checkpoint_dir, abort_on_failure=args.abort_on_failure,
    )  # fmt: skip


def _named(error: CosValidationError) -> CosValidationError:
    flag = _FLAGS.get(error.field)
    return error if flag is None else CosValidationError(flag, error.value, error.allowed)


# --- commands ------------------------------------------------------------------------------------------------


def run_cp(args: argparse.Namespace) -> int:
    """``cos-multipart cp SRC DST``."""
    return _run(args, move=False)


def run_mv(args: argparse.Namespace) -> int:
    """``cos-multipart mv SRC DST``."""
    return _run(args, move=True)


def _run(args: argparse.Namespace, *, move: bool) -> int:
    from .transfer import make_client

    handled = _local_side(args, move=move)
    if handled is not None:
        return handled
    source, target = _targets(args)
    try:
        options = _options(args)
    except CosValidationError as error:
        raise _named(error) from error
    from_args = argparse.Namespace(**{**vars(args), "region": args.source_region}) if args.source_region else args
    if args.source_region and source.dialect.name != "cos":
        raise CosValidationError("--source-region", args.source_region, f"only for cos:// targets: {source.dialect.service} copies within a region")
    with make_client(from_args, source, workers=args.concurrency) as source_client, make_client(args, target, workers=args.concurrency) as client:
        pairs = list(_pairs_of(args, source, target, source_client))
        same = [from_key for from_key, to_key in pairs if (source.bucket, from_key) == (target.bucket, to_key)]
        if move and same:  # the copy would be the source: deleting it after the copy would lose the object
            raise CosValidationError("DST", args.target, f"another place than SRC: mv of {source.url(same[0])} onto itself would delete it")
        if args.dry_run:
            return _plan(args, pairs, source, target, source_client, client, options, move=move)
        if not args.recursive:
            (from_key, to_key), = pairs
            result = _copy_one(args, source, target, source_client, client, from_key, to_key, options, move=move)
            _say(args, source, target, result, from_key, move=move)
            return 0
        return _copy_tree(args, pairs, source, target, source_client, client, options, move=move)


def _pairs_of(args: argparse.Namespace, source: Target, target: Target, source_client: CosClient) -> Iterator[Tuple[str, str]]:
    """``(source key, destination key)`` of each copy: one, or with ``-r`` every object under SRC's folder."""
    if not args.recursive:
        key = target.key
        if not key or key.endswith("/"):
            key += source.key.rsplit("/", 1)[-1]
        yield source.key, key
        return
    prefix, into = folder_of(source.key), folder_of(target.key)
    for item in source_client.list_objects(prefix or None):
        if item.key.endswith("/") and not item.size:
            continue  # a folder marker, not an object to copy
        yield item.key, into + item.key[len(prefix) :]


def _copy_one(
    args: argparse.Namespace, source: Target, target: Target, source_client: CosClient, client: CosClient, from_key: str, to_key: str,
    options: Dict[str, Any], *, move: bool, bar: bool = True,
) -> CopyResult:  # fmt: skip
    from .._drivers.copier import copy_object
    from .._protocol.copy_ops import CopySource

    where = CopySource(from_key, source.bucket, source_client.region)
    try:
        with file_bar(from_key, enabled=bar and not args.quiet and not args.json and is_tty()) as progress:
            result = copy_object(client, where, to_key, source_client=source_client, progress=progress, **options)
    except CosValidationError as error:
        raise _named(error) from error
    except SourceChangedError as error:  # the library's words name no service: say which object, and what to do
        raise SourceChangedError(
            f"the source object {source.url(from_key)} was replaced while it was copied (412 to the ETag the copy "
            f"started from): nothing was completed, {target.url(to_key)} was not written; run the same command again "
            "to copy the new object", path=error.path, expected=error.expected, got=error.got,
        ) from error  # fmt: skip
    if move:
        source_client.delete_object(from_key)  # only now: the copy is verified
    return result


def _say(args: argparse.Namespace, source: Target, target: Target, result: CopyResult, from_key: str, *, move: bool) -> None:
    if args.json:
        from .json_output import emit

        emit(copy_line(source, target, result, from_key, move=move))
    elif not args.quiet:
        print(shown(summary(source, target, result, from_key, move=move)))


def copy_line(source: Target, target: Target, result: CopyResult, from_key: str, *, move: bool) -> Dict[str, Any]:
    """``cp --json`` / ``mv --json``: one finished copy (names exact)."""
    return {
        "type": "moved" if move else "copied", "source": source.url(from_key), "target": target.url(result.key),
        "size": result.size, "parts": result.parts, "multipart": result.upload_id is not None, "upload_id": result.upload_id,
        "crc64": result.crc64, "source_crc64": result.source_crc64, "crc64_verified": result.crc64_verified,
        "etag": result.etag, "parts_reused": result.parts_reused, "seconds": round(result.elapsed, 3),
    }  # fmt: skip


def summary(source: Target, target: Target, result: CopyResult, from_key: str, *, move: bool) -> str:
    """The one-line report of a finished copy, in the words of ``upload``'s."""
    seconds = max(result.elapsed, 1e-9)
    how = f"{result.parts} part{'s' if result.parts != 1 else ''}" if result.upload_id is not None else "one request"
    text = (
        f"{'moved' if move else 'copied'} {source.url(from_key)} to {target.url(result.key)}: {human(result.size)} in {how}; "
        f"on the service side in {result.elapsed:.2f} s ({human(result.size / seconds)}/s)"
    )
    if result.parts_reused:
        text += f"; {result.parts_reused} parts reused from the interrupted copy"
    if result.crc64_verified:
        return f"{text}; crc64 {result.crc64} verified"
    return f"{text}; size verified, crc64 not compared (the source has none)"


def _copy_tree(
    args: argparse.Namespace, pairs: List[Tuple[str, str]], source: Target, target: Target, source_client: CosClient,
    client: CosClient, options: Dict[str, Any], *, move: bool,
) -> int:  # fmt: skip
    """``cp -r``: the objects copied side by side, every request of all of them within ``--concurrency`` (one pool
    of request slots, as ``upload -r``); a failed one is reported and the others go on (exit 8 if any failed).
    Ctrl-C stops the requests in flight: each copy then keeps its upload for a resume or aborts it."""
    from .._drivers._each import run_each
    from .._io._slots import RequestSlots

    slots = RequestSlots(args.concurrency)
    source_view, view = slots.client_view(source_client), slots.client_view(client)
    counts = {"copied": 0, "failed": 0, "bytes": 0}
    one = functools.partial(_copy_one, args, source, target, source_view, view, move=move, bar=False)

    def attempt(from_key: str, to_key: str) -> Tuple[str, Union[CopyResult, CosError]]:
        try:
            return from_key, one(from_key, to_key, options)
        except CosError as error:  # reported, and the other copies go on
            return from_key, error

    def handle(outcome: Tuple[str, Union[CopyResult, CosError]]) -> None:
        from_key, result = outcome
        if isinstance(result, CosError):
            counts["failed"] += 1
            _say_failed(args, source, from_key, result)
            return
        counts["copied"] += 1
        counts["bytes"] += result.size
        _say(args, source, target, result, from_key, move=move)

    pool = ThreadPoolExecutor(max(1, min(args.concurrency, len(pairs))), thread_name_prefix="cos-multipart-cp")
    try:
        # Ctrl-C is taken between the copies' ends, never inside a lock of the pool's (_drivers/_each); it stops
        # the copies in flight (kept or aborted each), those not started never start.
        calls = [functools.partial(attempt, from_key, to_key) for from_key, to_key in pairs]
        run_each(pool, calls, handle, stop=slots.stop)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    failed, copied, total = counts["failed"], counts["copied"], counts["bytes"]
    if args.json:
        from .json_output import emit

        emit({"type": "summary", "copied": copied, "failed": failed, "bytes": total})
    elif not args.quiet:
        print(shown(f"{'moved' if move else 'copied'} {copied} object{'s' if copied != 1 else ''} ({human(total)}) from "
                    f"{source.url(folder_of(source.key))} to {target.url(folder_of(target.key))}; {failed} failed"))  # fmt: skip
    return EXIT_PARTIAL if failed else 0


def _say_failed(args: argparse.Namespace, source: Target, key: str, error: CosError) -> None:
    import sys

    message = describe_error(error, source.url(key))
    kept = kept_upload_of(error)
    if kept is not None:  # the command that resumes it copies that object alone (see commands.copy_command)
        args = argparse.Namespace(**{**vars(args), "source": source.url(key), "target": f"{kept.service}://{kept.bucket}/{kept.key}"})
    if args.json:
        from .json_output import emit, kept_object

        emit({"type": "failed", "source": source.url(key), "error": message, "exit_code": exit_code_for(error),
              "kept_upload": kept_object(kept, args)})  # fmt: skip
        return
    print(f"cos-multipart: error: {shown(source.url(key))}: {shown(message)}", file=sys.stderr)
    if kept is not None:
        print(kept_line(kept, args), file=sys.stderr)


def _plan(
    args: argparse.Namespace, pairs: List[Tuple[str, str]], source: Target, target: Target, source_client: CosClient,
    client: CosClient, options: Dict[str, Any], *, move: bool,
) -> int:  # fmt: skip
    """``--dry-run``: what each copy would do, from a HEAD of its source and destination (nothing written)."""
    from .._core._copyflow import CopyStart, copy_plan
    from .._core._copyvalues import CopyConfig
    from .._drivers.threads import target_of
    from .._protocol.copy_ops import CopySource

    config = CopyConfig(**{name: options[name] for name in (
        "part_size", "concurrency", "threshold", "metadata_directive", "options", "source_sse_c", "traffic_limit", "forbid_overwrite",
    )})  # fmt: skip
    threshold = CopyStart(target_of(client), config, "", CopySource("k")).threshold
    refused = 0
    for from_key, to_key in pairs:
        head = source_client.head_object(from_key, sse_c=config.source_sse_c)
        size = head.size or 0
        if size <= threshold:
            how, parts = "in one request", 1
        else:
            plan = copy_plan(size, config, client.dialect)
            how, parts = f"in {plan.count} parts of {human(plan.part_size)}", plan.count
        existing = client.find_object(to_key, sse_c=config.sse_c)
        refused += bool(existing and config.forbid_overwrite)
        also = f"; {'refused: it exists (--forbid-overwrite)' if config.forbid_overwrite else 'replacing the object there'}" if existing else ""
        verb = "move" if move else "copy"
        if args.json:
            from .json_output import emit

            emit({"type": f"would_{verb}", "source": source.url(from_key), "target": target.url(to_key), "size": size,
                  "parts": parts, "exists": existing is not None})  # fmt: skip
        else:
            print(shown(f"would {verb} {source.url(from_key)} -> {target.url(to_key)} ({human(size)} {how}{also})"))
    if not refused:
        return 0
    from .main import EXIT_SERVICE

    return EXIT_PARTIAL if args.recursive else EXIT_SERVICE  # what the real run would exit with
