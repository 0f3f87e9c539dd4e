"""Which service the local server plays, as a value: Tencent COS (the default) or Aliyun OSS.

The store, routing, faults and the service's APIs are shared; what differs is a field of
:class:`ServerDialect`, read where it matters (no "is this OSS?" in the service): where the bucket is named,
how signatures are verified, the header vocabulary at the edge (:attr:`~ServerDialect.inbound` /
:attr:`~ServerDialect.outbound`, identity for COS), part-size and ETag rules, the XML bodies and errors.

This is the server's own value, not :class:`cos_multipart._protocol.dialect.Dialect`: the server is an independent
oracle and must not share the client's code paths for the rules it checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, Mapping, Optional, Pattern, Sequence, Tuple
from urllib.parse import unquote

from . import _limits as limits
from .._protocol.credentials import Credentials
from .._protocol.errors import CosValidationError
from . import oss_protocol, protocol
from ._copy_rules import COS_COPY, OSS_COPY, CopyRules
from .auth import Keyring, ReceivedRequest, verify
from .oss_auth import SignedRequest, verify_v4
from .protocol import ServiceError

if TYPE_CHECKING:  # pragma: no cover
    from ._messages import Request

Headers = Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class Bodies:
    """The XML bodies of one service (same arguments for both; COS ignores ``encode`` where COS does)."""

    initiate: Callable[[str, str, str, bool], bytes]
    complete: Callable[[str, str, str, str, bool], bytes]
    list_parts: Callable[..., bytes]
    list_uploads: Callable[..., bytes]


@dataclass(frozen=True)
class ServerDialect:
    """One service's answers to every question on which the local server's COS and OSS modes differ.

    Attributes:
        name: ``"cos"`` or ``"oss"``.
        service: How messages name the service.
        default_bucket: The bucket of requests whose Host names none.
        default_region: Its region.
        bucket_pattern: Bucket names (fullmatch).
        bucket_rule: The bucket rule in words, for errors.
        region_example: A region, for errors.
        server_name: The ``Server`` header.
        request_id_header: The request id header.
        crc64_header: The CRC-64 header.
        min_part_size: Smallest part but the last, checked at Complete (COS 1 MB, OSS 100 KB).
        max_key_bytes: Longest object key in UTF-8 bytes (COS 850, OSS 1023).
        consecutive_parts: Complete's part numbers must follow each other (COS) or only ascend (OSS).
        digest_error: The code of a Content-MD5 mismatch (COS BadDigest, OSS InvalidDigest).
        upper_etags: ETags in upper-case hex (OSS).
        complete_keepalive: Complete answers 200 at once and sends whitespace while it merges (COS); OSS
            answers when the object exists.
        complete_all: ``x-oss-complete-all: yes`` is understood (OSS).
        object_type_header: HEAD/GET say ``x-oss-object-type`` (OSS).
        list_objects_v2: List Objects also answers version 2, ``list-type=2`` (OSS).
        locate: ``(Host, decoded path, default bucket, default region) -> (bucket, region, key)``.
        authenticate: Checks a request's signature; returns the credentials it was made with.
        inbound: A request's headers in the server's internal (COS) vocabulary.
        outbound: An answer's headers from the internal vocabulary to the service's.
        new_request_id: A request id from the time.
        storage_class: The service's name of an internal storage class.
        bodies: The XML bodies.
        error: ``(request, error, api) -> (headers, body)`` of an error answer.
        location: The ``<Location>`` of a Complete result.
        byte_range: ``(Range header, object size, request headers) -> (first, last)`` a GET serves, or
            ``None`` for the whole object (the services differ on invalid and out-of-range values).
        copy: The rules of the copy APIs (source form, source ranges, results).
    """

    name: str
    service: str
    default_bucket: str
    default_region: str
    bucket_pattern: Pattern[str]
    bucket_rule: str
    region_example: str
    server_name: str
    request_id_header: str
    crc64_header: str
    min_part_size: int
    max_key_bytes: int
    consecutive_parts: bool
    digest_error: str
    upper_etags: bool
    complete_keepalive: bool
    complete_all: bool
    object_type_header: bool
    list_objects_v2: bool
    locate: Callable[[str, str, str, str], Tuple[str, str, str]]
    authenticate: Callable[["Request", Keyring, float], Credentials]
    inbound: Callable[[Mapping[str, str]], Mapping[str, str]]
    outbound: Callable[[Sequence[Tuple[str, str]]], Headers]
    new_request_id: Callable[[float], str]
    storage_class: Callable[[str], str]
    bodies: Bodies
    error: Callable[["Request", ServiceError, str], Tuple[Headers, bytes]]
    location: Callable[["Request"], str]
    byte_range: Callable[[Optional[str], int, Mapping[str, str]], Optional[Tuple[int, int]]]
    copy: CopyRules

    def __hash__(self) -> int:
        return hash(self.name)

    def check_bucket(self, bucket: str) -> None:
        """Raises :class:`CosValidationError` when ``bucket`` breaks this service's naming rule."""
        if not self.bucket_pattern.fullmatch(bucket):
            raise CosValidationError("bucket", bucket, self.bucket_rule)


# --- COS: what the server always did ----------------------------------------------------------------


def _cos_locate(host: str, path: str, default_bucket: str, default_region: str) -> Tuple[str, str, str]:
    bucket, region = protocol.bucket_from_host(host, default_bucket, default_region)
    return bucket, region, path[1:]


def _cos_authenticate(request: "Request", keyring: Keyring, now: float) -> Credentials:
    received = ReceivedRequest(request.method, unquote(request.raw_path), request.params, request.headers)
    return verify(received, keyring, now)


def _identity_in(headers: Mapping[str, str]) -> Mapping[str, str]:
    return headers


def _identity_out(headers: Sequence[Tuple[str, str]]) -> Headers:
    return tuple(headers)


def _same(value: str) -> str:
    return value


def _cos_error(request: "Request", error: ServiceError, api: str) -> Tuple[Headers, bytes]:
    trace_id = protocol.new_trace_id()
    body = protocol.error_xml(error.code, error.message, request.resource, request.request_id, trace_id)
    return ((protocol.TRACE_ID_HEADER, trace_id),), body


def _cos_location(request: "Request") -> str:
    return request.location


def _cos_byte_range(value: Optional[str], size: int, headers: Mapping[str, str]) -> Optional[Tuple[int, int]]:
    return protocol.byte_range(value, size)


def _cos_initiate(bucket: str, key: str, upload_id: str, encode: bool) -> bytes:
    return protocol.initiate_xml(bucket, key, upload_id)


def _cos_complete(location: str, bucket: str, key: str, etag: str, encode: bool) -> bytes:
    return protocol.complete_xml(location, bucket, key, etag)


def _cos_list_parts(*, storage_class_name: str, **fields: object) -> bytes:
    return protocol.list_parts_xml(storage_class=storage_class_name, **fields)  # type: ignore[arg-type]


# --- OSS ----------------------------------------------------------------------------------------------


def _oss_authenticate(request: "Request", keyring: Keyring, now: float) -> Credentials:
    signed = SignedRequest(request.method, request.bucket, request.key, request.params, request.received_headers)
    return verify_v4(signed, keyring, now, region=request.region)


def _oss_error(request: "Request", error: ServiceError, api: str) -> Tuple[Headers, bytes]:
    ec = error.ec or oss_protocol.ec_for(error.code, api)
    host = oss_protocol.host_id(request.received_headers.get("host", ""), request.bucket, request.region)
    body = oss_protocol.error_xml(error.code, error.message, request.request_id, host, ec, error.details)
    return oss_protocol.error_headers(body, ec, head=request.method == "HEAD"), body


def _oss_location(request: "Request") -> str:
    return oss_protocol.location(request.bucket, request.region, request.key)


COS = ServerDialect(
    name="cos",
    service="COS",
    default_bucket="examplebucket-1250000000",
    default_region="ap-guangzhou",
    bucket_pattern=protocol._BUCKET_PATTERN,
    bucket_rule="<name>-<appid>: lowercase letters, digits and '-'",
    region_example="ap-guangzhou",
    server_name="tencent-cos",
    request_id_header=protocol.REQUEST_ID_HEADER,
    crc64_header=protocol.CRC64_HEADER,
    min_part_size=limits.MIN_PART_SIZE,
    max_key_bytes=limits.MAX_KEY_BYTES,
    consecutive_parts=True,
    digest_error="BadDigest",
    upper_etags=False,
    complete_keepalive=True,
    complete_all=False,
    object_type_header=False,
    list_objects_v2=False,
    locate=_cos_locate,
    authenticate=_cos_authenticate,
    inbound=_identity_in,
    outbound=_identity_out,
    new_request_id=protocol.new_request_id,
    storage_class=_same,
    bodies=Bodies(_cos_initiate, _cos_complete, _cos_list_parts, protocol.list_uploads_xml),
    error=_cos_error,
    location=_cos_location,
    byte_range=_cos_byte_range,
    copy=COS_COPY,
)

OSS = ServerDialect(
    name="oss",
    service="OSS",
    default_bucket=oss_protocol.DEFAULT_BUCKET,
    default_region=oss_protocol.DEFAULT_REGION,
    bucket_pattern=oss_protocol.BUCKET_PATTERN,
    bucket_rule=oss_protocol.BUCKET_RULE,
    region_example="cn-hangzhou",
    server_name=oss_protocol.SERVER_NAME,
    request_id_header=oss_protocol.REQUEST_ID_HEADER,
    crc64_header=oss_protocol.CRC64_HEADER,
    min_part_size=limits.OSS_MIN_PART_SIZE,
    max_key_bytes=limits.OSS_MAX_KEY_BYTES,
    consecutive_parts=False,
    digest_error="InvalidDigest",
    upper_etags=True,
    complete_keepalive=False,
    complete_all=True,
    object_type_header=True,
    list_objects_v2=True,
    locate=oss_protocol.locate,
    authenticate=_oss_authenticate,
    inbound=oss_protocol.inbound,
    outbound=oss_protocol.outbound,
    new_request_id=oss_protocol.new_request_id,
    storage_class=oss_protocol.storage_class,
    bodies=Bodies(oss_protocol.initiate_xml, oss_protocol.complete_xml, oss_protocol.list_parts_xml, oss_protocol.list_uploads_xml),
    error=_oss_error,
    location=_oss_location,
    byte_range=oss_protocol.byte_range,
    copy=OSS_COPY,
)

SERVER_DIALECTS: Dict[str, ServerDialect] = {dialect.name: dialect for dialect in (COS, OSS)}


def server_dialect(value: object) -> ServerDialect:
    """A :class:`ServerDialect` from itself or its name (``"cos"``, ``"oss"``, any case).

    Raises:
        CosValidationError: Anything else.
    """
    if isinstance(value, ServerDialect):
        return value
    if isinstance(value, str) and value.lower() in SERVER_DIALECTS:
        return SERVER_DIALECTS[value.lower()]
    raise CosValidationError("dialect", value, f"one of {', '.join(sorted(SERVER_DIALECTS))}")


__all__ = ["COS", "OSS", "SERVER_DIALECTS", "Bodies", "ServerDialect", "server_dialect"]
