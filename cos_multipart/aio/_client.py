"""``AsyncCosClient``: :class:`~cos_multipart.client.CosClient` for asyncio, on the same rules.

Every method is the sync client's four steps with an ``await`` in the middle: validate and build the request
(:mod:`cos_multipart.operations`, the same pure builders), send it (:class:`AsyncTransport`), and parse the
answer with the same parser into the same typed result. Invalid arguments raise the same
:class:`~cos_multipart.errors.CosValidationError` before anything is sent, and failures raise the same
exceptions.

What differs, and why:

* ``list_parts`` and ``list_multipart_uploads`` return async iterators (``async for``);
* ``get_object`` returns an unread :class:`aiohttp.ClientResponse` (``await response.read()``, then
  ``response.release()``), as the sync one returns a streamed ``requests.Response``;
* ``presign`` is a coroutine (a credentials provider is called in a thread);
* there is no ``cancel`` argument and no ``abort_connections``: cancelling the task that awaits a call stops
  it and closes its connection;
* bodies may also be a rewindable async body (an object with ``__len__`` and ``chunks()``, see
  :class:`~cos_multipart.aio._transport.AsyncBody`), sent again from its start on a retry.

Example::

    async with AsyncCosClient(bucket="examplebucket-1250000000", region="ap-guangzhou") as client:
        upload = await client.initiate_multipart_upload("videos/a.mp4", content_type="video/mp4")
        part = await client.upload_part("videos/a.mp4", upload.upload_id, 1, b"...")
        await client.complete_multipart_upload("videos/a.mp4", upload.upload_id, [part])
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import functools
import ssl
import time
from types import TracebackType
from typing import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Optional, Tuple, Type, Union

import aiohttp

from .. import operations
from ..client import PRESIGN_METHODS
from ..dialect import DialectLike, dialect_of
from ..credentials import CredentialsLike
from ..endpoint import Endpoint, validate_key
from ..errors import CosValidationError
from ..limits import DEFAULT_SIGN_EXPIRES
from ..models import CompleteResult, HttpCall, InitiateResult, ObjectResult, PartInfo, PartResult, ResponseInfo, UploadInfo
from ..options import Acl, ObjectOptions, StorageClass, Tagging, resolve
from ..retry import RetryPolicy, policy_with
from ..signer import presign_expires
from ..sse import EncryptionLike
from ..transport import DEFAULT_ANSWER_DEADLINE, DEFAULT_TIMEOUT, Timeout, validate_timeout
from ..validation import PartLike, positive_int
from ._transport import DEFAULT_POOL_SIZE, AsyncTransport


class _Sized:
    """Stands for an async body in the builders' validation, which measures bodies by ``len``."""

    def __init__(self, length: int) -> None:
        self._length = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:  # never called: validation only measures
        raise NotImplementedError

    def seek(self, offset: int, whence: int = 0) -> int:
        raise NotImplementedError

    def tell(self) -> int:
        return 0


def _with_body(build: Callable[[object], HttpCall], body: object) -> HttpCall:
    """Build the call with ``body``; an async body is validated through a stand-in of its length."""
    if hasattr(body, "chunks") and hasattr(body, "__len__"):
        return dataclasses.replace(build(_Sized(len(body))), body=body)
    return build(body)


class AsyncCosClient:
    """An asyncio client for one COS bucket (``async with`` closes it).

    Args:
        bucket: ``<BucketName>-<APPID>``, e.g. ``"examplebucket-1250000000"``.
        region: e.g. ``"ap-guangzhou"``.
        credentials: :class:`~cos_multipart.credentials.Credentials`; a provider callable (called in a thread
            for every request signed, so a refreshing provider never blocks the event loop; it may also return
            an awaitable); or ``None`` to read ``COS_SECRET_ID``/``COS_SECRET_KEY`` now.
        endpoint: As for :class:`~cos_multipart.client.CosClient`.
        retry: Retry policy (:class:`~cos_multipart.retry.RetryPolicy`); backoff waits with ``asyncio.sleep``.
        retry_time: As for :class:`~cos_multipart.client.CosClient`: seconds a request may go on retrying.
        max_attempts: As for :class:`~cos_multipart.client.CosClient`: tries per request in all.
        sleep: How backoff waits are slept (an ``async`` function; tests inject one with ``monotonic``).
        monotonic: The clock ``retry_time`` is counted on.
        timeout: Seconds, or ``(connect, read)`` (per socket operation); ``None`` waits forever.
        answer_deadline: Seconds an attempt may take to deliver its whole answer once its request body has gone
            out (180 by default; ``None``: no limit), as for :class:`~cos_multipart.client.CosClient`: a
            trickling answer fails as a timeout, which the retry policy retries. Streamed GET bodies are not
            covered.
        pool_size: Connections at most; the uploader raises it to its concurrency.
        proxies: ``{"http": url, "https": url}``.
        verify: TLS certificate verification: ``True`` (the CA bundle named by ``REQUESTS_CA_BUNDLE``,
            ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``, else the system's), ``False``, a CA bundle path, or an
            ``ssl.SSLContext``.
        sign_expires: Seconds each request signature stays valid.
        clock: Unix time source.

        dialect: ``None`` or ``"cos"`` for Tencent COS; ``"oss"`` (or :data:`cos_multipart.dialect.OSS`) for
            Aliyun OSS: ``x-oss-*`` headers, signature V4, ``<bucket>.oss-<region>.aliyuncs.com``, credentials
            from ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET``/``OSS_SESSION_TOKEN`` (see docs/oss.md).

    Raises:
        CosValidationError: Bad bucket, region, endpoint, timeout, pool size or dialect.
        CosCredentialsError: ``credentials`` is ``None`` and the environment has none.
    """

    def __init__(
        self,
        bucket: str,
        region: str,
        credentials: CredentialsLike = None,
        *,
        endpoint: Optional[str] = None,
        retry: Optional[RetryPolicy] = None,
        timeout: Optional[Timeout] = DEFAULT_TIMEOUT,
        pool_size: int = DEFAULT_POOL_SIZE,
        proxies: Optional[Mapping[str, str]] = None,
        verify: Union[bool, str, ssl.SSLContext] = True,
        sign_expires: int = DEFAULT_SIGN_EXPIRES,
        clock: Callable[[], float] = time.time,
        dialect: DialectLike = None,
        answer_deadline: Optional[float] = DEFAULT_ANSWER_DEADLINE,
        retry_time: Optional[float] = None,
        max_attempts: Optional[int] = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bucket = bucket
        self.region = region
        #: The service spoken (:data:`cos_multipart.dialect.COS` unless ``dialect="oss"``).
        self.dialect = dialect_of(dialect)
        self.endpoint = Endpoint.build(bucket, region, endpoint, dialect=self.dialect)
        retry = policy_with(retry, retry_time=retry_time, max_attempts=max_attempts)
        self._clock = clock
        self._transport = AsyncTransport(
            self.endpoint,
            credentials,
            retry=retry,
            timeout=validate_timeout(timeout),
            answer_deadline=None if answer_deadline is None else validate_timeout(answer_deadline, "answer_deadline"),  # type: ignore[arg-type]
            pool_size=positive_int(pool_size, "pool_size"),
            proxies=proxies,
            verify=verify,
            sign_expires=positive_int(sign_expires, "sign_expires"),
            clock=clock,
            sleep=sleep,
            monotonic=monotonic,
        )

    # --- multipart ---------------------------------------------------------------------------------------

    async def initiate_multipart_upload(
        self,
        key: str,
        *,
        options: Optional[ObjectOptions] = None,
        content_type: Optional[str] = None,
        metadata: Optional[Mapping[str, str]] = None,
        acl: Optional[Acl] = None,
        storage_class: Optional[StorageClass] = None,
        tagging: Tagging = None,
        encryption: EncryptionLike = None,
        cache_control: Optional[str] = None,
        content_disposition: Optional[str] = None,
        content_encoding: Optional[str] = None,
        expires: Optional[str] = None,
        grant_read: Optional[str] = None,
        grant_read_acp: Optional[str] = None,
        grant_write_acp: Optional[str] = None,
        grant_full_control: Optional[str] = None,
    ) -> InitiateResult:
        """Start a multipart upload (436/7746); options as for :meth:`CosClient.initiate_multipart_upload`."""
        call = operations.prepare_initiate(key, resolve(options, locals()))
        return await self._transport.send(call, operations.parse_initiate)

    async def upload_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        body: object,
        *,
        content_length: Optional[int] = None,
        content_md5: Optional[str] = None,
        traffic_limit: Optional[int] = None,
        sse_c: EncryptionLike = None,
        psize_min: Optional[int] = None,
        psize_max: Optional[int] = None,
    ) -> PartResult:
        """Upload one part (436/7750); arguments as for :meth:`CosClient.upload_part`.

        ``body`` is bytes-like, a seekable binary file (read in a thread, rewound before a retry) or an async
        body (``__len__`` and ``chunks()``, iterated afresh for each attempt).
        """
        build = functools.partial(
            operations.prepare_upload_part, key, upload_id, part_number, content_length=content_length,
            content_md5=content_md5, traffic_limit=traffic_limit, sse_c=sse_c, psize_min=psize_min,
            psize_max=psize_max,
        )  # fmt: skip
        call = _with_body(lambda given: build(given), body)
        parse = functools.partial(operations.parse_upload_part, part_number=part_number, size=call.content_length)
        return await self._transport.send(call, parse)

    async def complete_multipart_upload(
        self,
        key: str,
        upload_id: str,
        parts: Iterable[PartLike],
        *,
        forbid_overwrite: Optional[bool] = None,
        pnum_min: Optional[int] = None,
        pnum_max: Optional[int] = None,
    ) -> CompleteResult:
        """Assemble the parts into the object (436/7742); as :meth:`CosClient.complete_multipart_upload`."""
        call = operations.prepare_complete(
            key, upload_id, parts, forbid_overwrite=forbid_overwrite, pnum_min=pnum_min, pnum_max=pnum_max
        )
        return await self._transport.send(call, operations.parse_complete)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> ResponseInfo:
        """Discard an upload and its parts (436/7740)."""
        return await self._transport.send(operations.prepare_abort(key, upload_id), operations.parse_abort)

    def list_parts(self, key: str, upload_id: str) -> AsyncIterator[PartInfo]:
        """Every uploaded part, ascending, fetching pages of 1000 as needed (436/7747): ``async for``."""
        operations.prepare_list_parts(key, upload_id)  # validate now, not at the first iteration
        return self._iter_parts(key, upload_id)

    async def _iter_parts(self, key: str, upload_id: str) -> AsyncIterator[PartInfo]:
        marker: Optional[int] = None
        for pages in itertools.count(1):
            call = operations.prepare_list_parts(key, upload_id, part_number_marker=marker)
            page = await self._transport.send(call, operations.parse_list_parts)
            for part in page.parts:
                yield part
            marker = operations.next_parts_marker(page, marker, pages)
            if marker is None:
                return

    def list_multipart_uploads(self, *, prefix: Optional[str] = None) -> AsyncIterator[UploadInfo]:
        """Every upload in progress (optionally under ``prefix``), fetching pages as needed: ``async for``."""
        operations.prepare_list_uploads(prefix=prefix)
        return self._iter_uploads(prefix)

    async def _iter_uploads(self, prefix: Optional[str]) -> AsyncIterator[UploadInfo]:
        markers: Tuple[Optional[str], Optional[str]] = (None, None)
        for pages in itertools.count(1):
            call = operations.prepare_list_uploads(prefix=prefix, key_marker=markers[0], upload_id_marker=markers[1])
            page = await self._transport.send(call, operations.parse_list_uploads)
            for upload in page.uploads:
                yield upload
            following = operations.next_uploads_markers(page, markers, pages)
            if following is None:
                return
            markers = following

    # --- simple objects ----------------------------------------------------------------------------------

    async def put_object(
        self,
        key: str,
        body: object,
        *,
        content_length: Optional[int] = None,
        content_md5: Optional[str] = None,
        traffic_limit: Optional[int] = None,
        forbid_overwrite: Optional[bool] = None,
        options: Optional[ObjectOptions] = None,
        content_type: Optional[str] = None,
        metadata: Optional[Mapping[str, str]] = None,
        acl: Optional[Acl] = None,
        storage_class: Optional[StorageClass] = None,
        tagging: Tagging = None,
        encryption: EncryptionLike = None,
        cache_control: Optional[str] = None,
        content_disposition: Optional[str] = None,
        content_encoding: Optional[str] = None,
        expires: Optional[str] = None,
        grant_read: Optional[str] = None,
        grant_read_acp: Optional[str] = None,
        grant_write_acp: Optional[str] = None,
        grant_full_control: Optional[str] = None,
    ) -> ObjectResult:
        """Upload an object of at most 5 GB in one request (436/7749); as :meth:`CosClient.put_object`."""
        chosen = resolve(options, locals())
        build = functools.partial(
            operations.prepare_put_object, key, content_length=content_length, content_md5=content_md5,
            traffic_limit=traffic_limit, forbid_overwrite=forbid_overwrite, options=chosen,
        )  # fmt: skip
        call = _with_body(lambda given: build(given), body)
        parse = functools.partial(operations.parse_put_object, key=key, size=call.content_length)
        return await self._transport.send(call, parse)

    async def head_object(self, key: str, *, sse_c: EncryptionLike = None) -> ObjectResult:
        """An object's ETag, CRC64, size and headers (HEAD Object)."""
        call = operations.prepare_head_object(key, sse_c=sse_c)
        return await self._transport.send(call, functools.partial(operations.parse_head_object, key=key))

    async def get_object(
        self, key: str, *, byte_range: Optional[Tuple[int, Optional[int]]] = None, sse_c: EncryptionLike = None
    ) -> aiohttp.ClientResponse:
        """Open an object for reading; the caller reads (``await response.read()``) and releases it."""
        call = operations.prepare_get_object(key, byte_range=byte_range, sse_c=sse_c)
        return await self._transport.open(call, functools.partial(operations.parse_get_object, key=key))

    async def delete_object(self, key: str, *, version_id: Optional[str] = None) -> ResponseInfo:
        """Delete an object (DELETE Object); with ``version_id``, that version of it (versioned buckets)."""
        call = operations.prepare_delete_object(key, version_id)
        return await self._transport.send(call, operations.parse_delete_object)

    # --- URLs --------------------------------------------------------------------------------------------

    def object_url(self, key: str) -> str:
        """The unsigned URL of ``key`` (percent-encoded path)."""
        validate_key(key, max_bytes=self.dialect.max_key_bytes)
        return self.endpoint.url(key)

    async def presign(self, key: str, method: str = "GET", expires: int = DEFAULT_SIGN_EXPIRES) -> str:
        """A pre-signed URL for ``method`` on ``key``, valid ``expires`` seconds (1 to 604800: 7 days, see
        :data:`~cos_multipart.limits.MAX_PRESIGN_EXPIRES`); carries the STS token."""
        if not isinstance(method, str) or method.upper() not in PRESIGN_METHODS:
            raise CosValidationError("method", method, f"one of {', '.join(sorted(PRESIGN_METHODS))}")
        seconds = presign_expires(expires)
        validate_key(key, max_bytes=self.dialect.max_key_bytes)
        credentials = await self._transport.credentials()
        now = self._clock() + self._transport.clock_offset
        return self.dialect.presigner(credentials, self.endpoint, method.upper(), key, now, seconds)

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def transport(self) -> AsyncTransport:
        """The transport (connections, retry policy, clock offset)."""
        return self._transport

    def ensure_pool_size(self, size: int) -> None:
        """Allow at least ``size`` connections, so ``size`` tasks can share this client in parallel."""
        self._transport.ensure_pool_size(positive_int(size, "pool_size"))

    async def close(self) -> None:
        """Close the connections."""
        await self._transport.close()

    async def __aenter__(self) -> "AsyncCosClient":
        return self

    async def __aexit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncCosClient(bucket={self.bucket!r}, region={self.region!r}, endpoint={self.endpoint.base_url!r})"
