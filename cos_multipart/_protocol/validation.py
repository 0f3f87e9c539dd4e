"""Every client-side rule on request arguments, as pure functions.

Each function returns the value in the form it is sent (normalised, e.g. an upper-case storage class) or
raises :class:`~cos_multipart._protocol.errors.CosValidationError` naming the field, the value and what is allowed.
The client calls these before it builds a request, so bad input never reaches the network and never
creates an upload. The doc line behind each rule is quoted next to it (or in :mod:`cos_multipart._protocol.limits`).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote

from .errors import CosValidationError
from .limits import (
    MAX_META_HEADER_BYTES,
    MAX_META_TOTAL_BYTES,
    MAX_PART_NUMBER,
    MAX_PART_SIZE,
    MAX_PUT_OBJECT_SIZE,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
    MAX_TRAFFIC_LIMIT,
    META_SUFFIX_PATTERN,
    MIN_PART_NUMBER,
    MIN_TRAFFIC_LIMIT,
    OBJECT_ACLS,
    STORAGE_CLASSES,
    TAG_CHARS_PATTERN,
)
from .models import CompletedPart, PartResult
from .signer import url_encode

META_PREFIX = "x-cos-meta-"
# Every pattern is used with fullmatch: "$" also matches before a trailing newline, which let "a\n" through.
_META_SUFFIX = re.compile(META_SUFFIX_PATTERN)
_TAG_CHARS = re.compile(TAG_CHARS_PATTERN)
#: "The format is id="[OwnerUin]" ... Multiple grantees can be separated by commas" (436/7746); the uin
#: may be "<ownerUin>/<subUin>" [ref 3.5].
_GRANT = re.compile(r'id="[0-9]+(?:/[0-9]+)?"(?:,[ ]*id="[0-9]+(?:/[0-9]+)?")*')
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")

#: Accepted shapes of one part handed to Complete.
PartLike = Union[CompletedPart, PartResult, Tuple[int, str]]


def _integer(field: str, value: object, allowed: str) -> int:
    # bool is an int subclass; True as a part number is a bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise CosValidationError(field, value, allowed)
    return value


def integer_in(field: str, value: object, low: int, high: Optional[int] = None, allowed: str = "") -> int:
    """``value`` as an int in ``[low, high]`` (no upper bound when ``high`` is ``None``).

    Raises:
        CosValidationError: Naming ``field``, ``value`` and ``allowed`` (by default "an integer from low to high").
    """
    if not allowed:
        allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    number = _integer(field, value, allowed)
    if number < low or (high is not None and number > high):
        raise CosValidationError(field, value, allowed)
    return number


def part_number(value: object, field: str = "part_number") -> int:
    """"partNumber ... Value range: 1-10000" (436/7750)."""
    allowed = f"an integer from {MIN_PART_NUMBER} to {MAX_PART_NUMBER} (436/7750)"
    return integer_in(field, value, MIN_PART_NUMBER, MAX_PART_NUMBER, allowed)


def part_size(size: int, field: str = "content_length") -> int:
    """"every part is 1 MB - 5 GB, the last part may be smaller than 1 MB" (436/7750).

    Only the upper bound is checked here: whether a part is the last one is known at Complete.
    """
    return integer_in(field, size, 0, MAX_PART_SIZE, f"0 to {MAX_PART_SIZE} bytes (5 GB) per part (436/7750)")


def object_size(size: int, field: str = "content_length") -> int:
    """"a single PUT Object uploads at most 5 GB" (436/7749)."""
    allowed = f"0 to {MAX_PUT_OBJECT_SIZE} bytes (5 GB) for PUT Object (436/7749)"
    return integer_in(field, size, 0, MAX_PUT_OBJECT_SIZE, allowed)


def traffic_limit(value: object, field: str = "traffic_limit") -> int:
    """"x-cos-traffic-limit ... range is 819200 - 838860800" bit/s (436/7750, 436/40140)."""
    allowed = f"an integer number of bit/s from {MIN_TRAFFIC_LIMIT} to {MAX_TRAFFIC_LIMIT} (436/40140)"
    return integer_in(field, value, MIN_TRAFFIC_LIMIT, MAX_TRAFFIC_LIMIT, allowed)


def size_guards(
    low: object, high: object, low_field: str, high_field: str
) -> Tuple[Optional[int], Optional[int]]:
    """``x-cos-psize-min/max`` (Upload Part) or ``x-cos-pnum-min/max`` (Complete): non-negative integers,
    min <= max when both are given (436/7750 [ref 3.3])."""
    allowed = "a non-negative integer or None"
    checked: List[Optional[int]] = []
    for field, value in ((low_field, low), (high_field, high)):
        if value is None:
            checked.append(None)
            continue
        checked.append(integer_in(field, value, 0, None, allowed))
    minimum, maximum = checked
    if minimum is not None and maximum is not None and minimum > maximum:
        raise CosValidationError(low_field, low, f"at most {high_field}={maximum}")
    return minimum, maximum


def content_md5(value: object, field: str = "content_md5") -> str:
    """"Content-MD5 = base64 of the 16-byte binary MD5 (24 chars)" (436/7728 [ref 2])."""
    allowed = "the base64 of a 16-byte MD5 digest (24 characters, e.g. 'OScKloo1fSQgfpkRFiUH6w==')"
    if not isinstance(value, str) or len(value) != 24 or not _BASE64.fullmatch(value):
        raise CosValidationError(field, value, allowed)
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CosValidationError(field, value, allowed) from None
    if len(digest) != 16:
        raise CosValidationError(field, value, allowed)
    return value


def upload_id(value: object, field: str = "upload_id") -> str:
    """An UploadId as Initiate returned it: opaque, non-empty, printable ASCII [ref 2.1]."""
    if not isinstance(value, str) or not value or not _printable(value):
        raise CosValidationError(field, value, "the non-empty UploadId returned by Initiate Multipart Upload")
    return value


def header_value(field: str, value: object) -> str:
    """A header value: printable ASCII (and tab) only, so no CR/LF can split the header block, and no
    leading or trailing space or tab.

    Refused rather than trimmed: HTTP lets any hop strip that whitespace (RFC 9110 5.5), so a value signed
    with it fails the signature check (403) once a proxy trims it, and COS could never store it anyway;
    trimming silently would store something other than what was asked for.
    """
    if not isinstance(value, str) or not _printable(value, allow_tab=True):
        raise CosValidationError(field, value, "printable ASCII text without CR/LF")
    if value != value.strip(" \t"):
        raise CosValidationError(field, value, "no leading or trailing space or tab (proxies may strip it, RFC 9110)")
    return value


def optional_header(headers: Dict[str, str], name: str, value: Optional[str], field: str) -> None:
    """Add ``name: value`` to ``headers`` when ``value`` is not ``None``, validated by :func:`header_value`."""
    if value is not None:
        headers[name] = header_value(field, value)


def storage_class(value: object, field: str = "storage_class") -> str:
    """``x-cos-storage-class`` from the enumeration of 436/7746 [ref 3.4]; case-insensitive, sent upper-case."""
    allowed = f"one of {', '.join(sorted(STORAGE_CLASSES))} (436/7746)"
    if not isinstance(value, str) or value.upper() not in STORAGE_CLASSES:
        raise CosValidationError(field, value, allowed)
    return value.upper()


def acl(value: object, field: str = "acl") -> str:
    """``x-cos-acl`` for objects: "default, private, public-read, authenticated-read, bucket-owner-read,
    bucket-owner-full-control" (436/30752 [ref 3.5])."""
    if not isinstance(value, str) or value not in OBJECT_ACLS:
        raise CosValidationError(field, value, f"one of {', '.join(sorted(OBJECT_ACLS))} (436/30752)")
    return value


def grant(value: object, field: str) -> str:
    """``x-cos-grant-*``: "The format is id="[OwnerUin]" ... separated by commas" (436/7746)."""
    allowed = 'id="<uin>" or id="<ownerUin>/<subUin>", comma-separated, e.g. id="100000000001",id="100000000002"'
    if not isinstance(value, str) or not _GRANT.fullmatch(value):
        raise CosValidationError(field, value, allowed)
    return value


def metadata(values: Optional[Mapping[str, str]], field: str = "metadata") -> Dict[str, str]:
    """``x-cos-meta-*`` headers from a mapping whose keys are suffixes or full header names.

    Rules (436/7746, seed 002): "The custom suffix supports hyphens (-), digits, and English letters ...
    Uppercase English letters are converted to lowercase. Other characters, including underscores (_), are
    not supported." "The size of a single header is limited to 2 KB. The total size of all
    x-cos-meta-[custom suffix] headers must not exceed 4 KB." A header's size is counted as
    ``len(name) + len(value)`` in UTF-8 bytes, name including the ``x-cos-meta-`` prefix. Names are sent
    lower-case, so two keys differing only in case are a conflict.
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise CosValidationError(field, values, "a mapping of metadata name to value")
    headers: Dict[str, str] = {}
    total = 0
    for name, value in values.items():
        suffix = name[len(META_PREFIX):] if isinstance(name, str) and name.lower().startswith(META_PREFIX) else name
        if not isinstance(suffix, str) or not _META_SUFFIX.fullmatch(suffix):
            raise CosValidationError(
                f"{field} name", name, "letters, digits and '-' after 'x-cos-meta-' (no '_'; 436/7746)"
            )
        header = META_PREFIX + suffix.lower()
        if header in headers:
            raise CosValidationError(f"{field} name", name, f"unique names ignoring case ('{header}' given twice)")
        text = header_value(header, value)
        size = len(header.encode("utf-8")) + len(text.encode("utf-8"))
        if size > MAX_META_HEADER_BYTES:
            raise CosValidationError(
                header, text, f"name + value at most {MAX_META_HEADER_BYTES} bytes (436/7746), got {size}"
            )
        total += size
        headers[header] = text
    if total > MAX_META_TOTAL_BYTES:
        raise CosValidationError(
            field, f"{len(headers)} headers, {total} bytes", f"all x-cos-meta-* headers together at most "
            f"{MAX_META_TOTAL_BYTES} bytes of names + values (436/7746)"
        )
    return headers


def tagging(value: Union[Mapping[str, str], str, None], field: str = "tagging") -> Optional[str]:
    """``x-cos-tagging``: "Up to 10 Tags ... Key1=Value1&Key2=Value2. The Key and Value ... must be
    URL-encoded" (436/7746); keys 1-127 and values 1-255 characters of letters, digits, space and
    ``+ - = . _ : / @`` (436/35664).

    Args:
        value: A mapping, or a ``k=v&k2=v2`` string (its parts are percent-decoded first, ``+`` is kept).

    Returns:
        The header value with keys and values URL-encoded, or ``None`` when ``value`` is ``None``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        pairs = _parse_tag_string(value, field)
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise CosValidationError(field, value, "a mapping of tag key to value or a 'k1=v1&k2=v2' string")
    if not pairs or len(pairs) > MAX_TAGS:
        raise CosValidationError(field, value, f"1 to {MAX_TAGS} tags (436/7746), got {len(pairs)}")
    seen = set()
    for key, tag in pairs:
        _tag_text(f"{field} key", key, MAX_TAG_KEY_CHARS)
        _tag_text(f"{field} value for {key!r}", tag, MAX_TAG_VALUE_CHARS)
        if key in seen:
            raise CosValidationError(f"{field} key", key, "unique tag keys")
        seen.add(key)
    return "&".join(f"{url_encode(key)}={url_encode(tag)}" for key, tag in pairs)


def _parse_tag_string(text: str, field: str) -> List[Tuple[str, str]]:
    pairs = []
    for item in text.split("&"):
        key, sep, tag = item.partition("=")
        if not sep:
            raise CosValidationError(field, text, "'key=value' pairs joined by '&'")
        pairs.append((unquote(key), unquote(tag)))
    return pairs


def _tag_text(field: str, value: object, longest: int) -> None:
    allowed = f"1 to {longest} characters: letters, digits, space and + - = . _ : / @ (436/35664)"
    if not isinstance(value, str) or not 1 <= len(value) <= longest or not _TAG_CHARS.fullmatch(value):
        raise CosValidationError(field, value, allowed)


def completed_parts(parts: Union[Iterable[PartLike], object], field: str = "parts") -> Tuple[CompletedPart, ...]:
    """The part list of Complete Multipart Upload: non-empty, numbers 1-10000 strictly ascending
    ("parts not in ascending order -> 400 InvalidPartOrder", 436/7742), ETags non-empty.

    Bare ETags (``abc...``) are quoted; Complete wants "the value returned by Upload Part's ETag header
    (quotes included)" (436/7742).
    """
    if isinstance(parts, (str, bytes)) or not isinstance(parts, Iterable):
        raise CosValidationError(field, parts, "a sequence of CompletedPart, PartResult or (number, etag)")
    result: List[CompletedPart] = []
    previous = 0
    for index, item in enumerate(parts):
        number, etag = _part_fields(item, f"{field}[{index}]")
        part_number(number, f"{field}[{index}].part_number")
        if number <= previous:
            raise CosValidationError(
                f"{field}[{index}].part_number", number, f"strictly ascending and unique part numbers (after {previous})"
            )
        previous = number
        result.append(CompletedPart(number, _etag(etag, f"{field}[{index}].etag")))
    if not result:
        raise CosValidationError(field, [], "at least one part")
    return tuple(result)


def _part_fields(item: object, field: str) -> Tuple[Any, Any]:
    if isinstance(item, (CompletedPart, PartResult)):
        return item.part_number, item.etag
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], item[1]
    raise CosValidationError(field, item, "a CompletedPart, a PartResult or a (number, etag) tuple")


def _etag(value: object, field: str) -> str:
    allowed = "the non-empty ETag returned by Upload Part (printable ASCII)"
    if not isinstance(value, str) or not _printable(value):
        raise CosValidationError(field, value, allowed)
    bare = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not bare or '"' in bare:
        raise CosValidationError(field, value, allowed)
    return f'"{bare}"'


def body_length(body: object, content_length: Optional[int], field: str = "body") -> int:
    """The number of bytes that will be sent from ``body``, found without any I/O on it.

    ``body`` is bytes-like (its length is ``len``) or a readable, seekable binary file object read from its
    current position (the transport rewinds it there before a retry). The length of a file object is
    ``content_length``, which is then required, unless the object has ``__len__`` (``content_length``
    may then send less). The stream is never seeked or told to measure it: that would be I/O, and wrong
    for a stream whose end is not the end of what is meant to be sent. COS needs ``Content-Length``
    (chunked encoding is not used).

    Raises:
        CosValidationError: ``body`` is of another type, or is a file object without ``__len__`` and no
            ``content_length`` was given, or ``content_length`` exceeds what ``body`` holds.
    """
    if isinstance(body, (bytes, bytearray)):
        length: Optional[int] = len(body)
    elif isinstance(body, memoryview):
        length = body.nbytes
    elif all(hasattr(body, name) for name in ("read", "seek", "tell")):
        length = len(body) if hasattr(body, "__len__") else None
    else:
        raise CosValidationError(field, type(body).__name__, "bytes, bytearray, memoryview or a seekable binary file")
    if length is None:
        allowed = f"the number of bytes to send from the {type(body).__name__}'s current position (required for a file object)"
        if content_length is None:
            raise CosValidationError("content_length", None, allowed)
        return integer_in("content_length", content_length, 0, None, allowed)
    if content_length is None:
        return length
    allowed = f"an integer from 0 to the {length} bytes available in the body"
    return integer_in("content_length", content_length, 0, length, allowed)


def byte_range(value: Optional[Sequence[Optional[int]]], field: str = "byte_range") -> Optional[str]:
    """A ``Range`` header from ``(first, last)`` (inclusive; ``last`` may be ``None`` for "to the end")."""
    if value is None:
        return None
    allowed = "(first, last) byte offsets, inclusive, 0 <= first <= last, or (first, None)"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise CosValidationError(field, value, allowed)
    first = _integer(field, value[0], allowed)
    last = None if value[1] is None else _integer(field, value[1], allowed)
    if first < 0 or (last is not None and last < first):
        raise CosValidationError(field, value, allowed)
    return f"bytes={first}-{'' if last is None else last}"


def positive_int(value: object, field: str, maximum: Optional[int] = None) -> int:
    """An integer >= 1 (and <= ``maximum`` when given)."""
    allowed = f"an integer from 1 to {maximum}" if maximum is not None else "a positive integer"
    return integer_in(field, value, 1, maximum, allowed)


#: Printable ASCII (with tab): one C-level match per value instead of a Python loop over its characters.
_PRINTABLE = re.compile("[ -~]*")
_PRINTABLE_OR_TAB = re.compile("[ -~\t]*")


def _printable(text: str, allow_tab: bool = False) -> bool:
    return (_PRINTABLE_OR_TAB if allow_tab else _PRINTABLE).fullmatch(text) is not None
