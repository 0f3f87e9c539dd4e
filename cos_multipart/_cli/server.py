"""``cos-multipart serve`` and ``cos-multipart demo``: the local COS server and the end-to-end demo."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .._protocol import limits
from .main import parse_duration, parse_size
from .._protocol.errors import CosCredentialsError, CosValidationError

if TYPE_CHECKING:  # the server and its HTTP stack are imported when serve or demo runs, not for --help
    from .._protocol.credentials import Credentials
    from ..testing.faults import Fault
    from ..testing.server import LocalCOS

# The local server's defaults as the help shows them: literals, so that building the parser (every command,
# --help) does not import the server; tests/test_cli_startup.py checks them against cos_multipart.testing.server.
DEFAULT_BUCKET = "examplebucket-1250000000"
DEFAULT_REGION = "ap-guangzhou"
OSS_DEFAULT_BUCKET = "examplebucket"
OSS_DEFAULT_REGION = "cn-hangzhou"
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_REQUEST_TIMEOUT = 600.0


def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` and ``demo`` commands."""
    serve = subparsers.add_parser(
        "serve",
        parents=parents,
        help="run a local COS-compatible server",
        description="Run a local COS-compatible server on loopback until Ctrl-C. It verifies signatures, "
        "stores parts and objects under --data-dir, and can inject faults.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9000, help="port; 0 picks a free one (default 9000)")
    serve.add_argument("--data-dir", help="keep state here across restarts (default: a temporary directory)")
    serve.add_argument(
        "--dialect",
        choices=("cos", "oss"),
        default="cos",
        help="the service to play: cos (Tencent COS, default) or oss (Aliyun OSS: signature V4, x-oss-* headers, "
        "OSS errors and ETags, 100 KB parts)",
    )
    serve.add_argument(
        "--bucket",
        action="append",
        help=f"a bucket to hold; repeat for more: the first is the default (of requests whose Host names none; "
        f"default {DEFAULT_BUCKET}; with --dialect oss {OSS_DEFAULT_BUCKET}); others answer 404 NoSuchBucket until made",
    )
    serve.add_argument(
        "--region", help=f"region (default {DEFAULT_REGION}; with --dialect oss {OSS_DEFAULT_REGION})"
    )
    serve.add_argument(
        "--secret-id", help="accepted SecretId (default: COS_SECRET_ID or OSS_ACCESS_KEY_ID, else the test key)"
    )
    serve.add_argument(
        "--secret-key", help="accepted SecretKey (default: COS_SECRET_KEY or OSS_ACCESS_KEY_SECRET, else the test key)"
    )
    serve.add_argument("--anonymous", action="store_true", help="accept requests without checking signatures")
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. error:api=UploadPart,nth=2,status=503 or "
        "error:api=UploadPart,rate=0.1,seed=1 or reset:api=UploadPart,after_bytes=65536 (repeatable)",
    )
    serve.add_argument(
        "--bandwidth", type=parse_size, metavar="BYTES_PER_S",
        help="per-connection cap on body transfer in bytes/s, with the client flags' units: 1048576, 512KB, 1MB",
    )  # fmt: skip
    serve.add_argument(
        "--latency", type=parse_duration, default=0.0, metavar="DURATION", help="added to every request: 0.05, 50ms, 1s"
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help=f"connections open at once, at most (default {DEFAULT_MAX_CONNECTIONS}); more wait in the listen "
        "queue, and an idle keep-alive connection is closed to make room",
    )
    serve.add_argument(
        "--request-timeout",
        type=_seconds_or_none,
        default=DEFAULT_REQUEST_TIMEOUT,
        metavar="DURATION",
        help=f"time from a request's first byte to its body's last: 90, 90s, 10m (default {DEFAULT_REQUEST_TIMEOUT:g}s; "
        "'none' for no deadline): a client trickling its request is cut off there",
    )
    serve.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate made for this run; the banner prints the CA file to trust "
        "(needs the tls extra: pip install 'cos-multipart[tls]')",
    )
    serve.add_argument(
        "--tls-name",
        action="append",
        default=[],
        metavar="NAME",
        help="with --tls: a host name or address the certificate is made for, instead of localhost, "
        "127.0.0.1, ::1 and --host (repeatable)",
    )
    serve.add_argument(
        "--json", action="store_true",
        help="say the start as one JSON object on stdout (endpoint, buckets, region, credentials to use...), and the "
        "stop as another",
    )  # fmt: skip
    serve.set_defaults(handler=run_serve)

    demo = subparsers.add_parser(
        "demo",
        parents=parents,
        help="upload a generated file to a local COS server and verify it",
        description="Start a local COS server in a temporary directory, upload a generated file with the "
        "multipart API, verify it (CRC64 per part and for the whole object, then read it back), print a "
        "summary, and clean up. Needs no credentials and no network.",
    )
    demo.add_argument("--size", type=parse_size, default=256 * limits.MB, help="file size, e.g. 256MB, 1GB (default 256MB)")
    demo.add_argument("--part-size", type=parse_size, default=8 * limits.MB, help="part size (default 8MB)")
    demo.add_argument(
        "--concurrency", "--threads", dest="threads", type=int, default=4,
        help="parallel part uploads, 1..256 (default 4; --threads is the old name)",
    )  # fmt: skip
    demo.add_argument(
        "--bandwidth", type=parse_size, metavar="BYTES_PER_S",
        help="simulate a network: per-connection cap in bytes/s (1048576, 512KB, 1MB)",
    )  # fmt: skip
    demo.add_argument(
        "--latency", type=parse_duration, default=0.0, metavar="DURATION", help="simulate a network: added to every request: 50ms"
    )
    demo.set_defaults(handler=run_demo_command)


def serve_credentials(
    secret_id: Optional[str], secret_key: Optional[str], dialect: str = "cos"
) -> Tuple[Credentials, str]:
    """The credentials ``serve`` accepts and where they came from: the flags, the environment (the
    ``dialect``'s variables: ``COS_SECRET_ID``... or ``OSS_ACCESS_KEY_ID``...), or the documented test key."""
    from .._protocol.credentials import Credentials
    from .._protocol.dialect import dialect_of
    from ..testing.server import TEST_CREDENTIALS

    if secret_id or secret_key:
        if not (secret_id and secret_key):
            raise CosValidationError("--secret-id/--secret-key", "one of them", "both, or neither")
        return Credentials(secret_id, secret_key), "flags"
    try:
        return Credentials.from_env(names=dialect_of(dialect).credential_env), "environment"
    except CosCredentialsError:
        return TEST_CREDENTIALS, "test"


def _seconds_or_none(text: str) -> Optional[float]:
    """``--request-timeout``: a positive duration (``90``, ``10m``: :func:`~cos_multipart._cli.main.parse_duration`), or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        seconds = parse_duration(text)
    except argparse.ArgumentTypeError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive duration (90, 90s, 10m, 1h), or 'none'")
    return seconds


def run_serve(args: argparse.Namespace) -> int:
    """Run the server until Ctrl-C or SIGTERM."""
    from ..testing.faults import Fault
    from ..testing.server import LocalCOS

    credentials, source = serve_credentials(args.secret_id, args.secret_key, args.dialect)
    faults = [Fault.parse(spec) for spec in args.fault]
    if args.max_connections < 1:
        raise CosValidationError("--max-connections", args.max_connections, "an integer >= 1")
    server = LocalCOS(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        bucket=args.bucket[0] if args.bucket else None,
        buckets=args.bucket[1:] if args.bucket else (),
        region=args.region,
        credentials=credentials,
        anonymous=args.anonymous,
        faults=faults,
        bandwidth=args.bandwidth,
        latency=args.latency,
        log_stream=None if args.quiet else sys.stderr,
        request_timeout=args.request_timeout,
        max_connections=args.max_connections,
        tls=args.tls,
        tls_names=args.tls_name,
        dialect=args.dialect,
    )
    stop = threading.Event()
    try:
        server.start()
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise CosValidationError(
            "--port", args.port, f"a free port: {args.port} on {args.host} is in use (another server?); "
            "choose another with --port N, or --port 0 for any free one",
        ) from None  # fmt: skip
    previous = _on_sigterm(stop)
    try:
        with server:
            if args.json:
                _emit(listening_object(server, source, persistent=args.data_dir is not None, faults=faults))
            else:
                _print_banner(server, source, persistent=args.data_dir is not None, faults=faults)
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        _restore_sigterm(previous)
    if args.json:
        _emit({"type": "stopped", "endpoint": server.endpoint})
    else:
        print(f"local {server.rules.service} server stopped", flush=True)
    return 0


def _emit(value: Dict[str, Any]) -> None:
    from .json_output import emit

    emit(value)


def listening_object(server: LocalCOS, source: str, *, persistent: bool, faults: List[Fault]) -> Dict[str, Any]:
    """``serve --json``: what a script needs to use the server (docs/cli.md). The secret key is printed only
    when it is the server's own documented test key, which is public and signs nothing but requests to this
    server; a key from the environment or ``--secret-key`` is the user's and is never printed."""
    return {
        "type": "listening",
        "service": server.dialect,
        "endpoint": server.endpoint,
        "host": server.host,
        "port": server.port,
        "bucket": server.bucket,
        "buckets": list(server.buckets),
        "region": server.region,
        "secret_id": server.credentials.secret_id,
        "secret_key": server.credentials.secret_key if source == "test" else None,
        "credentials": source,
        "anonymous": server.anonymous,
        "data_dir": str(server.data_dir),
        "temporary": not persistent,
        "access_log": str(server.access_log),
        "ca_bundle": None if server.ca_path is None else str(server.ca_path),
        "tls_names": list(server.tls_names) if server.ca_path is not None else [],
        "faults": [str(fault) for fault in faults],
        "pid": os.getpid(),
    }


def _print_banner(server: LocalCOS, source: str, *, persistent: bool, faults: List[Fault]) -> None:
    key_text = {
        "test": f"{server.credentials.secret_key}  (the documented test key)",
        "environment": "<from OSS_ACCESS_KEY_SECRET>" if server.dialect == "oss" else "<from COS_SECRET_KEY>",
        "flags": "<as given by --secret-key>",
    }[source]
    lines = [
        f"Local {server.rules.service} server listening on {server.endpoint}",
        f"  bucket:     {server.bucket}  (Hosts naming no bucket use it)",
        f"  buckets:    {', '.join(server.buckets)}  (others: 404 NoSuchBucket until made with PUT Bucket)",
        f"  region:     {server.region}",
        f"  secret id:  {server.credentials.secret_id}"
        + ("  (signatures not checked: --anonymous)" if server.anonymous else ""),
        f"  secret key: {key_text}",
        f"  data dir:   {server.data_dir}" + ("" if persistent else "  (temporary: removed on exit)"),
        f"  access log: {server.access_log}",
    ]
    if server.ca_path is not None:
        lines.append(f"  CA bundle:  {server.ca_path}  (trust it: --ca-bundle PATH, or REQUESTS_CA_BUNDLE=PATH)")
        lines.append(f"  TLS names:  {', '.join(server.tls_names)}")
    lines.extend(f"  fault:      {fault}" for fault in faults)
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _on_sigterm(stop: threading.Event) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def run_demo_command(args: argparse.Namespace) -> int:
    """Run the end-to-end demo (see :mod:`cos_multipart._cli.demo`)."""
    from .demo import DemoOptions, run_demo

    options = DemoOptions(
        size=args.size,
        part_size=args.part_size,
        threads=args.threads,
        bandwidth=args.bandwidth,
        latency=args.latency,
        progress_bar=sys.stdout.isatty() and not args.quiet,
    )
    return run_demo(options, out=sys.stdout)
