"""The pure side of the local server's bucket APIs: List Objects (GET Bucket) and Delete Multiple Objects.

Spelt out here, not taken from the client's builders and parsers, so that a wrong element name on either side
fails a test instead of being mirrored (the server is an independent oracle). Page selection works on keys
only; the service reads the records of the keys a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from lxml import etree

from . import _limits as limits
from .protocol import ServiceError, _element, _identity, _serialize, _text, app_id, iso_time

#: "max-keys: default 1000, at most 1000" (GET Bucket, 436/7734); larger values are clamped, as COS does.
MAX_KEYS = limits.MAX_LIST_KEYS
#: "at most 1000 objects in one request" (Delete Multiple Objects, 436/8289).
MAX_DELETE = limits.MAX_DELETE_KEYS
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class KeyListing:
    """The keys and common prefixes of one List Objects page."""

    keys: Tuple[str, ...]
    common_prefixes: Tuple[str, ...]
    truncated: bool
    next_marker: str


def list_objects_page(sorted_keys: Iterable[str], *, prefix: str, delimiter: str, marker: str, max_keys: int) -> KeyListing:
    """Select one page from keys in ascending order (436/7734).

    Keys after ``marker`` starting with ``prefix``; with a delimiter, keys sharing the text up to the first
    delimiter after the prefix roll up into one common prefix that counts once toward ``max-keys``, and a
    marker that is such a prefix skips every key under it.
    """
    keys: List[str] = []
    prefixes: List[str] = []
    last = ""
    truncated = False
    for key in sorted_keys:
        if not key.startswith(prefix) or key <= marker:
            continue
        if delimiter and marker.endswith(delimiter) and key.startswith(marker):
            continue
        rolled = _rolled(key, prefix, delimiter)
        if rolled is not None and prefixes and prefixes[-1] == rolled:
            continue
        if len(keys) + len(prefixes) >= max_keys:
            truncated = True
            break
        if rolled is not None:
            prefixes.append(rolled)
            last = rolled
        else:
            keys.append(key)
            last = key
    return KeyListing(tuple(keys), tuple(prefixes), truncated, last if truncated else "")


def _rolled(key: str, prefix: str, delimiter: str) -> Optional[str]:
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    return None if index == -1 else key[: index + len(delimiter)]


@dataclass(frozen=True)
class ContentsRow:
    """One ``<Contents>`` of List Objects."""

    key: str
    last_modified: float
    etag: str
    size: int
    storage_class: str


def list_objects_xml(
    *,
    bucket: str,
    listing: KeyListing,
    rows: Sequence[ContentsRow],
    prefix: str,
    delimiter: str,
    marker: str,
    max_keys: int,
    encode: bool,
) -> bytes:
    """``<ListBucketResult>`` in the element order of the GET Bucket sample (436/7734)."""
    root = etree.Element("ListBucketResult")
    _element(root, "Name", bucket)
    _element(root, "EncodingType", "url" if encode else None)
    _element(root, "Prefix", _text(prefix, encode))
    _element(root, "Marker", _text(marker, encode))
    _element(root, "MaxKeys", str(max_keys))
    _element(root, "Delimiter", _text(delimiter, encode) or None)
    _element(root, "IsTruncated", "true" if listing.truncated else "false")
    _element(root, "NextMarker", _text(listing.next_marker, encode) or None)
    owner = app_id(bucket)
    for row in rows:
        element = _element(root, "Contents")
        _element(element, "Key", _text(row.key, encode))
        _element(element, "LastModified", iso_time(row.last_modified))
        _element(element, "ETag", f'"{row.etag}"')
        _element(element, "Size", str(row.size))
        _identity(element, "Owner", owner)
        _element(element, "StorageClass", row.storage_class)
    for common in listing.common_prefixes:
        _element(_element(root, "CommonPrefixes"), "Prefix", _text(common, encode))
    return _serialize(root)


def parse_delete_body(body: bytes) -> Tuple[bool, List[str]]:
    """``(quiet, keys)`` of a ``<Delete>`` body (436/8289).

    Raises:
        ServiceError: 400 MalformedXML for anything else, no key, or more than 1000 keys.
    """
    malformed = ServiceError(400, "MalformedXML", "The XML you provided was not well-formed.")
    try:
        root = etree.fromstring(body.strip(), parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        raise malformed from None
    if etree.QName(root).localname != "Delete":
        raise malformed
    quiet = False
    keys: List[str] = []
    for element in root:
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        if name == "Quiet":
            quiet = (element.text or "").strip().lower() == "true"
        elif name == "Object":
            found = [child.text or "" for child in element if isinstance(child.tag, str) and etree.QName(child).localname == "Key"]
            if len(found) != 1 or not found[0]:
                raise malformed
            keys.append(found[0])
        else:
            raise malformed
    if not keys or len(keys) > MAX_DELETE:
        raise malformed
    return quiet, keys


def delete_result_xml(deleted: Sequence[str], errors: Sequence[Tuple[str, str, str]], *, quiet: bool) -> bytes:
    """``<DeleteResult>``: a ``<Deleted>`` per key (omitted in quiet mode) and an ``<Error>`` per failure."""
    root = etree.Element("DeleteResult")
    if not quiet:
        for key in deleted:
            _element(_element(root, "Deleted"), "Key", _text(key, False))
    for key, code, message in errors:
        element = _element(root, "Error")
        _element(element, "Key", _text(key, False))
        _element(element, "Code", code)
        _element(element, "Message", message)
    return _serialize(root)


__all__ = [
    "MAX_DELETE",
    "MAX_KEYS",
    "ContentsRow",
    "KeyListing",
    "delete_result_xml",
    "list_objects_page",
    "list_objects_xml",
    "parse_delete_body",
]
