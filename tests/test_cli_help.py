"""``cos-multipart --help``: the text the user reads, kept exactly as it is (the parser behind it is built lazily:
see ``tests/test_cli_startup.py``), and every command's own help the same whether the command line builds one
command's parser or all of them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import types
from typing import Any, Dict, List, Optional, Tuple

import pytest

import cos_multipart
from cos_multipart._cli import catalog
from cos_multipart._cli import main as cli

#: ``cos-multipart --help`` on an 80-column terminal (``COLUMNS=80``), as it was before the parser became lazy
#: (Python 3.10-3.12; every version also compares it with the full parser's, below).
TOP_LEVEL_HELP = """\
usage: cos-multipart [-h] [--version] COMMAND ...

Fast, verified, resumable multipart uploads to Tencent Cloud COS
(cos://BUCKET/KEY) and Aliyun OSS (oss://BUCKET/KEY; credentials from
OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN).

positional arguments:
  COMMAND
    serve     run a local COS-compatible server
    demo      upload a generated file to a local COS server and verify it
    upload    upload a file, stdin or (with -r) a directory, in parallel,
              verified and resumable
    resume    resume an interrupted upload, or list the ones that can be
              resumed
    abort     abort in-progress multipart uploads of a key
    sync      upload what changed in a directory (same size and CRC-64:
              skipped)
    ls        list objects
    uploads   list in-progress multipart uploads
    stat      show an object's size, ETag, CRC-64, storage class, metadata and
              encryption
    rm        delete an object, or everything in a folder with -r
    presign   print a pre-signed URL (GET or PUT) for an object
    verify    check that an object equals a local file (size and CRC-64,
              nothing downloaded)
    check     compare a directory with a prefix by size and CRC-64 (nothing
              downloaded)
    du        objects and bytes under a prefix, by storage class, and its
              incomplete multipart uploads
    config    profiles of settings in the config file: set, unset, list, show,
              path, import
    completion
              print a shell completion script: bash, zsh or fish
    cp        copy an object (or with -r a folder) on the service side,
              verified and resumable
    mv        move an object (or with -r a folder) on the service side,
              verified and resumable
    download  download an object (or with -r a prefix) in parallel ranges,
              verified by CRC-64, resumable
    cat       write an object to stdout, in order, CRC-64 checked at the end
              (exit 4 when it does not match)

options:
  -h, --help  show this help message and exit
  --version   show program's version number and exit
"""


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.main(list(argv))
    assert stop.value.code == 0
    out: str = capsys.readouterr().out
    return out


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="argparse 3.13 indents the list of commands further")
def test_the_top_level_help_is_unchanged(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert _help(capsys, "--help") == TOP_LEVEL_HELP
    assert _help(capsys, "-h") == TOP_LEVEL_HELP


def test_the_top_level_help_is_the_full_parsers(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert _help(capsys, "--help") == cli.build_parser().format_help()


def _commands(parser: argparse.ArgumentParser, words: Tuple[str, ...] = ()) -> Dict[Tuple[str, ...], argparse.ArgumentParser]:
    """Every command and sub-command of ``parser`` (``config`` and ``config set``), by its words."""
    found: Dict[Tuple[str, ...], argparse.ArgumentParser] = {}
    for action in parser._actions:  # argparse offers no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[(*words, name)] = sub
                found.update(_commands(sub, (*words, name)))
    return found


def test_every_commands_help_is_the_full_parsers(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    commands = _commands(cli.build_parser())
    assert len(commands) > 20
    for words, parser in commands.items():
        assert _help(capsys, *words, "--help") == parser.format_help(), words


def test_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _help(capsys, "--version") == f"cos-multipart {cos_multipart.__version__}\n"


def test_the_catalog_names_every_command_with_the_line_its_module_registers() -> None:
    full = cli.build_parser()
    (commands,) = [action for action in full._actions if isinstance(action, argparse._SubParsersAction)]
    registered = {choice.dest: choice.help for choice in commands._choices_actions}
    assert registered == {name: line for name, (_, line) in catalog.COMMANDS.items()}
    assert list(registered) == list(catalog.COMMANDS)  # the order of --help


def test_a_command_is_a_stub_until_it_is_parsed() -> None:
    parser = cli.build_parser(lazy=True)
    (commands,) = [action for action in parser._actions if isinstance(action, catalog.Commands)]
    assert commands.choices["upload"]._actions == []  # a stub: the empty parser every stub shares
    assert commands.choices["upload"] is commands.choices["ls"]
    args = parser.parse_args(["upload", "file", "cos://bucket/key", "--part-size", "8MB"])
    assert args.part_size == 8 * 1024 * 1024 and args.handler is not None
    assert len(commands.choices["resume"]._actions) > 1  # its module's other commands are built with it
    assert commands.choices["ls"]._actions == []


def test_a_module_the_catalog_does_not_name_is_registered_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def register(subparsers: Any, parents: List[argparse.ArgumentParser]) -> None:
        subparsers.add_parser("extra", parents=parents, help="a command of a module the catalog does not know")

    extra = types.ModuleType("cli_help_extra")
    extra.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cli_help_extra", extra)
    parser = argparse.ArgumentParser(prog="cos-multipart")
    commands = parser.add_subparsers(dest="command", action=catalog.Commands)
    assert isinstance(commands, catalog.Commands)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--flag")
    commands.add_modules(["cos_multipart._cli.completion", "cli_help_extra"], [common])
    assert list(commands.choices) == ["completion", "extra"]
    assert commands.choices["completion"]._actions == []  # a stub
    assert [action.dest for action in commands.choices["extra"]._actions] == ["help", "flag"]  # built


def test_a_stale_line_of_the_catalog_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "COMMANDS", {**catalog.COMMANDS, "gone": ("completion", "a command nobody registers")})
    parser = cli.build_parser(lazy=True)
    with pytest.raises(RuntimeError, match="registers no command gone"):
        parser.parse_args(["completion", "bash"])


@pytest.mark.parametrize("columns", [None, "100", "33", "0", "-5", "wide", ""])
def test_the_help_is_as_wide_as_argparse_would_make_it(monkeypatch: pytest.MonkeyPatch, columns: Optional[str]) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert cli.help_columns() == shutil.get_terminal_size().columns


def test_a_command_the_catalog_lacks_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    lacking = {name: line for name, line in catalog.COMMANDS.items() if name != "uploads"}
    monkeypatch.setattr(catalog, "COMMANDS", lacking)  # a new dict: the catalog's order stays for other tests
    parser = cli.build_parser(lazy=True)
    assert parser.parse_args(["uploads", "cos://bucket/"]).handler is not None
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["no-such-command"])
    assert stop.value.code == cli.EXIT_USAGE


def test_an_unknown_command_is_refused_naming_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["no-such-command"])
    assert stop.value.code == cli.EXIT_USAGE
    choices = ", ".join(repr(name) for name in catalog.COMMANDS)
    assert f"invalid choice: 'no-such-command' (choose from {choices})" in capsys.readouterr().err
