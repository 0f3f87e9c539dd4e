"""Pure routing: a request line and headers to a :class:`Request`, and a :class:`Request` to a COS API name.

The table is data: ``(method, sub-resource) -> API``; the sub-resource is the first query parameter of
:data:`SELECTORS` the request carries that has a row for its method, else ``""``. Adding an API is one row (and one service method).
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, Optional, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

from . import protocol
from ._messages import Request
from .protocol import ServiceError
from .server_dialect import COS, ServerDialect

#: Query parameters that select a sub-resource, tried in this order.
SELECTORS = ("uploads", "uploadId", "partNumber", "delete")

#: ``(method, selector or "") -> API`` for requests naming an object key [ref 2, 3].
OBJECT_ROUTES: Dict[Tuple[str, str], str] = {
    ("POST", "uploads"): "InitiateMultipartUpload",
    ("POST", "uploadId"): "CompleteMultipartUpload",
    ("PUT", "uploadId"): "UploadPart",
    ("PUT", "partNumber"): "UploadPart",
    ("PUT", ""): "PutObject",
    ("GET", "uploadId"): "ListParts",
    ("GET", ""): "GetObject",
    ("HEAD", ""): "HeadObject",
    ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("DELETE", ""): "DeleteObject",
}
#: The same for requests on the bucket itself (no key).
BUCKET_ROUTES: Dict[Tuple[str, str], str] = {
    ("GET", "uploads"): "ListMultipartUploads",
    ("GET", ""): "ListObjects",
    ("POST", "delete"): "DeleteMultipleObjects",
    ("PUT", ""): "PutBucket",
}
#: The bucket's CORS rules (``?cors``): set and removed; reading them back is not implemented.
CORS_ROUTES = {"PUT": "PutBucketCors", "DELETE": "DeleteBucketCors"}
#: A request naming a copy source (``x-cos-copy-source``; OSS's is renamed to it) calls the copy form of its
#: API, under names the services use: ``PutObjectCopy`` (the title of COS's page 436/139742; OSS says
#: CopyObject) and ``UploadPartCopy`` (OSS's name; COS's "Upload Part - Copy").
COPY_SOURCE_HEADER = "x-cos-copy-source"
COPY_ROUTES = {"PutObject": "PutObjectCopy", "UploadPart": "UploadPartCopy"}
#: The API that makes its bucket: the only one served for a bucket the server does not hold.
CREATE_BUCKET = "PutBucket"
#: Sub-resources and headers of APIs this server does not implement.
UNSUPPORTED_PARAMS = frozenset({"acl", "tagging", "restore", "select", "append", "versionId", "versions", "cors", "lifecycle", "policy", "website", "logging", "referer", "inventory", "location"})
UNSUPPORTED_HEADERS: FrozenSet[str] = frozenset()
_NOT_IMPLEMENTED = "This local server implements the multipart and object APIs only."


def parse_request(
    method: str,
    target: str,
    header_items: Iterable[Tuple[str, str]],
    *,
    default_bucket: str,
    default_region: str,
    request_id: str,
    dialect: ServerDialect = COS,
) -> Request:
    """The :class:`Request` of a request line's method and target and its headers (first occurrence wins);
    ``dialect`` says where the bucket is named (the Host, or the path in OSS's path style)."""
    if target.startswith(("http://", "https://")):  # absolute form (through a proxy)
        parts = urlsplit(target)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    raw_path, _, raw_query = target.partition("?")
    headers: Dict[str, str] = {}
    for name, value in header_items:
        headers.setdefault(name.lower(), value)
    raw_path = raw_path or "/"
    bucket, region, key = dialect.locate(headers.get("host", ""), unquote(raw_path), default_bucket, default_region)
    return Request(
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        params=tuple(parse_qsl(raw_query, keep_blank_values=True)),
        headers=headers,
        key=key,
        bucket=bucket,
        region=region,
        request_id=request_id,
        dialect=dialect,
    )


def content_length(request: Request) -> Optional[int]:
    """The declared body length; ``None`` without one.

    Raises:
        ServiceError: 400 InvalidArgument for a value that is not a non-negative integer.
    """
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ServiceError(400, "InvalidArgument", "Content-Length must be a non-negative integer.")
    return int(value)


def route(request: Request) -> str:
    """The COS API ``request`` calls.

    Raises:
        ServiceError: 400 for a bad Content-Length or key, 501 NotImplemented for APIs this server does not
            have, 405 MethodNotAllowed for a method the resource has no API for.
    """
    content_length(request)
    unsupported = UNSUPPORTED_PARAMS.intersection(name for name, _ in request.params)
    if not request.key:
        if unsupported == {"cors"}:  # PUT / DELETE Bucket cors (436/8279, 436/8283; OSS PutBucketCors)
            api = CORS_ROUTES.get(request.method)
            if api is None:
                raise ServiceError(501, "NotImplemented", _NOT_IMPLEMENTED)
            return api
        api = None if unsupported else _lookup(BUCKET_ROUTES, request)
        if api is None:
            raise ServiceError(501, "NotImplemented", _NOT_IMPLEMENTED)
        return api
    protocol.check_key(request.key, request.dialect.max_key_bytes)
    if unsupported or UNSUPPORTED_HEADERS.intersection(request.headers):
        raise ServiceError(501, "NotImplemented", _NOT_IMPLEMENTED)
    api = _lookup(OBJECT_ROUTES, request)
    if api is None:
        message = f"The method {request.method} is not allowed on this resource."
        raise ServiceError(405, "MethodNotAllowed", message)
    if COPY_SOURCE_HEADER in request.headers:
        return COPY_ROUTES.get(api, api)
    return api


def _lookup(table: Dict[Tuple[str, str], str], request: Request) -> Optional[str]:
    for name in SELECTORS:
        if request.has_param(name) and (request.method, name) in table:
            return table[(request.method, name)]
    return table.get((request.method, ""))
