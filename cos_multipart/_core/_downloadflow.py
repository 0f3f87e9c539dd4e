"""The download's sequence, written once as a generator run by :class:`~cos_multipart._core._machine.Machine`.

HEAD; the plan (one GET up to the threshold, else ranges of ``part_size``); a resume's checkpoint judged (the
same object: ETag, size, CRC-64 and version; the same plan) and its ranges re-read from the temporary file and
re-checked before they are trusted; the ranges phase (:class:`~cos_multipart._core._rangewindow.RangeWindow`);
then the object's check:

* with a CRC-64 (every object COS or OSS wrote lately): the ranges' CRC-64s are combined in order and compared
  with the object's. A range has no checksum of its own, so a mismatch cannot say which range is damaged: the
  next round fetches every range again (the file then holds the latest bytes of each), up to ``attempts`` rounds.
  A damaged download is never reported verified: the last round's mismatch is a
  :class:`~cos_multipart._protocol.errors.CosIntegrityError` and the target is untouched.
* without one, and an ETag that is the MD5 of the bytes (no multipart upload, no SSE-KMS or SSE-C): the
  temporary file's MD5, read back, compared with it (rounds as above);
* neither: the size alone, and the result says so (``check="size"``).

Then :class:`~cos_multipart._core._download.Commit` (fsync, atomic rename over the target). On any failure
:class:`~cos_multipart._core._download.Discard`: the temporary file and checkpoint are kept for a resume when
resume is on and the object may still be the same one, else removed; the target is never touched.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Dict, Generator, List, Optional, Tuple

from ._actions import CombineCrc64, Head, Lock, ProgressFlush, ProgressStart, Unlock
from ._download import (
    CHECK_CRC64, CHECK_MD5, CHECK_SIZE, CheckRanges, Commit, Discard, DownloadCheckpoint, DownloadResult,
    DownloadStart, HashTemp, LoadRanges, ObjectFacts, PrepareTemp, SaveRanges,
)  # fmt: skip
from ._machine import Machine
from ._rangewindow import OrderedRangeWindow, RangeWindow, Span
from .._protocol.errors import CosIntegrityError, ObjectChangedError

logger = logging.getLogger(__name__)

__all__ = ["CHECKPOINT_WRITES", "DownloadMachine", "download_flow", "plan_ranges", "save_interval", "stream_flow"]

Flow = Generator[Any, Any, DownloadResult]


def plan_ranges(size: int, start: DownloadStart) -> Tuple[bool, List[Span]]:
    """``(whole, spans)``: one GET without ``Range`` up to the threshold (a 0-byte object included), else
    consecutive ranges of ``part_size`` bytes (the last one shorter)."""
    if size <= start.single_limit:
        return True, [(0, 0, size)]
    step = start.part_size
    return False, [(index, offset, min(step, size - offset)) for index, offset in enumerate(range(0, size, step))]


#: A checkpoint is written at most this many times per round (each write holds every range recorded so far).
CHECKPOINT_WRITES = 500


def save_interval(ranges: int) -> int:
    """Ranges between two checkpoint writes: every range up to :data:`CHECKPOINT_WRITES` ranges, then fewer
    writes (10,000 ranges: every 20th), so the writes stay linear in the object's size."""
    return max(1, -(-ranges // CHECKPOINT_WRITES))


def download_flow(start: DownloadStart) -> Flow:
    """The whole download (see the module docstring), under the lock of its target (a second download to the
    same path at the same time fails at once: they would share the temporary file)."""
    yield Lock(start.path)
    try:
        result = yield from _download(start)
    except GeneratorExit:  # the machine was dropped unfinished: nothing more can be asked
        raise
    except BaseException:
        yield Unlock()
        raise
    yield Unlock()
    return result


def _download(start: DownloadStart) -> Flow:
    facts = ObjectFacts.of((yield Head()))
    whole, spans = plan_ranges(facts.size, start)
    record = start.resume and not whole
    reuse, restarted = yield from _resumable(start, facts, spans, record)
    checkpoint = DownloadCheckpoint(start.key, facts, start.part_size, reuse)
    try:
        if record:
            yield SaveRanges(checkpoint)
        result = yield from _rounds(start, facts, spans, whole, checkpoint, record)
        yield Commit()
    except BaseException as error:  # keep or remove the temporary file, then the error is the caller's
        if isinstance(error, GeneratorExit):  # the machine was dropped: nothing more may be asked
            raise
        keep = record and not isinstance(error, (ObjectChangedError, CosIntegrityError))
        try:
            yield Discard(keep)
        except Exception as cleanup:  # the download's own error is the one that matters
            logger.warning("the temporary file of %r was not cleaned up: %s", start.path, cleanup)
        raise
    yield ProgressFlush()
    reused = len(reuse)
    return DownloadResult(
        start.key, start.path, facts.size, facts.etag, facts.crc64, facts.version_id, result[0], len(spans),
        ranges_reused=reused, refetched=result[1], restarted=restarted,
    )  # fmt: skip


def _resumable(
    start: DownloadStart, facts: ObjectFacts, spans: List[Span], record: bool
) -> Generator[Any, Any, Tuple[Dict[int, int], str]]:
    """The ranges an earlier run left that can be reused (re-read and re-checked), and why none were, if so."""
    reuse: Dict[int, int] = {}
    restarted = ""
    if record:
        stored: Optional[DownloadCheckpoint] = yield LoadRanges()
        if stored is not None:
            restarted = _stale(stored, start, facts)
            if restarted:
                logger.info("download of %r starts again: %s", start.key, restarted)
            else:
                reuse = dict(stored.done)
    kept = yield PrepareTemp(facts.size, keep=bool(reuse))
    if reuse and not kept:
        restarted, reuse = "the temporary file of the earlier download is gone or has another size", {}
    if reuse:
        asked = tuple(span for span in spans if span[0] in reuse)
        crcs = yield CheckRanges(asked)
        checked = {span[0]: crc for span, crc in zip(asked, crcs) if reuse[span[0]] == crc}
        if len(checked) < len(reuse):
            logger.info("%d range(s) of the temporary file differ from the checkpoint: fetched again", len(reuse) - len(checked))
        reuse = checked
    return reuse, restarted


def _stale(stored: DownloadCheckpoint, start: DownloadStart, facts: ObjectFacts) -> str:
    """Why ``stored`` cannot be resumed, or ``""``."""
    if stored.key != start.key:
        return f"the checkpoint beside the target is of another key ({stored.key!r})"
    if not stored.facts.same_object(facts):
        return "the object changed since the interrupted download (its ETag, size, CRC-64 or version differ)"
    if stored.part_size != start.part_size:
        return f"the part size changed ({stored.part_size} -> {start.part_size})"
    return ""


def _rounds(
    start: DownloadStart, facts: ObjectFacts, spans: List[Span], whole: bool, checkpoint: DownloadCheckpoint, record: bool
) -> Generator[Any, Any, Tuple[str, int]]:
    """Fetch the missing ranges, check the object; on a mismatch fetch every range again (up to ``attempts``
    rounds). Returns ``(check, refetched)``."""
    done: Dict[int, int] = dict(checkpoint.done)
    pending = [span for span in spans if span[0] not in done]
    reused_bytes = sum(span[2] for span in spans if span[0] in done)
    yield ProgressStart(facts.size, len(spans), len(done), reused_bytes)
    refetched = 0
    for round_number in range(1, start.attempts + 1):
        window = RangeWindow(
            start.key, pending, checkpoint, whole=whole, limit=start.concurrency, attempts=start.attempts, record=record,
            save_every=save_interval(len(spans)),
        )  # fmt: skip
        try:
            yield window
        except BaseException as error:
            if record and window.unsaved and not isinstance(error, GeneratorExit):  # they count for a resume
                yield SaveRanges(window.checkpoint)
            raise
        done.update(window.done)
        checkpoint = window.checkpoint
        refetched += window.refetched
        check, local, remote = yield from _check(facts, spans, done)
        if local == remote:
            return check, refetched
        if round_number == start.attempts:
            raise CosIntegrityError(check, local, remote)
        logger.warning("%s of %r does not match (local %r, object %r): every range fetched again", check, start.key, local, remote)
        refetched += len(spans)
        pending = list(spans)
        checkpoint = DownloadCheckpoint(start.key, facts, start.part_size)
        if record:
            yield SaveRanges(checkpoint)  # the ranges recorded are not to be trusted by a resume any more
        yield ProgressStart(facts.size, len(spans))
    raise AssertionError("unreachable: attempts >= 1")  # pragma: no cover


def _check(facts: ObjectFacts, spans: List[Span], done: Dict[int, int]) -> Generator[Any, Any, Tuple[str, object, object]]:
    """``(check, local, remote)``: the object's check and the two values it compares."""
    if facts.crc64 is not None:
        combined = yield CombineCrc64(tuple((done[index], length) for index, _, length in spans))
        return CHECK_CRC64, combined, facts.crc64
    if facts.md5 is not None:
        md5 = yield HashTemp()
        return CHECK_MD5, md5, facts.md5
    return CHECK_SIZE, sum(length for _, _, length in spans), facts.size



def stream_flow(start: DownloadStart) -> Flow:
    """The object written to a stream in order (``start.path`` names the stream): ranges fetched in parallel
    into memory (at most ``concurrency`` in flight or held), each written once its turn comes, the object's
    CRC-64 (or MD5 ETag) checked at the end. A short or broken range is fetched again before it is written; a
    mismatch at the end cannot be undone (the bytes are out): it is raised, never reported verified."""
    facts = ObjectFacts.of((yield Head()))
    whole, spans = plan_ranges(facts.size, start)
    yield ProgressStart(facts.size, len(spans))
    window = OrderedRangeWindow(start.key, spans, DownloadCheckpoint(start.key, facts, start.part_size), whole=whole, limit=start.concurrency, attempts=start.attempts)
    yield window
    check, local, remote = yield from _check(facts, spans, window.done)
    if local != remote:
        raise CosIntegrityError(check, local, remote, outcome="the bytes written to the stream are not the object's")
    yield ProgressFlush()
    return DownloadResult(start.key, start.path, facts.size, facts.etag, facts.crc64, facts.version_id, check, len(spans), refetched=window.refetched)


class DownloadMachine(Machine):
    """One download as a state machine (:func:`download_flow`); the executors run it like an upload's."""

    @classmethod
    def download(cls, start: DownloadStart) -> "DownloadMachine":
        """A whole download: HEAD, resume or start, ranges, the object's check, commit (or keep/remove)."""
        return cls(download_flow(start))

    @classmethod
    def stream(cls, start: DownloadStart) -> "DownloadMachine":
        """The object written to a stream, in order (:func:`stream_flow`)."""
        return cls(stream_flow(start))

    def result(self, elapsed: float) -> DownloadResult:
        """The verified result, timed ``elapsed`` seconds by the executor; or the failure, raised."""
        result = self.value()
        if not isinstance(result, DownloadResult):
            raise TypeError(f"the download machine returned {type(result).__name__}")
        return dataclasses.replace(result, elapsed=elapsed)
