"""Presigned uploads (issue 26): what the application's server spends per upload, in numbers.

    python -m bench.presigned

* signing: ``presign_part`` for 10,000 parts (the most an upload has), COS and OSS forms, with an STS token;
* checking: the completion's pure work for 10,000 parts (the reports parsed, List Parts against the plan and the
  reports, the object's CRC-64 combined from 10,000 part values);
* a round trip against the local server (OSS mode, 100 KB parts: 400 parts of a 40 MB object): start, the parts
  PUT with ``requests`` one after the other, complete with every check; the complete call timed on its own.

Prints the median of five runs (and the spread); nothing is asserted.
"""

from __future__ import annotations

import functools
import random
import statistics
import time
from typing import Any, Callable, List

import requests

from cos_multipart import CosClient, crc64
from cos_multipart._core._presigned_checks import expected_crc64, part_problems, reported_parts
from cos_multipart._core.presigned import PresignedUpload
from cos_multipart._drivers.presigned import PresignedUploads
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.models import PartInfo
from cos_multipart.testing import LocalCOS

PARTS = 10_000
CREDENTIALS = Credentials("AKIDBENCHMARK000000000000000000000000", "BenchmarkSecretKey00000000000000", token="BenchToken" * 20)
UPLOAD_ID = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"


def timed(function: Callable[[], Any], runs: int = 5) -> List[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def show(name: str, samples: List[float], per: int = 1, unit: str = "ms") -> None:
    scale = 1e3 if unit == "ms" else 1e6
    median = statistics.median(samples) / per * scale
    print(f"{name:<58} {median:10.2f} {unit}  (min {min(samples) / per * scale:.2f}, max {max(samples) / per * scale:.2f})")


def sign_all(client: CosClient) -> None:
    for number in range(1, PARTS + 1):
        client.presign_part("videos/clip.mp4", UPLOAD_ID, number, expires=3600)


def signing() -> None:
    for dialect, bucket, region in (("cos", "examplebucket-1250000000", "ap-guangzhou"), ("oss", "examplebucket", "cn-hangzhou")):
        samples = timed(functools.partial(sign_all, CosClient(bucket, region, CREDENTIALS, dialect=dialect)))
        show(f"sign {PARTS} part URLs ({dialect}), per URL", samples, PARTS, "us")
        show(f"sign {PARTS} part URLs ({dialect}), all", samples)


def checking() -> None:
    part_size = 8 * 1024 * 1024
    state = PresignedUpload("cos", "b-1250000000", "k", UPLOAD_ID, PARTS * part_size - 12345, part_size, 0, 86400, "d")
    rng = random.Random(5)
    crcs = [rng.getrandbits(64) for _ in range(PARTS)]
    listed = [PartInfo(n, f'"{n:032x}"', length) for n, _, length in state.plan.ranges()]
    raw = [{"part": n, "crc64": str(crcs[n - 1]), "etag": f'"{n:032x}"'} for n in range(1, PARTS + 1)]

    def check() -> None:
        reports = reported_parts(state, raw)
        assert not part_problems(state, listed, reports)
        expected_crc64(state, listed, reports)

    show(f"check {PARTS} parts and combine their CRC-64s", timed(check))


def round_trip() -> None:
    data = random.Random(3).randbytes(40 * 1000 * 1024)
    part = 100 * 1024
    with LocalCOS(dialect="oss") as server, server.client() as client:
        uploads = PresignedUploads(client)
        completes = []
        totals = []
        for run in range(3):
            started = time.perf_counter()
            state, urls = uploads.start(f"bench/{run}.bin", size=len(data), part_size=part)
            reports = []
            with requests.Session() as session:
                for url in urls:
                    body = data[url.offset : url.offset + url.size]
                    answer = session.put(url.url, data=body, headers=dict(url.headers), timeout=30)
                    reports.append({"part": url.number, "crc64": str(crc64(body)), "etag": answer.headers["ETag"]})
            before = time.perf_counter()
            result = uploads.complete(state, reports)
            completes.append(time.perf_counter() - before)
            totals.append(time.perf_counter() - started)
            assert result.crc64 == crc64(data) and result.crc64_verified
        show(f"OSS local server: complete + verify {len(urls)} parts", completes)
        show(f"OSS local server: whole upload, {len(data) >> 20} MiB in {len(urls)} parts", totals)


def main() -> None:
    signing()
    checking()
    round_trip()


if __name__ == "__main__":
    main()
