"""Every measurement by name, with one signature: ``(settings, workdir, log, network) -> results``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict

from . import compare, dirs, suites
from .network import Network
from .settings import Settings

Log = Callable[[str], None]
Suite = Callable[[Settings, Path, Log, Network], Dict[str, Any]]


def _local(function: Callable[[Settings, Path, Log], Dict[str, Any]]) -> Suite:
    """A measurement that needs no shaped link."""

    def suite(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
        return function(settings, workdir, log)

    return suite


SUITE_FUNCTIONS: Dict[str, Suite] = {
    "compare": compare.run_compare,
    "floors": compare.run_floors,
    "partsize": compare.run_partsize,
    "scaling": suites.run_scaling,
    "dirs": dirs.run_dirs,
    "async": suites.run_async,
    "cluster": _local(suites.run_cluster),
    "memory": _local(suites.run_memory),
    "crc": _local(suites.run_crc),
    "sign": _local(suites.run_sign),
    "resume": _local(suites.run_resume),
    "upload": _local(suites.run_upload),
    "oss": compare.run_oss,
}

__all__ = ["SUITE_FUNCTIONS", "Suite"]
