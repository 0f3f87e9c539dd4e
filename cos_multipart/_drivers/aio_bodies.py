"""Part bodies and streams for the asyncio driver: bytes read and hashed in threads, paced on the loop.

:class:`AsyncPart` serves one part to aiohttp as an :class:`~cos_multipart._io.aio_transport.AsyncBody`. It
wraps the threaded driver's own readers (:mod:`cos_multipart._io._partreader`): for a file, each chunk is one
``FilePartReader.read`` in a worker thread, which reads the bytes with ``pread`` and hashes them (MD5 and
CRC-64 in the same pass) before the loop hands that same ``bytes`` object to the socket, so every byte is read
once and hashed once and the loop never waits on a disk or a hash. A part held in memory (a buffer, a stream
part) is served as zero-copy slices. The bandwidth cap (the shared token bucket's :meth:`reserve`) is waited
with ``asyncio.sleep``; progress is reported after each chunk, and awaitable progress callbacks are awaited.

:class:`IterStream` reads an async iterator of bytes (an aiohttp request body, for example) into part
buffers of the sizes the stream plan asks for, hashing in threads; :class:`SyncStream` reads a binary stream in
a thread. Both hold one part at a time; the driver keeps at most ``concurrency`` parts in flight.
"""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import functools
import inspect
import itertools
import threading
from collections import deque
from typing import Any, AsyncIterable, AsyncIterator, Awaitable, Callable, Deque, Optional, TypeVar, Union

from .._io._partreader import FilePartReader, _Hasher
from .._core._partvalues import PartDigest, StreamPart
from .._io._sources import PartBody, StreamSource
from .._protocol.errors import CosValidationError
from .._protocol.integrity import CRC64_ECMA, IntegrityScheme
from .._core.progress import ProgressCallback, ProgressEvent, ProgressTracker
from .._io.ratelimit import TokenBucket

T = TypeVar("T")

#: Bytes per chunk handed to the socket (and read and hashed in one thread hop for files).
CHUNK = 1024 * 1024
#: A stream's bytes are hashed in a thread once this many have gathered (small chunks are not worth a hop).
HASH_BLOCK = 1024 * 1024

#: A progress callback of the asyncio driver: a plain function, or one returning an awaitable.
AsyncProgressCallback = Callable[[ProgressEvent], Union[None, Awaitable[None]]]


class Threads:
    """A thread pool for one upload's blocking work, and what is still running in it.

    Every blocking call of the driver goes through :meth:`run`; :meth:`close` waits for what is still running
    (a cancelled task's read finishes within one chunk) and stops the threads, so none is left behind.
    """

    _made = itertools.count(1)

    def __init__(self, workers: int, name: str = "cos-multipart-aio") -> None:
        self._prefix = f"{name}-{next(self._made)}_"
        self._workers = workers
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=self._prefix)
        self._running: "set[concurrent.futures.Future[Any]]" = set()
        self._ready: Optional["asyncio.Future[None]"] = None

    async def _started(self) -> None:
        """Start every worker from a helper thread: ``Thread.start`` waits until the new thread runs, which on
        a busy machine can take tens of milliseconds, and that wait must not happen on the loop."""
        if self._ready is None:
            loop = asyncio.get_running_loop()
            ready = self._ready = loop.create_future()
            barrier = threading.Barrier(self._workers)

            def start() -> None:
                waits = [self._pool.submit(barrier.wait) for _ in range(self._workers)]  # one thread each
                concurrent.futures.wait(waits)
                loop.call_soon_threadsafe(_resolve, ready)

            _thread.start_new_thread(start, ())  # does not wait for the thread to run
        await asyncio.shield(self._ready)

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` in a worker thread."""
        await self._started()
        future = self._pool.submit(functools.partial(function, *args, **kwargs))
        self._running.add(future)
        future.add_done_callback(self._running.discard)
        return await asyncio.wrap_future(future)

    async def close(self) -> None:
        """Wait for the work still running (also when cancelled meanwhile), then stop the threads."""
        while self._running:
            await asyncio.wait([asyncio.wrap_future(future) for future in list(self._running)])
        # Joining here would block the loop while each idle thread waits its turn for the GIL to exit.
        self._pool.shutdown(wait=False)
        while any(thread.name.startswith(self._prefix) for thread in threading.enumerate()):
            await asyncio.sleep(0.002)


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


class Callbacks:
    """The user's progress callback as the tracker calls it; awaitables it returns are awaited in order."""

    def __init__(self, callback: AsyncProgressCallback) -> None:
        self._callback = callback
        self._pending: Deque[Awaitable[None]] = deque()

    def __call__(self, event: ProgressEvent) -> None:
        result = self._callback(event)
        if inspect.isawaitable(result):
            self._pending.append(result)

    async def settle(self) -> None:
        """Await the callbacks' awaitables (an exception raised there stops the upload, like a plain one's)."""
        while self._pending:
            await self._pending.popleft()


def tracker(total: Optional[int], parts: Optional[int], callbacks: Optional[Callbacks]) -> ProgressTracker:
    """A :class:`ProgressTracker` reporting to ``callbacks``."""
    callback: Optional[ProgressCallback] = callbacks
    return ProgressTracker(total, parts, callback)


class AsyncPart:
    """One part as a rewindable async body: :meth:`chunks` starts a fresh reader (fresh hashes) each attempt.

    Args:
        make_reader: A new reader of the part (called in a thread: building one may hash a buffer).
        length: Bytes in the part.
        number: Part number.
        threads: Where file reads and hashes run.
        progress: The upload's tracker.
        callbacks: The user's callbacks (awaited after each chunk).
        limiter: The bandwidth cap, or ``None``.
    """

    def __init__(
        self,
        make_reader: Callable[[], PartBody],
        length: int,
        number: int,
        threads: Threads,
        progress: Optional[ProgressTracker],
        callbacks: Optional[Callbacks],
        limiter: Optional[TokenBucket],
    ) -> None:
        self._make_reader = make_reader
        self._length = length
        self.number = number
        self._threads = threads
        self._progress = progress
        self._callbacks = callbacks
        self._limiter = limiter
        self._reader: Optional[PartBody] = None
        self._sending = False
        #: What made the last attempt's body fail on this side (read by the transport), or ``None``.
        self.failure: Optional[BaseException] = None

    def __len__(self) -> int:
        return self._length

    async def chunks(self) -> AsyncIterator[bytes]:
        """The part's bytes from its start, read and hashed in a thread (files) or sliced (memory)."""
        self.failure = None
        if self._sending and self._progress is not None:
            self._progress.rewind(self.number)  # a retry inside the transport sends the part again
        self._sending = True
        try:
            reader = self._reader = await self._threads.run(self._make_reader)
            in_thread = isinstance(reader, FilePartReader)
            left = self._length
            while left > 0:
                size = min(CHUNK, left)
                if self._limiter is not None:
                    delay = self._limiter.reserve(size)
                    if delay > 0:
                        await asyncio.sleep(delay)
                data = await self._threads.run(reader.read, size) if in_thread else reader.read(size)
                yield data  # type: ignore[misc]  # bytes or a memoryview slice: aiohttp writes either
                left -= size
                if self._progress is not None:
                    self._progress.sent(self.number, size)
                if self._callbacks is not None:
                    await self._callbacks.settle()
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except BaseException as error:
            self.failure = error  # aiohttp wraps it in a connection error; the transport raises this one
            raise

    async def digest(self) -> PartDigest:
        """Checksums of the bytes the last attempt sent."""
        reader = self._reader
        if reader is None:
            reader = self._reader = await self._threads.run(self._make_reader)
        if isinstance(reader, FilePartReader):
            return await self._threads.run(reader.digest)  # hashes what was not sent, normally nothing
        return reader.digest()


class SyncStream:
    """A binary stream (a pipe, a socket file) read part by part in a thread."""

    def __init__(self, source: StreamSource, threads: Threads) -> None:
        self._source = source
        self._threads = threads
        self.size = source.size

    async def read_part(self, part_size: int, *, md5: bool, integrity: IntegrityScheme = CRC64_ECMA) -> StreamPart:
        """The next ``part_size`` bytes (fewer only at the end), hashed as they arrive."""
        return await self._threads.run(self._source.read_part, part_size, md5=md5, integrity=integrity)

    def check_length(self, total: int) -> None:
        """At the end: a stream measured at another length is a changed source."""
        self._source.check_length(total)


class IterStream:
    """An async iterator of bytes-like chunks, gathered into part buffers and hashed in threads."""

    def __init__(self, iterable: AsyncIterable[Any], threads: Threads) -> None:
        self._iterator = iterable.__aiter__()
        self._threads = threads
        self._left = memoryview(b"")
        self.size: Optional[int] = None

    async def read_part(self, part_size: int, *, md5: bool, integrity: IntegrityScheme = CRC64_ECMA) -> StreamPart:
        """The next ``part_size`` bytes (fewer only at the end of the iterator)."""
        buffer = await self._threads.run(bytearray, part_size)  # zero-filling a large part takes tens of ms
        view = memoryview(buffer)
        hasher = _Hasher(md5, integrity)
        filled = hashed = 0
        while filled < part_size:
            if not self._left and not await self._next_chunk():
                break
            take = min(len(self._left), part_size - filled)
            view[filled : filled + take] = self._left[:take]
            self._left = self._left[take:]
            filled += take
            if filled - hashed >= HASH_BLOCK:
                await self._threads.run(hasher.update, view[hashed:filled])
                hashed = filled
        if hashed < filled:
            await self._threads.run(hasher.update, view[hashed:filled])
        return StreamPart(view[:filled], hasher.digest())

    async def _next_chunk(self) -> bool:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            return False
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise CosValidationError("source", type(chunk).__name__, "an async iterator of bytes-like chunks")
        self._left = memoryview(chunk).cast("B")
        return True

    def check_length(self, total: int) -> None:
        """Nothing to compare: an async iterator has no stated length."""
