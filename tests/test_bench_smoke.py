"""A smoke run of the benchmark (``python -m bench run --smoke``): every measurement at tiny sizes.

It proves the benchmark still works end to end (server process, child processes, every client, the checks
after each upload, the report); it measures nothing. The official SDK and matplotlib are optional: their
parts are checked when they are installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cli, tables, targets  # noqa: E402
from bench._child import _slices  # noqa: E402
from bench.netshape import BASE_PORT, PORTS, KernelLink, classifier_bytecode, kernel_support  # noqa: E402
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
    compare = suites["compare"]
    expected = {"ours-default", "ours", "ours-no-md5", "put-parallel"}
    expected |= {"official-default", "official-md5", "official"} if HAS_OFFICIAL else set()
    assert set(compare["clients"]) == expected
    cells = {(cell["shape"], cell["scheme"]) for cell in compare["cells"]}
    assert cells == {(shape, scheme) for shape in ("loopback", "16MiB/s 5ms") for scheme in ("http", "https")}
    for cell in compare["cells"]:
        assert cell["mode"] == ("loopback" if cell["shape"] == "loopback" else "server")  # the smoke preset: no netns
        for run in cell["raw"]:
            assert run["verified"], run
            assert run["wall"] > 0 and run["cpu"] >= 0 and 5 < run["maxrss_mib"] < 1024
    probe = compare["probes"][0]
    assert probe["put_verified"] and 0.3 < probe["put_fraction_of_cap"] <= 1.1
    assert probe["head_open_connection"] >= 0.005  # the emulated round trip
    floors = suites["floors"]["summary"]
    assert set(floors) == {"md5", "crc64", "md5+crc64", "tls", "put-http", "put-https"}
    assert all(floor["cpu_per_gib"]["median"] > 0 for floor in floors.values())
    assert suites["floors"]["cipher"], "the TLS floor names its cipher"
    assert all(run["verified"] for name in ("memory", "resume") for run in suites[name]["raw"])
    assert all(run["verified"] for shape in suites["scaling"]["shapes"] for run in shape["raw"])


def test_the_directory_measurement_ran_every_client_on_both_shapes(smoke: Dict[str, Any]) -> None:
    dirs = smoke["results"]["suites"]["dirs"]
    assert [cell["shape"] for cell in dirs["cells"]] == ["loopback", "16MiB/s 5ms"]
    names = {"dir-ours"} | ({"dir-official-pool", "dir-official-loop"} if HAS_OFFICIAL else set())
    names |= {"dir-cluster-2"} if importlib.util.find_spec("distributed") is not None else set()
    assert names | {"dir-ours-large"} <= set(dirs["cells"][0]["summary"])
    assert names <= set(dirs["cells"][1]["summary"])
    assert all(run["verified"] and run["files_per_s"] > 0 for cell in dirs["cells"] for run in cell["raw"])
    assert "coscmd" in dirs["skipped"]  # it needs the namespace, which the smoke preset never makes


def test_the_oss_row_uploaded_with_both_sdks(smoke: Dict[str, Any]) -> None:
    oss = smoke["results"]["suites"]["oss"]
    if "skipped" in oss:
        pytest.skip(oss["skipped"])
    assert [cell["shape"] for cell in oss["cells"]] == ["loopback", "16MiB/s 5ms"]
    for cell in oss["cells"]:
        assert set(cell["summary"]) == {"ours-oss-default", "oss-official-default", "ours-oss", "oss-official"}
        assert all(run["verified"] for run in cell["raw"])
    assert "## 11. OSS" in smoke["markdown"]


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
    assert all(0 < summary["efficiency"]["median"] <= 1.1 for by_depth in data["summary"].values() for summary in by_depth.values())


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
    for heading in ("## Targets", "## 1. This package against the official SDK", "## 2. Floors", "## 3. Concurrency",
                    "## 4. Directories", "## 5. Drivers: threads against asyncio", "## 6. Drivers: one object over Dask",
                    "## 7. Memory", "## 8. CRC-64", "## 9. Signing", "## 10. Resume", "## Machine"):  # fmt: skip
        assert heading in text
    assert "smoke-test sizes" in text
    assert "**NO**" not in text.split("## Targets")[1].split("## 1.")[1]  # every object verified
    if HAS_MATPLOTLIB:
        assert {p.name for p in Path(smoke["img"]).glob("*.png")} == {"bench-compare.png", "bench-scaling.png", "bench-memory.png", "bench-crc.png"}


def test_report_renders_again_from_the_saved_results(smoke: Dict[str, Any], tmp_path: Path) -> None:
    docs = tmp_path / "again.md"
    assert cli.main(["report", "--results", str(smoke["results_path"]), "--docs", str(docs), "--img", str(tmp_path / "img")]) == 0
    assert docs.read_text().split("## Machine")[0] == smoke["markdown"].split("## Machine")[0]


def _summary(value: float) -> Dict[str, float]:
    return {"median": value, "min": value, "max": value, "n": 1}


def _cell(shape: str, cap: Any, rtt: float, numbers: Dict[str, float]) -> Dict[str, Any]:
    summary = {name: {"throughput_mib_s": _summary(tp), "cpu_per_gib": _summary(2.0)} for name, tp in numbers.items()}
    return {"shape": shape, "scheme": "http", "cap": cap, "rtt": rtt, "summary": summary}


def test_targets_judge_the_numbers() -> None:
    mib = 1024 * 1024
    link = {"ours-default": 150.0, "official-default": 60.0, "ours": 150.0, "official-md5": 140.0, "ours-no-md5": 150.0, "official": 150.0}
    results = {
        "suites": {
            "compare": {"threads": 8, "cells": [_cell("20MiB/s 30ms", 20 * mib, 0.03, link)]},
            "floors": {"summary": {"md5+crc64": {"cpu_per_gib": _summary(1.8)}, "put-http": {"cpu_per_gib": _summary(0.3)}}},
            "dirs": {"cells": [{"shape": "loopback", "files": 10000, "summary": {
                "dir-ours": {"files_per_s": _summary(2000.0)}, "dir-official-loop": {"files_per_s": _summary(300.0)}}}]},
        }
    }  # fmt: skip
    verdicts = {target.split(" (")[0]: met for target, _, met in targets.targets(results)}
    assert verdicts == {
        "client CPU per verified GiB <= 1.15x the MD5 + CRC-64 floor": None,  # no loopback cell in this run
        ">= 1.5x the official SDK's throughput at defaults": True,  # 2.5x
        ">= 90 % of workers x cap at 8 workers": True,  # 150 of 8 x 20 MiB/s: 94 %
        "never slower than the official SDK with the same checks": True,
        "10,000 small files >= 5x the official SDK's simple loop": True,
    }


@pytest.mark.parametrize("ours, allowed_fraction, met", [(150.0, 0.9375, True), (140.0, 0.875, False)])
def test_the_link_target_is_ours_over_workers_times_cap(ours: float, allowed_fraction: float, met: bool) -> None:
    mib = 1024 * 1024
    results = {"suites": {"compare": {"threads": 8, "cells": [_cell("20MiB/s 30ms", 20 * mib, 0.03, {"ours": ours, "put-parallel": 155.0})]}}}
    [(target, measured, verdict)] = targets.link_target(results["suites"])
    assert verdict is met and f"{100 * allowed_fraction:.0f} %" in measured


def test_same_checks_target_names_the_cells_where_ours_is_slower() -> None:
    cells = [_cell("loopback", None, 0.0, {"ours": 300.0, "official-md5": 330.0}), _cell("20MiB/s 30ms", 1.0, 0.03, {"ours": 150.0, "official-md5": 140.0})]
    [(target, measured, verdict)] = targets.same_checks_target({"compare": {"cells": cells}})
    assert verdict is False and "slower in 1 of 2 cells: loopback HTTP" in measured and "0.91x" in measured


def test_the_classifier_maps_each_port_of_the_range_to_its_own_class() -> None:
    program = classifier_bytecode(BASE_PORT, PORTS).split(",")
    assert int(program[0]) == len(program) - 1 == 11
    assert f"20 0 0 {BASE_PORT}" in program and f"53 2 0 {PORTS}" in program and "4 0 0 65538" in program


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("tc") is None, reason="a network namespace needs root and iproute2")
def test_a_kernel_link_caps_each_connection_and_leaves_nothing_behind(tmp_path: Path) -> None:
    support = kernel_support()
    if not (support["htb"] and support["cls_bpf"] and support["veth"]):
        pytest.skip(f"kernel lacks what the link needs: {support}")
    sender = tmp_path / "send.py"
    sender.write_text(
        "import socket, sys, time\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "buf = b'x' * 65536; end = time.time() + 1.0; sent = 0\n"
        "while time.time() < end: sent += s.send(buf)\n"
        "print(sent)\n"
    )
    with KernelLink(index=251) as link:
        link.set_cap(4 * 1024 * 1024)
        listener = socket.socket()
        listener.bind((link.host_address, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        drained = threading.Thread(target=lambda: _drain(listener), daemon=True)
        drained.start()
        output = subprocess.run(link.prefix() + [sys.executable, str(sender), link.host_address, str(port)],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        listener.close()
        # 1 s at 4 MiB/s, plus what the socket buffers took in before the cap bit.
        assert 3 * 1024 * 1024 < int(output) < 9 * 1024 * 1024
        namespace = link.namespace
    listed = subprocess.run([shutil.which("ip") or "ip", "netns", "list"], capture_output=True, text=True).stdout
    assert namespace not in listed


def _drain(listener: socket.socket) -> None:
    try:
        connection, _ = listener.accept()
        while connection.recv(1 << 20):
            pass
    except OSError:
        pass


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
    assert tables.fmt(spread([0.5, 0.25, 1.0]), 0, 100) == "50 (25-100)"
    assert tables.fmt({}) == "-"


def test_floor_put_slices_cover_the_file_exactly() -> None:
    for size, count in ((10, 3), (8, 8), (5, 8), (1 << 20, 7)):
        slices = _slices(size, count)
        assert sum(length for _, length in slices) == size
        assert [offset for offset, _ in slices] == sorted(offset for offset, _ in slices)
        assert all(slices[i][0] + slices[i][1] == slices[i + 1][0] for i in range(len(slices) - 1))
