"""The ``cos-multipart`` command line: argument parsing, logging and error reporting shared by commands.

Commands live in their own modules, each exposing ``register(subparsers, parents)`` which adds its
sub-parsers with ``set_defaults(handler=...)``; a handler takes the parsed arguments and returns an exit
code. A command's module is imported, and its parsers built, only when the command is parsed: each command
also has its line in :data:`.catalog.COMMANDS`, which ``--help`` lists. Errors are printed as one line (the
traceback only with ``--verbose``).

Exit codes: 0 success; 1 unexpected failure; 2 bad usage or invalid input (also: nothing to resume, an option
that does not apply to the command); 3 COS answered an error (also: the key exists and --forbid-overwrite is
set; the object does not exist for stat, verify and rm); 4 integrity check failed;
5 connection failure; 6 what was being read changed: an upload's local file (edited, replaced, shorter or longer), a
copy's source object (``cp``/``mv``) or a download's object (``download``/``cat``/``sync`` to a directory) was
replaced meanwhile; nothing was completed; 7 another process is uploading the same
file to the same key; 8 some files of a directory (or some keys of ``rm -r``) failed, the others were done;
9 ``sync --max-delete N``: more than N objects would have been deleted, so none was; 130 interrupted by Ctrl-C (SIGINT); 141 the reader of the output went away (``| head``); 143 stopped by SIGTERM. When a failure keeps a multipart upload for a
resume, one line on stderr says so, with the commands that resume or abort it.

SIGINT and SIGTERM stop a command the same way (:class:`Interrupted`, a ``KeyboardInterrupt``): parts in
flight stop, checkpoints are written, the progress bar stops where it was, and what finished, what was kept
and what was not started is printed. A second signal while stopping is ignored (the stop takes a few seconds
at most; ``kill -9`` ends it at once, keeping what the checkpoint holds).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import sys
import threading

from .. import __version__
from .catalog import Commands
from .._protocol.limits import GB, KB, MB

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see catalog.TYPE_CHECKING)
if TYPE_CHECKING:  # `cos-multipart --help` imports none of them (tests/test_cli_startup.py): each is imported where used
    from types import FrameType
    from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence

    from .._protocol.errors import CosTransportError, KeptUpload

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3
EXIT_INTEGRITY = 4
EXIT_TRANSPORT = 5
EXIT_SOURCE_CHANGED = 6
EXIT_LOCKED = 7
EXIT_PARTIAL = 8
EXIT_INTERRUPTED = 130
#: The reader of the output closed it (``| head``): 128 + SIGPIPE, what a shell reports for its own tools.
EXIT_PIPE_CLOSED = 141
#: 128 + SIGTERM, what a shell reports for a process SIGTERM killed: scripts that test for it keep working.
EXIT_TERMINATED = 143
#: The signals that stop a command in order (checkpoints kept, summary printed), and their exit codes.
STOP_SIGNALS: Dict[int, int] = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}
_SIGNAL_NAMES: Dict[int, str] = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
#: Set by the first stop signal: a second one is ignored while the command stops.
STOPPING = threading.Event()

_COMMAND_MODULES = (
    "cos_multipart._cli.server",
    "cos_multipart._cli.transfer",
    "cos_multipart._cli.dirs",
    "cos_multipart._cli.objects",
    "cos_multipart._cli.check",
    "cos_multipart._cli.config",
    "cos_multipart._cli.completion",
    "cos_multipart._cli.cp",  # cp, mv: server-side copy
    "cos_multipart._cli.download",
)
#: Python argument names that reach the command line in errors, and the flag or operand the user typed.
FLAGS = {
    "part_size": "--part-size",
    "concurrency": "--concurrency",
    "multipart_threshold": "--multipart-threshold",
    "bandwidth_limit": "--bandwidth-limit",
    "traffic_limit": "--traffic-limit",
    "expected_size": "--expected-size",
    "content_type": "--content-type",
    "metadata": "--meta",
    "acl": "--acl",
    "storage_class": "--storage-class",
    "tagging": "--tag",
    "cache_control": "--cache-control",
    "content_disposition": "--content-disposition",
    "content_encoding": "--content-encoding",
    "target": "TARGET (cos://BUCKET/KEY or oss://BUCKET/KEY)",
    "key": "KEY",
    "source": "PATH",
    "local_dir": "DIR",
    "prefix": "PREFIX",
    "include": "--include",
    "exclude": "--exclude",
    "expires": "--expires",
    "method": "--method",
    "retry_time": "--retry-time",
    "max_attempts": "--max-attempts",
    "verify": "--ca-bundle",
    "checkpoint_dir": "--checkpoint-dir",
    "timeout": "--timeout",
    "json": "--json",
}
#: Internal documentation ids ("(436/7750)", "[ref 3.1]") mean nothing to a user of the command line.
_DOC_IDS = re.compile(r"\s*\(\d{3}/\d{3,6}\)|,?\s*\b\d{3}/\d{3,6}\b|\s*\[ref [0-9.]+\]")
#: What to do when a disk the command writes to is full (the checkpoint directory, as a rule).
_FULL_DISK_HINT = (
    "free some space, or keep checkpoints elsewhere with --checkpoint-dir DIR, or keep none with --no-resume "
    "(the upload then cannot be resumed)"
)
_BIT_UNITS = {"": 1, "BIT": 1, "KBIT": 1024, "MBIT": 1024**2, "GBIT": 1024**3}
_UNITS = {
    "": 1, "B": 1,
    "K": KB, "KB": KB, "KIB": KB,
    "M": MB, "MB": MB, "MIB": MB,
    "G": GB, "GB": GB, "GIB": GB,
}  # fmt: skip
#: Seconds per unit of a duration (``parse_duration``); no unit means seconds.
_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
#: A sign is read (not refused here): the option's own check names its range (``--retry-time -1``: ">= 0").
_DURATION = re.compile(r"\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*(ms|s|m|h|d|w)?\s*", re.IGNORECASE)
DURATION_FORMS = "seconds (90, 0.5) or a number with a unit: 500ms, 90s, 15m, 1h, 7d, 2w"


class Interrupted(KeyboardInterrupt):
    """The command was asked to stop by a signal: Ctrl-C (SIGINT) or SIGTERM.

    A ``KeyboardInterrupt``, so every path that handles Ctrl-C (the uploader keeps its upload and writes the
    checkpoint, a directory run attaches its report so far) handles SIGTERM the same way.

    Attributes:
        signum: The signal received.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(_SIGNAL_NAMES.get(signum, f"signal {signum}"))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM."""
        return STOP_SIGNALS.get(self.signum, EXIT_INTERRUPTED)


def _stop_handler(interrupt: Callable[[BaseException], None]) -> Callable[[int, Optional[FrameType]], None]:
    def on_stop_signal(signum: int, frame: Optional[FrameType]) -> None:
        if STOPPING.is_set():
            return  # already stopping: do not break off the checkpoint writes and the summary halfway
        STOPPING.set()
        # Raised here, or kept for the loop that waits for the parts or files to raise at its next turn: raised
        # inside that loop's locks it could leave one held for good (see cos_multipart._drivers._interrupts).
        interrupt(Interrupted(signum))

    return on_stop_signal


def _install_stop_handlers() -> Dict[int, Any]:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` in the main thread; returns the handlers replaced."""
    STOPPING.clear()
    previous: Dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous  # signals are delivered to the main thread only; a caller in a thread keeps its own
    # Imported here, not with this module: building the parser imports no driver (only the standard library).
    from .._drivers._interrupts import interrupt

    handler = _stop_handler(interrupt)
    for signum in STOP_SIGNALS:
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_handlers(previous: Dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def help_columns() -> int:
    """``shutil.get_terminal_size().columns``, the width argparse lays its help out for, without importing shutil
    (and with it bz2, lzma and zlib: milliseconds of every ``--help`` for one number): ``$COLUMNS`` if it is a
    positive number, else the width of the terminal on stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # no stdout, or not a terminal
        return 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's own help layout, at the width it would choose (:func:`help_columns`)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None, **kwargs: Any) -> None:  # fmt: skip
        width = help_columns() - 2 if width is None else width  # argparse leaves 2 columns free, as here
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error (not the whole usage text). Its help and those of the
    commands' parsers (made by ``add_parser``, of this class) are laid out by :class:`_HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> "NoReturn":
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if isinstance(action, Commands) and value not in action.choices:
            # A command catalog.COMMANDS lacks (tests/test_cli_help.py says so) still runs: every module is
            # registered before the name is refused.
            action.load_all()
        super()._check_value(action, value)


def build_parser(*, lazy: bool = False) -> argparse.ArgumentParser:
    """The argument parser, with every command registered.

    Args:
        lazy: Build a command's parser only when the command is parsed (:func:`main`: ``--help`` lists the
            commands without building them, see :mod:`.catalog`); else every command's parser now, for what
            walks the whole parser (shell completion).
    """
    common = _Parser(add_help=False)  # its add_argument() makes a formatter too
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar, errors only")
    common.add_argument(
        "--profile", metavar="NAME", help="settings of the profile NAME in the config file (default: "
        "$COS_MULTIPART_PROFILE, else the profile 'default' if there is one; see: cos-multipart config)",
    )  # fmt: skip
    parser = _Parser(
        prog="cos-multipart",
        description="Fast, verified, resumable multipart uploads to Tencent Cloud COS (cos://BUCKET/KEY) and Aliyun "
        "OSS (oss://BUCKET/KEY; credentials from OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # typeshed types add_subparsers() as returning argparse's own action, whatever action= says
    subparsers: Commands = parser.add_subparsers(dest="command", metavar="COMMAND", action=Commands)  # type: ignore[assignment]
    subparsers.required = True
    subparsers.add_modules(_COMMAND_MODULES, [common])
    if not lazy:
        subparsers.load_all()
    return parser


def exit_code_for(error: BaseException) -> int:
    """The exit code that reports ``error``."""
    from .._protocol.errors import (
        CosCredentialsError,
        CosIntegrityError,
        CosServiceError,
        CosTransportError,
        CosValidationError,
        ObjectChangedError,
        ObjectExistsError,
        ResumeError,
        SourceChangedError,
        UploadLockedError,
    )

    if isinstance(error, Interrupted):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, (CosValidationError, CosCredentialsError, ResumeError)):
        return EXIT_USAGE
    if isinstance(error, SourceChangedError):
        return EXIT_SOURCE_CHANGED
    if isinstance(error, ObjectChangedError):  # the object changed during a download: the same kind of failure
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
    parser = build_parser(lazy=True)
    args = parser.parse_args(list(argv) if argv is not None else None)
    from .logs import configure_logging  # after parsing: --help and --version end before it

    configure_logging(verbose=args.verbose, quiet=args.quiet)
    previous = _install_stop_handlers()
    try:
        from .config import apply_profile

        apply_profile(args)  # flag > environment > profile > default (cos-multipart config show prints it)
        code: int = args.handler(args)
        return code
    except KeyboardInterrupt as error:
        how = _SIGNAL_NAMES.get(error.signum, str(error)) if isinstance(error, Interrupted) else _SIGNAL_NAMES[signal.SIGINT]
        code = exit_code_for(error)
        if getattr(args, "json", False):
            return _json_error(code, f"interrupted by {how}", error, args)
        _report_kept(error, args)
        print(f"cos-multipart: interrupted by {how} (exit {code})", file=sys.stderr)
        return code
    except BrokenPipeError:
        # The reader of our output went away (`cos-multipart ls ... | head`): stop quietly, as the shell's own
        # tools do when SIGPIPE ends them (the transports turn a broken connection into a CosTransportError, so
        # what arrives here is stdout or stderr). Later writes, and the flush at exit, go nowhere.
        _silence_stdout()
        return EXIT_PIPE_CLOSED
    except Exception as error:
        from .._protocol.errors import CosError

        if not isinstance(error, (CosError, OSError)):
            raise
        if args.verbose:
            import traceback

            traceback.print_exc()
        if getattr(args, "json", False):  # the same message, as one JSON object (docs/cli.md, "Errors")
            return _json_error(exit_code_for(error), describe_error(error, _remote(args)), error, args)
        from .text import shown

        print(f"cos-multipart: error: {shown(describe_error(error, _remote(args)))}", file=sys.stderr)
        _report_kept(error, args)
        return exit_code_for(error)
    finally:
        _restore_handlers(previous)


def _remote(args: argparse.Namespace) -> Optional[str]:
    """The command's service target as typed: TARGET, or SRC when TARGET is a local path (``cp cos://B/K LOCAL``)."""
    target, source = getattr(args, "target", None), getattr(args, "source", None)
    if isinstance(target, str) and "://" not in target and isinstance(source, str) and "://" in source:
        return source
    return target if isinstance(target, str) or target is None else str(target)


def _json_error(code: int, message: str, error: BaseException, args: argparse.Namespace) -> int:
    """``--json``: the error as one object on stderr (the upload kept, if any, in it); returns ``code``."""
    from .._protocol.errors import kept_upload_of
    from .json_output import print_error

    print_error(code, message, kept_upload_of(error), args)
    return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file descriptor (captured): nothing to flush at exit
        pass


def _report_kept(error: BaseException, args: Optional[argparse.Namespace] = None) -> None:
    from .._protocol.errors import kept_upload_of

    kept = kept_upload_of(error)
    if kept is not None:
        print(kept_line(kept, args), file=sys.stderr)


def kept_line(kept: KeptUpload, args: Optional[argparse.Namespace] = None) -> str:
    """The line that names an upload kept for a resume, with the commands that resume or abort it, ready to
    paste into a shell (every command prints kept uploads through this one function; control characters in
    names escaped)."""
    from .commands import kept_line as with_commands
    from .text import shown

    return f"cos-multipart: {shown(with_commands(args, kept))}"


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


def parse_duration(text: str) -> float:
    """``"15m"`` -> 900.0 seconds: a number with an optional unit (ms, s, m, h, d, w; none means seconds).

    Raises:
        argparse.ArgumentTypeError: Anything else (argparse names the flag before the message).
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}; allowed: {DURATION_FORMS}")
    return float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "").lower()]


def parse_whole_duration(text: str) -> int:
    """``"1h"`` -> 3600: :func:`parse_duration` for a whole number of seconds (``1.5m`` is 90; ``1.5`` is refused)."""
    seconds = parse_duration(text)
    if seconds != int(seconds):
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}; allowed: {DURATION_FORMS}")
    return int(seconds)


def parse_bit_rate(text: str) -> int:
    """``"8Mbit"`` -> 8388608 bit/s: a number with an optional unit (bit, Kbit, Mbit, Gbit; binary)."""
    value = text.strip().upper().replace("/S", "")
    number = value.rstrip("KMGBIT")
    unit = value[len(number) :].strip()
    try:
        rate = int(float(number) * _BIT_UNITS[unit])
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"not a bit rate: {text!r} (e.g. 819200, 800Kbit, 8Mbit)") from None
    return rate


def describe_error(error: BaseException, target: Optional[str] = None) -> str:
    """One line for the user: flags instead of Python argument names, what failed and what to check
    (``target``: the command's target as typed, whose scheme names the service in the line)."""
    from urllib.parse import urlsplit

    from .._protocol.errors import CosServiceError, CosTLSError, CosTransportError, CosValidationError
    from .._protocol.errors import ObjectChangedError, ObjectExistsError

    if isinstance(error, ObjectExistsError):  # the library's words name its argument and COS's scheme
        scheme = target.partition("://")[0].lower() if target and "://" in target else "cos"
        text = str(error).replace("forbid_overwrite", "--forbid-overwrite")
        return text.replace(f"cos://{error.bucket}/", f"{scheme}://{error.bucket}/", 1)
    if isinstance(error, CosValidationError):
        flag = FLAGS.get(error.field, error.field)
        if error.value == error.field:  # a switch that does not apply: nothing to show but its name
            return _DOC_IDS.sub("", f"{flag}: {error.allowed}")
        if error.value is None or error.value == "":
            return _DOC_IDS.sub("", f"missing {flag}: {error.allowed}")
        shown = error.value if isinstance(error.value, (int, float)) else repr(error.value)
        if error.field == "checkpoint_dir" and os.strerror(errno.ENOSPC) in error.allowed:
            return f"the checkpoint directory {error.value} is full (no space left on the device): {_FULL_DISK_HINT}"
        return _DOC_IDS.sub("", f"{flag} {shown}: {error.allowed}")
    if isinstance(error, CosServiceError) and error.code == "NoSuchBucket" and target and "://" in target:
        # The request line shows the endpoint's URL, which names no bucket: say which one the service lacks.
        bucket = target.partition("://")[2].partition("/")[0]
        return f"no bucket {bucket} at {urlsplit(error.url).netloc or 'the endpoint'}: check the bucket name and --endpoint / --region ({error})"
    if isinstance(error, ObjectChangedError):  # the library's words name the key alone: say which object, and what to do
        where = f"{target.partition('://')[0]}://{target.partition('://')[2].partition('/')[0]}/{error.key}" if target and "://" in target else repr(error.key)
        return (f"the object {where} was replaced during the download (it is no longer ETag {error.etag}): the target was "
                "not touched; run the same command again to download the new object")  # fmt: skip
    if isinstance(error, CosTLSError):
        return error.explain("pass --ca-bundle PATH")  # the library's advice names its verify= argument
    if isinstance(error, CosTransportError):
        return _transport_line(error)
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        where = f" writing {error.filename}" if error.filename else ""
        return f"no space left on the device{where}: {_FULL_DISK_HINT}"
    if isinstance(error, FileNotFoundError):
        return f"no such file: {error.filename}"
    if isinstance(error, PermissionError):
        return f"permission denied: {error.filename}"
    return _DOC_IDS.sub("", _one_line(error))


def _transport_line(error: CosTransportError) -> str:
    from urllib.parse import urlsplit

    from .._protocol.errors import FailureKind

    host = urlsplit(error.url).netloc or "the endpoint"
    text = str(error).lower()
    tries = f" after {error.attempts} attempts" if error.attempts > 1 else ""
    tries += f" over {error.elapsed:.0f} s (see --retry-time)" if tries and error.elapsed >= 1 else ""
    if "name or service not known" in text or "nodename nor servname" in text or "resolution" in text or "getaddrinfo" in text:
        what = f"cannot resolve the host name {host}{tries}: check the bucket, --region or --endpoint, and your DNS"
    elif error.kind is FailureKind.TIMEOUT:
        what = f"no answer from {host} in time{tries}: check --endpoint, your network or proxy, or try again"
    elif "refused" in text:
        what = f"connection to {host} refused{tries}: is the server running, and are --endpoint's scheme and port right?"
    else:
        what = f"connection to {host} failed{tries}: check --endpoint / --region and your network or proxy"
    return f"{what} (use --verbose for the details)"


def is_tty() -> bool:
    """Whether stderr is a terminal (progress bars are drawn only there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _one_line(error: BaseException) -> str:
    lines: List[str] = str(error).splitlines() or [type(error).__name__]
    return " ".join(line.strip() for line in lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
