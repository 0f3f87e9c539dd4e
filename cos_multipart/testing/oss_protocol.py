"""The pure side of the local server's OSS mode: hosts, the ``x-oss-*`` vocabulary, XML bodies and errors
as Aliyun OSS writes them [oss-api 3, 7, 8].

The service works in one internal vocabulary (COS's header names and values, see :mod:`.protocol`); in OSS
mode :func:`inbound` maps what an OSS client sends onto it (dropping ``x-cos-*`` headers, which OSS would
ignore, and refusing values OSS would refuse) and :func:`outbound` maps the answer's headers back. Spelt
out here, not taken from :mod:`cos_multipart._protocol.dialect`: the server is an independent oracle.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from lxml import etree

from .bucket_protocol import ContentsRow, KeyListing
from .protocol import PartRow, ServiceError, UploadListing, _element, _serialize, iso_time

if TYPE_CHECKING:  # pragma: no cover
    from ._messages import Request

SERVER_NAME = "AliyunOSS"
REQUEST_ID_HEADER = "x-oss-request-id"
CRC64_HEADER = "x-oss-hash-crc64ecma"
EC_HEADER = "x-oss-ec"
#: HEAD errors have no body; the SDKs decode the ``<Error>`` from this header (base64) [oss-api 7.2].
ERR_HEADER = "x-oss-err"
#: "complete all parts": the only valid value is ``yes``, and the body must then be empty [oss-api 3.3].
COMPLETE_ALL_HEADER = "x-oss-complete-all"
DEFAULT_BUCKET = "examplebucket"
DEFAULT_REGION = "cn-hangzhou"
#: "3-63 characters, lowercase letters, digits and hyphens, starting and ending with a letter or digit"
#: [oss-api 4]; used with fullmatch.
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
BUCKET_RULE = "3-63 lowercase letters, digits and '-', starting and ending with a letter or digit"
#: ``<bucket>.oss-<region>[-internal].aliyuncs.com``, ``<bucket>.<region>.oss.aliyuncs.com`` (dual-stack),
#: ``<bucket>.oss-accelerate[-overseas].aliyuncs.com`` [oss-api 8.1]; ``<bucket>.localhost`` for tests.
_OSS_HOST = re.compile(
    r"(?P<bucket>[^.]+)\.(?:oss-(?P<region>[a-z0-9-]+?)(?:-internal)?|(?P<dual>[a-z0-9-]+)\.oss)\.aliyuncs\.com"
)
_LOCAL_HOST = re.compile(r"(?P<bucket>[^.]+)\.localhost")

#: OSS request headers the server understands -> the internal (COS) name [oss-api 3.1, 3.3, 3.7, 6].
_INBOUND = {
    "x-oss-object-acl": "x-cos-acl",
    "x-oss-server-side-encryption": "x-cos-server-side-encryption",
    "x-oss-server-side-encryption-key-id": "x-cos-server-side-encryption-cos-kms-key-id",
    "x-oss-storage-class": "x-cos-storage-class",
    "x-oss-tagging": "x-cos-tagging",
    "x-oss-forbid-overwrite": "x-cos-forbid-overwrite",
    "x-oss-traffic-limit": "x-cos-traffic-limit",
    "x-oss-copy-source": "x-cos-copy-source",
    "x-oss-copy-source-range": "x-cos-copy-source-range",
    "x-oss-copy-source-if-match": "x-cos-copy-source-if-match",
    "x-oss-copy-source-if-none-match": "x-cos-copy-source-if-none-match",
    "x-oss-copy-source-if-modified-since": "x-cos-copy-source-if-modified-since",
    "x-oss-copy-source-if-unmodified-since": "x-cos-copy-source-if-unmodified-since",
    "x-oss-metadata-directive": "x-cos-metadata-directive",
}
_OUTBOUND = {internal: wire for wire, internal in _INBOUND.items()}
#: "x-oss-server-side-encryption: AES256 | KMS | SM4" [oss-api 6]; SM4 is not simulated here.
_SSE_IN = {"AES256": "AES256", "KMS": "cos/kms"}
_SSE_OUT = {internal: wire for wire, internal in _SSE_IN.items()}
#: "x-oss-metadata-directive: COPY | REPLACE" -> the internal (COS) Copy | Replaced.
_DIRECTIVE_IN = {"COPY": "Copy", "REPLACE": "Replaced"}
#: OSS storage classes (v2 SDK enums) -> the internal ones; ColdArchive has no internal counterpart.
_STORAGE_IN = {"Standard": "STANDARD", "IA": "STANDARD_IA", "Archive": "ARCHIVE", "DeepColdArchive": "DEEP_ARCHIVE"}
_STORAGE_OUT = {internal: wire for wire, internal in _STORAGE_IN.items()}
#: "x-oss-object-acl: default | private | public-read | public-read-write" (PutObject, Complete).
OBJECT_ACLS = frozenset({"default", "private", "public-read", "public-read-write"})

#: Fine-grained error codes by error code, and by (code, API) where the API changes it [oss-api 3, 7].
#: Codes whose EC the reference does not give get :data:`UNKNOWN_EC` (shaped like the real ones).
_EC = {
    "NoSuchKey": "0026-00000001",
    "MissingArgument": "0016-00000502",
    "PreconditionFailed": "0017-00001001",
    "MalformedXML": "0031-00000001",
    "InvalidPartOrder": "0042-00000209",
    "EntityTooSmall": "0042-00000213",
    "FileAlreadyExists": "0026-00000002",
    "SignatureDoesNotMatch": "0002-00000201",
}
_EC_BY_API = {
    ("FileAlreadyExists", "CompleteMultipartUpload"): "0042-00000214",
    ("InvalidArgument", "UploadPart"): "0017-00000220",
}
UNKNOWN_EC = "0000-00000000"
_RECOMMEND_DOC = "https://api.aliyun.com/troubleshoot?q={ec}"


def new_request_id(now: float) -> str:
    """24 upper-case hex characters, like recent OSS samples [oss-api 3]."""
    del now  # OSS request ids are opaque
    return secrets.token_hex(12).upper()


def is_bucket_name(value: str) -> bool:
    """OSS bucket naming [oss-api 4]."""
    return bool(BUCKET_PATTERN.fullmatch(value))


def locate(host: str, path: str, default_bucket: str, default_region: str) -> Tuple[str, str, str]:
    """``(bucket, region, key)`` of a request from its ``Host`` and decoded path [oss-api 8].

    A virtual-hosted Host (``<bucket>.oss-<region>.aliyuncs.com``, its internal and dual-stack forms,
    ``<bucket>.localhost``) names the bucket; the path is the key. Any other Host (an IP address,
    ``localhost``, a custom domain) names none: a path starting with ``/<default bucket>/`` is then path
    style, which the official SDKs use for IP endpoints (``/examplebucket/key``); any other path is a key
    of the default bucket.
    """
    name = host.strip().lower()
    name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    match = _OSS_HOST.fullmatch(name) or _LOCAL_HOST.fullmatch(name)
    if match and is_bucket_name(match.group("bucket")):
        groups = match.groupdict()
        region = groups.get("region") or groups.get("dual") or default_region
        return match.group("bucket"), "" if region.startswith("accelerate") else region, path[1:]
    first, slash, rest = path[1:].partition("/")
    if first == default_bucket:
        return default_bucket, default_region, rest
    return default_bucket, default_region, path[1:]


def inbound(headers: Mapping[str, str]) -> Dict[str, str]:
    """An OSS request's headers in the internal vocabulary: ``x-cos-*`` dropped, the ``x-oss-*`` headers the
    server knows renamed, their values checked and renamed, everything else kept.

    Raises:
        ServiceError: 400 for an SSE, storage-class or ACL value OSS refuses; 501 for the ones it has that
            this server does not simulate (SM4, ColdArchive).
    """
    internal: Dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith("x-cos-"):
            continue
        if name.startswith("x-oss-meta-"):
            internal["x-cos-meta-" + name[len("x-oss-meta-") :]] = value
        elif name == "x-oss-object-acl":
            if value.strip() not in OBJECT_ACLS:
                raise ServiceError(400, "InvalidArgument", f"x-oss-object-acl must be one of {', '.join(sorted(OBJECT_ACLS))}.")
            # Checked here, not stored (as in COS mode): public-read-write is not a COS object ACL.
        elif name in _INBOUND:
            internal[_INBOUND[name]] = _inbound_value(name, value.strip())
        elif name == "x-oss-server-side-data-encryption":
            raise ServiceError(501, "NotImplemented", "x-oss-server-side-data-encryption (SM4) is not simulated by this local server.")
        else:
            internal[name] = value
    return internal


def _inbound_value(name: str, value: str) -> str:
    if name == "x-oss-server-side-encryption":
        if value == "SM4":
            raise ServiceError(501, "NotImplemented", "SSE with SM4 is not simulated by this local server.")
        if value not in _SSE_IN:
            raise ServiceError(400, "InvalidEncryptionAlgorithmError", f"x-oss-server-side-encryption must be AES256, KMS or SM4, got {value!r}.")
        return _SSE_IN[value]
    if name == "x-oss-metadata-directive":  # "COPY (default) | REPLACE" (OSS CopyObject)
        if value.upper() not in _DIRECTIVE_IN:
            raise ServiceError(400, "InvalidArgument", f"x-oss-metadata-directive must be COPY or REPLACE, got {value!r}.")
        return _DIRECTIVE_IN[value.upper()]
    if name == "x-oss-storage-class":
        if value == "ColdArchive":
            raise ServiceError(501, "NotImplemented", "The ColdArchive storage class is not simulated by this local server.")
        if value not in _STORAGE_IN:
            raise ServiceError(400, "InvalidArgument", f"x-oss-storage-class must be one of {', '.join(_STORAGE_IN)}, got {value!r}.")
        return _STORAGE_IN[value]
    return value


def outbound(headers: Sequence[Tuple[str, str]]) -> Tuple[Tuple[str, str], ...]:
    """An answer's headers from the internal vocabulary to OSS's (``x-cos-*`` -> ``x-oss-*``, values too)."""
    wire: List[Tuple[str, str]] = []
    for name, value in headers:
        lowered = name.lower()
        if not lowered.startswith("x-cos-"):
            wire.append((name, value))
            continue
        if lowered == "x-cos-server-side-encryption":
            value = _SSE_OUT.get(value, value)
        elif lowered == "x-cos-storage-class":
            value = storage_class(value)
        wire.append((_OUTBOUND.get(lowered, "x-oss-" + lowered[len("x-cos-") :]), value))
    return tuple(wire)


def storage_class(internal: str) -> str:
    """OSS's name of an internal storage class (``STANDARD`` -> ``Standard``)."""
    return _STORAGE_OUT.get(internal, internal)


def ec_for(code: str, api: str) -> str:
    """The ``EC`` of an error ``code`` answered to ``api``."""
    return _EC_BY_API.get((code, api)) or _EC.get(code) or UNKNOWN_EC


# --- bodies -------------------------------------------------------------------------------------------


def _key(value: str, encode: bool) -> str:
    # encoding-type=url: object names URL-encoded (the v2 SDK always asks, and unquotes) [oss-api 3].
    return _quote(value) if encode else value


def _quote(value: str) -> str:
    return quote(value, safe="/")


def _root(tag: str, encode: bool) -> etree._Element:
    root = etree.Element(tag)
    if encode:
        _element(root, "EncodingType", "url")
    return root


def error_xml(code: str, message: str, request_id: str, host_id: str, ec: str, details: Sequence[Tuple[str, str]] = ()) -> bytes:
    """``<Error>`` with Code, Message, RequestId, HostId, the error's extras, EC and RecommendDoc [oss-api 7.1]."""
    root = etree.Element("Error")
    for tag, text in (("Code", code), ("Message", message), ("RequestId", request_id), ("HostId", host_id)):
        _element(root, tag, text)
    for tag, text in details:
        _element(root, tag, text)
    _element(root, "EC", ec)
    _element(root, "RecommendDoc", _RECOMMEND_DOC.format(ec=ec))
    return _serialize(root)


def error_headers(body: bytes, ec: str, *, head: bool) -> Tuple[Tuple[str, str], ...]:
    """``x-oss-ec``, and for HEAD (no body) ``x-oss-err``: the ``<Error>`` in base64 [oss-api 7.2]."""
    headers: Tuple[Tuple[str, str], ...] = ((EC_HEADER, ec),)
    if head:
        headers += ((ERR_HEADER, base64.b64encode(body).decode("ascii")),)
    return headers


def initiate_xml(bucket: str, key: str, upload_id: str, encode: bool) -> bytes:
    """``<InitiateMultipartUploadResult>`` [oss-api 3.1]."""
    root = _root("InitiateMultipartUploadResult", encode)
    _element(root, "Bucket", bucket)
    _element(root, "Key", _key(key, encode))
    _element(root, "UploadId", upload_id)
    return _serialize(root)


def complete_xml(location: str, bucket: str, key: str, etag: str, encode: bool) -> bytes:
    """``<CompleteMultipartUploadResult>`` [oss-api 3.3]."""
    root = _root("CompleteMultipartUploadResult", encode)
    _element(root, "Location", location)
    _element(root, "Bucket", bucket)
    _element(root, "Key", _key(key, encode))
    _element(root, "ETag", f'"{etag}"')
    return _serialize(root)


def list_parts_xml(
    *,
    bucket: str,
    key: str,
    upload_id: str,
    storage_class_name: str,
    parts: Sequence[PartRow],
    marker: int,
    max_parts: int,
    truncated: bool,
    encode: bool,
) -> bytes:
    """``<ListPartsResult>`` with each part's ``HashCrc64ecma`` and no Owner/Initiator [oss-api 3.5]."""
    root = _root("ListPartsResult", encode)
    _element(root, "Bucket", bucket)
    _element(root, "Key", _key(key, encode))
    _element(root, "UploadId", upload_id)
    _element(root, "PartNumberMarker", str(marker))
    _element(root, "NextPartNumberMarker", str(parts[-1].number if parts else marker))
    _element(root, "MaxParts", str(max_parts))
    _element(root, "IsTruncated", "true" if truncated else "false")
    _element(root, "StorageClass", storage_class_name)
    for part in parts:
        element = _element(root, "Part")
        _element(element, "PartNumber", str(part.number))
        _element(element, "LastModified", iso_time(part.last_modified))
        _element(element, "ETag", f'"{part.etag}"')
        if part.crc64 is not None:
            _element(element, "HashCrc64ecma", str(part.crc64))
        _element(element, "Size", str(part.size))
    return _serialize(root)


def list_uploads_xml(
    *,
    bucket: str,
    listing: UploadListing,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
    encode: bool,
) -> bytes:
    """``<ListMultipartUploadsResult>`` [oss-api 3.6]."""
    root = _root("ListMultipartUploadsResult", encode)
    _element(root, "Bucket", bucket)
    _element(root, "KeyMarker", _key(key_marker, encode))
    _element(root, "UploadIdMarker", upload_id_marker)
    _element(root, "NextKeyMarker", _key(listing.next_key_marker, encode))
    _element(root, "NextUploadIdMarker", listing.next_upload_id_marker)
    _element(root, "Delimiter", _key(delimiter, encode))
    _element(root, "Prefix", _key(prefix, encode))
    _element(root, "MaxUploads", str(max_uploads))
    _element(root, "IsTruncated", "true" if listing.truncated else "false")
    for row in listing.uploads:
        element = _element(root, "Upload")
        _element(element, "Key", _key(row.key, encode))
        _element(element, "UploadId", row.upload_id)
        _element(element, "StorageClass", storage_class(row.storage_class))
        _element(element, "Initiated", iso_time(row.initiated))
    for common in listing.common_prefixes:
        _element(_element(root, "CommonPrefixes"), "Prefix", _key(common, encode))
    return _serialize(root)


def host_id(host: str, bucket: str, region: str) -> str:
    """``<HostId>``: the host the client used, or the bucket's OSS host when it sent none."""
    return host.strip() or f"{bucket}.oss-{region}.aliyuncs.com"


def location(bucket: str, region: str, key: str) -> str:
    """The object's URL as OSS spells it in a Complete result [oss-api 3.3]."""
    return f"http://{bucket}.oss-{region}.aliyuncs.com/{_quote(key)}"


def object_type(segments: int) -> str:
    """``x-oss-object-type``: ``Multipart`` for a completed upload, ``Normal`` for a PUT [oss-api 3.8]."""
    return "Multipart" if segments else "Normal"


#: "x-oss-range-behavior: standard" switches ranges to the standard rules (416 past the end) [OSS "Range download"].
RANGE_BEHAVIOR_HEADER = "x-oss-range-behavior"


def byte_range(value: Optional[str], size: int, headers: Mapping[str, str]) -> Optional[Tuple[int, int]]:
    """The inclusive ``(first, last)`` bytes an OSS GetObject serves for ``Range: value``, ``None`` for all.

    OSS ("How to obtain OSS resources by segmenting HTTP Range requests", "Range download"): an invalid or
    out-of-range ``Range`` is ignored and the whole object answered with 200 (``bytes=0-1000``,
    ``bytes=1000-``, ``bytes=-2000`` of a 1,000-byte object, ``byte=0-499``); several ranges: "OSS returns
    only the data of the first range". With ``x-oss-range-behavior: standard``: an end past the object is cut
    to it (206) and a start past it is 416 InvalidRange.

    Raises:
        ServiceError: 416 InvalidRange (standard behaviour only).
    """
    if value is None:
        return None
    unit, _, spec = value.strip().partition("=")
    first_text, dash, last_text = spec.split(",")[0].strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if unit.strip().lower() != "bytes" or not dash or not (first_text.isdigit() or last_text.isdigit()):
        return None
    if first_text and last_text and int(last_text) < int(first_text):
        return None
    standard = headers.get(RANGE_BEHAVIOR_HEADER, "").strip().lower() == "standard"
    if not first_text:  # the last N bytes
        length = int(last_text)
        if length <= size and length:
            return size - length, size - 1
        if not standard:
            return None
        if not length or not size:
            raise ServiceError(416, "InvalidRange", "The requested range cannot be satisfied.")
        return 0, size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first < size and last < size:
        return first, last
    if not standard:
        return None
    if first >= size:
        raise ServiceError(416, "InvalidRange", "The requested range cannot be satisfied.")
    return first, size - 1


def continuation_marker(request: "Request") -> str:
    """The key a List Objects V2 page starts after: the ``continuation-token`` (which this server makes as
    the URL-safe base64 of the last key listed), else ``start-after``.

    Raises:
        ServiceError: 400 InvalidArgument for a token this server did not make.
    """
    token = request.param("continuation-token")
    if not token:
        return request.param("start-after") or ""
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise ServiceError(400, "InvalidArgument", "The continuation-token is not one this server made.") from None


def list_objects_v2_xml(
    request: "Request", listing: KeyListing, rows: Sequence[ContentsRow], *, encode: bool, max_keys: int
) -> bytes:
    """``<ListBucketResult>`` of List Objects V2 (``list-type=2``): ``KeyCount``, ``ContinuationToken``,
    ``NextContinuationToken``, ``StartAfter`` [oss-api 3]."""
    root = etree.Element("ListBucketResult")
    _element(root, "Name", request.bucket)
    _element(root, "Prefix", _key(request.param("prefix") or "", encode))
    start_after = request.param("start-after")
    if start_after:
        _element(root, "StartAfter", _key(start_after, encode))
    token = request.param("continuation-token")
    if token:
        _element(root, "ContinuationToken", token)
    _element(root, "MaxKeys", str(max_keys))
    _element(root, "Delimiter", _key(request.param("delimiter") or "", encode))
    if encode:
        _element(root, "EncodingType", "url")
    _element(root, "IsTruncated", "true" if listing.truncated else "false")
    if listing.truncated:
        next_token = base64.urlsafe_b64encode(listing.next_marker.encode("utf-8")).decode("ascii")
        _element(root, "NextContinuationToken", next_token)
    _element(root, "KeyCount", str(len(rows) + len(listing.common_prefixes)))
    for row in rows:
        element = _element(root, "Contents")
        _element(element, "Key", _key(row.key, encode))
        _element(element, "LastModified", iso_time(row.last_modified))
        _element(element, "ETag", f'"{row.etag}"')
        _element(element, "Size", str(row.size))
        _element(element, "StorageClass", row.storage_class)
    for common in listing.common_prefixes:
        _element(_element(root, "CommonPrefixes"), "Prefix", _key(common, encode))
    return _serialize(root)
