"""The pure core of presigned uploads (issue 26): the state, the plan, and every check, without sockets."""

from __future__ import annotations

import json
from typing import Any, List

import pytest

from cos_multipart import PartInfo, crc64, crc64_combine
from cos_multipart._core._machine import Machine
from cos_multipart._core._actions import Abort, Complete, DeleteObject, Head, ListParts
from cos_multipart._core._presigned_checks import ReportedPart, expected_crc64, object_problem, part_problems, reported_parts
from cos_multipart._core._presigned_flow import PresignedResult, abort_flow, complete_flow
from cos_multipart._core._presigned_start import part_url, start_request, wanted_parts
from cos_multipart._core.presigned import PresignedUpload, abandoned
from cos_multipart._protocol.errors import CosIntegrityError, CosServiceError, CosValidationError, PresignedPartsError
from cos_multipart._protocol.models import CompleteResult, ObjectResult, ResponseInfo
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._protocol.sse import SseC

MB = 1024 * 1024
DATA = bytes(range(256)) * (10 * 1024 + 3)  # 2.5 MiB and a bit: three parts of 1 MiB
SIZE = len(DATA)


def state(**changes: Any) -> PresignedUpload:
    fields = dict(service="cos", bucket="b-1250000000", key="k", upload_id="u1", size=SIZE, part_size=MB,
                  started_at=100, expires_at=200, options_digest="d")  # fmt: skip
    fields.update(changes)
    return PresignedUpload(**fields)  # type: ignore[arg-type]


def listed(crcs: bool = False) -> List[PartInfo]:
    parts = []
    for number, offset, length in state().plan.ranges():
        body = DATA[offset : offset + length]
        parts.append(PartInfo(number, f'"e{number}"', length, crc64=crc64(body) if crcs else None))
    return parts


def reports(etags: bool = True) -> List[dict[str, Any]]:
    return [
        {"part": n, "crc64": str(crc64(DATA[o : o + length])), **({"etag": f'"e{n}"'} if etags else {})}
        for n, o, length in state().plan.ranges()
    ]


def test_state_round_trips_through_json_and_holds_no_secret() -> None:
    made = state(part_md5s=("1B2M2Y8AsgTpgAmY7PhCfg==",) * 3)
    assert PresignedUpload.from_json(made.dumps()) == made
    assert PresignedUpload.from_json(json.loads(made.dumps())) == made
    assert made.plan.count == 3 and made.plan.last_part_size == SIZE - 2 * MB
    with pytest.raises(AttributeError):
        made.key = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "change, field",
    [({"schema": "x"}, "state"), ({"size": -1}, "state.size"), ({"key": ""}, "state.key"),
     ({"part_size": 0}, "state.part_size"), ({"part_md5s": ["zz"]}, "part_md5s")],
)  # fmt: skip
def test_state_from_json_names_the_bad_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(CosValidationError) as caught:
        PresignedUpload.from_json(state().to_json() | change)
    assert caught.value.field.startswith(field)
    with pytest.raises(CosValidationError):
        PresignedUpload.from_json("{not json")


def test_start_request_checks_every_argument_against_the_limits() -> None:
    made = start_request("a.mp4", size=SIZE, part_size=MB, expires=60, abandon_after=None, options=None, part_md5s=(), min_part_size=MB)
    assert made.part_size == MB and made.options.content_type == "video/mp4" and made.abandon_after == 24 * 3600
    bad: List[tuple[dict[str, Any], str]] = [
        ({"size": SIZE, "part_size": MB - 1}, "part_size"),
        ({"size": 10_001 * MB, "part_size": MB}, "part_size"),
        ({"size": SIZE, "part_size": MB, "expires": 604_801}, "expires"),
        ({"size": SIZE, "part_size": MB, "abandon_after": 10}, "abandon_after"),
        ({"size": SIZE, "part_size": MB, "options": ObjectOptions(encryption=SseC(b"k" * 32))}, "encryption"),
        ({"size": SIZE, "part_size": MB, "part_md5s": ["1B2M2Y8AsgTpgAmY7PhCfg=="]}, "part_md5s"),
    ]
    for arguments, field in bad:
        merged: dict[str, Any] = {"part_size": None, "expires": 60, "abandon_after": None, "options": None, "part_md5s": (), **arguments}
        with pytest.raises(CosValidationError) as caught:
            start_request("a", min_part_size=MB, **merged)
        assert caught.value.field == field
        assert "k" * 32 not in str(caught.value)


def test_oss_minimum_part_size_is_the_dialects() -> None:
    made = start_request("a", size=SIZE, part_size=100 * 1024, expires=60, abandon_after=None, options=None, part_md5s=(), min_part_size=100 * 1024)
    assert made.part_size == 100 * 1024


def test_parts_checked_against_the_plan() -> None:
    parts = listed()
    assert part_problems(state(), parts, {}) == []
    assert part_problems(state(), parts[:1] + parts[2:], {}) == [(2, "missing", MB, None)]
    wrong = [parts[0], PartInfo(2, '"e2"', MB - 1), parts[2], PartInfo(4, '"x"', 5)]
    assert part_problems(state(), wrong, {}) == [(2, "size", MB, MB - 1), (4, "extra", None, 5)]


def test_reports_checked_against_the_listing() -> None:
    got = reported_parts(state(), reports())
    assert part_problems(state(), listed(), got) == []
    moved = [PartInfo(p.part_number, '"other"' if p.part_number == 2 else p.etag, p.size) for p in listed()]
    assert part_problems(state(), moved, got) == [(2, "etag", '"e2"', '"other"')]
    # where the service lists CRCs (OSS), a report that differs is named
    wrong = reported_parts(state(), [{"part": 3, "crc64": "5"}])
    assert part_problems(state(), listed(crcs=True), wrong) == [(3, "crc64", 5, listed(crcs=True)[2].crc64)]


@pytest.mark.parametrize(
    "report, field",
    [({"part": 4, "crc64": "1"}, "reported part"), ({"part": 1, "crc64": "-1"}, "reported part 1 crc64"),
     ({"part": 1, "crc64": str(1 << 64)}, "reported part 1 crc64"), ({"part": 1, "crc64": "1", "etag": 5}, "reported part 1 etag"),
     ("x", "reported part")],
)  # fmt: skip
def test_bad_reports_are_refused(report: Any, field: str) -> None:
    with pytest.raises(CosValidationError) as caught:
        reported_parts(state(), [report])
    assert caught.value.field == field
    with pytest.raises(CosValidationError):
        reported_parts(state(), [{"part": 1, "crc64": 1}, ReportedPart(1, 1)])


def test_expected_crc_combines_reports_or_the_listing() -> None:
    whole = crc64(DATA)
    assert expected_crc64(state(), listed(), reported_parts(state(), reports())) == whole
    assert expected_crc64(state(), listed(crcs=True), {}) == whole
    assert expected_crc64(state(), listed(), {}) is None
    assert crc64_combine(crc64(DATA[:MB]), crc64(DATA[MB:]), SIZE - MB) == whole
    assert object_problem(state(), whole, SIZE, whole) is None
    assert object_problem(state(), whole, SIZE - 1, whole) == ("size", SIZE, SIZE - 1)
    assert object_problem(state(), whole, SIZE, None) == ("crc64", whole, None)
    assert object_problem(state(), None, SIZE, None) is None


def run(flow: Any, answers: dict[type, Any]) -> tuple[List[Any], Any]:
    machine, seen = Machine(flow), []
    for action in machine.steps():
        seen.append(action)
        machine.receive(action, answers[type(action)])
    try:
        return seen, machine.value()
    except Exception as error:  # noqa: BLE001 - the test looks at it
        return seen, error


def answers(object_crc: int | None) -> dict[type, Any]:
    info = ResponseInfo(200, "r1")
    return {
        ListParts: listed(), Abort: None, DeleteObject: None,
        Complete: CompleteResult("l", "b", "k", '"x-3"', object_crc, None, info),
        Head: ObjectResult("k", '"x-3"', object_crc, SIZE, None, info),
    }  # fmt: skip


def test_flow_completes_and_verifies() -> None:
    seen, result = run(complete_flow(state(), reported_parts(state(), reports()), abort_on_mismatch=False), answers(crc64(DATA)))
    assert [type(a) for a in seen] == [ListParts, Complete, Head]
    assert isinstance(result, PresignedResult) and result.crc64_verified and result.crc64 == crc64(DATA)
    assert [p.part_number for p in seen[1].parts] == [1, 2, 3]


def test_flow_never_completes_wrong_parts() -> None:
    table = answers(crc64(DATA)) | {ListParts: listed()[:2]}
    seen, error = run(complete_flow(state(), {}, abort_on_mismatch=True), table)
    assert [type(a) for a in seen] == [ListParts, Abort]
    assert isinstance(error, PresignedPartsError) and error.aborted and error.part_number == 3
    assert "part 3: missing" in str(error) and "upload aborted" in str(error)
    seen, error = run(complete_flow(state(), {}, abort_on_mismatch=False), table)
    assert [type(a) for a in seen] == [ListParts] and not error.aborted


def test_flow_deletes_a_completed_object_whose_crc_is_wrong() -> None:
    seen, error = run(complete_flow(state(), reported_parts(state(), reports()), abort_on_mismatch=False), answers(12345))
    assert [type(a) for a in seen] == [ListParts, Complete, Head, DeleteObject]
    assert isinstance(error, CosIntegrityError) and error.what == "crc64" and "deleted" in error.outcome


def test_abort_flow_tolerates_a_gone_upload() -> None:
    gone = CosServiceError(404, "NoSuchUpload", "gone")
    assert run(abort_flow(state()), {Abort: None})[1] is True
    assert run(abort_flow(state()), {Abort: gone})[1] is False


def test_wanted_parts_and_urls() -> None:
    assert wanted_parts(state(), None) == (1, 2, 3)
    with pytest.raises(CosValidationError):
        wanted_parts(state(), [4])
    url = part_url(state(), 3, ("http://h/k?x", {"Content-MD5": "m"}), 500)
    assert (url.offset, url.size) == (2 * MB, SIZE - 2 * MB) and url.to_json()["headers"] == {"Content-MD5": "m"}
    assert abandoned(state(), 200) and not abandoned(state(), 199)


def test_require_crc64_names_parts_without_a_known_crc() -> None:
    partial = reported_parts(state(), reports()[:2])
    seen, error = run(complete_flow(state(), partial, abort_on_mismatch=False, require_crc64=True), answers(crc64(DATA)))
    assert [type(a) for a in seen] == [ListParts]
    assert isinstance(error, PresignedPartsError) and error.problems == ((3, "unreported", None, None),)
    table = answers(crc64(DATA)) | {ListParts: listed(crcs=True)}  # OSS lists them: nothing to report
    seen, result = run(complete_flow(state(), {}, abort_on_mismatch=False, require_crc64=True), table)
    assert isinstance(result, PresignedResult) and result.crc64_verified


def test_presigned_parts_error_pickles_and_reads() -> None:
    import pickle

    error = PresignedPartsError([(2, "missing", 5, None), (4, "extra", None, 1)], aborted=True, request_id="r")
    again = pickle.loads(pickle.dumps(error))
    assert again.problems == error.problems and again.aborted and str(again) == str(error)
    assert isinstance(again, CosIntegrityError) and again.part_number == 2 and again.what == "missing"


def test_stale_uploads_and_older_than() -> None:
    import datetime

    from cos_multipart import UploadInfo
    from cos_multipart._core._presigned_start import older_than, stale_uploads

    at = datetime.datetime.fromtimestamp(1000, datetime.timezone.utc)
    listed = [UploadInfo("a", "1", at), UploadInfo("b", "2", None), UploadInfo("c", "3", at + datetime.timedelta(seconds=50))]
    assert stale_uploads(listed, 10, 1020) == [("a", "1")]
    assert stale_uploads(listed, 0, 1050) == [("a", "1"), ("c", "3")]
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(CosValidationError):
            older_than(bad)


def test_complete_answered_no_such_upload_is_accepted_when_the_object_matches() -> None:
    gone = CosServiceError(404, "NoSuchUpload", "The specified upload does not exist.")
    reports_ = reported_parts(state(), reports())
    table = answers(crc64(DATA)) | {Complete: gone}
    seen, result = run(complete_flow(state(), reports_, abort_on_mismatch=False), table)
    assert [type(a) for a in seen] == [ListParts, Complete, Head, Head]
    assert isinstance(result, PresignedResult) and result.crc64 == crc64(DATA)
    seen, error = run(complete_flow(state(), reports_, abort_on_mismatch=False), answers(12345) | {Complete: gone})
    assert error is gone and [type(a) for a in seen] == [ListParts, Complete, Head]
    seen, error = run(complete_flow(state(), {}, abort_on_mismatch=False), table)  # nothing to recognise it by
    assert error is gone and [type(a) for a in seen] == [ListParts, Complete]


def test_sync_and_async_classes_offer_the_same_methods_and_arguments() -> None:
    import inspect

    from cos_multipart import PresignedUploads
    from cos_multipart.aio import AsyncPresignedUploads

    def methods(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")
        }

    assert methods(PresignedUploads) == methods(AsyncPresignedUploads)
    assert list(inspect.signature(PresignedUploads).parameters) == list(inspect.signature(AsyncPresignedUploads).parameters)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
else:

    @settings(max_examples=60, deadline=None)
    @given(st.binary(min_size=0, max_size=5000), st.integers(min_value=1, max_value=700), st.data())
    def test_checks_hold_for_any_split(data: bytes, part_size: int, draw: Any) -> None:
        made = state(size=len(data), part_size=part_size)
        ranges = list(made.plan.ranges())
        parts = [PartInfo(n, f'"{n}"', length) for n, _, length in ranges]
        reported = reported_parts(made, [{"part": n, "crc64": crc64(data[o : o + length]), "etag": f'"{n}"'} for n, o, length in ranges])
        assert part_problems(made, parts, reported) == []
        assert expected_crc64(made, parts, reported) == crc64(data)
        dropped = draw.draw(st.integers(min_value=1, max_value=len(ranges)))
        problems = part_problems(made, [p for p in parts if p.part_number != dropped], reported)
        assert problems == [(dropped, "missing", ranges[dropped - 1][2], None)]
