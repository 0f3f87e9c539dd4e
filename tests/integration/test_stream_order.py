"""A stream's parts go out as soon as they are read: the next part is not read while a part already read
waits to be sent (that would hold more parts in memory and leave connections idle)."""

from __future__ import annotations

import io
import time
from typing import Any, List

import pytest

from cos_multipart import CheckpointStore, CosClient, UploadConfig
from cos_multipart.testing import LocalCOS

from uploads import Driver

pytestmark = [pytest.mark.integration]

MB = 1024 * 1024
#: Only a guard against hanging: the test is decided by which event happened, never by how long it took.
HANG_GUARD = 30.0


class Gated(io.RawIOBase):
    """A pipe of ``parts`` parts that will not hand out the first byte of part 2 until the server has part 1's
    request (being served, or answered)."""

    def __init__(self, server: LocalCOS, part: int, parts: int) -> None:
        self.server = server
        self.part = part
        self.left = part * parts
        self.given = 0
        self.waited: List[bool] = []

    def readable(self) -> bool:
        return True

    def _part_one_arrived(self) -> bool:
        return self.server.requests_in_progress > 0 or bool(self.server.log_entries("UploadPart", settle=0))

    def readinto(self, buffer: Any) -> int:
        if self.given == self.part and not self.waited:
            deadline = time.monotonic() + HANG_GUARD
            while not self._part_one_arrived() and time.monotonic() < deadline:
                time.sleep(0.005)
            self.waited.append(self._part_one_arrived())
        count = min(len(buffer), self.left, 256 * 1024, self.part * (1 + self.given // self.part) - self.given)
        buffer[:count] = b"\x5a" * count
        self.left -= count
        self.given += count
        return count


def test_a_part_read_is_sent_before_the_next_part_is_read(
    driver: Driver, client: CosClient, local_cos: LocalCOS, store: CheckpointStore
) -> None:
    stream = Gated(local_cos, MB, 4)
    config = UploadConfig(part_size=MB, multipart_threshold=MB, concurrency=4)
    result = driver.Uploader(client, config, store=store).upload(io.BufferedReader(stream, buffer_size=256 * 1024), "order/stream")
    assert result.size == 4 * MB and result.multipart
    # Before: parts 2..4 were read (the window filled) before part 1 was handed to a worker.
    assert stream.waited == [True], "part 2 was read while part 1 waited to be sent"
