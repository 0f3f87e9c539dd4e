"""Move the flat ``cos_multipart`` package into the layered sub-packages of ``tools/layout.toml``.

Run once, from the repository root, on a clean git tree::

    python tools/relayout.py            # git mv + rewrite every reference; prints what it did
    python tools/relayout.py --check    # only verify that the mapping covers every module (exit 1 if not)

What it does, in order:

1. Reads the mapping (old module -> new module, names relative to ``cos_multipart``) and refuses to run if a
   module of the package (``cos_multipart/*.py``, ``cos_multipart/aio/*.py``, a new top-level folder) is not
   in it, listing them all; if the tree is dirty; or if the tree is half moved. A tree already moved is left
   as it is (exit 0), so running it twice is harmless.
2. ``git mv`` each file and writes the ``__init__.py`` of each new sub-package.
3. Rewrites, in the package, tests, bench and examples (Python) and README/docs/bench notes/pyproject (text):

   * import statements, found with ``ast`` and rewritten on their own lines only: relative imports are
     resolved against the module's OLD name and recomputed for its NEW place; ``from cos_multipart import
     <module>`` forms (a module imported as a name of its package) name the module's new package; a
     statement whose names now come from two packages is split;
   * every other ``cos_multipart.<old>`` in the text (absolute imports, ``monkeypatch.setattr`` and ``mock``
     targets, logger names given to ``caplog``, ``importlib.import_module`` strings, ``python -m`` forms, the
     ``[project.scripts]`` entry point, names in docs), except a public name of ``cos_multipart.__all__``
     used as an attribute (``cos_multipart.verify`` is the function, not the module);
   * ``cos_multipart/<old>.py`` paths in docs, and paths joined from literals in Python
     (``PACKAGE / "aio" / "_client.py"``).

Logger names follow the module path (``logging.getLogger(__name__)``); the tests and docs that name a logger
are rewritten with the rest, and the parent logger ``cos_multipart`` is unchanged.

CHANGELOG.md is history and is not rewritten.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10: the mapping is a flat TOML subset
    tomllib = None  # type: ignore[assignment]

ROOT_PACKAGE = "cos_multipart"
#: Folders of the package that are not modules of the mapping: the local server keeps its place.
UNMOVED_FOLDERS = {"testing", "__pycache__"}
PY_DIRS = ("cos_multipart", "tests", "bench", "examples")
TEXT_GLOBS = ("README.md", "docs/**/*.md", "bench/**/*.md", "pyproject.toml")


class RelayoutError(Exception):
    """The move cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class Layout:
    """The mapping file: the sub-packages to create and where each module goes (dotted, under the package)."""

    packages: Dict[str, str]
    modules: Dict[str, str]


def _parse_flat_toml(text: str) -> Dict[str, Dict[str, str]]:
    tables: Dict[str, Dict[str, str]] = {}
    current: Optional[Dict[str, str]] = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = tables.setdefault(header.group(1), {})
            continue
        pair = re.fullmatch(r'"([^"]+)"\s*=\s*"([^"]*)"', line)
        if pair is None or current is None:
            raise RelayoutError(f"layout.toml: cannot read line {line!r}")
        current[pair.group(1)] = pair.group(2)
    return tables


def read_layout(path: Path) -> Layout:
    """Read ``tools/layout.toml``."""
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if tomllib is not None else _parse_flat_toml(text)
    modules = {str(k): str(v) for k, v in data["modules"].items()}
    packages = {str(k): str(v) for k, v in data["packages"].items()}
    return Layout(packages=packages, modules=modules)


def module_file(root: Path, dotted: str) -> Path:
    """The file of a module named relative to the package (``aio`` is ``aio/__init__.py``)."""
    base = root / ROOT_PACKAGE
    if dotted == "__init__":
        return base / "__init__.py"
    parts = dotted.split(".")
    as_package = base.joinpath(*parts) / "__init__.py"
    if as_package.exists():
        return as_package
    return base.joinpath(*parts[:-1]) / f"{parts[-1]}.py"


def flat_modules(root: Path, packages: Iterable[str] = ()) -> Set[str]:
    """Every module the mapping must name: the package's top-level files and folders (but the sub-packages
    of the layout), and aio's files."""
    base = root / ROOT_PACKAGE
    found: Set[str] = set()
    for path in base.iterdir():
        if path.is_file() and path.suffix == ".py":
            found.add(path.stem)
        elif path.is_dir() and path.name not in {*UNMOVED_FOLDERS, *packages} and (path / "__init__.py").exists():
            found.add(path.name)
    aio = base / "aio"
    if aio.is_dir():
        found.update(f"aio.{p.stem}" for p in aio.glob("*.py") if p.stem != "__init__")
    return found


def _full(name: str) -> str:
    return ROOT_PACKAGE if name == "__init__" else f"{ROOT_PACKAGE}.{name}"


class Renamer:
    """Old absolute module names -> new ones, and the rules that follow from them."""

    def __init__(self, layout: Layout, public_names: Set[str]) -> None:
        self.moves: Dict[str, str] = {
            _full(old): _full(new) for old, new in layout.modules.items() if old != new and old != "__init__"
        }
        #: Old modules of a package that stays (aio/_driver.py leaves aio): needed to tell a package's
        #: submodule from a name it defines in ``from pkg import x``.
        self.old_modules: Set[str] = {_full(old) for old in layout.modules}
        self.public_names = public_names
        # Longest first, so cos_multipart.aio._driver is renamed before any shorter prefix could be.
        olds = sorted(self.moves, key=len, reverse=True)
        self._dotted = re.compile(r"(?<![\w.])(" + "|".join(re.escape(o) for o in olds) + r")(?![\w])(\.?)")
        paths = sorted((o.replace(".", "/") for o in olds), key=len, reverse=True)
        self._paths = re.compile(r"(?<![\w/])(" + "|".join(re.escape(p) for p in paths) + r")(\.py|/__init__\.py)\b")

    def joined_paths(self, text: str) -> str:
        """Paths built from string literals in Python, ``PACKAGE / "aio" / "_client.py"``, of a module that moves."""

        def one(match: "re.Match[str]") -> str:
            parts = re.findall(r'"([\w.]+)"', match.group(0))
            full = ".".join([ROOT_PACKAGE, *parts])[: -len(".py")]
            if full not in self.moves:
                return match.group(0)
            new = self.moves[full][len(ROOT_PACKAGE) + 1 :].split(".")
            return " / ".join(f'"{part}"' for part in [*new[:-1], new[-1] + ".py"])

        return re.sub(r'"\w+"(?:\s*/\s*"\w+")*\s*/\s*"\w+\.py"', one, text)

    def module(self, name: str) -> str:
        """The new name of a module, or of a module inside a moved folder (a sub-package moves whole)."""
        if name in self.moves:
            return self.moves[name]
        for old in sorted(self.moves, key=len, reverse=True):
            if name.startswith(old + "."):
                return self.moves[old] + name[len(old) :]
        return name

    def text(self, text: str, public: bool = False) -> str:
        """Every dotted ``cos_multipart.<old>`` and ``cos_multipart/<old>.py`` in a text.

        With ``public`` (docs, README, examples: what users read and copy), a public name reached through a
        module that moves is written as the package's own (``cos_multipart.errors.kept_upload_of`` ->
        ``cos_multipart.kept_upload_of``; ``from cos_multipart.uploader import upload_file`` -> ``from
        cos_multipart import upload_file``). Tests and the package keep the defining module: a monkeypatch
        target must name the module that looks the name up.
        """

        def dotted(match: "re.Match[str]") -> str:
            old, dot = match.group(1), match.group(2)
            short = old[len(ROOT_PACKAGE) + 1 :]
            if not dot and short in self.public_names:
                return match.group(0)  # cos_multipart.verify: the public function, not the module
            if public and dot:
                name = re.match(r"\w+", text[match.end() :])
                if name and name.group(0) in self.public_names:
                    return ROOT_PACKAGE + "."
            return self.moves[old] + dot

        def public_import(match: "re.Match[str]") -> str:
            names = [n.strip() for n in match.group(3).split(",")]
            if match.group(2) in self.moves and all(n.split(" as ")[0].strip() in self.public_names for n in names):
                return f"{match.group(1)}from {ROOT_PACKAGE} import {match.group(3)}"
            return match.group(0)

        def path(match: "re.Match[str]") -> str:
            new = self.moves[match.group(1).replace("/", ".")].replace(".", "/")
            return new + match.group(2)

        if not self.moves:
            return text
        if public:
            text = re.sub(r"(?m)^(\s*)from (cos_multipart\.[\w.]+) import ([\w ,]+)$", public_import, text)
        return self._paths.sub(path, self._dotted.sub(dotted, text))


def _package_of(module: str, is_package: bool) -> List[str]:
    parts = module.split(".")
    return parts if is_package else parts[:-1]


def _relative(from_package: List[str], target: str) -> Tuple[int, str]:
    """The level and module of a relative import of ``target`` from inside ``from_package``."""
    goal = target.split(".")
    common = 0
    while common < min(len(from_package), len(goal)) and from_package[common] == goal[common]:
        common += 1
    if common == 0:
        raise RelayoutError(f"{target} is outside {'.'.join(from_package)}: not a relative import")
    return len(from_package) - common + 1, ".".join(goal[common:])


def _resolve(node: ast.ImportFrom, old_package: List[str]) -> str:
    base = old_package[: len(old_package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _alias_text(alias: ast.alias) -> str:
    return alias.name + (f" as {alias.asname}" if alias.asname else "")


class Rewriter:
    """Rewrites the import statements of one Python file, then its dotted names."""

    def __init__(self, renamer: Renamer, root: Path) -> None:
        self.renamer = renamer
        self.root = root

    def _is_module(self, dotted: str) -> bool:
        """Was ``dotted`` a module (or package) of the tree before the move."""
        if dotted in self.renamer.old_modules or dotted in self.renamer.moves:
            return True
        rel = dotted.split(".")
        if rel[0] != ROOT_PACKAGE:
            return False
        path = self.root.joinpath(*rel)
        return path.with_suffix(".py").exists() or (path / "__init__.py").exists()

    def _targets(self, source: str, names: Sequence[ast.alias]) -> List[Tuple[str, List[str]]]:
        """Group the names of ``from <source> import names`` by the new module each comes from."""
        groups: Dict[str, List[str]] = {}
        for alias in names:
            sub = f"{source}.{alias.name}"
            public = source == ROOT_PACKAGE and alias.name in self.renamer.public_names
            if alias.name != "*" and not public and self._is_module(sub) and self.renamer.module(sub) != sub:
                new = self.renamer.module(sub)
                package, _, leaf = new.rpartition(".")
                text = leaf if leaf == alias.name and not alias.asname else f"{leaf} as {alias.asname or alias.name}"
                groups.setdefault(package, []).append(text)
            else:
                groups.setdefault(self.renamer.module(source), []).append(_alias_text(alias))
        return list(groups.items())

    def rewrite(
        self, text: str, old_module: Optional[str], new_module: Optional[str], is_package: bool, public: bool = False
    ) -> str:
        tree = ast.parse(text)
        lines = text.splitlines(keepends=True)
        edits: List[Tuple[int, int, str]] = []
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                if old_module is None or new_module is None:
                    continue
                source = _resolve(node, _package_of(old_module, is_package))
                new_package = _package_of(new_module, is_package)
            elif node.module and (node.module == ROOT_PACKAGE or node.module.startswith(ROOT_PACKAGE + ".")):
                source, new_package = node.module, []
                if public and node.module in self.renamer.moves:
                    continue  # the text pass writes it from the package when every name is public
            else:
                continue
            groups = self._targets(source, node.names)
            statements = []
            for target, names in groups:
                if node.level:
                    level, rest = _relative(new_package, target)
                    head = "." * level + rest
                else:
                    head = target
                statements.append((head, names))
            original_head = "." * node.level + (node.module or "")
            unchanged_names = [_alias_text(alias) for alias in node.names]
            if len(statements) == 1 and statements[0] == (original_head, unchanged_names):
                continue  # nothing moves for this statement (absolute names are left to the dotted pass)
            rendered = self._render(lines, node, statements, unchanged_names)
            edits.append((node.lineno, node.end_lineno or node.lineno, rendered))
        for start, end, replacement in sorted(edits, reverse=True):
            lines[start - 1 : end] = [replacement]
        return self.renamer.text(self.renamer.joined_paths(self.imports_in_strings("".join(lines))), public=public)

    def imports_in_strings(self, text: str) -> str:
        """``from cos_multipart import <module>`` lines the ast pass did not see: code in strings (``python -c``).

        Import statements were rewritten before, so what still has this form imports public names or modules
        that stay; only a moved module is rewritten.
        """

        def one(match: "re.Match[str]") -> str:
            indent, source, names = match.group(1), match.group(2), match.group(3)
            aliases = []
            for text_name in names.split(","):
                name, _, asname = text_name.strip().partition(" as ")
                aliases.append(ast.alias(name=name.strip(), asname=asname.strip() or None))
            subs = [f"{source}.{alias.name}" for alias in aliases]
            if not any(self._is_module(sub) and self.renamer.module(sub) != sub for sub in subs):
                return match.group(0)  # no module among the names: the dotted pass renames the source, if it moves
            groups = self._targets(source, aliases)
            return "\n".join(f"{indent}from {head} import {', '.join(parts)}" for head, parts in groups)

        pattern = r"(?m)^([ \t]*)from (" + re.escape(ROOT_PACKAGE) + r"(?:\.\w+)*) import ([\w ,]+?)[ \t]*$"
        return re.sub(pattern, one, text)

    @staticmethod
    def _render(
        lines: List[str], node: ast.ImportFrom, statements: List[Tuple[str, List[str]]], names: List[str]
    ) -> str:
        first = lines[node.lineno - 1]
        last = lines[(node.end_lineno or node.lineno) - 1]
        indent = first[: node.col_offset]
        before = first[: node.col_offset]
        after = last[node.end_col_offset or len(last.rstrip("\n")) :]
        if len(statements) == 1 and statements[0][1] == names:
            # One source: change only the module after "from", keep names, parentheses and comments as written.
            segment = "".join(lines[node.lineno - 1 : node.end_lineno or node.lineno])
            pattern = re.compile(r"(from\s+)" + re.escape("." * node.level + (node.module or "")) + r"(\s+import\b)")
            changed, count = pattern.subn(lambda m: m.group(1) + statements[0][0] + m.group(2), segment, count=1)
            if count == 1:
                return changed
        if before.strip():
            raise RelayoutError(f"line {node.lineno}: an import after other code on its line cannot be split")
        rendered = [f"{indent}from {head} import {', '.join(names)}" for head, names in statements]
        return "\n".join(rendered) + after


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout  # noqa: S603,S607


def public_names(root: Path) -> Set[str]:
    """The names of ``cos_multipart.__all__``, read without importing the package."""
    tree = ast.parse((root / ROOT_PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            value = ast.literal_eval(node.value)
            return {str(name) for name in value}
    return set()


def missing_from(layout: Layout, root: Path) -> List[str]:
    return sorted(flat_modules(root, layout.packages) - set(layout.modules))


def state(layout: Layout, root: Path) -> str:
    """'flat', 'moved', or 'mixed' (some files moved, some not)."""
    moves = {old: new for old, new in layout.modules.items() if old != new}
    olds = [module_file(root, old).exists() for old in moves]
    news = [module_file(root, new).exists() for new in moves.values()]
    if all(olds) and not any(news):
        return "flat"
    if all(news) and not any(olds):
        return "moved"
    return "mixed"


def python_files(root: Path) -> Iterable[Path]:
    for folder in PY_DIRS:
        yield from sorted((root / folder).rglob("*.py"))


def text_files(root: Path) -> Iterable[Path]:
    seen: Set[Path] = set()
    for pattern in TEXT_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path not in seen and path.is_file():
                seen.add(path)
                yield path


def private_references(root: Path, layout: Layout) -> List[str]:
    """Lines of docs, README and examples that name a module inside a private sub-package."""
    pattern = re.compile(
        re.escape(ROOT_PACKAGE) + r"[./](?:" + "|".join(re.escape(p) for p in layout.packages) + r")[./][\w./]*"
    )
    found: List[str] = []
    paths = [*text_files(root), *sorted((root / "examples").rglob("*.py"))]
    for path in paths:
        if path.suffix == ".toml":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in pattern.finditer(line):
                found.append(f"{path.relative_to(root)}:{number}: {match.group(0)}")
    return found


def relayout(root: Path, layout_path: Path, check_only: bool = False) -> int:
    layout = read_layout(layout_path)
    missing = missing_from(layout, root)
    if missing:
        raise RelayoutError(
            "modules not in " + str(layout_path) + " (give each a line under [modules], then run again):\n  "
            + "\n  ".join(missing)
        )
    unknown = sorted({new.split(".")[0] for new in layout.modules.values() if "." in new} - set(layout.packages) - {"aio"})
    if unknown:
        raise RelayoutError(f"sub-packages used in [modules] but not listed in [packages]: {', '.join(unknown)}")
    gone = sorted(
        old
        for old, new in layout.modules.items()
        if not module_file(root, old).exists() and not module_file(root, new).exists()
    )
    if gone:
        # A line for a module this tree does not have (removed since, or on a branch not merged yet): skipped.
        print("in the mapping but not in this tree (skipped): " + ", ".join(gone))
        layout = Layout(packages=layout.packages, modules={k: v for k, v in layout.modules.items() if k not in gone})
    current = state(layout, root)
    if check_only:
        print(f"mapping covers every module; the tree is {current}")
        return 0
    if current == "moved":
        print("already moved: nothing to do")
        return 0
    if current == "mixed":
        raise RelayoutError("the tree is half moved (some old and some new files exist): reset it and run again")
    if _git(root, "status", "--porcelain", "--untracked-files=no").strip():
        raise RelayoutError("the git tree has uncommitted changes: commit them first, so the move is one diff")

    renamer = Renamer(layout, public_names(root))
    rewriter = Rewriter(renamer, root)
    old_of_file: Dict[Path, Tuple[str, bool]] = {}
    for path in (root / ROOT_PACKAGE).rglob("*.py"):
        rel = path.relative_to(root).with_suffix("").parts
        is_package = rel[-1] == "__init__"
        old_of_file[path] = (".".join(rel[:-1] if is_package else rel), is_package)

    # Rewrite every file at its old place (the old names resolve there), then move.
    rewritten = 0
    for path in python_files(root):
        text = path.read_text(encoding="utf-8")
        named = old_of_file.get(path)
        if named is None:
            public = path.relative_to(root).parts[0] == "examples"
            new_text = rewriter.rewrite(text, None, None, False, public=public)
        else:
            old_name, is_package = named
            new_text = rewriter.rewrite(text, old_name, renamer.module(old_name), is_package)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            rewritten += 1
    for path in text_files(root):
        text = path.read_text(encoding="utf-8")
        new_text = renamer.text(rewriter.imports_in_strings(text), public=path.suffix == ".md")
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            rewritten += 1

    for package, doc in layout.packages.items():
        init = root / ROOT_PACKAGE / package / "__init__.py"
        init.parent.mkdir(exist_ok=True)
        init.write_text(f'"""{doc}"""\n', encoding="utf-8")
        _git(root, "add", str(init.relative_to(root)))
    moved = 0
    for old, new in layout.modules.items():
        if old == new:
            continue
        source, target = module_file(root, old), module_file(root, new)
        if source.name == "__init__.py":  # a folder of the flat package moves whole, as a package
            source, target = source.parent, root / ROOT_PACKAGE / Path(*new.split("."))
        target.parent.mkdir(parents=True, exist_ok=True)
        _git(root, "mv", str(source.relative_to(root)), str(target.relative_to(root)))
        moved += 1
    _git(root, "add", "-u")
    print(f"moved {moved} modules into {len(layout.packages)} sub-packages; rewrote {rewritten} files")
    private = private_references(root, layout)
    if private:
        print("what users read still names private modules (export the name, or reword):")
        print("\n".join(f"  {line}" for line in private))
    print("next: pip install -e . (the console script's entry point moved), ruff, mypy, pytest; then commit")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    parser.add_argument("--layout", type=Path, default=None, help="the mapping (default: tools/layout.toml)")
    parser.add_argument("--check", action="store_true", help="only check that the mapping covers every module")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        return relayout(root, args.layout or root / "tools" / "layout.toml", check_only=args.check)
    except RelayoutError as error:
        print(f"relayout: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
