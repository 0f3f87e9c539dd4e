"""``python -m bench.cpu_breakdown``: where the client's CPU per GiB goes, from ``perf`` samples (issue 25).

Each job is the one ``bench goals`` measures (``bench._child``: ``ours`` with MD5, the ``md5``+``crc64`` floor,
the one-stream ``put`` floor), run in a fresh process under ``perf record -e cpu-clock -g`` against one local
server (loopback, another process). Only samples taken while the job ran are counted (``perf`` stamps them
with CLOCK_MONOTONIC, the job reports its start and end on that clock): no imports, no set-up. Each sample is put in one category by its innermost frame (MD5 is libcrypto, the CRC fastcrc,
Python libpython) and kernel samples by the system call or handler on their stack (the file read, the socket
send, the rest), then printed in seconds per GiB next to each other, with the user/kernel split.

Needs ``perf`` and the permission to use it (root, or ``kernel.perf_event_paranoid`` <= 1); the machine's load
average is printed with every job, since on a shared machine it moves the numbers by +-5 %.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .goals import _common
from .procs import ServerProcess, child_env, pick_data_dir
from .settings import GIB, MIB, parse_size
from .suites import make_file

#: Sampling rate of ``perf record`` (Hz): 1 sample = 1/HZ s of CPU.
HZ = 2000
JOBS: Dict[str, Dict[str, object]] = {
    "ours-md5": {"job": "ours", "md5": True},
    "ours-crc": {"job": "ours", "md5": False},
    "floor-md5+crc64": {"job": "md5", "hashes": ["md5", "crc64"]},
    "floor-put": {"job": "put", "threads": 1},
}
#: Kernel categories: the first of these functions found on a kernel sample's stack names it.
KERNEL = (("read", "filemap_read"), ("send", "tcp_sendmsg"), ("receive", "tcp_recvmsg"), ("futex", "__x64_sys_futex"),
          ("page faults", "asm_exc_page_fault"), ("softirq", "handle_softirqs"))  # fmt: skip
_FRAME = re.compile(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")

Sample = Tuple[int, float, List[Tuple[str, str]]]  # thread id, time, frames innermost first (symbol, dso)


def _perf() -> str:
    found = shutil.which("perf")
    if found is None:
        raise SystemExit("perf is not installed")
    return found


def _samples(data: Path) -> List[Sample]:
    text = subprocess.run([_perf(), "script", "-i", str(data), "-F", "tid,time,ip,sym,dso"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    samples: List[Sample] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith("\t"):  # a sample's head ("  tid  time:"), then its frames, one a line after a tab
            fields = line.split()
            samples.append((int(fields[0]), float(fields[1].rstrip(":")), []))
            continue
        match = _FRAME.match(line)
        if match and samples:
            samples[-1][2].append((match.group(1).split("+")[0], match.group(2).rsplit("/", 1)[-1]))
    return [sample for sample in samples if sample[2]]


def _category(frames: List[Tuple[str, str]]) -> str:
    leaf = frames[0][1]
    if "kernel" in leaf:
        names = {name for name, _ in frames}
        return "kernel " + next((label for label, name in KERNEL if name in names), "other")
    if "libcrypto" in leaf:
        return "user MD5 (libcrypto)"
    if "fastcrc" in leaf or "crcmod" in leaf:
        return "user CRC-64"
    if leaf.startswith("libpython"):
        return "user Python"
    return "user other"


def breakdown(data: Path, gib: float, window: Sequence[float]) -> Dict[str, float]:
    """Seconds per GiB by category of the samples taken within ``window`` (CLOCK_MONOTONIC seconds)."""
    samples = _samples(data)
    main = min(tid for tid, _, _ in samples)
    samples = [sample for sample in samples if window[0] <= sample[1] <= window[1]]
    counts = collections.Counter(_category(frames) for _, _, frames in samples)
    counts["main thread"] = sum(1 for tid, _, _ in samples if tid == main)
    return {name: count / HZ / gib for name, count in counts.items()}


def run(size: int, jobs: Sequence[str], workdir: Path) -> Dict[str, Dict[str, float]]:
    """Each job in ``jobs`` once under ``perf record``; their breakdowns."""
    path = workdir / "large.bin"
    make_file(path, size)
    env = child_env()
    results: Dict[str, Dict[str, float]] = {}
    with ServerProcess(pick_data_dir(3 * size, True)) as server:
        for name in jobs:
            spec = {**_common(server, workdir), "path": str(path), "part_size": 8 * MIB, "threads": 8,
                    **JOBS[name], "key": f"cpu-breakdown/{name}"}  # fmt: skip
            data = workdir / f"{name}.data"
            load = os.getloadavg()[0]
            command = [_perf(), "record", "-q", "-k", "CLOCK_MONOTONIC", "-e", "cpu-clock", "-F", str(HZ), "-g", "-o", str(data), "--",
                       sys.executable, "-m", "bench._child", json.dumps(spec)]  # fmt: skip
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[name] = {"measured cpu (job)": result["cpu"] / (size / GIB), "load": load,
                             **breakdown(data, size / GIB, result["monotonic_window"])}  # fmt: skip
    return results


def render(results: Dict[str, Dict[str, float]]) -> str:
    """A table: one row per category, one column per job (s/GiB)."""
    names = list(results)
    rows = sorted({key for result in results.values() for key in result} - {"load", "measured cpu (job)"})
    lines = ["| s/GiB | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in ["measured cpu (job)", *rows, "load"]:
        lines.append(f"| {row} | " + " | ".join(f"{results[name].get(row, 0.0):.3f}" for name in names) + " |")
    total = {name: sum(v for k, v in results[name].items() if k.startswith(("user", "kernel"))) for name in names}
    lines.append("| sampled total | " + " | ".join(f"{total[name]:.3f}" for name in names) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_breakdown", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=parse_size, default=512 * MIB, help="file size (default 512MiB)")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated subset of {','.join(JOBS)}")
    args = parser.parse_args(argv)
    jobs = [job for job in args.jobs.split(",") if job]
    unknown = [job for job in jobs if job not in JOBS]
    if unknown:
        parser.error(f"--jobs: unknown {', '.join(unknown)}; choose from {', '.join(JOBS)}")
    _perf()
    workdir = Path(tempfile.mkdtemp(prefix="cos-cpu-breakdown-"))
    try:
        print(render(run(args.size, jobs, workdir)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
