"""``python -m bench goals`` (issue 25): a smoke run at tiny sizes, and the summary's arithmetic on known records."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cli, goals  # noqa: E402


def _records() -> List[Dict[str, Any]]:
    small = [("dir-official-loop", "official", 1.0, 500.0), ("dir-ours", "new", 0.5, 800.0), ("files-ours", "new", 2.0, 100.0)]
    large = [("md5+crc64", "floor", 1.5, 0.0), ("crc64", "floor", 0.1, 0.0), ("put", "floor", 0.4, 0.0),
             ("ours-md5", "new", 1.8, 300.0), ("ours-crc", "new", 0.6, 400.0), ("official-md5", "official", 2.0, 250.0),
             ("official", "official", 0.5, 400.0)]  # fmt: skip
    records: List[Dict[str, Any]] = [{"kind": "startup", "what": "help", "tree": "new", "cpu": 0.08, "load": 1.0}]
    records += [{"kind": "small", "what": w, "tree": t, "cpu_per_file_ms": c, "files_per_s": r, "load": 1.0} for w, t, c, r in small]
    records += [{"kind": "large", "what": w, "tree": t, "cpu_per_gib": c, "process_cpu_per_gib": c + 0.2, "setup_cpu": 0.1,
                 "mib_s": r or None, "peak_rss_mib": 50.0, "load": 1.0} for w, t, c, r in large]  # fmt: skip
    return records


def test_the_goals_are_ratios_to_their_anchors() -> None:
    summary = goals.summarize(_records(), ["new"])
    mine = summary["new"]["goals"]
    assert mine["help <= 0.15 s"] == 0.08
    assert mine["small files CPU per file / official loop <= 0.5"] == pytest.approx(0.5)
    assert mine["small files files/s / official loop >= 1.5"] == pytest.approx(1.6)
    assert mine["MD5 CPU per GiB / (MD5 + CRC-64 floor) <= 1.3"] == pytest.approx(1.2)
    assert mine["CRC-only CPU per GiB / (CRC-64 + PUT floor) <= 1.3"] == pytest.approx(1.2)
    assert mine["MiB/s with MD5 / official with MD5 >= 1"] == pytest.approx(1.2)
    assert mine["MiB/s CRC-only / official default >= 1"] == pytest.approx(1.0)
    text = goals.render({"summary": summary, "settings": {"trees": {"new": "."}, "rounds": 1}, "raw": _records(), "when": "now"})
    assert "| small files CPU per file / official loop <= 0.5 | 0.50 |" in text


@pytest.mark.integration
@pytest.mark.skipif(sys.platform != "linux", reason="uses os.wait4 and /proc")
def test_a_smoke_run_measures_every_goal(tmp_path: Path) -> None:
    argv = ["goals", "--smoke", "--no-official", "--json", str(tmp_path / "goals.json"), "--workdir", str(tmp_path)]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli.main(argv) == 0
    data = json.loads((tmp_path / "goals.json").read_text())
    new = data["summary"]["new"]
    assert new["help_s"] is not None and new["dir_cpu_per_file_ms"] is not None and new["crc_s_per_gib"] is not None
    assert {record["kind"] for record in data["raw"]} == {"startup", "small", "large"}
    assert "| goal | new |" in stdout.getvalue()


def test_each_tree_is_byte_compiled_before_it_is_measured(tmp_path: Path) -> None:
    package = tmp_path / "tree" / "cos_multipart"
    (package / "_cli").mkdir(parents=True)
    for module in (package / "__init__.py", package / "_cli" / "main.py"):
        module.write_text("VALUE = 1\n")
    goals.Trees(tmp_path / "work", [("new", tmp_path / "tree")])
    for module in (package / "__init__.py", package / "_cli" / "main.py"):
        assert Path(importlib.util.cache_from_source(str(module))).is_file()
