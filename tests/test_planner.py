"""Part planning: limits, automatic sizing, ranges covering the object exactly once."""

from __future__ import annotations

import pickle
from typing import Dict, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.limits import GB, MAX_OBJECT_SIZE, MAX_PART_NUMBER, MAX_PART_SIZE, MB, MIN_PART_SIZE
from cos_multipart._core.planner import (
    DEFAULT_PART_SIZE,
    DEFAULT_STREAM_MAX_SIZE,
    PartPlan,
    StreamPlan,
    automatic_part_size,
    plan_parts,
    stream_part_size,
    stream_plan,
)

TiB = 1024 * GB


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


def test_files_of_1gib_or_more_get_16mb_parts() -> None:
    # An HTTP/1.1 connection idles one round trip per part: larger parts keep a long link busier (issue 25).
    assert plan_parts(1024 * MB - 1).part_size == 8 * MB
    assert plan_parts(1024 * MB).part_size == 16 * MB
    assert plan_parts(20 * GB).part_size == 16 * MB
    assert automatic_part_size(1024 * MB) == 16 * MB


def test_a_given_part_size_is_kept_for_a_large_file() -> None:
    assert plan_parts(4 * GB, 8 * MB).part_size == 8 * MB


def test_automatic_size_grows_mb_aligned_until_10000_parts_fit() -> None:
    size = 200 * GB
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


# --- Streams of unknown length: growing parts ---------------------------------------------------------


def test_default_stream_plan_doubles_every_1000_parts_from_8mb() -> None:
    plan = stream_plan()
    assert plan == StreamPlan(part_size=8 * MB, first_parts=1000, step=1000)
    sizes = {number: plan.part_size_of(number) for number in (1, 1000, 1001, 2001, 4001, 5000, 9000, 9001, 10_000)}
    assert sizes == {
        1: 8 * MB,
        1000: 8 * MB,
        1001: 16 * MB,
        2001: 32 * MB,
        4001: 128 * MB,
        5000: 128 * MB,
        9000: 2 * GB,
        9001: 4 * GB,
        10_000: 4 * GB,
    }
    assert plan.offset_of(1) == 0
    assert plan.offset_of(1001) == 1000 * 8 * MB
    assert plan.offset_of(2001) == 1000 * 8 * MB + 1000 * 16 * MB
    # 1000 x 8 MB x (1 + 2 + ... + 512): 7.8 TiB, far more than the 78 GiB of one 8 MB size
    assert plan.capacity == 8_184_000 * MB
    assert round(plan.capacity / TiB, 2) == 7.80
    assert plan.max_part_size == 4 * GB


@pytest.mark.parametrize(
    ("part_size", "capacity", "largest", "capped_from"),
    [
        (MB, 1_023_000 * MB, 512 * MB, None),
        (64 * MB, 1000 * 8128 * MB + 3000 * 5 * GB, 5 * GB, 7001),
        (5 * GB, MAX_OBJECT_SIZE, 5 * GB, 1),
    ],
)
def test_stream_plan_from_a_given_part_size(
    part_size: int, capacity: int, largest: int, capped_from: Optional[int]
) -> None:
    plan = stream_plan(part_size)
    assert plan.part_size_of(1) == part_size
    assert plan.capacity == capacity and plan.max_part_size == largest
    if capped_from is not None:
        assert plan.part_size_of(capped_from) == MAX_PART_SIZE
        assert capped_from == 1 or plan.part_size_of(capped_from - 1) < MAX_PART_SIZE


def test_unaligned_part_size_is_kept_and_the_grown_sizes_are_mb_aligned() -> None:
    plan = stream_plan(5_000_000)
    assert plan.part_size_of(1000) == 5_000_000
    assert plan.part_size_of(1001) == 10 * MB  # 2 x 5,000,000 rounded up to 5 MB first
    assert plan.offset_of(1002) == 1000 * 5_000_000 + 10 * MB


@pytest.mark.parametrize(
    ("expected", "part_size", "first_parts", "step", "capacity_at_least"),
    [
        (GB, 8 * MB, 1000, 1000, 7 * TiB),  # small: the default plan
        (50 * GB, 8 * MB, 6400, 400, 3 * TiB),
        (100 * GB, 12 * MB, 8534, 163, 1.8 * TiB),  # 9,000 x 12 MB >= 100 GiB > 9,000 x 11 MB
        (TiB, 117 * MB, 8963, 116, 4 * TiB),
        (MAX_OBJECT_SIZE, 5 * GB, 10_000, 1, MAX_OBJECT_SIZE),
    ],
)
def test_expected_size_picks_the_part_size_up_front_and_still_grows(
    expected: int, part_size: int, first_parts: int, step: int, capacity_at_least: float
) -> None:
    plan = stream_plan(expected_size=expected)
    assert (plan.part_size, plan.first_parts, plan.step) == (part_size, first_parts, step)
    assert plan.offset_of(first_parts) + part_size >= expected  # the expected bytes all in first-size parts
    assert plan.capacity >= capacity_at_least


def test_expected_size_with_a_given_part_size() -> None:
    plan = stream_plan(64 * MB, expected_size=100 * GB)
    assert (plan.part_size, plan.first_parts) == (64 * MB, 1600)
    with pytest.raises(CosValidationError) as info:
        stream_plan(MB, expected_size=100 * GB)
    assert info.value.field == "part_size" and "10000" in info.value.allowed


@pytest.mark.parametrize("bad", [-1, True, 1.5, "1G", MAX_OBJECT_SIZE + 1])
def test_bad_expected_size(bad: object) -> None:
    with pytest.raises(CosValidationError) as info:
        stream_plan(expected_size=bad)  # type: ignore[arg-type]
    assert info.value.field == "expected_size" and info.value.value == bad
    assert "bytes" in info.value.allowed


@pytest.mark.parametrize("bad", [MIN_PART_SIZE - 1, MAX_PART_SIZE + 1, 0, True, 1.5])
def test_bad_stream_part_size(bad: object) -> None:
    for expected in (None, GB):
        with pytest.raises(CosValidationError) as info:
            stream_plan(bad, expected_size=expected)  # type: ignore[arg-type]
        assert info.value.field == "part_size" and "1 MB" in info.value.allowed


@pytest.mark.parametrize("number", [0, 10_001, -1, True])
def test_part_number_outside_the_plan_names_the_capacity(number: int) -> None:
    plan = stream_plan()
    for method in (plan.part_size_of, plan.offset_of):
        with pytest.raises(CosValidationError) as info:
            method(number)
        assert info.value.field == "part_number"
        assert str(plan.capacity) in info.value.allowed and "expected_size" in info.value.allowed


@pytest.mark.parametrize(
    "fields", [{"part_size": MB - 1}, {"first_parts": 0}, {"step": 10_001}, {"first_parts": True}]
)
def test_stream_plan_checks_its_fields(fields: Dict[str, int]) -> None:
    values = {"part_size": 8 * MB, "first_parts": 1000, "step": 1000, **fields}
    with pytest.raises(CosValidationError) as info:
        StreamPlan(**values)
    assert info.value.field == next(iter(fields))


def test_stream_plan_is_a_frozen_value() -> None:
    plan = stream_plan()
    with pytest.raises(AttributeError):
        plan.step = 1  # type: ignore[misc]
    assert plan == stream_plan(8 * MB) and hash(plan) == hash(stream_plan(8 * MB))
    assert pickle.loads(pickle.dumps(plan)) == plan


@settings(max_examples=60, deadline=None)
@given(
    part_size=st.one_of(
        st.none(),
        st.integers(min_value=1, max_value=5 * 1024).map(lambda mb: mb * MB),
        st.integers(min_value=MIN_PART_SIZE, max_value=MAX_PART_SIZE),
    ),
    expected=st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_OBJECT_SIZE)),
)
def test_stream_plan_properties(part_size: Optional[int], expected: Optional[int]) -> None:
    try:
        plan = stream_plan(part_size, expected_size=expected)
    except CosValidationError as error:
        assert error.field == "part_size"
        assert part_size is not None and expected is not None and part_size * MAX_PART_NUMBER < expected
        return
    offset = 0
    previous = 0
    for number in range(1, MAX_PART_NUMBER + 1):
        size = plan.part_size_of(number)
        assert plan.offset_of(number) == offset  # offsets are the prefix sums of the sizes
        assert MIN_PART_SIZE <= size <= MAX_PART_SIZE
        assert size >= previous  # sizes never shrink
        if part_size is None or part_size % MB == 0 or number > plan.first_parts:
            assert size % MB == 0
        if number <= plan.first_parts:
            assert size == plan.part_size
        offset += size
        previous = size
    assert plan.capacity == offset and plan.max_part_size == previous
    if part_size is not None:
        assert plan.part_size == part_size
    if expected is None:
        assert plan.first_parts == plan.step == 1000
        if part_size is None:
            assert plan == stream_plan()
    else:
        # every expected byte is carried by parts of the size picked up front, and the plan reaches further
        assert plan.first_parts * plan.part_size >= expected
        assert plan.capacity >= expected
        if part_size is None:
            # 8 MB, or the smallest whole MB that carries the expected size in 9,000 parts, at most 5 GB
            per_part = -(-expected // 9000)
            assert plan.part_size == min(MAX_PART_SIZE, max(DEFAULT_PART_SIZE, -(-per_part // MB) * MB))
            if expected <= 9000 * MAX_PART_SIZE:
                assert plan.first_parts <= 9000  # at least 1,000 parts kept to grow into
