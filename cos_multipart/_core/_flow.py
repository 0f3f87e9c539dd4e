"""The upload's sequence, written once, as a generator of actions (no I/O: see :mod:`cos_multipart._core._machine`).

Each step ``yield``\\ s an action and gets its outcome back (or the exception the action raised, thrown at the
``yield``); ``yield``\\ ing a :class:`~cos_multipart._core._window.PartWindow` runs the parts phase, many actions at
once, and returns when every part is verified (or throws the first failure once the work in flight is over).
The choices are the pure functions of :mod:`cos_multipart._core._decisions`, :mod:`cos_multipart._core._resume`,
:mod:`cos_multipart._core.session` and :mod:`cos_multipart._core.parts`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Generator, Iterable, List, Optional, Tuple, Union

from . import _decisions as decide
from . import _resume
from ._actions import (
    Abort, CheckpointWritten, CheckUnchanged, CombineCrc64, Complete, DeleteObject, DigestParts, DropCheckpoint, FlushCheckpoint, Head, Initiate,
    ListParts, ListUploads, LoadCheckpoint, Lock, MarkCompleting, PartDone, ProgressFinish, ProgressFlush,
    ProgressRewind, ProgressStart, PutObject, ReadAll, ReadStreamPart, StartCheckpoint, Unlock,
)  # fmt: skip
from ._config import UploadConfig, UploadResult
from ._outcomes import Initiated, Sent, SourceFacts, Target
from ._partvalues import StreamPart
from ._window import PartWindow
from .._protocol.integrity import IntegrityScheme
from .._protocol.errors import CosError, CosServiceError, UploadGoneError
from .._protocol.models import CompleteResult, ObjectResult, PartInfo, UploadInfo
from .parts import Completion, PartVerifier, PendingCompletion, completed_by_earlier_attempt
from .planner import stream_plan
from .session import PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = ["Flow", "UploadStart", "complete_flow", "part_flow", "single_put_flow", "upload_flow"]

#: What the sequence yields: an action (its outcome comes back) or the parts phase.
Step = Union[object, PartWindow]
Flow = Generator[Step, Any, UploadResult]


@dataclass(frozen=True)
class UploadStart:
    """What an upload starts from: the target, the configuration, the key, the source's facts.

    Attributes:
        window: Parts in flight at most (default: ``config.concurrency``); ``0`` hands out every pending
            part at once (an executor that batches parts to a cluster).
    """

    target: Target
    config: UploadConfig
    key: str
    source: SourceFacts
    resume_only: bool = False
    window: Optional[int] = None

    @property
    def limit(self) -> Optional[int]:
        """Parts in flight at most (``None``: all)."""
        if self.window == 0:
            return None
        return self.window if self.window is not None else self.config.concurrency


class _Run:
    """The state one upload accumulates: request ids, and the values its result is made of."""

    def __init__(self, start: UploadStart) -> None:
        self.start = start
        self.config = start.config
        self.key = start.key
        self.target = start.target
        self.request_ids: List[str] = []

    @property
    def service(self) -> str:
        return self.target.dialect.name

    def result(
        self, upload_id: Optional[str], etag: str, parts: Tuple[PartReceipt, ...], crc64: int, *, reused: int = 0,
        reverified: int = 0, version_id: Optional[str] = None, reused_bytes: int = 0,
    ) -> UploadResult:  # fmt: skip
        return UploadResult(
            bucket=self.target.bucket, key=self.key, upload_id=upload_id, etag=etag, crc64=crc64,
            size=sum(p.size for p in parts), parts=parts, elapsed=0.0, request_ids=tuple(self.request_ids),
            parts_reused=reused, bytes_reverified=reverified, version_id=version_id, bytes_reused=reused_bytes,
        )  # fmt: skip


# --- the whole upload ------------------------------------------------------------------------------------


def upload_flow(start: UploadStart) -> Flow:
    """One upload: the path (single PUT, multipart, stream), checked before any lock or request."""
    run = _Run(start)
    source, config = start.source, start.config
    way = decide.path_without_checkpoint(source, config, start.key, resume_only=start.resume_only)
    decide.check_plan(start.target, config, source, start.key)  # before the lock and any request
    if source.kind == "stream":
        return (yield from _stream(run))
    if way == decide.SINGLE_PUT:
        return (yield from _single_put(run, (yield ReadAll())))
    if source.path is None:
        return (yield from _multipart(run, None))
    yield Lock(source.path)
    try:
        stored = yield LoadCheckpoint(source.path)
        if decide.path_with_checkpoint(source, config, stored, resume_only=start.resume_only) == decide.SINGLE_PUT:
            result = yield from _single_put(run, (yield ReadAll()))
        else:
            result = yield from _multipart(run, stored)
    except GeneratorExit:  # the machine was dropped unfinished: nothing more can be asked
        raise
    except BaseException:
        yield Unlock()
        raise
    yield Unlock()
    return result


def single_put_flow(start: UploadStart, part: StreamPart) -> Flow:
    """The single PUT of ``part`` (read by the caller: a directory run's small file)."""
    return (yield from _single_put(_Run(start), part))


# --- single PUT -----------------------------------------------------------------------------------------


def _single_put(run: _Run, part: StreamPart) -> Flow:
    """One PUT with Content-MD5: COS refuses a body damaged in transit before it replaces anything; the
    refused body is sent again (its bytes are in memory and hashed), up to ``part_attempts`` sends in all, as
    a part whose checksums disagree is."""
    size = len(part.data)
    yield ProgressStart(size, 1)
    content_md5 = decide.content_md5(part.digest)
    verifier = PartVerifier(1, check_md5=run.config.check_md5, attempts=run.config.part_attempts)
    receipt: Optional[PartReceipt] = None
    with decide.refusing_existing(run.target.bucket, run.key, run.service):
        for attempt in verifier:
            if attempt > 1:
                yield ProgressRewind(1)
            try:
                sent: Sent = yield PutObject(part, content_md5, attempt)
            except CosServiceError as error:
                if verifier.refused(error, run.target.dialect.digest_mismatch):
                    continue
                raise
            receipt = verifier.judge(sent.digest, sent.answer)  # raises after the last attempt
            if receipt is not None:
                break
    if receipt is None or verifier.answer is None:  # pragma: no cover - the verifier raises after its last attempt
        raise RuntimeError("unreachable: no verified answer")
    run.request_ids.extend(verifier.request_ids)
    yield PartDone(1, receipt.size)
    yield ProgressFlush()
    return run.result(None, receipt.etag, (receipt,), receipt.crc64, version_id=verifier.answer.version_id)


# --- requests every path shares --------------------------------------------------------------------------


def _refuse_existing(run: _Run) -> Generator[object, Any, None]:
    """With ``forbid_overwrite``: fail before anything is uploaded when the key already exists."""
    if not run.config.forbid_overwrite:
        return
    head_error: Optional[CosServiceError] = None
    try:
        yield Head()
    except CosServiceError as error:
        head_error = error
    refusal = decide.overwrite_refusal(head_error, run.target.bucket, run.key, run.service)
    if refusal is not None:
        raise refusal


def _initiate(run: _Run) -> Generator[object, Any, Initiated]:
    """Initiate; the uploads a retried Initiate made whose answers were lost are found and aborted."""
    initiated: Initiated = yield Initiate()
    run.request_ids.append(initiated.request_id)
    logger.debug("initiated upload %s for %s", initiated.upload_id, run.key)
    if initiated.attempts > 1:
        uploads: List[UploadInfo] = yield ListUploads()
        for extra in decide.extra_initiated(uploads, run.key, initiated.upload_id, initiated.started):
            logger.warning("aborting upload %s of %s: made by a retried Initiate whose answer was lost", extra, run.key)
            yield from _abort_quietly(extra, strict=True)
    return initiated


def _abort_quietly(upload_id: str, *, strict: bool = False) -> Generator[object, Any, bool]:
    """Abort ``upload_id``; ``False`` when it is gone already. Other failures are raised when ``strict``,
    else logged (after a failure, the first error is what matters)."""
    try:
        yield Abort(upload_id)
        return True
    except CosServiceError as error:
        if decide.upload_is_gone(error):
            return False
        if strict:
            raise
        decide.abort_failed(upload_id, error)
    except (CosError, OSError) as error:
        if strict:
            raise
        decide.abort_failed(upload_id, error)
    return False


def _head_matching(pending: PendingCompletion) -> Generator[object, Any, Optional[ObjectResult]]:
    """HEAD the key; the answer when the object is the one ``pending`` makes, else ``None``."""
    try:
        head: ObjectResult = yield Head()
    except CosError:
        return None
    return head if pending.matches(head) else None


def _complete(run: _Run, session: UploadSession, receipts: List[PartReceipt], *, mark: bool) -> Generator[object, Any, Completion]:
    """:func:`complete_flow` within an upload: marked in the checkpoint first (``mark``), COS's 409
    ``FileAlreadyExists`` raised as ``ObjectExistsError``, its request id kept."""
    if mark:
        yield MarkCompleting()  # a kill from here on leaves an object the next run can recognise
    with decide.refusing_existing(run.target.bucket, run.key, run.service):
        completion = yield from complete_flow(session, receipts, run.config.forbid_overwrite, run.target.dialect.integrity)
    run.request_ids.append(completion.result.request_id)
    return completion


def complete_flow(
    session: UploadSession,
    receipts: Iterable[PartReceipt],
    forbid_overwrite: Optional[bool],
    scheme: Optional[IntegrityScheme] = None,
) -> Generator[object, Any, Completion]:
    """Complete, checked: the receipts against the plan, the object's CRC-64 against theirs combined (a wrong
    object is deleted); a NoSuchUpload answer is accepted when HEAD shows the object is the one sent.

    The whole of Complete's decisions, for an upload (:func:`_complete`) and for the public step
    :func:`cos_multipart.complete` alike. ``scheme`` is the target dialect's integrity scheme (default: the one
    of the dialect ``session.service`` names).
    """
    parts = session.check_complete(receipts)  # count, order, sizes
    chosen = scheme if scheme is not None else session.integrity
    combined = yield CombineCrc64(tuple((part.crc64, part.size) for part in parts), chosen)
    pending = PendingCompletion(parts, combined, session.plan.size)
    try:
        result: CompleteResult = yield Complete(session.upload_id, tuple(session.completed_parts(pending.parts)), forbid_overwrite)
    except CosServiceError as error:
        if not decide.upload_is_gone(error):
            raise
        head = yield from _head_matching(pending)
        if head is None:
            raise
        logger.debug("Complete answered NoSuchUpload but %s matches: completed by an earlier attempt", session.key)
        result = completed_by_earlier_attempt(session, head)
    if pending.wrong(result):
        # Not left behind as the current version: nobody may read bytes that are not the local ones.
        failure: Optional[BaseException] = None
        try:
            yield DeleteObject(result.version_id)
        except (CosError, OSError) as error:
            failure = error
        raise pending.mismatch(result, failure)
    return pending.accept(result)


def part_flow(
    session: UploadSession, number: int, *, attempts: int, check_md5: bool
) -> Generator[object, Any, Tuple[PartReceipt, List[str]]]:
    """Part ``number`` of ``session`` alone, sent until verified by the parts phase's own rules (a one-part
    :class:`~cos_multipart._core._window.PartWindow`, nothing recorded): its receipt and every request id."""
    window = PartWindow.of_session(session, [number], attempts=attempts, check_md5=check_md5, limit=1, record=False)
    yield window
    return window.done[number], window.request_ids


# --- multipart upload of a file or buffer -----------------------------------------------------------------


@dataclass
class _Session:
    """The session a multipart run goes on with, what it reuses, and its checkpoint (``None``: not recorded)."""

    session: UploadSession
    reused: int = 0
    reverified: int = 0
    checkpoint: Optional[str] = None


def _multipart(run: _Run, stored: Optional[UploadSession]) -> Flow:
    finished = yield from _finished_earlier(run, stored)
    if finished is not None:
        return finished
    chosen = yield from _session(run, stored)
    session = chosen.session
    reused_bytes = sum(p.size for p in session.parts)
    window = PartWindow.of_session(
        session, session.pending(), attempts=run.config.part_attempts, limit=run.start.limit,
        check_md5=run.config.verify_md5 and session.etag_is_md5, record=chosen.checkpoint is not None,
    )  # fmt: skip
    try:
        # Inside the keep-or-abort step: the first event runs the caller's callback, where a Ctrl-C can land.
        yield ProgressStart(session.plan.size, session.plan.count, len(session.parts), reused_bytes)
        try:
            yield window
        finally:
            run.request_ids.extend(window.request_ids)
        if run.start.source.kind == "file":
            yield CheckUnchanged()
        receipts = sorted((*session.parts, *window.done.values()), key=lambda p: p.part_number)
        completion = yield from _complete(run, session, receipts, mark=chosen.checkpoint is not None)
    except GeneratorExit:  # the machine was dropped unfinished: nothing more can be asked
        raise
    except BaseException as error:
        gone = yield from _fail(run, chosen, len(session.parts) + len(window.done), error)
        if gone is not None:
            raise gone from error
        raise
    if chosen.checkpoint is not None:
        yield DropCheckpoint(session)
    yield ProgressFlush()
    result = completion.result
    return run.result(
        session.upload_id, result.etag, completion.parts, completion.crc64, reused=chosen.reused,
        reverified=chosen.reverified, version_id=result.version_id, reused_bytes=reused_bytes,
    )  # fmt: skip


def _finished_earlier(run: _Run, stored: Optional[UploadSession]) -> Generator[object, Any, Optional[UploadResult]]:
    """The result when an earlier run sent Complete and the object is there (a kill after Complete): the
    object's size and CRC-64 (HEAD) and the local bytes (re-read unless ``verify_reused`` is off) must match
    the recorded parts; then nothing is sent again."""
    if stored is None or not stored.completing or run.start.source.kind != "file":
        return None
    source = run.start.source
    pending = decide.earlier_completion(stored, decide.stale_reason(run.target, run.config, source, run.key, stored))
    if pending is None:
        return None
    head = yield from _head_matching(pending)
    if head is None:
        return None
    local = yield from _reuse(run, stored, decide.recorded_listing(stored))
    if local.rejected:
        return None  # the file is not what was uploaded: the normal path starts a new upload
    completion = pending.accept(completed_by_earlier_attempt(stored, head))
    logger.info("upload %s of %s was completed by an earlier run: nothing sent again", stored.upload_id, run.key)
    yield DropCheckpoint(stored)
    return run.result(
        stored.upload_id, head.etag, completion.parts, completion.crc64, reused=len(completion.parts),
        reverified=local.reverified_bytes, version_id=head.version_id, reused_bytes=pending.size,
    )  # fmt: skip


def _reuse(run: _Run, stored: UploadSession, listed: List[PartInfo]) -> Generator[object, Any, _resume.Resumed]:
    """Which listed parts are reused: the local bytes of each are hashed (one action) and judged."""
    found = stored.reconcile(listed)
    reads = _resume.reads_for(stored, found, verify_reused=run.config.verify_reused)
    digests = (yield DigestParts(reads)) if reads else ()
    return _resume.judge_reuse(stored, found, digests, verify_reused=run.config.verify_reused, name=run.start.source.name)


def _session(run: _Run, stored: Optional[UploadSession]) -> Generator[object, Any, _Session]:
    """The session to run: resumed, or newly initiated (planned first: a plan that cannot work is refused
    before Initiate; recorded before any part is sent, so a crash never leaves an upload nobody knows)."""
    source = run.start.source
    if stored is not None and source.kind == "file":
        resumed = yield from _resume_stored(run, stored)
        if resumed is not None:
            yield from _refuse_existing(run)
            resumed.checkpoint = yield StartCheckpoint(resumed.session)
            return resumed
    if run.start.resume_only:
        raise decide.nothing_to_resume(source, run.key)
    planned = decide.planned_session(run.target, run.config, source, run.key)
    yield from _refuse_existing(run)
    initiated = yield from _initiate(run)
    session = decide.initiated(planned, initiated.upload_id, initiated.at)
    chosen = _Session(session)
    if decide.checkpoints(run.config, session):
        try:
            chosen.checkpoint = yield StartCheckpoint(session)
        except GeneratorExit:  # the machine was dropped unfinished: nothing more can be asked
            raise
        except BaseException:  # a Ctrl-C during the first write: no checkpoint names the upload, abort it
            yield from _abort_quietly(session.upload_id)
            raise
    return chosen


def _resume_stored(run: _Run, stored: UploadSession) -> Generator[object, Any, Optional[_Session]]:
    """``stored`` resumed (List Parts reconciled, reused parts re-read), or ``None`` when it is stale or gone
    (then it is aborted and its checkpoint dropped; a resume-only call is refused instead)."""
    source = run.start.source
    reason = decide.stale_reason(run.target, run.config, source, run.key, stored)
    if reason is not None:
        decide.refuse_stale(stored, source, run.key, reason, resume_only=run.start.resume_only)
        aborted = yield from _abort_quietly(stored.upload_id, strict=True)
        decide.stale_abandoned(stored, source, reason, aborted=aborted)
        yield DropCheckpoint(stored)
        return None
    try:
        listed: Optional[List[PartInfo]] = _resume.bounded_parts((yield ListParts(stored.upload_id)))
    except CosServiceError as error:
        if not decide.upload_is_gone(error):
            raise
        listed = None
    if listed is None:
        decide.refuse_lost(stored, source, run.key, resume_only=run.start.resume_only)
        # Still abort the recorded id before forgetting it: a false NoSuchUpload must not orphan the upload.
        decide.lost_but_aborted(stored, aborted=(yield from _abort_quietly(stored.upload_id, strict=True)))
        yield DropCheckpoint(stored)
        return None
    resumed = yield from _reuse(run, stored, listed)
    return _Session(resumed.session, len(resumed.session.parts), resumed.reverified_bytes)


def _fail(run: _Run, chosen: _Session, parts_done: int, error: BaseException) -> Generator[object, Any, Optional[UploadGoneError]]:
    """Keep the upload for a resume (and say so on the error), or abort it so nothing is left behind.

    Returns the :class:`UploadGoneError` to raise instead of ``error`` when the upload is gone from COS (its
    checkpoint is dropped: a resume of it could only fail).
    """
    session = chosen.session
    gone = decide.gone_error(error, session)
    # A checkpoint never written names nothing: abort instead of orphaning the upload.
    written = chosen.checkpoint is not None and (yield CheckpointWritten())
    if chosen.checkpoint is not None and decide.keeps_upload(error, run.config, recorded=written):
        yield FlushCheckpoint()
        decide.attach_kept(error, session, parts_done, chosen.checkpoint)
        return None
    if not decide.object_completed(error):  # a gone upload too: a false NoSuchUpload must not orphan it
        yield from _abort_quietly(session.upload_id)
    if chosen.checkpoint is not None:
        yield DropCheckpoint(session)
    if gone is not None:
        decide.upload_gone(gone)
    return gone


# --- streams ------------------------------------------------------------------------------------------------


def _stream(run: _Run) -> Flow:
    """A stream: its first part read first (a short stream goes up in one PUT), then parts of growing size."""
    config = run.config
    schedule = stream_plan(config.part_size, expected_size=config.expected_size, min_part_size=run.target.dialect.min_part_size)
    check_length = run.start.source.check_length or (lambda total: None)
    first_size = schedule.part_size_of(1)
    first: StreamPart = yield ReadStreamPart(first_size, True)  # Content-MD5 if it turns out to be small
    if decide.stream_is_small(first.data, first_size, config):
        check_length(len(first.data))
        return (yield from _single_put(run, first))
    yield from _refuse_existing(run)
    upload_id = (yield from _initiate(run)).upload_id
    cutter = decide.StreamCutter(schedule, check_length)
    limit = run.start.limit or config.concurrency
    window = PartWindow.of_stream(upload_id, cutter, first, attempts=config.part_attempts, check_md5=config.check_md5, limit=limit)
    del first  # the window holds it until it is sent: this frame lives as long as the upload
    try:
        # Inside the abort step: the first event runs the caller's callback, where a Ctrl-C can land.
        yield ProgressStart(run.start.source.size, None)
        try:
            yield window
        finally:
            run.request_ids.extend(window.request_ids)
        receipts = window.receipts()
        session = cutter.session(run.target, run.key, upload_id, len(receipts), config)
        yield ProgressFinish(session.plan.size, len(receipts))
        completion = yield from _complete(run, session, receipts, mark=False)
    except GeneratorExit:  # the machine was dropped unfinished: nothing more can be asked
        raise
    except BaseException as error:
        if not decide.object_completed(error):
            yield from _abort_quietly(upload_id)
        exists = decide.exists_error(error, run.target.bucket, run.key, run.service)
        if exists is not None:
            raise exists from error
        gone = decide.stream_gone_error(error, run.target.bucket, run.key, upload_id, run.service)
        if gone is not None:
            raise gone from error
        raise
    yield ProgressFlush()
    return run.result(upload_id, completion.result.etag, completion.parts, completion.crc64, version_id=completion.result.version_id)
