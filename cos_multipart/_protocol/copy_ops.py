"""Server-side copy, the pure requests: PUT Object - Copy and Upload Part - Copy (COS 436/10881, 436/8287),
CopyObject and UploadPartCopy (OSS), as builders (-> :class:`~cos_multipart._protocol.models.HttpCall`) and
parsers, in the style of :mod:`cos_multipart._protocol.operations`.

Headers are built with their neutral (``x-cos-*``) names and renamed by the dialect on the wire
(``x-oss-copy-source``...). The one thing a rename cannot do is the *form* of the source: COS names it by
host (``<bucket>.cos.<region>.myqcloud.com/<key>``), OSS by path (``/<bucket>/<key>``), so the builders take
the dialect to write it (:meth:`CopySource.header`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Literal, Mapping, Optional, Tuple
from urllib.parse import quote

from . import _xml, sse, validation
from .dialect import COS, Dialect
from .endpoint import validate_key
from .errors import CosValidationError
from .limits import ANY_MAX_KEY_BYTES, METADATA_DIRECTIVES
from .models import HttpCall, ObjectResult, PartResult
from .operations import (
    HEADER_CRC64,
    HEADER_FORBID_OVERWRITE,
    HEADER_TRAFFIC_LIMIT,
    HEADER_VERSION_ID,
    ObjectOptions,
    _parse_xml,
    _service_error,
    check_status,
    parse_crc64,
    response_info,
    sse_c_headers,
)

__all__ = [
    "CopySource", "MetadataDirective", "parse_copy_object", "parse_upload_part_copy", "prepare_copy_object",
    "prepare_upload_part_copy",
]  # fmt: skip

#: ``Copy``: the destination keeps the source's metadata; ``Replaced``: it takes the request's (436/10881).
MetadataDirective = Literal["Copy", "Replaced"]

HEADER_COPY_SOURCE = "x-cos-copy-source"
HEADER_COPY_SOURCE_RANGE = "x-cos-copy-source-range"
HEADER_COPY_SOURCE_IF_MATCH = "x-cos-copy-source-if-match"
HEADER_METADATA_DIRECTIVE = "x-cos-metadata-directive"
#: "x-cos-copy-source-server-side-encryption-customer-*" (436/10881, 436/8287): the source's SSE-C key.
SOURCE_SSE_C_PREFIX = "x-cos-copy-source-"
#: Options that describe the object's content: a ``Copy`` directive takes them from the source, so giving
#: one is a mistake (the service would ignore it silently).
_CONTENT_OPTIONS = ("content_type", "metadata", "cache_control", "content_disposition", "content_encoding", "expires")
#: The options of a copy that gives none (frozen: one value serves every call).
_NO_OPTIONS = ObjectOptions()
_CONTENT_HEADERS = ("content-type", "cache-control", "content-disposition", "content-encoding", "expires")


@dataclass(frozen=True)
class CopySource:
    """The object a copy reads: in the client's bucket or another one, in its region or another one.

    Attributes:
        key: The source object's key.
        bucket: Its bucket (``None``: the client's).
        region: Its region (``None``: the client's); COS names it in the source (cross-region copies),
            OSS copies within a region only.
        version_id: One version of it (versioned buckets), or ``None`` for the current one.

    Raises:
        CosValidationError: A key, bucket, region or version id that cannot be named.
    """

    key: str
    bucket: Optional[str] = None
    region: Optional[str] = None
    version_id: Optional[str] = None

    def __post_init__(self) -> None:
        validate_key(self.key, max_bytes=ANY_MAX_KEY_BYTES)
        for name in ("bucket", "region", "version_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value or not _plain(value)):
                raise CosValidationError(f"source {name}", value, "printable ASCII without '/', '?' or spaces, or None")

    def resolved(self, bucket: str, region: str) -> "CopySource":
        """This source with the client's ``bucket`` and ``region`` where it names none."""
        return CopySource(self.key, self.bucket or bucket, self.region or region, self.version_id)

    def header(self, dialect: Dialect = COS) -> str:
        """The ``x-cos-copy-source`` value (its bucket and region resolved first): COS
        ``<bucket>.cos.<region>.myqcloud.com/<key>``, OSS ``/<bucket>/<key>``; the key URL-encoded
        (``/`` kept), ``?versionId=`` when one is named.

        Raises:
            CosValidationError: The bucket (or COS's region) is not resolved.
        """
        if self.bucket is None or (dialect.name == COS.name and self.region is None):
            raise CosValidationError("source", self, "a source with its bucket and region resolved (CopySource.resolved)")
        path = quote(self.key, safe="/-_.~")
        if dialect.name == COS.name:
            value = f"{dialect.host_template.format(bucket=self.bucket, region=self.region)}/{path}"
        else:
            value = f"/{self.bucket}/{path}"
        if self.version_id is not None:
            value += "?versionId=" + quote(self.version_id, safe="")
        return value

    def __str__(self) -> str:
        where = f"{self.bucket}/" if self.bucket else ""
        return where + self.key + (f"?versionId={self.version_id}" if self.version_id else "")


def _plain(value: str) -> bool:
    return value.isascii() and value.isprintable() and not any(c in value for c in "/? ")


def _source_headers(
    source: CopySource, dialect: Dialect, if_match: Optional[str], source_sse_c: sse.EncryptionLike
) -> Dict[str, str]:
    headers = {HEADER_COPY_SOURCE: source.header(dialect)}
    if if_match is not None:
        headers[HEADER_COPY_SOURCE_IF_MATCH] = validation.header_value("source_if_match", if_match)
    for name, value in sse_c_headers(source_sse_c, "source_sse_c").items():
        headers[SOURCE_SSE_C_PREFIX + name[len("x-cos-") :]] = value
    return headers


def _directive_headers(directive: str, options: ObjectOptions) -> Dict[str, str]:
    """The destination's headers: all of ``options`` with ``Replaced``; with ``Copy`` only those that are not
    the content's (storage class, ACL, tags, encryption), the content options refused."""
    if directive not in METADATA_DIRECTIVES:
        raise CosValidationError("metadata_directive", directive, f"one of {', '.join(METADATA_DIRECTIVES)} (436/10881)")
    headers = options.headers()
    if directive == "Replaced":
        return headers
    for name in _CONTENT_OPTIONS:
        if getattr(options, name) is not None:
            raise CosValidationError(name, getattr(options, name), "only with metadata_directive='Replaced' (Copy keeps the source's)")
    return {name: value for name, value in headers.items() if name.lower() not in _CONTENT_HEADERS and not name.lower().startswith("x-cos-meta-")}


# --- PUT Object - Copy -------------------------------------------------------------------------------------


def prepare_copy_object(
    key: str,
    source: CopySource,
    *,
    dialect: Dialect = COS,
    metadata_directive: str = "Copy",
    options: ObjectOptions = _NO_OPTIONS,
    source_if_match: Optional[str] = None,
    source_sse_c: sse.EncryptionLike = None,
    traffic_limit: Optional[int] = None,
    forbid_overwrite: Optional[bool] = None,
) -> HttpCall:
    """``PUT /<key>`` with ``x-cos-copy-source`` (436/10881; OSS CopyObject)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    headers = _directive_headers(metadata_directive, options)
    headers[HEADER_METADATA_DIRECTIVE] = metadata_directive
    headers.update(_source_headers(source, dialect, source_if_match, source_sse_c))
    if traffic_limit is not None:
        headers[HEADER_TRAFFIC_LIMIT] = str(validation.traffic_limit(traffic_limit))
    if forbid_overwrite is not None:
        if not isinstance(forbid_overwrite, bool):
            raise CosValidationError("forbid_overwrite", forbid_overwrite, "True, False or None")
        headers[HEADER_FORBID_OVERWRITE] = "true" if forbid_overwrite else "false"
    headers["Content-Length"] = "0"
    return HttpCall("PUT", key, (), tuple(headers.items()), None, 0)


def _copy_answer(status: int, headers: Mapping[str, str], body: bytes, root_name: str) -> Tuple[str, Optional[int]]:
    """``(ETag, CRC-64)`` of a copy's XML answer (the CRC-64 header first, else the body's ``<CRC64>``); an
    ``<Error>`` in a 200 raises the service error."""
    check_status(status, headers, body)
    parsed = _parse_xml(status, headers, lambda data: _xml.parse_copy_result(data, root_name), body)
    if isinstance(parsed, _xml.ErrorBody):
        raise _service_error(status, headers, body, parsed)
    info = response_info(status, headers)
    crc = parse_crc64(info.headers.get(HEADER_CRC64) or parsed.crc64 or None, status=status, request_id=info.request_id)
    return parsed.etag, crc


def parse_copy_object(status: int, headers: Mapping[str, str], body: bytes, *, key: str) -> ObjectResult:
    """PUT Object - Copy's answer: ``<CopyObjectResult>`` (ETag, CRC64), version id; ``size`` unknown (``None``)."""
    etag, crc = _copy_answer(status, headers, body, "CopyObjectResult")
    info = response_info(status, headers)
    return ObjectResult(key=key, etag=etag, crc64=crc, size=None, version_id=info.headers.get(HEADER_VERSION_ID), response=info)


# --- Upload Part - Copy ------------------------------------------------------------------------------------


def prepare_upload_part_copy(
    key: str,
    upload_id: str,
    part_number: int,
    source: CopySource,
    *,
    dialect: Dialect = COS,
    source_range: Optional[Tuple[int, int]] = None,
    source_if_match: Optional[str] = None,
    source_sse_c: sse.EncryptionLike = None,
    sse_c: sse.EncryptionLike = None,
    traffic_limit: Optional[int] = None,
) -> HttpCall:
    """``PUT /<key>?partNumber=<n>&uploadId=<id>`` with ``x-cos-copy-source`` and ``x-cos-copy-source-range:
    bytes=first-last`` (436/8287; OSS UploadPartCopy). ``source_range`` is ``(first, last)``, inclusive."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    validation.upload_id(upload_id)
    number = validation.part_number(part_number)
    headers = _source_headers(source, dialect, source_if_match, source_sse_c)
    if source_range is not None:
        first, last = source_range if isinstance(source_range, tuple) and len(source_range) == 2 else (None, None)
        if first is None or last is None:
            raise CosValidationError("source_range", source_range, "(first, last) byte offsets, inclusive")
        text = validation.byte_range((first, last), "source_range")
        validation.part_size(int(last) - int(first) + 1, "source_range")
        headers[HEADER_COPY_SOURCE_RANGE] = str(text)
    if traffic_limit is not None:
        headers[HEADER_TRAFFIC_LIMIT] = str(validation.traffic_limit(traffic_limit))
    headers.update(sse_c_headers(sse_c))
    headers["Content-Length"] = "0"
    return HttpCall("PUT", key, (("partNumber", str(number)), ("uploadId", upload_id)), tuple(headers.items()), None, 0)


def parse_upload_part_copy(status: int, headers: Mapping[str, str], body: bytes, *, part_number: int, size: int) -> PartResult:
    """Upload Part - Copy's answer: ``<CopyPartResult>`` (ETag) and the part's ``x-cos-hash-crc64ecma``."""
    etag, crc = _copy_answer(status, headers, body, "CopyPartResult")
    return PartResult(part_number, etag, crc, size, response_info(status, headers))
