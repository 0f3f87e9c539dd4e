"""A server-side copy's sequence, written once, as a generator of actions (no I/O; run by
:class:`~cos_multipart._core._machine.Machine` as :class:`CopyMachine`).

HEAD the source (size, ETag, CRC-64); up to the threshold one PUT Object - Copy, else Initiate, the parts
copied in parallel (:class:`~cos_multipart._core._copywindow.CopyWindow`, every part pinned to the source's ETag),
their CRC-64 values combined and compared with the source's *before* Complete, Complete, then HEAD of the
destination: its size and CRC-64 must be the source's. A wrong destination is deleted. A failed multipart
copy is kept for a resume (its checkpoint names it) or aborted, as an upload is (:mod:`cos_multipart._core._flow`);
a changed source (412) is never kept. A source without a CRC-64 is copied and said so (:attr:`CopyResult.crc64_verified`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Generator, List, Optional, Tuple

from . import _decisions as decide
from ._actions import (
    Abort, CheckpointWritten, CombineCrc64, Complete, DeleteObject, DropCheckpoint, FlushCheckpoint, ListParts, LoadCheckpoint,
    Lock, MarkCompleting, PartDone, ProgressFlush, ProgressStart, StartCheckpoint, Unlock,
)  # fmt: skip
from ._config import UploadConfig
from ._copyvalues import DEFAULT_COPY_PART_SIZE, CopyConfig, CopyObject, CopyResult, HeadDestination, HeadSource, InitiateCopy
from ._copywindow import CopyWindow, source_changed
from ._machine import Machine
from ._outcomes import Initiated, Target
from .._protocol.copy_ops import CopySource
from .._protocol.dialect import Dialect
from .._protocol.errors import CosError, CosIntegrityError, CosResponseError, CosServiceError, ObjectExistsError, SourceChangedError
from .._protocol.limits import MAX_PART_NUMBER, MB, MAX_COPY_OBJECT_SIZE, OSS_MAX_COPY_OBJECT_SIZE
from .._protocol.models import CompleteResult, ObjectResult, PartInfo, ResponseInfo
from .._protocol.options import ObjectOptions
from .planner import PartPlan, plan_parts
from .session import PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = ["CopyMachine", "CopyStart", "checkpoint_source", "copy_flow", "copy_plan", "source_content"]

CopyFlow = Generator[Any, Any, CopyResult]
#: Where a copy's checkpoint is filed: the store names checkpoints by an absolute source path, and a copy's
#: source is an object, so it gets this prefix and a digest of its location.
CHECKPOINT_PREFIX = "/cos-multipart-copy/"


@dataclass(frozen=True)
class CopyStart:
    """What a copy starts from: the destination (``target``, ``key``), the source (bucket and region resolved),
    the configuration, and the parts in flight at most (``window``; ``0``: all at once)."""

    target: Target
    config: CopyConfig
    key: str
    source: CopySource
    window: Optional[int] = None

    @property
    def limit(self) -> Optional[int]:
        if self.window == 0:
            return None
        return self.window if self.window is not None else self.config.concurrency

    @property
    def threshold(self) -> int:
        """The largest source copied in one request: the config's, within the service's single-copy limit."""
        limit = OSS_MAX_COPY_OBJECT_SIZE if self.target.dialect.name == "oss" else MAX_COPY_OBJECT_SIZE
        return min(self.config.threshold, limit)


def checkpoint_source(target: Target, source: CopySource) -> str:
    """The absolute pseudo path a copy's checkpoint is filed under (its lock too): one per source location."""
    text = "\0".join((target.dialect.name, source.bucket or "", source.region or "", source.key, source.version_id or ""))
    return CHECKPOINT_PREFIX + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def source_content(head: ObjectResult) -> ObjectOptions:
    """The content options of the source (``Copy`` directive of a multipart copy: Initiate carries them over,
    as a single copy's service would): content type, the standard headers and ``x-cos-meta-*``."""
    headers = head.response.headers
    metadata = {name: value for name, value in headers.items() if name.startswith("x-cos-meta-")}
    return ObjectOptions(
        content_type=headers.get("content-type"), metadata=metadata or None, cache_control=headers.get("cache-control"),
        content_disposition=headers.get("content-disposition"), content_encoding=headers.get("content-encoding"),
        expires=headers.get("expires"),
    )  # fmt: skip


class _Run:
    def __init__(self, start: CopyStart, head: ObjectResult) -> None:
        self.start = start
        self.config = start.config
        self.head = head
        self.request_ids: List[str] = [head.request_id]
        if head.size is None:
            raise CosResponseError(f"the HEAD of the copy source {start.source} has no Content-Length", request_id=head.request_id)
        self.size: int = head.size
        self.name = str(start.source)
        if head.crc64 is None:
            logger.warning("the copy source %s has no CRC-64 (an old object): the copy is checked by its size and parts only", self.name)

    def result(self, upload_id: Optional[str], head: ObjectResult, parts: int, reused: int, verified: bool) -> CopyResult:
        return CopyResult(
            bucket=self.start.target.bucket, key=self.start.key, source=self.name, size=self.size, etag=head.etag,
            crc64=head.crc64, source_crc64=self.head.crc64, crc64_verified=verified, upload_id=upload_id, parts=parts,
            parts_reused=reused, version_id=head.version_id, request_ids=tuple(i for i in self.request_ids if i),
        )  # fmt: skip

    def refusing(self) -> Any:
        return decide.refusing_existing(self.start.target.bucket, self.start.key, self.start.target.dialect.name)


def copy_flow(start: CopyStart) -> CopyFlow:
    """One copy: HEAD the source, then a single copy (up to the threshold) or a multipart copy."""
    run = _Run(start, (yield HeadSource()))
    if run.size <= start.threshold:
        return (yield from _single(run))
    return (yield from _multipart(run))


def _single(run: _Run) -> CopyFlow:
    yield ProgressStart(run.size, 1)
    etag = run.head.etag
    with run.refusing():
        try:
            copied: ObjectResult = yield CopyObject(etag)
        except CosServiceError as error:
            changed = source_changed(error, run.name, etag)
            if changed is not None:
                raise changed from error
            raise
    run.request_ids.append(copied.request_id)
    head, verified = yield from _verify(run, copied.crc64, None, copied.version_id)
    yield PartDone(1, run.size)
    yield ProgressFlush()
    return run.result(None, head, 1, 0, verified)


def _verify(run: _Run, answered: Optional[int], combined: Optional[int], version_id: Optional[str]) -> Generator[Any, Any, Tuple[ObjectResult, bool]]:
    """HEAD the destination: its size must be the source's, its CRC-64 the source's (or, for a source without
    one, the parts' combined); a wrong object is deleted. Returns the HEAD and whether the CRC-64 was compared."""
    head: ObjectResult = yield HeadDestination()
    run.request_ids.append(head.request_id)
    expected = run.head.crc64 if run.head.crc64 is not None else combined
    problem: Optional[CosIntegrityError] = None
    if head.size != run.size:  # a HEAD without a Content-Length shows no size: not verified either
        problem = CosIntegrityError("size", run.size, head.size, request_id=head.request_id)
    else:
        for value in (answered, head.crc64):
            if expected is not None and value is not None and value != expected:
                problem = CosIntegrityError("crc64", expected, value, request_id=head.request_id)
                break
    if problem is not None:
        try:
            yield DeleteObject(version_id or head.version_id)
            problem.outcome = "the wrong copy was deleted"
        except (CosError, OSError) as error:
            problem.outcome = f"the wrong copy could not be deleted ({error})"
        raise problem
    verified = run.head.crc64 is not None and head.crc64 is not None
    return head, verified


# --- multipart ------------------------------------------------------------------------------------------------


def copy_plan(size: int, config: CopyConfig, dialect: Dialect) -> PartPlan:
    """The parts of a multipart copy of ``size`` bytes: ``config.part_size``, else 64 MB grown MB by MB until
    10,000 parts carry the source.

    Raises:
        CosValidationError: A part size that cannot carry the source on this service (nothing sent).
    """
    part_size = config.part_size
    if part_size is None:
        needed = -(-size // MAX_PART_NUMBER)
        part_size = max(DEFAULT_COPY_PART_SIZE, -(-needed // MB) * MB)
    return plan_parts(size, part_size, min_part_size=dialect.min_part_size)


def _plan(run: _Run) -> PartPlan:
    return copy_plan(run.size, run.config, run.start.target.dialect)


def _digest(run: _Run) -> str:
    """What a resumed copy must share with the stored one: the source's version and the destination's options
    (no secret: an SSE-C key's repr is its MD5)."""
    config = run.config
    text = repr((run.name, run.head.etag, run.size, run.head.crc64, config.metadata_directive, config.options))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _multipart(run: _Run) -> CopyFlow:
    start = run.start
    plan = _plan(run)  # before the lock and any request: a part size that cannot work is refused now
    path = checkpoint_source(start.target, start.source)
    recording = run.config.resume
    yield Lock(path)
    try:
        stored = (yield LoadCheckpoint(path)) if recording else None
        result = yield from _parts(run, plan, path, stored)
    except GeneratorExit:
        raise
    except BaseException:
        yield Unlock()
        raise
    yield Unlock()
    return result


def _session(run: _Run, plan: Any, path: str, stored: Optional[UploadSession]) -> Generator[Any, Any, Tuple[UploadSession, Optional[str], int]]:
    """The session: a stored one of the same source version and options (its parts still listed), else a new
    upload (a stale one is aborted first). Returns it, its checkpoint (``None``: not recorded), parts reused."""
    digest = _digest(run)
    if stored is not None:
        same = stored.options_digest == digest and stored.plan == plan and stored.service == run.start.target.dialect.name
        listed: Optional[List[PartInfo]] = None
        if same:
            try:
                listed = list((yield ListParts(stored.upload_id)))
            except CosServiceError as error:
                if not decide.upload_is_gone(error):
                    raise
        if listed is not None:
            kept = stored.reconcile(listed).kept
            session = dataclasses.replace(stored, parts=kept)
            logger.info("resuming copy %s to %s: %d of %d parts already copied", run.name, run.start.key, len(kept), plan.count)
            yield from _refuse_existing(run)
            return session, (yield StartCheckpoint(session)), len(kept)
        logger.info("the stored copy %s of %s is stale (another source version or options): aborted", stored.upload_id, run.name)
        yield from _abort_quietly(stored.upload_id)
        yield DropCheckpoint(stored)
    yield from _refuse_existing(run)
    initiated: Initiated = yield InitiateCopy(source_content(run.head) if run.config.metadata_directive == "Copy" else None)
    run.request_ids.append(initiated.request_id)
    target = run.start.target
    session = UploadSession(
        endpoint=target.base_url, bucket=target.bucket, key=run.start.key, upload_id=initiated.upload_id, plan=plan,
        options_digest=digest, source=path, created=initiated.at, service=target.dialect.name,
        encryption=UploadConfig(options=run.config.options).encryption_mode,
        sse_c_key_md5=run.config.sse_c.key_md5 if run.config.sse_c is not None else None,
    )  # fmt: skip
    checkpoint: Optional[str] = None
    if run.config.resume:
        try:
            checkpoint = yield StartCheckpoint(session)
        except GeneratorExit:
            raise
        except BaseException:
            yield from _abort_quietly(session.upload_id)
            raise
    return session, checkpoint, 0


def _finished_earlier(run: _Run, plan: PartPlan, stored: Optional[UploadSession]) -> Generator[Any, Any, Optional[CopyResult]]:
    """The result when an earlier run of this copy sent Complete and was killed before it could drop its
    checkpoint: the destination already has the source's size and CRC-64 (nothing is copied again)."""
    if stored is None or not stored.completing or stored.options_digest != _digest(run) or stored.plan != plan:
        return None
    if run.head.crc64 is None:
        return None  # nothing to recognise the earlier copy by: copy again
    try:
        head: ObjectResult = yield HeadDestination()
    except CosError:
        return None
    if head.size != run.size or head.crc64 != run.head.crc64:
        return None
    logger.info("copy %s of %s was completed by an earlier run: nothing copied again", stored.upload_id, run.name)
    yield DropCheckpoint(stored)
    return run.result(stored.upload_id, head, plan.count, plan.count, True)


def _refuse_existing(run: _Run) -> Generator[Any, Any, None]:
    """With ``forbid_overwrite``: fail before any part is copied when the destination exists (Complete still
    carries the header, against a race)."""
    if not run.config.forbid_overwrite:
        return
    head_error: Optional[CosServiceError] = None
    try:
        yield HeadDestination()
    except CosServiceError as error:
        head_error = error
    refusal = decide.overwrite_refusal(head_error, run.start.target.bucket, run.start.key, run.start.target.dialect.name)
    if refusal is not None:
        raise refusal


def _parts(run: _Run, plan: Any, path: str, stored: Optional[UploadSession]) -> CopyFlow:
    finished = yield from _finished_earlier(run, plan, stored)
    if finished is not None:
        return finished
    session, checkpoint, reused = yield from _session(run, plan, path, stored)
    window = CopyWindow(session, session.pending(), run.head.etag, run.name, limit=run.start.limit, record=checkpoint is not None)
    try:
        yield ProgressStart(plan.size, plan.count, reused, sum(p.size for p in session.parts))
        try:
            yield window
        finally:
            run.request_ids.extend(window.request_ids)
        receipts = session.check_complete(sorted((*session.parts, *window.done.values()), key=lambda p: p.part_number))
        combined = yield from _combined(run, receipts, window.without_crc)
        if checkpoint is not None:
            yield MarkCompleting()
        with run.refusing():
            completed = yield from _complete(run, session, receipts)
        head, verified = yield from _verify(run, completed.crc64, combined, completed.version_id)
    except GeneratorExit:
        raise
    except BaseException as error:
        yield from _fail(run, session, checkpoint, len(session.parts) + len(window.done), error)
        raise
    if checkpoint is not None:
        yield DropCheckpoint(session)
    yield ProgressFlush()
    return run.result(session.upload_id, head, plan.count, reused, verified)


def _combined(run: _Run, receipts: Tuple[PartReceipt, ...], without_crc: Any) -> Generator[Any, Any, Optional[int]]:
    """The parts' CRC-64 values combined, checked against the source's before Complete (``None`` when a part
    came without one): a wrong part is never completed into an object."""
    if without_crc or not receipts:
        return None
    combined: int = yield CombineCrc64(tuple((part.crc64, part.size) for part in receipts), run.start.target.dialect.integrity)
    expected = run.head.crc64
    if expected is not None and combined != expected:
        raise CosIntegrityError("parts-crc64", expected, combined)
    return combined


def _complete(run: _Run, session: UploadSession, receipts: Tuple[PartReceipt, ...]) -> Generator[Any, Any, CompleteResult]:
    parts = tuple(session.completed_parts(receipts))
    try:
        completed: CompleteResult = yield Complete(session.upload_id, parts, run.config.forbid_overwrite)
    except CosServiceError as error:
        if not decide.upload_is_gone(error):
            raise
        # A retried Complete whose first answer was lost: the destination is judged by _verify's HEAD.
        logger.debug("Complete of copy %s answered NoSuchUpload: checking the destination", session.upload_id)
        return CompleteResult(location="", bucket=session.bucket, key=session.key, etag="", crc64=None, version_id=None, response=ResponseInfo(status=error.status, request_id=error.request_id, headers={}))
    run.request_ids.append(completed.request_id)
    return completed


def _fail(run: _Run, session: UploadSession, checkpoint: Optional[str], parts_done: int, error: BaseException) -> Generator[Any, Any, None]:
    """Keep the copy for a resume (its checkpoint was written; not after a changed source, an existing
    destination, a gone upload or a wrong part or object: a resume would reuse it) or abort it, so that
    nothing is left behind."""
    written = checkpoint is not None and (yield CheckpointWritten())
    keep = (
        written and not run.config.abort_on_failure and not isinstance(error, (SourceChangedError, ObjectExistsError, CosIntegrityError))
        and not decide.upload_is_gone(error) and not decide.object_completed(error)
    )  # fmt: skip
    if keep and checkpoint is not None:
        yield FlushCheckpoint()
        # No local file names a copy (its checkpoint is filed under its source's location): "run it again".
        decide.attach_kept(error, dataclasses.replace(session, source=None), parts_done, checkpoint)
        return
    if not decide.object_completed(error):
        yield from _abort_quietly(session.upload_id)
    if checkpoint is not None:
        yield DropCheckpoint(session)


def _abort_quietly(upload_id: str) -> Generator[Any, Any, None]:
    try:
        yield Abort(upload_id)
    except (CosError, OSError) as error:
        if not decide.upload_is_gone(error):
            decide.abort_failed(upload_id, error)


class CopyMachine(Machine):
    """One server-side copy as a state machine (:func:`copy_flow`), run by any executor."""

    @classmethod
    def copy(cls, start: CopyStart) -> "CopyMachine":
        return cls(copy_flow(start))

    def result(self, elapsed: float) -> CopyResult:
        """The verified copy, timed ``elapsed`` seconds by the executor; or the failure, raised."""
        result = self.value()
        if not isinstance(result, CopyResult):
            raise TypeError(f"the copy machine returned {type(result).__name__}")
        return dataclasses.replace(result, elapsed=elapsed)
