"""The table of operations both clients are made from, and the pure steps of the multi-request ones.

Each API is described once, in :data:`OPERATIONS`: the public method that runs it, the builder and the
parser (:mod:`cos_multipart._protocol.operations`), the typed result and the shape of the call (one request, a
streamed body, a listing fetched page by page, a batch). :class:`~cos_multipart._io.client.CosClient` and
:class:`~cos_multipart.aio.AsyncCosClient` are thin: every method is a one-line delegation to a function
here (``request = _api.initiate(...)``, then the transport) and differs only in ``await``. Listings and
batch deletes, which take several requests, are written once as pure objects in the style of a sans-I/O
protocol (:class:`Pager`, :class:`DeletePlan`): they say which request to send next and take its parsed
answer, so the sync and async loops around them are four lines each. ``tests/test_client_parity.py``
checks both clients against this table and against each other.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable, Generic, List, Optional, Sequence, Tuple, TypeVar

from .._protocol import _xml, copy_ops, operations
from ._streams import ObjectStream
from .._protocol.errors import CosResponseError, CosServiceError, CosValidationError
from .._protocol.limits import MAX_DELETE_KEYS
from .._protocol.models import (
    CompleteResult,
    DeleteFailure,
    DeleteResult,
    HttpCall,
    InitiateResult,
    ObjectResult,
    ObjectsPage,
    ObjectSummary,
    PartInfo,
    PartResult,
    ResponseInfo,
    UploadInfo,
)
from .._protocol.dialect import Dialect
from .._protocol.options import ObjectOptions
from .._protocol.sse import EncryptionLike
from .._protocol.validation import positive_int

T = TypeVar("T")
P = TypeVar("P")
I = TypeVar("I")  # noqa: E741 - the item type of a listing

#: Pages a listing follows before it gives up (10 million keys at 1000 a page): a server whose markers keep
#: advancing without end cannot hold a caller forever.
MAX_LIST_PAGES = 10_000

#: The shapes of :attr:`Operation.shape`.
CALL = "call"  #: one request, one typed result
STREAM = "stream"  #: one request, its body streamed (ObjectStream / AsyncObjectStream)
OPTIONAL = "optional"  #: one request, its result or None when the service answers 404
ITEMS = "items"  #: page after page, an iterator (sync) or async iterator (asyncio) of the result type
BATCH = "batch"  #: several requests, one result


@dataclass(frozen=True)
class Operation:
    """One API as both clients offer it.

    Attributes:
        method: The public method of :class:`CosClient` and :class:`AsyncCosClient`.
        prepare: The pure builder of its request (``operations.prepare_*``).
        parse: The pure parser of its answer (``operations.parse_*``).
        result: What the method returns (each item's type for :data:`ITEMS`; the sync stream type for
            :data:`STREAM`, whose async twin is :class:`~cos_multipart._io._streams.AsyncObjectStream`).
        shape: :data:`CALL`, :data:`STREAM`, :data:`OPTIONAL`, :data:`ITEMS` or :data:`BATCH`.
    """

    method: str
    prepare: Callable[..., HttpCall]
    parse: Callable[..., Any]
    result: type
    shape: str = CALL


OPERATIONS: Tuple[Operation, ...] = (
    Operation("initiate_multipart_upload", operations.prepare_initiate, operations.parse_initiate, InitiateResult),
    Operation("upload_part", operations.prepare_upload_part, operations.parse_upload_part, PartResult),
    Operation("complete_multipart_upload", operations.prepare_complete, operations.parse_complete, CompleteResult),
    Operation("abort_multipart_upload", operations.prepare_abort, operations.parse_abort, ResponseInfo),
    Operation("list_parts", operations.prepare_list_parts, operations.parse_list_parts, PartInfo, ITEMS),
    Operation("list_multipart_uploads", operations.prepare_list_uploads, operations.parse_list_uploads, UploadInfo, ITEMS),
    Operation("put_object", operations.prepare_put_object, operations.parse_put_object, ObjectResult),
    Operation("head_object", operations.prepare_head_object, operations.parse_head_object, ObjectResult),
    Operation("find_object", operations.prepare_head_object, operations.parse_head_object, ObjectResult, OPTIONAL),
    Operation("get_object", operations.prepare_get_object, operations.parse_get_object, ObjectStream, STREAM),
    Operation("delete_object", operations.prepare_delete_object, operations.parse_delete_object, ResponseInfo),
    Operation("list_objects_page", operations.prepare_list_objects, operations.parse_list_objects, ObjectsPage),
    Operation("list_object_pages", operations.prepare_list_objects, operations.parse_list_objects, ObjectsPage, ITEMS),
    Operation("list_objects", operations.prepare_list_objects, operations.parse_list_objects, ObjectSummary, ITEMS),
    Operation("delete_objects", operations.prepare_delete_objects, operations.parse_delete_objects, DeleteResult, BATCH),
    # Server-side copy (copy_ops.py): PUT Object - Copy, Upload Part - Copy.
    Operation("copy_object", copy_ops.prepare_copy_object, copy_ops.parse_copy_object, ObjectResult),
    Operation("upload_part_copy", copy_ops.prepare_upload_part_copy, copy_ops.parse_upload_part_copy, PartResult),
)


@dataclass(frozen=True)
class Request(Generic[T]):
    """A built request and the parser of its answer: what a client hands to its transport."""

    call: HttpCall
    parse: Callable[[int, Any, bytes], T]


# --- one request each ------------------------------------------------------------------------------------


def initiate(key: str, options: ObjectOptions) -> Request[InitiateResult]:
    return Request(operations.prepare_initiate(key, options), operations.parse_initiate)


class _Sized:
    """Stands for an async body (``__len__`` and ``chunks()``) in the builders' validation, which measures
    bodies by ``len``; the call then carries the async body itself."""

    def __init__(self, length: int) -> None:
        self._length = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:  # never called: validation only measures
        raise NotImplementedError

    def seek(self, offset: int, whence: int = 0) -> int:
        raise NotImplementedError

    def tell(self) -> int:
        return 0


def _with_body(build: Callable[[object], HttpCall], body: object, async_bodies: bool) -> HttpCall:
    if async_bodies and hasattr(body, "chunks") and hasattr(body, "__len__"):
        return dataclasses.replace(build(_Sized(len(body))), body=body)
    return build(body)


def upload_part(
    key: str,
    upload_id: str,
    part_number: int,
    body: object,
    *,
    content_length: Optional[int],
    content_md5: Optional[str],
    traffic_limit: Optional[int],
    sse_c: EncryptionLike,
    psize_min: Optional[int],
    psize_max: Optional[int],
    async_bodies: bool = False,
) -> Request[PartResult]:
    build = functools.partial(
        operations.prepare_upload_part, key, upload_id, part_number, content_length=content_length,
        content_md5=content_md5, traffic_limit=traffic_limit, sse_c=sse_c, psize_min=psize_min, psize_max=psize_max,
    )  # fmt: skip
    call = _with_body(build, body, async_bodies)
    return Request(call, functools.partial(operations.parse_upload_part, part_number=part_number, size=call.content_length))


def complete(
    key: str,
    upload_id: str,
    parts: Any,
    *,
    forbid_overwrite: Optional[bool],
    pnum_min: Optional[int],
    pnum_max: Optional[int],
) -> Request[CompleteResult]:
    call = operations.prepare_complete(
        key, upload_id, parts, forbid_overwrite=forbid_overwrite, pnum_min=pnum_min, pnum_max=pnum_max
    )
    return Request(call, operations.parse_complete)


def abort(key: str, upload_id: str) -> Request[ResponseInfo]:
    return Request(operations.prepare_abort(key, upload_id), operations.parse_abort)


def put_object(
    key: str,
    body: object,
    options: ObjectOptions,
    *,
    content_length: Optional[int],
    content_md5: Optional[str],
    traffic_limit: Optional[int],
    forbid_overwrite: Optional[bool],
    async_bodies: bool = False,
) -> Request[ObjectResult]:
    build = functools.partial(
        operations.prepare_put_object, key, content_length=content_length, content_md5=content_md5,
        traffic_limit=traffic_limit, forbid_overwrite=forbid_overwrite, options=options,
    )  # fmt: skip
    call = _with_body(build, body, async_bodies)
    return Request(call, functools.partial(operations.parse_put_object, key=key, size=call.content_length))


def head_object(key: str, sse_c: EncryptionLike) -> Request[ObjectResult]:
    return Request(operations.prepare_head_object(key, sse_c=sse_c), functools.partial(operations.parse_head_object, key=key))


def absent(error: CosServiceError) -> None:
    """``find_object``'s verdict on a failed HEAD: ``None`` for a 404 (no such object), else the error."""
    if error.status == 404:
        return None
    raise error


def get_object(
    key: str,
    byte_range: Optional[Tuple[int, Optional[int]]],
    sse_c: EncryptionLike,
    if_match: Optional[str] = None,
    traffic_limit: Optional[int] = None,
) -> Request[ObjectResult]:
    call = operations.prepare_get_object(key, byte_range=byte_range, sse_c=sse_c, if_match=if_match, traffic_limit=traffic_limit)
    return Request(call, functools.partial(operations.parse_get_object, key=key))


def delete_object(key: str, version_id: Optional[str]) -> Request[ResponseInfo]:
    return Request(operations.prepare_delete_object(key, version_id), operations.parse_delete_object)


def list_objects_page(
    prefix: Optional[str], delimiter: Optional[str], marker: Optional[str], max_keys: int
) -> Request[ObjectsPage]:
    call = operations.prepare_list_objects(prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
    return Request(call, operations.parse_list_objects)


# --- server-side copy (copy_ops.py) -------------------------------------------------------------------------


def copy_object(
    key: str,
    source: copy_ops.CopySource,
    options: ObjectOptions,
    *,
    dialect: Dialect,
    metadata_directive: str,
    source_if_match: Optional[str],
    source_sse_c: EncryptionLike,
    traffic_limit: Optional[int],
    forbid_overwrite: Optional[bool],
) -> Request[ObjectResult]:
    call = copy_ops.prepare_copy_object(
        key, source, dialect=dialect, metadata_directive=metadata_directive, options=options,
        source_if_match=source_if_match, source_sse_c=source_sse_c, traffic_limit=traffic_limit,
        forbid_overwrite=forbid_overwrite,
    )  # fmt: skip
    return Request(call, functools.partial(copy_ops.parse_copy_object, key=key))


def upload_part_copy(
    key: str,
    upload_id: str,
    part_number: int,
    source: copy_ops.CopySource,
    *,
    dialect: Dialect,
    source_range: Optional[Tuple[int, int]],
    source_if_match: Optional[str],
    source_sse_c: EncryptionLike,
    sse_c: EncryptionLike,
    traffic_limit: Optional[int],
) -> Request[PartResult]:
    call = copy_ops.prepare_upload_part_copy(
        key, upload_id, part_number, source, dialect=dialect, source_range=source_range,
        source_if_match=source_if_match, source_sse_c=source_sse_c, sse_c=sse_c, traffic_limit=traffic_limit,
    )  # fmt: skip
    size = source_range[1] - source_range[0] + 1 if source_range is not None else 0
    return Request(call, functools.partial(copy_ops.parse_upload_part_copy, part_number=part_number, size=size))


# --- listings: one pure pager each, driven by a four-line loop in each client ------------------------------


class Pager(Generic[P, I]):
    """A listing, page after page: :meth:`request` says what to send next (``None``: done), :meth:`receive`
    takes its parsed page and returns the items to hand out. A page's items are handed out before a broken
    listing (a marker that does not advance, too many pages) raises, at the next :meth:`request`."""

    def __init__(self) -> None:
        self._pages = 0
        self._done = False
        self._error: Optional[BaseException] = None

    def request(self) -> Optional[Request[P]]:
        if self._error is not None:
            raise self._error
        return None if self._done else self._next()

    def receive(self, page: P) -> Sequence[I]:
        self._pages += 1
        try:
            self._done = self._advance(page)
        except CosResponseError as error:
            self._error = error
        return self._items(page)

    def _next(self) -> Request[P]:
        raise NotImplementedError

    def _advance(self, page: P) -> bool:
        """Move the markers past ``page``; ``True`` when it was the last."""
        raise NotImplementedError

    def _items(self, page: P) -> Sequence[I]:
        raise NotImplementedError


class PartsPager(Pager["_xml.PartsPage", PartInfo]):
    """List Parts: every part of an upload, ascending (436/7747). Validates now, not at the first page."""

    def __init__(self, key: str, upload_id: str) -> None:
        super().__init__()
        operations.prepare_list_parts(key, upload_id)
        self._key, self._upload_id = key, upload_id
        self._marker: Optional[int] = None

    def _next(self) -> Request["_xml.PartsPage"]:
        call = operations.prepare_list_parts(self._key, self._upload_id, part_number_marker=self._marker)
        return Request(call, operations.parse_list_parts)

    def _advance(self, page: "_xml.PartsPage") -> bool:
        self._marker = operations.next_parts_marker(page, self._marker, self._pages)
        return self._marker is None

    def _items(self, page: "_xml.PartsPage") -> Sequence[PartInfo]:
        return page.parts


class UploadsPager(Pager["_xml.UploadsPage", UploadInfo]):
    """List Multipart Uploads: every upload in progress under ``prefix`` (436/7736)."""

    def __init__(self, prefix: Optional[str]) -> None:
        super().__init__()
        operations.prepare_list_uploads(prefix=prefix)
        self._prefix = prefix
        self._markers: Tuple[Optional[str], Optional[str]] = (None, None)

    def _next(self) -> Request["_xml.UploadsPage"]:
        key, upload_id = self._markers
        call = operations.prepare_list_uploads(prefix=self._prefix, key_marker=key, upload_id_marker=upload_id)
        return Request(call, operations.parse_list_uploads)

    def _advance(self, page: "_xml.UploadsPage") -> bool:
        following = operations.next_uploads_markers(page, self._markers, self._pages)
        if following is None:
            return True
        self._markers = following
        return False

    def _items(self, page: "_xml.UploadsPage") -> Sequence[UploadInfo]:
        return page.uploads


class _ObjectsListing(Pager[ObjectsPage, I]):
    """List Objects (GET Bucket, 436/7734), page after page, at most ``max_pages`` of them."""

    def __init__(
        self, prefix: Optional[str], delimiter: Optional[str], marker: Optional[str], max_keys: int, max_pages: int
    ) -> None:
        super().__init__()
        operations.prepare_list_objects(prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
        self._max_pages = positive_int(max_pages, "max_pages")
        self._prefix, self._delimiter, self._marker, self._max_keys = prefix, delimiter, marker, max_keys

    def _next(self) -> Request[ObjectsPage]:
        if self._pages >= self._max_pages:
            raise CosResponseError(f"List Objects returned more than {self._max_pages} pages (max_pages); stopped")
        return list_objects_page(self._prefix, self._delimiter, self._marker, self._max_keys)

    def _advance(self, page: ObjectsPage) -> bool:
        if not page.is_truncated:
            return True
        following = page.next_marker or _last_entry(page)
        if not following or (self._marker is not None and following <= self._marker):
            raise CosResponseError(
                f"List Objects is truncated but its marker does not advance ({self._marker!r} -> {following!r})"
            )
        self._marker = following
        return False


class ObjectPagesPager(_ObjectsListing[ObjectsPage]):
    """``list_object_pages``: the pages themselves."""

    def _items(self, page: ObjectsPage) -> Sequence[ObjectsPage]:
        return (page,)


class ObjectsPager(_ObjectsListing[ObjectSummary]):
    """``list_objects``: the objects of every page."""

    def _items(self, page: ObjectsPage) -> Sequence[ObjectSummary]:
        return page.objects


def _last_entry(page: ObjectsPage) -> str:
    """The marker of the next page when COS sent no ``<NextMarker>``: the greatest key or prefix listed."""
    candidates = [o.key for o in page.objects[-1:]] + list(page.common_prefixes[-1:])
    return max(candidates) if candidates else ""


# --- batch delete ----------------------------------------------------------------------------------------


class DeletePlan:
    """Delete Multiple Objects for any number of keys (436/8289), pure: the requests to send and the result.

    Every key is validated when the plan is made, before the first request. Keys go 1000 per batch; a key
    with a control character goes alone, by DELETE Object: the XML body cannot carry it (XML 1.0 has no way
    to write most of them, and a parser reads a carriage return as a line feed).
    """

    def __init__(self, keys: Any, quiet: bool) -> None:
        chosen = list(keys)
        alone = [key for key in chosen if isinstance(key, str) and any(ord(c) < 0x20 or ord(c) == 0x7F for c in key)]
        apart = set(alone)
        together = [key for key in chosen if not (isinstance(key, str) and key in apart)]
        groups = [together[i : i + MAX_DELETE_KEYS] for i in range(0, len(together), MAX_DELETE_KEYS)]
        #: ``(keys, request)`` of each Delete Multiple Objects request.
        self.batches: List[Tuple[List[str], Request[DeleteResult]]] = [
            (group, Request(operations.prepare_delete_objects(group, quiet=quiet), operations.parse_delete_objects))
            for group in groups
        ]
        #: ``(key, request)`` of each key deleted alone.
        self.singles: List[Tuple[str, Request[ResponseInfo]]] = [(key, delete_object(key, None)) for key in alone]
        if alone and len(set(chosen)) != len(chosen):
            raise CosValidationError("keys", next(k for k in chosen if chosen.count(k) > 1), "each key once")
        self._quiet = quiet
        self._deleted: List[str] = []
        self._failed: List[DeleteFailure] = []
        self._ids: List[str] = []

    def took_batch(self, keys: Sequence[str], result: DeleteResult) -> None:
        """The answer to the batch of ``keys``; in quiet mode, the keys not reported failed were deleted."""
        refused = {failure.key for failure in result.failed}
        self._deleted.extend(result.deleted if not self._quiet else [key for key in keys if key not in refused])
        self._failed.extend(result.failed)
        self._ids.extend(result.request_ids)

    def took_single(self, key: str, answer: "ResponseInfo | CosServiceError") -> None:
        """The answer to ``key`` deleted alone: its answer, or the service's refusal."""
        if isinstance(answer, CosServiceError):
            self._failed.append(DeleteFailure(key, answer.code, answer.message))
            self._ids.append(answer.request_id)
        else:
            self._deleted.append(key)
            self._ids.append(answer.request_id)

    def result(self) -> DeleteResult:
        return DeleteResult(tuple(self._deleted), tuple(self._failed), tuple(self._ids))


__all__ = [
    "BATCH", "CALL", "ITEMS", "MAX_LIST_PAGES", "OPERATIONS", "OPTIONAL", "STREAM", "DeletePlan", "ObjectPagesPager",
    "ObjectsPager", "Operation", "Pager", "PartsPager", "Request", "UploadsPager",
]  # fmt: skip
