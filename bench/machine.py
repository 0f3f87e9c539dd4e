"""The machine and software a run measured: CPU, cores, memory, OS, Python and package versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Dict, Optional

PACKAGES = ("cos-multipart", "cos-python-sdk-v5", "requests", "urllib3", "crcmod", "fastcrc", "lxml", "matplotlib")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> Optional[float]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / (1024 * 1024), 1)
    except OSError:
        pass
    return None


def load_average() -> Optional[str]:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return None


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def crcmod_extension() -> bool:
    try:
        import crcmod.crcmod  # noqa: F401

        return bool(getattr(sys.modules["crcmod.crcmod"], "_usingExtension", False))
    except ImportError:
        return False


def describe() -> Dict[str, object]:
    """Everything the report prints about where it ran."""
    return {
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": load_average(),
        "crcmod_c_extension": crcmod_extension(),
        "versions": {name: version(name) for name in PACKAGES},
    }
