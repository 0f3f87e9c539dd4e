"""``cos-multipart upload | resume | abort``: the uploader from the command line (``upload -r``: see
:mod:`cos_multipart._cli.dirs`).

A ``cos://`` target speaks Tencent COS, an ``oss://`` target Aliyun OSS (:mod:`cos_multipart._cli.target`).
Credentials come from the environment (``COS_SECRET_ID``, ``COS_SECRET_KEY``, ``COS_SECURITY_TOKEN``; for OSS
``OSS_ACCESS_KEY_ID``, ``OSS_ACCESS_KEY_SECRET``, ``OSS_SESSION_TOKEN``), the region and endpoint from
``--region``/``--endpoint`` or ``COS_REGION``/``COS_ENDPOINT`` (``OSS_REGION``/``OSS_ENDPOINT``), an SSE-C key from
``COS_SSE_C_KEY`` (never from the command line, where other users could read it). Errors reach
:func:`cos_multipart._cli.main.main`, which prints them as one line and picks the exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
import re
import shlex
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .bar import file_bar
from .bar import human as human  # other commands format sizes through this module
from .target import TARGET_FORM, Target, example, parse_target
from .text import shown
from .main import FLAGS as CONFIG_FLAGS
from .main import is_tty as _is_tty
from .main import parse_bit_rate, parse_duration, parse_size
from .._core._defaults import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from .._protocol.errors import REDACTED, CosValidationError
from .._protocol.retry import DEFAULT_RETRY_TIME

# The client, the uploader and the checkpoint store are imported by the commands that run them, not when the
# parser is built (cos-multipart --help, and every command's start-up; tests/test_cli_startup.py).
if TYPE_CHECKING:
    from .._drivers.uploader import UploadConfig, UploadResult
    from .._io.checkpoint import CheckpointStore
    from .._io.client import CosClient
    from .._protocol.dialect import Dialect
    from .._protocol.sse import SseC

ENV_SSE_C_KEY = "COS_SSE_C_KEY"
#: COS's region only names the default host; with an explicit endpoint it is not used, but must be valid.
_REGION_WITH_ENDPOINT = "custom-endpoint"
#: An OSS host names its region (``oss-cn-hangzhou.aliyuncs.com``, ``-internal`` too), which V4 signs.
_OSS_HOST_REGION = re.compile(r"(?:^|\.)oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com$")
#: A COS host names its region too (``cos.ap-beijing.myqcloud.com``): the Host sent names the bucket with it.
_COS_HOST_REGION = re.compile(r"(?:^|\.)cos\.([a-z0-9-]+)\.myqcloud\.com$")
_OLDER_THAN_HELP = "with --all: only uploads initiated longer ago than this (90, 30m, 12h, 7d, 2w; default: any age)"


def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add the ``upload``, ``resume`` and ``abort`` commands."""
    from .dirs import tree_options

    connection = connection_options()
    transfer = transfer_options()
    upload = subparsers.add_parser(
        "upload",
        parents=[*parents, connection, transfer, tree_options()],
        help="upload a file, stdin or (with -r) a directory, in parallel, verified and resumable",
        description="Upload PATH (or stdin with '-') to cos://BUCKET/KEY, or with -r the directory DIR to "
        "cos://BUCKET/PREFIX/. Files below the multipart threshold go up in one request; larger ones in parallel "
        "parts. Every part's CRC-64 (and ETag when it is an MD5) and the whole object's CRC-64 are checked. An "
        "interrupted upload of a file resumes when the same command is run again.",
    )
    upload.add_argument("source", metavar="PATH", help="file to upload, '-' for stdin, or a directory with -r")
    upload.add_argument("target", metavar="cos://BUCKET/KEY", help="destination (oss://BUCKET/KEY: Aliyun OSS); a KEY ending in '/' gets PATH's name")
    upload.add_argument("-r", "--recursive", action="store_true", help="upload the directory PATH under the prefix KEY")
    upload.set_defaults(handler=run_upload)

    resume = subparsers.add_parser(
        "resume",
        parents=[*parents, connection, transfer],
        help="resume an interrupted upload, or list the ones that can be resumed",
        description="Without arguments: list the interrupted uploads recorded in the checkpoint directory. "
        "With PATH and cos://BUCKET/KEY: finish that upload, sending only the missing parts (give the same "
        "object options as the first time); fails instead of starting a new upload.",
    )
    resume.add_argument("source", metavar="PATH", nargs="?", help="the file being uploaded")
    resume.add_argument("target", metavar="cos://BUCKET/KEY", nargs="?", help="its destination")
    resume.add_argument(
        "--forget", action="store_true",
        help="drop the checkpoint of PATH to cos://BUCKET/KEY instead (and abort its upload there)",
    )  # fmt: skip
    resume.add_argument(
        "--dry-run", action="store_true",
        help="say what would be resumed (or, with --forget, dropped and aborted) without doing it",
    )  # fmt: skip
    resume.set_defaults(handler=run_resume)

    abort = subparsers.add_parser(
        "abort",
        parents=[*parents, connection],
        help="abort in-progress multipart uploads of a key",
        description="Abort the multipart upload UPLOAD_ID of cos://BUCKET/KEY, or every in-progress upload of "
        "that key when no id is given; their parts are deleted and matching local checkpoints removed.",
    )
    abort.add_argument("target", metavar="cos://BUCKET/KEY")
    abort.add_argument("upload_id", metavar="UPLOAD_ID", nargs="?", help="the upload to abort (default: all of KEY)")
    abort.add_argument("--checkpoint-dir", help="checkpoint directory (default ~/.cache/cos-multipart)")
    abort.add_argument("--dry-run", action="store_true", help="list the uploads that would be aborted, abort none")
    abort.add_argument("--all", action="store_true", help="every in-progress upload under the folder cos://BUCKET/PREFIX/ (and of the key it names)")
    abort.add_argument("--older-than", type=parse_duration, metavar="DURATION", help=_OLDER_THAN_HELP)
    abort.add_argument("-y", "--yes", action="store_true", help="with --all: do not ask for confirmation")
    abort.add_argument("--json", action="store_true", help="JSON Lines: one object per upload and checkpoint, then a summary object")
    abort.set_defaults(handler=run_abort)


def connection_options() -> argparse.ArgumentParser:
    """``--region`` and ``--endpoint``."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--region", help="region, e.g. ap-guangzhou (COS) or cn-hangzhou (OSS) (default: $COS_REGION / $OSS_REGION)"
    )
    group.add_argument(
        "--endpoint",
        help="where to connect instead of the bucket's default host, e.g. http://127.0.0.1:9000; requests still "
        "name the target's bucket in their Host (default: $COS_ENDPOINT / $OSS_ENDPOINT)",
    )
    group.add_argument(
        "--retry-time", type=parse_duration, metavar="DURATION",
        help=f"keep retrying a failed request (refused, timed out, 503 SlowDown...) for up to DURATION after its "
        f"first failure, waiting longer each time: 90, 90s, 2m (default {DEFAULT_RETRY_TIME:g}s; 0: no retries)",
    )  # fmt: skip
    group.add_argument(
        "--timeout", type=parse_duration, metavar="DURATION",
        help="connect and read timeout of each request, e.g. 30s, 2m (default: 10s to connect, 120s of silence "
        "while reading): a request that cannot connect or hears nothing for that long fails (and is retried "
        "within --retry-time)",
    )  # fmt: skip
    group.add_argument(
        "--max-attempts", type=int, metavar="N", help="tries per request in all, at most (default: as many as --retry-time allows)"
    )
    group.add_argument(
        "--ca-bundle", metavar="PATH",
        help="trust the server certificates this CA bundle (PEM) signs, for an https endpoint with a private CA "
        "(default: $REQUESTS_CA_BUNDLE, $CURL_CA_BUNDLE or $SSL_CERT_FILE, else the public CAs)",
    )  # fmt: skip
    return parser


def connection_settings(args: argparse.Namespace) -> Dict[str, Any]:
    """The client options ``--retry-time``, ``--max-attempts`` and ``--ca-bundle`` ask for (none if absent)."""
    settings: Dict[str, Any] = {}
    if getattr(args, "retry_time", None) is not None:
        settings["retry_time"] = args.retry_time
    if getattr(args, "max_attempts", None) is not None:
        settings["max_attempts"] = args.max_attempts
    if getattr(args, "ca_bundle", None):
        settings["verify"] = args.ca_bundle
    if getattr(args, "timeout", None) is not None:
        if not args.timeout > 0:  # the library's words would offer a (connect, read) pair the flag cannot take
            raise CosValidationError("--timeout", args.timeout, "a duration > 0, e.g. 30s or 2m")
        settings["timeout"] = args.timeout
    return settings


def transfer_options() -> argparse.ArgumentParser:
    """The upload settings and object options of ``upload``, ``resume`` and ``sync``."""
    parser = argparse.ArgumentParser(add_help=False)
    parts = parser.add_argument_group("transfer")
    parts.add_argument("--part-size", type=parse_size, help="bytes per part, e.g. 8MB (default: 8MB, 16MB for files of 1GiB or more, grown as needed; a resume keeps its upload's)")
    parts.add_argument(
        "--concurrency",
        type=int,
        help=f"requests in parallel, 1..{MAX_CONCURRENCY} (default {DEFAULT_CONCURRENCY}); with -r and sync, "
        "across all files and parts",
    )
    parts.add_argument(
        "--multipart-threshold",
        type=parse_size,
        help="files smaller than this use one PUT (default 8MB; 0: always parts)",
    )
    parts.add_argument(
        "--traffic-limit", type=parse_bit_rate, metavar="RATE",
        help="server-side cap per request in BITS per second: 819200..838860800, or with a unit: 800Kbit, 8Mbit, "
        "800Mbit (binary: 1Kbit = 1024 bit/s; 8Mbit is 1 MiB/s)",
    )  # fmt: skip
    parts.add_argument(
        "--bandwidth-limit", type=parse_size, help="client-side cap in bytes/s over all parts, e.g. 20MB"
    )
    parts.add_argument("--checkpoint-dir", help="checkpoint directory (default ~/.cache/cos-multipart)")
    parts.add_argument("--no-resume", action="store_true", help="start a new upload; keep no checkpoint")
    parts.add_argument("--abort-on-failure", action="store_true", help="abort the upload when it fails (no resume)")
    parts.add_argument(
        "--json", action="store_true",
        help="print the result as JSON (one object; with -r and sync, one per file, then a summary) and no progress bar",
    )  # fmt: skip
    parts.add_argument(
        "--no-md5", action="store_true", help="check parts by CRC-64 only, not also their ETag by MD5 (less CPU)"
    )
    parts.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="on resume, reuse recorded parts without re-reading their local bytes (faster; a file edited in "
        "place without changing its size, mtime, ctime or inode would give a wrong object)",
    )
    parts.add_argument(
        "--expected-size",
        type=parse_size,
        help="for stdin: the expected size, to pick the part size up front (parts grow if it is longer)",
    )
    obj = parser.add_argument_group("object")
    obj.add_argument("--content-type", help="Content-Type (default: guessed from the key)")
    obj.add_argument("--storage-class", help="e.g. STANDARD, STANDARD_IA, ARCHIVE")
    obj.add_argument("--acl", help="e.g. private, public-read, default")
    obj.add_argument("--meta", action="append", default=[], metavar="NAME=VALUE", help="x-cos-meta-NAME (repeatable)")
    obj.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="object tag (repeatable)")
    obj.add_argument("--cache-control", help="Cache-Control")
    obj.add_argument("--content-disposition", help="Content-Disposition")
    obj.add_argument("--content-encoding", help="Content-Encoding")
    obj.add_argument("--forbid-overwrite", action="store_true", help="fail if the key already holds an object")
    enc = parser.add_argument_group("encryption")
    enc.add_argument(
        "--sse",
        choices=("cos", "kms", "c"),
        help=f"server-side encryption: SSE-COS, SSE-KMS, or SSE-C (key in ${ENV_SSE_C_KEY})",
    )
    enc.add_argument("--sse-kms-key-id", help="KMS key id for --sse kms (default: the bucket's COS-managed key)")
    enc.add_argument(
        "--sse-kms-context", metavar="JSON", help='KMS encryption context for --sse kms, e.g. \'{"team":"a"}\''
    )
    return parser


# --- parsing helpers -----------------------------------------------------------------------------------


def _pairs(values: List[str], option: str) -> Optional[Dict[str, str]]:
    if not values:
        return None
    result: Dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CosValidationError(option, item, "NAME=VALUE")
        result[name] = value
    return result


def _encryption(args: argparse.Namespace) -> Any:
    from .._protocol.sse import SseCos, SseKms
    if args.sse_kms_key_id is not None or args.sse_kms_context is not None:
        if args.sse != "kms":
            raise CosValidationError("--sse", args.sse, "'kms' when --sse-kms-key-id or --sse-kms-context is given")
    if args.sse == "cos":
        return SseCos()
    if args.sse == "kms":
        context = None
        if args.sse_kms_context is not None:
            try:
                import json  # here: building the parsers (a command's --help) needs no JSON

                context = json.loads(args.sse_kms_context)
            except ValueError:
                raise CosValidationError("--sse-kms-context", args.sse_kms_context, "a JSON object") from None
        return SseKms(key_id=args.sse_kms_key_id, context=context)
    if args.sse == "c":
        return sse_c_from_environment("--sse c")
    if os.environ.get(ENV_SSE_C_KEY):
        import logging  # here: building the parsers (a command's --help) needs no logging

        logging.getLogger(__name__).warning(
            "$%s is set but --sse c is not given: the object is stored WITHOUT SSE-C (add --sse c to use the key)",
            ENV_SSE_C_KEY,
        )
    return None


def sse_c_from_environment(flag: str) -> SseC:
    """The SSE-C key of ``$COS_SSE_C_KEY`` (never read from the command line, where others could see it)."""
    from .._protocol.sse import SseC
    key = os.environ.get(ENV_SSE_C_KEY)
    if not key:
        raise CosValidationError(  # the value is the name itself: "$COS_SSE_C_KEY: not set: ..."
            f"${ENV_SSE_C_KEY}", f"${ENV_SSE_C_KEY}", f"not set: {flag} reads the SSE-C key from it (the base64 of a 32-byte "
            f"key: export {ENV_SSE_C_KEY}=...; never on the command line)",
        )  # fmt: skip
    try:
        return SseC(key)
    except CosValidationError as error:
        raise CosValidationError(ENV_SSE_C_KEY, REDACTED, error.allowed) from error


def build_config(args: argparse.Namespace, dialect: Optional[Dialect] = None) -> UploadConfig:
    """The :class:`UploadConfig` the transfer options describe (validated, errors named by their flag); with
    ``dialect`` (the target's service), the part size is checked against that service's own range."""
    from .._drivers.uploader import DEFAULT_MULTIPART_THRESHOLD, UploadConfig
    from .._protocol.options import ObjectOptions
    metadata = _pairs(args.meta, "--meta")
    tagging = _pairs(args.tag, "--tag")
    encryption = _encryption(args)
    try:
        options = ObjectOptions(
            content_type=args.content_type,
            metadata=metadata,
            acl=args.acl,
            storage_class=args.storage_class,
            tagging=tagging,
            encryption=encryption,
            cache_control=args.cache_control,
            content_disposition=args.content_disposition,
            content_encoding=args.content_encoding,
        )
        if dialect is not None and args.part_size is not None:
            from .._core.planner import plan_parts

            plan_parts(0, args.part_size, min_part_size=dialect.min_part_size)  # COS's 1 MB, not OSS's 100 KB
        if dialect is not None:
            dialect.to_wire(options.headers())  # an option the service lacks (OSS: SSE-C), named by its flag below
        return UploadConfig(
            part_size=args.part_size,
            concurrency=args.concurrency,
            multipart_threshold=(
                args.multipart_threshold if args.multipart_threshold is not None else DEFAULT_MULTIPART_THRESHOLD
            ),
            resume=not args.no_resume,
            checkpoint_dir=args.checkpoint_dir,
            abort_on_failure=args.abort_on_failure,
            verify_md5=not args.no_md5,
            verify_reused=not args.trust_checkpoint,
            bandwidth_limit=args.bandwidth_limit,
            traffic_limit=args.traffic_limit,
            expected_size=args.expected_size,
            forbid_overwrite=True if args.forbid_overwrite else None,
            options=options,
        )
    except CosValidationError as error:
        if error.field.startswith("encryption"):
            raise CosValidationError("--sse", args.sse, error.allowed) from error
        flag = CONFIG_FLAGS.get(error.field)
        if flag is None:
            raise
        raise CosValidationError(flag, error.value, error.allowed) from error


def make_client(args: argparse.Namespace, target: Target, *, workers: int = 1) -> CosClient:
    """A client of the target's service for its bucket, from ``--region``/``--endpoint`` (or the service's
    environment variables), pool sized to ``workers``."""
    from .._io.client import CosClient
    from .config import credentials, place

    endpoint = args.endpoint or os.environ.get(target.endpoint_env) or place(args, "endpoint")[0] or None
    if endpoint is not None and "://" not in endpoint:
        flag = "--endpoint" if args.endpoint else f"${target.endpoint_env}" if os.environ.get(target.endpoint_env) else place(args, "endpoint")[1]
        raise CosValidationError(flag, endpoint, f"a URL with its scheme: http://{endpoint} or https://{endpoint}")
    region = args.region or os.environ.get(target.region_env) or place(args, "region")[0] or _region_of_host(target, endpoint)
    if not region:
        example_region = target.dialect.region_example
        if endpoint is None:
            raise CosValidationError(
                "--region", None, f"a region such as {example_region} (or ${target.region_env}), or --endpoint"
            )
        if target.dialect.name == "oss":
            # V4 signatures are scoped to the region: OSS refuses one signed for another (EC 0002-00000226).
            raise CosValidationError(
                "--region", None, f"the bucket's region, e.g. {example_region} (or ${target.region_env}): "
                "OSS signatures name it, also with --endpoint",
            )  # fmt: skip
        region = _REGION_WITH_ENDPOINT
    return CosClient(
        target.bucket, region, endpoint=endpoint, pool_size=max(workers, 10), dialect=target.dialect,
        credentials=credentials(args, target.dialect.credential_env), **connection_settings(args),
    )


def _region_of_host(target: Target, endpoint: Optional[str]) -> Optional[str]:
    """The region an endpoint's host names, if it names one."""
    if endpoint is None:
        return None
    host = endpoint.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0].lower()
    match = (_OSS_HOST_REGION if target.dialect.name == "oss" else _COS_HOST_REGION).search(host)
    return match.group(1) if match else None


# --- commands ------------------------------------------------------------------------------------------


def run_upload(args: argparse.Namespace) -> int:
    """``cos-multipart upload PATH cos://BUCKET/KEY`` (or ``upload -r DIR cos://BUCKET/PREFIX/``)."""
    if args.recursive:
        from .dirs import run_tree

        return run_tree(args, sync=False)
    from .commands import refuse_given
    from .dirs import tree_options

    refuse_given(args, [tree_options()], "only with -r (a directory upload); PATH is one file", allowed=("dry_run",))
    return _transfer(args, resume_only=False)


def _check_source(path: str, target: str = "cos://BUCKET/KEY") -> None:
    """Refuse, before any request or progress bar, what cannot be uploaded as one file (``target``: as typed, for
    the command the advice suggests)."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise CosValidationError("PATH", path, "a file; it is a directory: upload it with -r (upload -r DIR cos://BUCKET/PREFIX/)")
    if not os.path.exists(path):
        raise CosValidationError("PATH", path, "an existing file (or '-' for stdin): no such file")
    if not os.path.isfile(path):  # a FIFO or a device: opening it may block, and it has no size to plan by
        raise CosValidationError(
            "PATH", path, f"a regular file; this is a pipe or a device: upload what it carries from stdin instead: "
            f"cos-multipart upload - {shlex.quote(target)} < {shlex.quote(path)}",
        )  # fmt: skip
    if not os.access(path, os.R_OK):
        raise CosValidationError("PATH", path, "a file you can read: permission denied")


def run_resume(args: argparse.Namespace) -> int:
    """``cos-multipart resume [PATH cos://BUCKET/KEY]``."""
    from .._io.checkpoint import CheckpointStore
    from .commands import refuse_given, refuse_option

    if args.source is None:
        if args.forget:
            raise CosValidationError("--forget", "", f"PATH and {TARGET_FORM} of the checkpoint to drop")
        refuse_given(
            args, [connection_options(), transfer_options()], "resume without PATH only lists the checkpoints "
            "(give PATH and TARGET to resume one)", allowed=("checkpoint_dir", "json"),
        )  # fmt: skip
        if args.dry_run:
            refuse_option("--dry-run", True, "resume without PATH only lists the checkpoints (it changes nothing)")
        return _list_checkpoints(CheckpointStore(args.checkpoint_dir), quiet=args.quiet, as_json=args.json)
    if args.target is None:
        raise CosValidationError("target", None, f"the destination after PATH, e.g. {example()}")
    if args.source == "-":
        raise CosValidationError("PATH", "-", "a file: stdin cannot be resumed")
    if args.forget:
        refuse_given(args, [transfer_options()], "does not apply to resume --forget (it uploads nothing)", allowed=("checkpoint_dir", "json"))
        return _forget(args)
    if args.no_resume:
        refuse_option("--no-resume", True, "resume only continues a recorded upload; to start afresh: upload --no-resume")
    if args.expected_size is not None:
        refuse_option("--expected-size", args.expected_size, "only for stdin ('-'), which cannot be resumed")
    return _transfer(args, resume_only=True)


def _forget(args: argparse.Namespace) -> int:
    """``resume --forget PATH cos://BUCKET/KEY``: abort the recorded upload and drop its checkpoint."""
    from .._drivers.uploader import UploadConfig, Uploader
    target = parse_target(args.target)
    with make_client(args, target) as client:
        uploader = Uploader(client, UploadConfig(checkpoint_dir=args.checkpoint_dir))
        session = uploader.checkpoint_for(args.source, target.key)
        if session is None:
            raise CosValidationError("PATH", args.source, f"a file with a checkpoint for {target.url()}: none found")
        if args.dry_run:
            if args.json:
                _say_forget(args, "would_forget", target.url(), session.upload_id, None)
                return 0
            print(shown(f"would drop the checkpoint of {os.path.abspath(args.source)} -> {target.url()} and abort its upload {session.upload_id}"))
            return 0
        aborted = uploader.abort(target.key, session.upload_id)
        uploader.store.delete(session)
    if args.json:
        _say_forget(args, "forgotten", target.url(), session.upload_id, aborted)
    elif not args.quiet:
        service = target.dialect.service
        state = f"aborted on {service}" if aborted else f"already gone from {service}"
        print(shown(f"dropped the checkpoint of {args.source} -> {target.url()} (upload {session.upload_id}, {state})"))
    return 0


def _say_forget(args: argparse.Namespace, kind: str, where: str, upload_id: str, aborted: Optional[bool]) -> None:
    """``resume --forget --json``: one object (docs/cli.md; ``aborted`` null in a dry run)."""
    from .json_output import emit

    emit({"type": kind, "source": os.path.abspath(args.source), "target": where, "upload_id": upload_id, "aborted": aborted})


def _transfer(args: argparse.Namespace, *, resume_only: bool) -> int:
    from .._drivers.uploader import Uploader
    target = parse_target(args.target, require_key=False)
    key = target.key
    _check_source(args.source, args.target)
    if not key or key.endswith("/"):
        if args.source == "-":
            raise CosValidationError("target", args.target, f"{target.scheme}BUCKET/KEY with a key when reading stdin")
        key += os.path.basename(os.path.abspath(args.source))
    config = build_config(args, target.dialect)
    if args.expected_size is not None and args.source != "-":
        raise CosValidationError("--expected-size", args.expected_size, "only with '-' (stdin): a file's size is known")
    with make_client(args, target, workers=config.concurrency) as client:
        if args.dry_run:
            return _plan_transfer(args, target.url(key), key, config, client, resume_only=resume_only)
        uploader = Uploader(client, config)
        source: Any = sys.stdin.buffer if args.source == "-" else args.source
        label = "stdin" if args.source == "-" else args.source
        with file_bar(label, enabled=not args.quiet and not args.json and _is_tty()) as progress:
            if resume_only:
                result = uploader.resume(source, key, progress=progress)
            else:
                result = uploader.upload(source, key, progress=progress)
    if args.json:
        from .json_output import emit

        emit(upload_object(args.source, result, target))
    elif not args.quiet:
        print(shown(summary(args.source, result, scheme=target.scheme)))
    return 0


def _plan_transfer(
    args: argparse.Namespace, where: str, key: str, config: UploadConfig, client: CosClient, *, resume_only: bool
) -> int:
    """``upload PATH TARGET --dry-run`` (and ``resume``): say what the run would do, sending only reads (HEAD of
    the key, List Parts of a recorded upload); no checkpoint, lock or upload is made. Returns the exit code."""
    from .._drivers.uploader import Uploader
    from .._core._decisions import check_config, refuse_lost, refuse_stale, stale_reason
    from .._io._sources import FileSource, open_source
    from .main import EXIT_SERVICE
    from .._protocol.errors import CosServiceError

    check_config(config, client)  # the service's own limits (OSS's 100 KB parts), as the real run checks them
    existing = _existing(client, key, config)
    if config.forbid_overwrite and existing is not None and existing.startswith("replaces"):
        _say_plan(args, f"would refuse: {where} already holds an object and --forbid-overwrite is set (nothing would be sent)",
                  "would_refuse", key, where, existing)  # fmt: skip
        return EXIT_SERVICE
    if args.source == "-":
        _say_plan(args, f"would upload stdin -> {where} (its size is known only once read: nothing is read in a dry run; {existing})",
                  "would_upload", key, where, existing)  # fmt: skip
        return 0
    name = os.path.abspath(args.source)
    uploader = Uploader(client, config)
    stored = uploader.checkpoint_for(args.source, key)
    source = open_source(args.source)
    try:
        if not isinstance(source, FileSource):  # _check_source let only a path through
            raise CosValidationError("PATH", args.source, "an existing file (or '-' for stdin)")
        reason = stale_reason(client, config, source, key, stored) if stored is not None else None
        if stored is not None and reason is not None:
            refuse_stale(stored, source, key, reason, resume_only=resume_only)
        gone = False
        if stored is not None and reason is None:
            try:
                list(client.list_parts(key, stored.upload_id))
            except CosServiceError as error:
                if error.status != 404:
                    raise
                refuse_lost(stored, source, key, resume_only=resume_only)
                gone = True
        if resume_only and stored is None:
            from .._core._decisions import nothing_to_resume

            raise nothing_to_resume(source, key)
        size = source.size
    finally:
        source.close()
    if stored is not None and reason is None and not gone:
        plan = stored.plan
        done = len(stored.parts)
        _say_plan(
            args, f"would resume {name} -> {where} (upload {stored.upload_id}: {done}/{plan.count} parts recorded, "
            f"{plan.count - done} to send, each recorded part re-read and checked first; {existing})",
            "would_resume", key, where, existing, size=size, parts=plan.count, part_size=plan.part_size,
            parts_recorded=done, upload_id=stored.upload_id,
        )  # fmt: skip
        return 0
    restart = None
    if stored is not None:
        why = "COS no longer has it" if gone else reason
        restart = f"would not resume upload {stored.upload_id} ({why}): it would be aborted and a new upload started"
        if not args.json:
            print(shown(restart))
    parts: Optional[int] = None
    part_size: Optional[int] = None
    if stored is None and size < config.multipart_threshold:
        how = "in one request"
    else:
        from .._core.planner import plan_parts

        plan = plan_parts(size, config.part_size, min_part_size=client.dialect.min_part_size)
        how = f"in {plan.count} part{'s' if plan.count != 1 else ''} of {human(plan.part_size)}"
        parts, part_size = plan.count, plan.part_size
    _say_plan(args, f"would upload {name} -> {where} ({human(size)} {how}; {existing})", "would_upload", key, where,
              existing, size=size, parts=parts, part_size=part_size, restart=restart)  # fmt: skip
    return 0


def _say_plan(args: argparse.Namespace, text: str, kind: str, key: str, where: str, existing: str, **fields: Any) -> None:
    """One file's dry run: the text line, or with ``--json`` one object (docs/cli.md; absent fields are null,
    ``parts`` null: one request)."""
    if not args.json:
        print(shown(text))
        return
    from .json_output import emit

    source = args.source if args.source == "-" else os.path.abspath(args.source)
    line: Dict[str, Any] = {"type": kind, "source": source, "key": key, "target": where, "size": None, "parts": None,
                            "part_size": None, "parts_recorded": None, "upload_id": None, "restart": None, "existing": existing}  # fmt: skip
    line.update(fields)
    emit(line)


def _existing(client: CosClient, key: str, config: UploadConfig) -> str:
    """What the key holds now, in words (one HEAD): the object a run would replace, or none."""
    from .._protocol.errors import CosServiceError

    try:
        found = client.find_object(key, sse_c=config.sse_c)
    except CosServiceError as error:
        return f"the key's current state is unknown: HEAD answered {error.status}"
    if found is None:
        return "a new object"
    size = f" of {human(found.size)}" if found.size is not None else ""
    return f"replaces the existing object{size}"


def run_abort(args: argparse.Namespace) -> int:
    """``cos-multipart abort cos://BUCKET/KEY [UPLOAD_ID]`` (``--all``: every upload under a prefix)."""
    from .._io.checkpoint import CheckpointStore
    if args.all or args.older_than is not None or args.yes:
        from .check import run_abort_all

        return run_abort_all(args)
    target = parse_target(args.target)
    bucket, key = target.bucket, target.key
    store = CheckpointStore(args.checkpoint_dir)
    with make_client(args, target) as client:
        if args.upload_id is not None:
            ids = [args.upload_id]
        else:
            ids = [u.upload_id for u in client.list_multipart_uploads(prefix=key) if u.key == key]
        if args.dry_run:
            return _plan_abort(client, target, ids, store, given_id=args.upload_id is not None, as_json=args.json)
        for upload_id in ids:
            client.abort_multipart_upload(key, upload_id)
        removed = []
        for path, checkpoint in store:
            if checkpoint.bucket == bucket and checkpoint.key == key and checkpoint.upload_id in ids:
                store.delete(checkpoint)
                removed.append((path, checkpoint.source))
    if args.json:
        from .json_output import abort_summary, checkpoint_line, emit_all, upload_line

        lines = [upload_line("aborted", key, upload_id) for upload_id in ids]
        lines += [checkpoint_line("checkpoint_removed", path, source) for path, source in removed]
        emit_all(lines, abort_summary(lines, dry_run=False))
        return 0
    if not args.quiet:
        if not ids:
            print(shown(f"no in-progress upload of {target.url()}"))
        for upload_id in ids:
            print(shown(f"aborted {target.url()} upload {upload_id}"))
    return 0


def _plan_abort(
    client: CosClient, target: Target, ids: List[str], store: CheckpointStore, *, given_id: bool, as_json: bool = False
) -> int:
    """``abort --dry-run``: the uploads that would be aborted (an id given is looked up: List Multipart
    Uploads, a read) and the checkpoints that would be removed."""
    from .main import EXIT_SERVICE

    if given_id:
        known = {u.upload_id for u in client.list_multipart_uploads(prefix=target.key) if u.key == target.key}
        if ids[0] not in known:
            if as_json:
                from .json_output import print_error

                print_error(EXIT_SERVICE, f"would fail: {target.url()} has no in-progress upload {ids[0]} (NoSuchUpload)")
                return EXIT_SERVICE
            print(shown(f"would fail: {target.url()} has no in-progress upload {ids[0]} (NoSuchUpload)"), file=sys.stderr)
            return EXIT_SERVICE
    if as_json:
        from .json_output import abort_summary, checkpoint_line, emit_all, upload_line

        lines = [upload_line("would_abort", target.key, upload_id) for upload_id in ids]
        lines += [
            checkpoint_line("would_remove_checkpoint", path, checkpoint.source) for path, checkpoint in store
            if checkpoint.bucket == target.bucket and checkpoint.key == target.key and checkpoint.upload_id in ids
        ]  # fmt: skip
        emit_all(lines, abort_summary(lines, dry_run=True))
        return 0
    if not ids:
        print(shown(f"no in-progress upload of {target.url()}"))
    for upload_id in ids:
        print(shown(f"would abort {target.url()} upload {upload_id}"))
    for path, checkpoint in store:
        if checkpoint.bucket == target.bucket and checkpoint.key == target.key and checkpoint.upload_id in ids:
            print(shown(f"would remove the checkpoint {path} (of {checkpoint.source})"))
    return 0


def _list_checkpoints(store: CheckpointStore, *, quiet: bool, as_json: bool = False) -> int:
    """``resume`` without PATH: the interrupted uploads recorded (``--json``: one object each, then a summary)."""
    everything = list(store)
    if as_json:
        from .json_output import checkpoint_object, emit_all

        emit_all([checkpoint_object(path, checkpoint) for path, checkpoint in everything],
                 {"type": "summary", "checkpoints": len(everything), "directory": str(store.directory)})  # fmt: skip
        return 0
    found = [(path, checkpoint) for path, checkpoint in everything if not is_copy(checkpoint)]
    for _, checkpoint in found:
        plan = checkpoint.plan
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(checkpoint.created))
        print(
            f"{shown(str(checkpoint.source))} -> {shown(f'{checkpoint.service}://{checkpoint.bucket}/{checkpoint.key}')}  "
            f"{len(checkpoint.parts)}/{plan.count} parts  started {started}  upload {checkpoint.upload_id}  "
            f"endpoint {checkpoint.endpoint}  encryption {checkpoint.encryption}"
        )
    if found and not quiet:
        print(
            "resume with: cos-multipart resume PATH TARGET (and the same object options as the first "
            "time); drop one with: cos-multipart resume --forget PATH TARGET",
            file=sys.stderr,
        )
    if not found and not quiet:
        print(f"no interrupted uploads in {store.directory}", file=sys.stderr)
    if not quiet:
        for _, checkpoint in everything:
            if is_copy(checkpoint):
                print(shown(_copy_checkpoint_line(checkpoint, store)), file=sys.stderr)
    return 0


def is_copy(checkpoint: Any) -> bool:
    """Whether ``checkpoint`` is a server-side copy's (filed under a pseudo path, not a local file's)."""
    from .._core._copyflow import CHECKPOINT_PREFIX

    return str(checkpoint.source or "").startswith(CHECKPOINT_PREFIX)


def _copy_checkpoint_line(checkpoint: Any, store: CheckpointStore) -> str:
    """A kept copy, apart from the uploads ``resume PATH TARGET`` resumes: its checkpoint records the source only
    as a digest, so the line names the destination and says how to resume (the same ``cp``/``mv``) or abort it."""
    from .commands import PROGRAM, command_line

    where = f"{checkpoint.service}://{checkpoint.bucket}/{checkpoint.key}"
    abort = command_line([PROGRAM, "abort", where, checkpoint.upload_id, "--checkpoint-dir", os.path.abspath(str(store.directory))])
    return (
        f"cos-multipart: interrupted copy to {where}: {len(checkpoint.parts)}/{checkpoint.plan.count} parts (upload "
        f"{checkpoint.upload_id}); resume it: run the same cp or mv again; abort with: {abort}"
    )


# --- output --------------------------------------------------------------------------------------------


def upload_object(source: str, result: UploadResult, target: Target) -> Dict[str, Any]:
    """``upload --json`` and ``resume --json``: the finished upload (names exact)."""
    return {
        "type": "uploaded", "source": source, "key": result.key, "target": target.url(result.key),
        "size": result.size, "parts": len(result.parts), "crc64": result.crc64, "etag": result.etag,
        "multipart": result.multipart, "upload_id": result.upload_id, "bytes_sent": result.bytes_sent,
        "bytes_reused": result.bytes_reused, "seconds": round(result.elapsed, 3),
    }  # fmt: skip


def summary(source: str, result: UploadResult, *, scheme: str = "cos://") -> str:
    """The one-line report of a finished upload: what was sent and how fast; reused bytes apart."""
    seconds = max(result.elapsed, 1e-9)
    parts = f"{len(result.parts)} part{'s' if len(result.parts) != 1 else ''}"
    how = parts if result.multipart else "one request"
    name = "stdin" if source == "-" else source
    text = (
        f"uploaded {name} to {scheme}{result.bucket}/{result.key}: {human(result.size)} in {how}; "
        f"sent {human(result.bytes_sent)} in {result.elapsed:.2f} s ({human(result.bytes_sent / seconds)}/s)"
    )
    if result.parts_reused:
        text += f"; {result.parts_reused} parts ({human(result.bytes_reused)}) reused from the interrupted upload"
    return f"{text}; crc64 {result.crc64} verified"
