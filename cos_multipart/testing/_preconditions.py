"""Conditional requests, pure: ``If-Match`` / ``If-None-Match`` / ``If-Modified-Since`` / ``If-Unmodified-Since``
of GET and HEAD Object, and the ``x-cos-copy-source-if-*`` headers of the copy APIs (same rules, on the source).

The order is RFC 9110 13.2.2, which is also what the services document: ``If-Match`` (else
``If-Unmodified-Since``) decides first and fails with 412; then ``If-None-Match`` (else ``If-Modified-Since``),
which a GET or HEAD answers with 304 Not Modified and a copy with 412 (COS 436/10881 and 436/8287: every
``x-cos-copy-source-if-*`` header that does not hold "returns 412"; OSS CopyObject / UploadPartCopy: the same
[oss-api 3.8]). Entity tags are compared exactly once their quotes (and a ``W/``) are taken off: an ETag differing
only in case is another ETag (OSS's are upper-case hex). A date that does not parse is ignored, as RFC 9110
13.1.3 says; times compare at whole seconds, the precision of ``Last-Modified``.
"""

from __future__ import annotations

import email.utils
from typing import Mapping, Optional

from .protocol import ServiceError

#: What the conditions say about a request.
PROCEED = "proceed"
NOT_MODIFIED = "not-modified"

#: The header names of GET/HEAD Object and of the copy APIs' source (internal vocabulary; OSS's are renamed).
GET_HEADERS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
COPY_SOURCE_HEADERS = tuple(f"x-cos-copy-source-{name}" for name in GET_HEADERS)


def precondition_failed() -> ServiceError:
    """412 PreconditionFailed [ref 4.2; oss-api 7.3, EC 0017-00001001]."""
    return ServiceError(412, "PreconditionFailed", "At least one of the preconditions you specified did not hold.")


def evaluate(headers: Mapping[str, str], etag: str, last_modified: float, *, copy_source: bool = False) -> str:
    """:data:`PROCEED` or :data:`NOT_MODIFIED` for a request with ``headers`` on an object with ``etag`` and
    ``last_modified`` (Unix time); ``copy_source`` reads the ``x-cos-copy-source-if-*`` headers instead.

    Raises:
        ServiceError: 412 PreconditionFailed (and, for a copy, where a GET would answer 304).
    """
    if_match, if_none_match, if_modified_since, if_unmodified_since = (
        headers.get(name) for name in (COPY_SOURCE_HEADERS if copy_source else GET_HEADERS)
    )
    seconds = int(last_modified)
    if if_match is not None:
        if not _matches(if_match, etag):
            raise precondition_failed()
    elif if_unmodified_since is not None:
        since = _date(if_unmodified_since)
        if since is not None and seconds > since:
            raise precondition_failed()
    if if_none_match is not None:
        if _matches(if_none_match, etag):
            if copy_source:
                raise precondition_failed()
            return NOT_MODIFIED
    elif if_modified_since is not None:
        since = _date(if_modified_since)
        if since is not None and seconds <= since:
            if copy_source:
                raise precondition_failed()
            return NOT_MODIFIED
    return PROCEED


def _matches(condition: str, etag: str) -> bool:
    """Whether the entity-tag list ``condition`` (or ``*``) names ``etag``."""
    if condition.strip() == "*":
        return True
    return any(_bare(item) == etag for item in condition.split(",") if item.strip())


def _bare(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def _date(value: str) -> Optional[int]:
    """The Unix time of an HTTP-date, ``None`` when it is not one."""
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return int(moment.timestamp())
