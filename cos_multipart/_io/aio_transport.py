"""The aiohttp transport: the only module (with :mod:`cos_multipart._io.aio_client`) that imports aiohttp.

It sends :class:`~cos_multipart._protocol.models.HttpCall` values like the requests transport does, and shares with it
everything that is not I/O (:mod:`cos_multipart._io._attempts`): each attempt signed afresh with the clock
offset learnt from a ``RequestTimeTooSkewed`` answer, the same :class:`~cos_multipart._protocol.retry.RetryPolicy`
(its delays waited with ``asyncio.sleep``), the same neutral :class:`~cos_multipart._protocol.errors.FailureKind`
values for aiohttp's exceptions, and error texts and logs without secrets or query strings.

Bodies go out with an exact ``Content-Length`` (never chunked): bytes-like objects as they are; a rewindable
async body (:class:`AsyncBody`, such as the uploader's part bodies) by iterating a fresh
:meth:`AsyncBody.chunks` for each attempt; a seekable binary file read in chunks in a thread. No call here
blocks the event loop: a credentials provider other than fixed :class:`~cos_multipart._protocol.credentials.Credentials`
is called in a thread (a refreshing provider may fetch over the network), and may also return an awaitable.

Cancellation is asyncio's: cancelling the task that awaits a call closes its connection and stops its retries.

The answer deadline is the requests transport's: once an attempt's body has gone out (its last chunk handed
to the connection), the whole answer must arrive within ``answer_deadline`` seconds. aiohttp's read timeout
is per socket read, so an answer trickling a byte at a time never meets it; the deadline cancels the attempt
instead, and the attempt fails as a timeout that the retry policy retries.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import ssl
import threading
import time
from typing import Any, AsyncIterator, Awaitable, Callable, List, Mapping, Optional, Protocol, Tuple, Type, TypeVar, Union

import aiohttp
from yarl import URL

from ._attempts import ANSWER_BROKE_OFF, CLOSED_WITHOUT_ANSWER, AnswerDeadlineMixin, Retries, corrected_offset, kind_in, signed_headers, transport_error, with_attempts
from ._tls import bundle_locations, checked_ca_bundle
from .._protocol.credentials import Credentials, CredentialsLike, as_provider
from .._protocol.endpoint import Endpoint, strip_query
from .._protocol import operations
from ._streams import AsyncObjectStream
from .._protocol.errors import CosCancelledError, CosServiceError, FailureKind
from .._protocol.limits import DEFAULT_SIGN_EXPIRES, MAX_XML_ANSWER_BYTES
from .._protocol.models import HttpCall, ObjectResult
from .._protocol.retry import RetryPolicy
from .._protocol.errors import CosTransportError
from .transport import DEFAULT_ANSWER_DEADLINE, DEFAULT_TIMEOUT, USER_AGENT, Timeout, _describe

T = TypeVar("T")
Parser = Callable[[int, Mapping[str, str], bytes], T]

#: Bytes read from a file body per chunk (in a thread).
FILE_CHUNK = 1024 * 1024
#: Connections when nothing says how many tasks share the client.
DEFAULT_POOL_SIZE = 10
_BYTES_LIKE = (bytes, bytearray, memoryview)
#: Pieces an answer body is read in (its size is capped: see ``_read_answer``).
_ANSWER_CHUNK = 64 * 1024


class AsyncBody(Protocol):
    """A request body that can be sent again: :meth:`chunks` starts from its first byte on every call."""

    def __len__(self) -> int:
        """Bytes it holds (the ``Content-Length``)."""

    def chunks(self) -> AsyncIterator[bytes]:
        """Its bytes from the start, in pieces."""


class AnswerDeadlineExceeded(asyncio.TimeoutError, AnswerDeadlineMixin):
    """The whole answer did not arrive within the answer deadline (a timeout: retried per policy)."""

    def __init__(self, deadline: Optional[float]) -> None:
        self.deadline = deadline
        super().__init__(f"no complete answer within {deadline:g} s of sending the request (answer_deadline)")


class _AnswerDeadline:
    """One attempt's answer deadline: armed when its body has gone out, it cancels the attempt's task when
    it passes, and :meth:`swallow` turns that cancellation (and only that one) into a timeout."""

    __slots__ = ("seconds", "expired", "_task", "_handle")

    def __init__(self, seconds: Optional[float]) -> None:
        self.seconds = seconds
        self.expired = False
        self._task = asyncio.current_task()
        self._handle: Optional[asyncio.TimerHandle] = None

    def arm(self) -> None:
        """Start the clock (once; the body writer calls it after the last chunk, in aiohttp's own task)."""
        if self.seconds is None or self._handle is not None or self._task is None:
            return
        self._handle = asyncio.get_running_loop().call_later(self.seconds, self._expire)

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self.expired = True
            self._task.cancel()

    def disarm(self) -> None:
        """Stop the clock (the answer was read, or the attempt ended otherwise)."""
        if self._handle is not None:
            self._handle.cancel()

    def swallow(self) -> bool:
        """Whether a ``CancelledError`` is this deadline's alone (then it is taken back, and the attempt fails
        as a timeout); a cancellation from the caller meanwhile is never swallowed."""
        if not self.expired or self._task is None:
            return False
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+: count the cancellations
        if uncancel is None:
            return True
        return int(uncancel()) == 0


async def _then(chunks: AsyncIterator[Any], written: Callable[[], None]) -> AsyncIterator[Any]:
    """``chunks``, then ``written()``: aiohttp asks for the next chunk once it has written the previous one."""
    async for chunk in chunks:
        yield chunk
    written()


async def _slices(view: memoryview) -> AsyncIterator[memoryview]:
    """A large in-memory body in ``FILE_CHUNK`` zero-copy slices."""
    for offset in range(0, len(view), FILE_CHUNK):
        yield view[offset : offset + FILE_CHUNK]


#: How each aiohttp failure is judged, first match wins (the async twin of the requests transport's table).
_FAILURE_KINDS: Tuple[Tuple[Type[BaseException], FailureKind], ...] = (
    (aiohttp.ClientSSLError, FailureKind.TLS),  # before ClientConnectorError, which it is
    (ssl.SSLError, FailureKind.TLS),
    (asyncio.TimeoutError, FailureKind.TIMEOUT),  # ServerTimeoutError; before ClientConnectionError
    (aiohttp.ClientConnectionError, FailureKind.CONNECTION),  # refused, reset, disconnected
    (aiohttp.ClientPayloadError, FailureKind.CONNECTION),  # the answer broke off
    (aiohttp.ClientError, FailureKind.OTHER),
    (OSError, FailureKind.BODY),  # raised outside aiohttp: reading the request body
)


#: "Could not connect in time" (aiohttp 3.10+; older versions do not tell it from a read timeout).
_CONNECT_TIMEOUTS: Tuple[Type[BaseException], ...] = tuple(
    cls for cls in (getattr(aiohttp, "ConnectionTimeoutError", None),) if isinstance(cls, type)
)


def failure_kind(error: BaseException) -> FailureKind:
    """The :class:`~cos_multipart._protocol.errors.FailureKind` of an exception raised while sending a request."""
    return kind_in(_FAILURE_KINDS, error)


#: aiohttp's exceptions that say what happened to a connection, in plain words.
_NAMED_FAILURES = (
    (aiohttp.ServerDisconnectedError, CLOSED_WITHOUT_ANSWER),
    (aiohttp.ClientPayloadError, ANSWER_BROKE_OFF),
)


def _transport_error(
    error: BaseException,
    method: str,
    url: str,
    attempt: int,
    secrets: Tuple[Optional[str], ...] = (),
    *,
    elapsed: float = 0.0,
) -> CosTransportError:
    """The error for ``error`` in plain words (a :class:`~cos_multipart._protocol.errors.CosTLSError` for TLS), as the
    requests transport says it; aiohttp's exception is its ``__cause__``."""
    return transport_error(
        error, failure_kind(error), method, url, attempt, elapsed=elapsed, secrets=secrets,
        connect_timeouts=_CONNECT_TIMEOUTS, named=_NAMED_FAILURES,
    )  # fmt: skip


async def _read_answer(response: aiohttp.ClientResponse) -> bytes:
    """The answer's body, read in pieces and refused past ``MAX_XML_ANSWER_BYTES`` (bounded memory)."""
    if response.method == "HEAD":
        return b""  # no body, and its Content-Length is the object's, not the answer's
    buffer = operations.AnswerBuffer(MAX_XML_ANSWER_BYTES, response.headers.get("Content-Length"))
    async for chunk in response.content.iter_chunked(_ANSWER_CHUNK):
        buffer.add(chunk)
    return buffer.value()


def client_timeout(timeout: Optional[Timeout]) -> aiohttp.ClientTimeout:
    """``(connect, read)`` seconds (or one number for both) as aiohttp's per-socket timeouts."""
    if timeout is None:
        return aiohttp.ClientTimeout(total=None)
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


def ssl_option(
    verify: Union[bool, str, ssl.SSLContext], environ: Optional[Mapping[str, str]] = None
) -> Union[bool, ssl.SSLContext]:
    """aiohttp's ``ssl`` argument for ``verify``: ``True`` (the CA bundle the environment names, as for the
    requests transport: :func:`cos_multipart._io._tls.ca_bundle`), ``False``, a CA bundle path, or a context.

    Raises:
        CosValidationError: The bundle path does not exist (named by argument or variable).
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    chosen = checked_ca_bundle(verify, os.environ if environ is None else environ)
    if isinstance(chosen, str):
        cafile, capath = bundle_locations(chosen)
        return ssl.create_default_context(cafile=cafile, capath=capath)
    return chosen


class AsyncTransport:
    """Send :class:`~cos_multipart._protocol.models.HttpCall` values to one endpoint with aiohttp, signed, with retries.

    Args:
        endpoint: Where requests go.
        credentials: Credentials, a provider (called in a thread; may return an awaitable), or ``None`` for the
            environment.
        retry: The retry policy.
        timeout: Seconds, or ``(connect, read)``.
        answer_deadline: Seconds an attempt may take to deliver its whole answer once its body has gone out
            (``None``: no limit).
        pool_size: Connections at most (aiohttp's connector limit); the uploader raises it to its concurrency.
        proxies: ``{"http": url, "https": url}``: the proxy for each scheme.
        verify: TLS verification: ``True``, ``False``, a CA bundle path, or an ``ssl.SSLContext``.
        sign_expires: Validity of each request signature, seconds.
        clock: Unix time source.
        rng: Random source of the backoff jitter.
        sleep: How backoff waits are slept (tests: with ``monotonic``).
        monotonic: The clock the retry policy's ``retry_time`` is counted on.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: CredentialsLike = None,
        *,
        retry: Optional[RetryPolicy] = None,
        timeout: Optional[Timeout] = DEFAULT_TIMEOUT,
        answer_deadline: Optional[float] = DEFAULT_ANSWER_DEADLINE,
        pool_size: int = DEFAULT_POOL_SIZE,
        proxies: Optional[Mapping[str, str]] = None,
        verify: Union[bool, str, ssl.SSLContext] = True,
        sign_expires: int = DEFAULT_SIGN_EXPIRES,
        clock: Callable[[], float] = time.time,
        rng: Optional[random.Random] = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self._fixed = credentials if isinstance(credentials, Credentials) else None
        self._signed_with: Optional[Credentials] = None
        self._provider = as_provider(credentials, endpoint.dialect.credential_env)
        self.retry = retry if retry is not None else RetryPolicy()
        self.timeout = timeout
        self.answer_deadline = answer_deadline
        self.proxies = dict(proxies or {})
        # Over plain HTTP no certificate is checked, nor a bundle path required to exist.
        self._ssl = ssl_option(verify) if endpoint.base_url.startswith("https:") else True
        self._sleep = sleep
        self._monotonic = monotonic
        self.sign_expires = sign_expires
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        #: Seconds added to the local clock when signing; learnt from the server's Date on a clock error.
        self.clock_offset = 0.0
        self._pool_size = pool_size
        self._session: Optional[aiohttp.ClientSession] = None
        self._retired: List[aiohttp.ClientSession] = []

    @property
    def pool_size(self) -> int:
        """Connections at most."""
        return self._pool_size

    @property
    def connections_in_use(self) -> int:
        """Connections carrying a request now (0 once every call has returned or been cancelled)."""
        sessions = self._retired + ([self._session] if self._session is not None else [])
        return sum(len(getattr(session.connector, "_acquired", ())) for session in sessions)

    def ensure_pool_size(self, size: int) -> None:
        """Allow at least ``size`` connections; never fewer. Calls in flight finish on the previous pool."""
        if size <= self._pool_size:
            return
        self._pool_size = size
        if self._session is not None:
            self._retired.append(self._session)  # closed with the transport
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=client_timeout(self.timeout),
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                auto_decompress=False,
                skip_auto_headers=("Content-Type",),
            )
        return self._session

    async def credentials(self) -> Credentials:
        """The current credentials, from a provider called in a thread (it may block on a network fetch)."""
        if self._fixed is not None:
            return self._fixed
        loop = asyncio.get_running_loop()
        current: Any = await loop.run_in_executor(None, self._provider)
        if inspect.isawaitable(current):
            current = await current
        if not isinstance(current, Credentials):
            raise TypeError(f"the credentials provider returned {type(current).__name__}, not Credentials")
        return current

    async def close(self) -> None:
        """Close every connection."""
        sessions, self._retired = self._retired + ([self._session] if self._session is not None else []), []
        self._session = None
        for session in sessions:
            await session.close()

    async def send(self, call: HttpCall, parse: Parser[T], *, cancel: Optional[asyncio.Event] = None) -> T:
        """Send ``call`` and return ``parse(status, headers, body)`` of its answer, retrying per policy.

        When ``cancel`` is set no further attempt is made (:class:`CosCancelledError`); the attempt in
        flight is stopped by cancelling its task.

        Raises:
            CosServiceError: COS answered an error (after retries when retryable).
            CosTransportError: Connection failure or timeout after retries.
            CosResponseError: The answer could not be read (not retried).
            CosCancelledError: ``cancel`` was set.
        """

        async def handle(response: aiohttp.ClientResponse) -> T:
            try:
                return parse(response.status, self.endpoint.dialect.from_wire(response.headers), await _read_answer(response))
            finally:
                response.release()

        return await self._run(call, handle, cancel)

    async def stream(
        self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[asyncio.Event] = None
    ) -> AsyncObjectStream:
        """Send ``call`` and return its body unread, with ``parse(status, headers, b"")`` of its head, as
        :meth:`cos_multipart._io.transport.Transport.stream` does."""
        safe_url = strip_query(self.endpoint.url(call.key, call.params))

        async def handle(response: aiohttp.ClientResponse) -> AsyncObjectStream:
            try:
                headers = self.endpoint.dialect.from_wire(response.headers)
                if response.status >= 300:
                    parse(response.status, headers, await _read_answer(response))
                result = parse(response.status, headers, b"")
            except BaseException:
                response.release()
                raise

            async def read(size: int) -> bytes:
                try:
                    return await response.content.read(size)
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
                    raise _transport_error(error, call.method, safe_url, 1, self._secrets) from error

            return AsyncObjectStream(result, response.headers, read, response.release)

        return await self._run(call, handle, cancel)

    async def open(self, call: HttpCall, check: Parser[Any]) -> aiohttp.ClientResponse:
        """Send ``call`` and return the unread response once ``check(status, headers, b"")`` accepts it.

        The caller reads it (``await _read_answer(response)``, ``response.content``) and releases it.
        """

        async def handle(response: aiohttp.ClientResponse) -> aiohttp.ClientResponse:
            try:
                if response.status >= 300:
                    check(response.status, self.endpoint.dialect.from_wire(response.headers), await _read_answer(response))
                check(response.status, self.endpoint.dialect.from_wire(response.headers), b"")
            except BaseException:
                response.release()
                raise
            return response

        return await self._run(call, handle)

    async def _run(
        self,
        call: HttpCall,
        handle: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        cancel: Optional[asyncio.Event] = None,
    ) -> T:
        url = self.endpoint.url(call.key, call.params)
        safe_url = strip_query(url)
        retries = Retries(
            self.retry, call, safe_url, self._rng, self._rng_lock, self._fix_clock, _describe,
            service=self.endpoint.dialect.name.upper(), monotonic=self._monotonic,
        )  # fmt: skip
        start = _body_position(call.body)
        while True:
            if cancel is not None and cancel.is_set():
                raise CosCancelledError(f"{call.method} {safe_url} cancelled")
            date: Optional[str] = None
            deadline = _AnswerDeadline(self.answer_deadline)
            source = _body_for_attempt(call.body, call.content_length, start)  # may record its own failure
            body: Any = source
            if source is None or (isinstance(source, (bytes, memoryview)) and len(source) <= FILE_CHUNK):
                deadline.arm()  # goes out in one write as the request starts: the clock starts now
            else:  # the clock starts when the last piece has been written
                body = _then(_slices(source) if isinstance(source, memoryview) else source, deadline.arm)
            try:
                try:
                    response = await self._attempt(call, url, body)
                    date = response.headers.get("Date")
                    return with_attempts(await handle(response), retries.policy.attempt)
                except asyncio.CancelledError:
                    if not deadline.swallow():
                        raise
                    raise AnswerDeadlineExceeded(self.answer_deadline) from None
                finally:
                    deadline.disarm()
            except CosServiceError as error:
                failure: BaseException = error.in_request(call.method, safe_url, self.endpoint.dialect.name)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
                own: Optional[BaseException] = getattr(source, "failure", None) or getattr(call.body, "failure", None)
                if own is not None and not isinstance(own, OSError):
                    raise own from None  # the body's own error (a changed file, a callback), not a network one
                failure = _transport_error(
                    own or error, call.method, safe_url, retries.policy.attempt, self._secrets, elapsed=retries.elapsed
                )
            if cancel is not None and cancel.is_set():
                raise CosCancelledError(f"{call.method} {safe_url} cancelled") from failure
            delay = retries.delay_after(failure, date)
            if delay is None:
                raise failure
            if delay > 0:
                await self._sleep(delay)

    @property
    def _secrets(self) -> Tuple[Optional[str], ...]:
        """What an error text must never show: the secret key and token last signed with."""
        used = self._signed_with
        return (used.secret_key, used.token) if used is not None else ()

    async def _attempt(self, call: HttpCall, url: str, body: Any) -> aiohttp.ClientResponse:
        credentials = await self.credentials()
        self._signed_with = credentials
        headers = signed_headers(call, credentials, self.endpoint, self._clock() + self.clock_offset, self.sign_expires)
        proxy = self.proxies.get(URL(url).scheme)
        # encoded=True: the path goes out exactly as the endpoint encoded it (and as it was signed).
        return await self._http().request(
            call.method, URL(url, encoded=True), headers=headers, data=body, allow_redirects=False, proxy=proxy
        )

    def _fix_clock(self, date: Optional[str]) -> bool:
        offset = corrected_offset(date, self._clock())
        if offset is None:
            return False
        self.clock_offset = offset
        return True

    def __repr__(self) -> str:
        return f"AsyncTransport(endpoint={self.endpoint.base_url!r})"


def _body_position(body: object) -> Optional[int]:
    if body is None or isinstance(body, _BYTES_LIKE) or hasattr(body, "chunks"):
        return None
    return int(body.tell())  # type: ignore[attr-defined]


def _body_for_attempt(body: object, length: int, start: Optional[int]) -> Any:
    if body is None:
        return None
    if length == 0:
        return b""
    if isinstance(body, _BYTES_LIKE):
        view = memoryview(body).cast("B")
        return view if len(view) == length else view[:length]
    chunks = getattr(body, "chunks", None)
    if chunks is not None:
        return chunks()
    return _FileChunks(body, length, start or 0)


class _FileChunks:
    """``length`` bytes of a seekable binary file from ``start``, read in a thread chunk by chunk."""

    def __init__(self, file: Any, length: int, start: int) -> None:
        self._file = file
        self._length = length
        self._start = start
        self.failure: Optional[BaseException] = None

    def _read(self, size: int, first: bool) -> bytes:
        if first:
            self._file.seek(self._start)
        data = self._file.read(size)
        return bytes(data) if data else b""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        left = self._length
        first = True
        while left > 0:
            try:
                data = await loop.run_in_executor(None, self._read, min(FILE_CHUNK, left), first)
            except BaseException as error:
                self.failure = error
                raise
            first = False
            if not data:
                self.failure = OSError(f"request body ended {left} bytes before its Content-Length")
                raise self.failure
            left -= len(data)
            yield data
