"""Request builders and response parsers for each COS API used here: pure functions, no I/O (sans-I/O).

``prepare_<api>(...)`` validates its arguments and returns an :class:`~cos_multipart._protocol.models.HttpCall`;
``parse_<api>(status, headers, body)`` turns the answer into a typed result or raises:

* :class:`~cos_multipart._protocol.errors.CosServiceError` for an error status, built from the ``<Error>`` body when
  there is one, and from the ``x-cos-request-id``/``x-cos-trace-id`` headers when the body is empty, not
  XML, or a HEAD answer; also for a 200 Complete whose body is an ``<Error>`` [ref 2.3];
* :class:`~cos_multipart._protocol.errors.CosResponseError` for a success that cannot be read (no ETag, bad XML,
  a non-numeric CRC64).

The transport sends the call and hands the parser the raw status, headers and body; the client is glue.
"""

from __future__ import annotations

import base64
import hashlib
import http
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar

from . import _xml, sse, validation
from .endpoint import validate_key
from .errors import CosResponseError, CosServiceError, CosValidationError
from .integrity import CRC64_ECMA, IntegrityScheme
from .limits import (
    ANY_MAX_KEY_BYTES,
    MAX_DELETE_KEYS,
    MAX_LIST_KEYS,
    MAX_LIST_PARTS,
    MAX_LIST_PARTS_PAGES,
    MAX_LIST_UPLOADS,
    MAX_LIST_UPLOADS_PAGES,
    MAX_PART_NUMBER,
)
from .models import (
    CompleteResult,
    DeleteResult,
    HttpCall,
    InitiateResult,
    ObjectResult,
    ObjectsPage,
    PartResult,
    ResponseInfo,
)
# Re-exported: operations was the home of ObjectOptions and its header names before options.py.
from .options import DEFAULT_CONTENT_TYPE as DEFAULT_CONTENT_TYPE
from .options import GRANT_HEADERS as GRANT_HEADERS
from .options import HEADER_ACL as HEADER_ACL
from .options import HEADER_STORAGE_CLASS as HEADER_STORAGE_CLASS
from .options import HEADER_TAGGING as HEADER_TAGGING
from .options import ObjectOptions as ObjectOptions
from .retry import retry_after_seconds
from .validation import PartLike

Headers = Mapping[str, str]
T = TypeVar("T")

HEADER_REQUEST_ID = "x-cos-request-id"
HEADER_TRACE_ID = "x-cos-trace-id"
#: OSS's fine-grained error code and its base64 ``<Error>`` of bodiless answers, under their neutral names
#: (``x-oss-ec``, ``x-oss-err``; see :meth:`~cos_multipart._protocol.dialect.Dialect.from_wire`) [oss-api 7].
HEADER_EC = "x-cos-ec"
HEADER_ERROR = "x-cos-err"
#: "x-cos-hash-crc64ecma: unsigned 64-bit integer rendered in decimal" (436/40334) [ref 5.2]: the header of
#: the COS and OSS dialects' integrity scheme (:data:`~cos_multipart._protocol.integrity.CRC64_ECMA`).
HEADER_CRC64 = CRC64_ECMA.header
HEADER_VERSION_ID = "x-cos-version-id"
HEADER_TRAFFIC_LIMIT = "x-cos-traffic-limit"
#: RFC 9110 13.1.1; GET Object's request headers on both services.
HEADER_IF_MATCH = "If-Match"
HEADER_FORBID_OVERWRITE = "x-cos-forbid-overwrite"
HEADER_PSIZE_MIN = "x-cos-psize-min"
HEADER_PSIZE_MAX = "x-cos-psize-max"
HEADER_PNUM_MIN = "x-cos-pnum-min"
HEADER_PNUM_MAX = "x-cos-pnum-max"
XML_CONTENT_TYPE = "application/xml"


# --- responses, common ---------------------------------------------------------------------------------


def lower_headers(headers: Headers) -> Dict[str, str]:
    """``headers`` with lowercase names (later duplicates win)."""
    return {name.lower(): value for name, value in headers.items()}


def response_info(status: int, headers: Headers) -> ResponseInfo:
    """Status, ``x-cos-request-id`` and lowercase headers of a response."""
    lowered = lower_headers(headers)
    return ResponseInfo(status=status, request_id=lowered.get(HEADER_REQUEST_ID, ""), headers=lowered)


def parse_crc64(
    value: Optional[str], *, status: int = 0, request_id: str = "", scheme: IntegrityScheme = CRC64_ECMA
) -> Optional[int]:
    """The integrity header's text as ``scheme`` reads it (``x-cos-hash-crc64ecma``: an unsigned int, which may
    exceed int64 [ref 5.2]); ``None`` if absent.

    Raises:
        CosResponseError: Not a value of the scheme (for CRC-64: a decimal number of at most 64 bits).
    """
    if value is None:
        return None
    parsed = scheme.parse(value)
    if parsed is None:
        raise CosResponseError(f"{scheme.header} is not {scheme.described}: {value[:40]!r}", status=status, request_id=request_id)
    return parsed


def service_error(status: int, headers: Headers, body: bytes, *, method: str = "", url: str = "") -> CosServiceError:
    """The :class:`CosServiceError` for an error answer; works without a body (HEAD) or with a non-XML one.

    A bodiless answer may carry its ``<Error>`` base64-encoded in ``x-cos-err`` (OSS's ``x-oss-err`` under
    its neutral name, sent with HEAD errors [oss-api 7.2]).
    """
    parsed = _xml.parse_error(body) or _xml.parse_error(_header_error(headers)) or _xml.ErrorBody()
    return _service_error(status, headers, body, parsed, method=method, url=url)


def _header_error(headers: Headers) -> bytes:
    encoded = lower_headers(headers).get(HEADER_ERROR, "")
    if not encoded:
        return b""
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:  # not base64 (binascii.Error is a ValueError): no error body then
        return b""


def _service_error(
    status: int, headers: Headers, body: bytes, parsed: "_xml.ErrorBody", *, method: str = "", url: str = ""
) -> CosServiceError:
    lowered = lower_headers(headers)
    message = parsed.message
    if not parsed.code:
        message = _status_phrase(status)
        snippet = body.strip()[:120].decode("utf-8", "replace")
        if snippet:
            message += f" (body is not a COS <Error>: {snippet!r})"
    return CosServiceError(
        status,
        parsed.code,
        message,
        request_id=lowered.get(HEADER_REQUEST_ID) or parsed.request_id,
        trace_id=lowered.get(HEADER_TRACE_ID) or parsed.trace_id,
        resource=parsed.resource,
        method=method,
        url=url,
        retry_after=retry_after_seconds(lowered.get("retry-after"), lowered.get("date")),
        ec=lowered.get(HEADER_EC) or parsed.ec,
        host_id=parsed.host_id,
    )


class AnswerBuffer:
    """An answer body collected piece by piece, refused once it passes ``limit`` bytes (or announces more).

    Pure (no I/O): every transport feeds it the pieces it reads, so each has the same cap.

    Raises:
        CosResponseError: From the constructor when ``content_length`` is over ``limit``, from :meth:`add`
            when the pieces are.
    """

    def __init__(self, limit: int, content_length: Optional[str] = None) -> None:
        self._limit = limit
        self._chunks: List[bytes] = []
        self._size = 0
        if content_length is not None and content_length.strip().isdigit() and int(content_length) > limit:
            self._refuse(f"announces {int(content_length)} bytes")

    def add(self, chunk: bytes) -> None:
        """Append ``chunk``."""
        self._size += len(chunk)
        if self._size > self._limit:
            self._chunks.clear()
            self._refuse(f"is more than {self._limit} bytes")
        self._chunks.append(chunk)

    def value(self) -> bytes:
        """The body collected."""
        return b"".join(self._chunks)

    def _refuse(self, what: str) -> None:
        raise CosResponseError(
            f"the answer body {what}: more than any COS answer this client reads (limits.MAX_XML_ANSWER_BYTES "
            f"= {self._limit}); not read further"
        )


def check_status(status: int, headers: Headers, body: bytes, expected: Iterable[int] = (200,)) -> None:
    """Raise :func:`service_error` unless ``status`` is one of ``expected``.

    Raises:
        CosServiceError: An error status (3xx/4xx/5xx).
        CosResponseError: A success status this API does not answer.
    """
    if status in tuple(expected):
        return
    if status >= 300 or status < 200:
        raise service_error(status, headers, body)
    raise CosResponseError(f"unexpected status {status}", status=status, request_id=_request_id(headers))


def _status_phrase(status: int) -> str:
    try:
        return f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _request_id(headers: Headers) -> str:
    return lower_headers(headers).get(HEADER_REQUEST_ID, "")


def _require_etag(headers: Mapping[str, str], status: int) -> str:
    etag = headers.get("etag", "")
    if not etag:
        raise CosResponseError("the answer has no ETag header", status=status, request_id=headers.get(HEADER_REQUEST_ID, ""))
    return etag


def _parse_xml(status: int, headers: Headers, parse: Callable[[bytes], T], body: bytes) -> T:
    try:
        return parse(body)
    except CosResponseError as error:
        raise CosResponseError(error.detail, status=status, request_id=_request_id(headers)) from error


# --- object options shared by Initiate and PUT Object ----------------------------------------------------


def object_headers(options: ObjectOptions) -> Dict[str, str]:
    """Validated headers for ``options`` (see :meth:`ObjectOptions.headers`)."""
    return options.headers()


def sse_c_headers(value: sse.EncryptionLike, field: str = "sse_c") -> Dict[str, str]:
    """SSE-C headers for Upload Part / HEAD / GET: "only the SSE-C trio, and only if the upload was
    initiated with SSE-C; for SSE-COS/KMS no SSE request headers on parts" (436/7750) [ref 6.2]."""
    option = sse.coerce(value, field)
    if option is None:
        return {}
    if not isinstance(option, sse.SseC):
        raise CosValidationError(
            field, type(option).__name__, "SseC(...) or None: SSE-COS/KMS are chosen at Initiate and send no headers here (436/7750)"
        )
    return option.headers()


def _call(
    method: str,
    key: str,
    params: List[Tuple[str, Optional[str]]],
    headers: Mapping[str, str],
    body: object = None,
    content_length: int = 0,
) -> HttpCall:
    return HttpCall(method, key, tuple(params), tuple(headers.items()), body, content_length)


#: The options of a request that gives none (frozen, so one value serves every call).
_NO_OPTIONS = ObjectOptions()


# --- Initiate Multipart Upload ---------------------------------------------------------------------------


def prepare_initiate(key: str, options: ObjectOptions = _NO_OPTIONS) -> HttpCall:
    """``POST /<key>?uploads`` (436/7746)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    headers = object_headers(options)
    headers["Content-Length"] = "0"
    return _call("POST", key, [("uploads", None)], headers)


def parse_initiate(status: int, headers: Headers, body: bytes) -> InitiateResult:
    """Initiate's answer: bucket, key and the UploadId."""
    check_status(status, headers, body)
    parsed = _parse_xml(status, headers, _xml.parse_initiate, body)
    return InitiateResult(parsed.bucket, parsed.key, parsed.upload_id, response_info(status, headers))


# --- Upload Part -----------------------------------------------------------------------------------------


def prepare_upload_part(
    key: str,
    upload_id: str,
    part_number: int,
    body: object,
    *,
    content_length: Optional[int] = None,
    content_md5: Optional[str] = None,
    traffic_limit: Optional[int] = None,
    sse_c: sse.EncryptionLike = None,
    psize_min: Optional[int] = None,
    psize_max: Optional[int] = None,
) -> HttpCall:
    """``PUT /<key>?partNumber=<n>&uploadId=<id>`` (436/7750).

    ``body`` is bytes-like or a seekable binary file read from its current position; ``content_length``
    bytes are sent (default: the body's ``len``; required for a file object without one, see
    :func:`~cos_multipart._protocol.validation.body_length`). The transport rewinds a file to that position before
    a retry.
    """
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    validation.upload_id(upload_id)
    number = validation.part_number(part_number)
    size = validation.part_size(validation.body_length(body, content_length))
    headers = {"Content-Length": str(size)}
    if content_md5 is not None:
        headers["Content-MD5"] = validation.content_md5(content_md5)
    if traffic_limit is not None:
        headers[HEADER_TRAFFIC_LIMIT] = str(validation.traffic_limit(traffic_limit))
    low, high = validation.size_guards(psize_min, psize_max, "psize_min", "psize_max")
    if low is not None:
        headers[HEADER_PSIZE_MIN] = str(low)
    if high is not None:
        headers[HEADER_PSIZE_MAX] = str(high)
    headers.update(sse_c_headers(sse_c))
    return _call("PUT", key, [("partNumber", str(number)), ("uploadId", upload_id)], headers, body, size)


def parse_upload_part(status: int, headers: Headers, body: bytes, *, part_number: int, size: int) -> PartResult:
    """Upload Part's answer: ``ETag`` (quoted, kept as sent) and ``x-cos-hash-crc64ecma``."""
    check_status(status, headers, body)
    info = response_info(status, headers)
    etag = _require_etag(info.headers, status)
    crc = parse_crc64(info.headers.get(HEADER_CRC64), status=status, request_id=info.request_id)
    return PartResult(part_number, etag, crc, size, info)


# --- Complete Multipart Upload ---------------------------------------------------------------------------


def prepare_complete(
    key: str,
    upload_id: str,
    parts: Iterable[PartLike],
    *,
    forbid_overwrite: Optional[bool] = None,
    pnum_min: Optional[int] = None,
    pnum_max: Optional[int] = None,
) -> HttpCall:
    """``POST /<key>?uploadId=<id>`` with the ``<CompleteMultipartUpload>`` body (436/7742).

    The body carries ``Content-MD5`` so a corrupted part list is refused by COS rather than merged.
    """
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    validation.upload_id(upload_id)
    completed = validation.completed_parts(parts)
    low, high = validation.size_guards(pnum_min, pnum_max, "pnum_min", "pnum_max")
    if forbid_overwrite is not None and not isinstance(forbid_overwrite, bool):
        raise CosValidationError("forbid_overwrite", forbid_overwrite, "True, False or None")
    body = _xml.build_complete(completed)
    headers = {
        "Content-Type": XML_CONTENT_TYPE,
        "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode("ascii"),
        "Content-Length": str(len(body)),
    }
    if forbid_overwrite is not None:
        headers[HEADER_FORBID_OVERWRITE] = "true" if forbid_overwrite else "false"
    if low is not None:
        headers[HEADER_PNUM_MIN] = str(low)
    if high is not None:
        headers[HEADER_PNUM_MAX] = str(high)
    return _call("POST", key, [("uploadId", upload_id)], headers, body, len(body))


def parse_complete(status: int, headers: Headers, body: bytes) -> CompleteResult:
    """Complete's answer. "A 200 can still carry an <Error> body" (436/7742) [ref 2.3]: that raises
    :class:`CosServiceError` with status 200 and the body's code; a result without ETag raises
    :class:`CosResponseError`."""
    check_status(status, headers, body)
    parsed = _parse_xml(status, headers, _xml.parse_complete, body)
    if isinstance(parsed, _xml.ErrorBody):
        raise _service_error(status, headers, body, parsed)
    info = response_info(status, headers)
    return CompleteResult(
        location=parsed.location,
        bucket=parsed.bucket,
        key=parsed.key,
        etag=parsed.etag,
        crc64=parse_crc64(info.headers.get(HEADER_CRC64), status=status, request_id=info.request_id),
        version_id=info.headers.get(HEADER_VERSION_ID),
        response=info,
    )


# --- Abort, List Parts, List Multipart Uploads -----------------------------------------------------------


def prepare_abort(key: str, upload_id: str) -> HttpCall:
    """``DELETE /<key>?uploadId=<id>`` (436/7740)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    validation.upload_id(upload_id)
    return _call("DELETE", key, [("uploadId", upload_id)], {})


def parse_abort(status: int, headers: Headers, body: bytes) -> ResponseInfo:
    """Abort's answer: "Success: 204, empty body" (436/7740); 200 is accepted too."""
    check_status(status, headers, body, (200, 204))
    return response_info(status, headers)


def prepare_list_parts(
    key: str, upload_id: str, *, part_number_marker: Optional[int] = None, max_parts: int = MAX_LIST_PARTS
) -> HttpCall:
    """``GET /<key>?uploadId=<id>`` for one page (436/7747); keys come back URL-encoded (``encoding-type=url``)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    validation.upload_id(upload_id)
    params: List[Tuple[str, Optional[str]]] = [
        ("uploadId", upload_id),
        ("encoding-type", "url"),
        ("max-parts", str(validation.positive_int(max_parts, "max_parts", MAX_LIST_PARTS))),
    ]
    if part_number_marker is not None:
        marker, _ = validation.size_guards(part_number_marker, None, "part_number_marker", "")
        params.append(("part-number-marker", str(marker)))
    return _call("GET", key, params, {})


def parse_list_parts(status: int, headers: Headers, body: bytes) -> "_xml.PartsPage":
    """One page of List Parts."""
    check_status(status, headers, body)
    return _parse_xml(status, headers, _xml.parse_list_parts, body)


def next_parts_marker(page: "_xml.PartsPage", marker: Optional[int], pages: int) -> Optional[int]:
    """The ``part-number-marker`` of the page after ``page`` (page number ``pages``, asked with ``marker``),
    or ``None`` when ``page`` is the last. Pure: every client's pagination loop asks it.

    Raises:
        CosResponseError: Still truncated but the marker does not advance, goes past part 10,000, or the
            upload needs more than ``MAX_LIST_PARTS_PAGES`` pages (10,000 parts in pages of 1,000).
    """
    if not page.is_truncated:
        return None
    following = page.next_marker if page.next_marker is not None else (page.parts[-1].part_number if page.parts else None)
    if following is None or (marker is not None and following <= marker):
        raise CosResponseError(f"List Parts is truncated but its marker does not advance ({marker} -> {following})")
    if following >= MAX_PART_NUMBER or pages >= MAX_LIST_PARTS_PAGES:
        raise CosResponseError(
            f"List Parts is still truncated after {pages} pages (marker {following}): an upload has at most "
            f"{MAX_PART_NUMBER} parts (436/7750), {MAX_LIST_PARTS_PAGES} pages of {MAX_LIST_PARTS} (436/7747)"
        )
    return following


def next_uploads_markers(
    page: "_xml.UploadsPage", markers: Tuple[Optional[str], Optional[str]], pages: int, max_pages: int = MAX_LIST_UPLOADS_PAGES
) -> Optional[Tuple[str, Optional[str]]]:
    """``(key-marker, upload-id-marker)`` of the page after ``page`` (page number ``pages``, asked with
    ``markers``), or ``None`` when ``page`` is the last. Pure.

    Raises:
        CosResponseError: Still truncated but the markers do not advance (same pair, or a key marker that
            goes backwards: COS lists keys in ascending order, 436/7736), or more than ``max_pages`` pages.
    """
    if not page.is_truncated:
        return None
    key, upload_id = page.next_key_marker or None, page.next_upload_id_marker or None
    if key is None or (key, upload_id) == markers or (markers[0] is not None and key < markers[0]):
        raise CosResponseError(f"List Multipart Uploads is truncated but its markers do not advance ({(key, upload_id)})")
    if pages >= max_pages:
        raise CosResponseError(
            f"List Multipart Uploads is still truncated after {pages} pages of up to {MAX_LIST_UPLOADS} uploads "
            f"(this package's cap, limits.MAX_LIST_UPLOADS_PAGES; narrow it with a prefix)"
        )
    return key, upload_id


def prepare_list_uploads(
    *,
    prefix: Optional[str] = None,
    key_marker: Optional[str] = None,
    upload_id_marker: Optional[str] = None,
    max_uploads: int = MAX_LIST_UPLOADS,
) -> HttpCall:
    """``GET /?uploads`` for one page (436/7736); keys come back URL-encoded (``encoding-type=url``)."""
    params: List[Tuple[str, Optional[str]]] = [
        ("uploads", None),
        ("encoding-type", "url"),
        ("max-uploads", str(validation.positive_int(max_uploads, "max_uploads", MAX_LIST_UPLOADS))),
    ]
    for name, value, field in (("prefix", prefix, "prefix"), ("key-marker", key_marker, "key_marker"), ("upload-id-marker", upload_id_marker, "upload_id_marker")):
        if value is not None:
            if not isinstance(value, str) or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
                raise CosValidationError(field, value, "a string without control characters")
            params.append((name, value))
    return _call("GET", "", params, {})


def parse_list_uploads(status: int, headers: Headers, body: bytes) -> "_xml.UploadsPage":
    """One page of List Multipart Uploads."""
    check_status(status, headers, body)
    return _parse_xml(status, headers, _xml.parse_list_uploads, body)


# --- List Objects, Delete Multiple Objects ---------------------------------------------------------------


def _listing_text(value: Optional[str], field: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise CosValidationError(field, value, "a string without control characters")
    return value


def prepare_list_objects(
    *,
    prefix: Optional[str] = None,
    delimiter: Optional[str] = None,
    marker: Optional[str] = None,
    max_keys: int = MAX_LIST_KEYS,
) -> HttpCall:
    """``GET /`` (GET Bucket, 436/7734) for one page; keys come back URL-encoded (``encoding-type=url``).

    Args:
        prefix: Only keys starting with it.
        delimiter: Roll keys up to the first ``delimiter`` after the prefix into common prefixes (``"/"``:
            one "folder" level).
        marker: List keys after this one (the previous page's next marker).
        max_keys: Entries per page, 1..1000.
    """
    params: List[Tuple[str, Optional[str]]] = [
        ("encoding-type", "url"),
        ("max-keys", str(validation.positive_int(max_keys, "max_keys", MAX_LIST_KEYS))),
    ]
    for name, value in (("prefix", prefix), ("delimiter", delimiter), ("marker", marker)):
        text = _listing_text(value, name)
        if text:
            params.append((name, text))
    return _call("GET", "", params, {})


def parse_list_objects(status: int, headers: Headers, body: bytes) -> ObjectsPage:
    """One page of List Objects."""
    check_status(status, headers, body)
    return _parse_xml(status, headers, _xml.parse_list_objects, body)


def prepare_delete_objects(keys: Iterable[str], *, quiet: bool = True) -> HttpCall:
    """``POST /?delete`` with a ``<Delete>`` body of at most 1000 keys and its ``Content-MD5`` (required by
    COS, 436/8289). ``quiet`` answers only the failures.

    Raises:
        CosValidationError: No key, more than 1000, an invalid key, or a key twice.
    """
    chosen = [validate_key(key, max_bytes=ANY_MAX_KEY_BYTES) for key in keys]
    if not 1 <= len(chosen) <= MAX_DELETE_KEYS:
        raise CosValidationError("keys", len(chosen), f"1 to {MAX_DELETE_KEYS} keys per request (436/8289)")
    if len(set(chosen)) != len(chosen):
        raise CosValidationError("keys", next(k for k in chosen if chosen.count(k) > 1), "each key once")
    if not isinstance(quiet, bool):
        raise CosValidationError("quiet", quiet, "True or False")
    body = _xml.build_delete(chosen, quiet=quiet)
    headers = {
        "Content-Type": XML_CONTENT_TYPE,
        "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode("ascii"),
        "Content-Length": str(len(body)),
    }
    return _call("POST", "", [("delete", None)], headers, body, len(body))


def parse_delete_objects(status: int, headers: Headers, body: bytes) -> DeleteResult:
    """Delete Multiple Objects' answer: deleted keys (none in quiet mode) and failures."""
    check_status(status, headers, body)
    if not body.strip():  # quiet mode with nothing to report
        return DeleteResult((), (), (_request_id(headers),))
    deleted, failed = _parse_xml(status, headers, _xml.parse_delete_result, body)
    return DeleteResult(deleted, failed, (_request_id(headers),))


# --- simple object APIs ----------------------------------------------------------------------------------


def prepare_put_object(
    key: str,
    body: object,
    *,
    content_length: Optional[int] = None,
    content_md5: Optional[str] = None,
    traffic_limit: Optional[int] = None,
    forbid_overwrite: Optional[bool] = None,
    options: ObjectOptions = _NO_OPTIONS,
) -> HttpCall:
    """``PUT /<key>`` (436/7749)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    size = validation.object_size(validation.body_length(body, content_length))
    headers = object_headers(options)
    headers["Content-Length"] = str(size)
    if content_md5 is not None:
        headers["Content-MD5"] = validation.content_md5(content_md5)
    if traffic_limit is not None:
        headers[HEADER_TRAFFIC_LIMIT] = str(validation.traffic_limit(traffic_limit))
    if forbid_overwrite is not None:
        if not isinstance(forbid_overwrite, bool):
            raise CosValidationError("forbid_overwrite", forbid_overwrite, "True, False or None")
        headers[HEADER_FORBID_OVERWRITE] = "true" if forbid_overwrite else "false"
    return _call("PUT", key, [], headers, body, size)


def parse_put_object(status: int, headers: Headers, body: bytes, *, key: str, size: int) -> ObjectResult:
    """PUT Object's answer: ETag, CRC64, version id."""
    check_status(status, headers, body)
    info = response_info(status, headers)
    return ObjectResult(
        key=key,
        etag=_require_etag(info.headers, status),
        crc64=parse_crc64(info.headers.get(HEADER_CRC64), status=status, request_id=info.request_id),
        size=size,
        version_id=info.headers.get(HEADER_VERSION_ID),
        response=info,
    )


def prepare_head_object(key: str, *, sse_c: sse.EncryptionLike = None) -> HttpCall:
    """``HEAD /<key>``; SSE-C objects need the key (436/7745)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    return _call("HEAD", key, [], sse_c_headers(sse_c))


def parse_head_object(status: int, headers: Headers, body: bytes, *, key: str) -> ObjectResult:
    """HEAD Object's answer; errors have no body, so they carry only status and ids."""
    check_status(status, headers, body)
    return _object_result(status, headers, key)


def prepare_get_object(
    key: str,
    *,
    byte_range: Optional[Tuple[int, Optional[int]]] = None,
    sse_c: sse.EncryptionLike = None,
    if_match: Optional[str] = None,
    traffic_limit: Optional[int] = None,
) -> HttpCall:
    """``GET /<key>`` with an optional ``Range: bytes=first-last``; ``If-Match`` pins the answer to an ETag (an
    object replaced meanwhile answers 412), ``traffic_limit`` asks the service to pace the body (bit/s)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    headers = sse_c_headers(sse_c)
    range_header = validation.byte_range(byte_range)
    if range_header is not None:
        headers["Range"] = range_header
    if if_match is not None:
        if not isinstance(if_match, str) or not if_match or not if_match.isprintable():
            raise CosValidationError("if_match", if_match, "an ETag as the service answered it (quotes kept), or None")
        headers[HEADER_IF_MATCH] = if_match
    if traffic_limit is not None:
        headers[HEADER_TRAFFIC_LIMIT] = str(validation.traffic_limit(traffic_limit))
    return _call("GET", key, [], headers)


def parse_get_object(status: int, headers: Headers, body: bytes = b"", *, key: str) -> ObjectResult:
    """GET Object's status line and headers (the body is streamed by the caller): 200, or 206 for a range."""
    check_status(status, headers, body, (200, 206))
    return _object_result(status, headers, key)


def prepare_delete_object(key: str, version_id: Optional[str] = None) -> HttpCall:
    """``DELETE /<key>`` (436/7743); ``?versionId=`` removes that version for good (versioned buckets)."""
    validate_key(key, max_bytes=ANY_MAX_KEY_BYTES)
    if version_id is not None and (not isinstance(version_id, str) or not version_id or not version_id.isprintable()):
        raise CosValidationError("version_id", version_id, "a version id as the service answered it, or None")
    return _call("DELETE", key, [("versionId", version_id)] if version_id is not None else [], {})


def parse_delete_object(status: int, headers: Headers, body: bytes) -> ResponseInfo:
    """DELETE Object's answer (204, or 200)."""
    check_status(status, headers, body, (200, 204))
    return response_info(status, headers)


def _object_result(status: int, headers: Headers, key: str) -> ObjectResult:
    info = response_info(status, headers)
    length = info.headers.get("content-length", "")
    return ObjectResult(
        key=key,
        etag=info.headers.get("etag", ""),
        crc64=parse_crc64(info.headers.get(HEADER_CRC64), status=status, request_id=info.request_id),
        size=int(length) if length.isdigit() else None,
        version_id=info.headers.get(HEADER_VERSION_ID),
        response=info,
    )
