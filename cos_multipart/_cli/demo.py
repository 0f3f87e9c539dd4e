"""``cos-multipart demo``: a verified multipart upload against a local COS server, end to end.

It starts :class:`~cos_multipart.testing.LocalCOS` on a free port in a temporary directory, writes a test
file, uploads it with :func:`cos_multipart._drivers.uploader.upload_file` (parts in parallel, each part's CRC-64 and
ETag checked, the whole object's CRC-64 checked at Complete), reads the object back to check it once more,
prints a summary and removes everything. No credentials, no network.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TextIO

from .._protocol import limits
from .._protocol.checksum import crc64
from .._protocol.errors import CosIntegrityError, CosValidationError
from .._core.progress import ProgressEvent
from ..testing import LocalCOS
from .._drivers.uploader import upload_file

DEMO_KEY = "demo/cos-multipart-demo.bin"
#: The file is written in blocks of this size; each block differs (its index is stamped in front).
_BLOCK = 4 * limits.MB
#: Without a terminal, a progress line is printed at most this often.
_LINE_SECONDS = 2.0


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does.

    Attributes:
        size: Bytes of the test file.
        part_size: Bytes per part.
        threads: Parts uploaded at once.
        bandwidth: Per-connection cap of the local server in bytes/s (simulates a network), or ``None``.
        latency: Seconds the local server adds to every request.
        progress_bar: Show a tqdm bar (else periodic progress lines).
    """

    size: int = 256 * limits.MB
    part_size: int = 8 * limits.MB
    threads: int = 4
    bandwidth: Optional[float] = None
    latency: float = 0.0
    progress_bar: bool = False

    def __post_init__(self) -> None:
        if self.size < 0:
            raise CosValidationError("size", self.size, "a number of bytes >= 0")
        if not limits.MIN_PART_SIZE <= self.part_size <= limits.MAX_PART_SIZE:
            raise CosValidationError("part_size", self.part_size, "1 MB to 5 GB (436/7750)")
        if -(-self.size // self.part_size) > limits.MAX_PART_NUMBER:
            raise CosValidationError("part_size", self.part_size, "large enough for at most 10000 parts")
        if not 1 <= self.threads <= 256:
            raise CosValidationError("threads", self.threads, "1 to 256")


def run_demo(options: DemoOptions, out: TextIO) -> int:
    """Run the demo, printing to ``out``; returns 0 (a failed check raises :class:`CosIntegrityError`)."""
    with tempfile.TemporaryDirectory(prefix="cos-multipart-demo-") as workdir:
        root = Path(workdir)
        source = root / "demo.bin"
        started = time.monotonic()
        local_crc = write_test_file(source, options.size)
        _say(out, f"Test file: {_mib(options.size)} written in {time.monotonic() - started:.1f} s ({source})")
        with LocalCOS(data_dir=root / "server", bandwidth=options.bandwidth, latency=options.latency) as cos:
            _say(out, f"Local COS server: {cos.endpoint}  bucket {cos.bucket}  region {cos.region}")
            with cos.client(pool_size=max(10, options.threads)) as client:
                parts = max(1, -(-options.size // options.part_size))
                plan = f"{parts} part(s) of {_mib(options.part_size)}, {options.threads} in parallel"
                _say(out, f"Uploading {DEMO_KEY}: {plan}")
                progress = _Progress(out, options.size, bar=options.progress_bar)
                try:
                    result = upload_file(
                        client,
                        str(source),
                        DEMO_KEY,
                        progress=progress,
                        part_size=options.part_size,
                        concurrency=options.threads,
                        multipart_threshold=0,
                        checkpoint_dir=str(root / "checkpoints"),
                    )
                finally:
                    progress.close()
                upload_seconds = result.elapsed
                _check("crc64", local_crc, result.crc64)
                checked = "every part and the whole object"
                _say(out, f"Uploaded and verified: CRC64 {result.crc64} ({checked}), ETag {result.etag}")
                head = client.head_object(DEMO_KEY)
                _check("size", options.size, head.size)
                _check("crc64", local_crc, head.crc64)
                started = time.monotonic()
                read_crc, read_size = _read_back(client)
                read_seconds = time.monotonic() - started
                _check("size", options.size, read_size)
                _check("crc64", local_crc, read_crc)
                _say(out, f"Read back {_mib(read_size)} in {read_seconds:.1f} s: CRC64 matches ({read_crc})")
        _say(out, "")
        _say(out, "Summary")
        _say(out, f"  size        {_mib(options.size)} ({options.size} bytes)")
        _say(out, f"  parts       {len(result.parts)} x {_mib(options.part_size)}, {options.threads} threads")
        _say(out, f"  upload      {upload_seconds:.2f} s, {_rate(options.size, upload_seconds)}")
        _say(out, f"  read back   {read_seconds:.2f} s, {_rate(options.size, read_seconds)}")
        _say(out, "  verified    part CRC64 + ETag, object CRC64 (Complete, HEAD, GET)")
    _say(out, "Cleaned up the server, the file and the temporary directory.")
    return 0


def write_test_file(path: Path, size: int) -> int:
    """Write ``size`` bytes of random-looking data quickly; return their CRC-64 (hashed as written)."""
    block = bytearray(os.urandom(min(_BLOCK, max(size, 1))))
    crc = 0
    written = 0
    index = 0
    with open(path, "wb") as handle:
        while written < size:
            block[:8] = index.to_bytes(8, "big")  # every block differs, so parts differ
            chunk = memoryview(block)[: min(len(block), size - written)]
            handle.write(chunk)
            crc = crc64(chunk, crc)
            written += len(chunk)
            index += 1
    return crc


def _read_back(client: Any) -> "tuple[int, int]":
    crc = size = 0
    with client.get_object(DEMO_KEY) as body:
        for chunk in body.iter_chunks(limits.MB):
            crc = crc64(chunk, crc)
            size += len(chunk)
    return crc, size


def _check(what: str, local: Optional[int], remote: Optional[int]) -> None:
    if local != remote:
        raise CosIntegrityError(what, local, remote)


class _Progress:
    """A tqdm bar on a terminal, else a line every couple of seconds and at the end."""

    def __init__(self, out: TextIO, total: int, *, bar: bool) -> None:
        self._out = out
        self._total = total
        self._started = time.monotonic()
        self._last_line = self._started
        self._shown = 0
        self._bar: Any = None
        if bar:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=out, desc="upload")

    def __call__(self, event: ProgressEvent) -> None:
        if self._bar is not None:
            self._bar.update(event.bytes_done - self._shown)
            self._shown = event.bytes_done
            return
        now = time.monotonic()
        if now - self._last_line >= _LINE_SECONDS or event.bytes_done == self._total:
            self._last_line = now
            percent = 100.0 if not self._total else 100.0 * event.bytes_done / self._total
            parts = f"{event.parts_done}/{event.parts_total}" if event.parts_total else str(event.parts_done)
            _say(self._out, f"  {percent:5.1f} %  {_mib(event.bytes_done)}  parts {parts}  "
                            f"{_rate(event.bytes_done, now - self._started)}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _mib(size: int) -> str:
    return f"{size / limits.MB:.1f} MiB"


def _rate(size: int, seconds: float) -> str:
    return f"{size / limits.MB / seconds:.0f} MiB/s" if seconds > 0 else "-"
