"""What a benchmark run measures and how big: one frozen value, with the full and the smoke presets."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Optional, Tuple

from cos_multipart._cli.main import parse_size as cli_parse_size

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: The measurements, in the order of the report.
SUITES = ("compare", "floors", "partsize", "scaling", "dirs", "async", "cluster", "memory", "crc", "sign", "resume", "oss")
#: Measured only when asked for (``--only``): the old loopback table of one large file.
EXTRA_SUITES = ("upload",)
#: Network shapes: (name, per-connection cap in bytes/s or None for loopback, RTT in seconds).
ShapeSpec = Tuple[str, Optional[float], float]
#: The clients of the upload measurement. ``put`` / ``put-parallel`` / ``md5`` are the floors;
#: ``ours-no-md5`` is this package with ``verify_md5=False`` (parts checked by CRC-64 only).
UPLOAD_CLIENTS = ("ours-fast", "ours-crcmod", "ours-no-md5", "official", "put", "put-parallel", "md5")


@dataclass(frozen=True)
class Settings:
    """Sizes, repetitions and network shapes of one run.

    Attributes:
        shapes: Networks of the comparison: ``(name, per-connection cap in bytes/s or None, RTT in s)``.
        schemes: ``http`` and/or ``https`` for the comparison.
        kernel_shape: Shape links in the kernel (a network namespace; needs root), else by the server.
        compare_size_loopback: File size of the comparison on loopback.
        compare_size_shaped: File size of the comparison on capped links.
        compare_runs: Repetitions per cell of the comparison, clients alternating.
        compare_clients: Clients of the comparison (see ``bench.suites.CLIENT_JOBS``).
        probe_seconds: Seconds of the one-PUT check of each shaped link.
        partsize_sizes: Part sizes of the round-trip-per-part measurement.
        partsize_file: File size of that measurement.
        partsize_runs: Its repetitions.
        floors_size: File size of the floors.
        floors_runs: Repetitions of the floors.
        dir_files: Small files of the directory measurement on loopback (or the unshaped veth).
        dir_file_size: Bytes per small file.
        dir_concurrency: Requests at once (threads of the official SDK's pool, coscmd's ``max_thread``).
        dir_runs: Repetitions of the directory measurement.
        dir_large_files: Files of the large-file tree.
        dir_large_size: Bytes per large file.
        dir_clients: Directory clients (``dir-ours``, ``dir-official-pool``, ``dir-official-loop``, ``coscmd``).
        dir_shapes: Shaped links of the directory measurement (fewer files: ``dir_shaped_files``).
        dir_shaped_files: Small files on those links.
        async_parts_per_slot: Parts per slot in flight in the async measurement (the file grows with it).
        size: File size of the upload measurement (1).
        part_size: Part size of every multipart upload.
        threads: Parallel parts (both SDKs) in (1), (3) and (6).
        runs: Repetitions of (1), clients alternating.
        scaling_workers: Worker counts of (2).
        scaling_shapes: Networks of (2): ``(per-connection cap in bytes/s, parts per worker)`` pairs; the file
            is ``workers x parts per worker x part_size``.
        scaling_latency: Seconds the server adds to each request in (2).
        scaling_runs: Repetitions of (2).
        memory_sizes: File sizes of (3).
        crc_buffer: Bytes hashed per timing in (4).
        crc_chunk: Bytes per hash call in (4) (the uploader reads 1 MiB at a time).
        crc_repeats: Timings per function in (4) (the median is kept).
        crc_min_seconds: Least duration of one timing in (4).
        combine_parts: Parts combined in (4).
        sign_iterations: Signatures per timing in (5).
        resume_size: File size of (6).
        resume_runs: Repetitions of (6).
        resume_bandwidth: Per-connection cap of the server in (6), bytes/s, or ``None``; slows tiny uploads
            enough to be interrupted reliably (the smoke preset).
        cluster_workers: Dask worker processes of (7), one object's parts spread over them.
        cluster_threads: Threads (so connections) per worker in (7).
        cluster_parts: Parts per connection in (7); the file is ``workers x threads x parts x part_size``.
        cluster_bandwidth: Per-connection cap of the server in (7), bytes/s.
        cluster_runs: Repetitions of (7).
        async_size: File size of (7), async against threaded.
        async_part_size: Part size of (8) (small, so that 256 parts in flight is meaningful).
        async_in_flight: Parts in flight in (8).
        async_bandwidth: Per-connection cap of the server in (8), bytes/s.
        async_latency: Seconds the server adds to each request in (8).
        async_runs: Repetitions of (8).
        server_in_memory: Keep the server's data on ``/dev/shm`` when it has room (not for (3)).
        child_timeout: Seconds after which a child is killed.
        skip_official: Do not run the official SDK even if it is installed.
    """

    shapes: Tuple[ShapeSpec, ...] = (
        ("loopback", None, 0.0),
        ("20MiB/s 30ms", 20.0 * MIB, 0.030),
        ("100MiB/s 5ms", 100.0 * MIB, 0.005),
    )
    schemes: Tuple[str, ...] = ("http", "https")
    kernel_shape: bool = True
    compare_size_loopback: int = 512 * MIB
    compare_size_shaped: int = 256 * MIB
    compare_runs: int = 3
    compare_clients: Tuple[str, ...] = (
        "ours-default", "official-default", "ours", "official-md5", "ours-no-md5", "official", "put-parallel",
    )  # fmt: skip
    probe_seconds: float = 3.0
    partsize_sizes: Tuple[int, ...] = (8 * MIB, 16 * MIB, 32 * MIB)
    partsize_file: int = 512 * MIB
    partsize_runs: int = 2
    floors_size: int = 512 * MIB
    floors_runs: int = 3
    dir_files: int = 10_000
    dir_file_size: int = 4096
    dir_concurrency: int = 16
    dir_runs: int = 2
    dir_large_files: int = 8
    dir_large_size: int = 128 * MIB
    dir_clients: Tuple[str, ...] = ("dir-ours", "dir-official-pool", "dir-official-loop", "coscmd", "dir-cluster-1", "dir-cluster-2")
    dir_shapes: Tuple[ShapeSpec, ...] = (("20MiB/s 30ms", 20.0 * MIB, 0.030),)
    dir_shaped_files: int = 1000
    size: int = 1 * GIB
    part_size: int = 8 * MIB
    threads: int = 8
    runs: int = 5
    scaling_workers: Tuple[int, ...] = (1, 4, 8, 16)
    scaling_shapes: Tuple[Tuple[float, int], ...] = ((20 * MIB, 3), (100 * MIB, 3))
    scaling_latency: float = 0.020
    scaling_runs: int = 2
    memory_sizes: Tuple[int, ...] = (256 * MIB, 1 * GIB, 2 * GIB)
    crc_buffer: int = 64 * MIB
    crc_chunk: int = 1 * MIB
    crc_repeats: int = 3
    crc_min_seconds: float = 0.5
    combine_parts: int = 10_000
    sign_iterations: int = 20_000
    resume_size: int = 512 * MIB
    resume_runs: int = 3
    resume_bandwidth: Optional[float] = None
    cluster_workers: Tuple[int, ...] = (1, 2)
    cluster_threads: int = 2
    cluster_parts: int = 4
    cluster_bandwidth: float = 8 * MIB
    cluster_runs: int = 3
    async_size: int = 512 * MIB
    async_parts_per_slot: int = 4
    async_part_size: int = 1 * MIB
    async_in_flight: Tuple[int, ...] = (8, 64, 256)
    async_bandwidth: float = 2 * MIB
    async_latency: float = 0.030
    async_runs: int = 2
    server_in_memory: bool = True
    child_timeout: float = 900.0
    skip_official: bool = False
    suites: Tuple[str, ...] = field(default=SUITES)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def but(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


FULL = Settings()
#: Shapes of the smoke preset: small caps the server applies itself (no root, no namespace needed).
SMOKE_SHAPES: Tuple[ShapeSpec, ...] = (("loopback", None, 0.0), ("16MiB/s 5ms", 16.0 * MIB, 0.005))
#: A few seconds: proves the code paths work (CI's smoke test), measures nothing worth reading.
SMOKE = Settings(
    shapes=SMOKE_SHAPES,
    kernel_shape=False,
    compare_size_loopback=6 * MIB,
    compare_size_shaped=6 * MIB,
    compare_runs=1,
    probe_seconds=0.2,
    partsize_sizes=(1 * MIB, 2 * MIB),
    partsize_file=8 * MIB,
    partsize_runs=1,
    floors_size=4 * MIB,
    floors_runs=1,
    dir_files=30,
    dir_concurrency=4,
    dir_runs=1,
    dir_large_files=2,
    dir_large_size=3 * MIB,
    dir_clients=("dir-ours", "dir-official-pool", "dir-official-loop", "coscmd", "dir-cluster-2"),
    dir_shapes=(("16MiB/s 5ms", 16.0 * MIB, 0.005),),
    dir_shaped_files=10,
    size=6 * MIB,
    part_size=1 * MIB,
    threads=2,
    runs=1,
    scaling_workers=(1, 2),
    scaling_shapes=((16 * MIB, 2),),
    scaling_latency=0.005,
    scaling_runs=1,
    memory_sizes=(2 * MIB, 4 * MIB),
    crc_buffer=2 * MIB,
    crc_chunk=256 * KIB,
    crc_repeats=1,
    crc_min_seconds=0.01,
    combine_parts=200,
    sign_iterations=200,
    resume_size=8 * MIB,
    resume_runs=1,
    resume_bandwidth=4 * MIB,
    cluster_workers=(1, 2),
    cluster_threads=2,
    cluster_parts=1,
    cluster_bandwidth=16 * MIB,
    cluster_runs=1,
    async_size=8 * MIB,
    async_parts_per_slot=1,
    async_in_flight=(2, 8),
    async_bandwidth=16 * MIB,
    async_latency=0.005,
    async_runs=1,
    child_timeout=120.0,
)


def parse_size(text: str) -> int:
    """``123``, ``64K``, ``256MB``, ``1.5GiB``, ... (binary units) as bytes; must be positive."""
    try:
        size = cli_parse_size(text)
    except argparse.ArgumentTypeError as error:
        raise ValueError(str(error)) from None
    if size <= 0:
        raise ValueError(f"a size must be positive: {text!r}")
    return size


def human(size: float) -> str:
    """``1 GiB``, ``256 MiB``, ``512 KiB``, ``17 B``."""
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size:.0f} B"
