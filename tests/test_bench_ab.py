"""A smoke run of ``python -m bench ab`` (two source trees alternating on the upload paths) at tiny sizes.

Its own module so that ``--dist loadfile`` runs it beside the ``bench run --smoke`` module, not after it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import ab, cli  # noqa: E402
from bench.procs import ChildResult  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and os.wait4")]


@pytest.fixture(scope="module")
def ab_run(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """``bench ab`` at tiny sizes with this checkout as both trees: one round of every path."""
    out = tmp_path_factory.mktemp("ab")
    argv = ["ab", "--old", str(ROOT), "--new", str(ROOT), "--rounds", "1", "--size", "3MiB", "--cluster-size", "2MiB",
            "--part-size", "1MiB", "--concurrency", "2", "--cluster-workers", "1", "--cluster-threads", "2",
            "--json", str(out / "ab.json"), "--workdir", str(out)]  # fmt: skip
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = cli.main(argv)
    return {"status": status, "stdout": stdout.getvalue(), "results": json.loads((out / "ab.json").read_text())}


def test_ab_measures_every_path_with_both_trees_alternating(ab_run: Dict[str, Any]) -> None:
    assert ab_run["status"] == 0
    results = ab_run["results"]
    paths = [path for path in ab.PATHS if path != "cluster" or importlib.util.find_spec("distributed") is not None]
    assert results["paths"] == paths
    assert [(run["path"], run["tree"]) for run in results["runs"]] == [(path, tree) for path in paths for tree in ("old", "new")]
    for run in results["runs"]:
        assert run["verified"], run
        assert Path(run["module_file"]).resolve().is_relative_to(ROOT)
        assert run["mib_s"] > 0 and run["cpu_s_per_gib"] > 0 and run["peak_rss_mib"] > 5 and run["setup_cpu"] >= 0
        assert (run["workers_peak_rss_mib"] is not None) is (run["path"] == "cluster")
    for path in paths:
        ratios = results["summary"][path]["ratio"]
        assert all(ratios[name] is not None for name in ("mib_s", "cpu_s_per_gib", "peak_rss_mib")), ratios


def test_ab_prints_every_field_and_a_ratio_row_per_path(ab_run: Dict[str, Any]) -> None:
    text = ab_run["stdout"]
    for field in ("MiB/s", "client CPU s/GiB", "set-up CPU s", "peak RSS MiB", "ru_maxrss MiB", "workers peak RSS MiB", "server CPU s/GiB",
                  "MiB/s new/old", "CPU s/GiB new/old", "peak RSS new/old"):  # fmt: skip
        assert f"| {field} |" in text
    for path in ab_run["results"]["paths"]:
        assert f"| {path} | old |" in text and f"| {path} | new |" in text
        assert re.search(rf"^\| {path} \| [0-9.]+\*? \| [0-9.]+\*? \| [0-9.]+\*? \|", text, re.MULTILINE), text
    assert "| NO |" not in text


def test_ab_refuses_a_directory_that_is_not_a_source_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ab", "--old", str(tmp_path), "--new", str(ROOT)])
    assert exit_info.value.code == 2
    assert "no cos_multipart/__init__.py" in capsys.readouterr().err


def test_ab_summary_ratios_are_new_over_old_medians() -> None:
    def run(tree: str, mib_s: float, cpu: float) -> Dict[str, Any]:
        return {"path": "threads", "tree": tree, "mib_s": mib_s, "cpu_s_per_gib": cpu, "peak_rss_mib": 50.0, "verified": True}

    runs = [run("old", 100.0, 2.0), run("new", 90.0, 2.5), run("old", 300.0, 2.0), run("new", 110.0, 2.5), run("old", 200.0, 2.0)]
    summary = ab.summarize(runs, ["threads"])["threads"]
    assert summary["old"]["mib_s"] == {"median": 200.0, "min": 100.0, "max": 300.0, "n": 3}
    assert summary["ratio"]["mib_s"] == pytest.approx(0.5) and summary["ratio"]["cpu_s_per_gib"] == pytest.approx(1.25)
    assert summary["ratio"]["workers_peak_rss_mib"] is None and summary["verified"]
    # The throughput ranges overlap (noise); the CPU ranges do not, and the printed ratio says so.
    assert summary["overlap"] == {"mib_s": True, "cpu_s_per_gib": False, "peak_rss_mib": True, "workers_peak_rss_mib": None}


def test_ab_stops_when_a_child_imported_the_package_from_outside_its_tree(tmp_path: Path) -> None:
    """An installed copy that shadows the tree would be measured instead of it: the run must stop."""
    tree = tmp_path / "tree"
    settings = ab.AbSettings(old=tree, new=ROOT)
    output = {"module_file": str(ROOT / "cos_multipart" / "__init__.py"), "wall": 1.0, "cpu": 1.0, "peak_rss_mib": 50.0}
    child = ChildResult(output=output, returncode=0, process_wall=1.0, process_cpu=1.0, maxrss_mib=50.0)
    with pytest.raises(RuntimeError, match="imported cos_multipart from .* not from .*tree"):
        ab._record(settings, None, child, 0.0, "old", "threads", "key", 1, 0)  # type: ignore[arg-type]  # never reached
