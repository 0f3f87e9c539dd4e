"""The local server is an independent oracle: nothing in it that CHECKS a rule uses the client's code.

Every integration test uploads against the local server. If the server verified signatures with the
client's signer, hashed with the client's CRC-64 or combined part CRCs with the client's function, a rule
the client gets wrong would be confirmed, not caught. So every module under ``cos_multipart/testing/`` is
parsed here (``ast``, no import) and its imports from the client package are held to these rules:

* a rule-checking module imports from the client, at run time, only :data:`ALLOWED_AT_RUN_TIME`: value types
  and exceptions of the public API that the server must accept or raise, none of which holds a rule;
* no module but the listed conveniences imports one of :data:`FORBIDDEN` (not even for type hints);
* the convenience modules (:data:`CONVENIENCES`, each with why) act as a CLIENT of the server and may use
  the public API, taken from the package itself (``cos_multipart.__all__``); a rule-checking module may
  reach them only from inside a function (never at import time), so the server's import graph holds none
  of the client's rule code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

import cos_multipart
import cos_multipart.testing
from cos_multipart._protocol import limits as client_limits
from cos_multipart.testing import _limits as server_limits

TESTING_DIR = Path(cos_multipart.testing.__file__).parent
TESTING_PACKAGE = cos_multipart.testing.__name__
CLIENT_PACKAGE = TESTING_PACKAGE.split(".")[0]

#: Client modules (by their last name, so a move into a sub-package keeps the rule) that hold rules.
FORBIDDEN: Dict[str, str] = {
    "signer": "COS signatures: auth.py has its own",
    "oss_signer": "OSS signatures: oss_auth.py has its own",
    "_requests_auth": "the signer's requests adapter",
    "checksum": "CRC-64, its combination, MD5/ETag helpers: _hashing.py has its own",
    "_partreader": "part hashing while reading",
    "_crccache": "cached CRC-64 of files",
    "operations": "request builders and answer parsers",
    "_xml": "the client's XML parsing",
    "validation": "the client's validation of input",
    "limits": "the documented numbers: _limits.py is the server's own copy",
    "dialect": "the client's dialects: server_dialect.py is the server's own",
    "endpoint": "endpoint and host rules",
    "session": "the upload session",
    "sse": "the client's SSE header rules",
    "verify": "the client's verification of answers",
}
#: What a rule-checking module may import from the client at run time, and why it holds no rule.
ALLOWED_AT_RUN_TIME: Dict[str, str] = {
    "errors": "CosValidationError for bad LocalCOS options (one exception tree), REDACTED",
    "credentials": "Credentials: the key value users hand to LocalCOS(credentials=...); no rule in it",
}
#: Modules of the server that act as a client, with why they may use the client's public API.
CONVENIENCES: Dict[str, str] = {
    "_client_conveniences": "LocalCOS.presign() signs a URL and LocalCOS.client() builds a CosClient: the "
    "user's side of the wire, made with the client's public API (presign_url, CosClient)",
    "pytest_plugin": "fixtures that hand tests a server and a client (local_service) for it",
}


@dataclass(frozen=True)
class Imported:
    """One import statement: the module it reads, resolved to an absolute name, and the names taken."""

    module: str
    names: Tuple[str, ...]  # ``from module import a, b``: ("a", "b"); a plain ``import``: ()
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``
    in_function: bool  # executed when a function runs, not when the module is imported


def _module_name(path: Path) -> str:
    relative = path.relative_to(TESTING_DIR).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    return ".".join([TESTING_PACKAGE, *parts])


def _resolve(package: str, level: int, module: Optional[str]) -> str:
    base = package.split(".")[: len(package.split(".")) - (level - 1)] if level else []
    return ".".join(base + ([module] if module else []))


def imports_of(source: str, module_name: str, *, is_package: bool = False) -> List[Imported]:
    """Every import statement of ``source``, wherever it is (module level, a function, TYPE_CHECKING)."""
    package = module_name if is_package else module_name.rpartition(".")[0]
    found: List[Imported] = []

    def visit(node: ast.AST, type_only: bool, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for inner in child.body:
                    visit_one(inner, True, in_function)
                for inner in child.orelse:
                    visit_one(inner, type_only, in_function)
            else:
                visit_one(child, type_only, in_function)

    def visit_one(node: ast.AST, type_only: bool, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Imported(alias.name, (), node.lineno, type_only, in_function))
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            found.append(Imported(_resolve(package, node.level, node.module), names, node.lineno, type_only, in_function))
        inner_function = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        visit(node, type_only, inner_function)

    visit(ast.parse(source), False, False)
    return found


def _is_servers(module: str) -> bool:
    return module == TESTING_PACKAGE or module.startswith(TESTING_PACKAGE + ".")


def _client_modules(item: Imported) -> List[str]:
    """The last names of the client modules an import reaches (``from cos_multipart import x``: ``x``, which
    may be a module or anything the package re-exports)."""
    parts = item.module.split(".")
    if parts[0] != CLIENT_PACKAGE or _is_servers(item.module):
        return []
    if item.module == CLIENT_PACKAGE:
        return list(item.names)
    return [parts[-1]] + [name for name in item.names if name in FORBIDDEN]


def violations(source: str, module_name: str, *, is_package: bool = False) -> List[str]:
    """What breaks the rules in a rule-checking module's ``source``; empty when it is independent."""
    problems = []
    for item in imports_of(source, module_name, is_package=is_package):
        where = f"{module_name}:{item.line} imports {item.module}"
        for client in _client_modules(item):
            if client in FORBIDDEN:
                problems.append(f"{where}: rule code of the client ({client}: {FORBIDDEN[client]})")
            elif not item.type_only and client not in ALLOWED_AT_RUN_TIME:
                problems.append(f"{where} ({client}) at run time (allowed: {', '.join(sorted(ALLOWED_AT_RUN_TIME))})")
        if _is_servers(item.module) and not item.in_function:
            reached = [item.module.rsplit(".", 1)[-1], *item.names]
            if any(name in CONVENIENCES for name in reached):
                problems.append(f"{where} at import time: a convenience that acts as a client")
    return problems


def server_modules() -> List[Tuple[str, Path]]:
    return sorted((_module_name(path), path) for path in TESTING_DIR.rglob("*.py"))


def test_no_rule_checking_module_imports_the_clients_rule_code() -> None:
    problems = []
    checked = 0
    for name, path in server_modules():
        if name.rsplit(".", 1)[-1] in CONVENIENCES:
            continue
        checked += 1
        problems += violations(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py")
    assert checked >= 20  # auth, oss_auth, store, _service, protocol, ... : the walk found the server
    assert not problems, "\n".join(problems)


def test_the_conveniences_use_only_the_public_api() -> None:
    """Even the modules that act as a client take the client's names from the package itself (its
    ``__all__``), never from the modules that hold the rules: nothing under testing/ imports the signer."""
    public = set(cos_multipart.__all__)
    problems = []
    for name, path in server_modules():
        if name.rsplit(".", 1)[-1] not in CONVENIENCES:
            continue
        for item in imports_of(path.read_text(encoding="utf-8"), name):
            if item.module == CLIENT_PACKAGE:
                problems += [f"{name}:{item.line} {imported} is not public" for imported in item.names if imported not in public]
            else:
                problems += [f"{name}:{item.line} imports {item.module}" for client in _client_modules(item)
                             if client not in ALLOWED_AT_RUN_TIME]  # fmt: skip
    assert not problems, "\n".join(problems)


def test_the_listed_conveniences_exist() -> None:
    names = {name.rsplit(".", 1)[-1] for name, _ in server_modules()}
    assert set(CONVENIENCES) <= names


@pytest.mark.parametrize(
    "source",
    [
        "from ..signer import sign_key",
        "from .. import limits",
        "from .. import checksum as c",
        "import cos_multipart._protocol.operations",
        "from cos_multipart._protocol._xml import parse",
        "from cos_multipart.core.dialect import COS",  # after a move into a sub-package too
        "def f():\n    from ..checksum import crc64_combine_all\n",  # lazily is still using it
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..validation import check\n",
        "from ..client import CosClient",  # at run time: not a rule, but not the server's either
        "from . import _client_conveniences",  # a convenience at import time
        "from .. import presign_url",  # the client's root re-exports its signer
    ],
)
def test_the_check_catches(source: str) -> None:
    assert violations(source, f"{TESTING_PACKAGE}.store")


@pytest.mark.parametrize(
    "source",
    [
        "from ..errors import CosValidationError",
        "from ..credentials import Credentials",
        "from . import _limits as limits",
        "from ._hashing import crc64",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..client import CosClient\n",
        "def client(self):\n    from ._client_conveniences import make_client\n",
        "import hashlib\nfrom lxml import etree",
    ],
)
def test_the_check_allows(source: str) -> None:
    assert violations(source, f"{TESTING_PACKAGE}.server") == []


def test_the_servers_limits_agree_with_the_clients() -> None:
    """Two copies on purpose: a number changed on one side only is a decision to take in both places."""
    shared = [name for name in dir(server_limits) if name.isupper() and hasattr(client_limits, name)]
    assert len(shared) >= 25
    differing = {name: (getattr(server_limits, name), getattr(client_limits, name)) for name in shared
                 if getattr(server_limits, name) != getattr(client_limits, name)}  # fmt: skip
    assert differing == {}
