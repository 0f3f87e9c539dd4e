"""Directory upload: files/s for many small files, GiB/s for a tree of large ones.

``python -m bench.dirs [--smoke] [--files 10000] [--size 4096] [--concurrency 16] [--latency 0.0]
[--cluster-workers 1,2] [--only ours,cluster-1,cluster-2]``

The server runs in its own process (:class:`bench.procs.ServerProcess`); the clients run here, one after
the other, on the same tree:

* ``ours``: :func:`cos_multipart.directory.upload_directory` (one pool of request slots);
* ``official-pool``: the official SDK's ``put_object`` in a thread pool of the same size;
* ``sequential``: this package's ``put_object`` in a simple loop, one file after the other;
* ``ours-large``: :func:`upload_directory` on a tree of large files (parts in parallel);
* ``cluster-N`` (with dask installed): :func:`cos_multipart.cluster.upload_directory_on_cluster` on the
  small-file tree over a ``LocalCluster`` of N worker processes (``--cluster-workers``, default 1 and 2; 2
  threads each), each worker allowed ``--concurrency`` requests at once; the cluster's start is not timed.

Every run is checked afterwards (object count and total size from a listing) and its objects deleted.
Prints one JSON document; ``--latency`` adds a per-request delay on the server, as against a remote COS.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from cos_multipart import UploadConfig
from cos_multipart.client import CosClient
from cos_multipart.directory import upload_directory
from cos_multipart.testing.server import DEFAULT_BUCKET, DEFAULT_REGION, TEST_CREDENTIALS

from .procs import CLUSTER_ENV, ServerProcess, cluster_credentials

MIB = 1024 * 1024


def make_tree(root: Path, files: int, size: int, *, per_dir: int = 100) -> List[Path]:
    """``files`` files of ``size`` random bytes, ``per_dir`` to a directory."""
    paths = []
    for index in range(files):
        path = root / f"d{index // per_dir:04d}" / f"f{index:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def _client(server: ServerProcess, pool: int) -> CosClient:
    return CosClient(DEFAULT_BUCKET, DEFAULT_REGION, TEST_CREDENTIALS, endpoint=server.endpoint, pool_size=max(pool, 10))


def _check_and_clean(server: ServerProcess, prefix: str, files: int, size: int) -> bool:
    with _client(server, 10) as client:
        listed = list(client.list_objects(prefix))
        ok = len(listed) == files and sum(o.size for o in listed) == files * size
        client.delete_objects([o.key for o in listed])
    return ok


def run_ours(server: ServerProcess, root: Path, prefix: str, concurrency: int, checkpoints: Path) -> float:
    config = UploadConfig(concurrency=concurrency, checkpoint_dir=checkpoints)
    with _client(server, concurrency) as client:
        started = time.perf_counter()
        report = upload_directory(client, root, prefix, config=config)
        elapsed = time.perf_counter() - started
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} files failed: {report.failed[0]}")
    return elapsed


def run_cluster(server: ServerProcess, root: Path, prefix: str, workers: int, concurrency: int, checkpoints: Path) -> Optional[float]:
    """Seconds :func:`upload_directory_on_cluster` takes over ``workers`` worker processes, or ``None``
    without dask."""
    if importlib.util.find_spec("distributed") is None:
        return None
    # Through Any: distributed's LocalCluster and Client are not annotated.
    distributed: Any = importlib.import_module("distributed")
    from cos_multipart.cluster import upload_directory_on_cluster
    from cos_multipart.remote import ClientConfig, EnvCredentials

    target = ClientConfig(DEFAULT_BUCKET, DEFAULT_REGION, EnvCredentials(*CLUSTER_ENV, None), endpoint=server.endpoint)
    config = UploadConfig(concurrency=concurrency, checkpoint_dir=checkpoints)
    with cluster_credentials() as env:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=2, processes=True, dashboard_address=None, env=env)
        try:
            with distributed.Client(cluster) as dask_client:
                dask_client.run(importlib.import_module, "cos_multipart.remote")  # the workers' imports: not timed
                started = time.perf_counter()
                report = upload_directory_on_cluster(dask_client, target, root, prefix, upload_config=config)
                elapsed = time.perf_counter() - started
        finally:
            cluster.close()
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} files failed: {report.failed[0]}")
    return elapsed


def run_sequential(server: ServerProcess, paths: List[Path], root: Path, prefix: str) -> float:
    with _client(server, 1) as client:
        started = time.perf_counter()
        for path in paths:
            client.put_object(f"{prefix}/{path.relative_to(root).as_posix()}", path.read_bytes())
        return time.perf_counter() - started


def run_official_pool(server: ServerProcess, paths: List[Path], root: Path, prefix: str, concurrency: int) -> Optional[float]:
    if importlib.util.find_spec("qcloud_cos") is None:
        return None
    import qcloud_cos  # type: ignore[import-untyped]

    config = qcloud_cos.CosConfig(
        Region=DEFAULT_REGION, SecretId=TEST_CREDENTIALS.secret_id, SecretKey=TEST_CREDENTIALS.secret_key,
        Domain=f"127.0.0.1:{server.port}", Scheme="http", PoolConnections=concurrency, PoolMaxSize=concurrency,
    )  # fmt: skip
    client = qcloud_cos.CosS3Client(config)

    def put(path: Path) -> None:
        with open(path, "rb") as handle:
            client.put_object(Bucket=DEFAULT_BUCKET, Key=f"{prefix}/{path.relative_to(root).as_posix()}", Body=handle)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(put, paths))
    return time.perf_counter() - started


def measure(
    files: int, size: int, large_files: int, large_size: int, concurrency: int, latency: float, work: Path,
    *, cluster_workers: Tuple[int, ...] = (1, 2), only: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """Every client on the same trees (or those named in ``only``); returns files/s (small) and GiB/s (large)."""
    small_root, large_root = work / "small", work / "large"
    paths = make_tree(small_root, files, size)
    if only is None or "ours-large" in only:
        make_tree(large_root, large_files, large_size, per_dir=4)
    results: Dict[str, Any] = {"files": files, "size": size, "concurrency": concurrency, "latency": latency,
                               "large_files": large_files, "large_size": large_size, "runs": {}}  # fmt: skip
    with ServerProcess(work / "data", latency=latency) as server:
        runs: Dict[str, Callable[[], Optional[float]]] = {
            "ours": lambda: run_ours(server, small_root, "ours", concurrency, work / "ckpt"),
            "official-pool": lambda: run_official_pool(server, paths, small_root, "official-pool", concurrency),
            "sequential": lambda: run_sequential(server, paths, small_root, "sequential"),
        }
        for workers in cluster_workers:
            runs[f"cluster-{workers}"] = functools.partial(
                run_cluster, server, small_root, f"cluster-{workers}", workers, concurrency, work / "ckpt"
            )
        for name, run in runs.items():
            if only is not None and name not in only:
                continue
            elapsed = run()
            if elapsed is None:
                continue
            verified = _check_and_clean(server, name, files, size)
            results["runs"][name] = {"seconds": round(elapsed, 3), "files_per_s": round(files / elapsed, 1), "verified": verified}
        if only is None or "ours-large" in only:
            elapsed = run_ours(server, large_root, "large", concurrency, work / "ckpt")
            verified = _check_and_clean(server, "large", large_files, large_size)
            total = large_files * large_size
            results["runs"]["ours-large"] = {"seconds": round(elapsed, 3), "gib_per_s": round(total / elapsed / 1024**3, 3), "verified": verified}
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dirs", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves the benchmark runs")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--large-files", type=int, default=8)
    parser.add_argument("--large-size", type=int, default=128 * MIB)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the server adds to every request")
    parser.add_argument("--workdir", type=Path, help="where the trees and the server's data go (default: a temporary directory)")
    parser.add_argument("--cluster-workers", default="1,2", help="worker processes of the cluster runs, comma-separated ('' for none)")
    parser.add_argument("--only", help="comma-separated runs to measure (ours, official-pool, sequential, cluster-N, ours-large)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.files, args.large_files, args.large_size, args.concurrency = 40, 2, 3 * MIB, 4
    workers = tuple(int(count) for count in args.cluster_workers.split(",") if count.strip())
    only = [name.strip() for name in args.only.split(",")] if args.only else None
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        results = measure(args.files, args.size, args.large_files, args.large_size, args.concurrency, args.latency, Path(work),
                          cluster_workers=workers, only=only)  # fmt: skip
    print(json.dumps(results, indent=2))
    return 0 if all(run["verified"] for run in results["runs"].values()) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
