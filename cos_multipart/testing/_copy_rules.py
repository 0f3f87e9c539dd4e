"""The pure rules of server-side copy, per service: where ``x-cos-copy-source`` / ``x-oss-copy-source`` points,
which bytes a ``copy-source-range`` selects, and the result bodies.

COS: PUT Object - Copy (436/10881) and Upload Part - Copy (436/8287). OSS: CopyObject and UploadPartCopy
[oss-api 3]. Values arrive in the server's internal vocabulary (OSS's ``x-oss-copy-*`` headers renamed to
``x-cos-copy-*`` by :func:`.oss_protocol.inbound`), but each service's copy source keeps its own form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional, Tuple
from urllib.parse import parse_qsl, unquote

from lxml import etree

from . import _limits as limits
from .protocol import ServiceError, _element, _serialize, invalid_argument, iso_time

COPY_SOURCE_HEADER = "x-cos-copy-source"
COPY_SOURCE_RANGE_HEADER = "x-cos-copy-source-range"
METADATA_DIRECTIVE_HEADER = "x-cos-metadata-directive"
#: "x-cos-metadata-directive: Copy | Replaced, default Copy" (436/10881); OSS's COPY | REPLACE map onto them.
COPY_DIRECTIVE = "Copy"
REPLACE_DIRECTIVE = "Replaced"
#: SSE-C of the copy source: "x-cos-copy-source-server-side-encryption-customer-*" (436/10881, 436/8287).
SOURCE_SSE_C_ALGORITHM_HEADER = "x-cos-copy-source-server-side-encryption-customer-algorithm"
SOURCE_SSE_C_KEY_HEADER = "x-cos-copy-source-server-side-encryption-customer-key"
SOURCE_SSE_C_KEY_MD5_HEADER = "x-cos-copy-source-server-side-encryption-customer-key-MD5"
SOURCE_SSE_C_HEADERS = (SOURCE_SSE_C_ALGORITHM_HEADER, SOURCE_SSE_C_KEY_HEADER, SOURCE_SSE_C_KEY_MD5_HEADER)
#: ``bytes=first-last``, both given (436/8287: "The range value must be in the format of bytes=first-last").
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class CopySource:
    """The object a copy request reads: ``bucket``, ``key`` and the ``versionId`` it names, if any."""

    bucket: str
    key: str
    version_id: Optional[str] = None


@dataclass(frozen=True)
class CopyRules:
    """How one service answers the copy APIs.

    Attributes:
        parse_source: The copy-source header value to a :class:`CopySource` (400 when malformed).
        source_range: ``(copy-source-range value or None, source size) -> (first byte, length)``.
        self_copy_replaces: A copy onto itself takes the request's metadata whatever the directive (OSS);
            otherwise it needs ``Replaced`` (COS: 400 without it).
        max_object_size: The largest source a single copy (PUT Object - Copy / CopyObject) takes.
        object_result: ``(etag, last modified, CRC-64) -> <CopyObjectResult>``.
        part_result: ``(etag, last modified, CRC-64) -> <CopyPartResult>``.
    """

    parse_source: Callable[[str], CopySource]
    source_range: Callable[[Optional[str], int], Tuple[int, int]]
    self_copy_replaces: bool
    max_object_size: int
    object_result: Callable[[str, float, int], bytes]
    part_result: Callable[[str, float, int], bytes]


def _bad_source(value: str, form: str) -> ServiceError:
    return invalid_argument(f"The copy source {value!r} is not of the form {form}.")


def _query_version(query: str) -> Optional[str]:
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "versionId":
            return value
    return None


def cos_source(value: str) -> CopySource:
    """``<BucketName-APPID>.cos.<Region>.myqcloud.com/<url-encoded key>[?versionId=<id>]`` (436/10881).

    The bucket is the first label of the host; the local server resolves it among its own buckets whatever
    region or domain follows (a client pointed at it still names the real service's host).
    """
    form = "<bucket>.cos.<region>.myqcloud.com/<key>"
    text = _SCHEME.sub("", value.strip(), count=1)
    host, slash, rest = text.partition("/")
    path, _, query = rest.partition("?")
    bucket = host.split(".", 1)[0].lower()
    if not slash or not bucket or not path:
        raise _bad_source(value, form)
    return CopySource(bucket, unquote(path), _query_version(query))


def oss_source(value: str) -> CopySource:
    """``/<bucket>/<url-encoded key>[?versionId=<id>]``; without the leading ``/`` OSS answers 400 InvalidArgument
    (EC 0042-00000301, "the value of the x-oss-copy-source parameter does not start with a forward slash")."""
    form = "/<bucket>/<key>"
    text = value.strip()
    bucket, slash, rest = text[1:].partition("/")
    path, _, query = rest.partition("?")
    if not text.startswith("/") or not slash or not bucket or not path:
        raise ServiceError(400, "InvalidArgument", f"The copy source {value!r} is not of the form {form}.", ec="0042-00000301")
    return CopySource(bucket, unquote(path), _query_version(query))


def cos_range(value: Optional[str], size: int) -> Tuple[int, int]:
    """``x-cos-copy-source-range: bytes=first-last`` within the source; absent: the whole source (436/8287).

    Raises:
        ServiceError: 400 InvalidArgument for any other form, ``first > last`` or ``last`` past the source.
    """
    if value is None:
        return 0, size
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        raise invalid_argument(f"x-cos-copy-source-range must be bytes=first-last, got {value!r}.")
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise invalid_argument(f"The range {value!r} is not within the source object of {size} bytes.")
    return first, last - first + 1


def oss_range(value: Optional[str], size: int) -> Tuple[int, int]:
    """``x-oss-copy-source-range``: "when the specified range does not conform to the specification, the
    entire source object is copied" (OSS UploadPartCopy); an end past the source is out of specification too."""
    if value is None:
        return 0, size
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        return 0, size
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        return 0, size
    return first, last - first + 1


def check_directive(value: Optional[str]) -> str:
    """``x-cos-metadata-directive``: ``Copy`` (default) or ``Replaced``; anything else 400 InvalidArgument."""
    if value is None:
        return COPY_DIRECTIVE
    if value.strip() not in (COPY_DIRECTIVE, REPLACE_DIRECTIVE):
        raise invalid_argument(f"x-cos-metadata-directive must be Copy or Replaced, got {value!r}.")
    return value.strip()


def check_single_copy_size(size: int, maximum: int) -> None:
    """A single copy takes a source of at most ``maximum`` bytes (COS 436/10881: "5 GB"; OSS CopyObject: a
    larger object "must" use UploadPartCopy); 400 EntityTooLarge otherwise."""
    if size > maximum:
        raise ServiceError(
            400, "EntityTooLarge", f"The source object is larger than {maximum} bytes: copy it with Upload Part - Copy."
        )


def _result(tag: str, etag: str, last_modified: float, crc: Optional[int]) -> bytes:
    root = etree.Element(tag)
    _element(root, "ETag", f'"{etag}"')
    if crc is not None:
        _element(root, "CRC64", str(crc))
    _element(root, "LastModified", iso_time(last_modified))
    return _serialize(root)


def cos_object_result(etag: str, last_modified: float, crc: int) -> bytes:
    """``<CopyObjectResult>`` with ETag, CRC64 and LastModified (436/10881)."""
    return _result("CopyObjectResult", etag, last_modified, crc)


def cos_part_result(etag: str, last_modified: float, crc: int) -> bytes:
    """``<CopyPartResult>`` with ETag and LastModified (436/8287); the part's CRC-64 travels in the header."""
    return _result("CopyPartResult", etag, last_modified, None)


def oss_object_result(etag: str, last_modified: float, crc: int) -> bytes:
    """``<CopyObjectResult>`` with ETag and LastModified (OSS CopyObject)."""
    return _result("CopyObjectResult", etag, last_modified, None)


def oss_part_result(etag: str, last_modified: float, crc: int) -> bytes:
    """``<CopyPartResult>`` with ETag and LastModified (OSS UploadPartCopy)."""
    return _result("CopyPartResult", etag, last_modified, None)


COS_COPY = CopyRules(cos_source, cos_range, False, limits.MAX_COPY_OBJECT_SIZE, cos_object_result, cos_part_result)
OSS_COPY = CopyRules(oss_source, oss_range, True, limits.OSS_MAX_COPY_OBJECT_SIZE, oss_object_result, oss_part_result)
