"""What a download's actions mean, the same for threads and asyncio: the local steps and a range's body.

:class:`DownloadSteps` does the local actions of the download machine (the temporary file, the checkpoint, the
CRC-64 combination, progress) and :class:`RangeSink` takes one range's body as it arrives: bounds-checked,
written at its offset, its CRC-64 updated, progress counted. The executors (:mod:`cos_multipart._drivers.download`)
only add the requests.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from dataclasses import dataclass
from typing import Any, BinaryIO, Optional, Tuple, Union, get_args

from .._core._actions import CombineCrc64, Lock, PartDone, ProgressFlush, ProgressRewind, ProgressStart, Unlock
from .._core._download import CheckRanges, Commit, Discard, FetchRange, Fetched, HashTemp, LoadRanges, PrepareTemp, SaveRanges, WriteOut
from .._core.progress import ProgressCallback, ProgressTracker
from .._io._downloadfile import DownloadFiles
from .._io._lock import CheckpointLock
from .._io.ratelimit import TokenBucket
from .._protocol.errors import CosCancelledError, CosResponseError, CosValidationError, DownloadLockedError, UploadLockedError
from .._protocol.integrity import IntegrityScheme
from .._protocol.sse import EncryptionLike

__all__ = ["DOWNLOAD_LOCAL", "DownloadOptions", "DownloadSteps", "RangeSink"]

DownloadLocal = Union[
    Lock, Unlock, LoadRanges, PrepareTemp, CheckRanges, SaveRanges, HashTemp, Commit, Discard, CombineCrc64, WriteOut,
    ProgressStart, ProgressRewind, PartDone, ProgressFlush,
]  # fmt: skip
#: The local actions of a download, as a class tuple for isinstance.
DOWNLOAD_LOCAL = get_args(DownloadLocal)

#: Bytes asked of a body at a time (memory per range in flight).
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class DownloadOptions:
    """What every request of a download carries (the SSE-C key stays here, never in an action or a file).

    Attributes:
        sse_c: The object's SSE-C key.
        traffic_limit: The service's pacing of each body, bit/s.
        bandwidth_limit: The client's cap, bytes/s over all ranges.
    """

    sse_c: EncryptionLike = None
    traffic_limit: Optional[int] = None
    bandwidth_limit: Optional[float] = None

    def __repr__(self) -> str:
        return f"DownloadOptions(sse_c={'<set>' if self.sse_c is not None else None}, traffic_limit={self.traffic_limit}, bandwidth_limit={self.bandwidth_limit})"


def positive(value: object, field: str) -> int:
    """``value`` when it is an int >= 1, else a validation error naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CosValidationError(field, value, "an int >= 1")
    return value


class DownloadSteps:
    """The local actions of one download (see the module docstring)."""

    def __init__(
        self, files: DownloadFiles, scheme: IntegrityScheme, callback: Optional[ProgressCallback], out: Optional[BinaryIO] = None
    ) -> None:
        self.files = files
        self.scheme = scheme
        self.callback = callback
        self.progress = ProgressTracker(None, None, None)
        #: A stream's output (ranges written in order), or ``None`` (ranges go into the temporary file).
        self.out = out
        #: The MD5 of what was written to ``out`` (an object without CRC-64 whose ETag is an MD5).
        self.written_md5 = hashlib.md5()
        #: Whether to compute it (set once the HEAD shows no CRC-64: MD5 costs CPU on every byte).
        self.want_md5 = False
        self.lock: Optional[CheckpointLock] = None

    def close(self) -> None:
        """Close the temporary file and release the lock (whatever the machine got to)."""
        self.files.close()
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()

    def _lock(self) -> None:
        """The lock of the target's checkpoint (beside it): refused at once when another download holds it."""
        try:
            self.lock = CheckpointLock.acquire(Path(self.files.checkpoint))
        except DownloadLockedError:
            raise
        except UploadLockedError as held:
            raise DownloadLockedError(held.path, pid=held.pid, host=held.host, in_process=held.in_process) from None

    def perform(self, action: Any) -> object:
        """Do the local action ``action``; its outcome."""
        files = self.files
        if isinstance(action, Lock):
            self._lock()
            return None
        if isinstance(action, Unlock):
            lock, self.lock = self.lock, None
            if lock is not None:
                lock.release()
            return None
        if isinstance(action, LoadRanges):
            return files.load()
        if isinstance(action, PrepareTemp):
            return files.prepare(action.size, action.keep)
        if isinstance(action, CheckRanges):
            return files.crcs(action.ranges)
        if isinstance(action, SaveRanges):
            files.save(action.checkpoint)
            return None
        if isinstance(action, WriteOut):
            self._write_out(action.data)
            return None
        if isinstance(action, HashTemp):
            return files.md5() if self.out is None else self.written_md5.hexdigest()
        if isinstance(action, Commit):
            files.commit()
            return None
        if isinstance(action, Discard):
            files.discard(action.keep)
            return None
        if isinstance(action, CombineCrc64):
            return self.scheme.combine_all(action.parts)
        self._progress(action)
        return None

    def _write_out(self, data: Union[bytes, bytearray]) -> None:
        if self.out is None:
            raise TypeError("WriteOut without a stream")
        self.out.write(data)
        if self.want_md5:
            self.written_md5.update(data)

    def _progress(self, action: Any) -> None:
        if isinstance(action, ProgressStart):
            self.progress = ProgressTracker(action.size, action.count, self.callback)
            if action.reused_parts:
                self.progress.reused(action.reused_parts, action.reused_bytes)
            self.progress.start()
        elif isinstance(action, ProgressRewind):
            self.progress.rewind(action.number)
        elif isinstance(action, PartDone):
            self.progress.part_done(action.number, action.size)
        elif isinstance(action, ProgressFlush):
            self.progress.flush()
        else:
            raise TypeError(f"no local step for {action!r}")


class RangeSink:
    """One fetch of a range: each chunk checked against the range's end, written at its offset, hashed."""

    def __init__(self, action: FetchRange, steps: DownloadSteps, limiter: Optional[TokenBucket], stop: threading.Event) -> None:
        self.action = action
        self.steps = steps
        self.limiter = limiter
        self.stop = stop
        self.position = action.offset
        self.crc = steps.scheme.initial
        self._update = steps.scheme.update
        self._memory = bytearray() if action.memory else None

    def check_answer(self, status: int, length: Optional[int], content_range: Optional[str] = None) -> None:
        """A ranged GET must answer 206 for the range asked (``Content-Range``, when given, names it) with its
        length, a whole one 200 (else the bytes would land at the wrong place)."""
        action = self.action
        wanted = 200 if action.whole else 206
        if status != wanted or (length is not None and length != action.length):
            raise CosResponseError(f"GET of range {action.offset}+{action.length} answered {status} with {length} bytes (wanted {wanted})", status=status)
        if not action.whole and content_range is not None:
            span = range_of(content_range)
            if span != (action.offset, action.offset + action.length - 1):
                raise CosResponseError(f"GET of bytes {action.offset}-{action.offset + action.length - 1} answered Content-Range {content_range!r}", status=status)

    def take(self, chunk: Union[bytes, memoryview]) -> None:
        """Write ``chunk`` (on a worker thread: never on an event loop; written, hashed and copied before this
        returns, so the caller may reuse the buffer it lies in)."""
        if self.stop.is_set():
            raise CosCancelledError("the download was stopped")
        end = self.action.offset + self.action.length
        if self.position + len(chunk) > end:
            raise CosResponseError(f"the body of range {self.action.index + 1} is longer than the {self.action.length} bytes asked")
        if self.limiter is not None:
            self.limiter.acquire(len(chunk), self.stop)
        if self._memory is not None:
            self._memory += chunk
        else:
            self.steps.files.write(self.position, chunk)
        self.crc = self._update(chunk, self.crc)
        self.position += len(chunk)
        self.steps.progress.sent(self.action.index + 1, len(chunk))

    def fetched(self) -> Fetched:
        """What this fetch wrote."""
        return Fetched(self.position - self.action.offset, self.crc, self._memory)



def range_of(content_range: str) -> Optional[Tuple[int, int]]:
    """``(first, last)`` of a ``Content-Range: bytes first-last/total`` (RFC 9110 14.4), else ``None``."""
    unit, _, rest = content_range.strip().partition(" ")
    span, _, _ = rest.partition("/")
    first, dash, last = span.partition("-")
    if unit.lower() != "bytes" or not dash or not first.isdigit() or not last.isdigit():
        return None
    return int(first), int(last)
