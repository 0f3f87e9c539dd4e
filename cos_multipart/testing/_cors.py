"""CORS for the local server, as COS and OSS answer it for a bucket with CORS rules (COS 436/8288 OPTIONS Object,
436/8279 PUT Bucket cors; OSS Options, PutBucketCors): the browser's preflight answered without a signature,
and the CORS headers on the actual answers, so a web page can upload parts with ``fetch`` and read their
``ETag`` and CRC-64. The server's own rules, not the client's.

* A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is matched against the
  bucket's rules in order: the first rule that allows the origin, the method and every requested header
  answers 200 with ``Access-Control-Allow-Origin`` (``*`` when the rule allows any origin), ``-Allow-Methods``
  (the rule's), ``-Allow-Headers`` (the requested ones), ``-Expose-Headers`` and ``-Max-Age``; no rule, or
  none matching: 403 ``AccessForbidden``, without CORS headers.
* An actual request with an ``Origin`` a rule allows for its method gets ``Access-Control-Allow-Origin``,
  ``-Expose-Headers`` and ``Vary: Origin`` on its answer, errors included (a page must read a 403).
* Patterns allow one ``*`` wildcard (``http://*.example.com``); headers match case-insensitively.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Dict, Iterable, Optional, Sequence, Tuple

from lxml import etree

from ._messages import Reply, Request
from .protocol import ServiceError

#: The methods a rule may allow [COS 436/8279: GET, PUT, POST, DELETE, HEAD].
METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})
#: Rules per bucket at most (COS and OSS: 100 rules).
MAX_RULES = 100
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)
_NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."


@dataclass(frozen=True)
class CorsRule:
    """One CORS rule of a bucket (``<CORSRule>``).

    Attributes:
        allowed_origins: Origins allowed (``*`` for any; one ``*`` wildcard in a pattern).
        allowed_methods: Methods allowed: GET, PUT, POST, DELETE, HEAD.
        allowed_headers: Request headers a preflight may ask for (``*`` for any).
        expose_headers: Answer headers a page may read (``ETag``, ``x-cos-hash-crc64ecma`` for uploads).
        max_age: Seconds a browser may keep the preflight's answer, or ``None``.
    """

    allowed_origins: Tuple[str, ...]
    allowed_methods: Tuple[str, ...]
    allowed_headers: Tuple[str, ...] = ()
    expose_headers: Tuple[str, ...] = ()
    max_age: Optional[int] = None

    def __post_init__(self) -> None:
        for name in ("allowed_origins", "allowed_methods", "allowed_headers", "expose_headers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "allowed_methods", tuple(method.upper() for method in self.allowed_methods))
        if not self.allowed_origins or not self.allowed_methods:
            raise ServiceError(400, "MalformedXML", "A CORS rule needs at least one AllowedOrigin and one AllowedMethod.")
        unknown = set(self.allowed_methods) - METHODS
        if unknown:
            raise ServiceError(400, "InvalidArgument", f"Unsupported method {sorted(unknown)[0]} in CORSRule.")

    @classmethod
    def for_uploads(cls, *origins: str) -> "CorsRule":
        """A rule for pages that upload parts: PUT/GET/HEAD from ``origins`` (default any), every request
        header, ``ETag``, both services' CRC-64 headers and the request ids exposed."""
        return cls(
            allowed_origins=origins or ("*",), allowed_methods=("PUT", "GET", "HEAD"), allowed_headers=("*",),
            expose_headers=("ETag", "x-cos-hash-crc64ecma", "x-oss-hash-crc64ecma", "x-cos-request-id", "x-oss-request-id"),
            max_age=600,
        )  # fmt: skip

    def allows(self, origin: str, method: str, headers: Sequence[str] = ()) -> bool:
        """Whether this rule lets ``origin`` send ``method`` with ``headers``."""
        if method.upper() not in self.allowed_methods:
            return False
        if not any(fnmatchcase(origin, pattern) for pattern in self.allowed_origins):
            return False
        patterns = [pattern.lower() for pattern in self.allowed_headers]
        return all(any(fnmatchcase(header.lower(), pattern) for pattern in patterns) for header in headers)


class CorsTable:
    """The CORS rules of every bucket; ``default`` applies to a bucket without rules of its own (thread-safe)."""

    def __init__(self, default: Iterable[CorsRule] = ()) -> None:
        self.default = tuple(default)
        self._rules: Dict[str, Tuple[CorsRule, ...]] = {}
        self._lock = threading.Lock()

    def set(self, bucket: str, rules: Iterable[CorsRule]) -> None:
        """Replace ``bucket``'s rules (an empty list removes them: the default applies again)."""
        with self._lock:
            made = tuple(rules)
            if len(made) > MAX_RULES:
                raise ServiceError(400, "InvalidArgument", f"At most {MAX_RULES} CORS rules per bucket.")
            if made:
                self._rules[bucket] = made
            else:
                self._rules.pop(bucket, None)

    def rules(self, bucket: str) -> Tuple[CorsRule, ...]:
        """``bucket``'s rules (or the default)."""
        with self._lock:
            return self._rules.get(bucket, self.default)


def preflight(request: Request, table: CorsTable) -> Reply:
    """The answer to an ``OPTIONS`` preflight (no signature needed).

    Raises:
        ServiceError: 400 without ``Origin`` or ``Access-Control-Request-Method``; 403 AccessForbidden when no
            rule allows the request.
    """
    origin = request.headers.get("origin")
    method = request.headers.get("access-control-request-method")
    if not origin or not method:
        raise ServiceError(400, "InvalidArgument", "Insufficient information. Origin and Access-Control-Request-Method are required.")
    asked = [name.strip() for name in request.headers.get("access-control-request-headers", "").split(",") if name.strip()]
    rules = table.rules(request.bucket)
    if not rules:
        raise ServiceError(403, "AccessForbidden", _NOT_ENABLED)
    for rule in rules:
        if rule.allows(origin, method, asked):
            headers = [("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods))]
            if asked:
                headers.append(("Access-Control-Allow-Headers", ", ".join(asked)))
            if rule.max_age is not None:
                headers.append(("Access-Control-Max-Age", str(rule.max_age)))
            return Reply(200, (*_allow(rule, origin), *headers))
    raise ServiceError(403, "AccessForbidden", _NOT_ALLOWED)


def decorate(request: Request, reply: Reply, table: CorsTable) -> Reply:
    """``reply`` with the CORS headers of the first rule allowing the request's ``Origin`` and method (any
    answer, errors too), or as it is."""
    origin = request.headers.get("origin")
    if not origin or request.method == "OPTIONS" or reply.status == 0:
        return reply
    for rule in table.rules(request.bucket):
        if rule.allows(origin, request.method):
            return replace(reply, headers=(*reply.headers, *_allow(rule, origin)))
    return reply


def _allow(rule: CorsRule, origin: str) -> Tuple[Tuple[str, str], ...]:
    headers = [("Access-Control-Allow-Origin", "*" if "*" in rule.allowed_origins else origin), ("Vary", "Origin")]
    if rule.expose_headers:
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule.expose_headers)))
    return tuple(headers)


def parse_rules(body: bytes) -> Tuple[CorsRule, ...]:
    """The rules of a ``<CORSConfiguration>`` body (PUT Bucket cors).

    Raises:
        ServiceError: 400 MalformedXML for anything else.
    """
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        raise ServiceError(400, "MalformedXML", "The XML you provided was not well-formed.") from error
    if etree.QName(root).localname != "CORSConfiguration":
        raise ServiceError(400, "MalformedXML", "The root element must be CORSConfiguration.")
    rules = []
    for element in root:
        if not isinstance(element.tag, str) or etree.QName(element).localname != "CORSRule":
            continue
        values: Dict[str, list[str]] = {}
        for child in element:
            if isinstance(child.tag, str):
                values.setdefault(etree.QName(child).localname, []).append((child.text or "").strip())
        age = values.get("MaxAgeSeconds", [""])[0]
        if age and not age.isdigit():
            raise ServiceError(400, "MalformedXML", "MaxAgeSeconds must be a whole number.")
        rules.append(CorsRule(
            allowed_origins=tuple(values.get("AllowedOrigin", ())), allowed_methods=tuple(values.get("AllowedMethod", ())),
            allowed_headers=tuple(values.get("AllowedHeader", ())), expose_headers=tuple(values.get("ExposeHeader", ())),
            max_age=int(age) if age else None,
        ))  # fmt: skip
    if not rules:
        raise ServiceError(400, "MalformedXML", "A CORSConfiguration needs at least one CORSRule.")
    return tuple(rules)
