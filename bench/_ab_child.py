"""One measured upload of ``python -m bench ab``: ``python _ab_child.py '<json spec>'``.

This file is run by path from a directory holding only itself (see :mod:`bench.ab`), with ``PYTHONPATH``
set to one source tree of the project: so ``cos_multipart`` is that tree's, and nothing else of this
checkout's ``bench`` package is imported. Only the public API is used (``upload_file``, ``async_upload_file``,
``upload_file_on_cluster``), so the same script measures an old and a new tree.

Spec keys: ``path`` (``threads``, ``asyncio``, ``cluster`` or ``stream``), ``file``, ``key``, ``endpoint``,
``bucket``, ``region``, ``part_size``, ``concurrency``, ``checkpoint_dir`` and, for the cluster,
``cluster_workers`` and ``cluster_threads``. ``stream`` reads the object from stdin (a pipe the parent
fills). Credentials come from the environment (``COS_SECRET_ID``/``COS_SECRET_KEY``).

The result is the last line of stdout, as JSON: the upload's wall and CPU seconds (user + sys of every thread
of this process, measured around the call only, after the imports and, for the cluster, after its start),
the CPU of the imports, the peak RSS (``VmHWM``), the uploaded size and CRC-64, and which ``cos_multipart``
was imported. For the cluster, the workers' CPU during the call and their peak RSS are added.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any, Callable, Dict

Spec = Dict[str, Any]
Result = Dict[str, Any]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def vmhwm_mib() -> float:
    """Peak RSS of this process's own image so far, MiB (``ru_maxrss`` may carry the forking parent's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(run: Callable[[], Result]) -> Result:
    cpu = _cpu()
    started = time.perf_counter()
    result = run()
    result["wall"] = time.perf_counter() - started
    result["cpu"] = _cpu() - cpu
    result["peak_rss_mib"] = vmhwm_mib()
    return result


def _tuned(spec: Spec) -> Dict[str, Any]:
    part_size = int(spec["part_size"])
    # One PUT only when the whole object fits in one part, as in the other measurements of the bench.
    return {"part_size": part_size, "multipart_threshold": part_size + 1, "concurrency": int(spec["concurrency"]),
            "checkpoint_dir": spec["checkpoint_dir"]}  # fmt: skip


def _client(spec: Spec) -> Any:
    from cos_multipart import CosClient, Credentials

    return CosClient(
        bucket=spec["bucket"], region=spec["region"], credentials=Credentials.from_env(), endpoint=spec["endpoint"],
        pool_size=int(spec["concurrency"]),
    )  # fmt: skip


def _answer(result: Any) -> Result:
    return {"crc64": result.crc64, "size": result.size}


def job_threads(spec: Spec) -> Result:
    from cos_multipart import upload_file

    client = _client(spec)

    def run() -> Result:
        with client:
            return _answer(upload_file(client, spec["file"], spec["key"], **_tuned(spec)))

    return _measure(run)


def job_stream(spec: Spec) -> Result:
    from cos_multipart import upload_file

    client = _client(spec)
    # Unbuffered: the uploader reads the pipe itself, part buffer by part buffer.
    pipe = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)

    def run() -> Result:
        with client:
            return _answer(upload_file(client, pipe, spec["key"], **_tuned(spec)))

    return _measure(run)


def job_asyncio(spec: Spec) -> Result:
    import asyncio

    from cos_multipart import Credentials
    from cos_multipart.aio import AsyncCosClient, async_upload_file

    async def upload() -> Result:
        async with AsyncCosClient(
            spec["bucket"], spec["region"], Credentials.from_env(), endpoint=spec["endpoint"],
            pool_size=int(spec["concurrency"]),
        ) as client:  # fmt: skip
            return _answer(await async_upload_file(client, spec["file"], spec["key"], **_tuned(spec)))

    return _measure(lambda: asyncio.run(upload()))


def job_cluster(spec: Spec) -> Result:
    import importlib

    distributed: Any = importlib.import_module("distributed")  # not annotated
    from cos_multipart import UploadConfig
    from cos_multipart import cluster as cluster_module

    remote = _remote_module(cluster_module)
    target = remote.ClientConfig(
        spec["bucket"], spec["region"], remote.EnvCredentials("COS_SECRET_ID", "COS_SECRET_KEY", None), endpoint=spec["endpoint"]
    )
    tuned = _tuned(spec)
    tuned.pop("concurrency")  # the cluster's threads are the concurrency
    config = UploadConfig(**tuned)
    env = {name: os.environ[name] for name in ("COS_SECRET_ID", "COS_SECRET_KEY", "PYTHONPATH") if name in os.environ}
    cluster = distributed.LocalCluster(
        n_workers=int(spec["cluster_workers"]), threads_per_worker=int(spec["cluster_threads"]), processes=True,
        dashboard_address=None, env=env,
    )  # fmt: skip
    try:
        with distributed.Client(cluster) as dask_client:
            # Part of the cluster's start, not of the upload: the workers import the package.
            modules = dask_client.run(_module_file, "cos_multipart.cluster")
            before = dask_client.run(time.process_time)

            def run() -> Result:
                return _answer(cluster_module.upload_file_on_cluster(dask_client, target, spec["file"], spec["key"], upload_config=config))

            result = _measure(run)
            after = dask_client.run(time.process_time)
            result["workers_cpu"] = sum(after[name] - before.get(name, 0.0) for name in after)
            result["workers_peak_rss_mib"] = max(dask_client.run(vmhwm_mib).values())
            result["workers_module_files"] = sorted(set(modules.values()))
    finally:
        cluster.close()
    return result


def _remote_module(cluster_module: Any) -> Any:
    """The module defining ``ClientConfig`` and ``EnvCredentials`` (``cos_multipart.remote`` today)."""
    import importlib

    # The cluster module imports ClientConfig, so its defining module is found wherever a layout puts it.
    config = getattr(cluster_module, "ClientConfig", None)
    candidates = [config.__module__] if config is not None else []
    for name in [*candidates, "cos_multipart.remote", "cos_multipart._drivers.remote"]:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "EnvCredentials") and hasattr(module, "ClientConfig"):
            return module
    raise ImportError("no module of this tree defines ClientConfig and EnvCredentials")


def _module_file(name: str) -> str:
    import importlib

    return str(importlib.import_module(name).__file__)


JOBS: Dict[str, Callable[[Spec], Result]] = {
    "threads": job_threads,
    "asyncio": job_asyncio,
    "cluster": job_cluster,
    "stream": job_stream,
}


def main(argv: list[str]) -> int:
    started_cpu = _cpu()
    spec: Spec = json.loads(argv[0])
    import cos_multipart

    job = JOBS[spec["path"]]
    result = job(spec)
    result["module_file"] = cos_multipart.__file__
    result["version"] = getattr(cos_multipart, "__version__", None)
    # Everything the process spent outside the measured call: imports, client set-up, the cluster's start.
    result["setup_cpu"] = _cpu() - started_cpu - result["cpu"]
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
