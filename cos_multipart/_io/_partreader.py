"""Request bodies for one part: hash while sending, rewind for retries, report progress, honour a rate cap.

:class:`FilePartReader` serves a byte range of an open file with ``os.pread`` on a file descriptor shared by
all workers (no seek position is shared, so threads never disturb each other). Each ``read(n)`` copies ``n``
bytes from the kernel once, hashes them once (MD5 and CRC-64 in the same pass) and hands the same ``bytes``
object to the socket: one copy per byte sent, nothing buffered beyond the chunk being sent.

:class:`BufferPartReader` serves a part already read from a non-seekable stream into a bounded buffer (see
:func:`read_stream_part`, which hashes while reading); it sends slices of that buffer without copying.

Both are the file-like bodies the client's transport expects: ``read``, ``seek``/``tell`` (the transport
rewinds to where it started before a retry, which resets the hashes) and ``__len__`` (so the request carries
``Content-Length``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
from typing import IO, Optional, Union

from .._core._partvalues import PartDigest, StreamPart
from .._protocol.checksum import pread_into
from .._protocol.integrity import CRC64_ECMA, IntegrityScheme
from .._protocol.errors import CosCancelledError, SourceChangedError
from .._core.progress import ProgressTracker
from .ratelimit import TokenBucket

logger = logging.getLogger(__name__)

#: Chunk used when a part is re-read to finish its hashes (only if a transport skipped bytes).
_REHASH_CHUNK = 1024 * 1024
#: Chunk used to fill a part buffer from a stream.
_STREAM_CHUNK = 1024 * 1024
class PartCancelled(CosCancelledError):
    """The upload was cancelled while this part was being sent (raised from ``read``)."""


class _Hasher:
    """The integrity scheme's checksum always (CRC-64 for COS and OSS), MD5 when asked; both fed by the same
    buffer in one pass. The scheme's update function is bound once here: one call per chunk, as before."""

    __slots__ = ("_md5", "crc", "size", "_want_md5", "_update")

    def __init__(self, want_md5: bool, integrity: IntegrityScheme = CRC64_ECMA) -> None:
        self._want_md5 = want_md5
        self._md5 = hashlib.md5() if want_md5 else None
        self._update = integrity.update
        self.crc = integrity.initial
        self.size = 0

    def update(self, data: Union[bytes, memoryview]) -> None:
        # The CRC first: it streams the chunk at memory speed while the bytes the read just wrote are still in
        # this core's cache; MD5, ~30x slower, runs ~1.5 ms per MiB, time in which other threads evict them.
        # After MD5 the CRC cost twice as much CPU (8 threads sending, 0.10-0.12 against 0.05-0.07 s/GiB).
        self.crc = self._update(data, self.crc)
        if self._md5 is not None:
            self._md5.update(data)
        self.size += len(data)

    def digest(self) -> PartDigest:
        return PartDigest(self.size, self.crc, self._md5.hexdigest() if self._md5 is not None else None)


class _PartBody:
    """Shared position, progress, rate-limit and cancellation logic of the two readers.

    Deliberately not an ``io.IOBase``: those are iterable, and requests sends iterable bodies of length 0
    with ``Transfer-Encoding: chunked``, which COS does not accept for parts.
    """

    def __init__(
        self,
        length: int,
        part_number: int,
        *,
        progress: Optional[ProgressTracker],
        limiter: Optional[TokenBucket],
        cancel: Optional[threading.Event],
    ) -> None:
        self._length = length
        self.part_number = part_number
        self._progress = progress
        self._limiter = limiter
        self._cancel = cancel
        self._pos = 0

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._moved(target)
            # Only reads count as progress: seeking (e.g. to measure the length) sends nothing, and going
            # back means the bytes will be sent again.
            if target < self._pos and self._progress is not None:
                self._progress.rewind(self.part_number)
        self._pos = target
        return target

    def _moved(self, target: int) -> None:
        """Hook: the position is about to jump to ``target``."""

    def _admit(self, size: int) -> int:
        """Check cancellation and the rate cap for the next ``size`` bytes; return how many to serve."""
        if self._cancel is not None and self._cancel.is_set():
            raise PartCancelled(f"part {self.part_number}: upload cancelled")
        size = min(size, self._length - self._pos) if size >= 0 else self._length - self._pos
        if size > 0 and self._limiter is not None:
            try:
                self._limiter.acquire(size, self._cancel)
            except Exception as error:
                raise PartCancelled(f"part {self.part_number}: upload cancelled") from error
        return max(size, 0)

    def _served(self, size: int) -> None:
        self._pos += size
        if self._progress is not None:
            self._progress.sent(self.part_number, size)


class FilePartReader(_PartBody):
    """The bytes ``[offset, offset + length)`` of an open file, read with ``os.pread``.

    Args:
        fd: A file descriptor opened for reading; shared, never seeked, not closed here.
        offset: First byte of the part in the file.
        length: Part length.
        part_number: For progress and error messages.
        md5: Also compute MD5 (needed when the ETag is an MD5: no SSE or SSE-COS).
        progress: Told about bytes sent and rewinds.
        limiter: Client-side bandwidth cap shared by all workers.
        cancel: When set, the next ``read`` raises :class:`PartCancelled`.
        path: File name for error messages.
        integrity: The checksum computed with MD5 (the target dialect's scheme; CRC-64/XZ by default).
    """

    def __init__(
        self,
        fd: int,
        offset: int,
        length: int,
        part_number: int = 1,
        *,
        md5: bool = True,
        progress: Optional[ProgressTracker] = None,
        limiter: Optional[TokenBucket] = None,
        cancel: Optional[threading.Event] = None,
        path: str = "",
        integrity: IntegrityScheme = CRC64_ECMA,
    ) -> None:
        super().__init__(length, part_number, progress=progress, limiter=limiter, cancel=cancel)
        self._fd = fd
        self._offset = offset
        self._want_md5 = md5
        self._integrity = integrity
        self._hasher = _Hasher(md5, integrity)
        self._path = path

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (all that is left when ``size`` is negative), hashing them on the way."""
        size = self._admit(size)
        if size == 0:
            return b""
        data = os.pread(self._fd, size, self._offset + self._pos)
        self._took(data, size)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` (up to what is left of the part), hashing on the way; returns how many bytes.

        The sender's own buffer, reused for every block it writes: no allocation per block (with a fresh
        ``bytes`` of 1 MiB per read, the allocator handed pages back and faulted them in again, ~0.05 s of
        system time per GiB).
        """
        size = self._admit(len(buffer))
        if size == 0:
            return 0
        view = buffer[:size]
        got = pread_into(self._fd, view, self._offset + self._pos)
        self._took(view[:got], size)
        return size

    def _took(self, data: Union[bytes, memoryview], size: int) -> None:
        if len(data) != size:
            raise SourceChangedError(
                f"{self._path or 'the file'} is shorter than when the upload started: part {self.part_number} "
                f"expected {size} bytes at offset {self._offset + self._pos}, read {len(data)}",
                path=self._path,
                expected=size,
                got=len(data),
            )
        if self._pos == self._hasher.size:
            self._hasher.update(data)
        self._served(size)

    def _moved(self, target: int) -> None:
        if target == 0 or target < self._hasher.size:
            # A rewind for a retry: the bytes will be read, and hashed, again.
            self._hasher = _Hasher(self._want_md5, self._integrity)

    def digest(self) -> PartDigest:
        """Checksums of the whole part (reads whatever the transport skipped, which it normally does not)."""
        if self._hasher.size < self._length:
            logger.debug("part %d: hashing %d unread bytes", self.part_number, self._length - self._hasher.size)
            while self._hasher.size < self._length:
                want = min(_REHASH_CHUNK, self._length - self._hasher.size)
                data = os.pread(self._fd, want, self._offset + self._hasher.size)
                if len(data) != want:
                    raise SourceChangedError(
                        f"{self._path or 'the file'} changed during the upload (part {self.part_number})",
                        path=self._path,
                        expected=want,
                        got=len(data),
                    )
                self._hasher.update(data)
        return self._hasher.digest()


class BufferPartReader(_PartBody):
    """A part held in memory (read from a stream); served as zero-copy slices of the buffer.

    Args:
        buffer: The part's bytes.
        digest: Their checksums, computed when the buffer was filled.
        part_number: For progress and error messages.
        progress: Told about bytes sent and rewinds.
        limiter: Client-side bandwidth cap.
        cancel: When set, the next ``read`` raises :class:`PartCancelled`.
    """

    def __init__(
        self,
        buffer: memoryview,
        digest: PartDigest,
        part_number: int = 1,
        *,
        progress: Optional[ProgressTracker] = None,
        limiter: Optional[TokenBucket] = None,
        cancel: Optional[threading.Event] = None,
    ) -> None:
        super().__init__(len(buffer), part_number, progress=progress, limiter=limiter, cancel=cancel)
        self._buffer = buffer
        self._digest = digest

    def read(self, size: int = -1) -> memoryview:
        """Return the next ``size`` bytes as a view of the buffer (no copy)."""
        size = self._admit(size)
        chunk = self._buffer[self._pos : self._pos + size]
        self._served(size)
        return chunk

    def digest(self) -> PartDigest:
        """Checksums of the part (computed once, while reading the stream)."""
        return self._digest


def hash_buffer(data: Union[bytes, memoryview], *, md5: bool = True, integrity: IntegrityScheme = CRC64_ECMA) -> PartDigest:
    """Checksums of a buffer already in memory (one pass, MD5 only when asked; ``integrity``'s checksum)."""
    hasher = _Hasher(md5, integrity)
    hasher.update(data)
    return hasher.digest()


def read_stream_part(
    stream: IO[bytes], part_size: int, *, md5: bool = True, integrity: IntegrityScheme = CRC64_ECMA
) -> StreamPart:
    """Read up to ``part_size`` bytes from ``stream`` into one buffer, hashing each chunk as it arrives
    (``integrity``'s checksum, MD5 when asked).

    Memory is bounded by ``part_size``; fewer bytes are returned only at the end of the stream.
    """
    buffer = bytearray(part_size)
    view = memoryview(buffer)
    hasher = _Hasher(md5, integrity)
    filled = 0
    readinto = getattr(stream, "readinto", None)
    while filled < part_size:
        want = min(_STREAM_CHUNK, part_size - filled)
        if readinto is not None:
            got = readinto(view[filled : filled + want])
        else:
            data = stream.read(want)
            got = len(data)
            view[filled : filled + got] = data
        if not got:
            break
        hasher.update(view[filled : filled + got])
        filled += got
    return StreamPart(view[:filled], hasher.digest())
