"""The upload machine's local actions (lock, checkpoint, source reads, progress), done the same way by every
executor on this machine: the threaded one calls :meth:`LocalSteps.perform` where it loops, the asyncio one
in its thread pool (progress on the loop). They hold no rule: what to do and when is the machine's.
"""

from __future__ import annotations

import threading
from typing import Callable, List, Optional, Union, get_args

from .._core._actions import (
    CheckpointWritten, CheckUnchanged, CombineCrc64, DigestParts, DropCheckpoint, FlushCheckpoint, LoadCheckpoint, Lock, MarkCompleting, PartDone,
    ProgressFinish, ProgressFlush, ProgressRewind, ProgressStart, ReadAll, ReadStreamPart, RecordPart,
    StartCheckpoint, Unlock,
)  # fmt: skip
from .._io._lock import CheckpointLock
from .._core._outcomes import SourceFacts, Target
from .._core._partvalues import PartDigest
from .._io._sources import AnySource, BodyOptions, FileSource, StreamSource
from .._io.checkpoint import CheckpointRecorder, CheckpointStore
from .._protocol.errors import CosCancelledError
from .._core.progress import ProgressTracker

__all__ = ["LOCAL_ACTIONS", "PROGRESS_ACTIONS", "LocalSteps", "apply_progress", "facts_of"]

ProgressAction = Union[ProgressStart, ProgressRewind, PartDone, ProgressFinish, ProgressFlush]
LocalAction = Union[
    Lock, Unlock, LoadCheckpoint, StartCheckpoint, RecordPart, MarkCompleting, FlushCheckpoint, DropCheckpoint,
    CheckpointWritten, ReadAll, ReadStreamPart, DigestParts, CombineCrc64, CheckUnchanged, ProgressAction,
]  # fmt: skip
#: The same unions as class tuples, for isinstance (one list each, not two to keep in step).
PROGRESS_ACTIONS = get_args(ProgressAction)
LOCAL_ACTIONS = get_args(LocalAction)


def apply_progress(
    tracker: Optional[ProgressTracker],
    action: ProgressAction,
    make_tracker: Callable[[Optional[int], Optional[int]], ProgressTracker],
) -> ProgressTracker:
    """Do the progress ``action`` on ``tracker``; the tracker that counts from now on (a new one at a start).

    Raises:
        RuntimeError: An action other than a start with no tracker yet (a defect of the sequence).
    """
    if isinstance(action, ProgressStart):
        tracker = make_tracker(action.size, action.count)
        if action.reused_parts:
            tracker.reused(action.reused_parts, action.reused_bytes)
        tracker.start()
        return tracker
    if tracker is None:
        raise RuntimeError(f"{type(action).__name__} before ProgressStart")
    if isinstance(action, ProgressRewind):
        tracker.rewind(action.number)
    elif isinstance(action, PartDone):
        tracker.part_done(action.number, action.size)
    elif isinstance(action, ProgressFinish):
        tracker.finish(action.size, action.count)
    else:
        tracker.flush()
    return tracker


def facts_of(source: AnySource) -> SourceFacts:
    """What the machine may know of ``source`` (no bytes, no file handle)."""
    if isinstance(source, StreamSource):
        return SourceFacts("stream", source.size, name="the stream", check_length=source.check_length)
    if isinstance(source, FileSource):
        return SourceFacts("file", source.size, source.path, source.identity, source.name)
    return SourceFacts("buffer", source.size, name="the buffer")


class LocalSteps:
    """The lock, checkpoint, source and progress of one upload.

    Args:
        store: Checkpoint storage.
        target: Where the upload goes (checkpoints are per endpoint, bucket and key).
        key: The object key.
        resume: Whether checkpoints are recorded (else a full or read-only checkpoint disk must not matter).
        source: The source (a stream only when this executor reads it synchronously).
        cancel: Set when the upload stops (a resume's re-reading gives up).
        make_tracker: A progress tracker of ``(size, parts)``.
    """

    def __init__(
        self,
        store: CheckpointStore,
        target: Target,
        key: str,
        *,
        resume: bool,
        source: AnySource,
        cancel: threading.Event,
        make_tracker: Callable[[Optional[int], Optional[int]], ProgressTracker],
    ) -> None:
        self.store = store
        self.target = target
        self.key = key
        self.resume = resume
        self.source = source
        self.cancel = cancel
        self.make_tracker = make_tracker
        self.progress = make_tracker(source.size, None)
        self._lock: Optional[CheckpointLock] = None
        self._recorder: Optional[CheckpointRecorder] = None

    def perform(self, action: LocalAction) -> object:
        """Do ``action``; its outcome."""
        if isinstance(action, PROGRESS_ACTIONS):
            self._progress(action)
            return None
        if isinstance(action, CombineCrc64):
            return action.scheme.combine_all(action.parts)
        if not isinstance(action, (ReadAll, ReadStreamPart, DigestParts, CheckUnchanged)):
            return self._checkpoint(action)
        return self._read(action)

    def _progress(self, action: ProgressAction) -> None:
        self.progress = apply_progress(self.progress, action, self.make_tracker)

    def _checkpoint(self, action: LocalAction) -> object:
        if isinstance(action, Lock):
            path = self.store.path_for(self.target.base_url, self.target.bucket, self.key, action.path)
            if not self.resume:
                self._lock = CheckpointLock.acquire_if_writable(path)
            else:
                self.store.check_usable(path)  # before any request: a store that fails later would orphan an upload
                self._lock = CheckpointLock.acquire(path)
        elif isinstance(action, Unlock):
            lock, self._lock = self._lock, None
            if lock is not None:
                lock.release()
        elif isinstance(action, LoadCheckpoint):
            return self.store.load(self.target.base_url, self.target.bucket, self.key, action.path)
        elif isinstance(action, StartCheckpoint):
            self._recorder = CheckpointRecorder(self.store, action.session)
            self._recorder.flush()
            return str(self.store.path_of(action.session))
        elif isinstance(action, DropCheckpoint):
            self.store.delete(action.session)
        else:
            recorder = self._recorder
            if recorder is None:
                raise RuntimeError(f"{type(action).__name__} before StartCheckpoint")
            if isinstance(action, CheckpointWritten):
                return recorder.written
            if isinstance(action, RecordPart):
                recorder.add(action.receipt)
            elif isinstance(action, MarkCompleting):
                recorder.mark_completing()
            else:
                recorder.flush()
        return None

    def _read(self, action: LocalAction) -> object:
        source = self.source
        if isinstance(action, ReadAll) and not isinstance(source, StreamSource):
            return source.read_all(BodyOptions(md5=True, integrity=self.target.dialect.integrity))
        if isinstance(action, ReadStreamPart) and isinstance(source, StreamSource):
            return source.read_part(action.size, md5=action.md5, integrity=self.target.dialect.integrity)
        if isinstance(action, DigestParts) and isinstance(source, FileSource):
            digests: List[PartDigest] = []
            for number, offset, length, md5 in action.parts:
                if self.cancel.is_set():
                    raise CosCancelledError("resume cancelled")
                digests.append(source.digest(number, offset, length, md5=md5, integrity=self.target.dialect.integrity))
            return tuple(digests)
        if isinstance(action, CheckUnchanged) and isinstance(source, FileSource):
            source.check_unchanged()
            return None
        raise TypeError(f"{type(action).__name__} does not apply to a {type(source).__name__}")
