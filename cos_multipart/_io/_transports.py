"""What a client needs from a transport: :class:`HttpTransport` (threads) and :class:`AsyncHttpTransport` (asyncio).

A client builds requests (:mod:`cos_multipart._protocol.operations`, pure) and hands each one to its transport, which
signs, sends, retries and gives the answer to the parser it was given. Nothing else crosses: no
``requests`` or ``aiohttp`` type appears here, so a test or a limiter can wrap a transport (count the
calls, hold a slot around each one) and pass the wrapper to a client (``CosClient(..., transport=...)``
or :meth:`CosClient.with_transport <cos_multipart._io.client.CosClient.with_transport>`) instead of copying a
client and swapping its private members.

The name ``Transport`` is the requests-based class (:class:`cos_multipart._io.transport.Transport`, public
since 0.1); these protocols are named after what they carry, HTTP calls, so that name keeps working.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Protocol, TypeVar, runtime_checkable

from ._streams import AsyncObjectStream, ObjectStream
from .._protocol.credentials import Credentials
from .._protocol.endpoint import Endpoint
from .._protocol.models import HttpCall, ObjectResult

if TYPE_CHECKING:  # annotations only: the threaded path (every upload_file) does not import asyncio
    import asyncio

__all__ = ["AsyncHttpTransport", "HttpTransport", "Parser"]

T = TypeVar("T")
#: ``parse(status, headers, body)``: the typed result of an answer, or the error it raises.
Parser = Callable[[int, Mapping[str, str], bytes], T]


@runtime_checkable
class HttpTransport(Protocol):
    """Sends :class:`~cos_multipart._protocol.models.HttpCall` values for a :class:`~cos_multipart._io.client.CosClient`.

    :class:`cos_multipart._io.transport.Transport` (requests) is the one a client makes by default; any object
    with these members can stand in for it, typically a wrapper that delegates to one.
    """

    @property
    def endpoint(self) -> Endpoint:
        """Where requests go (the client's endpoint)."""

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock when signing (learnt from the server's ``Date``)."""

    @property
    def pool_size(self) -> int:
        """Connections that can carry requests at once."""

    def ensure_pool_size(self, size: int) -> None:
        """Allow at least ``size`` requests at once (never fewer)."""

    def credentials(self) -> Credentials:
        """The current credentials (for pre-signed URLs)."""

    def send(self, call: HttpCall, parse: Parser[T], *, cancel: Optional[threading.Event] = None) -> T:
        """Send ``call``, retrying per policy, and return ``parse(status, headers, body)`` of its answer.

        When ``cancel`` is set no further attempt is made
        (:class:`~cos_multipart._protocol.errors.CosCancelledError`).
        """

    def stream(
        self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[threading.Event] = None
    ) -> ObjectStream:
        """Send ``call`` and return its answer's body unread, once ``parse(status, headers, b"")`` accepts
        its head (an error answer is read whole and given to ``parse``, which raises)."""

    def abort_connections(self, cancel: Optional[threading.Event] = None) -> int:
        """Shut down the connections carrying requests of ``cancel`` (all with ``None``); how many."""

    def close(self) -> None:
        """Release the connections."""


@runtime_checkable
class AsyncHttpTransport(Protocol):
    """Sends :class:`~cos_multipart._protocol.models.HttpCall` values for an
    :class:`~cos_multipart.aio.AsyncCosClient`: :class:`HttpTransport` with coroutines.

    :class:`cos_multipart.aio.AsyncTransport` (aiohttp) is the default. There is no ``abort_connections``:
    cancelling the task that awaits a call closes its connection (see docs/async.md).
    """

    @property
    def endpoint(self) -> Endpoint:
        """Where requests go (the client's endpoint)."""

    @property
    def clock_offset(self) -> float:
        """Seconds added to the local clock when signing (learnt from the server's ``Date``)."""

    @property
    def pool_size(self) -> int:
        """Connections that can carry requests at once."""

    def ensure_pool_size(self, size: int) -> None:
        """Allow at least ``size`` requests at once (never fewer)."""

    async def credentials(self) -> Credentials:
        """The current credentials (for pre-signed URLs)."""

    async def send(self, call: HttpCall, parse: Parser[T], *, cancel: Optional[asyncio.Event] = None) -> T:
        """As :meth:`HttpTransport.send`."""

    async def stream(
        self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[asyncio.Event] = None
    ) -> AsyncObjectStream:
        """As :meth:`HttpTransport.stream`."""

    async def close(self) -> None:
        """Release the connections."""
