"""The copy machine driven with no I/O: a script of outcomes, checked action by action."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Optional

import pytest

from cos_multipart._core._actions import (
    CheckpointWritten, CombineCrc64, Complete, Done, Failed, ListParts,
    LoadCheckpoint, Lock, StartCheckpoint,
)  # fmt: skip
from cos_multipart._core._copyflow import CopyMachine, CopyStart, checkpoint_source
from cos_multipart._core._copyvalues import CopyConfig, CopyObject, CopyPart, CopyResult, HeadDestination, HeadSource, InitiateCopy
from cos_multipart._core._outcomes import Initiated, Target
from cos_multipart._core.session import PartReceipt, UploadSession
from cos_multipart._protocol.checksum import crc64, crc64_combine_all
from cos_multipart._protocol.copy_ops import CopySource
from cos_multipart._protocol.dialect import COS, OSS
from cos_multipart._protocol.errors import (
    CosIntegrityError, CosServiceError, CosValidationError, ObjectExistsError, SourceChangedError, kept_upload_of,
)  # fmt: skip
from cos_multipart._protocol.models import CompleteResult, ObjectResult, PartInfo, PartResult, ResponseInfo
from cos_multipart._protocol.options import ObjectOptions

MB = 1024 * 1024
TARGET = Target("http://cos.example", "dst-1250000000", COS)
SOURCE = CopySource("src/key", "src-1250000000", "ap-beijing")
DATA = bytes(range(256)) * (4 * MB // 256)  # 4 MB: four 1 MB parts
PARTS = [DATA[i * MB : (i + 1) * MB] for i in range(4)]
SOURCE_CRC = crc64(DATA)


def start(size_threshold: int = MB, **config: Any) -> CopyStart:
    settings: Dict[str, Any] = dict(part_size=MB, threshold=size_threshold, concurrency=2)
    settings.update(config)
    return CopyStart(TARGET, CopyConfig(**settings), "dst/key", SOURCE)


def source_head(crc: Optional[int] = SOURCE_CRC, size: int = len(DATA), etag: str = '"src"') -> ObjectResult:
    headers = {"content-type": "video/mp4", "x-cos-meta-a": "1"}
    return ObjectResult("src/key", etag, crc, size, None, ResponseInfo(200, "rs", headers=headers))


def part_answer(action: CopyPart, crc: Optional[int] = None, missing: bool = False) -> PartResult:
    value = crc64(DATA[action.offset : action.offset + action.length]) if crc is None else crc
    return PartResult(action.number, f'"p{action.number}"', None if missing else value, action.length, ResponseInfo(200, f"r{action.number}"))


def dest_head(crc: Optional[int] = SOURCE_CRC, size: int = len(DATA)) -> ObjectResult:
    return ObjectResult("dst/key", '"dst"', crc, size, None, ResponseInfo(200, "rd"))


Overrides = Dict[Any, Callable[[Any], object]]


def happy(action: Any, overrides: Optional[Overrides] = None) -> object:
    if overrides and type(action) in overrides:
        return overrides[type(action)](action)
    if isinstance(action, HeadSource):
        return source_head()
    if isinstance(action, HeadDestination):
        return dest_head()
    if isinstance(action, CopyObject):
        return ObjectResult("dst/key", '"dst"', SOURCE_CRC, None, None, ResponseInfo(200, "rc"))
    if isinstance(action, InitiateCopy):
        return Initiated("u1", "ri", 1, 100.0, 101.0)
    if isinstance(action, StartCheckpoint):
        return "/ckpt/c.json"
    if isinstance(action, CheckpointWritten):
        return True
    if isinstance(action, CombineCrc64):
        return crc64_combine_all(action.parts)
    if isinstance(action, CopyPart):
        return part_answer(action)
    if isinstance(action, Complete):
        return CompleteResult("loc", TARGET.bucket, "dst/key", '"dst"', SOURCE_CRC, None, ResponseInfo(200, "rc"))
    return None


class Script:
    def __init__(self, machine: CopyMachine, overrides: Optional[Overrides] = None) -> None:
        self.machine = machine
        self.overrides = overrides
        self.asked: List[Any] = []

    def run(self) -> Any:
        while True:
            actions = self.machine.next_actions()
            assert actions, "the machine stalled"
            for action in actions:
                if isinstance(action, (Done, Failed)):
                    return action
                self.asked.append(action)
                self.machine.receive(action, happy(action, self.overrides))

    def kinds(self) -> List[str]:
        return [type(action).__name__ for action in self.asked]


def error(status: int, code: str) -> CosServiceError:
    return CosServiceError(status, code, "m", request_id="rid")


def test_a_source_up_to_the_threshold_is_one_copy_then_checked() -> None:
    script = Script(CopyMachine.copy(start(size_threshold=len(DATA))))
    last = script.run()
    assert script.kinds() == ["HeadSource", "ProgressStart", "CopyObject", "HeadDestination", "PartDone", "ProgressFlush"]
    result = last.result
    assert isinstance(result, CopyResult) and result.upload_id is None and result.crc64_verified and result.size == len(DATA)
    assert script.asked[2] == CopyObject('"src"')


def test_a_larger_source_is_copied_part_by_part_pinned_to_its_etag() -> None:
    script = Script(CopyMachine.copy(start()))
    last = script.run()
    assert isinstance(last, Done), last
    copies = [a for a in script.asked if isinstance(a, CopyPart)]
    assert [(a.number, a.offset, a.length, a.etag) for a in copies] == [(n, (n - 1) * MB, MB, '"src"') for n in range(1, 5)]
    kinds = script.kinds()
    assert kinds[:4] == ["HeadSource", "Lock", "LoadCheckpoint", "InitiateCopy"]
    assert kinds.index("CombineCrc64") < kinds.index("MarkCompleting") < kinds.index("Complete") < kinds.index("HeadDestination")
    assert kinds[-3:] == ["DropCheckpoint", "ProgressFlush", "Unlock"]
    assert kinds.count("RecordPart") == 4
    assert last.result.upload_id == "u1" and last.result.parts == 4 and last.result.crc64_verified


def test_the_parts_in_flight_are_bounded_by_concurrency() -> None:
    machine = CopyMachine.copy(start())
    first = machine.next_actions()
    machine.receive(first[0], source_head())
    in_flight: List[Any] = []
    while True:
        actions = machine.next_actions()
        parts = [a for a in actions if isinstance(a, CopyPart)]
        in_flight.extend(parts)
        others = [a for a in actions if not isinstance(a, CopyPart)]
        if parts:
            break
        for action in others:
            machine.receive(action, happy(action))
    assert len(in_flight) == 2


def test_a_copy_directive_carries_the_sources_content_to_initiate() -> None:
    script = Script(CopyMachine.copy(start(options=ObjectOptions(storage_class="STANDARD_IA"))))
    script.run()
    initiate = next(a for a in script.asked if isinstance(a, InitiateCopy))
    assert initiate.content is not None and initiate.content.content_type == "video/mp4"
    assert dict(initiate.content.metadata or {}) == {"x-cos-meta-a": "1"}
    config = CopyConfig(options=ObjectOptions(storage_class="STANDARD_IA"))
    merged = config.with_content(initiate.content)
    assert (merged.content_type, merged.storage_class) == ("video/mp4", "STANDARD_IA")
    replaced = Script(CopyMachine.copy(start(metadata_directive="Replaced")))
    replaced.run()
    assert next(a for a in replaced.asked if isinstance(a, InitiateCopy)).content is None


def test_a_source_replaced_mid_copy_fails_cleanly_and_aborts() -> None:
    def second_fails(action: CopyPart) -> object:
        return error(412, "PreconditionFailed") if action.number == 2 else part_answer(action)

    script = Script(CopyMachine.copy(start()), {CopyPart: second_fails})
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, SourceChangedError)
    kinds = script.kinds()
    assert "StopParts" in kinds and "Abort" in kinds and "Complete" not in kinds and "FlushCheckpoint" not in kinds
    assert "DropCheckpoint" in kinds
    assert not hasattr(last.error, "kept_upload")


def test_a_single_copy_of_a_replaced_source_is_a_source_change() -> None:
    script = Script(CopyMachine.copy(start(size_threshold=len(DATA))), {CopyObject: lambda a: error(412, "PreconditionFailed")})
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, SourceChangedError)


def test_a_wrong_part_is_found_before_complete_and_the_copy_aborted() -> None:
    script = Script(CopyMachine.copy(start()), {CopyPart: lambda a: part_answer(a, crc=12345 if a.number == 3 else None)})
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, CosIntegrityError) and last.error.what == "parts-crc64"
    assert "Complete" not in script.kinds() and "Abort" in script.kinds()


def test_a_wrong_destination_is_deleted() -> None:
    script = Script(CopyMachine.copy(start()), {HeadDestination: lambda a: dest_head(crc=1)})
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, CosIntegrityError) and last.error.what == "crc64"
    assert "DeleteObject" in script.kinds() and "Abort" not in script.kinds()
    assert "deleted" in last.error.outcome


def test_a_destination_of_another_size_is_refused() -> None:
    script = Script(CopyMachine.copy(start(size_threshold=len(DATA))), {HeadDestination: lambda a: dest_head(size=5)})
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, CosIntegrityError) and last.error.what == "size"


def test_a_source_without_crc64_is_copied_and_said_so() -> None:
    script = Script(CopyMachine.copy(start()), {HeadSource: lambda a: source_head(crc=None)})
    last = script.run()
    assert isinstance(last, Done)
    assert last.result.source_crc64 is None and not last.result.crc64_verified


def test_parts_without_crc64_skip_the_combination_but_the_destination_is_still_compared() -> None:
    script = Script(CopyMachine.copy(start()), {CopyPart: lambda a: part_answer(a, missing=True)})
    last = script.run()
    assert isinstance(last, Done) and last.result.crc64_verified
    assert "CombineCrc64" not in script.kinds() and "RecordPart" not in script.kinds()


def test_a_failure_keeps_the_copy_for_a_resume() -> None:
    script = Script(CopyMachine.copy(start()), {CopyPart: lambda a: error(503, "ServiceUnavailable") if a.number == 4 else part_answer(a)})
    last = script.run()
    assert isinstance(last, Failed) and "FlushCheckpoint" in script.kinds() and "Abort" not in script.kinds()
    kept = kept_upload_of(last.error)
    assert kept is not None and kept.upload_id == "u1" and kept.parts_done == 3


def test_abort_on_failure_aborts() -> None:
    script = Script(CopyMachine.copy(start(abort_on_failure=True)), {CopyPart: lambda a: error(503, "SlowDown")})
    last = script.run()
    assert isinstance(last, Failed) and "Abort" in script.kinds() and "DropCheckpoint" in script.kinds()


def test_an_existing_destination_with_forbid_overwrite_is_refused_before_any_part() -> None:
    script = Script(CopyMachine.copy(start(forbid_overwrite=True)))
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, ObjectExistsError)
    assert "InitiateCopy" not in script.kinds() and "CopyPart" not in script.kinds()


def test_an_existing_destination_with_forbid_overwrite_is_object_exists() -> None:
    heads = iter([error(404, "NoSuchKey")])  # free when checked; taken before Complete (a race)
    overrides: Overrides = {Complete: lambda a: error(409, "FileAlreadyExists"), HeadDestination: lambda a: next(heads)}
    script = Script(CopyMachine.copy(start(forbid_overwrite=True)), overrides)
    last = script.run()
    assert isinstance(last, Failed) and isinstance(last.error, ObjectExistsError) and "Abort" in script.kinds()
    assert script.asked[[type(a) for a in script.asked].index(Complete)].forbid_overwrite is True


def stored_session(parts: List[int], **changes: Any) -> UploadSession:
    first = Script(CopyMachine.copy(start()))
    first.run()
    session = next(a for a in first.asked if isinstance(a, StartCheckpoint)).session
    receipts = [PartReceipt(n, f'"p{n}"', MB, crc64(PARTS[n - 1])) for n in parts]
    return dataclasses.replace(session.with_parts(receipts), **changes)


def test_a_resume_copies_only_the_missing_parts() -> None:
    stored = stored_session([1, 3])
    listed = [PartInfo(n, f'"p{n}"', MB, None) for n in (1, 3)]
    script = Script(CopyMachine.copy(start()), {LoadCheckpoint: lambda a: stored, ListParts: lambda a: listed})
    last = script.run()
    assert isinstance(last, Done) and last.result.parts_reused == 2
    assert sorted(a.number for a in script.asked if isinstance(a, CopyPart)) == [2, 4]
    assert "InitiateCopy" not in script.kinds()
    complete = next(a for a in script.asked if isinstance(a, Complete))
    assert [p.part_number for p in complete.parts] == [1, 2, 3, 4]


def test_a_stored_copy_of_another_source_version_is_aborted_and_started_again() -> None:
    stored = stored_session([1], options_digest="other")
    script = Script(CopyMachine.copy(start()), {LoadCheckpoint: lambda a: stored})
    last = script.run()
    assert isinstance(last, Done)
    kinds = script.kinds()
    assert kinds.index("Abort") < kinds.index("DropCheckpoint") < kinds.index("InitiateCopy")
    assert "ListParts" not in kinds


def test_a_stored_copy_that_is_gone_starts_again() -> None:
    stored = stored_session([1])
    script = Script(CopyMachine.copy(start()), {LoadCheckpoint: lambda a: stored, ListParts: lambda a: error(404, "NoSuchUpload")})
    last = script.run()
    assert isinstance(last, Done) and "InitiateCopy" in script.kinds()


def test_a_copy_killed_after_complete_is_recognised_and_not_copied_again() -> None:
    stored = stored_session([1, 2, 3, 4], completing=True)
    script = Script(CopyMachine.copy(start()), {LoadCheckpoint: lambda a: stored})
    last = script.run()
    assert isinstance(last, Done) and last.result.parts_reused == 4 and last.result.upload_id == stored.upload_id
    assert script.kinds() == ["HeadSource", "Lock", "LoadCheckpoint", "HeadDestination", "DropCheckpoint", "Unlock"]


def test_a_completing_checkpoint_whose_object_differs_is_copied_again() -> None:
    stored = stored_session([1, 2, 3, 4], completing=True)
    answers = iter([dest_head(crc=1), dest_head()])  # the first HEAD: another object; the last: the copy
    script = Script(CopyMachine.copy(start()), {LoadCheckpoint: lambda a: stored, HeadDestination: lambda a: next(answers),
                                                ListParts: lambda a: error(404, "NoSuchUpload")})  # fmt: skip
    last = script.run()
    assert isinstance(last, Done) and last.result.parts_reused == 0 and "InitiateCopy" in script.kinds()


def test_the_checkpoint_is_filed_per_source_location() -> None:
    assert checkpoint_source(TARGET, SOURCE).startswith("/cos-multipart-copy/")
    assert checkpoint_source(TARGET, SOURCE) != checkpoint_source(TARGET, dataclasses.replace(SOURCE, key="other"))
    script = Script(CopyMachine.copy(start()))
    script.run()
    assert next(a for a in script.asked if isinstance(a, Lock)).path == checkpoint_source(TARGET, SOURCE)


def test_oss_copies_above_its_1_gb_single_copy_limit_in_parts() -> None:
    oss = CopyStart(dataclasses.replace(TARGET, dialect=OSS), CopyConfig(threshold=5 * 1024**3), "k", SOURCE)
    assert oss.threshold == 1024**3
    assert start(size_threshold=5 * 1024**3).threshold == 5 * 1024**3


@pytest.mark.parametrize("field, value", [("threshold", 5 * 1024**3 + 1), ("part_size", 0), ("metadata_directive", "COPY"), ("concurrency", 0)])
def test_a_bad_config_is_refused(field: str, value: Any) -> None:
    with pytest.raises(CosValidationError, match=field):
        CopyConfig(**{field: value})


