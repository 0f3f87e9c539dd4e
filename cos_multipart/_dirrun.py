"""The I/O of a directory upload or sync: walk, list, compare, upload in two lanes over shared slots, delete.

Small files (below the multipart threshold) run in a lane of ``concurrency`` workers, each a single PUT;
large files in a lane of :data:`LARGE_LANES` workers, each a multipart upload whose parts run on its own
scheduler. Both lanes send through one :class:`~cos_multipart._slots.RequestSlots` view of the client,
so at most ``concurrency`` requests are in flight whatever the mix; the lanes only bound threads and
memory (a small file is read into memory before its PUT: at most ``concurrency`` of them at once).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple, Union

from . import _dirplan
from ._crccache import CrcCache
from ._dirplan import LocalFile, WalkOptions
from ._dirreport import (
    DirectoryProgress,
    DirectoryReport,
    FailedFile,
    PlannedAction,
    ProgressFunction,
    SkippedFile,
    UploadedFile,
)
from ._slots import RequestSlots
from ._walk import walk
from .checkpoint import CheckpointStore
from .checksum import crc64
from .client import CosClient
from .errors import CosCancelledError, CosError, CosValidationError
from .progress import ProgressEvent
from .uploader import UploadConfig, Uploader

logger = logging.getLogger(__name__)

#: Large files uploaded at once: two, so one file's Initiate/Complete overlaps the other's parts.
LARGE_LANES = 2
#: Bytes read at a time when computing a local CRC-64.
_READ_SIZE = 1024 * 1024
#: How often the coordinator wakes while waiting (bounds the latency of Ctrl-C).
_POLL_SECONDS = 0.2
#: The attribute a KeyboardInterrupt carries the report so far in.
REPORT_ATTRIBUTE = "directory_report"

Outcome = Union[UploadedFile, SkippedFile, FailedFile, PlannedAction]
Remote = Mapping[str, Tuple[int, Optional[int]]]


@dataclass(frozen=True)
class RunSettings:
    """What a run does: which files, compare or not, delete or not, for real or not."""

    walk: WalkOptions
    sync: bool
    delete: bool
    dry_run: bool


def file_crc64(path: str) -> int:
    """The CRC-64 of the file at ``path``, read in 1 MiB chunks."""
    crc = 0
    buffer = bytearray(_READ_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                return crc
            crc = crc64(view[:count], crc)


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
        self._in_flight: Dict[str, int] = {}

    def sent(self, path: str, event: ProgressEvent) -> None:
        with self._lock:
            self._in_flight[path] = event.bytes_done
            self._report()

    def finished(self, item: LocalFile, *, failed: bool) -> None:
        with self._lock:
            self._in_flight.pop(item.path, None)
            self._files_done += 1
            self._failed += failed
            self._bytes_done += item.size
            self._report()

    def _report(self) -> None:
        if self._callback is not None:
            done = min(self._bytes_done + sum(self._in_flight.values()), self._bytes_total)
            self._callback(DirectoryProgress(self._files_done, self._files_total, done, self._bytes_total, self._failed))


class DirectoryRun:
    """One call of :func:`~cos_multipart.directory.upload_directory` or ``sync_directory``."""

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
        self.config = config
        self.settings = settings
        self.cache = cache
        self.slots = RequestSlots(config.concurrency)
        self.client = self.slots.client_view(client)
        client.ensure_pool_size(config.concurrency)
        self.uploader = Uploader(self.client, config, store=store)
        self.started = time.monotonic()
        self.outcomes: List[Outcome] = []
        self.delete_skipped = ""

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
                keyed.append((item, _dirplan.object_key(self.prefix, item.relative)))
            except CosValidationError as error:
                self.outcomes.append(FailedFile(item.path, self.prefix + item.relative, _one_line(error), type(error).__name__))
        remote: Remote = self._listing() if self.settings.sync or self.settings.delete else {}
        progress = _Progress([item for item, _ in keyed], callback)
        try:
            self._execute(keyed, remote, progress)
        except KeyboardInterrupt as interrupt:
            setattr(interrupt, REPORT_ATTRIBUTE, self._report(()))
            raise
        finally:
            self.cache.save()
        deleted: Tuple[str, ...] = ()
        if self.settings.delete:
            deleted = self._delete(remote, [key for _, key in keyed], any(issue.failed for issue in issues))
        return self._report(deleted)

    def _listing(self) -> Remote:
        return _dirplan.remote_index((o.key, o.size, o.crc64) for o in self.client.list_objects(self.prefix or None))

    def _execute(self, keyed: List[Tuple[LocalFile, str]], remote: Remote, progress: _Progress) -> None:
        small, large = _dirplan.split_by_size([item for item, _ in keyed], self.config.multipart_threshold)
        keys = {item.path: key for item, key in keyed}
        lanes = (
            concurrent.futures.ThreadPoolExecutor(min(LARGE_LANES, self.config.concurrency), "cos-multipart-large"),
            concurrent.futures.ThreadPoolExecutor(self.config.concurrency, "cos-multipart-small"),
        )
        futures = [lanes[0].submit(self._one, item, keys[item.path], remote, progress) for item in large]
        futures += [lanes[1].submit(self._one, item, keys[item.path], remote, progress) for item in small]
        pending = set(futures)
        try:
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=_POLL_SECONDS)
                self.outcomes.extend(future.result() for future in done)
        except BaseException:
            self.slots.stop()  # requests not started are refused, uploads in flight stop at their next bytes
            for future in pending:
                future.cancel()
            raise
        finally:
            for lane in lanes:
                lane.shutdown(wait=True)
            if self.slots.stopped.is_set():  # what finished while stopping still counts
                self.outcomes.extend(f.result() for f in pending if f.done() and not f.cancelled())

    def _one(self, item: LocalFile, key: str, remote: Remote, progress: _Progress) -> Outcome:
        failed = True
        try:
            outcome = self._decide_and_upload(item, key, remote, progress)
            failed = isinstance(outcome, FailedFile)
            return outcome
        except (CosError, OSError) as error:
            if self.slots.stopped.is_set():
                return FailedFile(item.path, key, "interrupted", "KeyboardInterrupt")
            return FailedFile(item.path, key, _one_line(error), type(error).__name__)
        finally:
            progress.finished(item, failed=failed)

    def _decide_and_upload(self, item: LocalFile, key: str, remote: Remote, progress: _Progress) -> Outcome:
        reason = self._reason(item, key, remote) if self.settings.sync else "upload"
        if reason is None:
            return SkippedFile(item.path, key, _dirplan.SAME)
        if self.settings.dry_run:
            return PlannedAction("upload", item.path, key, item.size, reason)

        def report(event: ProgressEvent) -> None:
            if self.slots.stopped.is_set():
                raise CosCancelledError("interrupted")
            progress.sent(item.path, event)

        if item.size < self.config.multipart_threshold:
            # One PUT: nothing to resume, so no checkpoint lock or lookup per file (given by path, a file is
            # locked and its checkpoint looked for, which costs more than the PUT of a 4 KiB file).
            with open(item.path, "rb") as handle:
                result = self.uploader.upload(handle, key, progress=report)
        else:
            result = self.uploader.upload(item.path, key, progress=report)
        if self.settings.sync and _unchanged(item):
            self.cache.put(item, result.crc64)
        return UploadedFile(item.path, key, result.size, result.crc64, result.bytes_reused)

    def _reason(self, item: LocalFile, key: str, remote: Remote) -> Optional[str]:
        size, remote_crc = remote.get(key, (None, None))
        if size is None or size != item.size:
            return _dirplan.sync_decision(item.size, None, size, None)
        if remote_crc is None:
            found = self.client.find_object(key, sse_c=self.config.sse_c)
            if found is None:
                return "new"
            remote_crc = found.crc64
        local_crc = self.cache.get(item)
        if local_crc is None and remote_crc is not None:
            local_crc = file_crc64(item.path)
            if _unchanged(item):
                self.cache.put(item, local_crc)
        return _dirplan.sync_decision(item.size, local_crc, size, remote_crc)

    def _delete(self, remote: Remote, local_keys: List[str], walk_failed: bool) -> Tuple[str, ...]:
        doomed = _dirplan.deletions(sorted(remote), local_keys, self.prefix, self.settings.walk)
        if walk_failed and doomed:
            self.delete_skipped = "part of the directory could not be read, so nothing was deleted"
            return ()
        if self.settings.dry_run:
            self.outcomes.extend(PlannedAction("delete", "", key, remote[key][0], "no local file") for key in doomed)
            return ()
        if not doomed:
            return ()
        result = self.client.delete_objects(doomed)
        self.outcomes.extend(FailedFile("", f.key, f"not deleted: {f.code} {f.message}".strip(), f.code) for f in result.failed)
        return result.deleted

    def _report(self, deleted: Tuple[str, ...]) -> DirectoryReport:
        uploaded = tuple(o for o in self.outcomes if isinstance(o, UploadedFile))
        return DirectoryReport(
            uploaded=tuple(sorted(uploaded, key=lambda o: o.key)),
            skipped=tuple(sorted((o for o in self.outcomes if isinstance(o, SkippedFile)), key=lambda o: o.key)),
            failed=tuple(sorted((o for o in self.outcomes if isinstance(o, FailedFile)), key=lambda o: o.key)),
            deleted=deleted,
            planned=tuple(sorted((o for o in self.outcomes if isinstance(o, PlannedAction)), key=lambda o: (o.action, o.key))),
            bytes_sent=sum(o.size - o.bytes_reused for o in uploaded),
            bytes_reused=sum(o.bytes_reused for o in uploaded),
            elapsed=time.monotonic() - self.started,
            dry_run=self.settings.dry_run,
            delete_skipped=self.delete_skipped,
        )


def _unchanged(item: LocalFile) -> bool:
    """Whether the file still has the identity the walk saw (then a CRC-64 computed from it may be cached)."""
    try:
        info = os.stat(item.path)
    except OSError:
        return False
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev) == (
        item.size, item.mtime_ns, item.ctime_ns, item.inode, item.device,
    )  # fmt: skip
