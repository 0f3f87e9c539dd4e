"""Directory jobs of :mod:`bench._child`: one tree uploaded by one client, in a fresh process.

* ``dir-ours``: :func:`cos_multipart.directory.upload_directory` (one pool of request slots for every file
  and part);
* ``dir-official-pool``: the official SDK's ``put_object`` in a thread pool of the same size;
* ``dir-official-loop``: the official SDK's ``put_object`` in a simple loop, one file after the other, as
  its documentation shows it.

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
    from cos_multipart.client import CosClient
    from cos_multipart.credentials import Credentials
    from cos_multipart.directory import upload_directory

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


__all__ = ["job_dir_ours", "job_dir_official", "tree_files"]
