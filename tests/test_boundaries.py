"""The sans-I/O boundary: only the transport (with its request preparation) and its auth adapter import an HTTP
library."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Set

import pytest

import cos_multipart
from cos_multipart._protocol import signer

PACKAGE = Path(cos_multipart.__file__).parent
HTTP_LIBRARIES = {"requests", "urllib3", "aiohttp", "httpx", "http.client"}
#: The modules allowed to: the transport, its request preparation and its requests auth adapter (get_object
#: streams through our own ObjectStream). The local test server (testing/) is a separate, opt-in HTTP stack.
ALLOWED = {"_io/transport.py", "_io/_requests_engine.py", "_io/_prepare.py", "_io/_requests_auth.py", "_io/aio_transport.py"}
#: Every module of the client side, in every sub-package (the local server is left out).
CLIENT_MODULES = sorted(
    p for p in PACKAGE.rglob("*.py")
    if p.relative_to(PACKAGE).parts[0] != "testing" and p.relative_to(PACKAGE).as_posix() not in ALLOWED
)  # fmt: skip


def imported(path: Path) -> Set[str]:
    names: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CLIENT_MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_http_library_outside_the_transport(path: Path) -> None:
    found = {name for name in imported(path) if name.split(".")[0] in HTTP_LIBRARIES or name in HTTP_LIBRARIES}
    assert found == set()


def test_the_async_client_leaves_aiohttp_to_its_transport() -> None:
    found = {name for name in imported(PACKAGE / "_io" / "aio_client.py") if name.split(".")[0] in HTTP_LIBRARIES}
    assert found == set()


def test_cos_auth_is_still_reachable_from_its_old_home() -> None:
    from cos_multipart._io._requests_auth import CosAuth

    assert signer.CosAuth is CosAuth is cos_multipart.CosAuth
    with pytest.raises(AttributeError):
        signer.NoSuchThing  # noqa: B018 - the attribute access is the test
