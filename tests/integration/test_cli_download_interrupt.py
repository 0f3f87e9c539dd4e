"""Ctrl-C and SIGTERM during ``cos-multipart download`` (a child process): the target untouched, the ranges kept
and named on stderr, the exit code the signal's; the same command run again fetches only what is missing."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io._downloadfile import DownloadFiles
from cos_multipart._io.client import CosClient
from cos_multipart.testing import Fault, LocalCOS

from downloads import leftovers, put
from interrupted_child import SIGNALS, Child, wait_for
from uploads import target

pytestmark = [pytest.mark.integration]


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_stopped_download_keeps_its_ranges_and_resumes(
    signum: int, code: int, cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = put(client, "big", 8 * 1024 * 1024)
    out = tmp_path / "out.bin"
    cli_env.faults.add(Fault.delay(0.3, "GetObject", nth=3, count=None))  # slow from the third range on
    child = Child(["download", target(cli_env, "big"), str(out), "--part-size", "1MB", "--concurrency", "1"])
    files = DownloadFiles(str(out))

    def two_recorded() -> bool:
        stored = files.load()
        return stored is not None and len(stored.done) >= 2

    wait_for(two_recorded, child, "two ranges recorded")
    child.process.send_signal(signum)
    exit_code, _, terminal = child.finish()
    assert exit_code == code, terminal
    assert "download kept" in terminal and not out.exists()
    assert set(leftovers(tmp_path)) >= {".out.bin.cos-download", ".out.bin.cos-download.json"}
    recorded = files.load()
    assert recorded is not None
    cli_env.faults.clear()
    capsys.readouterr()
    assert cli.main(["download", target(cli_env, "big"), str(out), "--part-size", "1MB"]) == 0
    assert f"{len(recorded.done)} ranges reused" in capsys.readouterr().out
    assert out.read_bytes() == data and leftovers(tmp_path) == []


def test_signal_names_are_the_documented_ones() -> None:
    assert [param.values[0] for param in SIGNALS] == [signal.SIGINT, signal.SIGTERM]
