"""``CosClient``: one method per COS API the multipart workflow needs, validated, signed, retried, typed.

Every method is the same four steps: validate and build the request (:mod:`cos_multipart._protocol.operations`,
pure), send it (:mod:`cos_multipart._io.transport`, or any :class:`~cos_multipart._io._transports.HttpTransport`
given as ``transport=``), and parse the answer into a typed result. Invalid arguments raise
:class:`~cos_multipart._protocol.errors.CosValidationError` before anything is sent. Each method is a one-line
delegation to the table of operations (:mod:`cos_multipart._io._api`), which
:class:`~cos_multipart.aio.AsyncCosClient` delegates to as well: the two cannot drift
(``tests/test_client_parity.py``).

Example::

    from cos_multipart._io.client import CosClient

    with CosClient(bucket="examplebucket-1250000000", region="ap-guangzhou") as client:
        upload = client.initiate_multipart_upload("videos/a.mp4", content_type="video/mp4")
        part = client.upload_part("videos/a.mp4", upload.upload_id, 1, b"...")
        client.complete_multipart_upload("videos/a.mp4", upload.upload_id, [part])
"""

from __future__ import annotations

import copy
import threading
import time
from types import TracebackType
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Tuple, Type, TypeVar, Union

from . import _api
from ._api import MAX_LIST_PAGES
from ._streams import ObjectStream
from ._transports import HttpTransport
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
from .transport import (
    DEFAULT_ANSWER_DEADLINE, DEFAULT_BLOCKSIZE, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, Timeout, Transport, validate_timeout,
)
from .._protocol.validation import PartLike, positive_int

__all__ = ["MAX_LIST_PAGES", "PRESIGN_METHODS", "CosClient"]

T = TypeVar("T")
#: Methods a pre-signed URL may be made for.
PRESIGN_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})


class CosClient:
    """A client for one COS bucket.

    Args:
        bucket: ``<BucketName>-<APPID>``, e.g. ``"examplebucket-1250000000"``.
        region: e.g. ``"ap-guangzhou"``.
        credentials: :class:`~cos_multipart._protocol.credentials.Credentials`, a callable returning them (called for
            every request signed), or ``None`` to read ``COS_SECRET_ID``/``COS_SECRET_KEY`` now.
        endpoint: ``None`` for ``https://<bucket>.cos.<region>.myqcloud.com``; or where to connect, a base
            URL with its scheme such as ``"http://127.0.0.1:9000"`` (the local server). Requests still name
            the bucket: unless the endpoint's host starts with ``<bucket>.``, they carry the bucket's
            default host as their (signed) ``Host`` header, as the official SDKs do for an IP endpoint.
        retry: Retry policy (:class:`~cos_multipart._protocol.retry.RetryPolicy`; by default a request is retried for up
            to 60 s after its first failure, see docs/client.md).
        retry_time: Seconds a request may go on retrying after its first failure (the policy's
            ``retry_time``; 0 disables retries); ``None`` keeps ``retry``'s.
        max_attempts: Tries per request in all (the policy's ``max_attempts``); ``None`` keeps ``retry``'s.
        sleep: How backoff waits are slept (tests inject one with ``monotonic``).
        monotonic: The clock ``retry_time`` is counted on.
        timeout: Seconds, or ``(connect, read)``; ``None`` waits forever. The read timeout is the longest
            pause allowed while reading an answer or writing a request body.
        answer_deadline: Seconds an attempt may take to deliver its whole answer once its request is written
            (180 by default; ``None``: no limit). A trickling answer resets the read timeout with every byte;
            this ends it, as a timeout that the retry policy retries. Streamed GET bodies are not covered.
        pool_size: HTTP connections kept; use the number of threads that share the client.
        proxies: ``requests``-style proxies, e.g. ``{"https": "http://proxy:3128"}``.
        verify: TLS certificate verification: ``True`` (the CA bundle named by ``REQUESTS_CA_BUNDLE``,
            ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``, else certifi's), ``False``, or a CA bundle path.
        sign_expires: Seconds each request signature stays valid.
        blocksize: Bytes per socket write of request bodies.

        dialect: ``None`` or ``"cos"`` for Tencent COS; ``"oss"`` (or :data:`cos_multipart._protocol.dialect.OSS`) for
            Aliyun OSS: ``x-oss-*`` headers, signature V4, ``<bucket>.oss-<region>.aliyuncs.com``, credentials
            from ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET``/``OSS_SESSION_TOKEN`` (see docs/oss.md).
        transport: Send requests through this :class:`~cos_multipart._io._transports.HttpTransport` (for the
            same endpoint) instead of a :class:`~cos_multipart._io.transport.Transport` made from the arguments
            above; it carries its own credentials and connection settings, so those arguments are then left
            out. Typically a wrapper of another client's ``transport`` (see :meth:`with_transport`).

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
        verify: Union[bool, str] = True,
        sign_expires: int = DEFAULT_SIGN_EXPIRES,
        blocksize: int = DEFAULT_BLOCKSIZE,
        clock: Callable[[], float] = time.time,
        answer_deadline: Optional[float] = DEFAULT_ANSWER_DEADLINE,
        dialect: DialectLike = None,
        retry_time: Optional[float] = None,
        max_attempts: Optional[int] = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        transport: Optional[HttpTransport] = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        #: The service spoken (:data:`cos_multipart._protocol.dialect.COS` unless ``dialect="oss"``).
        self.dialect = dialect_of(dialect)
        self.endpoint = Endpoint.build(bucket, region, endpoint, dialect=self.dialect)
        self._clock = clock
        self._transport: HttpTransport
        if transport is not None:
            given = {
                "credentials": credentials is not None, "retry": retry is not None, "timeout": timeout != DEFAULT_TIMEOUT,
                "pool_size": pool_size != DEFAULT_POOL_SIZE, "proxies": proxies is not None, "verify": verify is not True,
                "sign_expires": sign_expires != DEFAULT_SIGN_EXPIRES, "blocksize": blocksize != DEFAULT_BLOCKSIZE,
                "answer_deadline": answer_deadline != DEFAULT_ANSWER_DEADLINE, "retry_time": retry_time is not None,
                "max_attempts": max_attempts is not None, "sleep": sleep is not time.sleep,
                "monotonic": monotonic is not time.monotonic,
            }  # fmt: skip
            self._transport = checked_transport(transport, self.endpoint, given, HttpTransport)
            return
        retry = policy_with(retry, retry_time=retry_time, max_attempts=max_attempts)
        self._transport = Transport(
            self.endpoint,
            credentials,
            retry=retry,
            timeout=validate_timeout(timeout),
            pool_size=positive_int(pool_size, "pool_size"),
            proxies=proxies,
            verify=verify,
            blocksize=positive_int(blocksize, "blocksize"),
            sign_expires=positive_int(sign_expires, "sign_expires"),
            clock=clock,
            answer_deadline=None if answer_deadline is None else validate_timeout(answer_deadline, "answer_deadline"),  # type: ignore[arg-type]
            sleep=sleep,
            monotonic=monotonic,
        )

    # --- the two steps every method takes --------------------------------------------------------------

    def _send(self, request: "_api.Request[T]", cancel: Optional[threading.Event] = None) -> T:
        return self._transport.send(request.call, request.parse, cancel=cancel)

    def _items(self, pager: "_api.Pager[Any, T]") -> Iterator[T]:
        while True:
            request = pager.request()
            if request is None:
                return
            yield from pager.receive(self._send(request))

    # --- multipart ---------------------------------------------------------------------------------------

    def initiate_multipart_upload(
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
        """Start a multipart upload (436/7746); the options are stored with the final object.

        Args:
            key: Object key.
            options: How the object is stored (:class:`~cos_multipart._protocol.options.ObjectOptions`).
            content_type: Sugar: each keyword option is the :class:`~cos_multipart._protocol.options.ObjectOptions`
                field of the same name (``content_type``, ``metadata``, ``acl``, ``storage_class``,
                ``tagging``, ``encryption``, ``cache_control``, ``content_disposition``,
                ``content_encoding``, ``expires``, ``grant_*``); give them or ``options``, not both.

        Raises:
            CosValidationError: An invalid option, or ``options`` and a keyword option both given.
        """
        return self._send(_api.initiate(key, resolve(options, locals())))

    def upload_part(
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
        cancel: Optional[threading.Event] = None,
    ) -> PartResult:
        """Upload one part (436/7750).

        Args:
            key: Object key.
            upload_id: From :meth:`initiate_multipart_upload`.
            part_number: 1 to 10000.
            body: Bytes-like, or a seekable binary file read from its current position (rewound there
                before a retry).
            content_length: Bytes to send from ``body``: required for a file object without ``__len__``
                (its length is never measured by seeking); default ``len(body)``.
            content_md5: Base64 MD5 of the part; COS refuses the part if it differs.
            traffic_limit: Bandwidth cap, bit/s, 819200 to 838860800.
            sse_c: The SSE-C key the upload was initiated with (required then, refused otherwise by COS).
            psize_min: Refuse the part below this many bytes.
            psize_max: Refuse the part above this many bytes.
            cancel: When set (from another thread), retries stop and :class:`CosCancelledError` is raised;
                with :meth:`abort_connections` (``cancel=`` the same event) a request waiting for its
                answer stops at once too, and requests of other events are left alone.
        """
        request = _api.upload_part(
            key, upload_id, part_number, body, content_length=content_length, content_md5=content_md5,
            traffic_limit=traffic_limit, sse_c=sse_c, psize_min=psize_min, psize_max=psize_max,
        )  # fmt: skip
        return self._send(request, cancel)

    def complete_multipart_upload(
        self,
        key: str,
        upload_id: str,
        parts: Iterable[PartLike],
        *,
        forbid_overwrite: Optional[bool] = None,
        pnum_min: Optional[int] = None,
        pnum_max: Optional[int] = None,
    ) -> CompleteResult:
        """Assemble the uploaded parts into the object (436/7742).

        Args:
            key: Object key.
            upload_id: The upload.
            parts: :class:`~cos_multipart._protocol.models.CompletedPart`, :class:`~cos_multipart._protocol.models.PartResult`
                or ``(number, etag)``, in strictly ascending part-number order.
            forbid_overwrite: ``True`` refuses to replace an existing object (unversioned buckets).
            pnum_min: Refuse fewer parts.
            pnum_max: Refuse more parts.

        Raises:
            CosServiceError: Also for a 200 answer whose body is an ``<Error>``.
        """
        request = _api.complete(key, upload_id, parts, forbid_overwrite=forbid_overwrite, pnum_min=pnum_min, pnum_max=pnum_max)
        return self._send(request)

    def abort_multipart_upload(self, key: str, upload_id: str) -> ResponseInfo:
        """Discard an upload and its parts (436/7740)."""
        return self._send(_api.abort(key, upload_id))

    def list_parts(self, key: str, upload_id: str) -> Iterator[PartInfo]:
        """Every uploaded part of an upload, ascending, fetching pages of 1000 as needed (436/7747)."""
        return self._items(_api.PartsPager(key, upload_id))  # validated now, not at the first next()

    def list_multipart_uploads(self, *, prefix: Optional[str] = None) -> Iterator[UploadInfo]:
        """Every upload in progress (optionally under ``prefix``), fetching pages as needed (436/7736)."""
        return self._items(_api.UploadsPager(prefix))

    # --- simple objects ----------------------------------------------------------------------------------

    def put_object(
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
        cancel: Optional[threading.Event] = None,
    ) -> ObjectResult:
        """Upload an object of at most 5 GB in one request (436/7749).

        ``options`` (or the keyword options, not both) as for :meth:`initiate_multipart_upload`;
        ``content_length``, ``content_md5`` and ``traffic_limit`` as for :meth:`upload_part`;
        ``forbid_overwrite=True`` refuses to replace an existing object; ``cancel`` works as for
        :meth:`upload_part`.
        """
        request = _api.put_object(
            key, body, resolve(options, locals()), content_length=content_length, content_md5=content_md5,
            traffic_limit=traffic_limit, forbid_overwrite=forbid_overwrite,
        )  # fmt: skip
        return self._send(request, cancel)

    def head_object(self, key: str, *, sse_c: EncryptionLike = None) -> ObjectResult:
        """An object's ETag, CRC64, size and headers (HEAD Object)."""
        return self._send(_api.head_object(key, sse_c))

    def get_object(
        self,
        key: str,
        *,
        byte_range: Optional[Tuple[int, Optional[int]]] = None,
        sse_c: EncryptionLike = None,
        cancel: Optional[threading.Event] = None,
        if_match: Optional[str] = None,
        traffic_limit: Optional[int] = None,
    ) -> ObjectStream:
        """Open an object for reading: its head parsed, its body streamed as the caller reads it.

        Args:
            key: Object key.
            byte_range: ``(first, last)`` inclusive, or ``(first, None)``.
            sse_c: The object's SSE-C key.
            cancel: As for :meth:`upload_part` (until the answer's head has arrived).
            if_match: Answer only if the object's ETag is this one (else 412 ``PreconditionFailed``): pins
                every range of a download to the object its HEAD saw.
            traffic_limit: The service's pacing of the body, bit/s (819200..838860800).

        Returns:
            An :class:`~cos_multipart._io._streams.ObjectStream`: ``result`` (size, ETag, CRC-64, version,
            headers), ``read()``, ``iter_chunks()``, iteration; close it (``with`` does).
        """
        request = _api.get_object(key, byte_range, sse_c, if_match, traffic_limit)
        return self._transport.stream(request.call, request.parse, cancel=cancel)

    def delete_object(self, key: str, *, version_id: Optional[str] = None) -> ResponseInfo:
        """Delete an object (DELETE Object); with ``version_id``, that version of it (versioned buckets)."""
        return self._send(_api.delete_object(key, version_id))

    def find_object(self, key: str, *, sse_c: EncryptionLike = None) -> Optional[ObjectResult]:
        """HEAD ``key``: its size, ETag, CRC-64 and headers, or ``None`` when no object has that key."""
        try:
            return self.head_object(key, sse_c=sse_c)
        except CosServiceError as error:
            _api.absent(error)  # raises unless the answer was 404
        return None

    # --- listing and batch delete ------------------------------------------------------------------------

    def list_objects_page(
        self,
        *,
        prefix: Optional[str] = None,
        delimiter: Optional[str] = None,
        marker: Optional[str] = None,
        max_keys: int = MAX_LIST_KEYS,
    ) -> ObjectsPage:
        """One page of List Objects (GET Bucket, 436/7734); arguments as for :meth:`list_object_pages`."""
        return self._send(_api.list_objects_page(prefix, delimiter, marker, max_keys))

    def list_object_pages(
        self,
        *,
        prefix: Optional[str] = None,
        delimiter: Optional[str] = None,
        marker: Optional[str] = None,
        max_keys: int = MAX_LIST_KEYS,
        max_pages: int = MAX_LIST_PAGES,
    ) -> Iterator[ObjectsPage]:
        """Every page of List Objects, fetched as the caller iterates.

        Args:
            prefix: Only keys starting with it.
            delimiter: Roll keys up to the first ``delimiter`` after the prefix into ``common_prefixes``.
            marker: Start after this key.
            max_keys: Entries per page, 1..1000.
            max_pages: Stop with :class:`CosResponseError` after this many pages (a runaway listing).

        Raises:
            CosResponseError: A truncated page whose marker does not move forward, or too many pages.
        """
        return self._items(_api.ObjectPagesPager(prefix, delimiter, marker, max_keys, max_pages))

    def list_objects(
        self, prefix: Optional[str] = None, *, marker: Optional[str] = None, max_pages: int = MAX_LIST_PAGES
    ) -> Iterator[ObjectSummary]:
        """Every object whose key starts with ``prefix``, ascending, fetching pages of 1000 as needed."""
        return self._items(_api.ObjectsPager(prefix, None, marker, MAX_LIST_KEYS, max_pages))

    def delete_objects(self, keys: Iterable[str], *, quiet: bool = True) -> DeleteResult:
        """Delete ``keys`` with Delete Multiple Objects, 1000 per request (436/8289).

        Every key is validated before the first request. ``quiet`` asks COS to report failures only (then
        ``deleted`` lists the keys of the batches that reported none). A key COS refuses is in ``failed``;
        a request that fails raises as usual, after the batches before it were deleted. A key with a control
        character is deleted by its own DELETE Object: the XML body cannot carry it (XML 1.0 has no way to
        write most of them, and a parser reads a carriage return as a line feed).
        """
        plan = _api.DeletePlan(keys, quiet)
        for batch, request in plan.batches:
            plan.took_batch(batch, self._send(request))
        for key, single in plan.singles:
            try:
                plan.took_single(key, self._send(single))
            except CosServiceError as error:
                plan.took_single(key, error)
        return plan.result()

    # --- server-side copy (PUT Object - Copy, Upload Part - Copy) --------------------------------------

    def copy_object(
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
        return self._send(request)

    def upload_part_copy(
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
        cancel: Optional[threading.Event] = None,
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
        return self._send(request, cancel)

    # --- URLs --------------------------------------------------------------------------------------------

    def object_url(self, key: str) -> str:
        """The unsigned URL of ``key`` (percent-encoded path)."""
        validate_key(key, max_bytes=self.dialect.max_key_bytes)
        return self.endpoint.url(key)

    def presign(self, key: str, method: str = "GET", expires: int = DEFAULT_SIGN_EXPIRES) -> str:
        """A pre-signed URL for ``method`` on ``key``, valid ``expires`` seconds (1 to 604800: 7 days, see
        :data:`~cos_multipart._protocol.limits.MAX_PRESIGN_EXPIRES`); carries the STS token."""
        if not isinstance(method, str) or method.upper() not in PRESIGN_METHODS:
            raise CosValidationError("method", method, f"one of {', '.join(sorted(PRESIGN_METHODS))}")
        seconds = presign_expires(expires)
        validate_key(key, max_bytes=self.dialect.max_key_bytes)
        now = self._clock() + self._transport.clock_offset
        return self.dialect.presigner(self._transport.credentials(), self.endpoint, method.upper(), key, now, seconds)

    # --- presigned part URLs (issue 26) ---------------------------------------------------------------------

    def presign_part(
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
            self._transport.credentials(), endpoint, key, upload_id, part_number, now=now, expires=expires,
            content_md5=content_md5,
        )  # fmt: skip

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def transport(self) -> HttpTransport:
        """The transport (a :class:`~cos_multipart._io.transport.Transport` unless one was given)."""
        return self._transport

    def with_transport(self, transport: HttpTransport) -> "CosClient":
        """A client of the same bucket, endpoint, dialect and clock sending through ``transport``.

        ``transport`` is usually a wrapper of this client's :attr:`transport` (one that counts requests,
        or holds a slot around each); closing the new client closes ``transport``, so a wrapper that
        shares this client's connections makes its ``close`` a no-op.

        Raises:
            CosValidationError: ``transport`` is not a transport, or is one for another endpoint.
        """
        view = copy.copy(self)
        view._transport = checked_transport(transport, self.endpoint, {}, HttpTransport)
        return view

    def ensure_pool_size(self, size: int) -> None:
        """Keep at least ``size`` pooled connections, so ``size`` threads can share this client in parallel."""
        self._transport.ensure_pool_size(positive_int(size, "pool_size"))

    def abort_connections(self, cancel: Optional[threading.Event] = None) -> int:
        """Shut down connections of this client, including those waiting for an answer.

        Used to cancel promptly. With ``cancel``, only the connections carrying requests given that event
        (one upload's scope) are shut down: other threads' requests on this client are untouched. Without
        it, every connection is, and requests in flight on any thread fail at once with a connection
        error, retried as usual. A request whose ``cancel`` event is set is not retried: set the event
        first, then call this. Returns the number of connections shut down.
        """
        return self._transport.abort_connections(cancel)

    def close(self) -> None:
        """Release the connection pool."""
        self._transport.close()

    def __enter__(self) -> "CosClient":
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CosClient(bucket={self.bucket!r}, region={self.region!r}, endpoint={self.endpoint.base_url!r})"


TransportT = TypeVar("TransportT")


def checked_transport(transport: TransportT, endpoint: Endpoint, given: Mapping[str, bool], kind: Any) -> TransportT:
    """``transport``, once it is one (``kind``), talks to ``endpoint``, and comes with no connection argument
    (``given``: argument name -> whether it was set) that it would silently ignore."""
    if not isinstance(transport, kind):
        raise CosValidationError("transport", type(transport).__name__, f"an object with the members of {kind.__name__}")
    for name, set_too in given.items():
        if set_too:
            raise CosValidationError(name, "given", "left out with transport= (the transport has its own)")
    if transport.endpoint != endpoint:
        raise CosValidationError(
            "transport", transport.endpoint.base_url, f"a transport for {endpoint.base_url} (the client's endpoint)"
        )
    return transport
