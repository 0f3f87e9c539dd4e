"""What an upload reads: a file (by path or file object), a bytes-like buffer, or a sequential stream.

Each source knows its size (when it can), how to hand out the bytes of one part as a request body that is
hashed while it is sent (:mod:`cos_multipart._io._partreader`), and, for files, whether the file is still the one
the upload started from (:meth:`FileSource.check_unchanged`: same identity, no bytes past the planned end).

A regular file whose ``stat`` size is 0 but that has content (``/proc`` files and some FUSE mounts report 0)
is read as a stream instead, so it is uploaded with its real bytes rather than reported as an empty object.
"""

from __future__ import annotations

import io
import os
import stat
import threading
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator, Optional, Union, cast

from ._partreader import BufferPartReader, FilePartReader, hash_buffer, read_stream_part
from .._protocol.checksum import pread_into
from .._core._partvalues import PartDigest, StreamPart
from .._protocol.errors import CosValidationError, SourceChangedError, SourceNotFoundError
from .._protocol.integrity import CRC64_ECMA, IntegrityScheme
from .._core.progress import ProgressTracker
from .ratelimit import TokenBucket
from .._core.session import FileIdentity

BytesLike = Union[bytes, bytearray, memoryview]
#: What an upload reads: a path, a bytes-like buffer, a binary file object or stream, or an iterator (a
#: generator, a list...) of bytes-like chunks.
Source = Union[str, "os.PathLike[str]", IO[bytes], BytesLike, Iterable[BytesLike]]
PartBody = Union[FilePartReader, BufferPartReader]

#: A file up to this size is read for its single PUT in one system call (larger ones chunk by chunk, hashed as
#: they arrive, as a stream's part is).
_ONE_READ = 1024 * 1024

_ALLOWED = "a path, bytes, a binary file object or stream, or an iterator of bytes-like chunks"
_CHUNKS = "an iterator of bytes-like chunks (bytes, bytearray or memoryview)"


@dataclass
class BodyOptions:
    """How part bodies are served: MD5 or not, progress, bandwidth cap, cancellation, and the integrity scheme
    they are hashed with (the target dialect's)."""

    md5: bool = True
    progress: Optional[ProgressTracker] = None
    limiter: Optional[TokenBucket] = None
    cancel: Optional[threading.Event] = None
    integrity: IntegrityScheme = CRC64_ECMA


class FileSource:
    """A byte range of an open regular file, read with ``os.pread`` (no shared seek position).

    Args:
        fd: An open file descriptor.
        offset: Where the upload's bytes start in the file.
        size: How many bytes are uploaded.
        path: Absolute path when the file was given by path (then the upload is resumable).
        owned: Close ``fd`` in :meth:`close`.
    """

    def __init__(self, fd: int, offset: int, size: int, *, path: Optional[str] = None, owned: bool = False) -> None:
        self.fd = fd
        self.offset = offset
        self.size = size
        self.path = path
        self.owned = owned
        self.identity = FileIdentity.of_fd(fd)

    @property
    def name(self) -> str:
        """For messages: the path, or ``"the file"``."""
        return self.path or "the file"

    def body(self, number: int, offset: int, length: int, options: BodyOptions) -> FilePartReader:
        """Part ``number``: ``length`` bytes at ``offset`` of the upload, hashed as they are sent."""
        return FilePartReader(
            self.fd,
            self.offset + offset,
            length,
            number,
            md5=options.md5,
            progress=options.progress,
            limiter=options.limiter,
            cancel=options.cancel,
            path=self.path or "",
            integrity=options.integrity,
        )

    def digest(self, number: int, offset: int, length: int, *, md5: bool, integrity: IntegrityScheme = CRC64_ECMA) -> PartDigest:
        """Checksums of a part's current local bytes (one read, in chunks; nothing is sent)."""
        reader = FilePartReader(self.fd, self.offset + offset, length, number, md5=md5, path=self.path or "", integrity=integrity)
        return reader.digest()

    def read_all(self, options: BodyOptions) -> StreamPart:
        """The whole (small) upload read into memory once and hashed once, for a single PUT.

        Raises:
            SourceChangedError: The file is shorter than its stated size (being written).
        """
        return read_whole(self.fd, self.offset, self.size, self.name, options)

    def check_unchanged(self) -> None:
        """Raise :class:`SourceChangedError` if the file is not the one the upload started from.

        Compares the identity (size, mtime, ctime, inode, device) and checks that no byte lies past the
        planned end (a file that grew, or one whose stated size was wrong).
        """
        now = FileIdentity.of_fd(self.fd)
        change = self.identity.difference(now)
        if change is None and os.pread(self.fd, 1, self.offset + self.size):
            change = f"it has bytes past the {self.size} bytes planned"
        if change is not None:
            raise SourceChangedError(
                f"{self.name} changed while it was uploaded ({change}); nothing was completed",
                path=self.path or "",
            )

    def close(self) -> None:
        """Close the descriptor when this source opened it."""
        if self.owned and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class BufferSource:
    """A bytes-like object held by the caller; parts are zero-copy slices, hashed once each."""

    def __init__(self, data: BytesLike) -> None:
        self.view = memoryview(data).cast("B")
        self.size = len(self.view)
        self.path: Optional[str] = None
        #: For messages.
        self.name = "the buffer"

    def body(self, number: int, offset: int, length: int, options: BodyOptions) -> BufferPartReader:
        """Part ``number`` as a view of the buffer, with its checksums."""
        view = self.view[offset : offset + length]
        return BufferPartReader(
            view,
            hash_buffer(view, md5=options.md5, integrity=options.integrity),
            number,
            progress=options.progress,
            limiter=options.limiter,
            cancel=options.cancel,
        )

    def read_all(self, options: BodyOptions) -> StreamPart:
        """The whole buffer with its checksums (no copy)."""
        return StreamPart(self.view, hash_buffer(self.view, md5=options.md5, integrity=options.integrity))

    def close(self) -> None:
        """Nothing to release (the caller owns the buffer)."""


class StreamSource:
    """A sequential stream read part by part into bounded buffers (not resumable, not re-readable).

    Args:
        stream: A binary stream.
        size: Bytes left in it when known (a seekable stream), else ``None``.
        owned: Close the stream in :meth:`close`.
    """

    def __init__(self, stream: IO[bytes], size: Optional[int] = None, *, owned: bool = False) -> None:
        self.stream = stream
        self.size = size
        self.owned = owned
        self.path: Optional[str] = None

    def read_part(self, part_size: int, *, md5: bool, integrity: IntegrityScheme = CRC64_ECMA) -> StreamPart:
        """The next ``part_size`` bytes (fewer only at the end), hashed as they arrive."""
        return read_stream_part(self.stream, part_size, md5=md5, integrity=integrity)

    def check_length(self, total: int) -> None:
        """At the end of the stream: raise :class:`SourceChangedError` if it was measured at another length."""
        if self.size is not None and total != self.size:
            raise SourceChangedError(
                f"the stream was {self.size} bytes long when the upload started and ended after {total}; "
                "nothing was completed",
                expected=self.size,
                got=total,
            )

    def close(self) -> None:
        """Close the stream when this source opened it."""
        if self.owned:
            self.stream.close()


AnySource = Union[FileSource, BufferSource, StreamSource]


def open_source(source: Source) -> AnySource:
    """Open what the caller passed to an upload.

    Raises:
        CosValidationError: Not a path, bytes-like object or binary stream; a path that is not a regular file.
        SourceNotFoundError: No file at that path (a ``CosValidationError`` and a ``FileNotFoundError``).
        OSError: The file cannot be opened.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BufferSource(source)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(os.fspath(source))
    if isinstance(cast(object, source), io.TextIOBase):
        raise CosValidationError("source", type(source).__name__, _ALLOWED)
    if not callable(getattr(source, "read", None)):
        if hasattr(source, "__iter__") and not isinstance(source, (str, dict)):
            # Read part by part like a pipe: at most one part and one chunk in memory.
            return StreamSource(cast(IO[bytes], ChunkReader(cast(Iterable[Any], source))), None)
        hint = " (an async iterator needs the asyncio uploader, cos_multipart.aio)" if hasattr(source, "__aiter__") else ""
        raise CosValidationError("source", type(source).__name__, _ALLOWED + hint)
    source = cast(IO[bytes], source)
    fd = _regular_fileno(source)
    if fd is not None:
        # A real file: read it with pread from its current position, like a path (but not resumable).
        offset = source.tell()
        size = max(0, os.fstat(fd).st_size - offset)
        return FileSource(fd, offset, size)
    return StreamSource(source, _remaining_size(source))


class ChunkReader(io.RawIOBase):
    """A binary stream over an iterator of bytes-like chunks (a generator, a list...), read sequentially.

    Holds at most the current chunk: the uploader copies from it into a part buffer. Empty chunks are skipped
    (only the iterator's end ends the stream); anything but a bytes-like chunk is a
    :class:`CosValidationError` naming its type.
    """

    def __init__(self, chunks: Iterable[Any]) -> None:
        super().__init__()
        self._chunks: Iterator[Any] = iter(chunks)
        self._left = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        while not self._left:
            if self._ended or not self._next():
                return 0
        take = min(len(buffer), len(self._left))
        memoryview(buffer).cast("B")[:take] = self._left[:take]
        self._left = self._left[take:]
        return take

    def _next(self) -> bool:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._ended = True
            return False
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            name = type(chunk).__name__
            raise CosValidationError("source", f"an iterator yielding {name}", f"{_CHUNKS}; a chunk was a {name}")
        self._left = memoryview(chunk).cast("B")
        return True


def _open_path(text: str) -> AnySource:
    path = os.path.abspath(text)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise SourceNotFoundError(text) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CosValidationError("source", text, "a regular file (read pipes and devices as a stream: pass a file object)")
        if info.st_size == 0 and os.pread(fd, 1, 0):
            # The stated size is wrong (/proc and some FUSE files): read it as a stream of unknown length.
            return StreamSource(os.fdopen(fd, "rb", buffering=0), None, owned=True)
        return FileSource(fd, 0, info.st_size, path=path, owned=True)
    except BaseException:
        os.close(fd)
        raise


def _regular_fileno(stream: IO[bytes]) -> Optional[int]:
    try:
        fd = stream.fileno()
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not stream.seekable() or info.st_size == 0:
            return None
        if hasattr(stream, "flush") and stream.writable():
            stream.flush()  # buffered writes must reach the file before pread sees them
        return fd
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _remaining_size(stream: IO[bytes]) -> Optional[int]:
    try:
        if not stream.seekable():
            return None
        start = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(start)
        return max(0, end - start)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def read_whole(fd: int, offset: int, size: int, name: str, options: BodyOptions) -> StreamPart:
    """``size`` bytes at ``offset`` of ``fd`` read into one buffer and hashed once (``options.md5``, the integrity
    scheme's checksum); ``name`` for messages. What :meth:`FileSource.read_all` does, for a caller that holds a
    descriptor and needs no source object (a directory run's small file).

    Raises:
        SourceChangedError: The file is shorter than ``offset + size`` (being written).
    """
    if size <= _ONE_READ:  # a small file (a tree's are mostly): one read into its buffer, one hash
        view = memoryview(bytearray(size))
        got = pread_into(fd, view, offset) if size else 0
        if got != size:
            raise _shorter(name, size, got)
        return StreamPart(view, hash_buffer(view, md5=options.md5, integrity=options.integrity))
    stream = cast(IO[bytes], _FdStream(fd, offset, size, name))
    return read_stream_part(stream, size, md5=options.md5, integrity=options.integrity)


def _shorter(name: str, expected: int, got: int) -> SourceChangedError:
    """A file that gave fewer bytes than its stated size: being written, or truncated since."""
    return SourceChangedError(f"{name} is shorter than when the upload started", path=name, expected=expected, got=got)


class _FdStream(io.RawIOBase):
    """``readinto`` over ``[offset, offset + size)`` of a descriptor; a short file is a changed source."""

    def __init__(self, fd: int, offset: int, size: int, name: str) -> None:
        super().__init__()
        self._fd = fd
        self._position = offset
        self._end = offset + size
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        want = min(len(buffer), self._end - self._position)
        if want <= 0:
            return 0
        got = pread_into(self._fd, memoryview(buffer)[:want], self._position)  # straight into the part buffer
        if got != want:
            raise _shorter(self._name, want, got)
        self._position += got
        return got

