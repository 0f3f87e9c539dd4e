"""The threaded driver behind :class:`~cos_multipart.uploader.Uploader`: one upload, from source to result.

:class:`Upload` picks the path (a single PUT with Content-MD5, a multipart upload of a file or buffer, or a
stream), :class:`MultipartRun` resumes or initiates a session and runs its pending parts on a bounded pool,
:class:`StreamRun` reads a stream into parts of growing size. Integrity is decided by the session core
(:mod:`cos_multipart.parts`, :mod:`cos_multipart._resume`, :mod:`cos_multipart.session`), not here.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from . import _resume
from ._config import UploadConfig, UploadResult
from ._lock import CheckpointLock
from ._partreader import BufferPartReader, StreamPart
from ._scheduler import BoundedRunner
from ._sources import AnySource, BodyOptions, BufferSource, FileSource, StreamSource
from .checkpoint import CheckpointRecorder, CheckpointStore
from .client import CosClient
from .errors import (
    KEPT_UPLOAD_ATTRIBUTE,
    CosError,
    CosIntegrityError,
    CosServiceError,
    CosValidationError,
    KeptUpload,
    ObjectExistsError,
    ResumeError,
    SourceChangedError,
)
from .limits import MAX_PART_NUMBER
from .parts import NO_SUCH_UPLOAD, Answer, Completion, complete, send_part, send_verified
from .planner import StreamPlan, plan_parts, stream_plan
from .progress import ProgressCallback, ProgressTracker
from .ratelimit import TokenBucket
from .session import GrowingPlan, PartReceipt, UploadSession

logger = logging.getLogger(__name__)

#: COS's answer to Complete with ``x-cos-forbid-overwrite: true`` when the key exists (a race with a writer).
FILE_ALREADY_EXISTS = "FileAlreadyExists"

Outcome = Tuple[PartReceipt, Answer, List[str]]


def abort_quietly(client: CosClient, key: str, upload_id: str) -> bool:
    try:
        client.abort_multipart_upload(key, upload_id)
        return True
    except CosServiceError as error:
        if error.code == NO_SUCH_UPLOAD:
            return False
        raise


def endpoint_url(client: CosClient) -> str:
    """The base URL the client talks to (checkpoints are only valid for the same service)."""
    return client.endpoint.base_url


class Upload:
    """One call of :meth:`Uploader.upload`: picks the path (single PUT, multipart, stream) and runs it."""

    def __init__(
        self,
        client: CosClient,
        config: UploadConfig,
        store: CheckpointStore,
        source: AnySource,
        key: str,
        callback: Optional[ProgressCallback],
        *,
        resume_only: bool,
    ) -> None:
        self.client = client
        self.config = config
        self.store = store
        self.source = source
        self.key = key
        self.callback = callback
        self.resume_only = resume_only
        self.started = time.monotonic()
        self.cancel = threading.Event()
        self.limiter = TokenBucket(self.config.bandwidth_limit) if self.config.bandwidth_limit else None
        self.request_ids: List[str] = []
        self.progress = ProgressTracker(source.size, None, callback)

    def body_options(self, *, md5: bool) -> BodyOptions:
        return BodyOptions(md5, self.progress, self.limiter, self.cancel)

    def run(self) -> UploadResult:
        source = self.source
        if isinstance(source, StreamSource):
            if self.resume_only:
                raise ResumeError("the stream", self.key, "only a file given by path can be resumed")
            return self._stream(source)
        path = source.path if isinstance(source, FileSource) else None
        if path is None:
            if self.resume_only:
                raise ResumeError("the source", self.key, "only a file given by path can be resumed")
            if source.size < self.config.multipart_threshold:
                return self._single_put(source.read_all(BodyOptions(md5=True)))
            return MultipartRun(self, source, None).run()
        with self._locked(path):
            stored = self.store.load(endpoint_url(self.client), self.client.bucket, self.key, path)
            if stored is None and not self.resume_only and source.size < self.config.multipart_threshold:
                return self._single_put(source.read_all(BodyOptions(md5=True)))
            return MultipartRun(self, source, stored).run()

    @contextlib.contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        target = self.store.path_for(endpoint_url(self.client), self.client.bucket, self.key, path)
        self.store.check_usable(target)  # before any request: a store that fails later would orphan an upload
        lock = CheckpointLock.acquire(target)
        try:
            yield
        finally:
            lock.release()

    # -- single PUT --

    def _single_put(self, part: StreamPart) -> UploadResult:
        """One PUT with Content-MD5: COS refuses a body damaged in transit before it replaces anything."""
        size = len(part.data)
        self.progress = ProgressTracker(size, 1, self.callback)
        self.progress.start()
        md5_hex = part.digest.md5_hex or ""
        content_md5 = base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")
        options = self.config.object_options(self.key)

        def make_body() -> BufferPartReader:
            return BufferPartReader(part.data, part.digest, 1, progress=self.progress, limiter=self.limiter, cancel=self.cancel)

        def send(body: BufferPartReader) -> Answer:
            result = self.client.put_object(
                self.key, body, content_length=size, content_md5=content_md5,
                traffic_limit=self.config.traffic_limit, forbid_overwrite=self.config.forbid_overwrite,
                cancel=self.cancel, options=options,
            )  # fmt: skip
            return Answer(result.etag, result.crc64, result.request_id, result.version_id)

        try:
            receipt, answer, ids = send_verified(
                1, make_body, send, check_md5=self.config.check_md5, attempts=self.config.part_attempts,
                on_retry=self.progress.rewind,
            )  # fmt: skip
        except CosServiceError as error:
            if error.status == 409 and error.code == FILE_ALREADY_EXISTS:
                raise ObjectExistsError(self.client.bucket, self.key) from error
            raise
        self.request_ids.extend(ids)
        self.progress.part_done(1, size)
        self.progress.flush()
        return self.result(None, answer.etag, (receipt,), receipt.crc64, version_id=answer.version_id)

    # -- streams --

    def _stream(self, source: StreamSource) -> UploadResult:
        schedule = stream_plan(self.config.part_size, expected_size=self.config.expected_size)
        first_size = schedule.part_size_of(1)
        first = source.read_part(first_size, md5=True)  # Content-MD5 if it turns out to be small
        if len(first.data) < min(first_size, self.config.multipart_threshold):
            source.check_length(len(first.data))
            return self._single_put(first)
        return StreamRun(self, source, schedule, first).run()

    # -- shared --

    def initiate(self) -> str:
        """Initiate Multipart Upload with the object's options; returns the upload id."""
        result = self.client.initiate_multipart_upload(self.key, options=self.config.object_options(self.key))
        self.request_ids.append(result.request_id)
        logger.debug("initiated upload %s for %s", result.upload_id, self.key)
        return result.upload_id

    def refuse_existing(self) -> None:
        """With ``forbid_overwrite``: fail before anything is uploaded when the key already exists."""
        if not self.config.forbid_overwrite:
            return
        try:
            self.client.head_object(self.key, sse_c=self.config.sse_c)
        except CosServiceError as error:
            if error.status == 404:
                return
            raise
        raise ObjectExistsError(self.client.bucket, self.key)

    def stop_requests(self) -> None:
        """Free this upload's requests blocked on slow answers (other uploads on the client are untouched)."""
        self.client.abort_connections(cancel=self.cancel)

    def result(
        self,
        upload_id: Optional[str],
        etag: str,
        parts: Tuple[PartReceipt, ...],
        crc64: int,
        *,
        reused: int = 0,
        reverified: int = 0,
        version_id: Optional[str] = None,
        reused_bytes: int = 0,
    ) -> UploadResult:
        return UploadResult(
            bucket=self.client.bucket,
            key=self.key,
            upload_id=upload_id,
            etag=etag,
            crc64=crc64,
            size=sum(p.size for p in parts),
            parts=parts,
            elapsed=time.monotonic() - self.started,
            request_ids=tuple(self.request_ids),
            parts_reused=reused,
            bytes_reverified=reverified,
            version_id=version_id,
            bytes_reused=reused_bytes,
        )


class MultipartRun:
    """A multipart upload of a file or a buffer: resume or initiate, parts in parallel, complete."""

    def __init__(self, upload: Upload, source: Union[FileSource, BufferSource], stored: Optional[UploadSession]) -> None:
        self.upload = upload
        self.config = upload.config
        self.client = upload.client
        self.stored = stored
        self.source = source
        self.recorder: Optional[CheckpointRecorder] = None
        self.done: Dict[int, PartReceipt] = {}
        self.reverified = 0

    def run(self) -> UploadResult:
        session, reused = self._session()
        up = self.upload
        up.progress = ProgressTracker(session.plan.size, session.plan.count, up.callback)
        reused_bytes = sum(p.size for p in session.parts)
        up.progress.reused(len(session.parts), reused_bytes)
        up.progress.start()
        self.done = {p.part_number: p for p in session.parts}
        try:
            self._send(session)
            if isinstance(self.source, FileSource):
                self.source.check_unchanged()
            completion = self._complete(session)
        except BaseException as error:
            self._fail(session, error)
            raise
        if self.recorder is not None:
            up.store.delete(session)
        up.progress.flush()
        result = completion.result
        return up.result(
            session.upload_id, result.etag, completion.parts, completion.crc64,
            reused=reused, reverified=self.reverified, version_id=result.version_id, reused_bytes=reused_bytes,
        )  # fmt: skip

    def _wanted(self, upload_id: str, part_size: Optional[int]) -> UploadSession:
        """The session this file and configuration make, with ``part_size`` (``None``: automatic)."""
        source = self.source
        return UploadSession(
            endpoint=endpoint_url(self.client),
            bucket=self.client.bucket,
            key=self.upload.key,
            upload_id=upload_id,
            plan=plan_parts(source.size, part_size),
            options_digest=self.config.options_digest(self.upload.key),
            encryption=self.config.encryption_mode,
            sse_c_key_md5=self.config.sse_c.key_md5 if self.config.sse_c is not None else None,
            source=source.path,
            identity=source.identity if isinstance(source, FileSource) else None,
        )

    def _session(self) -> Tuple[UploadSession, int]:
        """The session to run and how many parts it reuses: resumed, or newly initiated."""
        up = self.upload
        stored = self.stored
        if stored is not None:
            resumed = self._resume(stored)
            if resumed is not None:
                up.refuse_existing()
                self.recorder = CheckpointRecorder(up.store, resumed)
                self.recorder.flush()
                return resumed, len(resumed.parts)
        if up.resume_only:
            raise ResumeError(self.source.path or "", up.key, "no checkpoint records an interrupted upload of this file to this key")
        up.refuse_existing()
        session = self._wanted(up.initiate(), self.config.part_size)
        if session.source is not None and self.config.resume:
            # Written before any part is sent, so that a crash never leaves an upload nobody knows about.
            self.recorder = CheckpointRecorder(up.store, session)
            self.recorder.flush()
        return session, 0

    def _resume(self, stored: UploadSession) -> Optional[UploadSession]:
        up = self.upload
        if not isinstance(self.source, FileSource):
            return None  # only files have checkpoints
        reason = "resume is off" if not self.config.resume else self._stale_reason(stored)
        if reason is not None:
            if up.resume_only:
                raise ResumeError(self.source.name, up.key, reason)
            aborted = abort_quietly(self.client, up.key, stored.upload_id)
            logger.warning(
                "not resuming upload %s of %s: %s; the old upload %s and a new upload starts", stored.upload_id,
                self.source.name, reason, "was aborted" if aborted else "was already gone from COS",
            )  # fmt: skip
            up.store.delete(stored)
            return None
        resumed = _resume.resume(self.client, stored, self.source, verify_reused=self.config.verify_reused, cancel=up.cancel)
        if resumed is None:
            if up.resume_only:  # a refused resume changes nothing; an upload will start afresh and say so
                raise ResumeError(
                    self.source.name, up.key, f"COS no longer has upload {stored.upload_id}; an upload starts a new one"
                )
            up.store.delete(stored)
            logger.warning("upload %s of %s is gone from COS; starting a new upload", stored.upload_id, up.key)
            return None
        self.reverified = resumed.reverified_bytes
        return resumed.session

    def _stale_reason(self, stored: UploadSession) -> Optional[str]:
        # A resumed upload keeps its own part size unless one is asked for.
        part_size = self.config.part_size if self.config.part_size is not None else stored.part_size
        try:
            wanted = self._wanted("", part_size)
        except CosValidationError as error:  # the file grew past what that part size can carry
            return str(error)
        return _resume.stale_reason(stored, wanted, part_size_given=self.config.part_size is not None)

    def _send(self, session: UploadSession) -> None:
        up = self.upload
        source = self.source
        body_options = up.body_options(md5=self.config.check_md5)
        send = functools.partial(
            send_part, up.client, session, source=source, sse_c=self.config.sse_c,
            traffic_limit=self.config.traffic_limit, verify_md5=self.config.verify_md5,
            attempts=self.config.part_attempts, options=body_options,
        )  # fmt: skip
        tasks: Iterator[Callable[[], Outcome]] = (
            functools.partial(send, part_number=number) for number in session.pending()
        )
        up.client.ensure_pool_size(self.config.concurrency)
        runner: BoundedRunner[Outcome] = BoundedRunner(
            self.config.concurrency, up.cancel, on_stop=up.stop_requests
        )
        runner.run(tasks, self._accept)

    def _accept(self, outcome: Outcome) -> None:
        receipt, _, request_ids = outcome
        self.done[receipt.part_number] = receipt
        self.upload.request_ids.extend(request_ids)
        if self.recorder is not None:
            self.recorder.add(receipt)
        # Last: the user's callback may raise, and the part is verified and recorded whatever it does.
        self.upload.progress.part_done(receipt.part_number, receipt.size)

    def _complete(self, session: UploadSession) -> Completion:
        up = self.upload
        receipts = [self.done[number] for number in sorted(self.done)]
        try:
            completion = complete(
                self.client, session, receipts, forbid_overwrite=self.config.forbid_overwrite, sse_c=self.config.sse_c
            )
        except CosServiceError as error:
            if error.status == 409 and error.code == FILE_ALREADY_EXISTS:
                raise ObjectExistsError(self.client.bucket, up.key) from error
            raise
        up.request_ids.append(completion.result.request_id)
        return completion

    def _fail(self, session: UploadSession, error: BaseException) -> None:
        """Keep the upload for a resume (and say so on the error), or abort it so nothing is left behind."""
        up = self.upload
        keep = (
            self.recorder is not None
            and self.recorder.written  # a checkpoint never written names nothing: abort instead of orphaning
            and not self.config.abort_on_failure
            and not isinstance(error, (SourceChangedError, ObjectExistsError))
            and not _object_completed(error)
        )
        if keep and self.recorder is not None:
            self.recorder.flush()
            kept = KeptUpload(
                bucket=session.bucket, key=session.key, upload_id=session.upload_id, parts_done=len(self.done),
                parts_total=session.plan.count, checkpoint=str(up.store.path_of(session)), source=session.source,
            )  # fmt: skip
            with contextlib.suppress(AttributeError, TypeError):
                setattr(error, KEPT_UPLOAD_ATTRIBUTE, kept)
            logger.debug("upload %s stopped (%s); checkpoint kept for resume", session.upload_id, type(error).__name__)
            return
        if not _object_completed(error):
            try:
                abort_quietly(self.client, session.key, session.upload_id)
            except (CosError, OSError) as abort_error:  # the original error matters more
                logger.warning("could not abort upload %s: %s", session.upload_id, abort_error)
        if self.recorder is not None:
            up.store.delete(session)


def _object_completed(error: BaseException) -> bool:
    """Whether Complete succeeded before ``error`` (a whole-object CRC-64 mismatch): nothing to abort."""
    return isinstance(error, CosIntegrityError) and error.part_number is None and error.what == "crc64"


class StreamRun:
    """A multipart upload of a stream: parts read one by one (growing sizes), sent in parallel, completed."""

    def __init__(self, upload: Upload, source: StreamSource, schedule: StreamPlan, first: StreamPart) -> None:
        self.upload = upload
        self.source = source
        self.schedule = schedule
        self.first: Optional[StreamPart] = first
        self.done: Dict[int, PartReceipt] = {}
        self.size = 0

    def run(self) -> UploadResult:
        up = self.upload
        up.refuse_existing()
        upload_id = up.initiate()
        up.progress.start()
        try:
            self._send(upload_id)
            receipts = [self.done[number] for number in sorted(self.done)]
            plan = GrowingPlan(self.schedule, self.size, len(receipts))
            session = UploadSession(endpoint_url(up.client), up.client.bucket, up.key, upload_id, plan,
                                    encryption=up.config.encryption_mode)  # fmt: skip
            up.progress.finish(self.size, len(receipts))
            completion = complete(
                up.client, session, receipts, forbid_overwrite=up.config.forbid_overwrite, sse_c=up.config.sse_c
            )
        except BaseException as error:
            if not _object_completed(error):
                try:
                    abort_quietly(up.client, up.key, upload_id)
                except (CosError, OSError) as abort_error:
                    logger.warning("could not abort upload %s: %s", upload_id, abort_error)
            if isinstance(error, CosServiceError) and error.status == 409 and error.code == FILE_ALREADY_EXISTS:
                raise ObjectExistsError(up.client.bucket, up.key) from error
            raise
        up.request_ids.append(completion.result.request_id)
        up.progress.flush()
        return up.result(upload_id, completion.result.etag, completion.parts, completion.crc64,
                         version_id=completion.result.version_id)  # fmt: skip

    def _parts(self) -> Iterator[Tuple[int, StreamPart]]:
        """``(number, part)`` read from the stream, each at the schedule's size; stops at the end."""
        number = 1
        size_of = self.schedule.part_size_of
        md5 = self.upload.config.check_md5
        part = self.first
        self.first = None
        while part is not None:
            self.size += len(part.data)
            if len(part.data) < size_of(number):  # the end of the stream
                self.source.check_length(self.size)  # before the last part goes out
                yield number, part
                return
            yield number, part
            # Past the last part number the schedule raises, naming its capacity, unless the stream ended.
            following = self.source.read_part(size_of(number + 1) if number < MAX_PART_NUMBER else 1, md5=md5)
            if not following.data:
                self.source.check_length(self.size)
                return
            number += 1
            part = following

    def _send(self, upload_id: str) -> None:
        up = self.upload
        config = up.config

        def task(number: int, part: StreamPart) -> Outcome:
            def make_body() -> BufferPartReader:
                return BufferPartReader(part.data, part.digest, number, progress=up.progress, limiter=up.limiter, cancel=up.cancel)

            def send(body: BufferPartReader) -> Answer:
                result = up.client.upload_part(
                    up.key, upload_id, number, body, content_length=len(part.data),
                    traffic_limit=config.traffic_limit, sse_c=config.sse_c, cancel=up.cancel,
                )  # fmt: skip
                return Answer(result.etag, result.crc64, result.request_id)

            return send_verified(number, make_body, send, check_md5=config.check_md5, attempts=config.part_attempts,
                                 on_retry=up.progress.rewind)  # fmt: skip

        def accept(outcome: Outcome) -> None:
            receipt, _, request_ids = outcome
            self.done[receipt.part_number] = receipt
            up.request_ids.extend(request_ids)
            up.progress.part_done(receipt.part_number, receipt.size)

        tasks = (functools.partial(task, number, part) for number, part in self._parts())
        up.client.ensure_pool_size(config.concurrency)
        runner: BoundedRunner[Outcome] = BoundedRunner(
            config.concurrency, up.cancel, on_stop=up.stop_requests
        )
        runner.run(tasks, accept)
