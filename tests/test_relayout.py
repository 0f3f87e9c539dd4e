"""tools/relayout.py on a small flat package in a scratch git repository: what it moves, rewrites and refuses.

The package's name is spelled through ``P`` so that the move of this repository (which rewrites every
``<package>.<module>`` in the tests) leaves these fixtures alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

P = "cos_multipart"
SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "relayout.py"
#: A name, not a literal next to a file name: the move of this repository rewrites "aio" / "<module>.py" paths.
AIO = "aio"

LAYOUT = """
[packages]
"_protocol" = "Rules."
"_core" = "Values."
"_cli" = "The command."

[modules]
"__init__" = "__init__"
"aio" = "aio"
"errors" = "_protocol.errors"
"limits" = "_protocol.limits"
"session" = "_core.session"
"verify" = "_core.verify"
"cli" = "_cli.main"
"aio._driver" = "_core.aio_driver"
"""

FILES: Dict[str, str] = {
    f"{P}/__init__.py": (
        '"""Top."""\nfrom .errors import Oops\nfrom .verify import verify\n__all__ = ["Oops", "verify"]\n'
    ),
    f"{P}/errors.py": "class Oops(Exception):\n    pass\n",
    f"{P}/limits.py": "MB = 1 << 20\n",
    f"{P}/session.py": (
        "import logging\n\nfrom . import errors, limits  # both move\nfrom .errors import (\n    Oops,\n)\n\n"
        "logger = logging.getLogger(__name__)\n\n\ndef size() -> int:\n    from .limits import MB\n\n"
        "    return MB\n"
    ),
    f"{P}/verify.py": "def verify() -> str:\n    return 'ok'\n",
    f"{P}/cli.py": (
        "import importlib\n\nfrom . import session as _session\n\n"
        f'MODULES = ("{P}.session",)\n\n\ndef main() -> int:\n    return 0\n'
    ),
    f"{P}/aio/__init__.py": "from ._driver import run\nfrom ..limits import MB\n",
    f"{P}/aio/_driver.py": "from ..session import size\n\n\ndef run() -> int:\n    return size()\n",
    "tests/test_it.py": (
        f"import {P}.limits\nfrom {P} import cli, verify\nfrom {P}.aio import _driver\n"
        f"from {P}.session import size\n\n"
        f'CODE = """\nfrom {P} import session, verify\nprint(session)\n"""\n\n\n'
        "def test_it(monkeypatch, caplog) -> None:\n"
        f'    monkeypatch.setattr("{P}.session.size", lambda: 1)\n'
        f'    caplog.set_level(10, logger="{P}.session")\n'
        f"    assert {P}.limits.MB and verify() == 'ok' and cli.main() == 0 and _driver.run()\n"
        # (split in two literals, so that the move of this repository does not rewrite the fixture itself)
        'SOURCE = ROOT / "aio" / ' '"_driver.py", ROOT / "aio" / "__init__.py"\n'
    ),
    "docs/page.md": (
        f"See `{P}/limits.py` and `{P}.errors.Oops`, or `{P}.verify`.\n\n"
        f"```python\nfrom {P}.errors import Oops\nfrom {P}.limits import MB\n```\n"
    ),
    "pyproject.toml": f'[project.scripts]\ncos-multipart = "{P}.cli:main"\n',
}

EXPECTED: Dict[str, str] = {
    f"{P}/__init__.py": (
        '"""Top."""\nfrom ._protocol.errors import Oops\nfrom ._core.verify import verify\n'
        '__all__ = ["Oops", "verify"]\n'
    ),
    f"{P}/_core/session.py": (
        "import logging\n\nfrom .._protocol import errors, limits  # both move\nfrom .._protocol.errors import (\n"
        "    Oops,\n)\n\nlogger = logging.getLogger(__name__)\n\n\ndef size() -> int:\n"
        "    from .._protocol.limits import MB\n\n    return MB\n"
    ),
    f"{P}/_cli/main.py": (
        "import importlib\n\nfrom .._core import session as _session\n\n"
        f'MODULES = ("{P}._core.session",)\n\n\ndef main() -> int:\n    return 0\n'
    ),
    f"{P}/aio/__init__.py": "from .._core.aio_driver import run\nfrom .._protocol.limits import MB\n",
    f"{P}/_core/aio_driver.py": "from .session import size\n\n\ndef run() -> int:\n    return size()\n",
    "tests/test_it.py": (
        f"import {P}._protocol.limits\nfrom {P}._cli import main as cli\nfrom {P} import verify\n"
        f"from {P}._core import aio_driver as _driver\nfrom {P}._core.session import size\n\n"
        f'CODE = """\nfrom {P}._core import session\nfrom {P} import verify\nprint(session)\n"""\n\n\n'
        "def test_it(monkeypatch, caplog) -> None:\n"
        f'    monkeypatch.setattr("{P}._core.session.size", lambda: 1)\n'
        f'    caplog.set_level(10, logger="{P}._core.session")\n'
        f"    assert {P}._protocol.limits.MB and verify() == 'ok' and cli.main() == 0 and _driver.run()\n"
        'SOURCE = ROOT / "_core" / "aio_driver.py", ROOT / "aio" / "__init__.py"\n'
    ),
    "docs/page.md": (
        f"See `{P}/_protocol/limits.py` and `{P}.Oops`, or `{P}.verify`.\n\n"
        f"```python\nfrom {P} import Oops\nfrom {P}._protocol.limits import MB\n```\n"
    ),
    "pyproject.toml": f'[project.scripts]\ncos-multipart = "{P}._cli.main:main"\n',
}


def git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout


def relayout(root: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    command = [sys.executable, str(SCRIPT), "--root", str(root), "--layout", str(root / "layout.toml"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    for name, text in {**FILES, "layout.toml": LAYOUT}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "flat")
    return tmp_path


def test_moves_files_and_rewrites_every_reference(flat: Path) -> None:
    done = relayout(flat)
    assert done.returncode == 0, done.stderr
    for name, text in EXPECTED.items():
        assert (flat / name).read_text(encoding="utf-8") == text, name
    assert (flat / P / "_protocol" / "__init__.py").read_text(encoding="utf-8") == '"""Rules."""\n'
    assert not (flat / P / "errors.py").exists() and not (flat / P / AIO / "_driver.py").exists()
    # One staged diff of renames, ready to commit.
    assert f"R  {P}/errors.py -> {P}/_protocol/errors.py" in git(flat, "status", "--porcelain")


def test_the_moved_package_imports_and_runs(flat: Path) -> None:
    assert relayout(flat).returncode == 0
    code = f"import {P}, {P}.aio, {P}._cli.main as m; assert {P}.aio.run() == 1 << 20 and m.main() == 0"
    subprocess.run([sys.executable, "-c", code], cwd=flat, check=True, timeout=60)


def test_a_second_run_changes_nothing(flat: Path) -> None:
    assert relayout(flat).returncode == 0
    git(flat, "commit", "-qm", "moved")
    again = relayout(flat)
    assert again.returncode == 0 and "already moved" in again.stdout
    assert git(flat, "status", "--porcelain") == ""


def test_refuses_and_lists_every_module_missing_from_the_mapping(flat: Path) -> None:
    (flat / P / "machine.py").write_text("X = 1\n", encoding="utf-8")
    (flat / P / AIO / "_bodies.py").write_text("Y = 2\n", encoding="utf-8")
    git(flat, "add", "-A")
    git(flat, "commit", "-qm", "new modules")
    refused = relayout(flat)
    assert refused.returncode == 1
    assert "machine" in refused.stderr and "aio._bodies" in refused.stderr
    assert git(flat, "status", "--porcelain") == ""  # nothing touched
    assert relayout(flat, "--check").returncode == 1


def test_refuses_a_dirty_tree(flat: Path) -> None:
    (flat / P / "limits.py").write_text("MB = 2\n", encoding="utf-8")
    refused = relayout(flat)
    assert refused.returncode == 1 and "uncommitted" in refused.stderr
    assert (flat / P / "limits.py").exists()


def test_refuses_a_half_moved_tree(flat: Path) -> None:
    (flat / P / "_core").mkdir()
    git(flat, "mv", f"{P}/session.py", f"{P}/_core/session.py")
    git(flat, "commit", "-qm", "one by hand")
    refused = relayout(flat)
    assert refused.returncode == 1 and "half moved" in refused.stderr


def test_skips_a_mapping_line_of_a_module_this_tree_does_not_have(flat: Path) -> None:
    # The mapping is written for the merged tree; a module removed since (or not merged yet) is named, not fatal.
    git(flat, "rm", "-q", f"{P}/verify.py")
    (flat / P / "__init__.py").write_text('"""Top."""\n__all__ = []\n', encoding="utf-8")
    git(flat, "commit", "-qam", "verify removed")
    done = relayout(flat)
    assert done.returncode == 0 and "not in this tree (skipped): verify" in done.stdout
    assert (flat / P / "_core" / "session.py").exists()
