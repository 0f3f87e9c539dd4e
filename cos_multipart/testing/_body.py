"""Request bodies on the wire: streamed through one fixed buffer per connection, paced, drained.

:class:`RequestBody` is what the service reads a body through (it satisfies :class:`._service.Body`):
the bytes go from the socket into a store sink without another copy. :class:`Throttle` paces any body
transfer, in either direction, at a rate in bytes/s.
"""

from __future__ import annotations

import threading
import time
from io import BufferedIOBase
from typing import Callable, Optional

from .protocol import ServiceError
from .store import BodySink

#: Body transfer buffer (one per connection) and unread bodies drained before answering an early error.
BUFFER_SIZE = 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024


class Throttle:
    """Paces a body transfer at ``rate`` bytes/s (``None``: unlimited); waits end when ``stopping`` is set.
    ``paced`` is told how long each wait was."""

    def __init__(
        self, rate: Optional[float], stopping: threading.Event, paced: Optional[Callable[[float], None]] = None
    ) -> None:
        self.rate = rate
        self._stopping = stopping
        self._paced = paced
        self._start = time.monotonic()
        self._done = 0

    def chunk(self) -> int:
        """How many bytes to move next: the whole buffer, or about 50 ms worth when paced."""
        if self.rate is None:
            return BUFFER_SIZE
        return int(min(BUFFER_SIZE, max(4096, self.rate / 20)))

    def account(self, count: int) -> None:
        """``count`` bytes were moved: wait until the rate allows the next ones."""
        if self.rate is None:
            return
        self._done += count
        ahead = self._done / self.rate - (time.monotonic() - self._start)
        if ahead > 0:
            self._stopping.wait(ahead)
            if self._paced is not None:
                self._paced(ahead)


def combined_rate(*rates: Optional[float]) -> Optional[float]:
    """The slowest of the rates given (``None`` entries are unlimited)."""
    limited = [rate for rate in rates if rate]
    return min(limited) if limited else None


class RequestBody:
    """The body of one request: ``remaining`` bytes still on the socket (``Content-Length`` minus read).

    Args:
        rfile: The connection's reader.
        buffer: The connection's transfer buffer.
        length: ``Content-Length`` (0 without a valid one).
        chunked: The request declared ``Transfer-Encoding: chunked`` (never read: the connection closes).
        bandwidth: The server's per-connection cap now (bytes/s, or ``None``).
        stopping: Set when the server stops (ends paced waits).
        paced: Told how long each paced wait took (the request deadline does not count it).
    """

    def __init__(
        self,
        rfile: BufferedIOBase,
        buffer: memoryview,
        length: int,
        *,
        chunked: bool,
        bandwidth: Callable[[], Optional[float]],
        stopping: threading.Event,
        paced: Optional[Callable[[float], None]] = None,
    ) -> None:
        self._rfile = rfile
        self._buffer = buffer
        self.remaining = length
        self.chunked = chunked
        self.bytes_in = 0
        #: Set when what is left of the connection cannot carry another request.
        self.must_close = chunked
        self._bandwidth = bandwidth
        self._stopping = stopping
        self._paced = paced

    def receive(self, sink: Optional[BodySink], length: int, *, rate: Optional[float]) -> None:
        """Stream ``length`` body bytes into ``sink`` (``None``: discard) through the buffer, paced at the
        slower of ``rate`` and the server's bandwidth cap.

        Raises:
            ServiceError: 400 RequestTimeout (the client stalled), 400 IncompleteBody (it stopped early).
        """
        self._pump(sink, length, combined_rate(rate, self._bandwidth()))

    def discard(self, length: int) -> None:
        """Read and drop up to ``length`` body bytes, unpaced (a reset fault's share of the body)."""
        self._pump(None, length, None)

    def _pump(self, sink: Optional[BodySink], length: int, rate: Optional[float]) -> None:
        throttle = Throttle(rate, self._stopping, self._paced)
        remaining = min(length, self.remaining)
        while remaining:
            want = min(throttle.chunk(), remaining)
            try:
                count = self._rfile.readinto(self._buffer[:want])
            except TimeoutError:  # a stall past the idle timeout, or the request's deadline
                self._broken()
                raise ServiceError(400, "RequestTimeout", "The request body was not received within the timeout.") from None
            if not count:
                self._broken()
                raise ServiceError(400, "IncompleteBody", "The request body is shorter than its Content-Length.")
            if sink is not None:
                sink.write(self._buffer[:count])
            remaining -= count
            self.remaining -= count
            self.bytes_in += count
            throttle.account(count)

    def read_small(self, length: int) -> bytes:
        """Read ``length`` bytes into memory (a small body, e.g. Complete's XML).

        Raises:
            ServiceError: 400 IncompleteBody, 400 RequestTimeout.
        """
        chunks = []
        remaining = length
        while remaining:
            try:
                chunk = self._rfile.read(min(remaining, BUFFER_SIZE))
            except TimeoutError:
                self._broken()
                raise ServiceError(400, "RequestTimeout", "The request body was not received within the timeout.") from None
            if not chunk:
                self._broken()
                raise ServiceError(400, "IncompleteBody", "The request body is shorter than its Content-Length.")
            chunks.append(chunk)
            remaining -= len(chunk)
            self.remaining -= len(chunk)
            self.bytes_in += len(chunk)
        return b"".join(chunks)

    def drain(self) -> None:
        """Read what is left of the body (unpaced) so the connection can serve the next request; a body too
        large to be worth it, or one that fails, closes the connection instead."""
        if self.must_close or self.remaining > DRAIN_LIMIT:
            self.must_close = True
            return
        try:
            self.discard(self.remaining)
        except ServiceError:
            self.must_close = True

    def _broken(self) -> None:
        self.remaining = 0
        self.must_close = True
