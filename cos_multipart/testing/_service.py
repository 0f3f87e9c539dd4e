"""The COS APIs of the local server: one method per API, from a :class:`Request` to a :class:`Reply`.

A method validates with :mod:`.protocol`, reads the body through the :class:`Body` it is given (the wire's
stream, or bytes in a test), works on the :class:`Store` and returns the reply as a value. It knows nothing
of sockets, faults or logs; :data:`HANDLERS` maps each API name to its method.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple

from . import _limits as limits
from . import _copy, _preconditions, bucket_protocol, oss_protocol, protocol
from ._cors import CorsTable, parse_rules
from ._hashing import crc64_of_parts
from ._messages import Completed, ObjectBody, Reply, Request, xml_reply
from ._routing import CREATE_BUCKET
from .protocol import ServiceError
from .store import BodySink, ObjectRecord, PartRecord, Store, UploadRecord


_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_BAD_DIGEST = "The Content-MD5 you specified did not match what we received."


class Body(Protocol):
    """The request body as the service reads it (the wire streams it from the socket)."""

    def receive(self, sink: BodySink, length: int, *, rate: Optional[float]) -> None:
        """Stream ``length`` bytes into ``sink``, paced at ``rate`` bytes/s (``None``: unlimited)."""

    def read_small(self, length: int) -> bytes:
        """Read ``length`` bytes (a small body: Complete's XML)."""


class Service:
    """The APIs, served from ``store``."""

    def __init__(self, store: Store, *, cors: Optional[CorsTable] = None) -> None:
        self.store = store
        self.cors = cors if cors is not None else CorsTable()

    def initiate(self, request: Request, body: Body) -> Reply:
        """Initiate Multipart Upload [ref 2.1]."""
        encryption = protocol.encryption_of(request.headers)
        upload = self.store.create_upload(
            request.bucket,
            request.key,
            storage_class=protocol.storage_class_of(request.headers),
            headers=protocol.object_headers(request.headers),
            encryption=encryption,
        )
        result = request.dialect.bodies.initiate(request.bucket, request.key, upload.upload_id, _encodes(request))
        return xml_reply(result, encryption.echo_headers())

    def upload_part(self, request: Request, body: Body) -> Reply:
        """Upload Part [ref 2.2]: streamed to disk, hashed as written."""
        number = protocol.part_number(request.param("partNumber"))
        upload = _upload(self.store, request)
        protocol.check_part_encryption(upload.encryption, request.headers)
        length = _declared_length(request, limits.MAX_PART_SIZE)
        protocol.check_size_guards(length, request.headers)
        expected_md5 = protocol.content_md5(request.headers.get("content-md5"))
        with self.store.sink(request.bucket) as sink:
            body.receive(sink, length, rate=_traffic_rate(request))
            _check_digest(request, bytes.fromhex(sink.hasher.md5_hex), expected_md5)
            part = self.store.commit_part(upload, number, sink, self.store.etag_for(sink.hasher.md5_hex, upload.encryption))
        return Reply(200, tuple(upload.encryption.echo_headers()), etag=part.etag, crc64=part.crc64)

    def complete(self, request: Request, body: Body) -> Reply:
        """Complete Multipart Upload [ref 2.3]: every rule checked before the 200, the merge after it."""
        upload = _upload(self.store, request)
        length = _declared_length(request, protocol.MAX_COMPLETE_BODY)
        expected_md5 = protocol.content_md5(request.headers.get("content-md5"))
        data = body.read_small(length)
        _check_digest(request, hashlib.md5(data).digest(), expected_md5)
        parts = {part.number: part for part in self.store.list_parts(upload)}
        requested = _complete_all(request, data, parts) if _completes_all(request) else protocol.parse_complete_body(data)
        pnum_min = protocol.integer(request.headers.get("x-cos-pnum-min"), "x-cos-pnum-min", 1, limits.MAX_PART_NUMBER)
        pnum_max = protocol.integer(request.headers.get("x-cos-pnum-max"), "x-cos-pnum-max", 1, limits.MAX_PART_NUMBER)
        forbid = _forbids_overwrite(request)
        stored = {number: (part.etag, part.size) for number, part in parts.items()}
        rules = request.dialect
        numbers = protocol.check_complete(
            requested,
            stored,
            pnum_min=pnum_min,
            pnum_max=pnum_max,
            min_part_size=rules.min_part_size,
            consecutive=rules.consecutive_parts,
        )
        selected = [parts[number] for number in numbers]
        if forbid and self.store.has_object(request.bucket, request.key):
            raise protocol.file_exists()
        crc = crc64_of_parts((part.crc64, part.size) for part in selected)

        def merge() -> Completed:
            try:
                record = self.store.complete(upload, selected, forbid_overwrite=forbid)
            except ServiceError as error:
                return Completed(error=error)
            return Completed(request.dialect.location(request), request.bucket, request.key, record.etag)

        return Reply(200, tuple(upload.encryption.echo_headers()), content_type="application/xml", crc64=crc, pending=merge)

    def abort(self, request: Request, body: Body) -> Reply:
        """Abort Multipart Upload [ref 2.4]."""
        self.store.abort(request.bucket, request.key, request.param("uploadId") or "")
        return Reply(204)

    def list_parts(self, request: Request, body: Body) -> Reply:
        """List Parts [ref 2.5]."""
        upload = _upload(self.store, request)
        encode = _encoding_type(request)
        max_parts = protocol.integer(request.param("max-parts"), "max-parts", 0, 2**31)
        max_parts = limits.MAX_LIST_PARTS if max_parts is None else min(max_parts, limits.MAX_LIST_PARTS)
        marker = protocol.integer(request.param("part-number-marker"), "part-number-marker", 0, 2**31) or 0
        remaining = [part for part in self.store.list_parts(upload) if part.number > marker]
        page = remaining[:max_parts]
        body_xml = request.dialect.bodies.list_parts(
            bucket=request.bucket,
            key=request.key,
            upload_id=upload.upload_id,
            storage_class_name=request.dialect.storage_class(upload.storage_class),
            parts=[protocol.PartRow(part.number, part.etag, part.size, part.last_modified, part.crc64) for part in page],
            marker=marker,
            max_parts=max_parts,
            truncated=len(remaining) > len(page),
            encode=encode,
        )
        return xml_reply(body_xml)

    def list_uploads(self, request: Request, body: Body) -> Reply:
        """List Multipart Uploads [ref 2.6]."""
        encode = _encoding_type(request)
        max_uploads = protocol.integer(request.param("max-uploads"), "max-uploads", 1, limits.MAX_LIST_UPLOADS)
        key_marker = request.param("key-marker") or ""
        page: Dict[str, Any] = {
            "prefix": request.param("prefix") or "",
            "delimiter": request.param("delimiter") or "",
            "key_marker": key_marker,
            "upload_id_marker": (request.param("upload-id-marker") or "") if key_marker else "",
            "max_uploads": limits.MAX_LIST_UPLOADS if max_uploads is None else max_uploads,
        }
        rows = [
            protocol.UploadRow(upload.key, upload.upload_id, upload.storage_class, upload.initiated)
            for upload in self.store.list_uploads(request.bucket)
        ]
        listing = protocol.list_uploads_page(rows, **page)
        return xml_reply(request.dialect.bodies.list_uploads(bucket=request.bucket, listing=listing, encode=encode, **page))

    def put_object(self, request: Request, body: Body) -> Reply:
        """PUT Object [ref 3.1]: streamed to disk, hashed as written."""
        encryption = protocol.encryption_of(request.headers)
        length = _declared_length(request, limits.MAX_PUT_OBJECT_SIZE)
        expected_md5 = protocol.content_md5(request.headers.get("content-md5"))
        with self.store.sink(request.bucket) as sink:
            body.receive(sink, length, rate=_traffic_rate(request))
            _check_digest(request, bytes.fromhex(sink.hasher.md5_hex), expected_md5)
            record = self.store.put_object(
                request.bucket,
                request.key,
                sink,
                etag=self.store.etag_for(sink.hasher.md5_hex, encryption),
                headers=protocol.object_headers(request.headers),
                encryption=encryption,
                forbid_overwrite=_forbids_overwrite(request),
            )
        return Reply(200, tuple(encryption.echo_headers()), etag=record.etag, crc64=record.crc64)

    def put_object_copy(self, request: Request, body: Body) -> Reply:
        """PUT Object - Copy (COS 436/10881) / CopyObject (OSS): see :mod:`._copy`."""
        return _copy.put_object_copy(self.store, request, damage=_damages(body))

    def upload_part_copy(self, request: Request, body: Body) -> Reply:
        """Upload Part - Copy (COS 436/8287) / UploadPartCopy (OSS): see :mod:`._copy`."""
        return _copy.upload_part_copy(self.store, request, damage=_damages(body))

    def replace_copy_source(self, request: Request) -> None:
        """The ``replace_source`` fault, after ``request`` (a copy) was served: see :func:`._copy.replace_source`.
        A source gone meanwhile is left gone: the copy's answer stands."""
        try:
            _copy.replace_source(self.store, request)
        except ServiceError:
            pass

    def head_object(self, request: Request, body: Body) -> Reply:
        """HEAD Object [ref 3.3]."""
        record = self.store.get_object(request.bucket, request.key)
        protocol.check_read_encryption(record.encryption, request.headers)
        if _preconditions.evaluate(request.headers, record.etag, record.last_modified) == _preconditions.NOT_MODIFIED:
            return _not_modified(record)
        return Reply(200, _object_headers(record, request), etag=record.etag, crc64=record.crc64, length=record.size)

    def get_object(self, request: Request, body: Body) -> Reply:
        """GET Object [ref 3.2]: the version opened first is the one served, whatever happens meanwhile."""
        reader = self.store.open_object(request.bucket, request.key)
        try:
            record = reader.record
            protocol.check_read_encryption(record.encryption, request.headers)
            if _preconditions.evaluate(request.headers, record.etag, record.last_modified) == _preconditions.NOT_MODIFIED:
                reader.close()
                return _not_modified(record)
            # A ranged answer carries the whole object's CRC-64, not the range's (see docs/local-server.md).
            selected = request.dialect.byte_range(request.headers.get("range"), record.size, request.headers)
            headers = _object_headers(record, request)
            first, last = selected if selected is not None else (0, record.size - 1)
            length = last - first + 1 if record.size else 0
            if selected is not None:
                headers += (("Content-Range", f"bytes {first}-{last}/{record.size}"),)
            return Reply(
                206 if selected is not None else 200,
                headers,
                etag=record.etag,
                crc64=record.crc64,
                length=length,
                stream=ObjectBody(reader, first, length),
                rate=_traffic_rate(request),
            )
        except BaseException:
            reader.close()
            raise

    def delete_object(self, request: Request, body: Body) -> Reply:
        """DELETE Object [ref 3.4]."""
        self.store.delete_object(request.bucket, request.key)
        return Reply(204)

    def list_objects(self, request: Request, body: Body) -> Reply:
        """List Objects (GET Bucket, 436/7734): ``prefix``, ``delimiter``, ``marker``, ``max-keys``; in OSS mode
        also version 2 (``list-type=2``) [oss-api 3]."""
        encode = _encoding_type(request)
        max_keys = protocol.integer(request.param("max-keys"), "max-keys", 1, 2**31)
        version_2 = request.dialect.list_objects_v2 and request.param("list-type") == "2"
        marker = oss_protocol.continuation_marker(request) if version_2 else request.param("marker") or ""
        page: Dict[str, Any] = {
            "prefix": request.param("prefix") or "",
            "delimiter": request.param("delimiter") or "",
            "marker": marker,
            "max_keys": bucket_protocol.MAX_KEYS if max_keys is None else min(max_keys, bucket_protocol.MAX_KEYS),
        }
        listing = bucket_protocol.list_objects_page(self.store.list_keys(request.bucket), **page)
        rows = []
        for key in listing.keys:
            record = self.store.find_object(request.bucket, key)
            if record is not None:  # deleted since the keys were read
                storage_class = request.dialect.storage_class(protocol.storage_class_of(dict(record.headers)))
                rows.append(bucket_protocol.ContentsRow(key, record.last_modified, record.etag, record.size, storage_class))
        if version_2:
            return xml_reply(oss_protocol.list_objects_v2_xml(request, listing, rows, encode=encode, max_keys=page["max_keys"]))
        xml = bucket_protocol.list_objects_xml(bucket=request.bucket, listing=listing, rows=rows, encode=encode, **page)
        return xml_reply(xml)

    def check_bucket(self, request: Request, api: str) -> None:
        """Refuse a request for a bucket this server does not hold (any API but PUT Bucket).

        Raises:
            ServiceError: 404 NoSuchBucket, as COS and OSS answer [ref 4.2].
        """
        if api != CREATE_BUCKET and not self.store.has_bucket(request.bucket):
            raise protocol.no_such_bucket(request.bucket)

    def put_bucket(self, request: Request, body: Body) -> Reply:
        """PUT Bucket (COS 436/7738; OSS PutBucket): ``PUT /`` on the bucket's host, an optional
        ``<CreateBucketConfiguration>`` body (read, not applied); 409 BucketAlreadyExists when it is held."""
        length = request.headers.get("content-length")
        if length is not None:
            body.read_small(_declared_length(request, protocol.MAX_COMPLETE_BODY))
        if not self.store.create_bucket(request.bucket):
            raise protocol.bucket_exists()
        return Reply(200)

    def put_bucket_cors(self, request: Request, body: Body) -> Reply:
        """PUT Bucket cors (COS 436/8279; OSS PutBucketCors): the bucket's rules replaced by the body's."""
        length = _declared_length(request, protocol.MAX_COMPLETE_BODY)
        self.cors.set(request.bucket, parse_rules(body.read_small(length)))
        return Reply(200)

    def delete_bucket_cors(self, request: Request, body: Body) -> Reply:
        """DELETE Bucket cors (COS 436/8283; OSS DeleteBucketCors): the bucket's own rules removed."""
        self.cors.set(request.bucket, ())
        return Reply(204)

    def delete_objects(self, request: Request, body: Body) -> Reply:
        """Delete Multiple Objects (436/8289): Content-MD5 required; a missing key counts as deleted."""
        length = _declared_length(request, protocol.MAX_COMPLETE_BODY)
        expected_md5 = protocol.content_md5(request.headers.get("content-md5"))
        if expected_md5 is None:
            raise ServiceError(400, "InvalidRequest", "Missing required header for this request: Content-MD5.")
        data = body.read_small(length)
        _check_digest(request, hashlib.md5(data).digest(), expected_md5)
        quiet, keys = bucket_protocol.parse_delete_body(data)
        deleted: List[str] = []
        errors: List[Tuple[str, str, str]] = []
        for key in keys:
            try:
                protocol.check_key(key, request.dialect.max_key_bytes)
                self.store.delete_object(request.bucket, key)
            except ServiceError as error:
                errors.append((key, error.code, error.message))
            else:
                deleted.append(key)
        return xml_reply(bucket_protocol.delete_result_xml(deleted, errors, quiet=quiet))


#: API name -> the method serving it.
HANDLERS: Dict[str, Callable[[Service, Request, Body], Reply]] = {
    "InitiateMultipartUpload": Service.initiate,
    "PutBucketCors": Service.put_bucket_cors,
    "DeleteBucketCors": Service.delete_bucket_cors,
    "UploadPart": Service.upload_part,
    "CompleteMultipartUpload": Service.complete,
    "AbortMultipartUpload": Service.abort,
    "ListParts": Service.list_parts,
    "ListMultipartUploads": Service.list_uploads,
    "PutObject": Service.put_object,
    "PutObjectCopy": Service.put_object_copy,
    "UploadPartCopy": Service.upload_part_copy,
    "GetObject": Service.get_object,
    "HeadObject": Service.head_object,
    "DeleteObject": Service.delete_object,
    "ListObjects": Service.list_objects,
    "DeleteMultipleObjects": Service.delete_objects,
    "PutBucket": Service.put_bucket,
}


def _damages(body: Body) -> bool:
    """Whether the ``corrupt`` fault applies to this request (see ``_dispatch._Corrupting``)."""
    return bool(getattr(body, "damages", False))


def _upload(store: Store, request: Request) -> UploadRecord:
    upload_id = request.param("uploadId")
    if upload_id is None:
        raise protocol.invalid_argument("uploadId is required.")
    return store.get_upload(request.bucket, request.key, upload_id)


def _encoding_type(request: Request) -> bool:
    value = request.param("encoding-type")
    if value not in (None, "url"):
        raise protocol.invalid_argument(f"encoding-type must be url, got {value!r}.")
    return value == "url"


def _traffic_rate(request: Request) -> Optional[float]:
    """``x-cos-traffic-limit`` (header or query) in bytes/s; the wire adds the server's bandwidth cap."""
    header = protocol.TRAFFIC_LIMIT_HEADER
    bits = protocol.traffic_limit(request.headers.get(header) or request.param(header))
    return bits / 8 if bits else None


def _declared_length(request: Request, maximum: int) -> int:
    value = request.headers.get("content-length")
    if value is None:
        raise ServiceError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    length = int(value)  # routing refused anything but digits
    if length > maximum:
        raise ServiceError(400, "EntityTooLarge", f"Your proposed upload exceeds the maximum allowed size ({maximum} bytes).")
    return length


def _check_digest(request: Request, actual: bytes, expected: Optional[bytes]) -> None:
    if expected is not None and actual != expected:
        raise ServiceError(400, request.dialect.digest_error, _BAD_DIGEST)


def _encodes(request: Request) -> bool:
    """``encoding-type=url`` asked for (Initiate: not validated, as COS ignores it there)."""
    return request.param("encoding-type") == "url"


def _completes_all(request: Request) -> bool:
    return request.dialect.complete_all and request.headers.get(oss_protocol.COMPLETE_ALL_HEADER) is not None


def _complete_all(request: Request, data: bytes, parts: Mapping[int, PartRecord]) -> List[Tuple[int, str]]:
    """``x-oss-complete-all: yes``: every uploaded part, by number; the body must be empty [oss-api 3.3]."""
    if request.headers.get(oss_protocol.COMPLETE_ALL_HEADER, "").strip() != "yes":
        raise protocol.invalid_argument("x-oss-complete-all must be yes.")
    if data:
        raise ServiceError(400, "InvalidArgument", "With x-oss-complete-all the body must be empty.", ec="0042-00000216")
    if not parts:
        raise ServiceError(400, "InvalidPart", "The upload has no parts to complete.")
    return [(number, parts[number].etag) for number in sorted(parts)]


def _forbids_overwrite(request: Request) -> bool:
    return request.headers.get("x-cos-forbid-overwrite", "").strip().lower() == "true"


def _not_modified(record: ObjectRecord) -> Reply:
    """304 Not Modified: no body; the validators ``ETag`` and ``Last-Modified`` (RFC 9110 15.4.5)."""
    return Reply(304, (("Last-Modified", protocol.http_date(record.last_modified)),), etag=record.etag, code="NotModified")


def _object_headers(record: ObjectRecord, request: Request) -> Tuple[Tuple[str, str], ...]:
    headers: List[Tuple[str, str]] = [
        (name.title() if not name.startswith("x-cos-") else name, value) for name, value in record.headers
    ]
    for param, header in _RESPONSE_OVERRIDES.items():
        value = request.param(param)
        if value is not None:
            headers = [(name, old) for name, old in headers if name.lower() != header.lower()]
            headers.append((header, value))
    headers.append(("Last-Modified", protocol.http_date(record.last_modified)))
    headers.append(("Accept-Ranges", "bytes"))
    if request.dialect.object_type_header:
        headers.append(("x-cos-object-type", oss_protocol.object_type(len(record.segments))))
    headers.extend(record.encryption.echo_headers())
    return tuple(headers)
