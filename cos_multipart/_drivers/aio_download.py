"""The asyncio form of a verified download: :func:`async_download_file` and its executor :class:`AsyncDownload`.

The same :class:`~cos_multipart._core._downloadflow.DownloadMachine` as :func:`~cos_multipart._drivers.download.download_file`;
each range is a task, its chunks written (``pwrite``) and hashed in the download's thread pool, never on the loop.
Imported by :mod:`cos_multipart.aio` only (it needs aiohttp).
"""

from __future__ import annotations

import time
from typing import Any, Optional

from .._core._actions import Head
from .._core._config import DEFAULT_CONCURRENCY
from .._core._decisions import client_dialect
from .._core._download import DownloadResult, DownloadStart, FetchRange
from .._core._downloadflow import DownloadMachine
from .._core.parts import DEFAULT_PART_ATTEMPTS
from .._core.planner import DEFAULT_PART_SIZE
from .._core.progress import ProgressCallback
from .._io._downloadfile import DownloadFiles
from .._io.aio_client import AsyncCosClient
from .._io.ratelimit import TokenBucket
from .._protocol import sse
from ._aio_executor import AsyncExecutor
from ._downloadsteps import CHUNK, DOWNLOAD_LOCAL, DownloadOptions, DownloadSteps, RangeSink
from .aio_bodies import Threads
from .download import PathLike, check_options, check_start

__all__ = ["AsyncDownload", "async_download_file"]


class AsyncDownload(AsyncExecutor):
    """One download run on the event loop (see the module docstring)."""

    def __init__(self, client: AsyncCosClient, start: DownloadStart, options: DownloadOptions, callback: Optional[ProgressCallback]) -> None:
        super().__init__()
        self.client = client
        self.start = start
        self.options = options
        self.limiter = TokenBucket(options.bandwidth_limit) if options.bandwidth_limit else None
        self.steps = DownloadSteps(DownloadFiles(start.path), client_dialect(client).integrity, callback)
        self.threads = Threads(min(start.concurrency, 8) + 1, "cos-multipart-download")

    async def run(self) -> DownloadResult:
        """The whole download (as :meth:`Download.run`)."""
        started = time.monotonic()
        machine = DownloadMachine.download(self.start)
        try:
            await self.execute(machine)
        finally:
            await self.threads.close()
            self.steps.close()
        return machine.result(time.monotonic() - started)

    def prepare_part(self) -> None:
        self.client.ensure_pool_size(self.start.concurrency)

    async def perform(self, action: Any) -> object:
        if isinstance(action, DOWNLOAD_LOCAL):
            return await self.threads.run(self.steps.perform, action)  # file work and callbacks off the loop
        if isinstance(action, Head):
            return await self.client.head_object(self.start.key, sse_c=self.options.sse_c)
        raise TypeError(f"no step for {action!r}")

    async def request(self, action: Any) -> object:
        if not isinstance(action, FetchRange):
            raise TypeError(f"no part request for {action!r}")
        sink = RangeSink(action, self.steps, self.limiter, self.stop)
        span = None if action.whole else (action.offset, action.offset + action.length - 1)
        options = self.options
        body = await self.client.get_object(
            self.start.key, byte_range=span, sse_c=options.sse_c, if_match=action.etag, traffic_limit=options.traffic_limit,
        )  # fmt: skip
        async with body:
            sink.check_answer(body.status, body.result.size, body.headers.get("content-range"))
            async for chunk in body.iter_chunks(CHUNK):
                await self.threads.run(sink.take, chunk)
        return sink.fetched()


async def async_download_file(
    client: AsyncCosClient,
    key: str,
    path: PathLike,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    threshold: Optional[int] = None,
    attempts: int = DEFAULT_PART_ATTEMPTS,
    resume: bool = True,
    sse_c: sse.EncryptionLike = None,
    traffic_limit: Optional[int] = None,
    bandwidth_limit: Optional[float] = None,
    progress: Optional[ProgressCallback] = None,
) -> DownloadResult:
    """:func:`download_file` on asyncio: each range a task, file writes and hashing in a thread pool.

    ``progress`` is a plain function (called from the pool's threads). Cancelling the awaiting task stops the
    ranges; the temporary file and checkpoint are kept for a resume when ``resume`` is on.
    """
    start = check_start(key, path, part_size, concurrency, attempts, resume, threshold)
    return await AsyncDownload(client, start, check_options(sse_c, traffic_limit, bandwidth_limit, progress), progress).run()
