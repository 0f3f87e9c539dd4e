"""The ``cos-multipart`` command line: argument parsing, logging and error reporting shared by commands.

Commands live in their own modules, each exposing ``register(subparsers, parents)`` which adds its
sub-parsers with ``set_defaults(handler=...)``; a handler takes the parsed arguments and returns an exit
code. Errors are printed as one line (the traceback only with ``--verbose``).

Exit codes: 0 success; 1 unexpected failure; 2 bad usage or invalid input (also: nothing to resume);
3 COS answered an error (also: the key exists and --forbid-overwrite is set); 4 integrity check failed;
5 connection failure; 6 the local file changed during the upload; 7 another process is uploading the same
file to the same key; 130 interrupted (Ctrl-C). When a failure keeps a multipart upload for a resume, one
line on stderr says so, with the commands that resume or abort it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from typing import List, Optional, Sequence

from . import __version__
from .errors import (
    CosCredentialsError,
    CosError,
    CosIntegrityError,
    CosServiceError,
    CosTransportError,
    CosValidationError,
    ObjectExistsError,
    ResumeError,
    SourceChangedError,
    UploadLockedError,
    kept_upload_of,
)
from .limits import GB, KB, MB

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3
EXIT_INTEGRITY = 4
EXIT_TRANSPORT = 5
EXIT_SOURCE_CHANGED = 6
EXIT_LOCKED = 7
EXIT_INTERRUPTED = 130

_COMMAND_MODULES = ("cos_multipart._cli_server", "cos_multipart._cli_transfer")
_UNITS = {
    "": 1, "B": 1,
    "K": KB, "KB": KB, "KIB": KB,
    "M": MB, "MB": MB, "MIB": MB,
    "G": GB, "GB": GB, "GIB": GB,
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command registered."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar, errors only")
    parser = argparse.ArgumentParser(
        prog="cos-multipart",
        description="Fast, verified, resumable multipart uploads to Tencent Cloud COS.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers, [common])
    return parser


def exit_code_for(error: BaseException) -> int:
    """The exit code that reports ``error``."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, (CosValidationError, CosCredentialsError, ResumeError)):
        return EXIT_USAGE
    if isinstance(error, SourceChangedError):
        return EXIT_SOURCE_CHANGED
    if isinstance(error, UploadLockedError):
        return EXIT_LOCKED
    if isinstance(error, ObjectExistsError):
        return EXIT_SERVICE
    if isinstance(error, CosIntegrityError):
        return EXIT_INTEGRITY
    if isinstance(error, CosServiceError):
        return EXIT_SERVICE
    if isinstance(error, CosTransportError):
        return EXIT_TRANSPORT
    return EXIT_FAILURE


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    _configure_logging(verbose=args.verbose, quiet=args.quiet)
    try:
        code: int = args.handler(args)
        return code
    except KeyboardInterrupt as error:
        print("cos-multipart: interrupted", file=sys.stderr)
        _report_kept(error)
        return EXIT_INTERRUPTED
    except (CosError, OSError) as error:
        if args.verbose:
            traceback.print_exc()
        print(f"cos-multipart: error: {_one_line(error)}", file=sys.stderr)
        _report_kept(error)
        return exit_code_for(error)


def _report_kept(error: BaseException) -> None:
    kept = kept_upload_of(error)
    if kept is not None:
        print(f"cos-multipart: {kept.describe()}", file=sys.stderr)


def parse_size(text: str) -> int:
    """``"8MB"`` -> 8388608: a number with an optional binary unit (B, K/KB/KiB, M/MB/MiB, G/GB/GiB)."""
    value = text.strip().upper()
    number = value.rstrip("KMGIB")
    unit = value[len(number) :].strip()
    try:
        size = int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1048576, 8MB, 1.5GB)") from None
    if size < 0:
        raise argparse.ArgumentTypeError(f"a size cannot be negative: {text!r}")
    return size


def _one_line(error: BaseException) -> str:
    lines: List[str] = str(error).splitlines() or [type(error).__name__]
    return " ".join(line.strip() for line in lines)


def _configure_logging(*, verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
