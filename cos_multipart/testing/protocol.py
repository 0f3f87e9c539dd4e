"""The pure side of the local server: COS errors, request validation, XML bodies, ranges and hosts.

Nothing here touches a socket or a file, so every rule is tested with plain values. Each rule quotes the
documentation line it enforces (from the server's own :mod:`._limits` or the reference section in brackets).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import math
import re
import secrets
from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, quote

from lxml import etree

from . import _limits as limits
from ._names import random_hex

#: Header names of server-side encryption [ref 6.1].
SSE_HEADER = "x-cos-server-side-encryption"
SSE_KMS_KEY_ID_HEADER = "x-cos-server-side-encryption-cos-kms-key-id"
SSE_CONTEXT_HEADER = "x-cos-server-side-encryption-context"
SSE_C_ALGORITHM_HEADER = "x-cos-server-side-encryption-customer-algorithm"
SSE_C_KEY_HEADER = "x-cos-server-side-encryption-customer-key"
SSE_C_KEY_MD5_HEADER = "x-cos-server-side-encryption-customer-key-MD5"
SSE_C_HEADERS = (SSE_C_ALGORITHM_HEADER, SSE_C_KEY_HEADER, SSE_C_KEY_MD5_HEADER)

TRAFFIC_LIMIT_HEADER = "x-cos-traffic-limit"
CRC64_HEADER = "x-cos-hash-crc64ecma"
REQUEST_ID_HEADER = "x-cos-request-id"
TRACE_ID_HEADER = "x-cos-trace-id"

#: The CMK id echoed for SSE-KMS when the client names none (COS then uses a CMK it creates) [ref 6.1].
DEFAULT_KMS_KEY_ID = "local-cos-default-cmk"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: Stored with the object and answered by HEAD/GET (436/7745: "the object's standard HTTP headers").
STORED_STANDARD_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")

#: Owner/initiator identity in listings (CAM format ``qcs::cam::uin/<root>:uin/<sub>``) [ref 2.5].
LOCAL_UIN = "100000000001"
_BUCKET_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9]+")  # fullmatch: "$" passes "\n"
_COS_HOST_PATTERN = re.compile(r"^(?P<bucket>[^.]+)\.cos\.(?P<region>[a-z0-9-]+)\.")
_UPLOAD_ID_PATTERN = re.compile(r"[0-9]{10}[0-9a-f]{64}")
_META_SUFFIX = re.compile(limits.META_SUFFIX_PATTERN)
_TAG_CHARS = re.compile(limits.TAG_CHARS_PATTERN)
#: Characters XML 1.0 cannot carry; keys holding them are URL-encoded in listings.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class ServiceError(Exception):
    """An error the server answers with an ``<Error>`` body [ref 4.1].

    ``ec`` (OSS's fine-grained code, ``""``: looked up by code) and ``details`` (extra ``(element, text)``
    pairs of an OSS body) are for the OSS mode; the COS body has neither.
    """

    def __init__(
        self, status: int, code: str, message: str, *, ec: str = "", details: Tuple[Tuple[str, str], ...] = ()
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.ec = ec
        self.details = details
        super().__init__(f"{status} {code}: {message}")


def invalid_argument(message: str) -> ServiceError:
    """400 InvalidArgument: "invalid request parameter" [ref 4.2]."""
    return ServiceError(400, "InvalidArgument", message)


def no_such_upload() -> ServiceError:
    """404 NoSuchUpload: "uploadId unknown" [ref 4.2]."""
    return ServiceError(404, "NoSuchUpload", "The specified upload does not exist.")


def no_such_bucket(bucket: str) -> ServiceError:
    """404 NoSuchBucket: "bucket missing" [ref 4.2]; OSS's body names it in ``<BucketName>`` (COS's in
    ``<Resource>``)."""
    return ServiceError(404, "NoSuchBucket", "The specified bucket does not exist.", details=(("BucketName", bucket),))


def bucket_exists() -> ServiceError:
    """409 BucketAlreadyExists: PUT Bucket of a bucket that exists and is the requester's (COS 436/7738; OSS
    answers the same code)."""
    return ServiceError(409, "BucketAlreadyExists", "The requested bucket name is not available.")


def file_exists() -> ServiceError:
    """409 FileAlreadyExists: ``x-cos-forbid-overwrite: true`` and the key holds an object (undocumented code)."""
    return ServiceError(409, "FileAlreadyExists", "An object with the same key already exists.")


# --- identifiers ---------------------------------------------------------------------------------------


def new_request_id(now: float) -> str:
    """A request id shaped like COS's: base64 of ``<hex time>_<hex>_<hex>_<hex>`` [ref 2]."""
    raw = f"{int(now):08x}_{random_hex(4)}_{random_hex(2)}_{random_hex(3)}"
    return base64.b64encode(raw.encode("ascii")).decode("ascii")


def new_trace_id() -> str:
    """An opaque per-error trace id."""
    return base64.b64encode(secrets.token_bytes(48)).decode("ascii")


def new_upload_id(now: float) -> str:
    """74 characters: the 10-digit initiation time then 64 lowercase hex, like COS [ref 2.1]."""
    return f"{int(now):010d}{secrets.token_hex(32)}"


def is_upload_id(value: str) -> bool:
    """True when ``value`` has the shape of an upload id this server issues (anything else is unknown)."""
    return bool(_UPLOAD_ID_PATTERN.fullmatch(value))


def is_bucket_name(value: str) -> bool:
    """``<BucketName>-<APPID>``: ``[a-z0-9-]``, not starting or ending with ``-`` [ref 7.2]."""
    return bool(_BUCKET_PATTERN.fullmatch(value))


def bucket_from_host(host: str, default_bucket: str, default_region: str) -> Tuple[str, str]:
    """The bucket and region a ``Host`` header names [ref 7.1].

    ``<bucket>.cos.<region>.myqcloud.com`` names both; ``<bucket>.<anything>`` names the bucket; an IP
    address, ``localhost`` or a custom domain (first label not shaped like ``name-appid``) names none, and
    the defaults apply.
    """
    name = host.strip().lower()
    if name.startswith("["):
        return default_bucket, default_region
    name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    match = _COS_HOST_PATTERN.match(name)
    if match and is_bucket_name(match.group("bucket")):
        return match.group("bucket"), match.group("region")
    first, dot, _ = name.partition(".")
    if dot and is_bucket_name(first):
        return first, default_region
    return default_bucket, default_region


def app_id(bucket: str) -> str:
    """The APPID suffix of a bucket name."""
    return bucket.rsplit("-", 1)[-1]


def http_date(timestamp: float) -> str:
    """RFC 1123 date (``Last-Modified``, ``Date``)."""
    global _last_http_date  # noqa: PLW0603 - a one-entry cache
    second = math.floor(timestamp)
    last = _last_http_date  # one tuple, read once: another thread may replace it meanwhile
    if last[0] == second:
        return last[1]
    text = datetime.datetime.fromtimestamp(second, datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    _last_http_date = (second, text)
    return text


# The last second formatted: every answer carries a Date, most within the second of the one before.
_last_http_date: Tuple[Optional[int], str] = (None, "")


def iso_time(timestamp: float) -> str:
    """ISO-8601 with milliseconds and ``Z``, as in listings (Java SDK parses only this) [ref 2.5]."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- request validation --------------------------------------------------------------------------------


def check_key(key: str, max_bytes: int = limits.MAX_KEY_BYTES) -> None:
    """Object key rules of 436/13324 [ref 7.3] (OSS: ``max_bytes`` 1023 [oss-api 4])."""
    if len(key.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ServiceError(
            400, "KeyTooLong", f"The object key is longer than {max_bytes} bytes after UTF-8 encoding."
        )
    if key.startswith(limits.FORBIDDEN_KEY_PREFIXES):
        raise ServiceError(400, "InvalidURI", "The object key must not start with / or \\.")
    if any(ord(char) in limits.FORBIDDEN_KEY_CODEPOINTS for char in key):
        raise ServiceError(400, "InvalidURI", "The object key must not contain ASCII characters 24, 25, 26 or 27.")


def integer(value: Optional[str], name: str, low: int, high: int) -> Optional[int]:
    """Parse an optional decimal parameter within ``low..high``; 400 InvalidArgument otherwise."""
    return None if value is None else bounded_integer(value, name, low, high)


def bounded_integer(value: str, name: str, low: int, high: int) -> int:
    """Parse a decimal parameter within ``low..high``; 400 InvalidArgument otherwise."""
    text = value.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise invalid_argument(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    return int(text)


def part_number(value: Optional[str]) -> int:
    """"partNumber ... Value range: 1-10000" (436/7750)."""
    if value is None:
        raise invalid_argument("partNumber is required.")
    return bounded_integer(value, "partNumber", limits.MIN_PART_NUMBER, limits.MAX_PART_NUMBER)


def traffic_limit(value: Optional[str]) -> Optional[int]:
    """"The speed limit setting range is 819200 - 838860800 ... If outside of this range, it will return a
    400 error." (436/7750) Returns bits per second."""
    return integer(value, TRAFFIC_LIMIT_HEADER, limits.MIN_TRAFFIC_LIMIT, limits.MAX_TRAFFIC_LIMIT)


def content_md5(value: Optional[str]) -> Optional[bytes]:
    """``Content-MD5`` = base64 of the 16-byte MD5; anything else is 400 InvalidDigest [ref 4.2]."""
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise ServiceError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
    return digest


def check_size_guards(size: int, headers: Mapping[str, str]) -> None:
    """``x-cos-psize-min`` / ``x-cos-psize-max``: "a part larger / smaller than the value fails" [ref 3.3]."""
    low = integer(headers.get("x-cos-psize-min"), "x-cos-psize-min", 0, 2**63)
    high = integer(headers.get("x-cos-psize-max"), "x-cos-psize-max", 0, 2**63)
    if high is not None and size > high:
        raise ServiceError(400, "EntityTooLarge", f"The part is larger than x-cos-psize-max ({high} bytes).")
    if low is not None and size < low:
        raise ServiceError(400, "EntityTooSmall", f"The part is smaller than x-cos-psize-min ({low} bytes).")


@dataclass(frozen=True)
class Encryption:
    """What the server keeps about an object's encryption: the mode and what it echoes, never a key.

    Attributes:
        mode: ``""`` (none), ``"SSE-COS"``, ``"SSE-KMS"`` or ``"SSE-C"``.
        kms_key_id: The CMK id (SSE-KMS).
        customer_key_md5: Base64 MD5 of the customer key (SSE-C); it identifies the key without revealing it.
    """

    mode: str = ""
    kms_key_id: str = ""
    customer_key_md5: str = ""

    def echo_headers(self) -> List[Tuple[str, str]]:
        """The SSE response headers of 436/7729 [ref 6.3] (never the key)."""
        if self.mode == "SSE-COS":
            return [(SSE_HEADER, limits.SSE_COS_ALGORITHM)]
        if self.mode == "SSE-KMS":
            return [(SSE_HEADER, limits.SSE_KMS_ALGORITHM), (SSE_KMS_KEY_ID_HEADER, self.kms_key_id)]
        if self.mode == "SSE-C":
            return [
                (SSE_C_ALGORITHM_HEADER, limits.SSE_C_ALGORITHM),
                (SSE_C_KEY_MD5_HEADER, self.customer_key_md5),
            ]
        return []

    @property
    def etag_is_md5(self) -> bool:
        """"ETag = hex MD5 of the part only for no-SSE and SSE-COS" [ref 6.4]."""
        return self.mode in ("", "SSE-COS")


def sse_c_key_md5(headers: Mapping[str, str]) -> Optional[str]:
    """Check the SSE-C trio [ref 6.1]; return the key MD5 (base64), or ``None`` when no SSE-C header is sent."""
    values = [headers.get(name.lower()) for name in SSE_C_HEADERS]
    if not any(values):
        return None
    algorithm, key, key_md5 = values
    if not (algorithm and key and key_md5):
        raise invalid_argument("SSE-C needs the customer-algorithm, customer-key and customer-key-MD5 headers.")
    if algorithm != limits.SSE_C_ALGORITHM:
        raise invalid_argument(f"{SSE_C_ALGORITHM_HEADER} must be {limits.SSE_C_ALGORITHM}.")
    try:
        raw_key = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw_key = b""
    if len(raw_key) != limits.SSE_C_KEY_BYTES:
        raise invalid_argument(f"{SSE_C_KEY_HEADER} must be the base64 of a {limits.SSE_C_KEY_BYTES}-byte key.")
    computed = base64.b64encode(hashlib.md5(raw_key).digest()).decode("ascii")
    if computed != key_md5.strip():
        raise invalid_argument("The calculated MD5 of the SSE-C key does not match customer-key-MD5.")
    return computed


def encryption_of(headers: Mapping[str, str]) -> Encryption:
    """The encryption an Initiate or PUT Object asks for [ref 6.1, 6.2]."""
    sse = headers.get(SSE_HEADER)
    customer_md5 = sse_c_key_md5(headers)
    key_id = headers.get(SSE_KMS_KEY_ID_HEADER)
    context = headers.get(SSE_CONTEXT_HEADER)
    if sse is not None and customer_md5 is not None:
        raise invalid_argument("SSE-C cannot be combined with x-cos-server-side-encryption.")
    if customer_md5 is not None:
        return Encryption("SSE-C", customer_key_md5=customer_md5)
    if sse is None:
        if key_id is not None or context is not None:
            raise invalid_argument("The KMS key id and context need x-cos-server-side-encryption: cos/kms.")
        return Encryption()
    if sse == limits.SSE_COS_ALGORITHM:
        if key_id is not None or context is not None:
            raise invalid_argument("The KMS key id and context are only for x-cos-server-side-encryption: cos/kms.")
        return Encryption("SSE-COS")
    if sse == limits.SSE_KMS_ALGORITHM:
        if context is not None:
            _check_kms_context(context)
        return Encryption("SSE-KMS", kms_key_id=key_id or DEFAULT_KMS_KEY_ID)
    raise invalid_argument(
        f"x-cos-server-side-encryption must be {limits.SSE_COS_ALGORITHM} or {limits.SSE_KMS_ALGORITHM}, got {sse!r}."
    )


def _check_kms_context(context: str) -> None:
    """"x-cos-server-side-encryption-context: base64 of a UTF-8 JSON object" [ref 6.1]."""
    try:
        decoded = json.loads(base64.b64decode(context, validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if not isinstance(decoded, dict):
        raise invalid_argument(f"{SSE_CONTEXT_HEADER} must be the base64 of a UTF-8 JSON object.")


def check_part_encryption(upload: Encryption, headers: Mapping[str, str]) -> None:
    """Upload Part takes "only the SSE-C trio, and only (and then mandatorily, with the same key) if the
    upload was initiated with SSE-C" [ref 6.2]."""
    if headers.get(SSE_HEADER) is not None or headers.get(SSE_KMS_KEY_ID_HEADER) is not None:
        raise ServiceError(400, "SSEHeaderNotAllowed", "Upload Part does not take x-cos-server-side-encryption.")
    customer_md5 = sse_c_key_md5(headers)
    if upload.mode != "SSE-C":
        if customer_md5 is not None:
            raise ServiceError(400, "SSEHeaderNotAllowed", "The upload was not initiated with SSE-C.")
        return
    if customer_md5 is None:
        raise invalid_argument("The upload was initiated with SSE-C: every part needs the same SSE-C headers.")
    if customer_md5 != upload.customer_key_md5:
        raise invalid_argument("The SSE-C key differs from the one the upload was initiated with.")


def check_read_encryption(stored: Encryption, headers: Mapping[str, str]) -> None:
    """GET/HEAD of an SSE-C object need the same key; SSE-COS/KMS headers "must not be sent on download"."""
    if headers.get(SSE_HEADER) is not None:
        raise invalid_argument("x-cos-server-side-encryption must not be sent on download.")
    customer_md5 = sse_c_key_md5(headers)
    if stored.mode != "SSE-C":
        if customer_md5 is not None:
            raise invalid_argument("The object is not encrypted with SSE-C.")
        return
    if customer_md5 is None:
        raise ServiceError(400, "InvalidRequest", "The object is encrypted with SSE-C: send the SSE-C headers.")
    if customer_md5 != stored.customer_key_md5:
        raise ServiceError(403, "AccessDenied", "The SSE-C key does not match the object's key.")


def object_headers(headers: Mapping[str, str]) -> List[Tuple[str, str]]:
    """Validate the object options of Initiate / PUT Object and return the headers stored with the object.

    Covers ``Content-Type`` and the other standard headers, ``x-cos-meta-*`` (436/7746: suffix of hyphens,
    digits and letters; "a single header is limited to 2 KB ... all ... together to 4 KB"),
    ``x-cos-storage-class`` [ref 3.4], ``x-cos-acl`` [ref 3.5] and ``x-cos-tagging`` [ref 3.1].
    """
    stored = [("content-type", headers.get("content-type") or DEFAULT_CONTENT_TYPE)]
    stored.extend((name, headers[name]) for name in STORED_STANDARD_HEADERS if name in headers)
    stored.extend(_user_metadata(headers))
    storage_class = storage_class_of(headers)
    if storage_class != "STANDARD":
        stored.append(("x-cos-storage-class", storage_class))
    acl = headers.get("x-cos-acl")
    if acl is not None and acl not in limits.OBJECT_ACLS:
        raise invalid_argument(f"x-cos-acl must be one of {', '.join(sorted(limits.OBJECT_ACLS))}, got {acl!r}.")
    tagging = headers.get("x-cos-tagging")
    if tagging is not None:
        stored.append(("x-cos-tagging-count", str(_tag_count(tagging))))
    return stored


def storage_class_of(headers: Mapping[str, str]) -> str:
    """``x-cos-storage-class``, parsed case-insensitively; default STANDARD [ref 3.4]."""
    value = headers.get("x-cos-storage-class")
    if value is None:
        return "STANDARD"
    if value.upper() not in limits.STORAGE_CLASSES:
        raise ServiceError(400, "InvalidStorageClass", f"The storage class {value!r} is not supported.")
    return value.upper()


def _user_metadata(headers: Mapping[str, str]) -> List[Tuple[str, str]]:
    metadata = []
    total = 0
    for name, value in headers.items():
        if not name.startswith("x-cos-meta-"):
            continue
        suffix = name[len("x-cos-meta-") :]
        if not _META_SUFFIX.fullmatch(suffix):
            raise invalid_argument(f"The metadata header {name!r} may use only letters, digits and hyphens.")
        size = len(name.encode("utf-8")) + len(value.encode("latin-1", "replace"))
        if size > limits.MAX_META_HEADER_BYTES:
            raise ServiceError(400, "MetadataTooLarge", f"The metadata header {name} is larger than 2 KB.")
        total += size
        metadata.append((name, value))
    if total > limits.MAX_META_TOTAL_BYTES:
        raise ServiceError(400, "MetadataTooLarge", "The x-cos-meta-* headers are larger than 4 KB together.")
    return metadata


def _tag_count(tagging: str) -> int:
    tags = parse_qsl(tagging, keep_blank_values=True)
    if len(tags) > limits.MAX_TAGS:
        raise invalid_argument(f"x-cos-tagging holds at most {limits.MAX_TAGS} tags.")
    for key, value in tags:
        if not 1 <= len(key) <= limits.MAX_TAG_KEY_CHARS or len(value) > limits.MAX_TAG_VALUE_CHARS:
            raise invalid_argument("A tag key is 1-127 characters and a tag value at most 255.")
        if not _TAG_CHARS.fullmatch(key) or (value and not _TAG_CHARS.fullmatch(value)):
            raise invalid_argument("Tags use letters, digits, space and + - = . _ : / @.")
    return len(tags)


def byte_range(value: Optional[str], size: int) -> Optional[Tuple[int, int]]:
    """The inclusive ``(first, last)`` bytes a ``Range`` header asks for, or ``None`` for the whole object.

    Raises:
        ServiceError: 416 InvalidRange when the range starts past the end.
    """
    if value is None:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # unsupported forms are ignored, as RFC 9110 allows
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash or not (first_text.isdigit() or last_text.isdigit()):
        return None
    if not first_text:
        length = int(last_text)
        if length == 0 or size == 0:
            raise ServiceError(416, "InvalidRange", "The requested range is not satisfiable.")
        return max(0, size - length), size - 1
    first = int(first_text)
    last = int(last_text) if last_text.isdigit() else size - 1
    if last_text and last < first:
        return None  # syntactically invalid: ignored
    if first >= size:
        raise ServiceError(416, "InvalidRange", "The requested range is not satisfiable.")
    return first, min(last, size - 1)


# --- Complete Multipart Upload ------------------------------------------------------------------------

#: 10,000 parts of a generous 400 bytes each.
MAX_COMPLETE_BODY = 4 * limits.MB
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_complete_body(body: bytes) -> List[Tuple[int, str]]:
    """The ``(PartNumber, ETag)`` list of a ``<CompleteMultipartUpload>`` body, in document order [ref 2.3].

    Raises:
        ServiceError: 400 MalformedXML for anything that is not such a document with at least one part.
    """
    malformed = ServiceError(400, "MalformedXML", "The XML you provided was not well-formed.")
    try:
        root = etree.fromstring(body.strip(), parser=_SAFE_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        raise malformed from None
    if etree.QName(root).localname != "CompleteMultipartUpload":
        raise malformed
    parts = []
    for element in root:
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        if etree.QName(element).localname != "Part":
            raise malformed
        fields = {
            etree.QName(child).localname: (child.text or "").strip() for child in element if isinstance(child.tag, str)
        }
        number, etag = fields.get("PartNumber", ""), fields.get("ETag")
        if not number.isdigit() or etag is None:
            raise malformed
        parts.append((int(number), etag))
    if not parts:
        raise malformed
    return parts


def check_complete(
    requested: Sequence[Tuple[int, str]],
    stored: Mapping[int, Tuple[str, int]],
    *,
    pnum_min: Optional[int] = None,
    pnum_max: Optional[int] = None,
    min_part_size: int = limits.MIN_PART_SIZE,
    consecutive: bool = True,
) -> List[int]:
    """Apply Complete's rules (436/7742) [ref 2.3]; return the part numbers to assemble, in order.

    Args:
        requested: ``(PartNumber, ETag)`` from the body.
        stored: Part number -> ``(etag without quotes, size)`` of the uploaded parts.
        pnum_min: ``x-cos-pnum-min``; fewer parts fail [ref 3.3].
        pnum_max: ``x-cos-pnum-max``; more parts fail [ref 3.3].
        min_part_size: Smallest part but the last (COS 1 MB; OSS 100 KB [oss-api 3.3]).
        consecutive: Whether the part numbers must follow each other (COS); OSS only needs them ascending.
    """
    numbers = [number for number, _ in requested]
    if any(later <= earlier for earlier, later in zip(numbers, numbers[1:])):
        raise ServiceError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
    if pnum_max is not None and len(numbers) > pnum_max:
        raise invalid_argument(f"The upload has {len(numbers)} parts, more than x-cos-pnum-max ({pnum_max}).")
    if pnum_min is not None and len(numbers) < pnum_min:
        raise invalid_argument(f"The upload has {len(numbers)} parts, fewer than x-cos-pnum-min ({pnum_min}).")
    for number, etag in requested:
        if number not in stored:
            raise ServiceError(400, "InvalidPart", f"Part {number} has not been uploaded.")
        if _bare_etag(etag) != stored[number][0].lower():  # OSS stores upper-case ETags
            raise ServiceError(400, "InvalidPart", f"The ETag of part {number} does not match the uploaded part.")
    # "part numbers not consecutive -> 400 InvalidPart" (436/7742)
    if consecutive and numbers[-1] - numbers[0] != len(numbers) - 1:
        raise ServiceError(400, "InvalidPart", "The part numbers are not consecutive.")
    # "a non-last part < 1 MB -> 400 EntityTooSmall" (436/7742); OSS: 100 KB (EC 0042-00000213)
    for number in numbers[:-1]:
        if stored[number][1] < min_part_size:
            raise ServiceError(
                400,
                "EntityTooSmall",
                f"Part {number} is smaller than {min_part_size} bytes and is not the last part.",
            )
    return numbers


def _bare_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


# --- XML bodies ----------------------------------------------------------------------------------------


def _text(value: str, encode: bool) -> str:
    if encode or _XML_INVALID.search(value):
        return quote(value, safe="/")
    return value


def _element(parent: etree._Element, tag: str, text: Optional[str] = None) -> etree._Element:
    child = etree.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def _serialize(root: etree._Element, *, declaration: bool = True) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=declaration, encoding="UTF-8"))


def error_xml(code: str, message: str, resource: str, request_id: str, trace_id: str) -> bytes:
    """The ``<Error>`` body of 436/7730 [ref 4.1]."""
    root = etree.Element("Error")
    for tag, text in (
        ("Code", code),
        ("Message", message),
        ("Resource", _text(resource, False)),
        ("RequestId", request_id),
        ("TraceId", trace_id),
    ):
        _element(root, tag, text)
    return _serialize(root)


def initiate_xml(bucket: str, key: str, upload_id: str) -> bytes:
    """``<InitiateMultipartUploadResult>`` (no XML declaration, like the doc samples) [ref 2.1]."""
    root = etree.Element("InitiateMultipartUploadResult")
    _element(root, "Bucket", bucket)
    _element(root, "Key", _text(key, False))
    _element(root, "UploadId", upload_id)
    return _serialize(root, declaration=False)


#: The default namespace of the doc's Complete sample [ref 2.3].
COMPLETE_NAMESPACE = "http://www.qcloud.com/document/product/436/7751"


def complete_xml(location: str, bucket: str, key: str, etag: str) -> bytes:
    """``<CompleteMultipartUploadResult>`` WITHOUT an XML declaration: it follows whitespace chunks, and a
    declaration after whitespace breaks common parsers [ref 2.3]."""
    namespaces = {None: COMPLETE_NAMESPACE}
    root = etree.Element(f"{{{COMPLETE_NAMESPACE}}}CompleteMultipartUploadResult", nsmap=namespaces)  # type: ignore[arg-type]
    _element(root, f"{{{COMPLETE_NAMESPACE}}}Location", location)
    _element(root, f"{{{COMPLETE_NAMESPACE}}}Bucket", bucket)
    _element(root, f"{{{COMPLETE_NAMESPACE}}}Key", _text(key, False))
    _element(root, f"{{{COMPLETE_NAMESPACE}}}ETag", f'"{etag}"')
    return _serialize(root, declaration=False)


def _identity(parent: etree._Element, tag: str, uin: str) -> None:
    element = _element(parent, tag)
    _element(element, "ID", f"qcs::cam::uin/{uin}:uin/{uin}")
    _element(element, "DisplayName", uin)


@dataclass(frozen=True)
class PartRow:
    """One ``<Part>`` of List Parts."""

    number: int
    etag: str
    size: int
    last_modified: float
    crc64: Optional[int] = None


def list_parts_xml(
    *,
    bucket: str,
    key: str,
    upload_id: str,
    storage_class: str,
    parts: Sequence[PartRow],
    marker: int,
    max_parts: int,
    truncated: bool,
    encode: bool,
) -> bytes:
    """``<ListPartsResult>`` in the element order of the real sample [ref 2.5]."""
    root = etree.Element("ListPartsResult")
    _element(root, "Bucket", bucket)
    _element(root, "EncodingType", "url" if encode else None)
    _element(root, "Key", _text(key, encode))
    _element(root, "UploadId", upload_id)
    _identity(root, "Owner", app_id(bucket))
    _element(root, "PartNumberMarker", str(marker))
    _identity(root, "Initiator", LOCAL_UIN)
    for part in parts:
        element = _element(root, "Part")
        _element(element, "PartNumber", str(part.number))
        _element(element, "LastModified", iso_time(part.last_modified))
        _element(element, "ETag", f'"{part.etag}"')
        _element(element, "Size", str(part.size))
    if truncated and parts:
        _element(root, "NextPartNumberMarker", str(parts[-1].number))
    _element(root, "StorageClass", storage_class)
    _element(root, "MaxParts", str(max_parts))
    _element(root, "IsTruncated", "true" if truncated else "false")
    return _serialize(root)


@dataclass(frozen=True)
class UploadRow:
    """One ``<Upload>`` of List Multipart Uploads."""

    key: str
    upload_id: str
    storage_class: str
    initiated: float


@dataclass(frozen=True)
class UploadListing:
    """What one page of List Multipart Uploads holds."""

    uploads: Tuple[UploadRow, ...]
    common_prefixes: Tuple[str, ...]
    truncated: bool
    next_key_marker: str
    next_upload_id_marker: str


def list_uploads_page(
    rows: Iterable[UploadRow],
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
) -> UploadListing:
    """Select one page of uploads, sorted by key then upload id [ref 2.6].

    ``upload-id-marker`` is "ignored without key-marker; with it, lists key > marker, or key == marker and
    uploadId > upload-id-marker". With a delimiter, keys sharing a prefix up to the delimiter roll up into
    one ``CommonPrefixes`` entry that counts once toward ``max-uploads``.
    """
    uploads: List[UploadRow] = []
    prefixes: List[str] = []
    last_key = last_upload = ""
    truncated = False
    for row in sorted(rows, key=lambda item: (item.key, item.upload_id)):
        if not row.key.startswith(prefix) or not _after_marker(row, key_marker, upload_id_marker, delimiter):
            continue
        rolled = _common_prefix(row.key, prefix, delimiter)
        if rolled is not None and prefixes and prefixes[-1] == rolled:
            continue
        if len(uploads) + len(prefixes) == max_uploads:
            truncated = True
            break
        if rolled is not None:
            prefixes.append(rolled)
            last_key, last_upload = rolled, ""
        else:
            uploads.append(row)
            last_key, last_upload = row.key, row.upload_id
    return UploadListing(
        tuple(uploads),
        tuple(prefixes),
        truncated,
        last_key if truncated else "",
        last_upload if truncated else "",
    )


def _after_marker(row: UploadRow, key_marker: str, upload_id_marker: str, delimiter: str) -> bool:
    if not key_marker:
        return True
    if delimiter and key_marker.endswith(delimiter) and row.key.startswith(key_marker):
        return False  # the marker is a common prefix already listed
    if row.key != key_marker:
        return row.key > key_marker
    return bool(upload_id_marker) and row.upload_id > upload_id_marker


def _common_prefix(key: str, prefix: str, delimiter: str) -> Optional[str]:
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    return None if index == -1 else key[: index + len(delimiter)]


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
    """``<ListMultipartUploadsResult>`` [ref 2.6]."""
    root = etree.Element("ListMultipartUploadsResult")
    _element(root, "Bucket", bucket)
    _element(root, "Encoding-Type", "url" if encode else None)
    _element(root, "KeyMarker", _text(key_marker, encode) or None)
    _element(root, "UploadIdMarker", upload_id_marker or None)
    _element(root, "NextKeyMarker", _text(listing.next_key_marker, encode) or None)
    _element(root, "NextUploadIdMarker", listing.next_upload_id_marker or None)
    _element(root, "MaxUploads", str(max_uploads))
    _element(root, "IsTruncated", "true" if listing.truncated else "false")
    _element(root, "Prefix", _text(prefix, encode) or None)
    _element(root, "Delimiter", _text(delimiter, encode) or None)
    identity = app_id(bucket)
    for row in listing.uploads:
        element = _element(root, "Upload")
        _element(element, "Key", _text(row.key, encode))
        _element(element, "UploadId", row.upload_id)
        _element(element, "StorageClass", row.storage_class)
        _identity(element, "Initiator", LOCAL_UIN)
        _identity(element, "Owner", identity)
        _element(element, "Initiated", iso_time(row.initiated))
    for common in listing.common_prefixes:
        _element(_element(root, "CommonPrefixes"), "Prefix", _text(common, encode))
    return _serialize(root)
