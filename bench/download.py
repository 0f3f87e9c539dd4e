"""Download benchmark: ``python -m bench.download [--quick]`` prints the numbers of docs/benchmarks.md's
"Download" section.

Every download runs in a fresh child process (:mod:`bench._download_child`) against the local server in a
process of its own (:class:`bench.procs.ServerProcess`); the objects are put there first with this package.

1. Peak RSS against object size (loopback; 8 MiB x 8): ``download_file`` must stay within 64 MiB +
   concurrency x part size and flat from 256 MiB to 4 GiB.
2. Against the official SDK's ``download_file`` at defaults on a 20 MiB/s + 30 ms link (the server's own
   per-connection cap and an emulated round trip, as the upload benchmark's "server" mode), both at defaults.
3. The official SDK with ``EnableCRC=True`` at 2 GiB: its memory against ours.
4. Client CPU per verified GiB (loopback) against the floor: the same bytes CRC-64'd and ``pwrite``'d with no
   network (:func:`bench._download_child.job_floor`).

The load of the machine (``os.getloadavg``) is printed before and after: the 2 cores are shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from bench.procs import ServerProcess, child_env, run_child

MIB = 1024 * 1024
GIB = 1024 * MIB
CHILD = (sys.executable, "-m", "bench._download_child")


def _make_file(folder: Path, size: int) -> Path:
    path = folder / f"src-{size}"
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        for offset in range(0, size, MIB):
            handle.write(block[: min(MIB, size - offset)])
    return path


def _put(server: ServerProcess, path: Path, key: str) -> None:
    from cos_multipart import CosClient, upload_file
    from cos_multipart.testing.server import TEST_CREDENTIALS

    with CosClient(server.bucket, server.region, TEST_CREDENTIALS, endpoint=server.endpoint) as client:
        upload_file(client, str(path), key, part_size=64 * MIB, concurrency=4, resume=False)


def _spec(server: ServerProcess, job: str, key: str, dest: Path, **extra: Any) -> Dict[str, Any]:
    spec: Dict[str, Any] = {"job": job, "bucket": server.bucket, "region": server.region, "endpoint": server.endpoint,
                            "domain": f"{server.host}:{server.port}", "key": key, "dest": str(dest)}  # fmt: skip
    spec.update(extra)
    return spec


def _run(spec: Dict[str, Any], runs: int) -> List[Dict[str, Any]]:
    results = []
    for _ in range(runs):
        Path(spec["dest"]).unlink(missing_ok=True)
        child = run_child(spec, command=CHILD, timeout=1800, env=child_env())
        if child.returncode != 0 or not child.output:
            raise RuntimeError(f"{spec['job']} failed ({child.returncode}): {child.stderr[-1500:]}")
        results.append(child.output)
        Path(spec["dest"]).unlink(missing_ok=True)
    return results


def _median(results: List[Dict[str, Any]], name: str) -> float:
    return float(statistics.median(result[name] for result in results))


def _line(label: str, size: int, results: List[Dict[str, Any]]) -> str:
    wall, cpu, rss = _median(results, "wall"), _median(results, "cpu"), max(r["peak_rss_mib"] for r in results)
    return (f"  {label:<34} {size / MIB:>7.0f} MiB  {size / MIB / wall:>8.1f} MiB/s  cpu {cpu:6.2f} s "
            f"({cpu / (size / GIB):5.2f} s/GiB)  peak RSS {rss:7.1f} MiB  (n={len(results)})")  # fmt: skip


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.download")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each (a smoke test)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--link-only", action="store_true", help="only section 2 (the 20 MiB/s + 30 ms link)")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    sizes = [16 * MIB, 64 * MIB] if args.quick else [256 * MIB, GIB, 4 * GIB]
    if args.link_only:
        sizes = []
    link_size = 32 * MIB if args.quick else 256 * MIB
    crc_size = 64 * MIB if args.quick else 2 * GIB
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-download-") as scratch:
        folder = Path(scratch)
        dest = folder / "dest"
        with ServerProcess(folder / "server") as server:
            print("1. peak RSS against object size (loopback, 8 MiB x 8; bound 64 MiB + 8 x 8 MiB = 128 MiB)")
            cpu_per_gib = []
            for size in sorted(set(sizes + ([] if args.link_only else [crc_size]))):
                source = _make_file(folder, size)
                _put(server, source, f"obj-{size}")
                if size in sizes:
                    ours = _run(_spec(server, "ours", f"obj-{size}", dest, part_size=8 * MIB, threads=8), runs)
                    print(_line("ours (8 MiB x 8)", size, ours), flush=True)
                    cpu_per_gib.append(_median(ours, "cpu") / (size / GIB))
                    floor = _run({"job": "floor", "path": str(source), "dest": str(dest)}, runs)
                    print(_line("floor: CRC-64 + pwrite, no network", size, floor), flush=True)
                if size == crc_size:
                    print(f"3. at {size / MIB:.0f} MiB, the official SDK with its CRC check against ours (loopback, defaults)")
                    print(_line("ours (defaults)", size, _run(_spec(server, "ours", f"obj-{size}", dest, defaults=True), 1)), flush=True)
                    print(_line("official, EnableCRC=True", size, _run(_spec(server, "official", f"obj-{size}", dest, crc=True), 1)), flush=True)
                source.unlink()
                os.sync()
        print("2. against the official SDK at defaults, 20 MiB/s per connection + 30 ms round trip")
        with ServerProcess(folder / "server-link", bandwidth=20 * MIB, rtt=0.03) as server:
            source = _make_file(folder, link_size)
            _put(server, source, "link")
            ours = _run(_spec(server, "ours", "link", dest, defaults=True), runs)
            official = _run(_spec(server, "official", "link", dest), runs)
            wider = _run(_spec(server, "ours", "link", dest, part_size=8 * MIB, threads=16), runs)
            print(_line("ours (defaults: 8 MiB x 8)", link_size, ours))
            print(_line("ours (8 MiB x 16)", link_size, wider))
            print(_line("official (defaults: 20 MB x 5)", link_size, official))
            print(f"  ratio at defaults: {_median(official, 'wall') / _median(ours, 'wall'):.2f}x; "
                  f"with 16 connections: {_median(official, 'wall') / _median(wider, 'wall'):.2f}x")
    print(f"4. client CPU per verified GiB (loopback): {', '.join(f'{value:.2f}' for value in cpu_per_gib)} s/GiB")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
