"""Verified downloads: :func:`download_file` (threads) and :func:`async_download_file` (asyncio).

Both (the asyncio one is :mod:`cos_multipart._drivers.aio_download`) run the same :class:`~cos_multipart._core._downloadflow.DownloadMachine`; they only execute its actions.
:class:`Download` (a :class:`~cos_multipart._drivers._executor.ClientExecutor`) fetches each range on a pool
thread; :class:`AsyncDownload` (an :class:`~cos_multipart._drivers._aio_executor.AsyncExecutor`) as a task, its
chunks written and hashed in a thread pool (never on the loop). Each range is a GET pinned with ``If-Match`` to
the ETag the HEAD saw, written with ``pwrite`` at its offset into a temporary file beside the target.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, BinaryIO, Optional, Union

from .._core._actions import Head
from .._core._download import DownloadResult, DownloadStart, FetchRange, Fetched
from .._core._downloadflow import DownloadMachine
from .._core._decisions import check_progress, client_dialect
from .._core._config import DEFAULT_CONCURRENCY
from .._core.parts import DEFAULT_PART_ATTEMPTS
from .._core.planner import DEFAULT_PART_SIZE
from .._core.progress import ProgressCallback
from .._io._buffers import thread_buffer
from .._io._downloadfile import DownloadFiles, checked_target
from .._io.client import CosClient
from .._io.ratelimit import TokenBucket
from .._protocol import sse
from .._protocol.errors import CosTransportError, CosValidationError
from .._protocol.validation import traffic_limit as checked_traffic_limit
from ._downloadsteps import CHUNK, DOWNLOAD_LOCAL, DownloadOptions, DownloadSteps, RangeSink, positive
from ._executor import ClientExecutor

logger = logging.getLogger(__name__)

__all__ = ["Download", "check_options", "check_start", "download_file", "download_stream", "fetch_range", "stream_start"]

PathLike = Union[str, "os.PathLike[str]"]


def check_start(
    key: str, path: PathLike, part_size: int, concurrency: int, attempts: int, resume: bool, threshold: Optional[int]
) -> DownloadStart:
    """The machine's start, every option checked before any request (errors name the option)."""
    if not isinstance(key, str) or not key:
        raise CosValidationError("key", key, "an object key")
    threshold = None if threshold is None else positive_or_zero(threshold, "threshold")
    return DownloadStart(
        key, checked_target(path), positive(part_size, "part_size"), positive(concurrency, "concurrency"),
        positive(attempts, "attempts"), bool(resume), threshold,
    )  # fmt: skip


def check_options(
    sse_c: sse.EncryptionLike, traffic_limit: Optional[int], bandwidth_limit: Optional[float], progress: object = None
) -> DownloadOptions:
    """What every request of a download carries, each option checked before any request (errors name it)."""
    check_progress(progress)
    if sse_c is not None:
        sse.coerce(sse_c, "sse_c")
    if traffic_limit is not None:
        checked_traffic_limit(traffic_limit)
    if bandwidth_limit is not None:
        TokenBucket(bandwidth_limit)  # its checks name ``bandwidth_limit``
    return DownloadOptions(sse_c, traffic_limit, bandwidth_limit)


def positive_or_zero(value: object, field: str) -> int:
    """``value`` when it is an int >= 0, else a validation error naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CosValidationError(field, value, "an int >= 0 (bytes)")
    return value


class Download(ClientExecutor):
    """One download run with threads (see the module docstring)."""

    def __init__(
        self,
        client: CosClient,
        start: DownloadStart,
        options: DownloadOptions,
        callback: Optional[ProgressCallback],
        out: Optional[BinaryIO] = None,
    ) -> None:
        super().__init__(start.concurrency, threading.Event(), thread_name="cos-multipart-download")
        self.client = client
        self.start = start
        self.options = options
        self.limiter = TokenBucket(options.bandwidth_limit) if options.bandwidth_limit else None
        self.steps = DownloadSteps(DownloadFiles(start.path), client_dialect(client).integrity, callback, out)

    def run(self) -> DownloadResult:
        """The whole download: its verified result, or its failure raised (the target untouched). With a
        stream (``out``): the object written to it in order, checked at the end."""
        started = time.monotonic()
        machine = DownloadMachine.stream(self.start) if self.steps.out is not None else DownloadMachine.download(self.start)
        try:
            self.execute(machine)
        finally:
            self.steps.close()
        return machine.result(time.monotonic() - started)

    def perform(self, action: Any) -> object:
        if isinstance(action, DOWNLOAD_LOCAL):
            return self.steps.perform(action)
        if isinstance(action, Head):
            head = self.client.head_object(self.start.key, sse_c=self.options.sse_c)
            self.steps.want_md5 = head.crc64 is None
            return head
        raise TypeError(f"no step for {action!r}")

    def request(self, action: Any) -> object:
        if not isinstance(action, FetchRange):
            raise TypeError(f"no part request for {action!r}")
        return fetch_range(self.client, self.start.key, RangeSink(action, self.steps, self.limiter, self.cancel), self.options)


def fetch_range(client: CosClient, key: str, sink: RangeSink, options: DownloadOptions) -> Fetched:
    """ONE GET of ``sink``'s range (pinned with ``If-Match``), its answer checked, its chunks given to ``sink``:
    the threaded executor's request, and a cluster worker's (:func:`cos_multipart.remote.fetch_ranges`)."""
    action = sink.action
    span = None if action.whole else (action.offset, action.offset + action.length - 1)
    with client.get_object(
        key, byte_range=span, sse_c=options.sse_c, cancel=sink.stop, if_match=action.etag, traffic_limit=options.traffic_limit,
    ) as body:  # fmt: skip
        sink.check_answer(body.status, body.result.size, body.headers.get("content-range"))
        try:
            # Into this thread's page-aligned buffer, and from it to the file: no bytes object per chunk (two
            # copies and a zero fill fewer per MiB), and the kernel's copy from the socket is the cheaper one.
            buffer = thread_buffer(CHUNK)
            while True:
                count = body.readinto(buffer)
                if not count:
                    break
                sink.take(buffer[:count])
        except CosTransportError as broken:  # the body broke off: what arrived is a short range, fetched again
            logger.debug("range %d of %r broke off after %d bytes: %s", action.index + 1, key, sink.fetched().length, broken)
    return sink.fetched()


def download_file(
    client: CosClient,
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
    """Download ``key`` to ``path``, verified: parallel ranged GETs pinned to the object's ETag, CRC-64 end to end.

    The ranges are written into a temporary file beside ``path``; ``path`` is replaced (atomically) only once
    the combined CRC-64 of the ranges equals the object's (or, for an object without one, its MD5 ETag or
    only its size: :attr:`DownloadResult.check` says which). A failed download never touches ``path``.

    Args:
        client: The client of the object's bucket.
        key: The object key.
        path: The file to write (its directory must exist).
        part_size: Bytes per ranged GET.
        concurrency: Ranged GETs at once.
        threshold: Objects up to this size come in one GET (default: ``part_size``).
        attempts: Fetches of one range (short or broken bodies), and rounds over the whole object after a
            checksum mismatch.
        resume: Keep the temporary file and a checkpoint after a failure, and reuse them next time (ranges
            re-read and re-checked first; a changed object starts again, and the result says why).
        sse_c: The object's SSE-C key.
        traffic_limit: The service's pacing of each GET, bit/s (819200..838860800).
        bandwidth_limit: The client's cap over all ranges, bytes/s.
        progress: Called with each :class:`~cos_multipart.ProgressEvent`.

    Returns:
        A :class:`~cos_multipart.DownloadResult`.

    Raises:
        CosValidationError: An option is wrong (nothing was sent).
        ObjectChangedError: The object was replaced during the download (412 on ``If-Match``).
        CosIntegrityError: The bytes never matched the object's checksum within ``attempts`` rounds.
    """
    start = check_start(key, path, part_size, concurrency, attempts, resume, threshold)
    return Download(client, start, check_options(sse_c, traffic_limit, bandwidth_limit, progress), progress).run()


def download_stream(
    client: CosClient,
    key: str,
    out: BinaryIO,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    concurrency: int = 4,
    attempts: int = DEFAULT_PART_ATTEMPTS,
    sse_c: sse.EncryptionLike = None,
    traffic_limit: Optional[int] = None,
    bandwidth_limit: Optional[float] = None,
    progress: Optional[ProgressCallback] = None,
) -> DownloadResult:
    """Write ``key`` to the binary file object ``out``, in order, with bounded memory, CRC-64 checked at the end.

    Ranges are fetched in parallel into memory and written as their turn comes: at most ``concurrency`` ranges
    are in flight or held (memory ~ ``concurrency`` x ``part_size``). A short or broken range is fetched again
    before it is written. The bytes are out before the object's CRC-64 can be compared: a mismatch raises
    :class:`~cos_multipart.CosIntegrityError` after the fact (``cos-multipart cat`` exits non-zero), so a
    caller that needs all-or-nothing writes to a file with :func:`download_file` instead.

    Args:
        client: The client of the object's bucket.
        key: The object key.
        out: A binary file object (``sys.stdout.buffer``, an open file, a pipe); not closed.
        part_size: Bytes per ranged GET.
        concurrency: Ranges in flight or held at most.
        attempts: Fetches of one range at most.
        sse_c: The object's SSE-C key.
        traffic_limit: The service's pacing of each GET, bit/s.
        bandwidth_limit: The client's cap over all ranges, bytes/s.
        progress: Called with each :class:`~cos_multipart.ProgressEvent`.

    Returns:
        A :class:`~cos_multipart.DownloadResult` (``path`` is ``"-"``).
    """
    start = stream_start(key, out, part_size, concurrency, attempts)
    return Download(client, start, check_options(sse_c, traffic_limit, bandwidth_limit, progress), progress, out).run()


def stream_start(key: str, out: object, part_size: int, concurrency: int, attempts: int) -> DownloadStart:
    """A stream's start (``path`` is ``"-"``), every option checked before any request."""
    if not callable(getattr(out, "write", None)):
        raise CosValidationError("out", type(out).__name__, "a binary file object with write()")
    if not isinstance(key, str) or not key:
        raise CosValidationError("key", key, "an object key")
    return DownloadStart(
        key, "-", positive(part_size, "part_size"), positive(concurrency, "concurrency"), positive(attempts, "attempts"), resume=False
    )
