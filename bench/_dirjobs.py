"""Directory jobs of :mod:`bench._child`: one tree uploaded by one client, in a fresh process.

* ``dir-ours``: :func:`cos_multipart._drivers.directory.upload_directory` (one pool of request slots for every file
  and part);
* ``dir-official-pool``: the official SDK's ``put_object`` in a thread pool of the same size;
* ``dir-official-loop``: the official SDK's ``put_object`` in a simple loop, one file after the other, as
  its documentation shows it;
* ``dir-cluster``: :func:`cos_multipart.cluster.upload_directory_on_cluster` over a ``LocalCluster`` of
  ``workers`` processes (2 threads each) started by this process (so in its network namespace); the cluster's
  start is not timed, and the CPU of its worker processes is not counted (``cpu`` is then ``None``).

The tree is walked inside the timing for every client (sorted, as :func:`os.walk` gives it).
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path
from typing import Any, Callable, Dict, List

Spec = Dict[str, Any]
Result = Dict[str, Any]
Measure = Callable[[Callable[[], Result]], Result]


def tree_files(root: str) -> List[str]:
    """Every file under ``root``, relative, ``/``-separated, in a stable order."""
    found: List[str] = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            found.append(os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/"))
    return found


def job_dir_ours(spec: Spec, measure: Measure) -> Result:
    from cos_multipart import UploadConfig
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials
    from cos_multipart._drivers.directory import upload_directory

    concurrency = int(spec["threads"])
    client = CosClient(spec["bucket"], spec["region"], Credentials.from_env(), endpoint=spec["endpoint"],
                       pool_size=max(concurrency, 10), verify=spec.get("ca") or True)  # fmt: skip
    config = UploadConfig(concurrency=concurrency, checkpoint_dir=Path(spec["checkpoint_dir"]))

    def run() -> Result:
        with client:
            report = upload_directory(client, spec["root"], spec["prefix"], config=config)
        if report.failed:
            raise RuntimeError(f"{len(report.failed)} files failed, e.g. {report.failed[0]}")
        return {"files": len(report.uploaded)}

    return measure(run)


def job_files_ours(spec: Spec, measure: Measure) -> Result:
    """``files-ours``: :func:`cos_multipart.upload_file` called once per file of the tree, one after the other
    (what a script that uploads files one by one pays per call); the first ``warm`` files are not timed."""
    from cos_multipart import upload_file
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials

    client = CosClient(spec["bucket"], spec["region"], Credentials.from_env(), endpoint=spec["endpoint"],
                       verify=spec.get("ca") or True)  # fmt: skip
    root = spec["root"]
    prefix = spec["prefix"].rstrip("/") + "/"
    files = tree_files(root)
    warm = int(spec.get("warm", 0))

    def put(relative: str) -> None:
        upload_file(client, os.path.join(root, relative), prefix + relative, checkpoint_dir=spec["checkpoint_dir"])

    for relative in files[:warm]:
        put(relative)

    def run() -> Result:
        for relative in files[warm:]:
            put(relative)
        return {"files": len(files) - warm}

    with client:
        return measure(run)


def job_dir_official(spec: Spec, measure: Measure) -> Result:
    from ._child import official_client

    concurrency = int(spec["threads"])
    pooled = spec["job"] == "dir-official-pool"
    client = official_client(spec, concurrency if pooled else None)
    root = spec["root"]
    prefix = spec["prefix"].rstrip("/") + "/"

    def put(relative: str) -> None:
        path = os.path.join(root, relative)
        with open(path, "rb") as body:
            client.put_object(Bucket=spec["bucket"], Key=prefix + relative, Body=body)

    def run() -> Result:
        files = tree_files(root)
        if pooled:
            with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(put, files))
        else:
            for relative in files:
                put(relative)
        return {"files": len(files)}

    return measure(run)


def job_dir_cluster(spec: Spec, measure: Measure) -> Result:
    import importlib

    from cos_multipart import UploadConfig
    from cos_multipart.cluster import upload_directory_on_cluster
    from cos_multipart.remote import ClientConfig, EnvCredentials

    # Through Any: distributed's LocalCluster and Client are not annotated.
    distributed: Any = importlib.import_module("distributed")
    target = ClientConfig(spec["bucket"], spec["region"], EnvCredentials("COS_SECRET_ID", "COS_SECRET_KEY", None),
                          endpoint=spec["endpoint"])  # fmt: skip
    config = UploadConfig(concurrency=int(spec["threads"]), checkpoint_dir=Path(spec["checkpoint_dir"]))
    cluster = distributed.LocalCluster(n_workers=int(spec["workers"]), threads_per_worker=2, processes=True, dashboard_address=None)
    try:
        with distributed.Client(cluster) as dask_client:
            dask_client.run(importlib.import_module, "cos_multipart.remote")  # the workers' imports: not timed

            def run() -> Result:
                report = upload_directory_on_cluster(dask_client, target, spec["root"], spec["prefix"], upload_config=config)
                if report.failed:
                    raise RuntimeError(f"{len(report.failed)} files failed, e.g. {report.failed[0]}")
                return {"files": len(report.uploaded)}

            result = measure(run)
    finally:
        cluster.close()
    result["cpu"] = None  # the work ran in the worker processes
    return result


__all__ = ["job_dir_ours", "job_dir_official", "job_dir_cluster", "job_files_ours", "tree_files"]
