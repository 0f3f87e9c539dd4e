"""Part planning: limits, automatic sizing, ranges covering the object exactly once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cos_multipart.errors import CosValidationError
from cos_multipart.limits import GB, MAX_OBJECT_SIZE, MAX_PART_NUMBER, MAX_PART_SIZE, MB, MIN_PART_SIZE
from cos_multipart.planner import (
    DEFAULT_PART_SIZE,
    DEFAULT_STREAM_MAX_SIZE,
    PartPlan,
    automatic_part_size,
    plan_parts,
    stream_part_size,
)


def test_empty_object_is_one_empty_part() -> None:
    plan = plan_parts(0)
    assert (plan.count, plan.part(1)) == (1, (0, 0))


@pytest.mark.parametrize(
    ("size", "count", "last"),
    [
        (1, 1, 1),
        (MB - 1, 1, MB - 1),
        (MB, 1, MB),
        (MB + 1, 2, 1),
        (3 * MB, 3, MB),
        (3 * MB + 5, 4, 5),
    ],
)
def test_boundaries_with_1mb_parts(size: int, count: int, last: int) -> None:
    plan = plan_parts(size, MB)
    assert plan.count == count
    assert plan.last_part_size == last


def test_default_part_size_is_8mb_for_ordinary_files() -> None:
    assert plan_parts(100 * MB).part_size == DEFAULT_PART_SIZE == 8 * MB


def test_automatic_size_grows_mb_aligned_until_10000_parts_fit() -> None:
    size = 100 * GB
    plan = plan_parts(size)
    assert plan.part_size % MB == 0
    assert plan.count <= MAX_PART_NUMBER
    # the smallest MB-aligned size that fits: one MB less would need more than 10,000 parts
    assert -(-size // (plan.part_size - MB)) > MAX_PART_NUMBER


def test_largest_object_fits_exactly() -> None:
    plan = plan_parts(MAX_OBJECT_SIZE)
    assert (plan.part_size, plan.count) == (MAX_PART_SIZE, MAX_PART_NUMBER)
    assert automatic_part_size(MAX_OBJECT_SIZE) == MAX_PART_SIZE


def test_object_too_large() -> None:
    with pytest.raises(CosValidationError) as info:
        plan_parts(MAX_OBJECT_SIZE + 1)
    assert info.value.field == "size"
    assert "436/13324" in info.value.allowed


def test_caller_cap_on_object_size() -> None:
    with pytest.raises(CosValidationError):
        plan_parts(11, max_object_size=10)


@pytest.mark.parametrize("bad", [MIN_PART_SIZE - 1, MAX_PART_SIZE + 1, 0, -1, True, 1.5, "8MB"])
def test_part_size_outside_limits(bad: object) -> None:
    with pytest.raises(CosValidationError) as info:
        plan_parts(10 * MB, bad)  # type: ignore[arg-type]
    error = info.value
    assert error.field == "part_size" and error.value == bad
    assert "1 MB" in error.allowed and "5 GB" in error.allowed


def test_part_size_needing_more_than_10000_parts() -> None:
    with pytest.raises(CosValidationError) as info:
        plan_parts(10_001 * MB, MB)
    assert info.value.field == "part_size"
    assert "10000" in info.value.allowed
    assert plan_parts(10_000 * MB, MB).count == 10_000


@pytest.mark.parametrize("bad", [-1, True, 2.0])
def test_bad_size(bad: object) -> None:
    with pytest.raises(CosValidationError) as info:
        plan_parts(bad)  # type: ignore[arg-type]
    assert info.value.field == "size"


def test_part_outside_plan() -> None:
    plan = plan_parts(3 * MB, MB)
    for number in (0, 4):
        with pytest.raises(CosValidationError):
            plan.part(number)


def test_plan_is_frozen() -> None:
    plan = plan_parts(MB)
    with pytest.raises(AttributeError):
        plan.count = 2  # type: ignore[misc]


def test_stream_part_size_reaches_the_stated_maximum() -> None:
    assert stream_part_size() == DEFAULT_PART_SIZE
    assert stream_part_size() * MAX_PART_NUMBER >= DEFAULT_STREAM_MAX_SIZE
    big = 1024 * GB
    size = stream_part_size(max_size=big)
    assert size % MB == 0 and size * MAX_PART_NUMBER >= big
    with pytest.raises(CosValidationError):
        stream_part_size(MB, max_size=big)


@given(
    size=st.integers(min_value=0, max_value=MAX_OBJECT_SIZE),
    part_size=st.one_of(st.none(), st.integers(min_value=MIN_PART_SIZE, max_value=MAX_PART_SIZE)),
)
def test_parts_cover_the_object_exactly(size: int, part_size: int) -> None:
    try:
        plan = plan_parts(size, part_size)
    except CosValidationError:
        assert part_size is not None and part_size * MAX_PART_NUMBER < size
        return
    assert isinstance(plan, PartPlan)
    assert 1 <= plan.count <= MAX_PART_NUMBER
    assert MIN_PART_SIZE <= plan.part_size <= MAX_PART_SIZE
    first_offset, _ = plan.part(1)
    last_offset, last_length = plan.part(plan.count)
    assert first_offset == 0
    assert last_offset + last_length == size
    assert 0 < last_length <= plan.part_size or size == 0
    if plan.count > 1:
        assert plan.part(2)[0] == plan.part_size


def test_ranges_are_contiguous() -> None:
    plan = plan_parts(5 * MB + 3, MB)
    expected = 0
    numbers = []
    for number, offset, length in plan.ranges():
        assert offset == expected
        expected += length
        numbers.append(number)
    assert expected == plan.size and numbers == list(range(1, 7))
