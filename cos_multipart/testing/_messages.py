"""The values passed between the local server's layers: a :class:`Request` in, a :class:`Reply` out.

The wire (:mod:`._wire`) turns bytes into a :class:`Request` and a :class:`Reply` into bytes; routing,
the service and the fault effects only ever see these values, so they are tested without a socket. A
reply's ETag and CRC-64 are fields, not headers, so that faults alter them in one place (:mod:`._effects`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from .protocol import ServiceError
from .server_dialect import COS, ServerDialect
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
        request_id: The request id this request is answered with.
        dialect: The service the server plays.
        wire_headers: The headers as received when ``headers`` are their translation into the server's
            internal vocabulary (OSS mode); ``None`` when they are the same (COS).
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
    dialect: ServerDialect = field(default=COS, repr=False)
    wire_headers: Optional[Mapping[str, str]] = field(default=None, repr=False)

    @property
    def received_headers(self) -> Mapping[str, str]:
        """The headers as received (what a signature covers, what the access log shows)."""
        return self.wire_headers if self.wire_headers is not None else self.headers

    def in_internal_vocabulary(self) -> "Request":
        """This request with its headers in the server's internal vocabulary (itself in COS mode).

        Raises:
            ServiceError: A header value the service refuses (see :attr:`ServerDialect.inbound`).
        """
        if self.wire_headers is not None:
            return self
        translated = self.dialect.inbound(self.headers)
        return self if translated is self.headers else replace(self, headers=translated, wire_headers=self.headers)

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
        damage_at: GET: flip the lowest bit of the body byte at this offset (a fault; clamped to the body).
        truncate_after: GET: send at most this many body bytes (never all of a non-empty body), then close
            the connection (a fault).
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
    damage_at: Optional[int] = None
    truncate_after: Optional[int] = None


def xml_reply(body: bytes, headers: Sequence[Tuple[str, str]] = ()) -> Reply:
    """A 200 with an XML body."""
    return Reply(200, tuple(headers), body, content_type="application/xml")


def error_reply(request: Request, error: ServiceError, api: str = "") -> Reply:
    """The ``<Error>`` answer to ``request`` (to ``api``, when known) [ref 4.1, oss-api 7]."""
    headers, body = request.dialect.error(request, error, api)
    return Reply(error.status, headers, body, content_type="application/xml", code=error.code)


def completed_body(request: Request, completed: Completed) -> bytes:
    """The body Complete ends with: its result, or an ``<Error>`` (in a 200, as COS can send)."""
    if completed.error is not None:
        return request.dialect.error(request, completed.error, "CompleteMultipartUpload")[1]
    encode = request.param("encoding-type") == "url"
    return request.dialect.bodies.complete(completed.location, completed.bucket, completed.key, completed.etag, encode)


def settled(request: Request, reply: Reply) -> Reply:
    """Complete's ``reply`` once the merge ran, for a service that answers only then (OSS): the result as a
    plain body with its ETag, or the error with its own status."""
    if reply.pending is None:
        return reply
    done = reply.pending()
    if done.error is not None:
        return replace(error_reply(request, done.error, "CompleteMultipartUpload"), delay=reply.delay, reset_after=reply.reset_after)
    return replace(reply, pending=None, body=completed_body(request, done), etag=done.etag)
