"""What a presigned upload's completion checks (issue 26), as pure functions over values.

Before Complete, List Parts against the plan (every part present, each of its planned size, nothing else) and
against what the client reported (its own CRC-64 of each part, and the ETag the service answered it, so a part
sent again after the report is caught); after Complete, the object's size and CRC-64 against the plan's size and
the part CRCs combined. The service's own per-part CRC-64 is compared where List Parts carries it (OSS's
``HashCrc64ecma``); COS lists none, so there the reported values are checked by the combined CRC of the object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .._protocol.checksum import crc64_combine_all, normalize_etag
from .._protocol.errors import CosValidationError
from .._protocol.models import PartInfo
from .presigned import PresignedUpload

#: A problem: ``(part number, what, expected, got)`` (see :class:`~cos_multipart.PresignedPartsError`).
Problem = Tuple[int, str, Any, Any]
_CRC_RULE = "the part's CRC-64/XZ as a decimal integer or string, 0 to 2**64-1"


@dataclass(frozen=True)
class ReportedPart:
    """What the client says it sent as part ``number``: the CRC-64 it computed of the bytes, and the ETag the
    service answered (``None`` when the client could not read it)."""

    number: int
    crc64: int
    etag: Optional[str] = None


def reported_parts(state: PresignedUpload, reports: Iterable[Any]) -> Dict[int, ReportedPart]:
    """The client's reports checked and keyed by part number: :class:`ReportedPart` values, or mappings with
    ``part`` (or ``number``), ``crc64`` (decimal text: JavaScript's numbers cannot hold 64 bits) and ``etag``.

    Raises:
        CosValidationError: A report is malformed, names a part outside the plan or names one twice.
    """
    found: Dict[int, ReportedPart] = {}
    for report in reports:
        part = report if isinstance(report, ReportedPart) else _from_mapping(report)
        if not isinstance(part.number, int) or isinstance(part.number, bool) or not 1 <= part.number <= state.plan.count:
            raise CosValidationError("reported part", part.number, f"a part number from 1 to {state.plan.count}")
        if part.number in found:
            raise CosValidationError("reported part", part.number, "each part reported once")
        found[part.number] = part
    return found


def _from_mapping(report: Any) -> ReportedPart:
    if not isinstance(report, Mapping):
        raise CosValidationError("reported part", type(report).__name__, "a mapping with part, crc64 and etag")
    number = report.get("part", report.get("number"))
    crc = report.get("crc64")
    try:
        value = int(crc) if isinstance(crc, (int, str)) and not isinstance(crc, bool) else -1
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 64:
        raise CosValidationError(f"reported part {number} crc64", crc, _CRC_RULE)
    etag = report.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise CosValidationError(f"reported part {number} etag", etag, "the ETag text the service answered")
    return ReportedPart(number, value, etag)


def part_problems(state: PresignedUpload, listed: Sequence[PartInfo], reported: Mapping[int, ReportedPart]) -> List[Problem]:
    """Every way the parts the service holds (``listed``) differ from the plan and the reports, in part order."""
    plan = state.plan
    held = {part.part_number: part for part in listed}
    problems: List[Problem] = []
    for number, _, length in plan.ranges():
        part = held.get(number)
        if part is None:
            problems.append((number, "missing", length, None))
            continue
        if part.size != length:
            problems.append((number, "size", length, part.size))
        problems.extend(_report_problems(number, part, reported.get(number)))
    problems.extend((number, "extra", None, held[number].size) for number in sorted(held) if number > plan.count)
    return sorted(problems, key=lambda problem: problem[0])


def _report_problems(number: int, part: PartInfo, report: Optional[ReportedPart]) -> List[Problem]:
    if report is None:
        return []
    problems: List[Problem] = []
    if report.etag is not None and normalize_etag(report.etag) != normalize_etag(part.etag):
        problems.append((number, "etag", report.etag, part.etag))  # sent again after the report
    service_crc = part.crc64
    if service_crc is not None and service_crc != report.crc64:
        problems.append((number, "crc64", report.crc64, service_crc))
    return problems


def part_crc64s(state: PresignedUpload, listed: Sequence[PartInfo], reported: Mapping[int, ReportedPart]) -> Optional[List[Tuple[int, int]]]:
    """``(crc64, size)`` of every planned part, from the service's listing or else the client's report; ``None``
    when some part has neither (the object's CRC-64 cannot be predicted)."""
    held = {part.part_number: part for part in listed}
    values: List[Tuple[int, int]] = []
    for number, _, length in state.plan.ranges():
        listed_part = held.get(number)
        crc = listed_part.crc64 if listed_part is not None else None
        if crc is None and number in reported:
            crc = reported[number].crc64
        if crc is None:
            return None
        values.append((crc, length))
    return values


def unreported_parts(state: PresignedUpload, listed: Sequence[PartInfo], reported: Mapping[int, ReportedPart]) -> List[Problem]:
    """``(number, "unreported", None, None)`` for every planned part whose CRC-64 is known neither from the
    service's listing nor from the client's report (the object's CRC-64 could not be checked)."""
    held = {part.part_number: part for part in listed}
    return [
        (number, "unreported", None, None)
        for number, _, _ in state.plan.ranges()
        if number not in reported and (held[number].crc64 if number in held else None) is None
    ]


def expected_crc64(state: PresignedUpload, listed: Sequence[PartInfo], reported: Mapping[int, ReportedPart]) -> Optional[int]:
    """The CRC-64 the completed object must have, or ``None`` when it cannot be predicted."""
    values = part_crc64s(state, listed, reported)
    return None if values is None else crc64_combine_all(values)


def object_problem(state: PresignedUpload, expected: Optional[int], size: Optional[int], crc64: Optional[int]) -> Optional[Tuple[str, Any, Any]]:
    """``(what, expected, got)`` when the completed object's ``size`` or ``crc64`` is wrong, else ``None``.
    A missing CRC-64 is wrong when one was expected (the service computes it for every part it stores)."""
    if size is not None and size != state.size:
        return ("size", state.size, size)
    if expected is not None and crc64 != expected:
        return ("crc64", expected, crc64)
    return None
