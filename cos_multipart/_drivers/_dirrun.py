"""The I/O of a directory upload or sync: walk, list, compare, upload in two lanes over shared slots, delete.

:class:`DirectoryRun` is the caller's side (walk, listing, sync inputs, deletions, report);
:class:`FileSender` decides and uploads files. A local run gives the sender every file; a cluster run
(:mod:`cos_multipart.cluster`) ships batches of :class:`FileTask` values to its workers, where each
process's sender does the same with the same code.

Small files (below the multipart threshold) run in a lane of ``concurrency`` workers, each a single PUT;
large files in a lane of :data:`LARGE_LANES` workers, each a multipart upload whose parts run on its own
scheduler. Both lanes send through one :class:`~cos_multipart._io._slots.RequestSlots` view of the client,
so at most ``concurrency`` requests are in flight whatever the mix; the lanes only bound threads and
memory (a small file is read into memory before its PUT: at most ``concurrency`` of them at once).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .._core import _dirplan
from .._io import _walk
from .._io._crccache import CrcCache
from .._core._decisions import client_dialect, overwrite_refusal
from .._core._dirplan import LocalFile, WalkOptions
from .._core._dirreport import (
    INTERRUPTED,
    DirectoryProgress,
    DirectoryReport,
    FailedFile,
    PlannedAction,
    ProgressFunction,
    SkippedFile,
    UploadedFile,
)
from .._io._slots import RequestSlots
from .._io._walk import walk
from .._io.checkpoint import CheckpointStore
from .._protocol.checksum import fd_crc64
from .._io.client import CosClient
from ._interrupts import Bell, deferring, raise_pending
from ._lanes import Lane
from ._smallput import SmallPuts
from .threads import Upload
from .._io import _sources
from .._io._sources import BodyOptions, FileSource
from .._protocol.errors import CosCancelledError, CosError, CosServiceError, CosValidationError, SourceChangedError, kept_upload_of
from .._core.progress import ProgressEvent
from .._io.ratelimit import TokenBucket
from .._core._config import UploadResult
from .uploader import UploadConfig, Uploader

logger = logging.getLogger(__name__)

#: Large files uploaded at once: two, so one file's Initiate/Complete overlaps the other's parts.
LARGE_LANES = 2
#: A small file of at most this many bytes reports no progress of its own, only its end (``finished``): it
#: leaves in one or two socket writes, so there is nothing in between to show, and a tracker per file cost
#: more than its request on a tree of small files.
_TOLD_FROM = 64 * 1024
#: How often the coordinator wakes while waiting (bounds the latency of Ctrl-C).
_POLL_SECONDS = 0.2
#: The attribute a KeyboardInterrupt carries the report so far in.
REPORT_ATTRIBUTE = "directory_report"

Outcome = Union[UploadedFile, SkippedFile, FailedFile, PlannedAction]
Remote = Mapping[str, Tuple[int, Optional[int]]]


@dataclass(frozen=True)
class RunSettings:
    """What a run does: which files, compare or not, delete or not, for real or not.

    Attributes:
        max_delete: With ``delete``: the most objects one run may delete (``None``: no limit); a plan that
            would delete more deletes nothing.
        delete_bucket_wide: With ``delete`` and an empty prefix: deleting anywhere in the bucket is meant.
    """

    walk: WalkOptions
    sync: bool
    delete: bool
    dry_run: bool
    max_delete: Optional[int] = None
    delete_bucket_wide: bool = False

    def __post_init__(self) -> None:
        _dirplan.check_max_delete(self.max_delete)
        if not isinstance(self.delete_bucket_wide, bool):
            raise CosValidationError("delete_bucket_wide", self.delete_bucket_wide, "True or False")


def _one_line(error: BaseException) -> str:
    return " ".join(line.strip() for line in (str(error).splitlines() or [type(error).__name__]))


class _Progress:
    """Files and bytes handled, reported to one callback, one call at a time."""

    def __init__(self, files: List[LocalFile], callback: Optional[ProgressFunction]) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._files_total = len(files)
        self._bytes_total = sum(item.size for item in files)
        self._files_done = self._failed = self._bytes_done = 0
        self._in_flight: Dict[str, Tuple[int, int]] = {}  # path: (bytes sent, bytes confirmed)
        self._new: Dict[str, int] = {}  # path: bytes this run sent and COS acknowledged (reused parts left out)
        self._new_unfinished = 0  # the same, of files that failed

    @property
    def listening(self) -> bool:
        """Whether a callback is told (else only the report's byte counts need the events)."""
        return self._callback is not None

    def sent(self, path: str, event: ProgressEvent) -> None:
        with self._lock:
            self._in_flight[path] = (event.bytes_done, event.bytes_confirmed)
            self._new[path] = max(0, event.bytes_confirmed - event.bytes_reused)
            self._report()

    def unfinished_sent(self) -> int:
        """Bytes this run sent (and COS acknowledged) of files that did not finish: failed, kept, stopped."""
        with self._lock:
            return self._new_unfinished + sum(self._new.values())

    def finished(self, item: LocalFile, *, failed: bool, interrupted: bool = False) -> None:
        with self._lock:
            if interrupted:
                return  # stopped, not done: the numbers stay where they were (a bar at 100 % would lie)
            self._in_flight.pop(item.path, None)
            new = self._new.pop(item.path, 0)
            self._new_unfinished += new if failed else 0
            self._files_done += 1
            self._failed += failed
            self._bytes_done += item.size
            self._report()

    def _report(self) -> None:
        if self._callback is not None:
            done = min(self._bytes_done + sum(sent for sent, _ in self._in_flight.values()), self._bytes_total)
            confirmed = min(self._bytes_done + sum(ok for _, ok in self._in_flight.values()), done)
            self._callback(
                DirectoryProgress(self._files_done, self._files_total, done, self._bytes_total, self._failed, confirmed)
            )


@dataclass(frozen=True)
class FileTask:
    """One file to handle: what the walk saw, its key, what the listing said of the key, the cached CRC-64.

    A plain value (it pickles, holds no secret): a cluster ships batches of them to its workers.

    Attributes:
        item: The file as the walk found it.
        key: Its object key.
        remote: ``(size, crc64 or None)`` of the object the listing showed at ``key``, or ``None`` (not
            listed, or no listing because this is no sync).
        cached_crc: The file's CRC-64 from the caller's cache when its identity is unchanged, else ``None``.
        root: The directory walked (the file is opened from it, one name at a time: :func:`open_in_tree`);
            ``""``: open ``item.path`` as it is.
        follow_symlinks: Whether the walk followed links (then so does opening the file).
    """

    item: LocalFile
    key: str
    remote: Optional[Tuple[int, Optional[int]]] = None
    cached_crc: Optional[int] = None
    root: str = ""
    follow_symlinks: bool = False


@dataclass(frozen=True)
class FileResult:
    """What handling one file gave: its outcome, and the file's CRC-64 when it was learned on the way.

    Attributes:
        outcome: Uploaded, skipped, failed or planned.
        crc64: The local file's CRC-64 computed for a sync decision or by the upload (for the caller's
            cache, which stores it only when the file's identity is still the walk's), else ``None``.
    """

    outcome: Outcome
    crc64: Optional[int] = None


#: Called once per file handled, from the thread that handled it; ``None`` when it raised unexpectedly.
Finished = Callable[[FileTask, Optional[FileResult]], None]
#: Called with a file's path and its upload's progress events.
Sent = Callable[[str, ProgressEvent], None]


class FileSender:
    """Decides and uploads files in two lanes over one pool of request slots.

    The piece a local directory run and a cluster worker share: the local run gives it every file of the
    tree, a worker the files of one task. Everything it sends goes through ``slots``, so at most
    ``slots.limit`` requests are in flight across all the files (and, on a worker, all the tasks) using it.

    Args:
        client: The client to send with (a slot-gated view of it is used).
        config: Upload settings of every file (``multipart_threshold`` splits the lanes).
        sync: Decide per file whether the object already holds it (:meth:`handle`).
        dry_run: Decide, but upload nothing (the outcome is a :class:`PlannedAction`).
        slots: The request slots (shared by every sender of a process on a worker).
        store: Checkpoint storage of the large files (default: ``config.checkpoint_dir``).
        owns_slots: Stop ``slots`` when a run is interrupted (a local run's own slots); a worker's slots
            serve its other tasks too and are never stopped.
    """

    def __init__(
        self,
        client: CosClient,
        config: UploadConfig,
        *,
        sync: bool,
        dry_run: bool,
        slots: RequestSlots,
        store: Optional[CheckpointStore] = None,
        owns_slots: bool = True,
    ) -> None:
        self.config = config
        self.owns_slots = owns_slots
        self.sync = sync
        self.dry_run = dry_run
        self.slots = slots
        client.ensure_pool_size(slots.limit)
        self.client = slots.client_view(client)
        self.uploader = Uploader(self.client, config, store=store)
        # One cap over every file of the run, as over the parts of one file: an upload made its own, so N
        # files in parallel went N times as fast as --bandwidth-limit said.
        self.limiter = TokenBucket(config.bandwidth_limit) if config.bandwidth_limit else None
        self.small = SmallPuts(self.client, config, self.limiter)
        #: Whether a small file's bytes are reported while they go (``sent``); off when nobody listens: a
        #: small file's progress is then its end, told by ``finished``.
        self.small_progress = True

    def run(
        self, tasks: Sequence[FileTask], finished: Finished, *, sent: Optional[Sent] = None, small_lanes: Optional[int] = None,
        small_progress: bool = True,
    ) -> None:  # fmt: skip
        """Handle every task, large files in :data:`LARGE_LANES` threads, small ones in ``small_lanes``.

        ``finished`` is called once per file; ``sent`` with the progress of large files, and of small ones
        too when ``small_progress``. An interruption (or an unexpected error) cancels the files not started
        and, when the sender owns its slots, stops them: requests not started are refused and the files in
        flight end as ``interrupted``.
        """
        self.small_progress = small_progress
        threshold = self.config.multipart_threshold
        bell = Bell()

        def work(task: FileTask) -> None:
            self._one(task, finished, sent)

        lanes: Tuple[Lane[FileTask], Lane[FileTask]] = (
            Lane(min(LARGE_LANES, self.config.concurrency), "cos-multipart-large", work, bell),
            Lane(small_lanes or self.config.concurrency, "cos-multipart-small", work, bell),
        )
        try:
            # Ctrl-C is taken at raise_pending below, never inside the locks starting the threads takes (a
            # KeyboardInterrupt there can leave one held for good); the handler that keeps it rings the bell
            # (_interrupts), as does a lane when its last file ends or one fails unexpectedly.
            with deferring(bell):
                try:
                    lanes[0].start([task for task in tasks if task.item.size >= threshold])
                    lanes[1].start([task for task in tasks if task.item.size < threshold])
                    while not (lanes[0].errors or lanes[1].errors or (lanes[0].finished and lanes[1].finished)):
                        bell.wait(_POLL_SECONDS)
                        raise_pending()
                    for lane in lanes:
                        if lane.errors:
                            raise lane.errors[0]  # a file's unexpected error (its own are FailedFile outcomes)
                except BaseException:
                    for lane in lanes:
                        lane.cancel()  # first: a thread freed by the stop below must not start another file
                    if self.owns_slots:
                        self.slots.stop()  # requests not started are refused, requests in flight are cancelled
                    raise
        finally:
            for lane in lanes:
                lane.join()

    def _one(self, task: FileTask, finished: Finished, sent: Optional[Sent]) -> None:
        result: Optional[FileResult] = None
        try:
            result = self.handle(task, sent)
        finally:
            finished(task, result)

    def handle(self, task: FileTask, sent: Optional[Sent] = None) -> FileResult:
        """Decide (sync) and upload one file; a COS or OS error is a :class:`FailedFile`, never raised.

        The file is opened as the walk found it (:func:`~cos_multipart._io._walk.open_in_tree`: no link
        followed on the way unless the walk followed links) and must be the same file (device and inode)
        the walk saw; a swapped one is refused. Its bytes are read between two checks of its identity
        (size, mtime, ctime, inode): a file that changed since the walk, or a small file that changed while
        it was read, is read again once, and fails as "changed while being read" the second time, never
        reported as uploaded. A large file that changes during its upload fails (SourceChangedError, from
        the check before Complete) without a second upload.
        """
        item, key = task.item, task.key
        learned: Optional[int] = None
        try:
            for attempt in range(2):
                try:
                    fd = self._open(task)
                except OSError as error:
                    if error.errno in _walk.SWAPPED:
                        return FileResult(FailedFile(item.path, key, _REPLACED_BY_LINK, "OSError"))
                    raise
                try:
                    info = os.fstat(fd)
                    if not stat.S_ISREG(info.st_mode) or not self._same_file(item, info):
                        return FileResult(FailedFile(item.path, key, _REPLACED, "SourceChangedError"))
                    current = _with_identity(item, info)
                    if attempt == 0 and _state(info) != _item_state(item):
                        continue  # written since the walk: read it afresh, once
                    result, learned = self._handle_open(task, current, fd, sent)
                    if result is not None:
                        return FileResult(result, learned)
                finally:
                    os.close(fd)
            return FileResult(FailedFile(item.path, key, _CHANGED, "SourceChangedError"))
        except (CosError, OSError) as error:
            kept = kept_upload_of(error)
            if self.slots.stopped.is_set():
                return FileResult(FailedFile(item.path, key, "interrupted", INTERRUPTED, kept), learned)
            return FileResult(FailedFile(item.path, key, _one_line(error), type(error).__name__, kept), learned)

    def _open(self, task: FileTask) -> int:
        if task.root:
            return _walk.open_in_tree(task.root, task.item.relative, follow_symlinks=task.follow_symlinks)
        return _walk.open_in_tree(os.path.dirname(task.item.path) or ".", os.path.basename(task.item.path), follow_symlinks=True)

    def _overwrite_refusal(self, key: str) -> Optional[BaseException]:
        """With ``forbid_overwrite``, in a dry run: what the real run's HEAD of ``key`` would refuse with (a
        reading request), or ``None``."""
        if not self.config.forbid_overwrite:
            return None
        head_error: Optional[CosServiceError] = None
        try:
            self.client.head_object(key, sse_c=self.config.sse_c)
        except CosServiceError as error:
            head_error = error
        return overwrite_refusal(head_error, self.client.bucket, key, client_dialect(self.client).name)

    def _same_file(self, item: LocalFile, info: os.stat_result) -> bool:
        """Whether ``info`` is of the file the walk saw (the device only on the walk's machine: a share
        mounted on a worker has other device numbers)."""
        return info.st_ino == item.inode and (not self.owns_slots or info.st_dev == item.device)

    def _handle_open(
        self, task: FileTask, current: LocalFile, fd: int, sent: Optional[Sent]
    ) -> Tuple[Optional[Outcome], Optional[int]]:
        """One attempt on the open file ``fd`` whose identity is ``current``: the outcome, or ``None`` when
        the file changed while it was read; and the CRC-64 learned."""
        key = task.key
        reason, learned = "upload", None
        if self.sync:
            found, learned = self._reason(task, current, fd)
            if _changed(fd, current):
                return None, None
            if found is None:
                return SkippedFile(current.path, key, _dirplan.SAME), learned
            reason = found
        if self.dry_run:
            refusal = self._overwrite_refusal(key)
            if refusal is not None:  # the real run would fail this file: the plan says so, with its words
                return FailedFile(current.path, key, _one_line(refusal), type(refusal).__name__), learned
            return PlannedAction("upload", current.path, key, current.size, reason), learned
        result = self._upload(current, fd, key, sent)
        if result is None:
            return None, None
        return UploadedFile(current.path, key, result.size, result.crc64, result.bytes_reused), result.crc64

    def _upload(self, item: LocalFile, fd: int, key: str, sent: Optional[Sent]) -> Optional[UploadResult]:
        """Upload the open file; ``None`` when a small file changed while it was read (nothing sent)."""

        def report(event: ProgressEvent) -> None:
            if self.slots.stopped.is_set():
                raise CosCancelledError("interrupted")
            if sent is not None:
                sent(item.path, event)

        config = self.uploader.config
        if item.size < config.multipart_threshold:
            # One PUT: nothing to resume, so no checkpoint lock or lookup per file (given by path, a file is
            # locked and its checkpoint looked for, which costs more than the PUT of a 4 KiB file). The bytes
            # are read, then the file's identity is checked again before anything is sent.
            try:
                part = _sources.read_whole(fd, 0, item.size, "the file", BodyOptions(md5=True, integrity=self.small.integrity))
            except SourceChangedError:  # shorter than its size: being written
                return None
            if _changed(fd, item):
                return None
            told = sent is not None and self.small_progress and item.size > _TOLD_FROM
            return self.small.put(key, part, item.path, report if told else None)
        # A large file keeps its path for its checkpoint, but its bytes come from this descriptor; the
        # multipart run checks the file is unchanged before Complete (SourceChangedError otherwise, and the
        # file fails: it is not sent a second time in this run).
        source = FileSource(fd, 0, item.size, path=os.path.abspath(item.path))
        return self._upload_of(source, key, report).run()

    def _upload_of(self, source: FileSource, key: str, report: Callable[[ProgressEvent], None]) -> Upload:
        return Upload(
            self.client, self.uploader.config, self.uploader.store, source, key, report, resume_only=False, limiter=self.limiter
        )

    def _reason(self, task: FileTask, item: LocalFile, fd: int) -> Tuple[Optional[str], Optional[int]]:
        """Why the file must be sent (``None``: the object holds it), and the CRC-64 computed to decide."""
        size, remote_crc = task.remote if task.remote is not None else (None, None)
        if size is None or size != item.size:
            return _dirplan.sync_decision(item.size, None, size, None), None
        if remote_crc is None:
            found = self.client.find_object(task.key, sse_c=self.config.sse_c)
            if found is None:
                return "new", None
            remote_crc = found.crc64
        local_crc, learned = (task.cached_crc if _item_state(item) == _item_state(task.item) else None), None
        if local_crc is None and remote_crc is not None:
            local_crc = learned = fd_crc64(fd)
        return _dirplan.sync_decision(item.size, local_crc, size, remote_crc), learned


#: Why a file that changed on both reads was not uploaded.
_CHANGED = "changed while being read (twice); not uploaded: run again once it is written"
#: Why a file whose path now holds another file was not uploaded.
_REPLACED = "replaced by another file since the walk; not uploaded (run again to upload the new one)"
#: Why a file whose path now leads through a symbolic link was not uploaded.
_REPLACED_BY_LINK = "replaced by a symbolic link (or a directory above it was) since the walk; not followed"


def _with_identity(item: LocalFile, info: os.stat_result) -> LocalFile:
    # Built directly: dataclasses.replace looks up the class's fields on every call, once per file of a tree.
    return LocalFile(
        path=item.path, relative=item.relative, size=info.st_size, mtime_ns=info.st_mtime_ns, ctime_ns=info.st_ctime_ns,
        inode=info.st_ino, device=info.st_dev,
    )  # fmt: skip


def _state(info: os.stat_result) -> Tuple[int, int, int, int]:
    """Size, mtime, ctime and inode: what changes when a file is written or replaced (the device is left
    out: it differs between machines mounting one share)."""
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _item_state(item: LocalFile) -> Tuple[int, int, int, int]:
    return (item.size, item.mtime_ns, item.ctime_ns, item.inode)


def _changed(fd: int, item: LocalFile) -> bool:
    """Whether the open file no longer has ``item``'s size, mtime, ctime and inode."""
    return _state(os.fstat(fd)) != _item_state(item)


class DirectoryRun:
    """One call of :func:`~cos_multipart._drivers.directory.upload_directory` or ``sync_directory``.

    The walk, the listing, the sync inputs, the deletions and the report happen here, on the caller;
    :meth:`_dispatch` handles the files (in local threads here; a cluster run sends them to its workers).
    """

    def __init__(
        self,
        client: CosClient,
        local_dir: "Union[str, os.PathLike[str]]",
        prefix: str,
        config: UploadConfig,
        settings: RunSettings,
        cache: CrcCache,
        store: Optional[CheckpointStore],
    ) -> None:
        self.root = os.fspath(local_dir)
        if not os.path.isdir(self.root):
            raise CosValidationError("local_dir", self.root, "an existing directory")
        self.prefix = _dirplan.normalise_prefix(prefix)
        if settings.delete and not self.prefix and not settings.delete_bucket_wide:
            raise CosValidationError(
                "delete_bucket_wide", False,
                "True to let delete remove any object of the bucket that has no local file (the prefix is "
                "empty: the whole bucket); or give a prefix",
            )  # fmt: skip
        self.config = config
        self.settings = settings
        self.cache = cache
        self.slots = RequestSlots(config.concurrency)
        self.sender = FileSender(client, config, sync=settings.sync, dry_run=settings.dry_run, slots=self.slots, store=store)
        self.client = self.sender.client
        self.started = time.monotonic()
        self.outcomes: List[Outcome] = []
        self.delete_skipped = ""
        self.over_limit = 0

    def run(self, callback: Optional[ProgressFunction]) -> DirectoryReport:
        files, issues = walk(self.root, self.settings.walk)
        keyed: List[Tuple[LocalFile, str]] = []
        for issue in issues:
            key = self.prefix + issue.relative
            self.outcomes.append(
                FailedFile(issue.path, key, issue.reason, "OSError") if issue.failed else SkippedFile(issue.path, key, issue.reason)
            )
        for item in files:
            try:
                keyed.append((item, _dirplan.object_key(self.prefix, item.relative, max_bytes=client_dialect(self.client).max_key_bytes)))
            except CosValidationError as error:
                self.outcomes.append(FailedFile(item.path, self.prefix + item.relative, _one_line(error), type(error).__name__))
        remote: Remote = self._listing() if self.settings.sync or self.settings.delete else {}
        progress = _Progress([item for item, _ in keyed], callback)
        tasks = [
            FileTask(item, key, remote.get(key), self.cache.get(item) if self.settings.sync else None, self.root,
                     self.settings.walk.follow_symlinks)
            for item, key in keyed
        ]  # fmt: skip
        try:
            self._dispatch(tasks, progress)
        except KeyboardInterrupt as interrupt:
            handled = {outcome.path for outcome in list(self.outcomes)}
            not_started = tuple(task.item.path for task in tasks if task.item.path not in handled)
            report = dataclasses.replace(self._report((), progress.unfinished_sent()), interrupted=True, not_started=not_started)
            setattr(interrupt, REPORT_ATTRIBUTE, report)
            raise
        finally:
            if not self.settings.dry_run:  # a dry run writes nothing, the local CRC-64 cache included
                self.cache.save()
        deleted: Tuple[str, ...] = ()
        if self.settings.delete:
            kept = [issue.relative for issue in issues]  # entries that exist (or did) but were skipped
            deleted = self._delete(remote, [key for _, key in keyed], kept, any(issue.failed for issue in issues))
        return self._report(deleted, progress.unfinished_sent())

    def _listing(self) -> Remote:
        return _dirplan.remote_index((o.key, o.size, o.crc64) for o in self.client.list_objects(self.prefix or None))

    def _dispatch(self, tasks: List[FileTask], progress: _Progress) -> None:
        """Handle every file; each ends in :meth:`_finished`."""
        self.sender.run(
            tasks, lambda task, result: self._finished(task, result, progress), sent=progress.sent, small_progress=progress.listening
        )

    def _finished(self, task: FileTask, result: Optional[FileResult], progress: _Progress) -> None:
        """Record one file's outcome (from any thread), cache its CRC-64 if still valid, report progress."""
        if result is not None:
            self.outcomes.append(result.outcome)  # list.append is atomic: lanes call this concurrently
            if self.settings.sync and result.crc64 is not None and _unchanged(task.item):
                self.cache.put(task.item, result.crc64)
        failed = result is None or isinstance(result.outcome, FailedFile)
        interrupted = result is not None and isinstance(result.outcome, FailedFile) and result.outcome.interrupted
        progress.finished(task.item, failed=failed, interrupted=interrupted)

    def _delete(self, remote: Remote, local_keys: List[str], kept: List[str], walk_failed: bool) -> Tuple[str, ...]:
        planned = _dirplan.deletions(sorted(remote), local_keys, self.prefix, self.settings.walk, kept)
        # The last word is the file system's: anything at the path now (created since the walk, a name
        # that differs only in case or Unicode form on a file system that folds them, a directory) keeps it.
        doomed = [key for key in planned if not _exists_under(self.root, key[len(self.prefix) :])]
        if walk_failed and doomed:
            self.delete_skipped = "part of the directory could not be read, so nothing was deleted"
            return ()
        limit = self.settings.max_delete
        if limit is not None and len(doomed) > limit:
            self.over_limit = len(doomed)
            self.delete_skipped = (
                f"{len(doomed)} objects would be deleted, more than max_delete={limit}, so nothing was deleted"
            )
        if self.settings.dry_run:
            self.outcomes.extend(PlannedAction("delete", "", key, remote[key][0], "no local file") for key in doomed)
            return ()
        if self.over_limit:
            return ()
        if not doomed:
            return ()
        result = self.client.delete_objects(doomed)
        self.outcomes.extend(FailedFile("", f.key, f"not deleted: {f.code} {f.message}".strip(), f.code) for f in result.failed)
        return result.deleted

    def _report(self, deleted: Tuple[str, ...], unfinished_sent: int = 0) -> DirectoryReport:
        uploaded = tuple(o for o in self.outcomes if isinstance(o, UploadedFile))
        return DirectoryReport(
            uploaded=tuple(sorted(uploaded, key=lambda o: o.key)),
            skipped=tuple(sorted((o for o in self.outcomes if isinstance(o, SkippedFile)), key=lambda o: o.key)),
            failed=tuple(sorted((o for o in self.outcomes if isinstance(o, FailedFile)), key=lambda o: o.key)),
            deleted=deleted,
            planned=tuple(sorted((o for o in self.outcomes if isinstance(o, PlannedAction)), key=lambda o: (o.action, o.key))),
            bytes_sent=sum(o.size - o.bytes_reused for o in uploaded) + unfinished_sent,
            bytes_reused=sum(o.bytes_reused for o in uploaded),
            elapsed=time.monotonic() - self.started,
            dry_run=self.settings.dry_run,
            delete_skipped=self.delete_skipped,
            deletions_over_limit=self.over_limit,
        )


def _exists_under(root: str, relative: str) -> bool:
    """Whether anything (a file, a directory, a link, even a dangling one) is at ``relative`` under ``root``."""
    return os.path.lexists(os.path.join(root, *relative.split("/")))


def _unchanged(item: LocalFile) -> bool:
    """Whether the file still has the identity the walk saw (then a CRC-64 computed from it may be cached)."""
    try:
        info = os.stat(item.path)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev) == (
        item.size, item.mtime_ns, item.ctime_ns, item.inode, item.device,
    )  # fmt: skip
