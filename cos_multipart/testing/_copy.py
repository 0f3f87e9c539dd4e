"""Server-side copy, the service side: PUT Object - Copy and Upload Part - Copy (COS 436/10881, 436/8287),
CopyObject and UploadPartCopy (OSS), from a :class:`Request` to a :class:`Reply`.

The source is opened once (:meth:`Store.open_object`): the version checked against the conditions and SSE-C
headers is the version whose bytes are copied, whatever happens to its key meanwhile. Its bytes are streamed
through a body sink like an uploaded body, so the copy's MD5 and CRC-64 are computed over the bytes stored: the
copied object (or part) gets the ETag a PUT (or Upload Part) of those bytes would get under the destination's
encryption, and its CRC-64 equals the source's (range's) because the bytes are the same. The service's own
rules differ where :class:`~._copy_rules.CopyRules` says (``request.dialect.copy``).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from . import _limits as limits
from . import _preconditions, protocol
from ._copy_rules import (
    COPY_SOURCE_HEADER,
    COPY_SOURCE_RANGE_HEADER,
    METADATA_DIRECTIVE_HEADER,
    REPLACE_DIRECTIVE,
    SOURCE_SSE_C_HEADERS,
    CopySource,
    check_directive,
    check_single_copy_size,
)
from ._messages import Reply, Request
from .protocol import ServiceError
from .store import BodySink, ObjectReader, ObjectRecord, Store

#: Bytes moved from the source to the sink at a time.
_CHUNK = 1024 * 1024
#: The one version id an object of this server (no versioning) answers to: S3-style "null".
NULL_VERSION = "null"


def put_object_copy(store: Store, request: Request, *, damage: bool = False) -> Reply:
    """PUT Object - Copy / CopyObject: the source's bytes as object ``request.key`` (``damage``: the
    ``corrupt`` fault, one bit of the first byte stored changed, and answered as stored)."""
    rules = request.dialect.copy
    source = rules.parse_source(request.headers[COPY_SOURCE_HEADER])
    directive = check_directive(request.headers.get(METADATA_DIRECTIVE_HEADER))
    requested = protocol.object_headers(request.headers)  # validated whichever directive applies
    encryption = protocol.encryption_of(request.headers)  # "SSE only if the request asks for it" (436/10881)
    protocol.traffic_limit(request.headers.get(protocol.TRAFFIC_LIMIT_HEADER))
    onto_itself = (source.bucket, source.key) == (request.bucket, request.key)
    if onto_itself and directive != REPLACE_DIRECTIVE and not rules.self_copy_replaces:
        raise ServiceError(
            400,
            "InvalidRequest",
            "This copy request is illegal because it copies an object onto itself without x-cos-metadata-directive: Replaced.",
        )
    replaced = directive == REPLACE_DIRECTIVE or onto_itself
    with _open_source(store, source) as reader:
        record = reader.record
        _check_source(record, request)
        check_single_copy_size(record.size, rules.max_object_size)
        headers = requested if replaced else _copied_headers(record.headers, requested)
        with store.sink(request.bucket) as sink:
            if damage:
                sink.damage_next_byte()
            _pour(reader, 0, record.size, sink)
            copied = store.put_object(
                request.bucket,
                request.key,
                sink,
                etag=store.etag_for(sink.hasher.md5_hex, encryption),
                headers=headers,
                encryption=encryption,
                forbid_overwrite=request.headers.get("x-cos-forbid-overwrite", "").strip().lower() == "true",
            )
    body = rules.object_result(copied.etag, copied.last_modified, copied.crc64)
    return Reply(200, tuple(encryption.echo_headers()), body, content_type="application/xml", crc64=copied.crc64)


def upload_part_copy(store: Store, request: Request, *, damage: bool = False) -> Reply:
    """Upload Part - Copy / UploadPartCopy: a range of the source (all of it without a range) as part
    ``partNumber``; its size is checked at Complete like an uploaded part's (``damage``: as for
    :func:`put_object_copy`)."""
    rules = request.dialect.copy
    number = protocol.part_number(request.param("partNumber"))
    upload_id = request.param("uploadId")
    if upload_id is None:
        raise protocol.invalid_argument("uploadId is required.")
    upload = store.get_upload(request.bucket, request.key, upload_id)
    protocol.check_part_encryption(upload.encryption, request.headers)  # the destination's SSE-C, as Upload Part
    protocol.traffic_limit(request.headers.get(protocol.TRAFFIC_LIMIT_HEADER))
    source = rules.parse_source(request.headers[COPY_SOURCE_HEADER])
    with _open_source(store, source) as reader:
        record = reader.record
        _check_source(record, request)
        first, length = rules.source_range(request.headers.get(COPY_SOURCE_RANGE_HEADER), record.size)
        if length > limits.MAX_PART_SIZE:
            raise ServiceError(400, "EntityTooLarge", f"A part is at most {limits.MAX_PART_SIZE} bytes.")
        with store.sink(request.bucket) as sink:
            if damage:
                sink.damage_next_byte()
            _pour(reader, first, length, sink)
            part = store.commit_part(upload, number, sink, store.etag_for(sink.hasher.md5_hex, upload.encryption))
    body = rules.part_result(part.etag, part.last_modified, part.crc64)
    return Reply(200, tuple(upload.encryption.echo_headers()), body, content_type="application/xml", crc64=part.crc64)


def replace_source(store: Store, request: Request) -> None:
    """The ``replace_source`` fault: overwrite the object ``request`` copied from (a copy) or read (GET Object)
    with other bytes of the same size (every byte inverted; an empty object gets one byte), so its ETag and
    CRC-64 change; its headers and encryption stay."""
    if COPY_SOURCE_HEADER in request.headers:
        source = request.dialect.copy.parse_source(request.headers[COPY_SOURCE_HEADER])
    else:
        source = CopySource(request.bucket, request.key)
    with store.open_object(source.bucket, source.key) as reader:
        record = reader.record
        with store.sink(source.bucket) as sink:
            _pour(reader, 0, record.size, sink, invert=True)
            if not record.size:
                sink.write(memoryview(b"\x00"))
            store.put_object(
                source.bucket,
                source.key,
                sink,
                etag=store.etag_for(sink.hasher.md5_hex, record.encryption),
                headers=record.headers,
                encryption=record.encryption,
            )


def _open_source(store: Store, source: CopySource) -> ObjectReader:
    """The source's current version, opened; 404 NoSuchBucket, NoSuchVersion or NoSuchKey."""
    if not store.has_bucket(source.bucket):
        raise protocol.no_such_bucket(source.bucket)
    if source.version_id is not None and source.version_id != NULL_VERSION:
        raise ServiceError(404, "NoSuchVersion", "The specified version does not exist (this server keeps no versions).")
    return store.open_object(source.bucket, source.key)


def _check_source(record: ObjectRecord, request: Request) -> None:
    """The source's SSE-C key (the copy-source SSE-C headers, checked as a GET's) then its conditions (412)."""
    sent: Dict[str, str] = {}
    for internal, header in zip(protocol.SSE_C_HEADERS, SOURCE_SSE_C_HEADERS):
        value = request.headers.get(header.lower())
        if value is not None:
            sent[internal.lower()] = value
    protocol.check_read_encryption(record.encryption, sent)
    _preconditions.evaluate(request.headers, record.etag, record.last_modified, copy_source=True)


def _copied_headers(source: Tuple[Tuple[str, str], ...], requested: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """``Copy``: the source's headers and metadata, but the storage class the request names (STANDARD when it
    names none: "unless specified, the destination object will be STANDARD", 436/10881)."""
    headers = [(name, value) for name, value in source if name != "x-cos-storage-class"]
    headers.extend((name, value) for name, value in requested if name == "x-cos-storage-class")
    return headers


def _pour(reader: ObjectReader, first: int, length: int, sink: BodySink, *, invert: bool = False) -> None:
    """Stream bytes ``first`` to ``first + length - 1`` of ``reader`` into ``sink`` (``invert``: every byte
    inverted, for the ``replace_source`` fault)."""
    buffer = bytearray(min(_CHUNK, max(length, 1)))
    view = memoryview(buffer)
    for data, offset, count in reader.pieces(first, length):
        data.seek(offset)
        left = count
        while left:
            got = data.readinto(view[: min(left, len(view))])
            if not got:
                raise ServiceError(500, "InternalError", "The source object's data ended early.")
            if invert:
                view[:got] = bytes(byte ^ 0xFF for byte in view[:got])
            sink.write(view[:got])
            left -= got
