"""The completion of a presigned upload as a sequence of actions (issue 26), run by any executor through
:class:`~cos_multipart._core._machine.Machine`: List Parts, the checks, Complete, HEAD, the object checked.

Nothing is completed unless every planned part is present with its planned size and matches what the client
reported; a completed object whose size or CRC-64 is not the expected one is deleted (and the error says so).
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from typing import Any, Generator, List, Mapping, Optional, Tuple

from .._protocol.errors import CosError, CosIntegrityError, CosServiceError, PresignedPartsError
from .._protocol.models import CompletedPart, CompleteResult, ObjectResult, PartInfo
from ._decisions import refusing_existing, upload_is_gone
from ._actions import Abort, Complete, DeleteObject, Head, ListParts
from ._presigned_checks import ReportedPart, expected_crc64, object_problem, part_problems, unreported_parts
from .presigned import PresignedUpload

Flow = Generator[Any, Any, Any]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PresignedResult:
    """A presigned upload completed and verified.

    Attributes:
        key: The object key.
        upload_id: The multipart upload's id.
        size: The object's size (the declared one, confirmed by HEAD).
        parts: Number of parts.
        crc64: The object's CRC-64 as the service reports it.
        crc64_verified: Whether it was compared with the part CRCs combined (every part's CRC known from the
            client's report or the service's listing); without it only sizes and ETags were checked.
        etag: The object's ETag.
        version_id: The version Complete made, when the bucket keeps versions.
    """

    key: str
    upload_id: str
    size: int
    parts: int
    crc64: Optional[int]
    crc64_verified: bool
    etag: str
    version_id: Optional[str]


def complete_flow(
    state: PresignedUpload, reported: Mapping[int, ReportedPart], *, abort_on_mismatch: bool, require_crc64: bool = False,
    forbid_overwrite: bool = False,
) -> Flow:  # fmt: skip
    """The sequence: returns a :class:`PresignedResult`; raises :class:`PresignedPartsError` when a part is
    wrong (the upload aborted when ``abort_on_mismatch``, else kept), or, with ``require_crc64``, when a part's
    CRC-64 is known neither from the listing nor from a report (``unreported``); :class:`CosIntegrityError`
    when the completed object is wrong (it is deleted first); :class:`ObjectExistsError` with ``forbid_overwrite``
    when the key already holds an object (the upload is kept)."""
    listed: List[PartInfo] = yield ListParts(state.upload_id)
    problems = part_problems(state, listed, reported)
    if require_crc64 and not problems:
        problems = unreported_parts(state, listed, reported)
    if problems:
        if abort_on_mismatch:
            yield Abort(state.upload_id)
        raise PresignedPartsError(problems, aborted=abort_on_mismatch)
    expected = expected_crc64(state, listed, reported)
    planned = tuple(CompletedPart(part.part_number, part.etag) for part in sorted(listed, key=lambda part: part.part_number))
    completed = yield from _complete(state, planned, expected, forbid_overwrite)
    head: ObjectResult = yield Head()
    crc = head.crc64 if head.crc64 is not None else completed.crc64
    # Complete's CRC and HEAD's are both the object's: each must be the expected one (a missing one is wrong).
    for answered in (completed.crc64, head.crc64):
        problem = object_problem(state, expected, head.size, answered)
        if problem is not None:
            outcome = yield from _delete_wrong(completed.version_id)
            what, local, remote = problem
            raise CosIntegrityError(what, local, remote, request_id=completed.request_id, outcome=outcome)
    return PresignedResult(
        key=state.key, upload_id=state.upload_id, size=state.size, parts=state.plan.count, crc64=crc,
        crc64_verified=expected is not None, etag=head.etag or completed.etag, version_id=completed.version_id,
    )  # fmt: skip


def _complete(state: PresignedUpload, parts: Tuple[CompletedPart, ...], expected: Optional[int], forbid_overwrite: bool) -> Flow:
    """Complete; a NoSuchUpload answer (an earlier attempt's answer was lost, the transport sent it again) is
    accepted when HEAD shows the object has the declared size and the expected CRC-64."""
    try:
        with refusing_existing(state.bucket, state.key, state.service):  # forbid_overwrite: the key holds an object
            completed: CompleteResult = yield Complete(state.upload_id, parts, forbid_overwrite or None)
    except CosServiceError as error:
        if not upload_is_gone(error) or expected is None:
            raise
        try:
            head: ObjectResult = yield Head()
        except CosError:
            raise error from None
        if head.size != state.size or head.crc64 != expected:
            raise
        logger.debug("Complete answered NoSuchUpload but %s matches: completed by an earlier attempt", state.key)
        return CompleteResult("", state.bucket, state.key, head.etag, head.crc64, head.version_id, head.response)
    return completed


def _delete_wrong(version_id: Optional[str]) -> Flow:
    try:
        yield DeleteObject(version_id)
    except CosError as error:
        return f"the wrong object could not be deleted ({type(error).__name__}): delete it"
    return "the wrong object was deleted"


def abort_flow(state: PresignedUpload) -> Flow:
    """Abort the upload; an upload already gone (completed or aborted) is not an error. Returns whether it
    was aborted by this call."""
    try:
        yield Abort(state.upload_id)
    except CosServiceError as error:
        if error.status == 404:
            return False
        raise
    return True
