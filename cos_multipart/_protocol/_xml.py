"""XML bodies of the multipart APIs: parse results and ``<Error>``, build ``<CompleteMultipartUpload>``.

The parser is hardened (no entity expansion, no network, no huge trees) and tolerant of what COS really
sends: whitespace before the document (Complete's keep-alive spaces [ref 2.3]), a default namespace
(Complete's ``xmlns``), missing optional elements, ``&quot;``-escaped ETags, ``encoding-type=url`` keys,
and ISO-8601 or legacy ``Wed Jan 18 16:04:17 2017`` dates. Anything unreadable raises
:class:`~cos_multipart._protocol.errors.CosResponseError`.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple, Union
from urllib.parse import unquote

from lxml import etree

from .errors import CosResponseError
from .models import CompletedPart, DeleteFailure, ObjectsPage, ObjectSummary, PartInfo, UploadInfo

_ISO_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?"
)
_LEGACY_DATE_FORMAT = "%a %b %d %H:%M:%S %Y"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )


@dataclass(frozen=True)
class ErrorBody:
    """The fields of an ``<Error>`` body (436/7730) [ref 4.1]; absent elements are ``""``. OSS adds
    ``HostId`` and ``EC`` [oss-api 7.1]."""

    code: str = ""
    message: str = ""
    resource: str = ""
    request_id: str = ""
    trace_id: str = ""
    host_id: str = ""
    ec: str = ""


@dataclass(frozen=True)
class InitiateBody:
    """``<InitiateMultipartUploadResult>``."""

    bucket: str
    key: str
    upload_id: str


@dataclass(frozen=True)
class CompleteBody:
    """``<CompleteMultipartUploadResult>``."""

    location: str
    bucket: str
    key: str
    etag: str


@dataclass(frozen=True)
class PartsPage:
    """One page of ``<ListPartsResult>``.

    Attributes:
        parts: The ``<Part>`` entries in the order received.
        is_truncated: More parts follow.
        next_marker: ``<NextPartNumberMarker>`` (pass as ``part-number-marker`` for the next page).
        storage_class: ``<StorageClass>`` upper-cased, ``""`` if absent.
    """

    parts: Tuple[PartInfo, ...]
    is_truncated: bool
    next_marker: Optional[int]
    storage_class: str = ""


@dataclass(frozen=True)
class UploadsPage:
    """One page of ``<ListMultipartUploadsResult>``."""

    uploads: Tuple[UploadInfo, ...]
    is_truncated: bool
    next_key_marker: str
    next_upload_id_marker: str
    common_prefixes: Tuple[str, ...] = ()


def parse_document(body: bytes) -> etree._Element:
    """The root element of ``body``; leading whitespace is skipped.

    Raises:
        CosResponseError: Empty or malformed XML.
    """
    text = body.lstrip()
    if not text:
        raise CosResponseError("empty XML body")
    try:
        root = etree.fromstring(text, _parser())
    except etree.XMLSyntaxError as error:
        raise CosResponseError(f"malformed XML: {error}") from error
    if root is None:
        raise CosResponseError("XML body without a root element")
    return root


def local_name(element: etree._Element) -> str:
    """The tag without its namespace."""
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child(parent: etree._Element, *names: str) -> Optional[etree._Element]:
    for element in parent:
        if local_name(element) in names:
            return element
    return None


def _children(parent: etree._Element, name: str) -> List[etree._Element]:
    return [element for element in parent if local_name(element) == name]


def _text(parent: etree._Element, *names: str) -> str:
    element = _child(parent, *names)
    return (element.text or "").strip() if element is not None else ""


def _required(parent: etree._Element, name: str) -> str:
    value = _text(parent, name)
    if not value:
        raise CosResponseError(f"<{local_name(parent)}> has no <{name}>")
    return value


def _int(parent: etree._Element, name: str, default: Optional[int] = None) -> Optional[int]:
    value = _text(parent, name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise CosResponseError(f"<{name}> is not an integer: {value[:40]!r}") from None


def _crc64(parent: etree._Element, name: str) -> Optional[int]:
    """An optional unsigned 64-bit decimal element (OSS List Parts' ``<HashCrc64ecma>``), else ``None``."""
    value = _text(parent, name)
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and int(value) < 1 << 64):
        raise CosResponseError(f"<{name}> is not an unsigned 64-bit decimal: {value[:40]!r}")
    return int(value)


def _bool(parent: etree._Element, name: str) -> bool:
    value = _text(parent, name).lower()
    if value not in ("", "true", "false"):
        raise CosResponseError(f"<{name}> is not true/false: {value[:40]!r}")
    return value == "true"


def _expect_root(root: etree._Element, name: str) -> None:
    if local_name(root) != name:
        raise CosResponseError(f"expected <{name}>, got <{local_name(root)}>")


def _url_decoder(root: etree._Element) -> Callable[[str], str]:
    # The element is spelt EncodingType in real answers and Encoding-Type/Encoding-type in schemas [ref 2.5].
    encoding = _text(root, "EncodingType", "Encoding-Type", "Encoding-type").lower()
    return unquote if encoding == "url" else _identity


def _identity(value: str) -> str:
    return value


def parse_date(text: str) -> Optional[datetime.datetime]:
    """An aware UTC datetime from ISO-8601 (``2020-03-25T10:07:14.000Z``) or the legacy
    ``Wed Jan 18 16:04:17 2017`` form; ``None`` for an empty or unknown format (the dates are informative)."""
    text = text.strip()
    match = _ISO_DATE.fullmatch(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        tz = datetime.timezone.utc
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        try:
            value = datetime.datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
            )
        except ValueError:
            return None
        return value.astimezone(datetime.timezone.utc)
    try:
        return datetime.datetime.strptime(text, _LEGACY_DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def parse_error(body: bytes) -> Optional[ErrorBody]:
    """The ``<Error>`` of ``body``, or ``None`` when the body is empty, not XML or another document."""
    if not body.strip():
        return None
    try:
        root = parse_document(body)
    except CosResponseError:
        return None
    if local_name(root) != "Error":
        return None
    return _error_body(root)


def _error_body(root: etree._Element) -> ErrorBody:
    return ErrorBody(
        code=_text(root, "Code"),
        message=_text(root, "Message"),
        resource=_text(root, "Resource"),
        request_id=_text(root, "RequestId"),
        trace_id=_text(root, "TraceId"),
        host_id=_text(root, "HostId"),
        ec=_text(root, "EC"),
    )


def parse_initiate(body: bytes) -> InitiateBody:
    """``<InitiateMultipartUploadResult>`` (436/7746) [ref 2.1]."""
    root = parse_document(body)
    _expect_root(root, "InitiateMultipartUploadResult")
    decode = _url_decoder(root)
    return InitiateBody(_text(root, "Bucket"), decode(_text(root, "Key")), _required(root, "UploadId"))


def parse_complete(body: bytes) -> Union[CompleteBody, ErrorBody]:
    """``<CompleteMultipartUploadResult>``, or the ``<Error>`` a 200 Complete can carry instead (436/7742)
    [ref 2.3]: one parse of the body yields either."""
    root = parse_document(body)
    if local_name(root) == "Error":
        return _error_body(root)
    _expect_root(root, "CompleteMultipartUploadResult")
    decode = _url_decoder(root)
    return CompleteBody(
        location=_text(root, "Location"),
        bucket=_text(root, "Bucket"),
        key=decode(_text(root, "Key")),
        etag=_required(root, "ETag"),
    )


def parse_list_parts(body: bytes) -> PartsPage:
    """One page of ``<ListPartsResult>`` (436/7747) [ref 2.5]."""
    root = parse_document(body)
    _expect_root(root, "ListPartsResult")
    parts = []
    for element in _children(root, "Part"):
        number = _int(element, "PartNumber")
        size = _int(element, "Size")
        if number is None or size is None:
            raise CosResponseError("<Part> without <PartNumber> or <Size>")
        parts.append(
            PartInfo(
                part_number=number,
                etag=_required(element, "ETag"),
                size=size,
                last_modified=parse_date(_text(element, "LastModified")),
                crc64=_crc64(element, "HashCrc64ecma"),
            )
        )
    return PartsPage(
        parts=tuple(parts),
        is_truncated=_bool(root, "IsTruncated"),
        next_marker=_int(root, "NextPartNumberMarker"),
        storage_class=_text(root, "StorageClass").upper(),
    )


def parse_list_uploads(body: bytes) -> UploadsPage:
    """One page of ``<ListMultipartUploadsResult>`` (436/7736) [ref 2.6]."""
    root = parse_document(body)
    _expect_root(root, "ListMultipartUploadsResult")
    decode = _url_decoder(root)
    uploads = tuple(
        UploadInfo(
            key=decode(_required(element, "Key")),
            upload_id=_required(element, "UploadId"),
            initiated=parse_date(_text(element, "Initiated")),
            storage_class=_text(element, "StorageClass").upper(),
        )
        for element in _children(root, "Upload")
    )
    prefixes = tuple(decode(_text(element, "Prefix")) for element in _children(root, "CommonPrefixes"))
    return UploadsPage(
        uploads=uploads,
        is_truncated=_bool(root, "IsTruncated"),
        next_key_marker=decode(_text(root, "NextKeyMarker")),
        next_upload_id_marker=decode(_text(root, "NextUploadIdMarker")),
        common_prefixes=prefixes,
    )


def parse_list_objects(body: bytes) -> ObjectsPage:
    """One page of ``<ListBucketResult>`` (GET Bucket, 436/7734).

    A ``<Contents>`` may carry the object's CRC-64 (``<HashCrc64Ecma>``, or ``<x-cos-hash-crc64ecma>``);
    when it does not, ``crc64`` is ``None`` and HEAD Object answers it.
    """
    root = parse_document(body)
    _expect_root(root, "ListBucketResult")
    decode = _url_decoder(root)
    objects = []
    for element in _children(root, "Contents"):
        size = _int(element, "Size")
        if size is None or size < 0:
            raise CosResponseError("<Contents> without a valid <Size>")
        crc_text = _text(element, "HashCrc64Ecma", "x-cos-hash-crc64ecma")
        if crc_text and not (crc_text.isascii() and crc_text.isdigit() and int(crc_text) < 1 << 64):
            raise CosResponseError(f"<HashCrc64Ecma> is not an unsigned 64-bit decimal: {crc_text[:40]!r}")
        objects.append(
            ObjectSummary(
                key=decode(_required(element, "Key")),
                size=size,
                etag=_text(element, "ETag"),
                last_modified=parse_date(_text(element, "LastModified")),
                storage_class=_text(element, "StorageClass").upper(),
                crc64=int(crc_text) if crc_text else None,
            )
        )
    prefixes = tuple(decode(_text(element, "Prefix")) for element in _children(root, "CommonPrefixes"))
    return ObjectsPage(
        objects=tuple(objects),
        common_prefixes=prefixes,
        is_truncated=_bool(root, "IsTruncated"),
        next_marker=decode(_text(root, "NextMarker")),
    )


def build_delete(keys: Iterable[str], *, quiet: bool) -> bytes:
    """``<Delete>`` with ``<Quiet>`` and one ``<Object><Key>`` per key (Delete Multiple Objects, 436/8289)."""
    root = etree.Element("Delete")
    etree.SubElement(root, "Quiet").text = "true" if quiet else "false"
    for key in keys:
        etree.SubElement(etree.SubElement(root, "Object"), "Key").text = key
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def parse_delete_result(body: bytes) -> Tuple[Tuple[str, ...], Tuple[DeleteFailure, ...]]:
    """``<DeleteResult>``: the ``<Deleted>`` keys and the ``<Error>`` entries (436/8289)."""
    root = parse_document(body)
    _expect_root(root, "DeleteResult")
    decode = _url_decoder(root)
    deleted = tuple(decode(_text(element, "Key")) for element in _children(root, "Deleted"))
    failed = tuple(
        DeleteFailure(decode(_text(element, "Key")), _text(element, "Code"), _text(element, "Message"))
        for element in _children(root, "Error")
    )
    return deleted, failed


def build_complete(parts: Iterable[CompletedPart]) -> bytes:
    """``<CompleteMultipartUpload>`` with one ``<Part>`` per part, in the order given (436/7742)."""
    root = etree.Element("CompleteMultipartUpload")
    for part in parts:
        element = etree.SubElement(root, "Part")
        etree.SubElement(element, "PartNumber").text = str(part.part_number)
        etree.SubElement(element, "ETag").text = part.etag
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True)
class CopyResultBody:
    """``<CopyObjectResult>`` / ``<CopyPartResult>`` (436/10881, 436/8287): the ETag, and the CRC-64's text
    (``""`` when the body has none: a part's travels in the header)."""

    etag: str
    crc64: str


def parse_copy_result(body: bytes, root_name: str) -> Union[CopyResultBody, ErrorBody]:
    """A copy's answer (root ``root_name``), or the ``<Error>`` a 200 copy can carry instead ("PUT Object - Copy
    can return 200 with an <Error> body", 436/10881): one parse of the body yields either.

    Raises:
        CosResponseError: Not XML, another root, or no ``<ETag>``.
    """
    root = parse_document(body)
    if local_name(root) == "Error":
        return _error_body(root)
    _expect_root(root, root_name)
    return CopyResultBody(_required(root, "ETag"), _text(root, "CRC64"))
