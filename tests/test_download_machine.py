"""The download machine driven with no I/O at all: a script of outcomes, checked action by action."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Dict, List, Optional, Set

import pytest

from cos_multipart._core._actions import CombineCrc64, Done, Failed, Head, PartDone, ProgressRewind, ProgressStart, StopParts
from cos_multipart._core._download import (
    CheckRanges, Discard, DownloadCheckpoint, DownloadResult, DownloadStart, FetchRange, Fetched, HashTemp,
    LoadRanges, ObjectFacts, PrepareTemp, SaveRanges, WriteOut,
)  # fmt: skip
from cos_multipart._core._downloadflow import DownloadMachine, plan_ranges, save_interval
from cos_multipart._protocol.checksum import crc64, crc64_combine_all
from cos_multipart._protocol.errors import CosCancelledError, CosIntegrityError, CosServiceError, CosTransportError, FailureKind, ObjectChangedError
from cos_multipart._protocol.models import ObjectResult, ResponseInfo

PART = 1000
DATA = bytes(range(256)) * 16  # 4096 bytes: ranges of 1000, 1000, 1000, 1000, 96
ETAG = '"etag-1"'


def head(data: bytes = DATA, *, crc: Optional[int] = -1, etag: str = ETAG, headers: Optional[Dict[str, str]] = None) -> ObjectResult:
    value = crc64(data) if crc == -1 else crc
    return ObjectResult("k", etag, value, len(data), None, ResponseInfo(200, "rh", headers or {}))


def start(**changes: Any) -> DownloadStart:
    settings: Dict[str, Any] = dict(key="k", path="/data/out", part_size=PART, concurrency=2, attempts=3, resume=True)
    settings.update(changes)
    return DownloadStart(**settings)


class Object:
    """The object a script serves: ranges fetched from ``data``, with damage on chosen fetches."""

    def __init__(self, data: bytes = DATA, *, answer_head: Optional[ObjectResult] = None) -> None:
        self.data = data
        self.head = answer_head or head(data)
        self.fetches: List[FetchRange] = []
        self.corrupt: Set[int] = set()  # fetch numbers (from 1) whose bytes are damaged
        self.short: Set[int] = set()
        self.broken: Set[int] = set()
        self.changed_from: Optional[int] = None  # fetches from this number on answer 412
        self.stored: Optional[DownloadCheckpoint] = None
        self.temp: Dict[int, int] = {}  # what CheckRanges reads back: index -> crc
        self.temp_kept = True

    def answer(self, action: Any) -> object:
        if isinstance(action, Head):
            return self.head
        if isinstance(action, FetchRange):
            return self.fetch(action)
        if isinstance(action, CombineCrc64):
            return crc64_combine_all(action.parts)
        if isinstance(action, LoadRanges):
            return self.stored
        if isinstance(action, PrepareTemp):
            return action.keep and self.temp_kept
        if isinstance(action, CheckRanges):
            return tuple(self.temp.get(index, 0) for index, _, _ in action.ranges)
        if isinstance(action, HashTemp):
            return hashlib.md5(self.data).hexdigest()
        return None

    def fetch(self, action: FetchRange) -> object:
        self.fetches.append(action)
        number = len(self.fetches)
        if self.changed_from is not None and number >= self.changed_from:
            return CosServiceError(412, "PreconditionFailed", "m", request_id="r")
        if number in self.broken:
            return CosTransportError("connection reset while reading", kind=FailureKind.CONNECTION)
        body = self.data[action.offset : action.offset + action.length]
        if number in self.short:
            body = body[: len(body) // 2]
        if number in self.corrupt:
            body = bytes([body[0] ^ 1]) + body[1:]
        return Fetched(len(body), crc64(body))


def run(machine: DownloadMachine, answer: Callable[[Any], object]) -> Any:
    asked: List[Any] = []
    while True:
        actions = machine.next_actions()
        assert actions, "the machine stalled"
        for action in actions:
            if isinstance(action, (Done, Failed)):
                return action, asked
            asked.append(action)
            machine.receive(action, answer(action))


def kinds(asked: List[Any]) -> List[str]:
    return [type(action).__name__ for action in asked]


def test_plan_small_objects_in_one_get_and_ranges_above() -> None:
    assert plan_ranges(0, start()) == (True, [(0, 0, 0)])
    assert plan_ranges(PART, start()) == (True, [(0, 0, PART)])
    assert plan_ranges(2500, start()) == (False, [(0, 0, 1000), (1, 1000, 1000), (2, 2000, 500)])
    assert plan_ranges(2500, start(threshold=5000))[0] is True


def test_ranges_pinned_to_the_etag_combined_and_committed() -> None:
    served = Object()
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done)
    result = end.result
    assert isinstance(result, DownloadResult)
    assert (result.check, result.size, result.crc64, result.ranges, result.refetched) == ("crc64", len(DATA), crc64(DATA), 5, 0)
    assert [(f.index, f.offset, f.length, f.etag, f.whole) for f in served.fetches] == [
        (i, i * PART, min(PART, len(DATA) - i * PART), ETAG, False) for i in range(5)
    ]
    names = kinds(asked)
    assert names[:6] == ["Lock", "Head", "LoadRanges", "PrepareTemp", "SaveRanges", "ProgressStart"]
    assert names[-4:] == ["CombineCrc64", "Commit", "ProgressFlush", "Unlock"]
    assert sum(isinstance(a, PartDone) for a in asked) == 5
    saved = [a for a in asked if isinstance(a, SaveRanges)]
    assert set(saved[-1].checkpoint.done) == set(range(5))  # each range recorded with its CRC-64
    assert "Discard" not in names


def test_at_most_concurrency_ranges_in_flight() -> None:
    served = Object()
    machine = DownloadMachine.download(start(concurrency=2))
    in_flight: List[FetchRange] = []
    peak = 0
    while machine.end is None:
        actions = machine.next_actions()
        for action in actions:
            if isinstance(action, (Done, Failed)):
                machine.end = action
                break
            if isinstance(action, FetchRange):
                in_flight.append(action)
            else:
                machine.receive(action, served.answer(action))
        peak = max(peak, len(in_flight))
        if in_flight:
            action = in_flight.pop(0)
            machine.receive(action, served.answer(action))
    assert isinstance(machine.end, Done) and peak == 2


def test_small_and_empty_objects_in_one_get_without_checkpoint() -> None:
    for data in (b"", b"small"):
        served = Object(data)
        end, asked = run(DownloadMachine.download(start()), served.answer)
        assert isinstance(end, Done) and end.result.ranges == 1
        assert [(f.whole, f.length) for f in served.fetches] == [(True, len(data))]
        assert kinds(asked) == ["Lock", "Head", "PrepareTemp", "ProgressStart", "FetchRange", "PartDone", "CombineCrc64", "Commit", "ProgressFlush", "Unlock"]


def test_a_short_range_is_fetched_again_alone() -> None:
    served = Object()
    served.short = {2}
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done) and end.result.refetched == 1
    second = served.fetches[1]
    again = [f for f in served.fetches if f.index == second.index]
    assert [f.attempt for f in again] == [1, 2]
    assert any(isinstance(a, ProgressRewind) and a.number == second.index + 1 for a in asked)


def test_a_broken_connection_fetches_the_range_again() -> None:
    served = Object()
    served.broken = {1}
    end, _ = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done) and len(served.fetches) == 6


def test_a_range_short_on_every_attempt_fails_and_keeps_the_temp_for_a_resume() -> None:
    served = Object()
    served.short = {1, 2, 3, 4, 5, 6, 7}
    end, asked = run(DownloadMachine.download(start(attempts=2)), served.answer)
    assert isinstance(end, Failed) and isinstance(end.error, CosIntegrityError) and end.error.what == "size"
    assert "Commit" not in kinds(asked)
    assert [a for a in asked if isinstance(a, Discard)] == [Discard(keep=False)]


def test_a_corrupted_range_fails_the_object_check_and_every_range_is_fetched_again() -> None:
    served = Object()
    served.corrupt = {3}
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done)
    assert end.result.check == "crc64" and end.result.refetched == 5
    assert len(served.fetches) == 10
    names = kinds(asked)
    assert names.count("CombineCrc64") == 2 and names[-3:] == ["Commit", "ProgressFlush", "Unlock"]
    # the checkpoint is emptied before the second round: a resume must not trust the first round's ranges
    emptied = [a for a in asked if isinstance(a, SaveRanges) and not a.checkpoint.done]
    assert len(emptied) == 2


def test_a_damage_that_persists_is_never_reported_verified() -> None:
    served = Object()
    served.corrupt = set(range(1, 100, 5))  # the first range of every round
    end, asked = run(DownloadMachine.download(start(attempts=3)), served.answer)
    assert isinstance(end, Failed) and isinstance(end.error, CosIntegrityError)
    assert end.error.what == "crc64" and end.error.remote == crc64(DATA)
    names = kinds(asked)
    assert "Commit" not in names and names.count("CombineCrc64") == 3
    assert [a for a in asked if isinstance(a, Discard)] == [Discard(keep=False)]


def test_an_object_replaced_midway_fails_cleanly() -> None:
    served = Object()
    served.changed_from = 3
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Failed) and isinstance(end.error, ObjectChangedError)
    assert end.error.etag == ETAG
    names = kinds(asked)
    assert "StopParts" in names and "Commit" not in names and "CombineCrc64" not in names
    assert [a for a in asked if isinstance(a, Discard)] == [Discard(keep=False)]
    assert not any(isinstance(a, StopParts) for a in asked[asked.index(Discard(keep=False)) :])


def test_a_failure_keeps_the_temp_when_resume_is_on_and_removes_it_when_off() -> None:
    for resume, kept in ((True, True), (False, False)):
        served = Object()
        served.broken = {1, 2, 3, 4, 5, 6, 7, 8, 9}
        end, asked = run(DownloadMachine.download(start(resume=resume)), served.answer)
        assert isinstance(end, Failed) and isinstance(end.error, CosTransportError)
        assert [a for a in asked if isinstance(a, Discard)] == [Discard(keep=kept)]


def test_resume_reuses_only_ranges_that_read_back_right() -> None:
    served = Object()
    facts = ObjectFacts.of(served.head)
    ranges = {i: crc64(DATA[i * PART : (i + 1) * PART]) for i in (0, 1, 3)}
    served.stored = DownloadCheckpoint("k", facts, PART, ranges)
    served.temp = {0: ranges[0], 1: ranges[1] ^ 1, 3: ranges[3]}  # range 1 damaged on disk since
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done)
    assert end.result.ranges_reused == 2 and end.result.restarted == ""
    assert sorted(f.index for f in served.fetches) == [1, 2, 4]
    assert PrepareTemp(len(DATA), keep=True) in asked
    assert [a.ranges for a in asked if isinstance(a, CheckRanges)] == [((0, 0, 1000), (1, 1000, 1000), (3, 3000, 1000))]
    start_event = next(a for a in asked if isinstance(a, ProgressStart))
    assert (start_event.reused_parts, start_event.reused_bytes) == (2, 2000)


def test_a_changed_object_restarts_and_says_so() -> None:
    served = Object()
    old = ObjectFacts(len(DATA), '"etag-0"', 12345)
    served.stored = DownloadCheckpoint("k", old, PART, {0: 1, 1: 2})
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done)
    assert "changed" in end.result.restarted and end.result.ranges_reused == 0
    assert PrepareTemp(len(DATA), keep=False) in asked and len(served.fetches) == 5


def test_a_missing_temp_file_restarts() -> None:
    served = Object()
    served.stored = DownloadCheckpoint("k", ObjectFacts.of(served.head), PART, {0: crc64(DATA[:PART])})
    served.temp_kept = False
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done) and "gone" in end.result.restarted
    assert "CheckRanges" not in kinds(asked) and len(served.fetches) == 5


def test_another_part_size_restarts() -> None:
    served = Object()
    served.stored = DownloadCheckpoint("k", ObjectFacts.of(served.head), 2 * PART, {0: 1})
    end, _ = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done) and "part size" in end.result.restarted


def test_without_crc64_an_md5_etag_is_checked_by_reading_back() -> None:
    md5 = hashlib.md5(DATA).hexdigest()
    served = Object(answer_head=head(crc=None, etag=f'"{md5}"'))
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done) and end.result.check == "md5" and not end.result.verified_by_crc64
    assert "HashTemp" in kinds(asked) and "CombineCrc64" not in kinds(asked)


def test_without_crc64_an_sse_c_etag_is_not_taken_for_an_md5() -> None:
    md5 = hashlib.md5(DATA).hexdigest()
    headers = {"x-cos-server-side-encryption-customer-algorithm": "AES256"}
    served = Object(answer_head=head(crc=None, etag=f'"{md5}"', headers=headers))
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Done) and end.result.check == "size"
    assert "HashTemp" not in kinds(asked)


def test_without_crc64_a_wrong_md5_is_refetched_then_fails() -> None:
    served = Object(answer_head=head(crc=None, etag='"' + "0" * 32 + '"'))
    end, asked = run(DownloadMachine.download(start(attempts=2)), served.answer)
    assert isinstance(end, Failed) and isinstance(end.error, CosIntegrityError) and end.error.what == "md5"
    assert kinds(asked).count("HashTemp") == 2


def test_a_progress_callback_that_raises_stops_the_download() -> None:
    served = Object()

    def answer(action: Any) -> object:
        if isinstance(action, PartDone) and action.number == 2:
            return KeyboardInterrupt()
        return served.answer(action)

    end, asked = run(DownloadMachine.download(start()), answer)
    assert isinstance(end, Failed) and isinstance(end.error, KeyboardInterrupt)
    assert Discard(keep=True) in asked


def test_interrupt_while_ranges_are_in_flight_keeps_the_temp() -> None:
    served = Object()
    machine = DownloadMachine.download(start())
    asked: List[Any] = []
    interrupted = False
    end: Any = None
    while end is None:
        held: List[FetchRange] = []
        for action in machine.next_actions():
            if isinstance(action, (Done, Failed)):
                end = action
                break
            asked.append(action)
            if isinstance(action, FetchRange):
                held.append(action)
            else:
                machine.receive(action, served.answer(action))
        if held and not interrupted:
            interrupted = True
            machine.interrupt(KeyboardInterrupt())
            for action in held:
                machine.receive(action, CosCancelledError("stopped"))
        else:
            for action in held:
                machine.receive(action, served.answer(action))
    assert isinstance(end, Failed) and isinstance(end.error, KeyboardInterrupt)
    assert Discard(keep=True) in asked and "Commit" not in kinds(asked)


@pytest.mark.parametrize("status", [403, 404, 500])
def test_other_service_errors_fail_without_refetch(status: int) -> None:
    served = Object()

    def answer(action: Any) -> object:
        if isinstance(action, FetchRange):
            served.fetches.append(action)
            return CosServiceError(status, "X", "m", request_id="r")
        return served.answer(action)

    end, _ = run(DownloadMachine.download(start(concurrency=1)), answer)
    assert isinstance(end, Failed) and isinstance(end.error, CosServiceError) and end.error.status == status
    assert len(served.fetches) == 1


def test_a_stream_writes_ranges_in_order_whatever_order_they_arrive_in() -> None:
    served = Object()
    machine = DownloadMachine.stream(start(concurrency=3))
    written: List[int] = []
    held: List[FetchRange] = []
    end: Any = None
    while end is None:
        for action in machine.next_actions():
            if isinstance(action, (Done, Failed)):
                end = action
                break
            if isinstance(action, FetchRange):
                assert action.memory
                held.append(action)
                continue
            if isinstance(action, WriteOut):
                written.append(action.index)
            machine.receive(action, served.answer(action))
        if held:
            action = held.pop()  # the last handed out answers first
            body = DATA[action.offset : action.offset + action.length]
            machine.receive(action, Fetched(len(body), crc64(body), body))
        assert len(held) <= 3
    assert isinstance(end, Done) and end.result.check == "crc64"
    assert written == [0, 1, 2, 3, 4]


def test_many_ranges_write_the_checkpoint_less_often_and_the_rest_on_a_failure() -> None:
    assert (save_interval(1), save_interval(500), save_interval(501), save_interval(10_000)) == (1, 1, 2, 20)
    data = bytes(range(256)) * 4  # 1024 bytes in ranges of 1: 1024 ranges, a write every 3rd
    served = Object(data)
    served.broken = set(range(1001, 1100))  # range 1000 onwards breaks on every attempt
    end, asked = run(DownloadMachine.download(start(part_size=1, concurrency=1, attempts=1)), served.answer)
    assert isinstance(end, Failed) and isinstance(end.error, CosTransportError)
    saves = [a for a in asked if isinstance(a, SaveRanges)]
    assert 330 < len(saves) < 350
    assert set(saves[-1].checkpoint.done) == set(range(1000))  # the last ranges written before Discard(keep)
    assert asked.index(saves[-1]) < asked.index(Discard(keep=True))


def test_a_failed_download_releases_its_lock_last() -> None:
    served = Object()
    served.changed_from = 1
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Failed) and kinds(asked)[0] == "Lock" and kinds(asked)[-2:] == ["Discard", "Unlock"]


def test_a_head_without_a_size_fails_before_any_range() -> None:
    from cos_multipart._protocol.errors import CosResponseError

    served = Object(answer_head=ObjectResult("k", ETAG, None, None, None, ResponseInfo(200, "rh")))
    end, asked = run(DownloadMachine.download(start()), served.answer)
    assert isinstance(end, Failed) and isinstance(end.error, CosResponseError) and served.fetches == []
    assert kinds(asked) == ["Lock", "Head", "Unlock"]


def test_ctrl_c_while_the_checkpoint_is_written_stops_the_download() -> None:
    served = Object()
    saves = 0

    def answer(action: Any) -> object:
        nonlocal saves
        if isinstance(action, SaveRanges):
            saves += 1
            if saves == 3:
                return KeyboardInterrupt()
            if saves == 2:
                return OSError("disk full")  # a failed write is only logged
        return served.answer(action)

    end, asked = run(DownloadMachine.download(start()), answer)
    assert isinstance(end, Failed) and isinstance(end.error, KeyboardInterrupt)
    assert "Commit" not in kinds(asked) and Discard(keep=True) in asked
