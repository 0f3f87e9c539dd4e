"""One measured download in a fresh process: ``python -m bench._download_child '<json spec>'``.

Jobs (``spec["job"]``):

* ``ours``: :func:`cos_multipart.download_file` (verified by CRC-64, resumable); ``defaults: true`` calls it with
  nothing but the client, the key and the path, else ``part_size`` and ``threads`` are given.
* ``official``: the official SDK's ``CosS3Client.download_file`` at its defaults (20 MB parts, 5 threads);
  ``crc: true`` passes ``EnableCRC=True`` (its check reads the whole file back into memory).
* ``floor``: what a verified download costs with no SDK and no network: the source file read in 1 MiB chunks,
  each CRC-64'd and ``pwrite``'d into the destination, then ``fsync`` (the bytes in the page cache).

The result is the last line of stdout, JSON: ``wall`` and ``cpu`` (user + sys of this process, after the imports)
and ``peak_rss_mib`` (``VmHWM``). Credentials come from the environment, never from the spec.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable, Dict

from bench._child import _cpu, _rss_mib, official_client

Spec = Dict[str, Any]
Result = Dict[str, Any]
CHUNK = 1024 * 1024


def _measure(run: Callable[[], Result]) -> Result:
    cpu = _cpu()
    started = time.perf_counter()
    result = run()
    result["wall"] = time.perf_counter() - started
    result["cpu"] = _cpu() - cpu
    result["peak_rss_mib"] = _rss_mib()
    return result


def job_ours(spec: Spec) -> Result:
    from cos_multipart import CosClient, Credentials, download_file

    threads = int(spec.get("threads", 8))
    client = CosClient(spec["bucket"], spec["region"], Credentials.from_env(), endpoint=spec["endpoint"], pool_size=max(10, threads))
    options: Dict[str, Any] = {} if spec.get("defaults") else {"part_size": int(spec["part_size"]), "concurrency": threads}
    baseline = _rss_mib()

    def run() -> Result:
        result = download_file(client, spec["key"], spec["dest"], **options)
        return {"size": result.size, "crc64": result.crc64, "check": result.check, "ranges": result.ranges}

    measured = _measure(run)
    measured["rss_after_import_mib"] = baseline
    return measured


def job_official(spec: Spec) -> Result:
    client = official_client(spec, None)
    options: Dict[str, Any] = {"EnableCRC": True} if spec.get("crc") else {}
    baseline = _rss_mib()

    def run() -> Result:
        client.download_file(Bucket=spec["bucket"], Key=spec["key"], DestFilePath=spec["dest"], **options)
        return {"size": os.path.getsize(spec["dest"])}

    measured = _measure(run)
    measured["rss_after_import_mib"] = baseline
    return measured


def job_floor(spec: Spec) -> Result:
    from cos_multipart._protocol.checksum import crc64

    def run() -> Result:
        source = os.open(spec["path"], os.O_RDONLY)
        dest = os.open(spec["dest"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        crc = offset = 0
        try:
            while True:
                chunk = os.pread(source, CHUNK, offset)
                if not chunk:
                    break
                crc = crc64(chunk, crc)
                os.pwrite(dest, chunk, offset)
                offset += len(chunk)
            os.fsync(dest)
        finally:
            os.close(source)
            os.close(dest)
        return {"size": offset, "crc64": crc}

    return _measure(run)


JOBS = {"ours": job_ours, "official": job_official, "floor": job_floor}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = JOBS[spec["job"]](spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
