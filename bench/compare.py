"""The comparisons users ask for, and the floors they are judged against.

``compare``: both SDKs on every network shape (loopback, and per-connection caps with a round trip) over HTTP
and HTTPS, in three pairings: each SDK at its defaults; the same checks (this package's MD5 + CRC-64 against
the official ``EnableMD5=True``) at the same part size, threads and pool; no MD5 check on either side
(``verify_md5=False``, CRC-64 only, against the official default). N plain PUTs are the link's floor. Each
shaped link is verified first: one PUT for the cap, HEADs for the round trip.

``floors``: what the bytes cost a client with no SDK, on loopback: MD5, CRC-64, both, TLS encryption, one
streaming PUT (HTTP and HTTPS).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .netshape import LinkShape
from .network import Network, Served
from .procs import iter_alternating, pick_data_dir, run_child
from .settings import GIB, MIB, Settings, human
from .stats import spread
from .suites import available_clients, client_spec, make_file, measure_upload, summarise

Log = Callable[[str], None]


def shapes_of(settings: Settings) -> List[LinkShape]:
    return [LinkShape(name, cap, rtt) for name, cap, rtt in settings.shapes]


def cell_name(shape: LinkShape, scheme: str) -> str:
    return f"{shape.name} {scheme.upper()}"


def probe_link(served: Served, settings: Settings, workdir: Path, log: Log) -> Dict[str, Any]:
    """One PUT (the cap) and HEADs (the round trip) over ``served``; nothing else runs meanwhile."""
    server = served.server
    shape = served.shape
    assert shape.cap is not None
    size = max(MIB, int(shape.cap * settings.probe_seconds) // MIB * MIB)
    path = workdir / "probe.bin"
    crc = make_file(path, size)
    try:
        spec = client_spec("put", server, path, "bench/probe/put", settings, workdir, 1)
        put = measure_upload(server, "put", spec, size, crc, settings, served.prefix)
        probe = {**client_spec("put", server, path, "bench/probe/put", settings, workdir, 1), "job": "probe", "rounds": 5}
        server_key = "bench/probe/head"
        with server.client() as client:
            client.put_object(server_key, b"x")
        probe["key"] = server_key
        heads = run_child(probe, timeout=settings.child_timeout, prefix=served.prefix).check().output
    finally:
        path.unlink(missing_ok=True)
    result = {
        "shape": shape.name,
        "mode": served.mode,
        "cap": shape.cap,
        "rtt": shape.rtt,
        "put_size": size,
        "put_mib_s": size / MIB / put["wall"] if put["wall"] else None,
        "put_fraction_of_cap": size / put["wall"] / shape.cap if put["wall"] else None,
        "put_verified": put["verified"],
        "head_new_connection": heads.get("new_connection"),
        "head_open_connection": heads.get("open_connection"),
    }
    log(
        f"[compare] shape {shape.name} ({served.mode}): 1 PUT {result['put_mib_s']:.1f} MiB/s "
        f"({100 * (result['put_fraction_of_cap'] or 0):.0f} % of cap); HEAD {1000 * (result['head_open_connection'] or 0):.1f} ms "
        f"on an open connection, {1000 * (result['head_new_connection'] or 0):.1f} ms on a new one"
    )
    return result


def run_compare(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
    """Every pairing on every shape and scheme; clients alternate within a cell, each in a fresh process."""
    clients = available_clients(settings, settings.compare_clients)
    threads = settings.threads
    cells: List[Dict[str, Any]] = []
    probes: List[Dict[str, Any]] = []
    for shape in shapes_of(settings):
        size = settings.compare_size_shaped if shape.shaped else settings.compare_size_loopback
        path = workdir / f"compare-{size}.bin"
        if not path.exists():
            for old in workdir.glob("compare-*.bin"):
                old.unlink()
            log(f"[compare] writing a {human(size)} file")
            crc = make_file(path, size)
        for scheme in settings.schemes:
            data_dir = pick_data_dir(2 * size, settings.server_in_memory)
            with network.serve(shape, data_dir, tls=scheme == "https") as served:
                if shape.shaped and scheme == settings.schemes[0]:
                    probes.append(probe_link(served, settings, workdir, log))
                runs: List[Dict[str, Any]] = []
                for run, name in iter_alternating(clients, settings.compare_runs):
                    key = f"bench/compare/{name}-{run}"
                    spec = client_spec(name, served.server, path, key, settings, workdir, threads)
                    result = measure_upload(served.server, name, spec, size, crc, settings, served.prefix)
                    result["run"] = run
                    runs.append(result)
                    log(
                        f"[compare] {cell_name(shape, scheme):22s} run {run + 1} {name:16s} "
                        f"{size / MIB / result['wall']:7.1f} MiB/s  cpu {result['cpu']:.2f} s  verified={result['verified']}"
                    )
                cells.append(
                    {
                        "shape": shape.name,
                        "cap": shape.cap,
                        "rtt": shape.rtt,
                        "scheme": scheme,
                        "mode": served.mode,
                        "size": size,
                        "raw": runs,
                        "summary": summarise(runs, size),
                    }
                )
    for old in workdir.glob("compare-*.bin"):
        old.unlink()
    return {
        "clients": clients,
        "part_size": settings.part_size,
        "threads": threads,
        "runs": settings.compare_runs,
        "network": network.mode,
        "probes": probes,
        "cells": cells,
    }


#: The floors: child spec additions (the ``put`` floors are measured over loopback HTTP and HTTPS).
FLOOR_JOBS: Dict[str, Dict[str, Any]] = {
    "md5": {"job": "md5", "hashes": ["md5"]},
    "crc64": {"job": "md5", "hashes": ["crc64"]},
    "md5+crc64": {"job": "md5", "hashes": ["md5", "crc64"]},
    "tls": {"job": "tls"},
    "put": {"job": "put", "threads": 1},
}


def run_floors(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
    """Client CPU per GiB of the floors (median of ``floors_runs``), each in a fresh process, on loopback."""
    size = settings.floors_size
    path = workdir / "floors.bin"
    log(f"[floors] writing a {human(size)} file")
    crc = make_file(path, size)
    runs: List[Dict[str, Any]] = []
    loopback = LinkShape("loopback", None, 0.0)
    try:
        for scheme in settings.schemes:
            data_dir = pick_data_dir(2 * size, settings.server_in_memory)
            with network.serve(loopback, data_dir, tls=scheme == "https") as served:
                names = ["put"] if scheme != settings.schemes[0] else list(FLOOR_JOBS)
                for run, name in iter_alternating(names, settings.floors_runs):
                    spec = {**client_spec("put", served.server, path, f"bench/floors/{name}-{run}", settings, workdir, 1), **FLOOR_JOBS[name]}
                    label = name if name != "put" else f"put-{scheme}"
                    result = measure_upload(served.server, name, spec, size, crc, settings)
                    result.update(client=label, run=run)
                    runs.append(result)
                    log(f"[floors] {label:10s} run {run + 1}: {result['cpu'] / (size / GIB):.2f} s/GiB, {size / MIB / result['wall']:.0f} MiB/s")
    finally:
        path.unlink(missing_ok=True)
    summary = {
        name: {
            "cpu_per_gib": spread(r["cpu"] / (size / GIB) for r in runs if r["client"] == name),
            "throughput_mib_s": spread(size / MIB / r["wall"] for r in runs if r["client"] == name),
            "verified": all(r["verified"] for r in runs if r["client"] == name),
        }
        for name in dict.fromkeys(r["client"] for r in runs)
    }
    ciphers = {tuple(r["cipher"]) for r in runs if r.get("cipher")}
    return {"size": size, "runs": settings.floors_runs, "raw": runs, "summary": summary, "cipher": sorted(ciphers)}


def run_partsize(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
    """What bounds the link share on a link with a round trip: both SDKs (same checks) and N plain PUTs on the
    first shape with an RTT, HTTP, ``threads`` connections, one file, for each of ``partsize_sizes``. Each part
    costs a connection one round trip of idle time (the answer), so the share grows with the part size."""
    shape = next((shape for shape in shapes_of(settings) if shape.shaped and shape.rtt > 0), None)
    if shape is None:
        return {"skipped": "no shape with a round trip"}
    clients = available_clients(settings, ("ours", "official-md5"))
    size = settings.partsize_file
    path = workdir / "partsize.bin"
    crc = make_file(path, size)
    cells: List[Dict[str, Any]] = []
    try:
        for part_size in settings.partsize_sizes:
            tuned = settings.but(part_size=part_size)
            data_dir = pick_data_dir(2 * size, settings.server_in_memory)
            with network.serve(shape, data_dir) as served:
                runs: List[Dict[str, Any]] = []
                names = clients + (["put-parallel"] if part_size == settings.partsize_sizes[0] else [])
                for run, name in iter_alternating(names, settings.partsize_runs):
                    spec = client_spec(name, served.server, path, f"bench/partsize/{name}-{part_size}-{run}", tuned, workdir, settings.threads)
                    result = measure_upload(served.server, name, spec, size, crc, settings, served.prefix)
                    result.update(run=run, part_size=part_size)
                    runs.append(result)
                    log(f"[partsize] {human(part_size):>7s} {name:14s} run {run + 1}: {size / MIB / result['wall']:6.1f} MiB/s "
                        f"= {100 * size / result['wall'] / (settings.threads * (shape.cap or 1)):.0f} % of the link")  # fmt: skip
            cells.append({"part_size": part_size, "mode": served.mode, "raw": runs, "summary": summarise(runs, size)})
    finally:
        path.unlink(missing_ok=True)
    return {"shape": shape.name, "cap": shape.cap, "rtt": shape.rtt, "threads": settings.threads, "size": size,
            "runs": settings.partsize_runs, "cells": cells}  # fmt: skip


#: The OSS row: (this package's client, the OSS SDK's client) pairs; CRC-64 is what both check per part there.
OSS_PAIRINGS = (("ours-oss-default", "oss-official-default"), ("ours-oss", "oss-official"))


def oss_unavailable() -> Optional[str]:
    """Why the OSS row cannot run here, or ``None``."""
    import inspect

    from cos_multipart.testing import LocalCOS

    if "dialect" not in inspect.signature(LocalCOS).parameters:
        return "the local server has no OSS mode in this version"
    if importlib.util.find_spec("alibabacloud_oss_v2") is None:
        return "the official OSS SDK is not installed (pip install alibabacloud-oss-v2)"
    return None


def run_oss(settings: Settings, workdir: Path, log: Log, network: Network) -> Dict[str, Any]:
    """This package with ``dialect="oss"`` against the OSS SDK's uploader, the server in OSS mode, HTTP, on
    loopback and on the first shape with a round trip; clients alternating, each in a fresh process."""
    reason = oss_unavailable()
    if reason is not None:
        log(f"[oss] skipped: {reason}")
        return {"skipped": reason}
    clients = [name for pair in OSS_PAIRINGS for name in pair]
    shapes = [shape for shape in shapes_of(settings) if not shape.shaped][:1]
    shapes += [shape for shape in shapes_of(settings) if shape.shaped][:1]
    cells: List[Dict[str, Any]] = []
    for shape in shapes:
        size = settings.compare_size_shaped if shape.shaped else settings.compare_size_loopback
        path = workdir / "oss.bin"
        crc = make_file(path, size)
        data_dir = pick_data_dir(2 * size, settings.server_in_memory)
        try:
            with network.serve(shape, data_dir, dialect="oss") as served:
                runs: List[Dict[str, Any]] = []
                for run, name in iter_alternating(clients, settings.compare_runs):
                    spec = client_spec(name, served.server, path, f"bench/oss/{name}-{run}", settings, workdir, settings.threads)
                    result = measure_upload(served.server, name, spec, size, crc, settings, served.prefix)
                    result["run"] = run
                    runs.append(result)
                    log(f"[oss] {shape.name:14s} run {run + 1} {name:22s} {size / MIB / result['wall']:7.1f} MiB/s  "
                        f"cpu {result['cpu']:.2f} s  verified={result['verified']}")  # fmt: skip
        finally:
            path.unlink(missing_ok=True)
        cells.append({"shape": shape.name, "cap": shape.cap, "rtt": shape.rtt, "scheme": "http", "mode": served.mode,
                      "size": size, "raw": runs, "summary": summarise(runs, size)})  # fmt: skip
    return {"clients": clients, "part_size": settings.part_size, "threads": settings.threads, "runs": settings.compare_runs, "cells": cells}


__all__ = ["run_compare", "run_floors", "run_oss", "run_partsize", "shapes_of", "cell_name"]
