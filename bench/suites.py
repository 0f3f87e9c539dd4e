"""Measurements of one object (upload, scaling, memory, CRC-64, signing, resume, cluster, async). Each
``run_*`` returns a JSON-ready dict (raw runs and summaries); :mod:`bench.registry` lists them all.

Every upload runs in a fresh child process (:func:`bench.procs.run_child`) against a server in its own
process, and every uploaded object is checked afterwards (size and CRC-64 from HEAD) and deleted, so a
client that is fast because it is wrong would be caught.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from cos_multipart._protocol import checksum
from cos_multipart.testing.server import DEFAULT_BUCKET, DEFAULT_REGION

from .netshape import LinkShape
from .network import Network
from .procs import CLUSTER_ENV, LogEntry, ServerProcess, cluster_credentials, iter_alternating, pick_data_dir, run_child
from .settings import GIB, MIB, UPLOAD_CLIENTS, Settings, human
from .stats import spread

Log = Callable[[str], None]
_WRITE_CHUNK = 8 * MIB


# --- Inputs ------------------------------------------------------------------------------------------


def make_file(path: Path, size: int) -> int:
    """Write ``size`` random bytes to ``path`` and return their CRC-64 (computed as they are written)."""
    crc = 0
    left = size
    with open(path, "wb") as handle:
        while left:
            block = os.urandom(min(_WRITE_CHUNK, left))
            crc = checksum.crc64(block, crc)
            handle.write(block)
            left -= len(block)
    return crc


def official_available() -> bool:
    return importlib.util.find_spec("qcloud_cos") is not None


def fastcrc_available() -> bool:
    return importlib.util.find_spec("fastcrc") is not None


def comparison_clients(settings: Settings) -> List[str]:
    """The two SDKs compared in (2), (3) and (6): this package (fast backend if installed) and the official."""
    available = upload_clients(settings)
    ours = "ours-fast" if "ours-fast" in available else "ours-crcmod"
    return [ours] + (["official"] if "official" in available else [])


def available_clients(settings: Settings, names: Sequence[str]) -> List[str]:
    """``names`` less those that cannot run here (the official SDK or fastcrc not installed)."""
    skip_official = settings.skip_official or not official_available()
    return [
        name for name in names
        if not (skip_official and name.startswith(("official", "dir-official", "coscmd")))
        and not (name == "ours-no-md5" and not fastcrc_available())
        and not (name.startswith("dir-cluster") and importlib.util.find_spec("distributed") is None)
    ]  # fmt: skip


def upload_clients(settings: Settings) -> List[str]:
    """The clients of measurement (1) that can run here."""
    clients = list(UPLOAD_CLIENTS)
    if settings.skip_official or not official_available():
        clients.remove("official")
    if not fastcrc_available():
        clients.remove("ours-fast")
        clients.remove("ours-no-md5")
    return clients


#: Child jobs of the client names (see :mod:`bench._child`). ``*-default``: as a user calls each SDK, its own
#: part size, threads and pool; the others get the measurement's part size, threads and a pool of that size.
CLIENT_JOBS: Dict[str, Dict[str, Any]] = {
    "ours-fast": {"job": "ours", "crc": "fastcrc"},
    "ours": {"job": "ours"},
    "ours-crcmod": {"job": "ours", "crc": "crcmod"},
    "ours-no-md5": {"job": "ours", "crc": "fastcrc", "md5": False},
    "ours-default": {"job": "ours", "defaults": True},
    "official": {"job": "official"},
    "official-md5": {"job": "official", "md5": True},
    "official-default": {"job": "official", "defaults": True},
    "ours-oss": {"job": "ours", "md5": False},
    "ours-oss-default": {"job": "ours", "defaults": True},
    "oss-official": {"job": "oss-official"},
    "oss-official-default": {"job": "oss-official", "defaults": True},
    "put": {"job": "put", "threads": 1},
    "put-parallel": {"job": "put"},
    "md5": {"job": "md5"},
}


def client_spec(name: str, server: ServerProcess, path: Path, key: str, settings: Settings, workdir: Path, threads: int) -> Dict[str, Any]:
    """The child spec of a client name (see :data:`CLIENT_JOBS` and :mod:`bench._child`)."""
    common: Dict[str, Any] = {
        "endpoint": server.endpoint,
        "domain": f"{server.host}:{server.port}",
        "scheme": server.scheme,
        "ca": server.ca_path,
        "bucket": server.bucket,
        "region": server.region,
        "dialect": server.dialect,
        "path": str(path),
        "key": key,
        "part_size": settings.part_size,
        "threads": threads,
        "checkpoint_dir": str(workdir / "checkpoints"),
    }
    return {**common, **CLIENT_JOBS[name]}


# --- Checks after each upload --------------------------------------------------------------------------


def check_and_delete(server: ServerProcess, name: str, key: str, size: int, crc: int, objects: int = 1) -> bool:
    """HEAD the uploaded object(s): size (and CRC-64 for a single object) must match; then delete them."""
    if name in ("md5", "crc64", "md5+crc64", "tls"):
        return True
    keys = [key] if name not in ("put", "put-parallel") else [f"{key}.{i}" for i in range(objects)]
    ok = True
    total = 0
    with server.client() as client:
        for each in keys:
            head = client.head_object(each)
            total += head.size
            if len(keys) == 1 and head.crc64 != crc:
                ok = False
            client.delete_object(each)
    return ok and total == size


def transfer_window(entries: Sequence[LogEntry]) -> Optional[float]:
    """Seconds from the first UploadPart/PutObject arriving to the last one answered (server clock)."""
    parts = [e for e in entries if e.api in ("UploadPart", "PutObject") and e.status == "200"]
    if not parts:
        return None
    return max(e.finished for e in parts) - min(e.arrived for e in parts)


def measure_upload(
    server: ServerProcess,
    name: str,
    spec: Dict[str, Any],
    size: int,
    crc: int,
    settings: Settings,
    prefix: Sequence[str] = (),
) -> Dict[str, Any]:
    """One upload in a fresh child (run under ``prefix``, e.g. in the shaped namespace): the child's numbers,
    the server's CPU meanwhile, and the check."""
    offset = server.log_offset()
    server_cpu = server.cpu_seconds()
    child = run_child(spec, timeout=settings.child_timeout, prefix=prefix).check()
    server_cpu = server.cpu_seconds() - server_cpu
    entries = server.log_entries(offset)
    output = child.output
    objects = int(output.get("objects", 1))
    return {
        "client": name,
        "size": size,
        "wall": output.get("wall"),
        "cpu": output.get("cpu"),
        "process_cpu": child.process_cpu,
        "process_wall": child.process_wall,
        "maxrss_mib": output.get("peak_rss_mib") or child.maxrss_mib,
        "wait4_maxrss_mib": child.maxrss_mib,
        "rss_after_import_mib": output.get("rss_after_import_mib"),
        "server_cpu": server_cpu if name != "md5" else None,
        "transfer_seconds": transfer_window(entries),
        "requests": len([e for e in entries if e.api]),
        "backend": output.get("backend"),
        "cipher": output.get("cipher"),
        "verified": check_and_delete(server, name, spec["key"], size, crc, objects),
    }


def summarise(runs: List[Dict[str, Any]], size: int) -> Dict[str, Dict[str, Any]]:
    """Per client: throughput (MiB/s), CPU s per GiB, RSS and server CPU; median, min and max."""
    summary: Dict[str, Dict[str, Any]] = {}
    gib = size / GIB
    for name in dict.fromkeys(r["client"] for r in runs):
        mine = [r for r in runs if r["client"] == name]
        summary[name] = {
            "throughput_mib_s": spread(size / MIB / r["wall"] for r in mine if r["wall"]),
            "transfer_mib_s": spread(size / MIB / r["transfer_seconds"] for r in mine if r["transfer_seconds"]),
            "wall": spread(r["wall"] for r in mine),
            "cpu_per_gib": spread(r["cpu"] / gib for r in mine if r["cpu"] is not None),
            "process_cpu_per_gib": spread(r["process_cpu"] / gib for r in mine),
            "server_cpu_per_gib": spread(r["server_cpu"] / gib for r in mine if r["server_cpu"] is not None),
            # Client + server CPU over the wall time: 2.0 means both cores of this machine were busy.
            "cores_busy": spread(
                (r["cpu"] + r["server_cpu"]) / r["wall"] for r in mine if r["server_cpu"] is not None and r["cpu"] is not None and r["wall"]
            ),
            "maxrss_mib": spread(r["maxrss_mib"] for r in mine),
            "verified": all(r["verified"] for r in mine),
            "backend": next((r["backend"] for r in mine if r["backend"]), None),
        }
    return summary


# --- (1) one large file ----------------------------------------------------------------------------------


def run_upload(settings: Settings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Measurement 1: the clients and the floors uploading one file, alternating, several runs."""
    clients = upload_clients(settings)
    path = workdir / "upload.bin"
    log(f"[upload] writing a {human(settings.size)} file")
    crc = make_file(path, settings.size)
    runs: List[Dict[str, Any]] = []
    data_dir = pick_data_dir(2 * settings.size, settings.server_in_memory)
    try:
        with ServerProcess(data_dir) as server:
            for run, name in iter_alternating(clients, settings.runs):
                key = f"bench/upload/{name}-{run}"
                spec = client_spec(name, server, path, key, settings, workdir, settings.threads)
                result = measure_upload(server, name, spec, settings.size, crc, settings)
                result["run"] = run
                runs.append(result)
                log(
                    f"[upload] run {run + 1}/{settings.runs} {name:13s} {settings.size / MIB / result['wall']:8.1f} MiB/s  "
                    f"cpu {result['cpu']:.2f} s  rss {result['maxrss_mib']:.0f} MiB  verified={result['verified']}"
                )
    finally:
        path.unlink(missing_ok=True)
    return {
        "size": settings.size,
        "part_size": settings.part_size,
        "threads": settings.threads,
        "runs": settings.runs,
        "server_data": "tmpfs" if str(data_dir).startswith("/dev/shm") else "disk",
        "clients": clients,
        "raw": runs,
        "summary": summarise(runs, settings.size),
    }


# --- (2) concurrency scaling under a per-connection cap ----------------------------------------------------


def run_scaling(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
    """Throughput for 1..16 workers under per-connection caps with a round trip (the kernel-shaped link when
    there is one); both SDKs with the same checks (MD5 of every part)."""
    clients = available_clients(settings, ("ours", "official-md5"))
    shapes = [
        _scaling_shape(settings, workdir, log, clients, cap, per_worker, network)
        for cap, per_worker in settings.scaling_shapes
    ]
    return {
        "network": network.mode,
        "latency": settings.scaling_latency,
        "part_size": settings.part_size,
        "workers": list(settings.scaling_workers),
        "runs": settings.scaling_runs,
        "clients": clients,
        "shapes": shapes,
    }


def efficiency_summary(
    runs: List[Dict[str, Any]], clients: Sequence[str], worker_counts: Sequence[int], extra: Sequence[str] = ()
) -> Dict[str, Dict[str, Any]]:
    """Per client and worker count: throughput, efficiency (end to end, part transfers), ``extra`` fields."""
    summary: Dict[str, Dict[str, Any]] = {}
    for name in clients:
        summary[name] = {}
        for workers in worker_counts:
            mine = [r for r in runs if r["client"] == name and r["workers"] == workers]
            entry: Dict[str, Any] = {
                "throughput_mib_s": spread(r["size"] / MIB / r["wall"] for r in mine),
                "efficiency": spread(r["efficiency"] for r in mine),
                "transfer_efficiency": spread(r["transfer_efficiency"] for r in mine),
            }
            entry.update({field: spread(r[field] for r in mine) for field in extra})
            entry["verified"] = all(r["verified"] for r in mine)
            summary[name][str(workers)] = entry
    return summary


def _scaling_shape(
    settings: Settings, workdir: Path, log: Log, clients: List[str], cap: float, per_worker: int, network: Network
) -> Dict[str, Any]:
    runs: List[Dict[str, Any]] = []
    largest = max(settings.scaling_workers) * per_worker * settings.part_size
    data_dir = pick_data_dir(2 * largest, settings.server_in_memory)
    shape = LinkShape(f"{cap / MIB:.0f}MiB/s {settings.scaling_latency * 1000:.0f}ms", cap, settings.scaling_latency)
    with network.serve(shape, data_dir) as served:
        server = served.server
        for workers in settings.scaling_workers:
            size = workers * per_worker * settings.part_size
            path = workdir / f"scaling-{workers}.bin"
            crc = make_file(path, size)
            try:
                for run, name in iter_alternating(clients, settings.scaling_runs):
                    key = f"bench/scaling/{name}-{cap:.0f}-{workers}-{run}"
                    spec = client_spec(name, server, path, key, settings, workdir, workers)
                    result = measure_upload(server, name, spec, size, crc, settings, served.prefix)
                    total_cap = workers * cap
                    transfer = result["transfer_seconds"]
                    result.update(
                        run=run,
                        workers=workers,
                        efficiency=size / result["wall"] / total_cap,
                        transfer_efficiency=(size / transfer / total_cap) if transfer else None,
                    )
                    runs.append(result)
                    log(
                        f"[scaling] {cap / MIB:.0f} MiB/s {name:10s} workers {workers:2d} run {run + 1}: "
                        f"{size / MIB / result['wall']:7.1f} MiB/s = {100 * result['efficiency']:.0f} % of cap "
                        f"(transfer {100 * (result['transfer_efficiency'] or 0):.0f} %)"
                    )
            finally:
                path.unlink(missing_ok=True)
    summary = efficiency_summary(runs, clients, settings.scaling_workers, ("cpu", "server_cpu", "wall"))
    return {"bandwidth": cap, "parts_per_worker": per_worker, "raw": runs, "summary": summary}


# --- (3) memory against file size ---------------------------------------------------------------------------


def run_memory(settings: Settings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Measurement 3: peak RSS of the client process for growing files (it must stay flat)."""
    clients = comparison_clients(settings)
    runs: List[Dict[str, Any]] = []
    largest = max(settings.memory_sizes)
    # Not on tmpfs: the largest file and the stored object would hold 2x its size in RAM.
    data_dir = pick_data_dir(2 * largest, prefer_memory=False)
    with ServerProcess(data_dir) as server:
        for size in settings.memory_sizes:
            path = workdir / f"memory-{size}.bin"
            log(f"[memory] writing a {human(size)} file")
            crc = make_file(path, size)
            try:
                for name in clients:
                    key = f"bench/memory/{name}-{size}"
                    spec = client_spec(name, server, path, key, settings, workdir, settings.threads)
                    result = measure_upload(server, name, spec, size, crc, settings)
                    runs.append(result)
                    log(f"[memory] {name:10s} {human(size):>8s}: peak RSS {result['maxrss_mib']:.0f} MiB, verified={result['verified']}")
            finally:
                path.unlink(missing_ok=True)
    limit_mib = 64 + settings.threads * settings.part_size / MIB
    return {
        "sizes": list(settings.memory_sizes),
        "threads": settings.threads,
        "part_size": settings.part_size,
        "target_mib": limit_mib,
        "clients": clients,
        "raw": runs,
    }


# --- (4) CRC-64 backends and combine ---------------------------------------------------------------------------


def _throughput(update: Callable[[memoryview], Any], buffer: memoryview, chunk: int, threads: int, min_seconds: float) -> float:
    """MiB/s of ``update`` over ``buffer`` in ``chunk`` pieces, ``threads`` threads each with its own copy."""
    copies = [memoryview(bytearray(buffer)) for _ in range(threads)]
    rounds = 1
    while True:
        barrier = threading.Barrier(threads + 1)

        def work(view: memoryview, barrier: threading.Barrier = barrier, rounds: int = rounds) -> None:
            barrier.wait()
            for _ in range(rounds):
                for start in range(0, len(view), chunk):
                    update(view[start : start + chunk])

        workers = [threading.Thread(target=work, args=(copy,)) for copy in copies]
        for worker in workers:
            worker.start()
        barrier.wait()
        started = time.perf_counter()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds or rounds >= 1 << 12:
            return threads * rounds * len(buffer) / MIB / elapsed
        rounds *= 2


def run_crc(settings: Settings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Measurement 4: CRC-64 throughput per backend (1 and 2 threads), MD5 for scale, combine cost."""
    buffer = memoryview(os.urandom(settings.crc_buffer))
    min_seconds = settings.crc_min_seconds
    functions: Dict[str, Callable[[memoryview], Any]] = {}
    for name in ("crcmod", "fastcrc"):
        try:
            functions[f"crc64 ({name})"] = _from_zero(checksum.crc64_function(name))
        except ImportError:
            continue
    functions["md5 (hashlib)"] = lambda data: hashlib.md5(data).digest()
    throughput: Dict[str, Dict[str, float]] = {}
    for label, function in functions.items():
        throughput[label] = {}
        for threads in (1, 2):
            value = statistics_median(
                [_throughput(function, buffer, settings.crc_chunk, threads, min_seconds) for _ in range(settings.crc_repeats)]
            )
            throughput[label][str(threads)] = value
            log(f"[crc] {label:18s} {threads} thread(s): {value:9.0f} MiB/s")
    combine = _combine_cost(settings)
    log(f"[crc] combine of {settings.combine_parts} parts: cold {combine['cold_seconds'] * 1000:.1f} ms, warm {combine['warm_seconds'] * 1000:.1f} ms")
    return {
        "buffer": settings.crc_buffer,
        "chunk": settings.crc_chunk,
        "default_backend": checksum.CRC64_BACKEND,
        "throughput_mib_s": throughput,
        "combine": combine,
    }


def _from_zero(function: checksum.CrcFunction) -> Callable[[memoryview], int]:
    return lambda data: function(data, 0)


def statistics_median(values: List[float]) -> float:
    return float(spread(values)["median"])


def _combine_cost(settings: Settings) -> Dict[str, Any]:
    """Seconds to combine ``combine_parts`` part CRCs (8 MiB parts and a shorter last one), cold and warm."""
    import random

    rng = random.Random(5)
    count = settings.combine_parts
    parts = [(rng.getrandbits(64), settings.part_size) for _ in range(count - 1)] + [(rng.getrandbits(64), 12345)]
    cold: List[float] = []
    warm: List[float] = []
    cache_clear = getattr(checksum._zeros_operator, "cache_clear", None)
    expected: Optional[int] = None
    for _ in range(5):
        if cache_clear is not None:
            cache_clear()
        started = time.perf_counter()
        value = checksum.crc64_combine_all(parts)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        again = checksum.crc64_combine_all(parts)
        warm.append(time.perf_counter() - started)
        assert value == again and (expected is None or expected == value)
        expected = value
    # A small cross-check: combining really gives the CRC of the concatenation.
    a, b = os.urandom(1000), os.urandom(777)
    correct = checksum.crc64_combine(checksum.crc64(a), checksum.crc64(b), len(b)) == checksum.crc64(a + b)
    return {
        "parts": count,
        "cold_seconds": statistics_median(cold),
        "warm_seconds": statistics_median(warm),
        "cold_spread": spread(cold),
        "correct": correct,
    }


# --- (5) signing ---------------------------------------------------------------------------------------------


def run_sign(settings: Settings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Measurement 5: microseconds per Authorization header for an Upload Part request, both SDKs."""
    from .signing import sign_benchmarks

    results = sign_benchmarks(settings.sign_iterations, include_official=official_available() and not settings.skip_official)
    for name, value in results["microseconds"].items():
        log(f"[sign] {name:10s} {value['median']:.1f} us per Authorization header")
    return results


# --- (6) resume after an interruption at 50 % -----------------------------------------------------------------


def run_resume(settings: Settings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Measurement 6: kill an upload once half of its parts are stored, run it again, measure the rest."""
    clients = comparison_clients(settings)
    size = settings.resume_size
    parts = -(-size // settings.part_size)
    path = workdir / "resume.bin"
    log(f"[resume] writing a {human(size)} file")
    crc = make_file(path, size)
    runs: List[Dict[str, Any]] = []
    data_dir = pick_data_dir(2 * size, settings.server_in_memory)
    try:
        with ServerProcess(data_dir, bandwidth=settings.resume_bandwidth) as server:
            for run, name in iter_alternating(clients, settings.resume_runs):
                key = f"bench/resume/{name}-{run}"
                checkpoints = workdir / f"checkpoints-resume-{name}-{run}"
                spec = client_spec(name, server, path, key, settings, workdir, settings.threads)
                spec["checkpoint_dir"] = str(checkpoints)
                runs.append(_resume_once(server, name, spec, size, parts, crc, settings, log))
                shutil.rmtree(checkpoints, ignore_errors=True)
    finally:
        path.unlink(missing_ok=True)
    summary: Dict[str, Dict[str, Any]] = {}
    for name in clients:
        mine: List[Dict[str, Any]] = [r for r in runs if r["client"] == name]
        summary[name] = {
            "resume_wall": spread(r["resume_wall"] for r in mine),
            "resume_cpu": spread(r["resume_cpu"] for r in mine),
            "resume_cpu_per_needed_gib": spread(r["resume_cpu"] / (r["bytes_needed"] / GIB) for r in mine if r["bytes_needed"]),
            "resent_fraction": spread(r["bytes_resent"] / size for r in mine),
            "needed_fraction": spread(r["bytes_needed"] / size for r in mine),
            "extra_mib": spread((r["bytes_resent"] - r["bytes_needed"]) / MIB for r in mine),
            "verified": all(r["verified"] for r in mine),
        }
    return {
        "size": size,
        "part_size": settings.part_size,
        "threads": settings.threads,
        "bandwidth": settings.resume_bandwidth,
        "clients": clients,
        "raw": runs,
        "summary": summary,
    }


def _resume_once(
    server: ServerProcess,
    name: str,
    spec: Dict[str, Any],
    size: int,
    parts: int,
    crc: int,
    settings: Settings,
    log: Log,
) -> Dict[str, Any]:
    start = server.log_offset()
    half = parts // 2

    def stored_half() -> bool:
        stored = [e for e in server.log_entries(start) if e.api == "UploadPart" and e.status == "200"]
        return len(stored) >= half

    first = run_child(spec, timeout=settings.child_timeout, kill_when=stored_half, poll=0.005)
    if not first.killed:
        first.check()
        raise RuntimeError(f"{name}: the upload finished before it could be interrupted; use a larger file")
    time.sleep(0.5)  # let the server log the requests the kill cut off
    before = server.log_entries(start)
    stored_before = [e for e in before if e.api == "UploadPart" and e.status == "200"]
    bytes_stored = sum(e.bytes_in for e in stored_before)
    middle = server.log_offset()
    second = run_child(spec, timeout=settings.child_timeout).check()
    after = server.log_entries(middle)
    resent = [e for e in after if e.api == "UploadPart"]
    result: Dict[str, Any] = {
        "client": name,
        "killed_after_parts": len(stored_before),
        "bytes_stored_before": bytes_stored,
        "bytes_needed": size - bytes_stored,
        "bytes_resent": sum(e.bytes_in for e in resent),
        "parts_resent": len(resent),
        "resume_wall": second.output.get("wall"),
        "resume_cpu": second.output.get("cpu"),
        "parts_reused": second.output.get("parts_reused"),
        "interrupted_wall": first.process_wall,
        "requests": len([e for e in after if e.api]),
        "verified": check_and_delete(server, name, spec["key"], size, crc),
    }
    log(
        f"[resume] {name:10s} killed after {result['killed_after_parts']}/{parts} parts; resume took "
        f"{result['resume_wall']:.2f} s, re-sent {result['bytes_resent'] / MIB:.0f} MiB "
        f"(needed {result['bytes_needed'] / MIB:.0f} MiB), verified={result['verified']}"
    )
    return result


# --- (7) one object's parts over Dask workers -----------------------------------------------------------------

def run_cluster(settings: Settings, workdir: Path, log: Log) -> Dict[str, Any]:
    """Measurement 7: one object uploaded by 1..N Dask worker processes under a per-connection cap.

    Each worker count gets a LocalCluster of that many processes with ``cluster_threads`` threads each, so the
    upload has ``workers x threads`` connections; the threaded uploader with as many threads in one process is
    the reference. Efficiency = throughput / (workers x threads x cap). The cluster's start is not timed.
    """
    try:
        # Through Any: distributed's LocalCluster and Client are not annotated.
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        log("[cluster] skipped: dask is not installed (pip install -e '.[dask]')")
        return {"skipped": "dask is not installed"}
    from cos_multipart._io.checkpoint import CheckpointStore
    from cos_multipart.cluster import upload_file_on_cluster
    from cos_multipart.remote import ClientConfig, EnvCredentials
    from cos_multipart._drivers.uploader import UploadConfig, Uploader

    cap = settings.cluster_bandwidth
    threads = settings.cluster_threads
    largest = max(settings.cluster_workers) * threads * settings.cluster_parts * settings.part_size
    data_dir = pick_data_dir(2 * largest, settings.server_in_memory)
    runs: List[Dict[str, Any]] = []
    with cluster_credentials() as env, ServerProcess(data_dir, bandwidth=cap) as server:
        target = ClientConfig(DEFAULT_BUCKET, DEFAULT_REGION, EnvCredentials(*CLUSTER_ENV, None), endpoint=server.endpoint)
        for workers in settings.cluster_workers:
            connections = workers * threads
            size = connections * settings.cluster_parts * settings.part_size
            path = workdir / f"cluster-{workers}.bin"
            crc = make_file(path, size)
            config = UploadConfig(part_size=settings.part_size, multipart_threshold=0, concurrency=connections)
            store = CheckpointStore(workdir / "checkpoints")
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=threads, processes=True, dashboard_address=None, env=env
            )
            try:
                with distributed.Client(cluster) as dask_client, server.client() as client:
                    # Part of the cluster's start, not of the upload: the workers import the package.
                    dask_client.run(importlib.import_module, "cos_multipart.remote")
                    for run, name in iter_alternating(["cluster", "threads"], settings.cluster_runs):
                        key = f"bench/cluster/{name}-{workers}-{run}"
                        offset = server.log_offset()
                        started = time.perf_counter()
                        if name == "cluster":
                            upload_file_on_cluster(dask_client, target, path, key, upload_config=config, store=store)
                        else:
                            Uploader(client, config, store=store).upload(path, key)
                        wall = time.perf_counter() - started
                        transfer = transfer_window(server.log_entries(offset))
                        efficiency = size / wall / (connections * cap)
                        result: Dict[str, Any] = {
                            "client": name,
                            "run": run,
                            "workers": workers,
                            "connections": connections,
                            "size": size,
                            "wall": wall,
                            "transfer_seconds": transfer,
                            "efficiency": efficiency,
                            "transfer_efficiency": (size / transfer / (connections * cap)) if transfer else None,
                            "verified": check_and_delete(server, name, key, size, crc),
                        }
                        runs.append(result)
                        log(
                            f"[cluster] {name:8s} workers {workers} ({connections} connections) run {run + 1}: "
                            f"{size / MIB / wall:6.1f} MiB/s = {100 * efficiency:.0f} % of "
                            f"{connections} x {cap / MIB:.0f} MiB/s, verified={result['verified']}"
                        )
            finally:
                cluster.close()
                path.unlink(missing_ok=True)
    summary = efficiency_summary(runs, ["cluster", "threads"], settings.cluster_workers)
    return {
        "bandwidth": cap,
        "threads": threads,
        "parts_per_connection": settings.cluster_parts,
        "part_size": settings.part_size,
        "workers": list(settings.cluster_workers),
        "runs": settings.cluster_runs,
        "raw": runs,
        "summary": summary,
    }


# --- (8) the asyncio driver against the threaded one ------------------------------------------------------

#: The drivers of (8): child job and the fast CRC backend for both (CRC-64 is then not what limits them).
ASYNC_DRIVERS = {"threads": "ours", "asyncio": "ours-async"}


def run_async(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
    """Asyncio against threads with many parts in flight, each connection capped, with a round trip (the
    kernel-shaped link when there is one). The file is ``in flight x async_parts_per_slot`` parts."""
    runs: List[Dict[str, Any]] = []
    largest = max(settings.async_in_flight) * settings.async_parts_per_slot * settings.async_part_size
    data_dir = pick_data_dir(2 * largest, settings.server_in_memory)
    tuned = settings.but(part_size=settings.async_part_size)
    shape = LinkShape("async", settings.async_bandwidth, settings.async_latency)
    with network.serve(shape, data_dir) as served:
        server = served.server
        for in_flight in settings.async_in_flight:
            size = in_flight * settings.async_parts_per_slot * settings.async_part_size
            path = workdir / f"async-{in_flight}.bin"
            crc = make_file(path, size)
            try:
                for run, name in iter_alternating(list(ASYNC_DRIVERS), settings.async_runs):
                    key = f"bench/async/{name}-{in_flight}-{run}"
                    spec = client_spec("ours-fast" if fastcrc_available() else "ours-crcmod", server, path, key, tuned, workdir, in_flight)
                    spec["job"] = ASYNC_DRIVERS[name]
                    result = measure_upload(server, name, spec, size, crc, settings, served.prefix)
                    result.update(run=run, in_flight=in_flight, size=size)
                    runs.append(result)
                    log(
                        f"[async] {name:8s} {in_flight:3d} in flight run {run + 1}: {size / MIB / result['wall']:7.1f} MiB/s "
                        f"({100 * size / result['wall'] / (in_flight * settings.async_bandwidth):.0f} % of cap), "
                        f"CPU {result['cpu']:.2f} s, peak RSS {result['maxrss_mib']:.0f} MiB"
                    )
            finally:
                path.unlink(missing_ok=True)
    summary: Dict[str, Dict[str, Any]] = {}
    for name in ASYNC_DRIVERS:
        summary[name] = {}
        for in_flight in settings.async_in_flight:
            mine = [r for r in runs if r["client"] == name and r["in_flight"] == in_flight]
            summary[name][str(in_flight)] = {
                "throughput_mib_s": spread(r["size"] / MIB / r["wall"] for r in mine),
                "efficiency": spread(r["size"] / r["wall"] / (in_flight * settings.async_bandwidth) for r in mine),
                "cpu_s_per_gib": spread(r["cpu"] / (r["size"] / GIB) for r in mine),
                "maxrss_mib": spread(r["maxrss_mib"] for r in mine),
                "verified": all(r["verified"] for r in mine),
            }
    return {
        "network": network.mode,
        "parts_per_slot": settings.async_parts_per_slot,
        "part_size": settings.async_part_size,
        "in_flight": list(settings.async_in_flight),
        "bandwidth": settings.async_bandwidth,
        "latency": settings.async_latency,
        "runs": settings.async_runs,
        "drivers": list(ASYNC_DRIVERS),
        "raw": runs,
        "summary": summary,
    }


def default_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
