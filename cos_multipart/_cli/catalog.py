"""The commands of ``cos-multipart`` by name, and the sub-parsers action that builds a command's parser only when
the command is chosen.

``cos-multipart --help`` lists the commands; it does not need their flags. Building every command's parser (some
300 flags over ten modules, and the modules' own imports) was most of the start-up's CPU, paid by every run. So the
top-level parser holds, for each command, a stub that carries its name and its line of ``--help`` (from
:data:`COMMANDS`, which imports nothing); the command's module is imported, and its ``register`` builds the real
parsers, when the command is parsed (``cos-multipart upload ...``, ``cos-multipart upload --help``).
:meth:`Commands.load_all` builds every one, for what walks the whole parser (shell completion, tests).

``tests/test_cli_help.py`` checks that the lines here are those the modules register, and that the top-level help
is the full parser's.
"""

from __future__ import annotations

import argparse
import importlib

#: ``typing.TYPE_CHECKING`` without importing :mod:`typing` (milliseconds of every start-up, and ``--help`` needs
#: nothing of it): type checkers take any name ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

#: Where the command modules are.
PACKAGE = "cos_multipart._cli"

#: Each command, in the order of ``--help``: the module (in :data:`PACKAGE`) whose ``register`` adds it, and its
#: line in ``cos-multipart --help`` (the ``help=`` the module passes to ``add_parser``). A command module that
#: has no line here is registered when the parser is built, as before (correct, only slower).
COMMANDS: Dict[str, Tuple[str, str]] = {
    "serve": ("server", "run a local COS-compatible server"),
    "demo": ("server", "upload a generated file to a local COS server and verify it"),
    "upload": ("transfer", "upload a file, stdin or (with -r) a directory, in parallel, verified and resumable"),
    "resume": ("transfer", "resume an interrupted upload, or list the ones that can be resumed"),
    "abort": ("transfer", "abort in-progress multipart uploads of a key"),
    "sync": ("dirs", "upload what changed in a directory (same size and CRC-64: skipped)"),
    "ls": ("objects", "list objects"),
    "uploads": ("objects", "list in-progress multipart uploads"),
    "stat": ("objects", "show an object's size, ETag, CRC-64, storage class, metadata and encryption"),
    "rm": ("objects", "delete an object, or everything in a folder with -r"),
    "presign": ("objects", "print a pre-signed URL (GET or PUT) for an object"),
    "verify": ("objects", "check that an object equals a local file (size and CRC-64, nothing downloaded)"),
    "check": ("check", "compare a directory with a prefix by size and CRC-64 (nothing downloaded)"),
    "du": ("check", "objects and bytes under a prefix, by storage class, and its incomplete multipart uploads"),
    "config": ("config", "profiles of settings in the config file: set, unset, list, show, path, import"),
    "completion": ("completion", "print a shell completion script: bash, zsh or fish"),
    "cp": ("cp", "copy an object (or with -r a folder) on the service side, verified and resumable"),
    "mv": ("cp", "move an object (or with -r a folder) on the service side, verified and resumable"),
    "download": ("download", "download an object (or with -r a prefix) in parallel ranges, verified by CRC-64, resumable"),
    "cat": ("download", "write an object to stdout, in order, CRC-64 checked at the end (exit 4 when it does not match)"),
}  # fmt: skip


class Commands(argparse._SubParsersAction):  # type: ignore[type-arg]  # generic only in typeshed
    """The top-level parser's sub-parsers: a stub per command until the command is parsed, then its real parser.

    A stub is the command's name and its line of ``--help`` (what argparse keeps for each command's help), the name
    mapped to one empty parser shared by every stub (never parsed with), so ``--help``, the usage line and the
    error for an unknown command read as with every parser built, and cost no parser each. The real parser replaces
    the stub in place (same name, same line in ``--help``) when its module's ``register`` adds it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Command name -> the module whose ``register`` builds its parser, for the commands still stubs.
        self._pending: Dict[str, str] = {}
        self._parents: List[argparse.ArgumentParser] = []
        self._stub = argparse.ArgumentParser(add_help=False)

    def add_modules(self, modules: Sequence[str], parents: List[argparse.ArgumentParser]) -> None:
        """Add the commands of ``modules`` (full module names), in order: stubs for those :data:`COMMANDS` names,
        the module registered at once for a module it does not name."""
        self._parents = parents
        for module in modules:
            names = [name for name, (where, _) in COMMANDS.items() if f"{PACKAGE}.{where}" == module]
            if not names:
                importlib.import_module(module).register(self, parents)
            for name in names:  # what add_parser(name, help=...) keeps, less the parser
                self._choices_actions.append(self._ChoicesPseudoAction(name, (), COMMANDS[name][1]))
                self._name_parser_map[name] = self._stub
                self._pending[name] = module

    def load(self, name: str) -> None:
        """Build the real parser of command ``name`` (and of the other commands of its module) if still a stub.

        Raises:
            RuntimeError: The module did not register a command :data:`COMMANDS` gives it (a stale line there).
        """
        module = self._pending.get(name)
        if module is None:
            return
        importlib.import_module(module).register(self, self._parents)
        stale = sorted(command for command, where in self._pending.items() if where == module)
        if stale:
            raise RuntimeError(f"{module} registers no command {', '.join(stale)}: update {__name__}.COMMANDS")

    def load_all(self) -> None:
        """Build the real parser of every command (shell completion and tests walk them all)."""
        for name in list(self._pending):
            self.load(name)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """As ``argparse`` does; a stub of the same name is replaced, its line in ``--help`` taking the real one."""
        if self._pending.pop(name, None) is None:
            return super().add_parser(name, **kwargs)  # type: ignore[no-any-return]
        place = next(index for index, choice in enumerate(self._choices_actions) if choice.dest == name)
        del self._name_parser_map[name]
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        if "help" in kwargs:  # argparse appended the real line: it goes where the stub's was
            self._choices_actions[place] = self._choices_actions.pop()
        return parser

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: Optional[str] = None,
    ) -> None:
        if values:  # the command's name, then its arguments
            self.load(values[0])
        super().__call__(parser, namespace, values, option_string)
