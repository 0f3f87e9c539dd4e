"""``AsyncCosClient``: :class:`~cos_multipart._io.client.CosClient` for asyncio, on the same rules.

Every method is the sync client's, with the same parameters and the same typed result, made from the same
table of operations (:mod:`cos_multipart._io._api`) with an ``await`` in the middle: validate and build the
request (the same pure builders), send it (an :class:`~cos_multipart._io._transports.AsyncHttpTransport`,
:class:`AsyncTransport` by default), and parse the answer with the same parser. Invalid arguments raise the
same :class:`~cos_multipart._protocol.errors.CosValidationError` before anything is sent, and failures raise the same
exceptions. ``tests/test_client_parity.py`` fails if the two drift.

What differs, and why:

* the listings (``list_parts``, ``list_multipart_uploads``, ``list_objects``, ``list_object_pages``)
  return async iterators (``async for``);
* ``get_object`` returns an :class:`~cos_multipart._io._streams.AsyncObjectStream` (``async for``,
  ``await read()``, ``async with``) where the sync one returns an :class:`~cos_multipart.ObjectStream`;
* ``presign`` and ``close`` are coroutines (a credentials provider is called in a thread);
* ``cancel`` is an :class:`asyncio.Event` (no further attempt once set), and there is no
  ``abort_connections``: cancelling the task that awaits a call stops it and closes its connection;
* bodies may also be a rewindable async body (an object with ``__len__`` and ``chunks()``, see
  :class:`~cos_multipart._io.aio_transport.AsyncBody`), sent again from its start on a retry.

Example::

    async with AsyncCosClient(bucket="examplebucket-1250000000", region="ap-guangzhou") as client:
        upload = await client.initiate_multipart_upload("videos/a.mp4", content_type="video/mp4")
        part = await client.upload_part("videos/a.mp4", upload.upload_id, 1, b"...")
        await client.complete_multipart_upload("videos/a.mp4", upload.upload_id, [part])
"""

from __future__ import annotations

import asyncio
import copy
import ssl
import time
from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Optional, Tuple, Type, TypeVar, Union

from . import _api
from ._api import MAX_LIST_PAGES
from ._streams import AsyncObjectStream
from ._transports import AsyncHttpTransport
from .client import PRESIGN_METHODS, checked_transport
from .._protocol.dialect import DialectLike, dialect_of
from .._protocol.credentials import CredentialsLike
from .._protocol.endpoint import Endpoint, validate_key
from .._protocol.errors import CosServiceError, CosValidationError
from .._protocol.limits import DEFAULT_SIGN_EXPIRES, MAX_LIST_KEYS
from .._protocol.models import (
    CompleteResult,
    DeleteResult,
    InitiateResult,
    ObjectResult,
    ObjectsPage,
    ObjectSummary,
    PartInfo,
    PartResult,
    ResponseInfo,
    UploadInfo,
)
from .._protocol.copy_ops import CopySource, MetadataDirective
from .._protocol.options import Acl, ObjectOptions, StorageClass, Tagging, resolve
from .._protocol.retry import RetryPolicy, policy_with
from .._protocol.signer import presign_expires
from .._protocol.presign_parts import sign_part_url
from .._protocol.sse import EncryptionLike
from .transport import DEFAULT_ANSWER_DEADLINE, DEFAULT_TIMEOUT, Timeout, validate_timeout
from .._protocol.validation import PartLike, positive_int
from .aio_transport import DEFAULT_POOL_SIZE, AsyncTransport

__all__ = ["AsyncCosClient"]

T = TypeVar("T")


class AsyncCosClient:
    """An asyncio client for one COS bucket (``async with`` closes it).

    Args:
        bucket: ``<BucketName>-<APPID>``, e.g. ``"examplebucket-1250000000"``.
        region: e.g. ``"ap-guangzhou"``.
        credentials: :class:`~cos_multipart._protocol.credentials.Credentials`; a provider callable (called in a thread
            for every request signed, so a refreshing provider never blocks the event loop; it may also return
            an awaitable); or ``None`` to read ``COS_SECRET_ID``/``COS_SECRET_KEY`` now.
        endpoint: As for :class:`~cos_multipart._io.client.CosClient`.
        retry: Retry policy (:class:`~cos_multipart._protocol.retry.RetryPolicy`); backoff waits with ``asyncio.sleep``.
        retry_time: As for :class:`~cos_multipart._io.client.CosClient`: seconds a request may go on retrying.
        max_attempts: As for :class:`~cos_multipart._io.client.CosClient`: tries per request in all.
        sleep: How backoff waits are slept (an ``async`` function; tests inject one with ``monotonic``).
        monotonic: The clock ``retry_time`` is counted on.
        timeout: Seconds, or ``(connect, read)`` (per socket operation); ``None`` waits forever.
        answer_deadline: Seconds an attempt may take to deliver its whole answer once its request body has gone
            out (180 by default; ``None``: no limit), as for :class:`~cos_multipart._io.client.CosClient`: a
            trickling answer fails as a timeout, which the retry policy retries. Streamed GET bodies are not
            covered.
        pool_size: Connections at most; the uploader raises it to its concurrency.
        proxies: ``{"http": url, "https": url}``.
        verify: TLS certificate verification: ``True`` (the CA bundle named by ``REQUESTS_CA_BUNDLE``,
            ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``, else the system's), ``False``, a CA bundle path, or an
            ``ssl.SSLContext``.
        sign_expires: Seconds each request signature stays valid.
        clock: Unix time source.

        dialect: ``None`` or ``"cos"`` for Tencent COS; ``"oss"`` (or :data:`cos_multipart._protocol.dialect.OSS`) for
            Aliyun OSS: ``x-oss-*`` headers, signature V4, ``<bucket>.oss-<region>.aliyuncs.com``, credentials
            from ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET``/``OSS_SESSION_TOKEN`` (see docs/oss.md).
        transport: Send requests through this :class:`~cos_multipart._io._transports.AsyncHttpTransport` (for
            the same endpoint), as for :class:`~cos_multipart._io.client.CosClient`; the connection arguments
            are then left out.

    Raises:
        CosValidationError: Bad bucket, region, endpoint, timeout, pool size or dialect; a ``transport`` for
            another endpoint, or given with a connection argument.
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
        transport: Optional[AsyncHttpTransport] = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        #: The service spoken (:data:`cos_multipart._protocol.dialect.COS` unless ``dialect="oss"``).
        self.dialect = dialect_of(dialect)
        self.endpoint = Endpoint.build(bucket, region, endpoint, dialect=self.dialect)
        self._clock = clock
        self._transport: AsyncHttpTransport
        if transport is not None:
            given = {
                "credentials": credentials is not None, "retry": retry is not None, "timeout": timeout != DEFAULT_TIMEOUT,
                "pool_size": pool_size != DEFAULT_POOL_SIZE, "proxies": proxies is not None, "verify": verify is not True,
                "sign_expires": sign_expires != DEFAULT_SIGN_EXPIRES,
                "answer_deadline": answer_deadline != DEFAULT_ANSWER_DEADLINE, "retry_time": retry_time is not None,
                "max_attempts": max_attempts is not None, "sleep": sleep is not asyncio.sleep,
                "monotonic": monotonic is not time.monotonic,
            }  # fmt: skip
            self._transport = checked_transport(transport, self.endpoint, given, AsyncHttpTransport)
            return
        retry = policy_with(retry, retry_time=retry_time, max_attempts=max_attempts)
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

    # --- the two steps every method takes --------------------------------------------------------------

    async def _send(self, request: "_api.Request[T]", cancel: Optional[asyncio.Event] = None) -> T:
        return await self._transport.send(request.call, request.parse, cancel=cancel)

    async def _items(self, pager: "_api.Pager[Any, T]") -> AsyncIterator[T]:
        while True:
            request = pager.request()
            if request is None:
                return
            for item in pager.receive(await self._send(request)):
                yield item

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
        return await self._send(_api.initiate(key, resolve(options, locals())))

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
        cancel: Optional[asyncio.Event] = None,
    ) -> PartResult:
        """Upload one part (436/7750); arguments as for :meth:`CosClient.upload_part`.

        ``body`` is bytes-like, a seekable binary file (read in a thread, rewound before a retry) or an async
        body (``__len__`` and ``chunks()``, iterated afresh for each attempt). Once ``cancel`` is set no
        further attempt is made (:class:`~cos_multipart._protocol.errors.CosCancelledError`).
        """
        request = _api.upload_part(
            key, upload_id, part_number, body, content_length=content_length, content_md5=content_md5,
            traffic_limit=traffic_limit, sse_c=sse_c, psize_min=psize_min, psize_max=psize_max, async_bodies=True,
        )  # fmt: skip
        return await self._send(request, cancel)

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
        request = _api.complete(key, upload_id, parts, forbid_overwrite=forbid_overwrite, pnum_min=pnum_min, pnum_max=pnum_max)
        return await self._send(request)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> ResponseInfo:
        """Discard an upload and its parts (436/7740)."""
        return await self._send(_api.abort(key, upload_id))

    def list_parts(self, key: str, upload_id: str) -> AsyncIterator[PartInfo]:
        """Every uploaded part, ascending, fetching pages of 1000 as needed (436/7747): ``async for``."""
        return self._items(_api.PartsPager(key, upload_id))  # validated now, not at the first iteration

    def list_multipart_uploads(self, *, prefix: Optional[str] = None) -> AsyncIterator[UploadInfo]:
        """Every upload in progress (optionally under ``prefix``), fetching pages as needed: ``async for``."""
        return self._items(_api.UploadsPager(prefix))

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
        cancel: Optional[asyncio.Event] = None,
    ) -> ObjectResult:
        """Upload an object of at most 5 GB in one request (436/7749); as :meth:`CosClient.put_object`."""
        request = _api.put_object(
            key, body, resolve(options, locals()), content_length=content_length, content_md5=content_md5,
            traffic_limit=traffic_limit, forbid_overwrite=forbid_overwrite, async_bodies=True,
        )  # fmt: skip
        return await self._send(request, cancel)

    async def head_object(self, key: str, *, sse_c: EncryptionLike = None) -> ObjectResult:
        """An object's ETag, CRC64, size and headers (HEAD Object)."""
        return await self._send(_api.head_object(key, sse_c))

    async def get_object(
        self,
        key: str,
        *,
        byte_range: Optional[Tuple[int, Optional[int]]] = None,
        sse_c: EncryptionLike = None,
        cancel: Optional[asyncio.Event] = None,
        if_match: Optional[str] = None,
        traffic_limit: Optional[int] = None,
    ) -> AsyncObjectStream:
        """Open an object for reading, as :meth:`CosClient.get_object`: an
        :class:`~cos_multipart._io._streams.AsyncObjectStream` (``async for``, ``await read()``, ``async with``)."""
        request = _api.get_object(key, byte_range, sse_c, if_match, traffic_limit)
        return await self._transport.stream(request.call, request.parse, cancel=cancel)

    async def delete_object(self, key: str, *, version_id: Optional[str] = None) -> ResponseInfo:
        """Delete an object (DELETE Object); with ``version_id``, that version of it (versioned buckets)."""
        return await self._send(_api.delete_object(key, version_id))

    async def find_object(self, key: str, *, sse_c: EncryptionLike = None) -> Optional[ObjectResult]:
        """HEAD ``key``: its size, ETag, CRC-64 and headers, or ``None`` when no object has that key."""
        try:
            return await self.head_object(key, sse_c=sse_c)
        except CosServiceError as error:
            _api.absent(error)  # raises unless the answer was 404
        return None

    # --- listing and batch delete ------------------------------------------------------------------------

    async def list_objects_page(
        self,
        *,
        prefix: Optional[str] = None,
        delimiter: Optional[str] = None,
        marker: Optional[str] = None,
        max_keys: int = MAX_LIST_KEYS,
    ) -> ObjectsPage:
        """One page of List Objects (GET Bucket, 436/7734); as :meth:`CosClient.list_objects_page`."""
        return await self._send(_api.list_objects_page(prefix, delimiter, marker, max_keys))

    def list_object_pages(
        self,
        *,
        prefix: Optional[str] = None,
        delimiter: Optional[str] = None,
        marker: Optional[str] = None,
        max_keys: int = MAX_LIST_KEYS,
        max_pages: int = MAX_LIST_PAGES,
    ) -> AsyncIterator[ObjectsPage]:
        """Every page of List Objects, fetched as the caller iterates (``async for``); arguments and errors
        as for :meth:`CosClient.list_object_pages`."""
        return self._items(_api.ObjectPagesPager(prefix, delimiter, marker, max_keys, max_pages))

    def list_objects(
        self, prefix: Optional[str] = None, *, marker: Optional[str] = None, max_pages: int = MAX_LIST_PAGES
    ) -> AsyncIterator[ObjectSummary]:
        """Every object whose key starts with ``prefix``, ascending, fetching pages of 1000 as needed
        (``async for``)."""
        return self._items(_api.ObjectsPager(prefix, None, marker, MAX_LIST_KEYS, max_pages))

    async def delete_objects(self, keys: Iterable[str], *, quiet: bool = True) -> DeleteResult:
        """Delete ``keys`` with Delete Multiple Objects, 1000 per request (436/8289), as
        :meth:`CosClient.delete_objects` (every key validated before the first request)."""
        plan = _api.DeletePlan(keys, quiet)
        for batch, request in plan.batches:
            plan.took_batch(batch, await self._send(request))
        for key, single in plan.singles:
            try:
                info = await self._send(single)
                plan.took_single(key, info)
            except CosServiceError as error:
                plan.took_single(key, error)
        return plan.result()

    # --- server-side copy (PUT Object - Copy, Upload Part - Copy) --------------------------------------

    async def copy_object(
        self,
        key: str,
        *,
        source: CopySource,
        metadata_directive: MetadataDirective = "Copy",
        options: Optional[ObjectOptions] = None,
        source_if_match: Optional[str] = None,
        source_sse_c: EncryptionLike = None,
        traffic_limit: Optional[int] = None,
        forbid_overwrite: Optional[bool] = None,
    ) -> ObjectResult:
        """Copy ``source`` to ``key`` on the service side, in one request, up to 5 GB (OSS: 1 GB) (436/10881).

        Args:
            key: The destination key (in this client's bucket).
            source: The object copied: any bucket, region (COS) and version (:class:`CopySource`; its bucket
                and region default to this client's).
            metadata_directive: ``"Copy"`` keeps the source's content type and metadata; ``"Replaced"``
                takes ``options``' instead.
            options: The destination's options; with ``"Copy"`` only storage class, ACL, grants, tags and
                encryption (the content options are refused).
            source_if_match: Copy only while the source's ETag is this one (412 otherwise).
            source_sse_c: The source's SSE-C key, when it is encrypted with one (COS).
            traffic_limit: Bandwidth cap, bit/s.
            forbid_overwrite: Refuse (409) when ``key`` holds an object.

        Returns:
            The copy's ETag and CRC-64 (``size`` is ``None``: the answer does not say it).
        """
        request = _api.copy_object(
            key, source.resolved(self.bucket, self.region), options or ObjectOptions(), dialect=self.dialect,
            metadata_directive=metadata_directive, source_if_match=source_if_match, source_sse_c=source_sse_c,
            traffic_limit=traffic_limit, forbid_overwrite=forbid_overwrite,
        )  # fmt: skip
        return await self._send(request)

    async def upload_part_copy(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        source: CopySource,
        source_range: Optional[Tuple[int, int]] = None,
        source_if_match: Optional[str] = None,
        source_sse_c: EncryptionLike = None,
        sse_c: EncryptionLike = None,
        traffic_limit: Optional[int] = None,
        cancel: Optional[asyncio.Event] = None,
    ) -> PartResult:
        """Copy bytes ``source_range`` (``(first, last)``, inclusive; ``None``: all) of ``source`` as part
        ``part_number`` of ``upload_id`` (Upload Part - Copy, 436/8287; OSS UploadPartCopy).

        Args:
            key: The destination key (in this client's bucket).
            upload_id: From :meth:`initiate_multipart_upload`.
            part_number: 1 to 10000.
            source: The object copied (:class:`CopySource`).
            source_range: The bytes copied, ``(first, last)`` inclusive, at most 5 GB.
            source_if_match: Copy only while the source's ETag is this one (412 otherwise).
            source_sse_c: The source's SSE-C key (COS).
            sse_c: The SSE-C key the upload was initiated with.
            traffic_limit: Bandwidth cap, bit/s.
            cancel: As for :meth:`upload_part`.
        """
        request = _api.upload_part_copy(
            key, upload_id, part_number, source.resolved(self.bucket, self.region), dialect=self.dialect,
            source_range=source_range, source_if_match=source_if_match, source_sse_c=source_sse_c, sse_c=sse_c,
            traffic_limit=traffic_limit,
        )  # fmt: skip
        return await self._send(request, cancel)

    # --- URLs --------------------------------------------------------------------------------------------

    def object_url(self, key: str) -> str:
        """The unsigned URL of ``key`` (percent-encoded path)."""
        validate_key(key, max_bytes=self.dialect.max_key_bytes)
        return self.endpoint.url(key)

    async def presign(self, key: str, method: str = "GET", expires: int = DEFAULT_SIGN_EXPIRES) -> str:
        """A pre-signed URL for ``method`` on ``key``, valid ``expires`` seconds (1 to 604800: 7 days, see
        :data:`~cos_multipart._protocol.limits.MAX_PRESIGN_EXPIRES`); carries the STS token."""
        if not isinstance(method, str) or method.upper() not in PRESIGN_METHODS:
            raise CosValidationError("method", method, f"one of {', '.join(sorted(PRESIGN_METHODS))}")
        seconds = presign_expires(expires)
        validate_key(key, max_bytes=self.dialect.max_key_bytes)
        credentials = await self._transport.credentials()
        now = self._clock() + self._transport.clock_offset
        return self.dialect.presigner(credentials, self.endpoint, method.upper(), key, now, seconds)

    # --- presigned part URLs (issue 26) ---------------------------------------------------------------------

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires: int = DEFAULT_SIGN_EXPIRES,
        content_md5: Optional[str] = None, part_endpoint: Optional[str] = None,
    ) -> Tuple[str, dict[str, str]]:  # fmt: skip
        """A pre-signed ``PUT`` URL for part ``part_number`` of ``upload_id``, valid ``expires`` seconds (1 to
        604800), and the headers its user must send (``Content-MD5`` when given: then signed, and the service
        refuses other bytes; ``Host`` when the endpoint's host does not name the bucket). Carries the STS token.
        ``part_endpoint``: the base URL the part's sender reaches, when not the client's (a browser cannot send
        a ``Host`` header: give a host that names the bucket).
        """
        endpoint = self.endpoint
        if part_endpoint is not None:
            endpoint = Endpoint.build(self.bucket, self.region, part_endpoint, dialect=self.dialect)
        now = self._clock() + self._transport.clock_offset
        return sign_part_url(
            await self._transport.credentials(), endpoint, key, upload_id, part_number, now=now, expires=expires,
            content_md5=content_md5,
        )  # fmt: skip

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def transport(self) -> AsyncHttpTransport:
        """The transport (an :class:`~cos_multipart.aio.AsyncTransport` unless one was given)."""
        return self._transport

    def with_transport(self, transport: AsyncHttpTransport) -> "AsyncCosClient":
        """A client of the same bucket, endpoint, dialect and clock sending through ``transport``, as
        :meth:`CosClient.with_transport <cos_multipart._io.client.CosClient.with_transport>`."""
        view = copy.copy(self)
        view._transport = checked_transport(transport, self.endpoint, {}, AsyncHttpTransport)
        return view

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
