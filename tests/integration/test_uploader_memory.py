"""Peak memory of an upload does not grow with the file size (server in another process, so only the
uploader's allocations are traced)."""

from __future__ import annotations

import functools
import io
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import TEST_CREDENTIALS
from cos_multipart._drivers.uploader import UploadConfig

from uploads import Driver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVER = """
import sys
from cos_multipart.testing import LocalCOS
with LocalCOS(data_dir=sys.argv[1]) as cos:
    print(cos.endpoint, cos.bucket, cos.region, flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def remote_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosClient]:
    data_dir = tmp_path_factory.mktemp("server")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(data_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        endpoint, bucket, region = server.stdout.readline().split()
        credentials = Credentials(TEST_CREDENTIALS.secret_id, TEST_CREDENTIALS.secret_key)
        with CosClient(bucket, region, credentials, endpoint=endpoint) as client:
            yield client
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


def peak_while(action: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_file_upload_peak_is_independent_of_size(driver: Driver, remote_client: CosClient, tmp_path: Path) -> None:
    config = UploadConfig(part_size=4 * MB, multipart_threshold=0, concurrency=4)
    uploader = driver.Uploader(remote_client, config, store=CheckpointStore(tmp_path / "cp"))
    peaks: Dict[int, int] = {}
    # One upload first, unmeasured: what a process allocates once (modules imported on first use, the MIME
    # table, thread pools) is not what an upload holds, and alone it filled the 16 MB case's slack.
    warm = tmp_path / "warm.bin"
    warm.write_bytes(os.urandom(2 * MB))
    uploader.upload(warm, "mem/warm")
    for size in (16 * MB, 32 * MB):
        path = tmp_path / f"{size}.bin"
        with open(path, "wb") as handle:
            for _ in range(size // MB):
                handle.write(os.urandom(MB))
        peaks[size] = peak_while(functools.partial(uploader.upload, path, f"mem/{size}"))
        path.unlink()
    print(f"file upload peak: 16 MB file {peaks[16 * MB] / MB:.1f} MB, 32 MB file {peaks[32 * MB] / MB:.1f} MB")
    # Parts are streamed from the file in 1 MB blocks: at most two blocks per worker are alive (the one on
    # the socket and the next), so both peaks stay under the same bound, far below either file's size. How
    # many blocks overlap depends on timing, so the two peaks are not compared with each other.
    bound = config.concurrency * 2 * MB + 4 * MB
    assert peaks[16 * MB] < bound and peaks[32 * MB] < bound


def test_stream_upload_peak_is_bounded_by_parts_in_flight(driver: Driver, remote_client: CosClient, tmp_path: Path) -> None:
    config = UploadConfig(part_size=MB, multipart_threshold=0, concurrency=2)
    uploader = driver.Uploader(remote_client, config, store=CheckpointStore(tmp_path / "cp"))
    peaks: Dict[int, int] = {}
    for size in (16 * MB, 32 * MB):

        class Source(io.RawIOBase):
            left = size

            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                count = min(len(buffer), self.left, 256 * 1024)
                buffer[:count] = b"\x5a" * count
                self.left -= count
                return count

        stream: Any = Source()
        peaks[size] = peak_while(functools.partial(uploader.upload, stream, f"mem-stream/{size}"))
    print(f"stream upload peak: 16 MB {peaks[16 * MB] / MB:.1f} MB, 32 MB {peaks[32 * MB] / MB:.1f} MB")
    # (concurrency + 1) part buffers plus blocks on the sockets, whatever the stream's length
    bound = (config.concurrency + 1) * MB + 3 * MB
    assert peaks[16 * MB] < bound and peaks[32 * MB] < bound


def test_a_stream_upload_holds_no_part_it_has_sent(driver: Driver, remote_client: CosClient, tmp_path: Path) -> None:
    """Parts large against the slack, one in flight: a part kept after it was sent (the first one, held by the
    sequence's frame for the whole upload, once was) shows as a whole part over the bound."""
    part = 4 * MB
    config = UploadConfig(part_size=part, multipart_threshold=0, concurrency=1)
    uploader = driver.Uploader(remote_client, config, store=CheckpointStore(tmp_path / "cp"))

    class Source(io.RawIOBase):
        left = 6 * part

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            count = min(len(buffer), self.left, 256 * 1024)
            buffer[:count] = b"\x5a" * count
            self.left -= count
            return count

    stream: Any = Source()
    peak = peak_while(functools.partial(uploader.upload, stream, "mem-stream/one-in-flight"))
    # The part in flight and the one being read, plus blocks on the socket: less than a third part.
    # (concurrency + 1) parts (the one in flight, the one being read) plus blocks on the socket; a part kept
    # after it was sent adds a whole part (seen with asyncio: 13.8 MB against 9.8 MB once fixed).
    assert peak < 2 * part + 3 * MB, f"peak {peak / MB:.1f} MB"
