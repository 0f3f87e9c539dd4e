"""One measured job in a fresh process: ``python -m bench._child '<json spec>'``.

The spec names the job (``ours``, ``official``, ``put``, ``md5``, ``tls``, ``probe``, ``command``, the
directory jobs of :mod:`bench._dirjobs`) and its inputs; credentials come from the
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
    """Upload with :func:`cos_multipart._drivers.uploader.upload_file` (verified, resumable, parallel).

    ``defaults: true`` calls it as a user would, with nothing but the client, the file and the key (the
    package's own part size, concurrency and connection pool); otherwise ``part_size`` and ``threads`` (and a
    pool of ``threads`` connections) are given. ``md5: false`` turns the MD5 part check off (CRC-64 only).
    """
    if spec.get("crc") == "crcmod":
        sys.modules["fastcrc"] = None  # type: ignore[assignment]  # makes "import fastcrc" fail
    from cos_multipart._protocol import checksum
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials
    from cos_multipart._drivers.uploader import upload_file

    defaults = bool(spec.get("defaults"))
    threads = int(spec["threads"])
    client_options: Dict[str, Any] = {} if defaults else {"pool_size": threads}
    if spec.get("dialect"):
        client_options["dialect"] = spec["dialect"]
    client = CosClient(
        bucket=spec["bucket"],
        region=spec["region"],
        credentials=Credentials.from_env(),
        endpoint=spec["endpoint"],
        verify=spec.get("ca") or True,
        **client_options,
    )
    tuned: Dict[str, Any] = {} if defaults else {
        "part_size": int(spec["part_size"]),
        # Like the official SDK: one PUT only when the file fits in one part.
        "multipart_threshold": int(spec["part_size"]) + 1,
        "concurrency": threads,
    }  # fmt: skip
    baseline = _rss_mib()

    def run() -> Result:
        with client:
            result = upload_file(
                client,
                spec["path"],
                spec["key"],
                checkpoint_dir=spec["checkpoint_dir"],
                # ours-no-md5: parts checked by CRC-64 only (UploadConfig.verify_md5=False).
                verify_md5=spec.get("md5") is not False,
                **tuned,
            )
        return {"crc64": result.crc64, "size": result.size, "parts_reused": result.parts_reused}

    result = _measure(run)
    result.update(backend=checksum.CRC64_BACKEND, rss_after_import_mib=baseline)
    return result


def official_client(spec: Spec, threads: Optional[int]) -> Any:
    """The official SDK's ``CosS3Client`` for the local server (``threads=None``: its default pool)."""
    from qcloud_cos import CosConfig, CosS3Client  # type: ignore[import-untyped]

    pool: Dict[str, Any] = {} if threads is None else {"PoolConnections": threads, "PoolMaxSize": max(10, threads)}
    config = CosConfig(
        Region=spec["region"],
        SecretId=os.environ["COS_SECRET_ID"],
        SecretKey=os.environ["COS_SECRET_KEY"],
        Scheme=spec.get("scheme", "http"),
        Domain=spec["domain"],
        VerifySSL=spec.get("ca"),
        **pool,
    )
    return CosS3Client(config)


def job_official(spec: Spec) -> Result:
    """Upload with the official SDK's ``CosS3Client.upload_file``.

    ``defaults: true``: as a user calls it (1 MB parts, 5 threads, its default pool, no MD5); otherwise the
    spec's part size and threads. ``md5: true`` passes ``EnableMD5=True`` (a Content-MD5 on every part).
    """
    defaults = bool(spec.get("defaults"))
    threads = int(spec["threads"])
    client = official_client(spec, None if defaults else threads)
    baseline = _rss_mib()
    options: Dict[str, Any] = {} if defaults else {"PartSize": int(spec["part_size"]) // (1024 * 1024), "MAXThread": threads}
    if spec.get("md5"):
        options["EnableMD5"] = True

    def run() -> Result:
        response = client.upload_file(Bucket=spec["bucket"], Key=spec["key"], LocalFilePath=spec["path"], **options)
        crc = {name.lower(): value for name, value in response.items()}.get("x-cos-hash-crc64ecma")
        return {"crc64": int(crc) if crc else None, "size": os.path.getsize(spec["path"])}

    result = _measure(run)
    result["rss_after_import_mib"] = baseline
    return result


def job_put(spec: Spec) -> Result:
    """The floor: the file streamed in ``threads`` plain PUTs (one slice each), no hashing, no checks."""
    import requests
    from requests.adapters import HTTPAdapter

    from cos_multipart._protocol.credentials import Credentials
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
    session.mount("https://", Adapter(pool_maxsize=threads))
    # Per request: a session-wide verify loses to REQUESTS_CA_BUNDLE (requests merges the environment first).
    verify = spec.get("ca") or True
    baseline = _rss_mib()
    fd = os.open(spec["path"], os.O_RDONLY)
    slices = _slices(size, threads)

    def put(index: int, errors: List[BaseException]) -> None:
        offset, length = slices[index]
        try:
            body = _RangeReader(fd, offset, length)
            url = f"{spec['endpoint']}/{spec['key']}.{index}"
            response = session.put(url, data=body, auth=auth, headers={"Content-Length": str(length)}, verify=verify)
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
    """The floor of hashing: the file read in 1 MiB chunks into one buffer, one thread, hashed with each of
    ``hashes`` (``md5``, ``crc64``: the package's fast backend; default ``["md5"]``)."""
    from cos_multipart._protocol import checksum

    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    hashes = list(spec.get("hashes") or ["md5"])

    def run() -> Result:
        digest = hashlib.md5()
        crc = 0
        size = 0
        with open(spec["path"], "rb", buffering=0) as handle:
            while True:
                count = handle.readinto(view)
                if not count:
                    break
                chunk = view[:count]
                if "md5" in hashes:
                    digest.update(chunk)
                if "crc64" in hashes:
                    crc = checksum.crc64(chunk, crc)
                size += count
        return {"size": size, "md5": digest.hexdigest(), "crc64": crc}

    result = _measure(run)
    result["backend"] = checksum.CRC64_BACKEND
    return result


def job_tls(spec: Spec) -> Result:
    """The floor of HTTPS: the file read in 1 MiB chunks and encrypted by TLS, no socket, no HTTP.

    A client and a server ``SSLObject`` over memory BIOs complete a handshake (TLS 1.3, the default cipher,
    a certificate from ``trustme``) before the timing; then each chunk is written to the client side and the
    records it produces are drained and dropped. What is timed is what a TLS sender pays for the bytes.
    """
    import ssl

    import trustme

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    pipes = [ssl.MemoryBIO() for _ in range(4)]
    client = client_context.wrap_bio(pipes[0], pipes[1], server_hostname="localhost")
    server = server_context.wrap_bio(pipes[2], pipes[3], server_side=True)
    for _ in range(10):  # the handshake, flight by flight
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        pipes[2].write(pipes[1].read())
        pipes[0].write(pipes[3].read())
    cipher = client.cipher()
    outgoing = pipes[1]
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)

    def run() -> Result:
        size = 0
        sent = 0
        with open(spec["path"], "rb", buffering=0) as handle:
            while True:
                count = handle.readinto(view)
                if not count:
                    break
                client.write(view[:count])
                sent += len(outgoing.read())
                size += count
        return {"size": size, "tls_bytes": sent}

    result = _measure(run)
    result["cipher"] = list(cipher) if cipher else None
    return result


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
    window = time.monotonic()
    started = time.perf_counter()
    result = run()
    result["wall"] = time.perf_counter() - started
    result["cpu"] = _cpu() - cpu
    result["peak_rss_mib"] = _rss_mib()
    # CLOCK_MONOTONIC at the start and the end of the job: what bench.cpu_breakdown counts perf's samples in.
    result["monotonic_window"] = [window, time.monotonic()]
    return result


def job_ours_async(spec: Spec) -> Result:
    """Upload with :func:`cos_multipart.aio.async_upload_file` (the asyncio driver; same options)."""
    import asyncio

    from cos_multipart._protocol import checksum
    from cos_multipart.aio import AsyncCosClient, async_upload_file
    from cos_multipart._protocol.credentials import Credentials

    threads = int(spec["threads"])
    baseline = _rss_mib()

    async def upload() -> Result:
        async with AsyncCosClient(
            spec["bucket"], spec["region"], Credentials.from_env(), endpoint=spec["endpoint"], pool_size=threads,
            verify=spec.get("ca") or True,
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


def job_oss_official(spec: Spec) -> Result:
    """Upload with Aliyun's OSS SDK (``alibabacloud-oss-v2``) uploader, CRC-64 checks on (its default), to the
    local server in OSS mode. ``defaults: true``: its own part size and parallelism; else the spec's."""
    import importlib

    oss: Any = importlib.import_module("alibabacloud_oss_v2")  # not annotated: through Any
    config = oss.config.load_default()
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(os.environ["COS_SECRET_ID"], os.environ["COS_SECRET_KEY"])
    config.region = spec["region"]
    config.endpoint = spec["endpoint"]
    client = oss.Client(config)
    options: Dict[str, Any] = {} if spec.get("defaults") else {"part_size": int(spec["part_size"]), "parallel_num": int(spec["threads"])}
    uploader = client.uploader(**options)
    baseline = _rss_mib()

    def run() -> Result:
        result = uploader.upload_file(oss.PutObjectRequest(bucket=spec["bucket"], key=spec["key"]), filepath=spec["path"])
        return {"crc64": int(result.hash_crc64) if result.hash_crc64 else None, "size": os.path.getsize(spec["path"])}

    result = _measure(run)
    result["rss_after_import_mib"] = baseline
    return result


def job_probe(spec: Spec) -> Result:
    """The round trip a client sees: seconds of a HEAD on a new connection (connect and, with TLS, the
    handshake included) and of HEADs on an open one; ``rounds`` of each, medians and all samples."""
    import statistics

    import requests

    from cos_multipart import CosAuth
    from cos_multipart._protocol.credentials import Credentials

    auth = CosAuth(Credentials.from_env())
    url = f"{spec['endpoint']}/{spec['key']}"
    verify = spec.get("ca") or True
    rounds = int(spec.get("rounds", 5))

    def run() -> Result:
        fresh: List[float] = []
        reused: List[float] = []
        for _ in range(rounds):
            with requests.Session() as session:
                started = time.perf_counter()
                session.head(url, auth=auth, verify=verify)
                fresh.append(time.perf_counter() - started)
                for _ in range(2):
                    started = time.perf_counter()
                    session.head(url, auth=auth, verify=verify)
                    reused.append(time.perf_counter() - started)
        return {"new_connection": statistics.median(fresh), "open_connection": statistics.median(reused),
                "new_samples": fresh, "open_samples": reused}  # fmt: skip

    return _measure(run)


def job_command(spec: Spec) -> Result:
    """Another program (``command``, e.g. ``coscmd upload -r``): its wall time and CPU (``RUSAGE_CHILDREN``)."""
    import subprocess

    def run() -> Result:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(list(spec["command"]), capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"{spec['command'][0]} exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
        return {"child_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}

    result = _measure(run)
    result["cpu"] = result.pop("child_cpu") + result["cpu"]
    return result


def _dir_job(name: str) -> Callable[[Spec], Result]:
    def job(spec: Spec) -> Result:
        from . import _dirjobs

        runners = {"dir-ours": _dirjobs.job_dir_ours, "dir-cluster": _dirjobs.job_dir_cluster, "files-ours": _dirjobs.job_files_ours}
        return runners.get(name, _dirjobs.job_dir_official)(spec, _measure)

    return job


JOBS: Dict[str, Callable[[Spec], Result]] = {
    "probe": job_probe,
    "command": job_command,
    "oss-official": job_oss_official,
    "dir-ours": _dir_job("dir-ours"),
    "dir-official-pool": _dir_job("dir-official-pool"),
    "dir-official-loop": _dir_job("dir-official-loop"),
    "dir-cluster": _dir_job("dir-cluster"),
    "files-ours": _dir_job("files-ours"),
    "ours": job_ours,
    "ours-async": job_ours_async,
    "official": job_official,
    "put": job_put,
    "md5": job_md5,
    "tls": job_tls,
}


def main(argv: List[str]) -> int:
    spec: Spec = json.loads(argv[0])
    result: Optional[Result] = JOBS[spec["job"]](spec)
    module = sys.modules.get("cos_multipart")
    if isinstance(result, dict) and module is not None:
        result.setdefault("module_file", getattr(module, "__file__", None))  # which tree ran (bench goals checks)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
