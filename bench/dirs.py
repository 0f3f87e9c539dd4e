"""Directory upload: files/s for many small files, GiB/s for a tree of large ones (``python -m bench run --only dirs``,
or ``python -m bench.dirs``).

Each client uploads the same tree in a fresh child process (:mod:`bench._dirjobs`), clients alternating:

* ``dir-ours``: :func:`cos_multipart._drivers.directory.upload_directory`, ``dir_concurrency`` requests at once;
* ``dir-official-pool``: the official SDK's ``put_object`` in a thread pool of the same size;
* ``dir-official-loop``: the official SDK's ``put_object`` in a simple loop (what its documentation shows);
* ``coscmd``: ``coscmd upload -r`` (Tencent's command line, built on the official SDK), ``max_thread`` =
  ``dir_concurrency``. It only speaks virtual-host style (``<bucket>.<endpoint>``), so it runs in the
  benchmark's namespace, whose own ``/etc/hosts`` names the server; without a namespace it is skipped.
  It is looked up as ``bench/out/coscmd-venv/bin/coscmd`` (``python3 -m venv bench/out/coscmd-venv &&
  bench/out/coscmd-venv/bin/pip install coscmd``: a venv of its own, so that its pins cannot change the SDK the
  benchmark compares with), else on ``PATH``;
* ``dir-cluster-N`` (with dask installed): :func:`cos_multipart.cluster.upload_directory_on_cluster` over a
  ``LocalCluster`` of N worker processes (2 threads each), each worker allowed ``dir_concurrency`` requests
  at once; the cluster's start is not timed;
* ``dir-ours-large``: ``upload_directory`` on a tree of ``dir_large_files`` large files (parts in parallel).

``python -m bench.dirs [--smoke] [--files N] [--workdir DIR]`` runs this measurement alone and prints its JSON.

Every run is checked afterwards (object count and total size from a listing) and its objects deleted. The
server runs in its own process; with a kernel link the clients reach it over the namespace's veth (no cap, no
added round trip), else over loopback.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from cos_multipart.testing.server import DEFAULT_BUCKET, DEFAULT_REGION, TEST_CREDENTIALS

from .netshape import LinkShape
from .network import Network, Served
from .procs import iter_alternating, pick_data_dir, run_child
from .settings import GIB, Settings, human
from .stats import spread
from .suites import available_clients

Log = Callable[[str], None]
ROOT = Path(__file__).resolve().parent.parent
#: The host name coscmd is given (``<bucket>.<COSCMD_DOMAIN>`` is mapped to the server in the namespace).
COSCMD_DOMAIN = "cosbench.test"


def make_tree(root: Path, files: int, size: int, *, per_dir: int = 100) -> List[Path]:
    """``files`` files of ``size`` random bytes, ``per_dir`` to a directory."""
    paths = []
    for index in range(files):
        path = root / f"d{index // per_dir:04d}" / f"f{index:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def coscmd_path() -> Optional[str]:
    local = ROOT / "bench" / "out" / "coscmd-venv" / "bin" / "coscmd"
    return str(local) if local.exists() else shutil.which("coscmd")


def _check_and_clean(served: Served, prefix: str, files: int, size: int) -> bool:
    with served.server.client() as client:
        listed = list(client.list_objects(prefix.rstrip("/") + "/"))
        ok = len(listed) == files and sum(o.size for o in listed) == files * size
        if listed:
            client.delete_objects([o.key for o in listed])
    return ok


def _spec(name: str, served: Served, root: Path, prefix: str, settings: Settings, workdir: Path) -> Dict[str, Any]:
    server = served.server
    workers = {"workers": int(name.rsplit("-", 1)[1])} if name.startswith("dir-cluster-") else {}
    job = "dir-ours" if name == "dir-ours-large" else "dir-cluster" if workers else name
    return {
        **workers,
        "job": job,
        "endpoint": server.endpoint,
        "domain": served.domain,
        "scheme": server.scheme,
        "ca": server.ca_path,
        "bucket": DEFAULT_BUCKET,
        "region": DEFAULT_REGION,
        "root": str(root),
        "prefix": prefix,
        "threads": settings.dir_concurrency,
        "checkpoint_dir": str(workdir / "dir-checkpoints"),
    }


def _coscmd_spec(served: Served, root: Path, prefix: str, settings: Settings, workdir: Path, program: str) -> Dict[str, Any]:
    config = workdir / "coscmd.conf"
    # The local server's documented test key (docs/local-server.md), in a file removed after the suite.
    config.write_text(
        "[common]\n"
        f"secret_id = {TEST_CREDENTIALS.secret_id}\nsecret_key = {TEST_CREDENTIALS.secret_key}\n"
        f"bucket = {DEFAULT_BUCKET}\nregion = {DEFAULT_REGION}\nmax_thread = {settings.dir_concurrency}\n"
        f"part_size = 8\nschema = {served.server.scheme}\nendpoint = {COSCMD_DOMAIN}:{served.server.port}\n"
        "retry = 0\n"
    )
    command = [program, "-c", str(config), "-l", str(workdir / "coscmd.log"), "-s", "upload", "-r", str(root), prefix + "/"]
    return {"job": "command", "command": command}


def run_dirs(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
    """Every directory client on the same small-file tree, alternating, on loopback (with the large-file tree)
    and on each shape of ``dir_shapes`` (fewer files: a simple loop pays the round trip per file)."""
    clients = available_clients(settings, settings.dir_clients)
    skipped: Dict[str, str] = {}
    program = coscmd_path()
    in_namespace = network.link() is not None
    if "coscmd" in clients and (program is None or not in_namespace):
        clients.remove("coscmd")
        skipped["coscmd"] = (
            "not installed (bench/out/coscmd-venv or PATH)" if program is None else
            "no network namespace here: coscmd only addresses <bucket>.<endpoint> host names, which only the "
            "namespace's own /etc/hosts can point at the local server"
        )  # fmt: skip
    cells = [_dir_cell(settings, workdir, log, network, clients, program, LinkShape("veth" if in_namespace else "loopback", None, 0.0),
                       settings.dir_files, large=True)]  # fmt: skip
    for name, cap, rtt in settings.dir_shapes:
        cells.append(_dir_cell(settings, workdir, log, network, clients, program, LinkShape(name, cap, rtt), settings.dir_shaped_files, large=False))
    return {
        "file_size": settings.dir_file_size,
        "large_files": settings.dir_large_files,
        "large_size": settings.dir_large_size,
        "concurrency": settings.dir_concurrency,
        "runs": settings.dir_runs,
        "network": network.mode,
        "skipped": skipped,
        "cells": cells,
    }


def _dir_cell(
    settings: Settings, workdir: Path, log: Log, network: Network, clients: List[str], program: Optional[str],
    shape: LinkShape, files: int, *, large: bool,
) -> Dict[str, Any]:  # fmt: skip
    small_root, large_root = workdir / "dirs-small", workdir / "dirs-large"
    log(f"[dirs] {shape.name}: writing {files:,} files of {human(settings.dir_file_size)}")
    make_tree(small_root, files, settings.dir_file_size)
    if large:
        make_tree(large_root, settings.dir_large_files, settings.dir_large_size, per_dir=4)
    runs: List[Dict[str, Any]] = []
    data_dir = pick_data_dir(2 * settings.dir_large_files * settings.dir_large_size + (1 << 30), settings.server_in_memory)
    try:
        with network.serve(shape, data_dir, unshaped_in_namespace=True) as served:
            link = network.link()
            if link is not None:
                link.set_hosts({f"{DEFAULT_BUCKET}.{COSCMD_DOMAIN}": served.server.host})
            plan = [(run, name, small_root, files, settings.dir_file_size) for run, name in iter_alternating(clients, settings.dir_runs)]
            if large:
                plan += [(run, "dir-ours-large", large_root, settings.dir_large_files, settings.dir_large_size) for run in range(settings.dir_runs)]
            for run, name, root, count, size in plan:
                prefix = f"bench-dirs/{name}-{run}"
                if name == "coscmd":
                    assert program is not None
                    spec = _coscmd_spec(served, root, prefix, settings, workdir, program)
                else:
                    spec = _spec(name, served, root, prefix, settings, workdir)
                server_cpu = served.server.cpu_seconds()
                child = run_child(spec, timeout=settings.child_timeout, prefix=served.prefix).check()
                server_cpu = served.server.cpu_seconds() - server_cpu
                wall = float(child.output["wall"])
                result = {
                    "client": name,
                    "run": run,
                    "files": count,
                    "size": size,
                    "wall": wall,
                    "cpu": child.output.get("cpu"),
                    "server_cpu": server_cpu,
                    "process_wall": child.process_wall,
                    "files_per_s": count / wall,
                    "gib_per_s": count * size / wall / GIB,
                    "verified": _check_and_clean(served, prefix, count, size),
                }
                runs.append(result)
                log(f"[dirs] {shape.name} {name:18s} run {run + 1}: {count / wall:8.1f} files/s, "
                    f"{count * size / wall / GIB:.3f} GiB/s, verified={result['verified']}")  # fmt: skip
    finally:
        shutil.rmtree(small_root, ignore_errors=True)
        shutil.rmtree(large_root, ignore_errors=True)
        shutil.rmtree(workdir / "dir-checkpoints", ignore_errors=True)
    summary = {
        name: {
            "files_per_s": spread(r["files_per_s"] for r in runs if r["client"] == name),
            "gib_per_s": spread(r["gib_per_s"] for r in runs if r["client"] == name),
            "cpu": spread(r["cpu"] for r in runs if r["client"] == name and r["cpu"] is not None),
            "cpu_ms_per_file": spread(1000 * r["cpu"] / r["files"] for r in runs if r["client"] == name and r["cpu"] is not None),
            "server_cpu_ms_per_file": spread(1000 * r["server_cpu"] / r["files"] for r in runs if r["client"] == name),
            # Client + server CPU over the wall time (the server's CPU is read around the whole child process).
            "cores_busy": spread((r["cpu"] + r["server_cpu"]) / r["wall"] for r in runs if r["client"] == name and r["cpu"] is not None),
            "verified": all(r["verified"] for r in runs if r["client"] == name),
        }
        for name in dict.fromkeys(r["client"] for r in runs)
    }
    return {"shape": shape.name, "cap": shape.cap, "rtt": shape.rtt, "files": files, "raw": runs, "summary": summary}


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m bench.dirs``: the directory measurement alone; prints its results as JSON."""
    import argparse
    import json
    import sys
    import tempfile

    from .settings import FULL, SMOKE
    from .suites import default_log

    parser = argparse.ArgumentParser(prog="python -m bench.dirs", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, the server's own shaping (no namespace)")
    parser.add_argument("--files", type=int, help="small files on loopback (default 10000)")
    parser.add_argument("--workdir", type=Path, help="where the trees go (default: a temporary directory)")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    if args.files:
        settings = settings.but(dir_files=args.files)
    network = Network(default_log, kernel=settings.kernel_shape)
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        try:
            results = run_dirs(settings, Path(work), default_log, network)
        finally:
            network.close()
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0 if all(s["verified"] for cell in results["cells"] for s in cell["summary"].values()) else 1


__all__ = ["run_dirs", "make_tree", "coscmd_path", "main"]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
