"""Typed values passed between the layers: what the client returns, what the uploader hands over.

All are frozen dataclasses. ``crc64`` fields are the decimal ``x-cos-hash-crc64ecma`` header parsed as an
unsigned int (``None`` when COS sent none); ``etag`` fields keep the quotes COS sent.
"""

from __future__ import annotations

import datetime
import types
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple


@dataclass(frozen=True)
class ResponseInfo:
    """What every response carries.

    Attributes:
        status: HTTP status.
        request_id: ``x-cos-request-id``.
        headers: Response headers with lowercase names (SSE echoes, version id, ...).
        attempts: How many times the request was sent before this answer (retries made by the transport). For
            a request that is not idempotent (Initiate) more than one means an earlier attempt may have done
            its work with its answer lost.
    """

    status: int
    request_id: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    attempts: int = 1


@dataclass(frozen=True)
class InitiateResult:
    """Initiate Multipart Upload's answer."""

    bucket: str
    key: str
    upload_id: str
    response: ResponseInfo

    @property
    def request_id(self) -> str:
        """``x-cos-request-id`` of the response."""
        return self.response.request_id


@dataclass(frozen=True)
class PartResult:
    """Upload Part's answer.

    Attributes:
        part_number: The part number sent.
        etag: The ``ETag`` header, quotes included (the value Complete wants).
        crc64: ``x-cos-hash-crc64ecma`` of the part, or ``None`` if absent.
        size: Bytes sent.
        response: Status, request id and headers.
    """

    part_number: int
    etag: str
    crc64: Optional[int]
    size: int
    response: ResponseInfo

    @property
    def request_id(self) -> str:
        """``x-cos-request-id`` of the response."""
        return self.response.request_id


@dataclass(frozen=True)
class CompletedPart:
    """A part as listed in Complete Multipart Upload's body."""

    part_number: int
    etag: str


@dataclass(frozen=True)
class CompleteResult:
    """Complete Multipart Upload's answer.

    Attributes:
        location: ``<Location>``.
        bucket: ``<Bucket>``.
        key: ``<Key>``.
        etag: ``<ETag>`` of the object (``"<hex>-<parts>"``, opaque).
        crc64: ``x-cos-hash-crc64ecma`` of the whole object, or ``None``.
        version_id: ``x-cos-version-id`` when versioning is on.
        response: Status, request id and headers.
    """

    location: str
    bucket: str
    key: str
    etag: str
    crc64: Optional[int]
    version_id: Optional[str]
    response: ResponseInfo

    @property
    def request_id(self) -> str:
        """``x-cos-request-id`` of the response."""
        return self.response.request_id


@dataclass(frozen=True)
class PartInfo:
    """One ``<Part>`` of List Parts; ``crc64`` is OSS's ``<HashCrc64ecma>`` (COS lists none: ``None``)."""

    part_number: int
    etag: str
    size: int
    last_modified: Optional[datetime.datetime] = None
    crc64: Optional[int] = None


@dataclass(frozen=True)
class UploadInfo:
    """One ``<Upload>`` of List Multipart Uploads."""

    key: str
    upload_id: str
    initiated: Optional[datetime.datetime] = None
    storage_class: str = ""


@dataclass(frozen=True)
class ObjectResult:
    """PUT Object / HEAD Object answer (single-request uploads and read-back)."""

    key: str
    etag: str
    crc64: Optional[int]
    size: Optional[int]
    version_id: Optional[str]
    response: ResponseInfo

    @property
    def request_id(self) -> str:
        """``x-cos-request-id`` of the response."""
        return self.response.request_id

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers, lowercase names (``response.headers``), as a read-only mapping."""
        return types.MappingProxyType(dict(self.response.headers))


@dataclass(frozen=True)
class ObjectSummary:
    """One ``<Contents>`` entry of List Objects.

    Attributes:
        key: Object key (decoded).
        size: Bytes.
        etag: ``<ETag>``, quotes kept.
        last_modified: Aware UTC datetime, or ``None`` when absent or unreadable.
        storage_class: ``<StorageClass>`` upper-cased, ``""`` if absent.
        crc64: The object's CRC-64 when the listing carries it (``<HashCrc64Ecma>``), else ``None``
            (then HEAD Object gives it).
    """

    key: str
    size: int
    etag: str
    last_modified: Optional[datetime.datetime] = None
    storage_class: str = ""
    crc64: Optional[int] = None


@dataclass(frozen=True)
class ObjectsPage:
    """One page of List Objects.

    Attributes:
        objects: The ``<Contents>`` entries in the order received (ascending keys).
        common_prefixes: ``<CommonPrefixes>`` (with a delimiter: the "folders" one level down).
        is_truncated: More entries follow.
        next_marker: ``<NextMarker>`` (``""`` when absent: then the last key or prefix is the marker).
    """

    objects: Tuple[ObjectSummary, ...]
    common_prefixes: Tuple[str, ...]
    is_truncated: bool
    next_marker: str = ""


@dataclass(frozen=True)
class DeleteFailure:
    """One ``<Error>`` of Delete Multiple Objects: the key COS did not delete, and why."""

    key: str
    code: str
    message: str = ""


@dataclass(frozen=True)
class DeleteResult:
    """Delete Multiple Objects' answer, over every batch sent.

    Attributes:
        deleted: Keys COS reports deleted (empty in quiet mode, which reports failures only).
        failed: Keys COS did not delete.
        request_ids: ``x-cos-request-id`` of each batch.
    """

    deleted: Tuple[str, ...] = ()
    failed: Tuple[DeleteFailure, ...] = ()
    request_ids: Tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class HttpCall:
    """A request described as plain data, before signing and I/O (the sans-I/O boundary).

    Attributes:
        method: HTTP method.
        key: Object key (decoded), ``""`` for service-level requests on the bucket (``/``).
        params: Query parameters in order; ``None`` values are bare names (``?uploads``).
        headers: Request headers as they will be sent (``Content-Length`` included when there is a body).
        body: ``bytes`` or a rewindable file-like object with a known length, or ``None``.
        content_length: Bytes of ``body`` to send (0 without a body); the builder sets it together with the
            ``Content-Length`` header, so nothing downstream parses the header back.
    """

    method: str
    key: str
    params: Tuple[Tuple[str, Optional[str]], ...] = ()
    headers: Tuple[Tuple[str, str], ...] = ()
    body: object = field(default=None, repr=False)
    content_length: int = 0
