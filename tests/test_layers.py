"""Imports point down the layers of docs/layout.md, and the local server imports none of the client's rules.

Every module of the package is parsed with ``ast`` (nothing is imported). A module's layer is its sub-package
(``_protocol``, ``_core``, ``_io``, ``_drivers``, ``_cli``, ``testing``) or, for the public modules at the top,
the table ``TOP`` below. Before the move (the flat package) each module is first renamed through
``tools/layout.toml``, the table ``tools/relayout.py`` moves it by, so the same rules hold on both trees.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

import cos_multipart

PACKAGE = Path(cos_multipart.__file__).parent
LAYOUT = Path(__file__).resolve().parents[1] / "tools" / "layout.toml"

#: The client's layers, bottom first: a module imports from its own layer and the ones before it, never after.
LAYERS: Tuple[str, ...] = (
    "_protocol",  # pure COS/OSS rules: limits, errors, values, signers, dialects, builders and parsers
    "_core",  # the upload as values and decisions: plans, sessions, receipts, configuration
    "_io",  # sockets and files: transports, clients, sources, part readers, checkpoints, locks
    "_drivers",  # executors: threads, asyncio, directory runs, the cluster and its worker steps
    "public",  # the package's public faces that gather the layers below (cos_multipart, cos_multipart.aio)
    "_cli",  # the command line
)
#: The layer of each module left at the top of the package (every one of them is public and has __all__).
TOP: Dict[str, str] = {
    "": "public",
    "aio": "public",
    "cluster": "_drivers",
    "remote": "_drivers",
    "__main__": "_cli",
}
#: The local server is its own stack beside the client. It may hand a user a client (LocalCOS.client()) and
#: raise the client's exceptions, and nothing more: its rules (signatures, limits, checksums, XML) are its own,
#: so that a wrong rule in the client fails against it instead of being confirmed by it.
TESTING_MAY_IMPORT: Set[str] = {"", "_protocol.errors", "_protocol.credentials", "_protocol.retry", "_io.client",
                                "_io.transport"}  # fmt: skip
#: Only the command line may start the local server (serve, demo); no other client module imports it.
MAY_IMPORT_TESTING: Set[str] = {"_cli"}
#: Libraries that do I/O or run concurrency of their own: never in the pure layers.
#: (``http`` alone is HTTPStatus, a table of numbers; ``http.client`` is the socket code.)
IO_LIBRARIES = {"requests", "urllib3", "aiohttp", "httpx", "http.client", "http.server", "socket", "ssl",
                "asyncio", "concurrent", "subprocess", "distributed", "dask", "selectors"}  # fmt: skip
HTTP_LIBRARIES = {"requests", "urllib3", "aiohttp", "httpx", "http.client"}
#: The HTTP library stays behind one seam: the transports and the requests auth adapter. The local server has
#: an HTTP stack of its own.
HTTP_ALLOWED = {"_io.transport", "_io._requests_engine", "_io._requests_auth", "_io.aio_transport", "_io._prepare"}  # _prepare: the transport's requests
#: Modules outside the seam that still import an HTTP library, with the reason (none today: the clients
#: return a neutral stream). Delete a line when its import goes (test_known_exceptions_are_still_needed says so).
KNOWN_HTTP: Set[str] = set()
#: Only the cluster driver imports the cluster engine.
ENGINE_ALLOWED = {"cluster"}

#: Imports that point the wrong way today, each with the reason it is still there. Issue 21 removes most of
#: them (the core takes no client, the local server keeps its own rules); delete a line when its import goes
#: (test_known_exceptions_are_still_needed says which), never add one without a reason in docs/layout.md.
KNOWN_EXCEPTIONS: Set[Tuple[str, str]] = {
    # The core still names I/O types: the config carries the checkpoint store and the bandwidth cap; the
    # decisions tell sources apart by type and write the kept upload's checkpoint path; the parts' protocol
    # names the source's body type.
    ("_core._config", "_io.checkpoint"),
    ("_core._config", "_io.ratelimit"),
    ("_core._decisions", "_io._sources"),
    ("_core._decisions", "_io.checkpoint"),
    ("_core.parts", "_io._sources"),
    # The transport reads __version__ from the package for its User-Agent.
    ("_io.transport", ""),
    # signer.CosAuth, the auth adapter's old home, is answered lazily from the transport side (module __getattr__).
    ("_protocol.signer", "_io._requests_auth"),
}


def read_mapping(path: Path) -> Dict[str, str]:
    """The [modules] table of tools/layout.toml: old module -> new module, relative to the package."""
    table: Dict[str, str] = {}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "modules" and (pair := re.fullmatch(r'"([^"]+)"\s*=\s*"([^"]*)"', line)):
            table[pair.group(1)] = "" if pair.group(2) == "__init__" else pair.group(2)
    return table


MAPPING: Dict[str, str] = read_mapping(LAYOUT) if LAYOUT.exists() else {}


def module_names() -> Iterator[Tuple[str, Path, bool]]:
    """(name relative to the package, file, is a package's __init__) for every module."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        yield ".".join(parts[:-1] if is_package else parts), path, is_package


def exists(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split(".")) if name else PACKAGE
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def imports_of(name: str, path: Path, is_package: bool) -> Tuple[Set[str], Set[str]]:
    """The package's modules this one imports (relative to the package; "" is the package) and the others."""
    own: Set[str] = set()
    others: Set[str] = set()
    here = name.split(".") if name else []
    package = here if is_package else here[:-1]
    for node in ast.walk(parsed(path)):
        targets: List[Tuple[str, List[str]]] = []
        if isinstance(node, ast.Import):
            targets = [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                absolute = ".".join(["cos_multipart", *base, *([node.module] if node.module else [])])
            else:
                absolute = node.module or ""
            targets = [(absolute, [alias.name for alias in node.names])]
        for absolute, names in targets:
            if absolute != "cos_multipart" and not absolute.startswith("cos_multipart."):
                others.add(absolute)
                continue
            module = absolute[len("cos_multipart.") :] if absolute != "cos_multipart" else ""
            subs = [f"{module}.{n}".lstrip(".") for n in names if exists(f"{module}.{n}".lstrip("."))]
            own.update(subs or [module])
            if subs and len(subs) < len(names):
                own.add(module)
    return own, others


def new_name(name: str) -> str:
    """The module's name in the layered tree (itself once moved)."""
    return MAPPING.get(name, name) if name else ""


def layer_of(name: str) -> Optional[str]:
    first = name.split(".")[0]
    if first in LAYERS or first == "testing":
        return first
    return TOP.get(name)


def edges() -> Iterator[Tuple[str, str]]:
    """(importer, imported) for every import between the package's modules, in the layered tree's names."""
    for name, path, is_package in module_names():
        own, _ = imports_of(name, path, is_package)
        for target in own:
            if target != name:
                yield new_name(name), new_name(target)


def wrong_way(importer: str, imported: str) -> Optional[str]:
    """Why ``importer`` may not import ``imported``, or None when it may."""
    high, low = layer_of(importer), layer_of(imported)
    if high is None or low is None:
        return None  # reported by test_every_module_has_a_layer
    if high == "testing":
        if low == "testing" or imported in TESTING_MAY_IMPORT:
            return None
        return "the local server imports a client module beyond a client and its errors"
    if low == "testing":
        return None if high in MAY_IMPORT_TESTING else "a client module imports the local server"
    if LAYERS.index(low) > LAYERS.index(high):
        return f"{high} imports from {low}, a layer above it"
    return None


def test_the_mapping_is_there() -> None:
    if not LAYOUT.exists():
        pytest.skip("tools/layout.toml is not in this checkout (an installed package)")
    assert MAPPING, "tools/layout.toml has no [modules] table"


def test_every_module_has_a_layer() -> None:
    # A module added to the flat package needs a line in tools/layout.toml (the move needs it too); one added
    # after the move belongs in a sub-package, or in TOP if it is public.
    homeless = sorted(new_name(name) or "__init__" for name, _, _ in module_names() if layer_of(new_name(name)) is None)
    assert homeless == [], f"modules without a layer (add them to tools/layout.toml or a sub-package): {homeless}"


def test_imports_point_down_the_layers() -> None:
    found = sorted(
        f"{importer} -> {imported}: {reason}"
        for importer, imported in set(edges())
        if (importer, imported) not in KNOWN_EXCEPTIONS and (reason := wrong_way(importer, imported))
    )
    assert found == []


def test_known_exceptions_are_still_needed() -> None:
    current = set(edges())
    gone = sorted(f"{a} -> {b}" for a, b in KNOWN_EXCEPTIONS if (a, b) not in current or not wrong_way(a, b))
    assert gone == [], f"these imports are gone or allowed now: delete them from KNOWN_EXCEPTIONS: {gone}"
    http_users = set()
    for name, path, is_package in module_names():
        _, others = imports_of(name, path, is_package)
        if {other.split(".")[0] for other in others} & HTTP_LIBRARIES or others & HTTP_LIBRARIES:
            http_users.add(new_name(name))
    assert KNOWN_HTTP - http_users == set(), "these no longer import an HTTP library: delete them from KNOWN_HTTP"


@pytest.mark.parametrize("name", sorted(name for name, _, _ in module_names()), ids=lambda n: n or "__init__")
def test_pure_layers_do_no_io_and_http_stays_behind_the_transports(name: str) -> None:
    path = PACKAGE.joinpath(*name.split(".")) if name else PACKAGE
    is_package = (path / "__init__.py").exists()
    _, others = imports_of(name, path / "__init__.py" if is_package else path.with_suffix(".py"), is_package)
    roots = {other.split(".")[0] for other in others} | others
    layered, layer = new_name(name), layer_of(new_name(name))
    problems = []
    if layer in ("_protocol", "_core"):
        problems += [f"{layer} imports {lib}" for lib in sorted(roots & IO_LIBRARIES)]
    if layer != "testing" and layered not in HTTP_ALLOWED | KNOWN_HTTP:
        problems += [f"imports the HTTP library {lib}" for lib in sorted(roots & HTTP_LIBRARIES)]
    if layered not in ENGINE_ALLOWED:
        problems += [f"imports the cluster engine {lib}" for lib in sorted(roots & {"distributed", "dask"})]
    assert problems == []


@pytest.mark.parametrize("name", sorted([*(n for n in TOP if n != "__main__"), "testing"]), ids=lambda n: n or "__init__")
def test_every_public_module_says_what_it_exports(name: str) -> None:
    # Everything at the top of the package is public (the rest is under a private folder): each says which of
    # its names are the API with __all__.
    old = {new: old for old, new in MAPPING.items()}.get(name, name)
    path = PACKAGE.joinpath(*old.split(".")) if old else PACKAGE
    tree = parsed(path / "__init__.py" if (path / "__init__.py").exists() else path.with_suffix(".py"))
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    assert "__all__" in assigned
