"""``python -m bench report``: regenerating the page without matplotlib keeps the plots already drawn."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402


def test_without_matplotlib_the_plots_on_disk_stay_linked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    img = tmp_path / "img"
    img.mkdir()
    (img / "bench-compare.png").write_bytes(b"png")
    (img / "bench-crc.png").write_bytes(b"png")
    docs = tmp_path / "benchmarks.md"
    assert report.plots({"suites": {}}, img, docs) == {"compare": "img/bench-compare.png", "crc": "img/bench-crc.png"}
    assert report.plots({"suites": {}}, tmp_path / "none", docs) == {}
