"""The asyncio driver: one upload from source to verified result, with tasks instead of threads.

It runs the same session core as the threaded driver and decides nothing on its own: the path, the session,
stale or lost resumes, forbid-overwrite, keep-or-abort and stream cutting come from
:mod:`cos_multipart._decisions`; each part's attempt-and-verify rules from
:class:`~cos_multipart.parts.PartVerifier`; Complete's checks from
:class:`~cos_multipart.parts.PendingCompletion`; resume from :mod:`cos_multipart._resume` (its re-reading
of reused parts in a thread); checkpoints, locks and progress from the same classes, in the same format.

What is its own: at most ``concurrency`` part tasks (:func:`run_bounded`, the async twin of
:class:`~cos_multipart._scheduler.BoundedRunner`), every blocking call (file reads and hashes, checkpoint
writes, the lock) in the upload's own thread pool (:class:`~cos_multipart.aio._bodies.Threads`), and
cancellation: cancelling the awaiting task cancels the part tasks (their connections close), keeps the
checkpoint (or aborts with ``abort_on_failure``), waits for the threads, and re-raises ``CancelledError``
carrying the :class:`~cos_multipart.errors.KeptUpload`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple, TypeVar, Union

from .. import _decisions as decide
from .. import _resume
from .._config import UploadConfig, UploadResult
from .._lock import CheckpointLock
from .._partreader import BufferPartReader, StreamPart
from .._sources import AnySource, BodyOptions, FileSource, PartBody, StreamSource
from ..checkpoint import CheckpointRecorder, CheckpointStore
from ..errors import CosError, CosServiceError, UploadGoneError
from ..limits import MAX_PART_NUMBER
from ..models import CompleteResult, ObjectResult, PartInfo, PartResult
from ..parts import NO_SUCH_UPLOAD, Answer, Completion, PartVerifier, PendingCompletion, completed_by_earlier_attempt
from ..planner import StreamPlan, stream_plan
from ..session import PartReceipt, UploadSession
from ._bodies import AsyncPart, Callbacks, IterStream, SyncStream, Threads, tracker
from ._client import AsyncCosClient

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
Outcome = Tuple[PartReceipt, Answer, List[str]]
AsyncStream = Union[SyncStream, IterStream]


async def run_bounded(
    concurrency: int,
    items: AsyncIterator[T],
    work: Callable[[T], Awaitable[R]],
    accept: Callable[[R], Awaitable[None]],
) -> None:
    """Run ``work(item)`` for every item with at most ``concurrency`` tasks; ``accept`` each result.

    The next item is only taken when a slot is free (a stream holds at most ``concurrency`` parts plus the one
    being read). The first failure, or the cancellation of the caller, cancels the other tasks and waits for
    them; results of tasks that still finished are accepted (a resume will not send them again); then the
    failure is raised, failures before cancellations and in the order the items came.
    """
    running: Dict["asyncio.Task[R]", int] = {}
    taken = 0
    exhausted = False
    try:
        while True:
            while not exhausted and len(running) < concurrency:
                try:
                    item = await items.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                running[asyncio.ensure_future(work(item))] = taken
                taken += 1
            if not running:
                return
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(finished, key=lambda t: (t.cancelled() or t.exception() is None, running[t])):
                running.pop(task)
                await accept(task.result())
    except BaseException:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        for task in sorted(running, key=running.__getitem__):
            if not task.cancelled() and task.exception() is None:
                try:
                    await accept(task.result())
                except Exception as error:  # the first failure is what is raised
                    logger.debug("result dropped while stopping: %s", error)
        raise


async def abort_quietly(client: AsyncCosClient, key: str, upload_id: str) -> bool:
    """Abort an upload; ``False`` when COS does not know it (already finished or aborted)."""
    try:
        await client.abort_multipart_upload(key, upload_id)
        return True
    except CosServiceError as error:
        if error.code == NO_SUCH_UPLOAD:
            return False
        raise


def pool_workers(concurrency: int) -> int:
    """Threads for reads and hashes: enough to keep the cores busy, not one per part in flight."""
    return max(2, min(concurrency, 2 * (os.cpu_count() or 1)))


class AsyncUpload(decide.UploadBase[AsyncCosClient]):
    """One upload: picks the path (single PUT, multipart, stream) and runs it on the loop."""

    def __init__(
        self,
        client: AsyncCosClient,
        config: UploadConfig,
        store: CheckpointStore,
        source: AnySource,
        stream: Optional[AsyncStream],
        key: str,
        threads: Threads,
        callbacks: Optional[Callbacks],
        *,
        resume_only: bool,
    ) -> None:
        super().__init__(client, config, store, source, key, resume_only=resume_only)
        self.stream = stream
        self.threads = threads
        self.callbacks = callbacks
        #: Set when the upload stops: work still running in a thread (a resume's re-reading) gives up.
        self.stop = threading.Event()
        self.progress = tracker(source.size, None, callbacks)

    async def run(self) -> UploadResult:
        source = self.source
        way = decide.path_without_checkpoint(source, self.config, self.key, resume_only=self.resume_only)
        decide.check_plan(self.client, self.config, source, self.key)  # before the lock and any request
        if self.stream is not None:
            return await self._stream(self.stream)
        if isinstance(source, StreamSource):  # a stream is always given as self.stream (see AsyncUploader)
            raise TypeError("a stream source needs its async reader")
        if way == decide.SINGLE_PUT:
            return await self._single_put(await self.threads.run(source.read_all, BodyOptions(md5=True)))
        if source.path is None:
            return await MultipartTasks(self, source, None).run()
        target = self.store.path_for(decide.endpoint_url(self.client), self.client.bucket, self.key, source.path)
        lock = await self.threads.run(self._lock, target)
        try:
            stored = await self.threads.run(
                self.store.load, decide.endpoint_url(self.client), self.client.bucket, self.key, source.path
            )
            if decide.path_with_checkpoint(source, self.config, stored, resume_only=self.resume_only) == decide.SINGLE_PUT:
                return await self._single_put(await self.threads.run(source.read_all, BodyOptions(md5=True)))
            return await MultipartTasks(self, source, stored).run()
        finally:
            if lock is not None:
                await self.threads.run(lock.release)

    def _lock(self, target: Path) -> Optional[CheckpointLock]:
        if not self.config.resume:  # nothing is recorded: a full or read-only checkpoint disk must not matter
            return CheckpointLock.acquire_if_writable(target)
        self.store.check_usable(target)  # before any request: a store that fails later would orphan an upload
        return CheckpointLock.acquire(target)

    async def settle(self) -> None:
        """Await the progress callbacks' awaitables."""
        if self.callbacks is not None:
            await self.callbacks.settle()

    def part(self, make_reader: Callable[[], PartBody], length: int, number: int) -> AsyncPart:
        """A part body reporting to this upload's progress and paced by its bandwidth cap."""
        return AsyncPart(make_reader, length, number, self.threads, self.progress, self.callbacks, self.limiter)

    async def send_verified(
        self, number: int, make_body: Callable[[], AsyncPart], send: Callable[[AsyncPart], Awaitable[Answer]], *, check_md5: bool
    ) -> Outcome:
        """Send a body until COS's checksums equal the local ones (the rules are the verifier's)."""
        verifier = PartVerifier(number, check_md5=check_md5, attempts=self.config.part_attempts, on_retry=self.progress.rewind)
        for _ in verifier:
            body = make_body()
            answer = await send(body)
            receipt = verifier.judge(await body.digest(), answer)
            if receipt is not None:
                return verifier.outcome(receipt)
        raise AssertionError("unreachable: the verifier raises after its last attempt")  # pragma: no cover

    # -- single PUT --

    async def _single_put(self, part: StreamPart) -> UploadResult:
        """One PUT with Content-MD5: COS refuses a body damaged in transit before it replaces anything."""
        size = len(part.data)
        self.progress = tracker(size, 1, self.callbacks)
        self.progress.start()
        await self.settle()

        async def send(body: AsyncPart) -> Answer:
            result = await self.client.put_object(
                self.key, body, content_md5=decide.content_md5(part.digest), traffic_limit=self.config.traffic_limit,
                forbid_overwrite=self.config.forbid_overwrite, options=self.config.object_options(self.key),
            )  # fmt: skip
            return _answer(result)

        with decide.refusing_existing(self.client.bucket, self.key, decide.client_dialect(self.client).name):
            receipt, answer, ids = await self.send_verified(
                1, lambda: self.part(lambda: BufferPartReader(part.data, part.digest, 1), size, 1), send,
                check_md5=self.config.check_md5,
            )  # fmt: skip
        result = self.single_put_result(receipt, answer.version_id, ids)
        await self.settle()
        return result

    # -- streams --

    async def _stream(self, stream: AsyncStream) -> UploadResult:
        schedule = stream_plan(
            self.config.part_size, expected_size=self.config.expected_size, min_part_size=decide.client_dialect(self.client).min_part_size
        )
        first_size = schedule.part_size_of(1)
        first = await stream.read_part(first_size, md5=True)  # Content-MD5 if it turns out to be small
        if decide.stream_is_small(first.data, first_size, self.config):
            stream.check_length(len(first.data))
            return await self._single_put(first)
        return await StreamTasks(self, stream, schedule, first).run()

    # -- shared --

    async def initiate(self) -> str:
        """Initiate Multipart Upload with the object's options; returns the upload id (extra uploads made by a
        retried Initiate whose answers were lost are aborted, as with the threaded driver)."""
        started = time.time() + self.client.transport.clock_offset
        result = await self.client.initiate_multipart_upload(self.key, options=self.config.object_options(self.key))
        self.request_ids.append(result.request_id)
        logger.debug("initiated upload %s for %s", result.upload_id, self.key)
        if result.response.attempts > 1:
            uploads = [upload async for upload in self.client.list_multipart_uploads(prefix=self.key)]
            for extra in decide.extra_initiated(uploads, self.key, result.upload_id, started):
                logger.warning("aborting upload %s of %s: made by a retried Initiate whose answer was lost", extra, self.key)
                await abort_quietly(self.client, self.key, extra)
        return result.upload_id

    async def refuse_existing(self) -> None:
        """With ``forbid_overwrite``: fail before anything is uploaded when the key already exists."""
        if not self.config.forbid_overwrite:
            return
        head_error: Optional[CosServiceError] = None
        try:
            await self.client.head_object(self.key, sse_c=self.config.sse_c)
        except CosServiceError as error:
            head_error = error
        refusal = decide.overwrite_refusal(head_error, self.client.bucket, self.key, decide.client_dialect(self.client).name)
        if refusal is not None:
            raise refusal

    async def complete(self, session: UploadSession, receipts: List[PartReceipt]) -> Completion:
        """Complete with Complete's checks (:class:`PendingCompletion`); a 409 is :class:`ObjectExistsError`."""
        # Combining the CRC-64s builds a GF(2) operator per new part length: milliseconds of pure Python.
        pending = await self.threads.run(PendingCompletion.of, session, receipts)
        with decide.refusing_existing(self.client.bucket, self.key, decide.client_dialect(self.client).name):
            result = await self._completed(session, pending)
        if pending.wrong(result):  # not left behind as the current version (parts.complete does the same)
            failure: Optional[BaseException] = None
            try:
                await self.client.delete_object(self.key, version_id=result.version_id)
            except (CosError, OSError) as error:
                failure = error
            raise pending.mismatch(result, failure)
        completion = pending.accept(result)
        self.request_ids.append(completion.result.request_id)
        return completion

    async def _completed(self, session: UploadSession, pending: PendingCompletion) -> CompleteResult:
        parts = session.completed_parts(pending.parts)
        try:
            return await self.client.complete_multipart_upload(
                session.key, session.upload_id, parts, forbid_overwrite=self.config.forbid_overwrite
            )
        except CosServiceError as error:
            head = await self.head_if_matching(pending) if error.code == NO_SUCH_UPLOAD else None
            if head is None:
                raise
            logger.debug("Complete answered NoSuchUpload but %s matches: completed by an earlier attempt", session.key)
            return completed_by_earlier_attempt(session, head)

    async def head_if_matching(self, pending: PendingCompletion) -> Optional[ObjectResult]:
        """HEAD the key; the answer when the object is the one ``pending`` makes, else ``None``."""
        try:
            head = await self.client.head_object(self.key, sse_c=self.config.sse_c)
        except CosError:
            return None
        return head if pending.matches(head) else None

    async def abort(self, upload_id: str, error: BaseException) -> None:
        """Abort after ``error`` unless Complete had already made the object."""
        if decide.object_completed(error):
            return
        try:
            await abort_quietly(self.client, self.key, upload_id)
        except (CosError, OSError) as abort_error:
            decide.abort_failed(upload_id, abort_error)


def _answer(result: Union[PartResult, ObjectResult]) -> Answer:
    return Answer(result.etag, result.crc64, result.request_id, getattr(result, "version_id", None))


class MultipartTasks(decide.MultipartBase[AsyncUpload]):
    """A multipart upload of a file or a buffer: resume or initiate, part tasks, complete."""


    async def run(self) -> UploadResult:
        up = self.upload
        finished = await self._finished_earlier()
        if finished is not None:
            return finished
        session, reused = await self._session()
        up.progress = tracker(session.plan.size, session.plan.count, up.callbacks)
        reused_bytes = sum(p.size for p in session.parts)
        up.progress.reused(len(session.parts), reused_bytes)
        up.progress.start()
        self.done = {p.part_number: p for p in session.parts}
        try:
            await up.settle()
            await self._send(session)
            if isinstance(self.source, FileSource):
                await up.threads.run(self.source.check_unchanged)
            if self.recorder is not None:  # a kill from here on leaves an object the next run can recognise
                await up.threads.run(self.recorder.mark_completing)
            completion = await up.complete(session, self.receipts())
        except BaseException as error:
            gone = await self._fail(session, error)
            if gone is not None:
                raise gone from error
            raise
        if self.recorder is not None:
            await up.threads.run(up.store.delete, session)
        up.progress.flush()
        await up.settle()
        result = completion.result
        return up.result(
            session.upload_id, result.etag, completion.parts, completion.crc64,
            reused=reused, reverified=self.reverified, version_id=result.version_id, reused_bytes=reused_bytes,
        )  # fmt: skip

    async def _record(self, session: UploadSession) -> None:
        self.recorder = CheckpointRecorder(self.upload.store, session)
        await self.upload.threads.run(self.recorder.flush)

    async def _session(self) -> Tuple[UploadSession, int]:
        """The session to run and how many parts it reuses: resumed, or newly initiated."""
        up = self.upload
        resumed = await self._resume(self.stored) if self.stored is not None else None
        if resumed is None and up.resume_only:
            raise decide.nothing_to_resume(self.source, up.key)
        if resumed is not None:
            await up.refuse_existing()
            await self._record(resumed)
            return resumed, len(resumed.parts)
        planned = decide.planned_session(self.client, self.config, self.source, up.key)  # refused before Initiate
        await up.refuse_existing()
        session = decide.initiated(planned, await up.initiate())
        if decide.checkpoints(self.config, session):
            # Written before any part is sent, so that a crash never leaves an upload nobody knows about.
            await self._record(session)
        return session, 0

    async def _finished_earlier(self) -> Optional[UploadResult]:
        """The result when an earlier run's Complete made the object (see the threaded driver's twin)."""
        up = self.upload
        stored, source = self.stored, self.source
        if stored is None or not stored.completing or not isinstance(source, FileSource):
            return None
        pending = decide.earlier_completion(stored, decide.stale_reason(self.client, self.config, source, up.key, stored))
        head = await up.head_if_matching(pending) if pending is not None else None
        if pending is None or head is None:
            return None
        local = await up.threads.run(
            _resume.reuse, stored, decide.recorded_listing(stored), source, verify_reused=self.config.verify_reused,
            cancel=up.stop,
        )  # fmt: skip
        if local.rejected:
            return None
        completion = pending.accept(completed_by_earlier_attempt(stored, head))
        logger.info("upload %s of %s was completed by an earlier run: nothing sent again", stored.upload_id, up.key)
        await up.threads.run(up.store.delete, stored)
        return up.result(
            stored.upload_id, head.etag, completion.parts, completion.crc64, reused=len(completion.parts),
            reverified=local.reverified_bytes, version_id=head.version_id, reused_bytes=pending.size,
        )  # fmt: skip

    async def _resume(self, stored: UploadSession) -> Optional[UploadSession]:
        up = self.upload
        source = self.source
        if not isinstance(source, FileSource):
            return None  # only files have checkpoints
        reason = decide.stale_reason(self.client, self.config, source, up.key, stored)
        if reason is None:
            listed = await self._listed(stored)
            if listed is not None:
                try:
                    resumed = await up.threads.run(
                        _resume.reuse, stored, listed, source, verify_reused=self.config.verify_reused, cancel=up.stop
                    )
                except asyncio.CancelledError:
                    up.stop.set()  # the re-reading thread stops at the next part
                    raise
                self.reverified = resumed.reverified_bytes
                return resumed.session
            decide.refuse_lost(stored, source, up.key, resume_only=up.resume_only)
            # Still abort the recorded id before forgetting it: a false NoSuchUpload must not orphan the upload.
            decide.lost_but_aborted(stored, aborted=await abort_quietly(self.client, up.key, stored.upload_id))
        else:
            decide.refuse_stale(stored, source, up.key, reason, resume_only=up.resume_only)
            aborted = await abort_quietly(self.client, up.key, stored.upload_id)
            decide.stale_abandoned(stored, source, reason, aborted=aborted)
        await up.threads.run(up.store.delete, stored)
        return None

    async def _listed(self, stored: UploadSession) -> Optional[List[PartInfo]]:
        """List Parts of the stored upload (bounded), or ``None`` when COS no longer knows it."""
        listed: List[PartInfo] = []
        try:
            async for info in self.client.list_parts(stored.key, stored.upload_id):
                listed.append(info)
                if len(listed) > MAX_PART_NUMBER:
                    break  # bounded_parts raises: a server whose pages never end
        except CosServiceError as error:
            if error.code != NO_SUCH_UPLOAD:
                raise
            return None
        return _resume.bounded_parts(listed)

    async def _send(self, session: UploadSession) -> None:
        up = self.upload
        source = self.source
        check_md5 = self.config.verify_md5 and session.etag_is_md5
        options = BodyOptions(check_md5, None, None, up.stop)

        async def task(number: int) -> Outcome:
            offset, length = session.part_range(number)

            async def send(body: AsyncPart) -> Answer:
                return _answer(await self.client.upload_part(
                    session.key, session.upload_id, number, body, traffic_limit=self.config.traffic_limit,
                    sse_c=self.config.sse_c,
                ))  # fmt: skip

            def make_body() -> AsyncPart:
                return up.part(lambda: source.body(number, offset, length, options), length, number)

            return await up.send_verified(number, make_body, send, check_md5=check_md5)

        self.client.ensure_pool_size(self.config.concurrency)
        await run_bounded(self.config.concurrency, _aiter(session.pending()), task, self._accept)

    async def _accept(self, outcome: Outcome) -> None:
        receipt, _, request_ids = outcome
        self.done[receipt.part_number] = receipt
        self.upload.request_ids.extend(request_ids)
        if self.recorder is not None:
            await self.upload.threads.run(self.recorder.add, receipt)
        # Last: the user's callback may raise, and the part is verified and recorded whatever it does.
        self.upload.progress.part_done(receipt.part_number, receipt.size)
        await self.upload.settle()

    async def _fail(self, session: UploadSession, error: BaseException) -> Optional[UploadGoneError]:
        """Keep the upload for a resume (and say so on the error), or abort it so nothing is left behind;
        returns the :class:`UploadGoneError` to raise when the upload is gone from COS (checkpoint dropped)."""
        up = self.upload
        up.stop.set()
        gone = decide.gone_error(error, session)
        if self.recorder is not None and decide.keeps_upload(error, self.config, recorded=self.recorder.written):
            await up.threads.run(self.recorder.flush)
            decide.attach_kept(error, session, len(self.done), str(up.store.path_of(session)))
            return None
        await up.abort(session.upload_id, error)  # a gone upload too: a false NoSuchUpload must not orphan it
        if self.recorder is not None:
            await up.threads.run(up.store.delete, session)
        if gone is not None:
            decide.upload_gone(gone)
        return gone


async def _aiter(numbers: Tuple[int, ...]) -> AsyncIterator[int]:
    for number in numbers:
        yield number


class StreamTasks:
    """A multipart upload of a stream: parts read one by one (growing sizes), sent by tasks, completed."""

    def __init__(self, upload: AsyncUpload, stream: AsyncStream, schedule: StreamPlan, first: StreamPart) -> None:
        self.upload = upload
        self.stream = stream
        self.first: Optional[StreamPart] = first
        self.done: Dict[int, PartReceipt] = {}
        self.cutter = decide.StreamCutter(schedule, stream.check_length)

    async def run(self) -> UploadResult:
        up = self.upload
        await up.refuse_existing()
        upload_id = await up.initiate()
        up.progress.start()
        try:
            await up.settle()
            await self._send(upload_id)
            receipts = [self.done[number] for number in sorted(self.done)]
            session = self.cutter.session(up.client, up.key, upload_id, len(receipts), up.config)
            up.progress.finish(session.plan.size, len(receipts))
            await up.settle()
            completion = await up.complete(session, receipts)
        except BaseException as error:
            up.stop.set()
            await up.abort(upload_id, error)
            gone = decide.stream_gone_error(error, up.client.bucket, up.key, upload_id, decide.client_dialect(up.client).name)
            if gone is not None:
                raise gone from error
            raise
        up.progress.flush()
        await up.settle()
        return up.result(upload_id, completion.result.etag, completion.parts, completion.crc64,
                         version_id=completion.result.version_id)  # fmt: skip

    async def _parts(self) -> AsyncIterator[Tuple[int, StreamPart]]:
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
            part = None if size is None else await self.stream.read_part(size, md5=md5)

    async def _send(self, upload_id: str) -> None:
        up = self.upload
        config = up.config

        async def task(item: Tuple[int, StreamPart]) -> Outcome:
            number, part = item

            async def send(body: AsyncPart) -> Answer:
                return _answer(await up.client.upload_part(
                    up.key, upload_id, number, body, traffic_limit=config.traffic_limit, sse_c=config.sse_c,
                ))  # fmt: skip

            def make_body() -> AsyncPart:
                return up.part(lambda: BufferPartReader(part.data, part.digest, number), len(part.data), number)

            return await up.send_verified(number, make_body, send, check_md5=config.check_md5)

        async def accept(outcome: Outcome) -> None:
            receipt, _, request_ids = outcome
            self.done[receipt.part_number] = receipt
            up.request_ids.extend(request_ids)
            up.progress.part_done(receipt.part_number, receipt.size)
            await up.settle()

        up.client.ensure_pool_size(config.concurrency)
        await run_bounded(config.concurrency, self._parts(), task, accept)
