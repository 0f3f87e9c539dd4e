"""A smoke run of the download benchmark (``python -m bench.download --quick``): it still runs end to end (server
process, child processes, this package's and the official SDK's downloads, the floor); it measures nothing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("qcloud_cos") is None, reason="the official SDK is not installed")
def test_the_download_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.download", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for needle in ("ours (8 MiB x 8)", "floor: CRC-64 + pwrite", "official, EnableCRC=True", "ratio at defaults"):
        assert needle in done.stdout, done.stdout
