"""A smoke run of the benchmark (``python -m bench run --smoke``): every measurement at tiny sizes.

It proves the benchmark still works end to end (server process, child processes, every client, the checks
after each upload, the report); it measures nothing. The official SDK and matplotlib are optional: their
parts are checked when they are installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cli, report  # noqa: E402
from bench._child import _slices  # noqa: E402
from bench.procs import LogEntry, iter_alternating  # noqa: E402
from bench.settings import SUITES, parse_size  # noqa: E402
from bench.stats import ratio, spread  # noqa: E402
from bench.suites import transfer_window  # noqa: E402
from cos_multipart.testing.server import AccessLogEntry  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.skipif(sys.platform != "linux", reason="uses /proc and os.wait4")]

HAS_OFFICIAL = importlib.util.find_spec("qcloud_cos") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    paths = {"results_path": out / "results.json", "docs": out / "benchmarks.md", "img": out / "img"}
    argv = ["run", "--smoke", "--results", str(paths["results_path"]), "--docs", str(paths["docs"]), "--img", str(paths["img"])]
    assert cli.main(argv + ["--workdir", str(out)]) == 0
    return {"results": json.loads(paths["results_path"].read_text()), "markdown": paths["docs"].read_text(), **paths}


def test_every_measurement_ran_and_every_upload_was_verified(smoke: Dict[str, Any]) -> None:
    suites = smoke["results"]["suites"]
    assert list(suites) == list(SUITES)
    upload = suites["upload"]
    expected = {"ours-crcmod", "put", "put-parallel", "md5"} | ({"official"} if HAS_OFFICIAL else set())
    assert expected <= set(upload["clients"])
    for run in upload["raw"]:
        assert run["verified"], run
        assert run["wall"] > 0 and run["cpu"] >= 0 and 5 < run["maxrss_mib"] < 1024
    assert upload["summary"]["ours-crcmod"]["backend"] == "crcmod"  # the fast backend was really hidden
    if "ours-fast" in upload["summary"]:
        assert upload["summary"]["ours-fast"]["backend"] == "fastcrc"
    assert all(run["verified"] for name in ("memory", "resume") for run in suites[name]["raw"])
    assert all(run["verified"] for shape in suites["scaling"]["shapes"] for run in shape["raw"])


def test_the_cluster_measurement_uploaded_with_both_drivers(smoke: Dict[str, Any]) -> None:
    cluster = smoke["results"]["suites"]["cluster"]
    if "skipped" in cluster:
        pytest.skip(cluster["skipped"])
    runs = cluster["raw"]
    assert {(run["client"], run["workers"]) for run in runs} == {(c, w) for c in ("cluster", "threads") for w in (1, 2)}
    assert all(run["verified"] and 0 < run["efficiency"] <= 1.05 for run in runs)
def test_the_async_measurement_ran_both_drivers_at_every_depth(smoke: Dict[str, Any]) -> None:
    data = smoke["results"]["suites"]["async"]
    assert data["drivers"] == ["threads", "asyncio"]
    runs = data["raw"]
    assert {(run["client"], run["in_flight"]) for run in runs} == {
        (driver, depth) for driver in data["drivers"] for depth in data["in_flight"]
    }
    assert all(run["verified"] and run["wall"] > 0 and run["cpu"] > 0 for run in runs)
    for driver in data["drivers"]:
        for depth in data["in_flight"]:
            summary = data["summary"][driver][str(depth)]
            assert summary["throughput_mib_s"]["median"] > 0 and summary["cpu_s_per_gib"]["median"] > 0
    assert "## 8. The asyncio driver against the threaded one" in smoke["markdown"]


def test_resume_sends_only_what_the_server_lacked(smoke: Dict[str, Any]) -> None:
    for run in smoke["results"]["suites"]["resume"]["raw"]:
        assert run["bytes_needed"] > 0
        if run["client"].startswith("ours"):
            assert run["bytes_resent"] == run["bytes_needed"], run


def test_crc_sign_and_combine_numbers_are_sane(smoke: Dict[str, Any]) -> None:
    suites = smoke["results"]["suites"]
    throughput = suites["crc"]["throughput_mib_s"]
    assert throughput["crc64 (crcmod)"]["1"] > 0 and throughput["md5 (hashlib)"]["2"] > 0
    assert suites["crc"]["combine"]["correct"]
    signing = suites["sign"]
    assert 0 < signing["microseconds"]["ours-sign"]["median"] < 10_000
    if HAS_OFFICIAL:
        assert signing["same_authorization"] is True


def test_report_has_every_section_and_the_target_table(smoke: Dict[str, Any]) -> None:
    text = smoke["markdown"]
    for heading in ("## Targets", "## 1. One large file", "## 2. Concurrency", "## 3. Memory", "## 4. CRC-64", "## 5. Signing", "## 6. Resume", "## 7. One object over Dask", "## Machine"):
        assert heading in text
    assert "smoke-test sizes" in text
    assert "**NO**" not in text
    if HAS_MATPLOTLIB:
        assert {p.name for p in Path(smoke["img"]).glob("*.png")} == {"bench-upload.png", "bench-scaling.png", "bench-memory.png", "bench-crc.png"}
        assert "![upload throughput and CPU](img/bench-upload.png)" in text


def test_report_renders_again_from_the_saved_results(smoke: Dict[str, Any], tmp_path: Path) -> None:
    docs = tmp_path / "again.md"
    assert cli.main(["report", "--results", str(smoke["results_path"]), "--docs", str(docs), "--img", str(tmp_path / "img")]) == 0
    assert docs.read_text().split("## Machine")[0] == smoke["markdown"].split("## Machine")[0]


def test_targets_judge_the_numbers() -> None:
    def summary(value: float) -> Dict[str, float]:
        return {"median": value, "min": value, "max": value, "n": 1}

    upload = {
        name: {"throughput_mib_s": summary(tp), "transfer_mib_s": summary(tp), "cpu_per_gib": summary(cpu)}
        for name, tp, cpu in (("ours-fast", 300.0, 1.2), ("official", 100.0, 0.3), ("md5", 0.0, 1.0))
    }
    verdicts = {target: met for target, _, met in report.targets({"suites": {"upload": {"summary": upload}}})}
    assert verdicts == {
        "throughput >= 1.5x the official SDK (same server, part size, threads)": True,
        "client CPU per GB <= 1.5x the floor (MD5 of the bytes), fast backend": True,
    }
    upload["ours-fast"]["throughput_mib_s"] = summary(120.0)
    upload["ours-fast"]["cpu_per_gib"] = summary(2.0)
    verdicts = {target: met for target, _, met in report.targets({"suites": {"upload": {"summary": upload}}})}
    assert set(verdicts.values()) == {False}


@pytest.mark.parametrize("text, size", [("1048576", 1 << 20), ("64MiB", 64 << 20), ("1GiB", 1 << 30), ("1.5G", 3 << 29), ("8M", 8 << 20)])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "1TB", "lots"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_clients_alternate_and_every_client_runs_once_per_run() -> None:
    order = list(iter_alternating(["a", "b", "c"], 3))
    assert order == [(0, "a"), (0, "b"), (0, "c"), (1, "b"), (1, "c"), (1, "a"), (2, "c"), (2, "a"), (2, "b")]


def test_access_log_lines_of_the_local_server_are_parsed() -> None:
    entry = AccessLogEntry(
        time=1_700_000_000.25, client="127.0.0.1", method="PUT", path="/a%20b", query="partNumber=1&uploadId=x",
        status=200, bytes_in=8388608, bytes_out=0, millis=123.4, api="UploadPart", request_id="rid",
    )  # fmt: skip
    parsed = LogEntry.parse(entry.line())
    assert parsed is not None
    assert (parsed.arrived, parsed.method, parsed.status, parsed.bytes_in, parsed.api) == (1_700_000_000.25, "PUT", "200", 8388608, "UploadPart")
    assert parsed.seconds == pytest.approx(0.1234)
    assert LogEntry.parse("garbage line") is None
    later = LogEntry(arrived=1_700_000_001.0, method="PUT", status="200", bytes_in=1, seconds=0.5, api="UploadPart")
    failed = LogEntry(arrived=1_700_000_009.0, method="PUT", status="400", bytes_in=1, seconds=0.5, api="UploadPart")
    assert transfer_window([parsed, later, failed]) == pytest.approx(1.25)


def test_spread_ratio_and_formatting() -> None:
    assert spread([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert spread([None]) == {}
    assert ratio(3.0, 2.0) == 1.5 and ratio(1.0, 0.0) is None and ratio(None, 1.0) is None
    assert report.fmt(spread([0.5, 0.25, 1.0]), 0, 100) == "50 (25-100)"
    assert report.fmt({}) == "-"


def test_floor_put_slices_cover_the_file_exactly() -> None:
    for size, count in ((10, 3), (8, 8), (5, 8), (1 << 20, 7)):
        slices = _slices(size, count)
        assert sum(length for _, length in slices) == size
        assert [offset for offset, _ in slices] == sorted(offset for offset, _ in slices)
        assert all(slices[i][0] + slices[i][1] == slices[i + 1][0] for i in range(len(slices) - 1))


def test_directory_benchmark_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import dirs

    assert dirs.main(["--smoke", "--workdir", str(tmp_path)]) == 0
    results = json.loads(capsys.readouterr().out)
    runs = results["runs"]
    assert {"ours", "sequential", "ours-large"} <= set(runs) and all(run["verified"] for run in runs.values())
    assert ("official-pool" in runs) == HAS_OFFICIAL and runs["ours"]["files_per_s"] > 0
    if importlib.util.find_spec("distributed") is not None:
        assert runs["cluster-1"]["files_per_s"] > 0 and runs["cluster-2"]["verified"]
