"""The threaded driver behind :class:`~cos_multipart.uploader.Uploader`: one upload, from source to result.

:class:`Upload` picks the path (a single PUT with Content-MD5, a multipart upload of a file or buffer, or a
stream), :class:`MultipartRun` resumes or initiates a session and runs its pending parts on a bounded pool,
:class:`StreamRun` reads a stream into parts of growing size. Integrity is decided by the session core
(:mod:`cos_multipart.parts`, :mod:`cos_multipart._resume`, :mod:`cos_multipart.session`), not here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from . import _decisions as decide
from . import _resume
from ._config import UploadConfig, UploadResult
from ._lock import CheckpointLock
from ._partreader import BufferPartReader, StreamPart
from ._scheduler import BoundedRunner
from ._sources import AnySource, BodyOptions, FileSource, StreamSource
from .checkpoint import CheckpointRecorder, CheckpointStore
from .client import CosClient
from ._decisions import client_dialect, endpoint_url
from .errors import CosError, CosServiceError, UploadGoneError
from .parts import NO_SUCH_UPLOAD, Answer, Completion, complete, completed_by_earlier_attempt, head_if_matching, send_part, send_verified
from .planner import StreamPlan, stream_plan
from .progress import ProgressCallback, ProgressTracker
from .ratelimit import TokenBucket
from .session import PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = ["MultipartRun", "StreamRun", "Upload", "abort_quietly", "endpoint_url"]

Outcome = Tuple[PartReceipt, Answer, List[str]]


def abort_quietly(client: CosClient, key: str, upload_id: str) -> bool:
    try:
        client.abort_multipart_upload(key, upload_id)
        return True
    except CosServiceError as error:
        if error.code == NO_SUCH_UPLOAD:
            return False
        raise


class Upload(decide.UploadBase[CosClient]):
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
        limiter: Optional[TokenBucket] = None,
    ) -> None:
        super().__init__(client, config, store, source, key, resume_only=resume_only, limiter=limiter)
        self.callback = callback
        self.cancel = threading.Event()
        self.progress = ProgressTracker(source.size, None, callback)

    def body_options(self, *, md5: bool) -> BodyOptions:
        return BodyOptions(md5, self.progress, self.limiter, self.cancel)

    def run(self) -> UploadResult:
        source = self.source
        way = decide.path_without_checkpoint(source, self.config, self.key, resume_only=self.resume_only)
        decide.check_plan(self.client, self.config, source, self.key)  # before the lock and any request
        if isinstance(source, StreamSource):
            return self._stream(source)
        if way == decide.SINGLE_PUT:
            return self.single_put(source.read_all(BodyOptions(md5=True)))
        if source.path is None:
            return MultipartRun(self, source, None).run()
        with self._locked(source.path):
            stored = self.store.load(endpoint_url(self.client), self.client.bucket, self.key, source.path)
            if decide.path_with_checkpoint(source, self.config, stored, resume_only=self.resume_only) == decide.SINGLE_PUT:
                return self.single_put(source.read_all(BodyOptions(md5=True)))
            return MultipartRun(self, source, stored).run()

    @contextlib.contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        target = self.store.path_for(endpoint_url(self.client), self.client.bucket, self.key, path)
        if not self.config.resume:  # nothing is recorded: a full or read-only checkpoint disk must not matter
            lock = CheckpointLock.acquire_if_writable(target)
        else:
            self.store.check_usable(target)  # before any request: a store that fails later would orphan an upload
            lock = CheckpointLock.acquire(target)
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    # -- single PUT --

    def single_put(self, part: StreamPart) -> UploadResult:
        """One PUT with Content-MD5: COS refuses a body damaged in transit before it replaces anything."""
        size = len(part.data)
        self.progress = ProgressTracker(size, 1, self.callback)
        self.progress.start()
        content_md5 = decide.content_md5(part.digest)
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

        with decide.refusing_existing(self.client.bucket, self.key, decide.client_dialect(self.client).name):
            receipt, answer, ids = send_verified(
                1, make_body, send, check_md5=self.config.check_md5, attempts=self.config.part_attempts,
                on_retry=self.progress.rewind,
            )  # fmt: skip
        return self.single_put_result(receipt, answer.version_id, ids)

    # -- streams --

    def _stream(self, source: StreamSource) -> UploadResult:
        schedule = stream_plan(
            self.config.part_size, expected_size=self.config.expected_size, min_part_size=client_dialect(self.client).min_part_size
        )
        first_size = schedule.part_size_of(1)
        first = source.read_part(first_size, md5=True)  # Content-MD5 if it turns out to be small
        if decide.stream_is_small(first.data, first_size, self.config):
            source.check_length(len(first.data))
            return self.single_put(first)
        return StreamRun(self, source, schedule, first).run()

    # -- shared --

    def initiate(self) -> str:
        """Initiate Multipart Upload with the object's options; returns the upload id.

        Initiate is not idempotent: when the transport had to retry it, an earlier attempt may have created an
        upload whose answer was lost. Those are found (List Multipart Uploads of the key, by initiation time)
        and aborted, so none is left behind unnamed.
        """
        started = time.time() + self.client.transport.clock_offset
        result = self.client.initiate_multipart_upload(self.key, options=self.config.object_options(self.key))
        self.request_ids.append(result.request_id)
        logger.debug("initiated upload %s for %s", result.upload_id, self.key)
        if result.response.attempts > 1:
            uploads = self.client.list_multipart_uploads(prefix=self.key)
            for extra in decide.extra_initiated(uploads, self.key, result.upload_id, started):
                logger.warning("aborting upload %s of %s: made by a retried Initiate whose answer was lost", extra, self.key)
                abort_quietly(self.client, self.key, extra)
        return result.upload_id

    def refuse_existing(self) -> None:
        """With ``forbid_overwrite``: fail before anything is uploaded when the key already exists."""
        if not self.config.forbid_overwrite:
            return
        head_error: Optional[CosServiceError] = None
        try:
            self.client.head_object(self.key, sse_c=self.config.sse_c)
        except CosServiceError as error:
            head_error = error
        refusal = decide.overwrite_refusal(head_error, self.client.bucket, self.key, decide.client_dialect(self.client).name)
        if refusal is not None:
            raise refusal

    def stop_requests(self) -> None:
        """Free this upload's requests blocked on slow answers (other uploads on the client are untouched)."""
        self.client.abort_connections(cancel=self.cancel)


class MultipartRun(decide.MultipartBase[Upload]):
    """A multipart upload of a file or a buffer: resume or initiate, parts in parallel, complete."""

    def run(self) -> UploadResult:
        finished = self._finished_earlier()
        if finished is not None:
            return finished
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
            gone = self._fail(session, error)
            if gone is not None:
                raise gone from error
            raise
        if self.recorder is not None:
            up.store.delete(session)
        up.progress.flush()
        result = completion.result
        return up.result(
            session.upload_id, result.etag, completion.parts, completion.crc64,
            reused=reused, reverified=self.reverified, version_id=result.version_id, reused_bytes=reused_bytes,
        )  # fmt: skip

    def _finished_earlier(self) -> Optional[UploadResult]:
        """The result when an earlier run sent Complete and the object is there (a kill after Complete): the
        object's size and CRC-64 (HEAD) and the local bytes (re-read unless ``verify_reused`` is off) must match
        the recorded parts; then nothing is sent again."""
        up = self.upload
        stored = self.stored
        if stored is None or not stored.completing or not isinstance(self.source, FileSource):
            return None
        pending = decide.earlier_completion(stored, decide.stale_reason(self.client, self.config, self.source, up.key, stored))
        if pending is None:
            return None
        head = head_if_matching(self.client, up.key, pending, sse_c=self.config.sse_c)
        if head is None:
            return None
        local = _resume.reuse(
            stored, decide.recorded_listing(stored), self.source, verify_reused=self.config.verify_reused, cancel=up.cancel
        )
        if local.rejected:
            return None  # the file is not what was uploaded: the normal path starts a new upload
        completion = pending.accept(completed_by_earlier_attempt(stored, head))
        logger.info("upload %s of %s was completed by an earlier run: nothing sent again", stored.upload_id, up.key)
        up.store.delete(stored)
        return up.result(
            stored.upload_id, head.etag, completion.parts, completion.crc64, reused=len(completion.parts),
            reverified=local.reverified_bytes, version_id=head.version_id, reused_bytes=pending.size,
        )  # fmt: skip

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
            raise decide.nothing_to_resume(self.source, up.key)
        planned = decide.planned_session(self.client, self.config, self.source, up.key)  # refused before Initiate
        up.refuse_existing()
        session = decide.initiated(planned, up.initiate())
        if decide.checkpoints(self.config, session):
            # Written before any part is sent, so that a crash never leaves an upload nobody knows about.
            self.recorder = CheckpointRecorder(up.store, session)
            self.recorder.flush()
        return session, 0

    def _resume(self, stored: UploadSession) -> Optional[UploadSession]:
        up = self.upload
        if not isinstance(self.source, FileSource):
            return None  # only files have checkpoints
        reason = decide.stale_reason(self.client, self.config, self.source, up.key, stored)
        if reason is not None:
            decide.refuse_stale(stored, self.source, up.key, reason, resume_only=up.resume_only)
            aborted = abort_quietly(self.client, up.key, stored.upload_id)
            decide.stale_abandoned(stored, self.source, reason, aborted=aborted)
            up.store.delete(stored)
            return None
        resumed = _resume.resume(self.client, stored, self.source, verify_reused=self.config.verify_reused, cancel=up.cancel)
        if resumed is None:
            decide.refuse_lost(stored, self.source, up.key, resume_only=up.resume_only)
            # Still abort the recorded id before forgetting it: a false NoSuchUpload must not orphan the upload.
            decide.lost_but_aborted(stored, aborted=abort_quietly(self.client, up.key, stored.upload_id))
            up.store.delete(stored)
            return None
        self.reverified = resumed.reverified_bytes
        return resumed.session

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
        receipts = self.receipts()
        if self.recorder is not None:
            self.recorder.mark_completing()  # a kill from here on leaves an object the next run can recognise
        with decide.refusing_existing(self.client.bucket, up.key, decide.client_dialect(self.client).name):
            completion = complete(
                self.client, session, receipts, forbid_overwrite=self.config.forbid_overwrite, sse_c=self.config.sse_c
            )
        up.request_ids.append(completion.result.request_id)
        return completion

    def _fail(self, session: UploadSession, error: BaseException) -> Optional[UploadGoneError]:
        """Keep the upload for a resume (and say so on the error), or abort it so nothing is left behind.

        Returns the :class:`UploadGoneError` to raise instead of ``error`` when the upload is gone from COS
        (its checkpoint is dropped: a resume of it could only fail).
        """
        up = self.upload
        gone = decide.gone_error(error, session)
        # A checkpoint never written names nothing: abort instead of orphaning the upload.
        if self.recorder is not None and decide.keeps_upload(error, self.config, recorded=self.recorder.written):
            self.recorder.flush()
            decide.attach_kept(error, session, len(self.done), str(up.store.path_of(session)))
            return None
        if not decide.object_completed(error):
            try:  # a gone upload too: a false NoSuchUpload must not leave it orphaned
                abort_quietly(self.client, session.key, session.upload_id)
            except (CosError, OSError) as abort_error:
                decide.abort_failed(session.upload_id, abort_error)
        if self.recorder is not None:
            up.store.delete(session)
        if gone is not None:
            decide.upload_gone(gone)
        return gone


class StreamRun:
    """A multipart upload of a stream: parts read one by one (growing sizes), sent in parallel, completed."""

    def __init__(self, upload: Upload, source: StreamSource, schedule: StreamPlan, first: StreamPart) -> None:
        self.upload = upload
        self.source = source
        self.schedule = schedule
        self.first: Optional[StreamPart] = first
        self.done: Dict[int, PartReceipt] = {}
        self.cutter = decide.StreamCutter(schedule, source.check_length)

    def run(self) -> UploadResult:
        up = self.upload
        up.refuse_existing()
        upload_id = up.initiate()
        up.progress.start()
        try:
            self._send(upload_id)
            receipts = [self.done[number] for number in sorted(self.done)]
            session = self.cutter.session(up.client, up.key, upload_id, len(receipts), up.config)
            up.progress.finish(session.plan.size, len(receipts))
            completion = complete(
                up.client, session, receipts, forbid_overwrite=up.config.forbid_overwrite, sse_c=up.config.sse_c
            )
        except BaseException as error:
            if not decide.object_completed(error):
                try:
                    abort_quietly(up.client, up.key, upload_id)
                except (CosError, OSError) as abort_error:
                    decide.abort_failed(upload_id, abort_error)
            exists = decide.exists_error(error, up.client.bucket, up.key, decide.client_dialect(up.client).name)
            if exists is not None:
                raise exists from error
            gone = decide.stream_gone_error(error, up.client.bucket, up.key, upload_id, client_dialect(up.client).name)
            if gone is not None:
                raise gone from error
            raise
        up.request_ids.append(completion.result.request_id)
        up.progress.flush()
        return up.result(upload_id, completion.result.etag, completion.parts, completion.crc64,
                         version_id=completion.result.version_id)  # fmt: skip

    def _parts(self) -> Iterator[Tuple[int, StreamPart]]:
        """``(number, part)`` read from the stream, each at the schedule's size; stops at the end."""
        md5 = self.upload.config.check_md5
        part = self.first
        self.first = None
        while part is not None:
            number = self.cutter.take(len(part.data))  # checks the length before the last part goes out
            if number is None:
                return
            yield number, part
            size = self.cutter.next_read()
            part = None if size is None else self.source.read_part(size, md5=md5)

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
