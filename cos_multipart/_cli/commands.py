"""What the user typed, read back: which options were given, and the commands the CLI prints for the user to
paste (``resume with: ...``, ``abort with: ...``).

A printed command must work when pasted into a POSIX shell from any directory: every word is quoted with
:func:`shlex.quote`, the file and the checkpoint directory are absolute, and the flags that chose where the
upload went and how it was made (``--endpoint``, ``--region``, ``--checkpoint-dir``, the part size, the object
and encryption options) are repeated, so the resume finds the same checkpoint and the same upload. Secrets are
never on a command line (the SSE-C key is read from the environment), so none is printed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any, Iterable, List, Optional, Sequence

from .text import shown
from .._protocol.errors import CosValidationError, KeptUpload

#: The program name printed in commands.
PROGRAM = "cos-multipart"

#: Options a resume does not repeat: they cannot apply to a resume (stdin, a new upload, a plan or a run).
_NOT_REPEATED = frozenset({"no_resume", "expected_size", "multipart_threshold", "dry_run"})
#: Options whose value is a local path: made absolute so the command works from any directory.
_PATHS = frozenset({"checkpoint_dir"})


def given(args: argparse.Namespace, parsers: Iterable[argparse.ArgumentParser]) -> List[argparse.Action]:
    """The options of ``parsers`` that ``args`` holds with a value other than their default (in order)."""
    found: List[argparse.Action] = []
    for parser in parsers:
        for action in parser._actions:  # argparse offers no public list of a parser's actions
            if not action.option_strings or not hasattr(args, action.dest):
                continue
            if action.dest in getattr(args, "filled_in", {}):  # from the profile or a default, not typed
                continue
            if getattr(args, action.dest) != action.default:
                found.append(action)
    return found


def refuse_given(
    args: argparse.Namespace, parsers: Iterable[argparse.ArgumentParser], why: str, *, allowed: Sequence[str] = ()
) -> None:
    """Refuse the first option of ``parsers`` given in ``args`` (other than those in ``allowed``), naming it.

    Raises:
        CosValidationError: Naming the flag as typed and ``why`` it does not apply.
    """
    for action in given(args, parsers):
        if action.dest not in allowed:
            refuse_option(action.option_strings[-1], getattr(args, action.dest), why)


def refuse_option(flag: str, value: Any, why: str) -> None:
    """An option that does not apply to the command is an error naming it, never ignored.

    Raises:
        CosValidationError: Always.
    """
    if isinstance(value, list) and value:
        value = value[0]
    # A switch has no value to show: the value is the flag itself (cli.describe_error prints "FLAG: why").
    shown = flag if isinstance(value, bool) or value is None or value == [] else value
    raise CosValidationError(flag, shown, why)


def confirm(question: str, what: str) -> bool:
    """Ask ``question`` on the terminal (``[y/N]``, on stderr) before something that deletes ``what`` (e.g. "the
    deletion of 12 objects").

    Raises:
        CosValidationError: Naming ``--yes`` when there is no terminal to ask on.
    """
    if not sys.stdin.isatty():
        raise CosValidationError("--yes", None, f"no terminal to confirm {what}: add --yes (or try --dry-run first)")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _words(action: argparse.Action, value: Any) -> List[str]:
    flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    if value is True:
        return [flag]
    values = value if isinstance(value, list) else [value]
    words: List[str] = []
    for item in values:
        text = os.path.abspath(str(item)) if action.dest in _PATHS else str(item)
        words += [flag, text]
    return words


def repeated_options(args: Optional[argparse.Namespace], dests: Optional[Sequence[str]] = None) -> List[str]:
    """The words of the connection and transfer options given in ``args`` that a resume (or, with ``dests``,
    another command) must repeat, in the order of ``--help``."""
    if args is None:
        return []
    from .transfer import connection_options, transfer_options

    # The profile typed is repeated: what it filled in (endpoint, part size...) is not (see given()).
    words: List[str] = ["--profile", args.profile] if getattr(args, "profile", None) else []
    for action in given(args, [connection_options(), transfer_options()]):
        if action.dest in _NOT_REPEATED or (dests is not None and action.dest not in dests):
            continue
        words += _words(action, getattr(args, action.dest))
    return words


#: How ``$'...'`` writes the control characters it has short escapes for.
_ANSI_C_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", "'": "\\'"}


def _quoted(word: str) -> str:
    if shown(word) == word:
        return shlex.quote(word)
    # A control character cannot be written inside '...' without the character itself, which would move the
    # cursor or break the line, and the printed line escapes it for the eye (a\nb), which '...' would read
    # as a backslash and an n: a file that does not exist. $'...' (bash, zsh, ksh, busybox sh; POSIX.1-2024)
    # writes it as an escape the shell turns back into the byte: octal, 3 digits, read the same everywhere.
    escaped: List[str] = []
    for char in word:
        if char in _ANSI_C_SHORT:
            escaped.append(_ANSI_C_SHORT[char])
        elif shown(char) != char:
            escaped.extend(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogateescape"))
        else:
            escaped.append(char)
    return "$'" + "".join(escaped) + "'"


def command_line(words: Sequence[str]) -> str:
    """``words`` as one POSIX shell line, each word quoted where it needs to be (``$'...'`` for a word with
    a control character, so the line shows none and the shell reads the name back exact)."""
    return " ".join(_quoted(word) for word in words)


def _target(kept: KeptUpload) -> str:
    return f"{kept.service}://{kept.bucket}/{kept.key}"


#: The commands whose kept upload is a server-side copy: it resumes when the same command runs again (the
#: copy's checkpoint is found from its source and destination, and its options must be the same).
_COPY_COMMANDS = frozenset({"cp", "mv"})
#: Options of ``cp``/``mv`` a re-run does not repeat (a kept copy is one object, and a plan writes nothing).
_NOT_REPEATED_COPY = frozenset({"recursive", "dry_run", "no_resume"})


def copy_command(args: argparse.Namespace) -> str:
    """The ``cp``/``mv`` command of ``args`` (its SRC and DST, one object), ready to paste: run again, it resumes
    the copy it kept (its connection, copy and object options repeated, ``-r`` and ``--dry-run`` not)."""
    from .cp import copy_options
    from .transfer import connection_options

    words: List[str] = ["--profile", args.profile] if getattr(args, "profile", None) else []
    for action in given(args, [connection_options(), copy_options()]):
        if action.dest not in _NOT_REPEATED_COPY:
            words += _words(action, getattr(args, action.dest))
    return command_line([PROGRAM, args.command, args.source, args.target, *words])


def resume_command(args: Optional[argparse.Namespace], kept: KeptUpload) -> Optional[str]:
    """The shell command that resumes ``kept`` (``None`` when it was not made from a file: run it again).

    Args:
        args: The parsed command line of the run that kept it (its connection, checkpoint and object options
            are repeated; for a copy, the ``cp``/``mv`` itself), or ``None`` when unknown.
        kept: The kept upload.
    """
    if args is not None and getattr(args, "command", None) in _COPY_COMMANDS:
        return copy_command(args)
    if not kept.source:
        return None
    source = os.path.abspath(kept.source)
    return command_line([PROGRAM, "resume", source, _target(kept), *repeated_options(args)])


def abort_command(args: Optional[argparse.Namespace], kept: KeptUpload) -> str:
    """The shell command that aborts ``kept`` (its parts are deleted, its checkpoint removed)."""
    options = repeated_options(args, ("endpoint", "region", "checkpoint_dir"))
    return command_line([PROGRAM, "abort", _target(kept), kept.upload_id, *options])


def kept_line(args: Optional[argparse.Namespace], kept: KeptUpload) -> str:
    """One line: what was kept and the commands, ready to paste, that resume or abort it."""
    resume = resume_command(args, kept) or "re-run the same upload"
    return (
        f"upload kept: {kept.parts_done}/{kept.parts_total} parts of {_target(kept)} (upload id {kept.upload_id}); "
        f"resume with: {resume}; abort with: {abort_command(args, kept)}"
    )
