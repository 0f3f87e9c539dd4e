"""The values passed between the local server's layers: a :class:`Request` in, a :class:`Reply` out.

The wire (:mod:`._wire`) turns bytes into a :class:`Request` and a :class:`Reply` into bytes; routing,
the service and the fault effects only ever see these values, so they are tested without a socket. A
reply's ETag and CRC-64 are fields, not headers, so that faults alter them in one place (:mod:`._effects`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from . import protocol
from .protocol import ServiceError
from .store import ObjectReader

Headers = Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class Request:
    """One request as received, decoded.

    Attributes:
        method: HTTP method.
        raw_path: The path as sent (percent-encoded), ``/`` at least.
        raw_query: The query string as sent.
        params: Query parameters, decoded, in the order received.
        headers: Header name (lowercase) to value, first occurrence.
        key: The object key (the decoded path without its leading ``/``).
        bucket: The bucket the Host names, or the server's default.
        region: The region the Host names, or the server's default.
        request_id: The ``x-cos-request-id`` this request is answered with.
    """

    method: str
    raw_path: str
    raw_query: str
    params: Tuple[Tuple[str, str], ...]
    headers: Mapping[str, str]
    key: str
    bucket: str
    region: str
    request_id: str

    def param(self, name: str) -> Optional[str]:
        """The value of query parameter ``name`` (exact name), or ``None``."""
        for key, value in self.params:
            if key == name:
                return value
        return None

    def has_param(self, name: str) -> bool:
        """Whether query parameter ``name`` is present (with or without a value)."""
        return any(key == name for key, _ in self.params)

    @property
    def resource(self) -> str:
        """The ``<Resource>`` of an error about this request."""
        return f"{self.bucket}.cos.{self.region}.myqcloud.com/{quote(self.key, safe='/')}"

    @property
    def location(self) -> str:
        """The object's URL as COS spells it in a Complete result."""
        return f"http://{self.resource}"


@dataclass(frozen=True)
class ObjectBody:
    """Bytes ``first`` to ``first + length - 1`` of an open object version, sent after the headers.

    The wire closes ``reader`` once sent (or when the connection fails).
    """

    reader: ObjectReader
    first: int
    length: int


@dataclass(frozen=True)
class Completed:
    """What Complete sends after its whitespace: the result, or the ``<Error>`` COS puts in a 200."""

    location: str = ""
    bucket: str = ""
    key: str = ""
    etag: str = ""
    error: Optional[ServiceError] = None


@dataclass(frozen=True)
class Reply:
    """One answer, before the wire writes it.

    Attributes:
        status: HTTP status; 0 means no answer at all (a reset fault drops the connection).
        headers: Response headers besides the ones every answer carries.
        body: A small body sent whole.
        content_type: ``Content-Type``, if any.
        etag: Sent as a quoted ``ETag`` header.
        crc64: Sent as ``x-cos-hash-crc64ecma``.
        code: The error code, for the access log.
        length: ``Content-Length`` when it is not ``len(body)`` (HEAD, GET).
        stream: GET: the object bytes sent after the headers.
        rate: Bytes/s the body is paced at (``x-cos-traffic-limit``), ``None`` for unlimited.
        pending: Complete: the 200 goes out chunked at once, whitespace follows until this returns.
        delay: Seconds the answer is held back (a fault).
        reset_after: Reset the connection after this many body bytes instead of finishing (a fault).
    """

    status: int
    headers: Headers = ()
    body: bytes = b""
    content_type: Optional[str] = None
    etag: Optional[str] = None
    crc64: Optional[int] = None
    code: str = ""
    length: Optional[int] = None
    stream: Optional[ObjectBody] = None
    rate: Optional[float] = None
    pending: Optional[Callable[[], Completed]] = None
    delay: float = 0.0
    reset_after: Optional[int] = None


def xml_reply(body: bytes, headers: Sequence[Tuple[str, str]] = ()) -> Reply:
    """A 200 with an XML body."""
    return Reply(200, tuple(headers), body, content_type="application/xml")


def error_reply(request: Request, error: ServiceError) -> Reply:
    """The ``<Error>`` answer to ``request`` [ref 4.1]."""
    trace_id = protocol.new_trace_id()
    headers = ((protocol.TRACE_ID_HEADER, trace_id),)
    return Reply(error.status, headers, _error_xml(request, error, trace_id), content_type="application/xml", code=error.code)


def completed_body(request: Request, completed: Completed) -> bytes:
    """The body Complete ends with: its result, or an ``<Error>`` (in a 200, as COS can send)."""
    if completed.error is not None:
        return _error_xml(request, completed.error, protocol.new_trace_id())
    return protocol.complete_xml(completed.location, completed.bucket, completed.key, completed.etag)


def _error_xml(request: Request, error: ServiceError, trace_id: str) -> bytes:
    return protocol.error_xml(error.code, error.message, request.resource, request.request_id, trace_id)
