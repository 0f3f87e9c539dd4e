"""One measured job in a fresh process: ``python -m bench._child '<json spec>'``.

The spec names the job (``ours``, ``official``, ``put``, ``md5``) and its inputs; credentials come from the
environment (``COS_SECRET_ID``/``COS_SECRET_KEY``), never from the spec. The job's result is printed as the
last line of stdout, as JSON, with the wall time and the CPU time (user + sys, all threads) of the job
itself, measured inside the process after the imports. The parent adds the process totals (``os.wait4``).

``crc: "crcmod"`` hides the fast CRC backend before :mod:`cos_multipart` is imported, so the package runs
exactly as it does where only the required ``crcmod`` is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

Spec = Dict[str, Any]
Result = Dict[str, Any]
#: Socket write size of the floor PUT: the same as the package's transport, so the floor is not slowed by
#: urllib3's 16 KiB default.
FLOOR_BLOCKSIZE = 1024 * 1024
READ_CHUNK = 1024 * 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib() -> float:
    """Peak RSS of this process so far, MiB.

    ``VmHWM`` is the high-water mark of this process's own address space. ``ru_maxrss`` is not used: Linux
    carries the RSS of the process that exec'd into it (here the parent's Python) over the exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def job_ours(spec: Spec) -> Result:
    """Upload with :func:`cos_multipart.uploader.upload_file` (verified, resumable, parallel)."""
    if spec.get("crc") == "crcmod":
        sys.modules["fastcrc"] = None  # type: ignore[assignment]  # makes "import fastcrc" fail
    from cos_multipart import checksum
    from cos_multipart.client import CosClient
    from cos_multipart.credentials import Credentials
    from cos_multipart.uploader import upload_file

    threads = int(spec["threads"])
    client = CosClient(
        bucket=spec["bucket"],
        region=spec["region"],
        credentials=Credentials.from_env(),
        endpoint=spec["endpoint"],
        pool_size=threads,
    )
    baseline = _rss_mib()

    def run() -> Result:
        with client:
            result = upload_file(
                client,
                spec["path"],
                spec["key"],
                part_size=int(spec["part_size"]),
                # Like the official SDK: one PUT only when the file fits in one part.
                multipart_threshold=int(spec["part_size"]) + 1,
                concurrency=threads,
                checkpoint_dir=spec["checkpoint_dir"],
                # ours-no-md5: parts checked by CRC-64 only (UploadConfig.verify_md5=False).
                verify_md5=spec.get("md5") is not False,
            )
        return {"crc64": result.crc64, "size": result.size, "parts_reused": result.parts_reused}

    result = _measure(run)
    result.update(backend=checksum.CRC64_BACKEND, rss_after_import_mib=baseline)
    return result


def job_official(spec: Spec) -> Result:
    """Upload with the official SDK's ``CosS3Client.upload_file`` (same part size and threads)."""
    from qcloud_cos import CosConfig, CosS3Client  # type: ignore[import-untyped]

    threads = int(spec["threads"])
    config = CosConfig(
        Region=spec["region"],
        SecretId=os.environ["COS_SECRET_ID"],
        SecretKey=os.environ["COS_SECRET_KEY"],
        Scheme="http",
        Domain=spec["domain"],
        PoolConnections=threads,
        PoolMaxSize=max(10, threads),
    )
    client = CosS3Client(config)
    baseline = _rss_mib()
    part_mib = int(spec["part_size"]) // (1024 * 1024)

    def run() -> Result:
        response = client.upload_file(
            Bucket=spec["bucket"], Key=spec["key"], LocalFilePath=spec["path"], PartSize=part_mib, MAXThread=threads
        )
        crc = {name.lower(): value for name, value in response.items()}.get("x-cos-hash-crc64ecma")
        return {"crc64": int(crc) if crc else None, "size": os.path.getsize(spec["path"])}

    result = _measure(run)
    result["rss_after_import_mib"] = baseline
    return result


def job_put(spec: Spec) -> Result:
    """The floor: the file streamed in ``threads`` plain PUTs (one slice each), no hashing, no checks."""
    import requests
    from requests.adapters import HTTPAdapter

    from cos_multipart.credentials import Credentials
    from cos_multipart import CosAuth

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
            kwargs["blocksize"] = FLOOR_BLOCKSIZE
            super().init_poolmanager(connections, maxsize, block, **kwargs)

    threads = int(spec["threads"])
    size = os.path.getsize(spec["path"])
    auth = CosAuth(Credentials.from_env())
    session = requests.Session()
    session.mount("http://", Adapter(pool_maxsize=threads))
    baseline = _rss_mib()
    fd = os.open(spec["path"], os.O_RDONLY)
    slices = _slices(size, threads)

    def put(index: int, errors: List[BaseException]) -> None:
        offset, length = slices[index]
        try:
            body = _RangeReader(fd, offset, length)
            url = f"{spec['endpoint']}/{spec['key']}.{index}"
            response = session.put(url, data=body, auth=auth, headers={"Content-Length": str(length)})
            response.raise_for_status()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    def run() -> Result:
        errors: List[BaseException] = []
        workers = [threading.Thread(target=put, args=(i, errors)) for i in range(len(slices))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]
        return {"size": size, "objects": len(slices)}

    try:
        result = _measure(run)
    finally:
        os.close(fd)
    result["rss_after_import_mib"] = baseline
    return result


def job_md5(spec: Spec) -> Result:
    """The floor of hashing: MD5 of the file, read in 1 MiB chunks into one buffer, one thread."""
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)

    def run() -> Result:
        digest = hashlib.md5()
        size = 0
        with open(spec["path"], "rb", buffering=0) as handle:
            while True:
                count = handle.readinto(view)
                if not count:
                    break
                digest.update(view[:count])
                size += count
        return {"size": size, "md5": digest.hexdigest()}

    return _measure(run)


class _RangeReader:
    """``read(n)`` over ``[offset, offset + length)`` of a file with ``os.pread``; nothing else."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd = fd
        self._offset = offset
        self._length = length
        self._position = 0

    def __len__(self) -> int:
        return self._length - self._position

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._position
        want = left if size is None or size < 0 else min(size, left)
        if want <= 0:
            return b""
        data = os.pread(self._fd, want, self._offset + self._position)
        self._position += len(data)
        return data


def _slices(size: int, count: int) -> List[tuple[int, int]]:
    count = max(1, min(count, size or 1))
    step = -(-size // count)
    return [(start, min(step, size - start)) for start in range(0, size, step)] or [(0, 0)]


def _measure(run: Callable[[], Result]) -> Result:
    cpu = _cpu()
    started = time.perf_counter()
    result = run()
    result["wall"] = time.perf_counter() - started
    result["cpu"] = _cpu() - cpu
    result["peak_rss_mib"] = _rss_mib()
    return result


def job_ours_async(spec: Spec) -> Result:
    """Upload with :func:`cos_multipart.aio.async_upload_file` (the asyncio driver; same options)."""
    import asyncio

    from cos_multipart import checksum
    from cos_multipart.aio import AsyncCosClient, async_upload_file
    from cos_multipart.credentials import Credentials

    threads = int(spec["threads"])
    baseline = _rss_mib()

    async def upload() -> Result:
        async with AsyncCosClient(
            spec["bucket"], spec["region"], Credentials.from_env(), endpoint=spec["endpoint"], pool_size=threads
        ) as client:
            result = await async_upload_file(
                client, spec["path"], spec["key"], part_size=int(spec["part_size"]),
                multipart_threshold=int(spec["part_size"]) + 1, concurrency=threads,
                checkpoint_dir=spec["checkpoint_dir"],
            )  # fmt: skip
        return {"crc64": result.crc64, "size": result.size, "parts_reused": result.parts_reused}

    result = _measure(lambda: asyncio.run(upload()))
    result.update(backend=checksum.CRC64_BACKEND, rss_after_import_mib=baseline)
    return result


JOBS: Dict[str, Callable[[Spec], Result]] = {
    "ours": job_ours,
    "ours-async": job_ours_async,
    "official": job_official,
    "put": job_put,
    "md5": job_md5,
}


def main(argv: List[str]) -> int:
    spec: Spec = json.loads(argv[0])
    result: Optional[Result] = JOBS[spec["job"]](spec)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
