"""``cos-multipart ls | uploads | stat | rm | presign | verify``: what is in the bucket, without Python.

Times are printed in UTC and say so. ``verify`` compares a local file with an object by size and CRC-64
(HEAD only, nothing downloaded) and exits 0 only when they are equal (4 when they differ, 3 when the object
does not exist).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional

from .commands import confirm
from .text import shown
from .main import parse_whole_duration
from .._protocol.errors import CosValidationError

if TYPE_CHECKING:  # the dialects and models load when a command runs, not when the parser is built
    from .._protocol.dialect import Dialect
    from .._protocol.models import ObjectResult, ObjectsPage

_META_PREFIX = "x-cos-meta-"
_SSE_HEADER = "x-cos-server-side-encryption"
_STORAGE_CLASS_HEADER = "x-cos-storage-class"
_RAW_PREFIX_HELP = (
    "treat KEY as a raw string prefix: cos://B/t then also covers tree/ and tt (default: the folder t/ and the "
    "object t)"
)


def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add ``ls``, ``uploads``, ``stat``, ``rm``, ``presign`` and ``verify``."""
    from .transfer import connection_options

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[*parents, connection_options()], help=help_text, description=description)  # type: ignore[no-any-return]

    ls = add("ls", "list objects", "List the objects of cos://BUCKET[/PREFIX]: one level (folders end in '/') or, "
             "with -r, everything below. Sizes in KiB/MiB/GiB (--bytes: exact), times in UTC.")
    ls.add_argument("target", metavar="cos://BUCKET[/PREFIX]")
    ls.add_argument("-r", "--recursive", action="store_true", help="every object below PREFIX, not one level")
    ls.add_argument("--json", action="store_true", help="one JSON object per line (key, size, etag, crc64, ...)")
    ls.add_argument("--bytes", action="store_true", help="exact sizes in bytes")
    ls.add_argument("--uploads", action="store_true", help="list in-progress multipart uploads instead (see 'uploads')")
    ls.add_argument("--checkpoint-dir", help="with --uploads: the checkpoint directory")
    ls.add_argument("--raw-prefix", action="store_true", help=_RAW_PREFIX_HELP)
    ls.add_argument("--summarize", action="store_true", help="end with the objects and bytes listed (see 'du' for a prefix's whole usage)")
    ls.set_defaults(handler=run_ls)

    uploads = add("uploads", "list in-progress multipart uploads",
                  "List the in-progress multipart uploads of cos://BUCKET[/PREFIX], oldest first, marking those "
                  "that a local file's checkpoint can resume (times in UTC).")
    uploads.add_argument("target", metavar="cos://BUCKET[/PREFIX]")
    uploads.add_argument("--checkpoint-dir", help="checkpoint directory (default ~/.cache/cos-multipart)")
    uploads.add_argument("--raw-prefix", action="store_true", help=_RAW_PREFIX_HELP)
    uploads.add_argument("--json", action="store_true", help="JSON Lines: one object per upload, then a summary object")
    uploads.set_defaults(handler=run_uploads)

    stat = add("stat", "show an object's size, ETag, CRC-64, storage class, metadata and encryption",
               "HEAD cos://BUCKET/KEY and print what COS stores about it.")
    stat.add_argument("target", metavar="cos://BUCKET/KEY")
    stat.add_argument("--json", action="store_true", help="print one JSON object")
    stat.add_argument("--sse-c", action="store_true", help="the object uses SSE-C: send the key in $COS_SSE_C_KEY")
    stat.set_defaults(handler=run_stat)

    rm = add("rm", "delete an object, or everything in a folder with -r",
             "Delete cos://BUCKET/KEY (exit 3 and nothing deleted when it does not exist), or with -r every object in "
             "the folder cos://BUCKET/DIR/ (and the object DIR itself when the target names it without the '/'; "
             "never DIR2/ or DIRX) through Delete Multiple Objects, 1000 a request, after a confirmation unless --yes.")
    rm.add_argument("target", metavar="cos://BUCKET/KEY")
    rm.add_argument("-r", "--recursive", action="store_true", help="the folder KEY/ and everything below it")
    rm.add_argument("--raw-prefix", action="store_true", help="with -r: " + _RAW_PREFIX_HELP)
    rm.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    rm.add_argument("-y", "--yes", action="store_true", help="with -r: do not ask for confirmation")
    rm.add_argument("--json", action="store_true", help="JSON Lines: one object per key deleted or not, then a summary object")
    rm.set_defaults(handler=run_rm)

    presign = add("presign", "print a pre-signed URL (GET or PUT) for an object",
                  "Print a URL that allows METHOD on cos://BUCKET/KEY for --expires seconds without credentials; "
                  "with temporary (STS) credentials the token is in the URL.")
    presign.add_argument("target", metavar="cos://BUCKET/KEY")
    presign.add_argument("--method", default="GET", type=str.upper, choices=("GET", "PUT", "HEAD", "DELETE"))
    presign.add_argument(
        "--expires", type=parse_whole_duration, default=3600, metavar="DURATION",
        help="validity in whole seconds: 600, 90s, 15m, 1h, 7d (default 1h)",
    )  # fmt: skip
    presign.add_argument("--json", action="store_true", help="print one JSON object (the URL, its expiry and the Host header it needs)")
    presign.set_defaults(handler=run_presign)

    verify = add("verify", "check that an object equals a local file (size and CRC-64, nothing downloaded)",
                 "Compare PATH's size and CRC-64 with the object's (HEAD). Exit 0 when equal, 4 when they differ, "
                 "3 when the object does not exist.")
    verify.add_argument("source", metavar="PATH")
    verify.add_argument("target", metavar="cos://BUCKET/KEY")
    verify.add_argument("--sse-c", action="store_true", help="the object uses SSE-C: send the key in $COS_SSE_C_KEY")
    verify.add_argument("--json", action="store_true", help="print one JSON object (outcome, sizes, CRC-64s)")
    verify.set_defaults(handler=run_verify)  # fmt: skip


def _utc(value: Optional[datetime.datetime]) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def run_ls(args: argparse.Namespace) -> int:
    """``cos-multipart ls cos://BUCKET[/PREFIX] [-r] [--json]``."""
    from .target import parse_target
    from .transfer import human, make_client

    from .commands import refuse_option
    from .target import scope_of

    if args.uploads:
        for flag, value in (("--recursive", args.recursive), ("--bytes", args.bytes), ("--summarize", args.summarize)):
            if value:
                refuse_option(flag, True, "does not apply to ls --uploads (see 'uploads')")
        return run_uploads(args)
    if args.checkpoint_dir is not None and "checkpoint_dir" not in getattr(args, "filled_in", {}):
        refuse_option("--checkpoint-dir", args.checkpoint_dir, "only with --uploads")
    if args.json and args.bytes:
        refuse_option("--bytes", True, "does not apply with --json (its sizes are always in bytes)")
    target = parse_target(args.target, require_key=False)
    scope = scope_of(target, raw_prefix=args.raw_prefix)
    count = objects = total = 0
    with make_client(args, target) as client:
        named = _named_object(client, scope.exact)
        pages = client.list_object_pages(prefix=scope.prefix or None, delimiter=None if args.recursive else "/")
        for page in [named, *pages]:
            for folder in page.common_prefixes:
                count += 1
                print(json.dumps({"prefix": folder}, ensure_ascii=False) if args.json else f"{'DIR':>32}  {shown(target.url(folder))}")
            for item in page.objects:
                count, objects, total = count + 1, objects + 1, total + item.size
                if args.json:
                    print(json.dumps({"key": item.key, "size": item.size, "etag": item.etag, "crc64": item.crc64,
                                      "storage_class": item.storage_class,
                                      "last_modified": item.last_modified.isoformat() if item.last_modified else None},
                                     ensure_ascii=False))  # fmt: skip
                else:
                    size = str(item.size) if args.bytes else human(item.size)
                    print(f"{_utc(item.last_modified)}  {size:>10}  {shown(target.url(item.key))}")
    if not count and not args.quiet:
        print(f"no objects in {target.url()}", file=sys.stderr)
    if args.summarize:
        from .check import summarize_line

        print(summarize_line(objects, count - objects, total, as_json=args.json))
    return 0


def _named_object(client: Any, key: Optional[str]) -> ObjectsPage:
    """A page holding the object ``key`` when it exists (the target named it), else an empty page.

    A listing, not a HEAD: an SSE-C object answers a HEAD without its key with 400, a listing names it. ``key``
    sorts first among the keys it prefixes, so one entry is enough.
    """
    from .._protocol.models import ObjectsPage
    if key is None:
        return ObjectsPage((), (), False)
    cut = next((i for i, char in enumerate(key) if ord(char) < 0x20 or ord(char) == 0x7F), None)
    if cut is not None:  # a listing's prefix cannot carry a control character: list from the text before it
        for item in client.list_objects(key[:cut] or None):
            if item.key >= key:
                return ObjectsPage((item,) if item.key == key else (), (), False)
        return ObjectsPage((), (), False)
    page = client.list_objects_page(prefix=key, max_keys=1)
    return ObjectsPage(tuple(item for item in page.objects if item.key == key), (), False)


def run_uploads(args: argparse.Namespace) -> int:
    """``cos-multipart uploads cos://BUCKET[/PREFIX]``: in-progress multipart uploads."""
    from .._io.checkpoint import CheckpointStore
    from .target import parse_target, scope_of
    from .transfer import make_client

    target = parse_target(args.target, require_key=False)
    scope = scope_of(target, raw_prefix=args.raw_prefix)
    listed = scope.exact or scope.prefix  # the named key prefixes its folder too; the rest is filtered out
    local = {checkpoint.upload_id: checkpoint.source for _, checkpoint in CheckpointStore(args.checkpoint_dir)}
    with make_client(args, target) as client:
        uploads = [u for u in client.list_multipart_uploads(prefix=listed or None) if scope.covers(u.key)]
    if args.json:
        from .json_output import emit, iso_time

        for upload in uploads:
            emit({"type": "upload", "key": upload.key, "upload_id": upload.upload_id,
                  "initiated": iso_time(upload.initiated), "source": local.get(upload.upload_id)})  # fmt: skip
        emit({"type": "summary", "uploads": len(uploads)})
        return 0
    for upload in uploads:
        note = f"  (resumable from local file {local[upload.upload_id]})" if upload.upload_id in local else ""
        print(shown(f"{_utc(upload.initiated)}  {upload.upload_id}  {target.url(upload.key)}{note}"))
    if not uploads and not args.quiet:
        print(shown(f"no in-progress uploads in {target.url()}"), file=sys.stderr)
    return 0


def _sse_c(args: argparse.Namespace) -> Any:
    if not args.sse_c:
        return None
    from .transfer import ENV_SSE_C_KEY, sse_c_from_environment

    return sse_c_from_environment(f"--sse-c (the key in ${ENV_SSE_C_KEY})")


def _head(client: Any, target: Any, args: argparse.Namespace) -> Optional[ObjectResult]:
    """HEAD the target's key (``None``: no such object), a 400 for an SSE-C object explained."""
    with _sse_c_explained(target, args):
        found: Optional[ObjectResult] = client.find_object(target.key, sse_c=_sse_c(args))
    return found


@contextmanager
def _sse_c_explained(target: Any, args: argparse.Namespace) -> Iterator[None]:
    """A 400 without ``--sse-c`` explained: the service answers a HEAD of an SSE-C object that lacks its key
    with a bare 400 (a HEAD answer has no body)."""
    from .._protocol.errors import CosServiceError

    try:
        yield
    except CosServiceError as error:
        if error.status != 400 or args.sse_c or target.dialect.name != "cos":  # OSS has no SSE-C (see oss.md)
            raise
        from .transfer import ENV_SSE_C_KEY

        raise CosValidationError(
            "--sse-c", None, f"{target.url()} answered HEAD with 400 Bad Request: it is SSE-C encrypted, and reading "
            f"even its size needs its key: pass --sse-c with the key in ${ENV_SSE_C_KEY}",
        ) from error  # fmt: skip


def describe(result: ObjectResult, dialect: Optional[Dialect] = None) -> Dict[str, Any]:
    """What ``stat`` shows of a HEAD answer of ``dialect``'s service (default: COS; its headers read by their
    neutral names; values in the service's own spelling: ``Standard`` and ``KMS`` on OSS)."""
    from .._protocol.dialect import COS

    dialect = COS if dialect is None else dialect
    headers = dialect.from_wire(result.response.headers)
    standard = dialect.renamed_values.get(_STORAGE_CLASS_HEADER, {}).get("STANDARD", "STANDARD")
    return {
        "key": result.key,
        "size": result.size,
        "etag": result.etag,
        "crc64": result.crc64,
        "storage_class": headers.get(_STORAGE_CLASS_HEADER, standard),
        "content_type": headers.get("content-type"),
        "last_modified": headers.get("last-modified"),
        "encryption": _encryption(headers, dialect),
        "metadata": {name[len(_META_PREFIX):]: value for name, value in headers.items() if name.startswith(_META_PREFIX)},
        "version_id": result.version_id,
    }


def _encryption(headers: Any, dialect: Dialect) -> Optional[str]:
    mode = headers.get(_SSE_HEADER)
    if mode:
        kms = dialect.renamed_values.get(_SSE_HEADER, {}).get("cos/kms", "cos/kms")  # "KMS" on OSS
        return f"SSE-KMS ({mode})" if mode == kms else f"SSE-{dialect.service} ({mode})"
    algorithm = headers.get(f"{_SSE_HEADER}-customer-algorithm")
    return f"SSE-C ({algorithm})" if algorithm else None


def run_stat(args: argparse.Namespace) -> int:
    """``cos-multipart stat cos://BUCKET/KEY``."""
    from .target import parse_target
    from .transfer import make_client

    from .main import EXIT_SERVICE

    target = parse_target(args.target)
    with make_client(args, target) as client:
        found = _head(client, target, args)
    if found is None:
        print(f"cos-multipart: {shown(target.url())} does not exist", file=sys.stderr)
        return EXIT_SERVICE
    info = describe(found, target.dialect)
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    for name, value in info.items():
        if name == "metadata":
            for meta, text in sorted(value.items()):
                print(f"{shown('meta ' + meta):>16}: {shown(text)}")
        elif value is not None:
            print(f"{name.replace('_', ' '):>16}: {shown(str(value))}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    """``cos-multipart rm cos://BUCKET/KEY`` or ``rm -r cos://BUCKET/DIR``: the target's scope (see
    :func:`cos_multipart._cli.target.scope_of`), looked up before anything is deleted."""
    from .commands import refuse_option
    from .target import parse_target, scope_of
    from .transfer import human, make_client
    from .main import EXIT_PARTIAL, EXIT_SERVICE

    if not args.recursive:
        if args.raw_prefix:
            refuse_option("--raw-prefix", True, "only with -r (without -r, rm deletes exactly the key given)")
        if args.yes:
            refuse_option("--yes", True, "only with -r (deleting one key asks no question)")
    target = parse_target(args.target, require_key=not args.recursive)
    with make_client(args, target) as client:
        if not args.recursive:
            # COS answers 204 whether or not the key existed: look first, so "deleted" is true.
            named = _named_object(client, target.key).objects
            if not named:
                if args.json:
                    _json_error(EXIT_SERVICE, f"not found: {target.url()} (nothing deleted)")
                    return EXIT_SERVICE
                print(f"cos-multipart: not found: {shown(target.url())} (nothing deleted)", file=sys.stderr)
                return EXIT_SERVICE
            if args.dry_run:
                if args.json:
                    return _rm_json_dry_run({target.key: named[0].size})
                print(f"would delete {shown(target.url())} ({human(named[0].size)})")
                return 0
            client.delete_object(target.key)
            deleted, failed = [target.key], []
        else:
            scope = scope_of(target, raw_prefix=args.raw_prefix)
            items = [*_named_object(client, scope.exact).objects, *client.list_objects(scope.prefix or None)]
            listed = [item.key for item in items]
            # Only what the scope covers, each once, whatever the listing answered (a key outside it is never sent).
            keys = list(dict.fromkeys(key for key in listed if scope.covers(key)))
            where = target.url(scope.prefix) + (f" (and {target.url()})" if scope.exact else "")
            if args.json and (args.dry_run or not keys):
                sizes = {item.key: item.size for item in items}
                return _rm_json_dry_run({key: sizes[key] for key in keys}, dry_run=args.dry_run)
            if args.dry_run or not keys:
                for doomed in keys:
                    print(f"would delete {shown(target.url(doomed))}")
                if not keys and not args.quiet:
                    print(f"nothing under {shown(where)}", file=sys.stderr)
                return 0
            if not args.yes and not confirm(f"delete {len(keys)} objects under {shown(where)}?", f"the deletion of {len(keys)} objects"):
                if args.json:
                    _json_error(2, "nothing deleted")
                    return 2
                print("cos-multipart: nothing deleted", file=sys.stderr)
                return 2
            result = client.delete_objects(keys)
            deleted, failed = list(result.deleted), list(result.failed)
    if args.json:
        from .json_output import emit

        for key in deleted:
            emit({"type": "deleted", "key": key, "code": None, "message": None})
        for failure in failed:
            emit({"type": "not_deleted", "key": failure.key, "code": failure.code, "message": failure.message})
        emit(_rm_summary(deleted=len(deleted), not_deleted=len(failed), would_delete=0, dry_run=False))
        return EXIT_PARTIAL if failed else 0
    for failure in failed:
        print(f"cos-multipart: not deleted: {shown(target.url(failure.key))}: {shown(f'{failure.code} {failure.message}')}", file=sys.stderr)
    if not args.quiet:
        print(f"deleted {len(deleted)} object{'s' if len(deleted) != 1 else ''}")
    return EXIT_PARTIAL if failed else 0


def _rm_summary(*, deleted: int, not_deleted: int, would_delete: int, dry_run: bool) -> Dict[str, Any]:
    """The last object of ``rm --json``."""
    return {"type": "summary", "deleted": deleted, "not_deleted": not_deleted, "would_delete": would_delete, "dry_run": dry_run}


def _rm_json_dry_run(sizes: Dict[str, int], *, dry_run: bool = True) -> int:
    """``rm --json --dry-run`` (or nothing to delete): one ``would_delete`` object per key, then the summary."""
    from .json_output import emit

    for key, size in sizes.items():
        emit({"type": "would_delete", "key": key, "size": size})
    emit(_rm_summary(deleted=0, not_deleted=0, would_delete=len(sizes), dry_run=dry_run))
    return 0


def _json_error(exit_code: int, message: str) -> None:
    from .json_output import print_error

    print_error(exit_code, message)


def run_presign(args: argparse.Namespace) -> int:
    """``cos-multipart presign cos://BUCKET/KEY [--method PUT] [--expires 600]``."""
    from .target import parse_target
    from .transfer import make_client

    target = parse_target(args.target)
    key = target.key
    with make_client(args, target) as client:
        try:
            url = client.presign(key, method=args.method, expires=args.expires)
        except CosValidationError as error:
            if error.field == "expires":  # the service's own range (OSS: at most 7 days)
                raise CosValidationError("--expires", args.expires, error.allowed) from error
            raise
        if args.json:
            from .json_output import emit

            emit({
                "type": "presigned", "target": target.url(), "method": args.method, "url": url,
                "expires": args.expires, "host": client.endpoint.host if client.endpoint.bucket_host else None,
            })  # fmt: skip
            return 0
        print(url)
        if client.endpoint.bucket_host and not args.quiet:  # the URL's host names no bucket: the signed Host does
            print(
                f"cos-multipart: note: the endpoint does not name the bucket: send this URL with the header "
                f"'Host: {client.endpoint.host}' (curl -H 'Host: {client.endpoint.host}' URL); without it "
                f"the service cannot tell which bucket is meant and refuses it",
                file=sys.stderr,
            )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """``cos-multipart verify PATH cos://BUCKET/KEY``: size and CRC-64, nothing downloaded."""
    from .target import parse_target
    from .transfer import make_client
    from .main import EXIT_INTEGRITY, EXIT_SERVICE
    from .._drivers.verify import verify

    target = parse_target(args.target)
    if not os.path.isfile(args.source):
        raise CosValidationError("PATH", args.source, "an existing file")
    with make_client(args, target) as client:
        with _sse_c_explained(target, args):
            found = verify(client, args.source, target.key, sse_c=_sse_c(args))  # the library's comparison
    size, local = found.local_size, found.local_crc64
    where = target.url()
    if args.json:
        return _verify_json(args, found, where)
    if found.outcome == "missing":
        print(f"{where} does not exist", file=sys.stderr)
        return EXIT_SERVICE
    if found.outcome == "size":
        print(shown(f"differ: {args.source} is {size} bytes, {where} is {found.remote_size} bytes"))
        return EXIT_INTEGRITY
    if found.outcome == "no-crc64":
        print(f"cannot verify: COS sent no CRC-64 for {where}", file=sys.stderr)
        return EXIT_INTEGRITY
    if found.outcome == "crc64":
        print(shown(f"differ: {args.source} has CRC-64 {local}, {where} has {found.remote_crc64} (same size {size})"))
        return EXIT_INTEGRITY
    if not args.quiet:
        print(shown(f"equal: {args.source} and {where} ({size} bytes, CRC-64 {local})"))
    return 0


#: ``verify --json``'s exit code for each outcome (the text output's).
_VERIFY_EXIT = {"equal": 0, "missing": 3, "size": 4, "no-crc64": 4, "crc64": 4}


def _verify_json(args: argparse.Namespace, found: Any, where: str) -> int:
    """``verify --json``: one object, the outcome's exit code."""
    from .json_output import emit

    emit({
        "type": "verify", "path": args.source, "target": where, "outcome": found.outcome,
        "local_size": found.local_size, "remote_size": found.remote_size,
        "local_crc64": found.local_crc64, "remote_crc64": found.remote_crc64,
    })  # fmt: skip
    return _VERIFY_EXIT[found.outcome]
