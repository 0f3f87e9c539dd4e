"""An object's body being read: :class:`ObjectStream` (threads) and :class:`AsyncObjectStream` (asyncio).

``get_object`` returns one of these instead of the HTTP library's response, so the two clients return the
same kind of value and a caller never depends on ``requests`` or ``aiohttp``. Each holds the parsed head
(:attr:`result`: size, ETag, CRC-64, version, headers) and reads the body in chunks as the caller asks,
over the connection that carried the answer; closing it gives the connection back (a body not read to its
end closes the connection instead). The transport that made it supplies the two functions it runs on
(read up to ``n`` bytes, close), with the library's read failures already turned into
:class:`~cos_multipart._protocol.errors.CosTransportError`.
"""

from __future__ import annotations

from types import TracebackType
from typing import AsyncIterator, Awaitable, Callable, Iterator, List, Mapping, Optional, Type, Union

from .._protocol.errors import CosValidationError
from .._protocol.models import ObjectResult

__all__ = ["DEFAULT_CHUNK", "AsyncObjectStream", "ObjectStream"]

#: Bytes per chunk when iterating a body without naming a size.
DEFAULT_CHUNK = 1024 * 1024


def _chunk_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CosValidationError("chunk_size", value, "an int >= 1 (bytes)")
    return value


def fill(read: Callable[[int], bytes], view: memoryview) -> int:
    """Fill ``view`` from ``read(n)`` calls (each copied in) until it is full or a read gives nothing; how many
    bytes it holds."""
    filled = 0
    while filled < len(view):
        piece = read(len(view) - filled)
        if not piece:
            break
        view[filled : filled + len(piece)] = piece
        filled += len(piece)
    return filled


def _writable_view(buffer: object) -> memoryview:
    """``buffer`` as a writable view of single bytes, or a validation error naming it."""
    try:
        view = memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        view = None
    if view is None or view.readonly or view.itemsize != 1 or view.ndim != 1 or not view.c_contiguous:
        raise CosValidationError(
            "buffer", type(buffer).__name__, "a writable, contiguous bytes-like object (a bytearray, a memoryview of one)"
        )
    return view if view.format == "B" else view.cast("B")


def _read_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CosValidationError("size", value, "an int (bytes; -1 for the rest of the body)")
    return value


class _Headers(Mapping[str, str]):
    """An answer's headers, lowercase names, looked up in any case (``headers["ETag"]``), read-only."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = {name.lower(): value for name, value in headers.items()}

    def __getitem__(self, name: str) -> str:
        return self._headers[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._headers

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)

    def __repr__(self) -> str:
        return f"{{{', '.join(repr(name) for name in self._headers)}}}"  # names only: values may be long


class _Head:
    """What both streams say about the answer's head."""

    def __init__(self, result: ObjectResult, headers: Mapping[str, str]) -> None:
        self._result = result
        self._headers = _Headers(headers)
        self._closed = False

    @property
    def result(self) -> ObjectResult:
        """The parsed head: ``key``, ``size`` (of this answer's body), ``etag``, ``crc64`` (of the whole
        object), ``version_id``, ``response`` (status, request id, headers)."""
        return self._result

    @property
    def status(self) -> int:
        """The HTTP status: 200, or 206 for a ``byte_range``."""
        return self._result.response.status

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers as the service sent them (``x-oss-*`` from OSS), looked up in any case;
        ``result.response.headers`` has them as the parsers read them."""
        return self._headers

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the context exited)."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the body of {self._result.key!r} is closed")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"{type(self).__name__}(key={self._result.key!r}, status={self.status}, size={self._result.size}, {state})"


class ObjectStream(_Head):
    """An object's body, read as the caller asks (``with`` closes it).

    Example::

        with client.get_object("videos/a.mp4") as body:
            for chunk in body:            # or body.iter_chunks(64 * 1024), or body.read()
                out.write(chunk)
    """

    def __init__(
        self,
        result: ObjectResult,
        headers: Mapping[str, str],
        read: Callable[[int], bytes],
        close: Callable[[], None],
        *,
        readinto: Optional[Callable[[memoryview], int]] = None,
    ) -> None:
        super().__init__(result, headers)
        self._read = read
        self._readinto = readinto
        self._close = close

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the body (fewer only at its end; ``b""`` once it is all read), or with
        ``size=-1`` the rest of it.

        Raises:
            CosTransportError: The connection failed or timed out while reading.
        """
        size = _read_size(size)
        self._check_open()
        if size >= 0:
            return self._read(size) if size else b""
        pieces: List[bytes] = []
        while True:
            piece = self._read(DEFAULT_CHUNK)
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)

    def readinto(self, buffer: Union[bytearray, memoryview]) -> int:
        """Fill ``buffer`` with the next bytes of the body: as many as it holds, fewer only at the body's end;
        ``0`` once it is all read. The bytes go from the connection into ``buffer`` with no copy in between
        (without a proxy), so a caller that reuses one buffer allocates nothing per chunk.

        Example::

            buffer = bytearray(1024 * 1024)
            with client.get_object("videos/a.mp4") as body:
                while count := body.readinto(buffer):
                    out.write(memoryview(buffer)[:count])

        Raises:
            CosValidationError: ``buffer`` is not a writable bytes-like object of single bytes.
            CosTransportError: The connection failed or timed out while reading.
        """
        view = _writable_view(buffer)
        self._check_open()
        if not len(view):
            return 0
        if self._readinto is not None:
            return self._readinto(view)
        return fill(self._read, view)  # a transport that gives bytes only

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        """The rest of the body in chunks of ``chunk_size`` bytes (the last one shorter)."""
        size = _chunk_size(chunk_size)
        self._check_open()
        return self._chunks(size)

    def _chunks(self, size: int) -> Iterator[bytes]:
        while True:
            piece = self.read(size)
            if not piece:
                return
            yield piece

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def close(self) -> None:
        """Give the connection back (or close it, when the body was not read to its end); idempotent."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> "ObjectStream":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    # --- what ``get_object`` returned before 0.3 (a ``requests.Response``) offered; kept for old callers --

    @property
    def status_code(self) -> int:
        """:attr:`status` (the ``requests`` name, for callers of the 0.2 ``get_object``)."""
        return self.status

    @property
    def content(self) -> bytes:
        """The rest of the body (``read()``; the ``requests`` name, for callers of the 0.2 ``get_object``)."""
        return self.read()

    def iter_content(self, chunk_size: int = DEFAULT_CHUNK) -> Iterator[bytes]:
        """:meth:`iter_chunks` (the ``requests`` name, for callers of the 0.2 ``get_object``)."""
        return self.iter_chunks(chunk_size)


class AsyncObjectStream(_Head):
    """An object's body for asyncio, read as the caller asks (``async with`` closes it).

    Example::

        async with await client.get_object("videos/a.mp4") as body:
            async for chunk in body:      # or body.iter_chunks(64 * 1024), or await body.read()
                out.write(chunk)
    """

    def __init__(
        self,
        result: ObjectResult,
        headers: Mapping[str, str],
        read: Callable[[int], Awaitable[bytes]],
        close: Callable[[], None],
    ) -> None:
        super().__init__(result, headers)
        self._read = read
        self._close = close

    async def read(self, size: int = -1) -> bytes:
        """As :meth:`ObjectStream.read`."""
        size = _read_size(size)
        self._check_open()
        if size >= 0:
            return await self._read(size) if size else b""
        pieces: List[bytes] = []
        while True:
            piece = await self._read(DEFAULT_CHUNK)
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)

    async def readinto(self, buffer: Union[bytearray, memoryview]) -> int:
        """As :meth:`ObjectStream.readinto` (aiohttp gives the bytes first: one copy into ``buffer``)."""
        view = _writable_view(buffer)
        self._check_open()
        filled = 0
        while filled < len(view):
            piece = await self._read(len(view) - filled)
            if not piece:
                break
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
        return filled

    def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK) -> AsyncIterator[bytes]:
        """As :meth:`ObjectStream.iter_chunks`: ``async for``."""
        size = _chunk_size(chunk_size)
        self._check_open()
        return self._chunks(size)

    async def _chunks(self, size: int) -> AsyncIterator[bytes]:
        while True:
            piece = await self.read(size)
            if not piece:
                return
            yield piece

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.iter_chunks()

    async def close(self) -> None:
        """As :meth:`ObjectStream.close`."""
        self.release()

    def release(self) -> None:
        """:meth:`close` without awaiting (the ``aiohttp`` name, for callers of the 0.2 ``get_object``)."""
        if not self._closed:
            self._closed = True
            self._close()

    async def __aenter__(self) -> "AsyncObjectStream":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()
