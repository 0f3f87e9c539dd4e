"""The upload machine driven with no I/O at all: a script of outcomes, checked action by action."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import pytest

from cos_multipart import UploadConfig
from cos_multipart._core._actions import (
    Abort, CheckpointWritten, CheckUnchanged, CombineCrc64, Complete, DeleteObject, DigestParts, Done, DropCheckpoint, Failed, FlushCheckpoint, Head,
    Initiate, ListParts, ListUploads, LoadCheckpoint, MarkCompleting, ProgressRewind,
    ProgressStart, PutObject, ReadAll, ReadStreamPart, RecordPart, SendPart, StartCheckpoint, StopParts,
)  # fmt: skip
from cos_multipart._core._machine import UploadMachine, UploadStart
from cos_multipart._core._outcomes import Initiated, Sent, SourceFacts, Target
from cos_multipart._core._partvalues import PartDigest, StreamPart
from cos_multipart._protocol.checksum import crc64, crc64_combine_all
from cos_multipart._protocol.dialect import BAD_DIGEST, COS, INVALID_DIGEST, OSS, Dialect
from cos_multipart._protocol.errors import CosIntegrityError, CosServiceError, ObjectExistsError, ResumeError
from cos_multipart._protocol.models import CompleteResult, ObjectResult, PartInfo, ResponseInfo
from cos_multipart._core.parts import Answer
from cos_multipart._core.session import FileIdentity, UploadSession

MB = 1024 * 1024
IDENTITY = FileIdentity(4 * MB, 1, 1, 7, 8)
TARGET = Target("http://cos.example", "examplebucket-1250000000", COS)


def facts(size: int = 4 * MB) -> SourceFacts:
    return SourceFacts("file", size, "/data/f", FileIdentity(size, 1, 1, 7, 8), "/data/f")


def start(size: int = 4 * MB, window: Optional[int] = None, **config: Any) -> UploadStart:
    settings: Dict[str, Any] = dict(part_size=MB, multipart_threshold=MB, concurrency=2)
    settings.update(config)
    return UploadStart(TARGET, UploadConfig(**settings), "k", facts(size), window=window)


def crc_of(number: int) -> int:
    return crc64(bytes([number]) * MB)


def sent(number: int, *, crc: Optional[int] = None) -> Sent:
    value = crc_of(number) if crc is None else crc
    return Sent(PartDigest(MB, crc_of(number), None), Answer(f'"e{number}"', value, f"r{number}"))


def service_error(status: int, code: str) -> CosServiceError:
    return CosServiceError(status, code, "m", request_id="rid")


class Script:
    """Runs a machine, answering each action with ``answer(action)``; records what it asked."""

    def __init__(self, machine: UploadMachine, answer: Callable[[Any], object]) -> None:
        self.machine = machine
        self.answer = answer
        self.asked: List[Any] = []

    def run(self) -> Any:
        while True:
            actions = self.machine.next_actions()
            assert actions, "the machine stalled"
            for action in actions:
                if isinstance(action, (Done, Failed)):
                    return action
                self.asked.append(action)
                self.machine.receive(action, self.answer(action))

    def kinds(self) -> List[str]:
        return [type(action).__name__ for action in self.asked]


def combined(size: int = 4) -> int:
    return UploadSession.combined_crc64([_receipt(n) for n in range(1, size + 1)])


def completed(crc: Optional[int] = None, size: int = 4) -> CompleteResult:
    combined = UploadSession.combined_crc64([_receipt(n) for n in range(1, size + 1)])
    return CompleteResult("loc", TARGET.bucket, "k", '"obj"', combined if crc is None else crc, None, ResponseInfo(200, "rc"))


def head_of(crc: int) -> ObjectResult:
    return ObjectResult("k", '"obj"', crc, 4 * MB, None, ResponseInfo(200, "rh"))


def _receipt(number: int) -> Any:
    from cos_multipart._core.session import PartReceipt

    return PartReceipt(number, f'"e{number}"', MB, crc_of(number))


Overrides = Dict[Any, Callable[[Any], object]]


def happy(action: Any, overrides: Optional[Overrides] = None) -> object:
    if overrides and type(action) in overrides:
        return overrides[type(action)](action)
    if isinstance(action, LoadCheckpoint):
        return None
    if isinstance(action, Initiate):
        return Initiated("u1", "ri", 1, 100.0, 101.0)
    if isinstance(action, StartCheckpoint):
        return "/ckpt/f.json"
    if isinstance(action, CheckpointWritten):
        return True
    if isinstance(action, CombineCrc64):
        return crc64_combine_all(action.parts)
    if isinstance(action, SendPart):
        return sent(action.number)
    if isinstance(action, Complete):
        return completed()
    return None


def test_a_new_upload_initiates_records_sends_and_completes() -> None:
    script = Script(UploadMachine.upload(start()), happy)
    last = script.run()
    assert isinstance(last, Done) and last.result.upload_id == "u1" and len(last.result.parts) == 4
    kinds = script.kinds()
    assert kinds[:5] == ["Lock", "LoadCheckpoint", "Initiate", "StartCheckpoint", "ProgressStart"]
    assert kinds[-7:] == ["CheckUnchanged", "MarkCompleting", "CombineCrc64", "Complete", "DropCheckpoint", "ProgressFlush", "Unlock"]
    assert kinds.count("SendPart") == 4 and kinds.count("RecordPart") == 4 and kinds.count("PartDone") == 4


def test_the_plan_is_refused_before_any_action() -> None:
    with_small_part = UploadStart(TARGET, UploadConfig(part_size=MB, multipart_threshold=MB), "k", facts(20000 * MB))
    machine = UploadMachine.upload(with_small_part)
    (last,) = machine.next_actions()
    assert isinstance(last, Failed) and "part_size" in str(last.error)


def test_a_small_file_goes_up_in_one_verified_put() -> None:
    data = b"x" * 10
    part = StreamPart(memoryview(data), PartDigest(10, crc64(data), "9dd4e461268c8034f5c8564e155c67a6"))
    machine = UploadMachine.single_put(start(size=10), part)
    answers = iter([Sent(part.digest, Answer('"9dd4e461268c8034f5c8564e155c67a6"', crc64(data) ^ 1, "r1")),
                    Sent(part.digest, Answer('"9dd4e461268c8034f5c8564e155c67a6"', crc64(data), "r2"))])  # fmt: skip
    script = Script(machine, lambda action: next(answers) if isinstance(action, PutObject) else None)
    last = script.run()
    assert isinstance(last, Done) and last.result.request_ids == ("r1", "r2")
    assert script.kinds() == ["ProgressStart", "PutObject", "ProgressRewind", "PutObject", "PartDone", "ProgressFlush"]


def _small_put(target: Target = TARGET, **config: Any) -> Any:
    data = b"x" * 10
    part = StreamPart(memoryview(data), PartDigest(10, crc64(data), "9dd4e461268c8034f5c8564e155c67a6"))
    settings: Dict[str, Any] = dict(part_size=MB, multipart_threshold=MB)
    settings.update(config)
    machine = UploadMachine.single_put(UploadStart(target, UploadConfig(**settings), "k", facts(10)), part)
    return machine, Sent(part.digest, Answer('"9dd4e461268c8034f5c8564e155c67a6"', crc64(data), "r2"))


@pytest.mark.parametrize("dialect", [COS, OSS], ids=["cos", "oss"])
def test_a_single_put_refused_as_damaged_is_sent_again(dialect: Dialect) -> None:
    # COS 400 BadDigest / OSS 400 InvalidDigest: the body did not match its Content-MD5 on the way.
    machine, good = _small_put(Target("http://example", "examplebucket-1250000000", dialect))
    answers = iter([service_error(400, dialect.digest_mismatch), good])
    script = Script(machine, lambda action: next(answers) if isinstance(action, PutObject) else None)
    last = script.run()
    assert isinstance(last, Done) and last.result.request_ids == ("rid", "r2")
    assert script.kinds() == ["ProgressStart", "PutObject", "ProgressRewind", "PutObject", "PartDone", "ProgressFlush"]
    assert [action.attempt for action in script.asked if isinstance(action, PutObject)] == [1, 2]


def test_a_single_put_refused_as_damaged_every_time_raises_the_service_error() -> None:
    machine, _ = _small_put(part_attempts=2)
    script = Script(machine, lambda action: service_error(400, BAD_DIGEST) if isinstance(action, PutObject) else None)
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, CosServiceError) and last.error.code == BAD_DIGEST
    assert script.kinds().count("PutObject") == 2


@pytest.mark.parametrize("code", [INVALID_DIGEST, "InvalidArgument"])
def test_a_single_put_refused_for_another_reason_is_not_sent_again(code: str) -> None:
    # On COS, InvalidDigest is a malformed Content-MD5: sending the same header again cannot help.
    machine, _ = _small_put()
    script = Script(machine, lambda action: service_error(400, code) if isinstance(action, PutObject) else None)
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, CosServiceError) and last.error.code == code
    assert script.kinds().count("PutObject") == 1


def test_parts_in_flight_are_bounded_and_outcomes_arrive_in_any_order() -> None:
    machine = UploadMachine.upload(start(size=4 * MB, concurrency=2, resume=False))
    held: List[SendPart] = []
    last = None
    while last is None:
        for action in machine.next_actions():
            if isinstance(action, (Done, Failed)):
                last = action
            elif isinstance(action, SendPart):
                held.append(action)
            else:
                machine.receive(action, happy(action))
        assert len(held) <= 2
        if held and last is None:
            answer = held.pop()  # the latest first: out of order
            machine.receive(answer, sent(answer.number))
    assert isinstance(last, Done) and [p.part_number for p in last.result.parts] == [1, 2, 3, 4]


def test_a_mismatch_sends_the_part_again_then_fails_after_its_attempts() -> None:
    tries: Dict[int, int] = {}

    def part_2_wrong(action: SendPart) -> Sent:
        tries[action.number] = action.attempt
        return sent(action.number, crc=1) if action.number == 2 else sent(action.number)

    script = Script(UploadMachine.upload(start(part_attempts=3)), lambda a: happy(a, {SendPart: part_2_wrong}))
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, CosIntegrityError)
    assert tries[2] == 3 and script.kinds().count("ProgressRewind") == 2
    assert "StopParts" in script.kinds() and "FlushCheckpoint" in script.kinds()  # kept for a resume
    assert last.error.kept_upload is not None and last.error.kept_upload.checkpoint == "/ckpt/f.json"  # type: ignore[attr-defined]


def test_abort_on_failure_aborts_instead_of_keeping() -> None:
    def boom(action: SendPart) -> object:
        return service_error(500, "InternalError") if action.number == 3 else sent(action.number)

    script = Script(UploadMachine.upload(start(abort_on_failure=True)), lambda a: happy(a, {SendPart: boom}))
    last = script.run()
    assert isinstance(last, Failed) and Abort("u1") in script.asked and DropCheckpoint in map(type, script.asked)
    assert getattr(last.error, "kept_upload", None) is None


def test_a_part_verified_while_stopping_is_still_recorded() -> None:
    machine = UploadMachine.upload(start(concurrency=2))
    first: List[SendPart] = []
    while len(first) < 2:
        for action in machine.next_actions():
            if isinstance(action, SendPart):
                first.append(action)
            else:
                machine.receive(action, happy(action))
    machine.receive(first[0], service_error(500, "InternalError"))
    stop = machine.next_actions()
    assert any(isinstance(a, StopParts) for a in stop)
    for action in stop:
        machine.receive(action, None)
    machine.receive(first[1], sent(first[1].number))
    script = Script(machine, happy)
    last = script.run()
    assert isinstance(last, Failed) and RecordPart in map(type, script.asked)
    assert not any(isinstance(a, SendPart) for a in script.asked)


def test_complete_lost_answer_is_accepted_when_head_shows_the_object() -> None:

    def head(action: Head) -> ObjectResult:
        return head_of(combined())

    overrides: Overrides = {Complete: lambda a: service_error(404, "NoSuchUpload"), Head: head}
    last = Script(UploadMachine.upload(start()), lambda a: happy(a, overrides)).run()
    assert isinstance(last, Done) and last.result.crc64 == combined()


def test_a_wrong_object_at_complete_is_deleted() -> None:
    script = Script(UploadMachine.upload(start()), lambda a: happy(a, {Complete: lambda _: completed(crc=5)}))
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, CosIntegrityError)
    assert DeleteObject(None) in script.asked and not any(isinstance(a, Abort) for a in script.asked)


def test_forbid_overwrite_heads_first_and_maps_the_409() -> None:
    exists = Script(UploadMachine.upload(start(forbid_overwrite=True)), lambda a: happy(a, {Head: lambda _: object()}))
    last = exists.run()
    assert isinstance(last, Failed) and isinstance(last.error, ObjectExistsError) and "Initiate" not in exists.kinds()
    raced = Script(
        UploadMachine.upload(start(forbid_overwrite=True)),
        lambda a: happy(a, {Head: lambda _: service_error(404, "NoSuchKey"), Complete: lambda _: service_error(409, "FileAlreadyExists")}),
    )  # fmt: skip
    last = raced.run()
    assert isinstance(last, Failed) and isinstance(last.error, ObjectExistsError)


def test_a_retried_initiate_aborts_the_uploads_its_lost_answers_made() -> None:
    from datetime import datetime, timezone

    from cos_multipart._protocol.models import UploadInfo

    uploads = [UploadInfo("k", "u1", datetime.fromtimestamp(100.5, timezone.utc)),
               UploadInfo("k", "u0", datetime.fromtimestamp(100.2, timezone.utc))]  # fmt: skip
    overrides: Overrides = {Initiate: lambda _: Initiated("u1", "ri", 2, 100.0, 101.0), ListUploads: lambda _: uploads}
    script = Script(UploadMachine.upload(start()), lambda a: happy(a, overrides))
    assert isinstance(script.run(), Done) and Abort("u0") in script.asked and Abort("u1") not in script.asked


def stored_session(parts: int = 2, completing: bool = False) -> UploadSession:
    from dataclasses import replace

    from cos_multipart._core import _decisions

    planned = _decisions.planned_session(TARGET, UploadConfig(part_size=MB), facts(), "k")
    session = _decisions.initiated(planned, "old", 50.0).with_parts([_receipt(n) for n in range(1, parts + 1)])
    return replace(session, completing=completing)


def test_a_resume_lists_parts_rechecks_the_reused_and_sends_the_rest() -> None:
    stored = stored_session(2)
    listed = [PartInfo(1, '"e1"', MB), PartInfo(2, '"e2"', MB)]
    overrides: Overrides = {
        LoadCheckpoint: lambda _: stored, ListParts: lambda _: listed,
        DigestParts: lambda a: tuple(PartDigest(MB, crc_of(n) if n == 1 else 0, None) for n, *_ in a.parts),
    }  # fmt: skip
    script = Script(UploadMachine.upload(start()), lambda a: happy(a, overrides))
    last = script.run()
    assert isinstance(last, Done) and last.result.parts_reused == 1 and last.result.bytes_reverified == 2 * MB
    assert sorted(a.number for a in script.asked if isinstance(a, SendPart)) == [2, 3, 4]  # part 2 differed
    assert "Initiate" not in script.kinds()


def test_a_lost_resume_aborts_the_recorded_id_and_starts_afresh() -> None:
    overrides: Overrides = {LoadCheckpoint: lambda _: stored_session(2), ListParts: lambda _: service_error(404, "NoSuchUpload")}
    script = Script(UploadMachine.upload(start()), lambda a: happy(a, overrides))
    assert isinstance(script.run(), Done)
    kinds = script.kinds()
    assert Abort("old") in script.asked and kinds.index("DropCheckpoint") < kinds.index("Initiate")


def test_a_resume_only_call_with_a_lost_upload_changes_nothing() -> None:
    resume_only = UploadStart(TARGET, UploadConfig(part_size=MB, multipart_threshold=MB), "k", facts(), resume_only=True)
    overrides: Overrides = {LoadCheckpoint: lambda _: stored_session(2), ListParts: lambda _: service_error(404, "NoSuchUpload")}
    script = Script(UploadMachine.upload(resume_only), lambda a: happy(a, overrides))
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, ResumeError)
    assert not any(isinstance(a, (Abort, DropCheckpoint, Initiate)) for a in script.asked)


def test_a_kill_after_complete_is_recognised_and_nothing_is_sent() -> None:
    stored = stored_session(4, completing=True)
    overrides: Overrides = {
        LoadCheckpoint: lambda _: stored,
        Head: lambda _: head_of(combined()),
        DigestParts: lambda a: tuple(PartDigest(MB, crc_of(n), None) for n, *_ in a.parts),
    }  # fmt: skip
    script = Script(UploadMachine.upload(start()), lambda a: happy(a, overrides))
    last = script.run()
    assert isinstance(last, Done) and last.result.parts_reused == 4
    assert script.kinds() == ["Lock", "LoadCheckpoint", "Head", "DigestParts", "DropCheckpoint", "Unlock"]


def test_a_gone_upload_is_not_kept() -> None:
    def gone(action: SendPart) -> object:
        return service_error(404, "NoSuchUpload") if action.number == 1 else sent(action.number)

    script = Script(UploadMachine.upload(start()), lambda a: happy(a, {SendPart: gone}))
    last = script.run()
    from cos_multipart._protocol.errors import UploadGoneError

    assert isinstance(last, Failed) and isinstance(last.error, UploadGoneError)
    assert "FlushCheckpoint" not in script.kinds() and "DropCheckpoint" in script.kinds()


def test_an_outcome_for_an_action_not_handed_out_is_refused() -> None:
    with pytest.raises(ValueError):
        UploadMachine.upload(start()).receive(Head(), None)


def test_a_small_file_by_path_is_read_under_its_lock_and_put() -> None:
    data = b"y" * 10
    part = StreamPart(memoryview(data), PartDigest(10, crc64(data), "0" * 32))
    small = UploadStart(TARGET, UploadConfig(multipart_threshold=MB), "k", facts(10))
    answers: Overrides = {ReadAll: lambda _: part, PutObject: lambda _: Sent(part.digest, Answer('"' + "0" * 32 + '"', crc64(data), "r"))}
    script = Script(UploadMachine.upload(small), lambda a: happy(a, answers))
    assert isinstance(script.run(), Done)
    assert script.kinds() == ["Lock", "LoadCheckpoint", "ReadAll", "ProgressStart", "PutObject", "PartDone", "ProgressFlush", "Unlock"]
    assert not {CheckUnchanged, FlushCheckpoint, MarkCompleting, ProgressRewind} & set(map(type, script.asked))


def stream_start(concurrency: int = 2, size: Optional[int] = None) -> UploadStart:
    def check_length(total: int) -> None:
        if size is not None and total != size:
            raise ValueError(f"stream ended after {total}")

    facts = SourceFacts("stream", size, name="the stream", check_length=check_length)
    config = UploadConfig(part_size=MB, multipart_threshold=MB, concurrency=concurrency)
    return UploadStart(TARGET, config, "k", facts)


def stream_part(length: int) -> StreamPart:
    data = b"s" * length
    return StreamPart(memoryview(data), PartDigest(length, crc64(data), None))


def test_a_stream_is_read_only_when_a_slot_is_free_and_holds_at_most_concurrency_parts() -> None:
    machine = UploadMachine.upload(stream_start(concurrency=2))
    reads = 0
    in_flight: List[SendPart] = []
    peak = 0
    last = None
    while last is None:
        actions = machine.next_actions()
        for action in actions:
            if isinstance(action, (Done, Failed)):
                last = action
            elif isinstance(action, ReadStreamPart):
                reads += 1
                assert len(in_flight) < 2, "a part is read only when a slot is free"
                machine.receive(action, stream_part(action.size if reads < 6 else 10))  # part 6 ends the stream
            elif isinstance(action, SendPart):
                assert action.data is not None  # a stream's part carries its bytes
                in_flight.append(action)
            elif isinstance(action, Initiate):
                machine.receive(action, Initiated("u1", "ri", 1, 100.0, 101.0))
            elif isinstance(action, CombineCrc64):
                machine.receive(action, crc64_combine_all(action.parts))
            elif isinstance(action, Complete):
                machine.receive(action, CompleteResult("", TARGET.bucket, "k", '"o"', _stream_crc(in_flight), None, ResponseInfo(200, "rc")))
            else:
                machine.receive(action, None)
        peak = max(peak, len(in_flight))
        if in_flight and last is None and not actions:
            answer = in_flight.pop(0)
            data = answer.data
            assert data is not None
            machine.receive(answer, Sent(data.digest, Answer('"e"', data.digest.crc64, "r")))
            _SENT.append((answer.number, data.digest.crc64, len(data.data)))
    assert isinstance(last, Done) and len(last.result.parts) == 6 and last.result.size == 5 * MB + 10
    assert peak <= 2


_SENT: List[Any] = []


def _stream_crc(_: Any) -> int:
    ordered = sorted(_SENT)
    return crc64_combine_all([(crc, length) for _, crc, length in ordered])


def test_a_short_stream_goes_up_in_one_put() -> None:
    machine = UploadMachine.upload(stream_start())
    (read,) = machine.next_actions()
    assert isinstance(read, ReadStreamPart) and read.md5
    part = stream_part(100)
    machine.receive(read, part)
    (put,) = machine.next_actions()
    assert isinstance(put, ProgressStart)
    machine.receive(put, None)
    (send,) = machine.next_actions()
    assert isinstance(send, PutObject) and send.part is part


def test_a_stream_longer_than_stated_fails_and_aborts() -> None:
    machine = UploadMachine.upload(stream_start(size=3 * MB))
    reads = iter([MB, MB, MB, 5])
    script = Script(machine, lambda a: stream_part(next(reads)) if isinstance(a, ReadStreamPart) else happy(a))
    last = script.run()
    assert isinstance(last, Failed) and "stream ended after" in str(last.error)
    assert Abort("u1") in script.asked and "Complete" not in script.kinds()


def test_a_stale_checkpoint_is_aborted_and_a_new_upload_starts() -> None:
    from dataclasses import replace

    stale = replace(stored_session(2), identity=FileIdentity(4 * MB, 99, 99, 7, 8))  # the file changed since
    script = Script(UploadMachine.upload(start()), lambda a: happy(a, {LoadCheckpoint: lambda _: stale}))
    assert isinstance(script.run(), Done)
    kinds = script.kinds()
    assert Abort("old") in script.asked and "ListParts" not in kinds
    assert kinds.index("DropCheckpoint") < kinds.index("Initiate")


def test_a_checkpoint_never_written_means_abort_not_keep() -> None:
    def boom(action: SendPart) -> object:
        return service_error(500, "InternalError")

    script = Script(UploadMachine.upload(start()), lambda a: happy(a, {SendPart: boom, CheckpointWritten: lambda _: False}))
    last = script.run()
    assert isinstance(last, Failed) and getattr(last.error, "kept_upload", None) is None and Abort("u1") in script.asked


def test_a_worker_that_read_another_file_fails_the_upload() -> None:
    from cos_multipart._protocol.errors import SourceChangedError

    other = FileIdentity(4 * MB, 2, 2, 9, 9)

    def elsewhere(action: SendPart) -> Sent:
        answer = sent(action.number)
        return Sent(answer.digest, answer.answer, other)

    script = Script(UploadMachine.upload(start(window=0)), lambda a: happy(a, {SendPart: elsewhere}))
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, SourceChangedError)
    assert Abort("u1") in script.asked  # a changed source is not kept


def test_window_zero_hands_out_every_part_at_once() -> None:
    machine = UploadMachine.upload(start(window=0))
    sends: List[SendPart] = []
    while not sends:
        for action in machine.next_actions():
            if isinstance(action, SendPart):
                sends.append(action)
            else:
                machine.receive(action, happy(action))
    assert [a.number for a in sends] == [1, 2, 3, 4]


def test_steps_hand_out_the_parts_whose_slots_the_inline_actions_freed() -> None:
    # Parts 1 and 2 answer together; their recording and reporting (done where the executor loops) free both
    # slots: one drain of steps() must end with parts 3 and 4 to start, not only part 3.
    machine = UploadMachine.upload(start(concurrency=2))
    for action in machine.steps():
        machine.receive(action, happy(action))
    first = machine.parts_to_start()
    assert [a.number for a in first] == [1, 2]
    for action in first:
        machine.receive(action, sent(action.number))
    for action in machine.steps():
        machine.receive(action, happy(action))
    assert [a.number for a in machine.parts_to_start()] == [3, 4]
    assert machine.parts_in_flight() and machine.end is None


def test_a_machine_that_asks_nothing_with_nothing_in_flight_is_a_defect() -> None:
    machine = UploadMachine.upload(start())
    (lock,) = machine.next_actions()
    with pytest.raises(RuntimeError):
        list(machine.steps())  # the Lock was handed out and never answered: nothing can happen
    machine.receive(lock, None)


def test_the_result_raises_the_failure() -> None:
    machine = UploadMachine.upload(start(forbid_overwrite=True))
    for action in machine.steps():
        machine.receive(action, happy(action, {Head: lambda _: head_of(1)}))
    with pytest.raises(ObjectExistsError):
        machine.result(0.0)


# --- pieces of the sequence run alone (the public session steps) -------------------------------------------


def piece_session() -> UploadSession:
    from cos_multipart._core.planner import plan_parts

    return UploadSession(TARGET.base_url, TARGET.bucket, "k", "u1", plan_parts(4 * MB, MB))


def test_a_part_piece_sends_again_on_a_mismatch_and_returns_the_receipt_and_every_request_id() -> None:
    from cos_multipart._core._flow import part_flow

    machine = UploadMachine.piece(part_flow(piece_session(), 2, attempts=3, check_md5=False))
    answers = iter([sent(2, crc=1), sent(2)])
    script = Script(machine, lambda action: next(answers) if isinstance(action, SendPart) else None)
    last = script.run()
    assert script.kinds() == ["SendPart", "ProgressRewind", "SendPart", "PartDone"]
    assert [action.attempt for action in script.asked if isinstance(action, SendPart)] == [1, 2]
    assert isinstance(last, Done) and last.result == (_receipt(2), ["r2", "r2"])


def test_a_complete_piece_accepts_no_such_upload_when_head_matches_and_marks_no_checkpoint() -> None:
    from cos_multipart._core._flow import complete_flow
    from cos_multipart._core.parts import Completion

    receipts = [_receipt(n) for n in range(1, 5)]

    def answer(action: Any) -> object:
        if isinstance(action, Complete):
            return service_error(404, "NoSuchUpload")
        if isinstance(action, Head):
            return head_of(combined())
        return happy(action)

    machine = UploadMachine.piece(complete_flow(piece_session(), receipts, None))
    script = Script(machine, answer)
    last = script.run()
    assert script.kinds() == ["CombineCrc64", "Complete", "Head"]
    assert isinstance(last, Done) and isinstance(last.result, Completion) and last.result.crc64 == combined()


def test_a_complete_piece_deletes_a_wrong_object_and_its_value_raises_the_failure() -> None:
    from cos_multipart._core._flow import complete_flow

    receipts = [_receipt(n) for n in range(1, 5)]
    machine = UploadMachine.piece(complete_flow(piece_session(), receipts, None))
    asked: List[str] = []
    for action in machine.steps():  # as an executor does: steps() keeps the last action as machine.end
        asked.append(type(action).__name__)
        machine.receive(action, completed(crc=5) if isinstance(action, Complete) else happy(action))
    assert asked == ["CombineCrc64", "Complete", "DeleteObject"] and isinstance(machine.end, Failed)
    with pytest.raises(CosIntegrityError, match="was deleted"):
        machine.value()
    with pytest.raises(CosIntegrityError):
        machine.result(0.0)
