"""Part planning: how an object of a given size is cut into parts (pure, no I/O).

The rules come from :mod:`cos_multipart._protocol.limits`:

* "every part is 1 MB - 5 GB, the last part may be smaller than 1 MB" (Upload Part, 436/7750);
* "partNumber ... Value range: 1-10000" (Upload Part, 436/7750);
* "a multipart object is at most 48.82 TB" = 10000 x 5 GB (436/13324).

Automatic part size, by the object's size: :data:`DEFAULT_PART_SIZE` (8 MB); 16 MB from 1 GiB on
(:data:`~cos_multipart._core._defaults.LARGE_FILE_SIZE`: fewer idle round trips per byte on a long link); and
when the object needs more than 10,000 such parts, the smallest whole number of MB that fits in 10,000 parts. A part size given by the caller is
used as is when it is within the limits and fits in 10,000 parts; otherwise :class:`CosValidationError`.

An empty object plans as one empty part (a valid multipart upload: the last part may be smaller than 1 MB);
the uploader sends small objects, the empty one included, with a single PUT Object instead.

Streams of unknown length get a :class:`StreamPlan` (:func:`stream_plan`): parts need not be equal, so the
part size grows as the stream goes (it doubles every 1,000 parts from 8 MB: 7.8 TiB in 10,000 parts, the
last parts 4 GiB), and an optional expected size picks the size up front. See :func:`stream_plan` for the
schedule and its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional, Tuple

from .._protocol.errors import CosValidationError
from .._protocol.limits import MAX_OBJECT_SIZE, MAX_PART_NUMBER, MAX_PART_SIZE, MB, MIN_PART_SIZE
from ._defaults import DEFAULT_PART_SIZE as DEFAULT_PART_SIZE  # the part size used when the caller gives none
from ._defaults import LARGE_FILE_PART_SIZE, LARGE_FILE_SIZE

#: Deprecated (use :func:`stream_plan`): the largest stream :func:`stream_part_size` plans for by default,
#: 10,000 parts of the default size (78.1 GiB). A :class:`StreamPlan` carries 7.8 TiB by default.
DEFAULT_STREAM_MAX_SIZE = MAX_PART_NUMBER * DEFAULT_PART_SIZE

_PART_SIZE_RULE = (
    f"{MIN_PART_SIZE} (1 MB) to {MAX_PART_SIZE} (5 GB) bytes per part "
    "(Upload Part, 436/7750: every part is 1 MB - 5 GB)"
)


@dataclass(frozen=True)
class PartPlan:
    """How an object of ``size`` bytes is cut into ``count`` parts of ``part_size`` bytes (the last may be shorter).

    Attributes:
        size: Object size in bytes.
        part_size: Size of every part but the last.
        count: Number of parts (at least 1; an empty object is one empty part).
    """

    size: int
    part_size: int
    count: int

    def part(self, number: int) -> Tuple[int, int]:
        """Return ``(offset, length)`` of part ``number`` (1-based).

        Raises:
            CosValidationError: ``number`` is not a part of this plan.
        """
        if not 1 <= number <= self.count:
            raise CosValidationError("part_number", number, f"1 to {self.count} (parts of this plan)")
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)

    def ranges(self) -> Iterator[Tuple[int, int, int]]:
        """Yield ``(part_number, offset, length)`` of every part in order."""
        for number in range(1, self.count + 1):
            offset, length = self.part(number)
            yield number, offset, length

    @property
    def last_part_size(self) -> int:
        """Length of the last part."""
        return self.part(self.count)[1]


def plan_parts(
    size: int,
    part_size: Optional[int] = None,
    *,
    max_object_size: int = MAX_OBJECT_SIZE,
    min_part_size: int = MIN_PART_SIZE,
) -> PartPlan:
    """Plan the parts of an object of ``size`` bytes.

    Args:
        size: Object size in bytes (0 allowed).
        part_size: Bytes per part, or ``None`` for automatic sizing (8 MB, grown MB by MB when needed).
        max_object_size: Refuse objects larger than this (default: 10,000 x 5 GB, the COS maximum).
        min_part_size: The service's smallest part (a dialect's ``min_part_size``; COS's 1 MB by default).

    Returns:
        The plan.

    Raises:
        CosValidationError: ``size`` is negative or too large, ``part_size`` is outside 1 MB..5 GB, or
            ``part_size`` would need more than 10,000 parts. Nothing has been sent when this is raised.
    """
    _check_size(size, max_object_size)
    if part_size is None:
        part_size = automatic_part_size(size)
    else:
        _check_part_size(part_size, min_part_size)
        needed = _ceil_div(size, MAX_PART_NUMBER)
        if part_size < needed:
            raise CosValidationError(
                "part_size",
                part_size,
                f"at least {needed} bytes for a {size}-byte object "
                f"(at most {MAX_PART_NUMBER} parts: 'partNumber ... Value range: 1-10000', 436/7750)",
            )
    count = max(1, _ceil_div(size, part_size))
    return PartPlan(size=size, part_size=part_size, count=count)


def automatic_part_size(size: int) -> int:
    """The part size chosen when the caller gives none: 8 MB below 1 GiB, 16 MB from 1 GiB on, or the smallest
    whole MB that fits 10,000 parts when that is larger."""
    floor = LARGE_FILE_PART_SIZE if size >= LARGE_FILE_SIZE else DEFAULT_PART_SIZE
    return _automatic_part_size(size, MAX_PART_NUMBER, floor)


def _automatic_part_size(size: int, parts: int, floor: int = DEFAULT_PART_SIZE) -> int:
    # `floor`, or the smallest whole MB that carries `size` in `parts` parts, at most 5 GB.
    needed = _ceil_div(max(size, 0), parts)
    return min(MAX_PART_SIZE, max(floor, _ceil_div(needed, MB) * MB))


def stream_part_size(part_size: Optional[int] = None, *, max_size: int = DEFAULT_STREAM_MAX_SIZE) -> int:
    """The part size for a stream of unknown length that may grow up to ``max_size`` bytes.

    Deprecated: one size for every part stops a stream at 10,000 parts; use :func:`stream_plan`, whose parts
    grow. Kept, with its behaviour, for the callers that still use it.

    Args:
        part_size: Bytes per part, or ``None`` for automatic sizing.
        max_size: The largest stream to plan for; 10,000 parts of the result reach at least this size.

    Raises:
        CosValidationError: As :func:`plan_parts` for an object of ``max_size`` bytes.
    """
    if part_size is None:  # its behaviour before files of 1 GiB got 16 MB parts: a stream's parts are buffered
        part_size = _automatic_part_size(max_size, MAX_PART_NUMBER)
    return plan_parts(max_size, part_size).part_size


#: Parts per step of a :class:`StreamPlan`: the part size doubles every this many parts.
STREAM_GROWTH_PARTS = 1000
#: Doublings a default :class:`StreamPlan` makes after its first 1,000 parts: 8 MB x 2**9 = 4 GB, the last
#: power of two under the 5 GB part limit, reached by part 9,001.
STREAM_GROWTH_STEPS = 9
#: With an expected size and no part size, the part size is picked so that the expected size fits in this many
#: parts; the other 1,000 parts (at least) are left to grow into when the stream is longer than expected.
STREAM_EXPECTED_PARTS = MAX_PART_NUMBER - STREAM_GROWTH_PARTS


@dataclass(frozen=True)
class StreamPlan:
    """How a stream of unknown length is cut into parts whose size grows (pure; no I/O).

    Parts ``1..first_parts`` are ``part_size`` bytes. After them the size doubles every ``step`` parts:
    part ``first_parts + 1`` starts the first step at twice ``part_size`` rounded up to a whole MB, and so on,
    capped at 5 GB. Sizes never decrease, every size is within 1 MB..5 GB ("every part is 1 MB - 5 GB, the
    last part may be smaller", Upload Part, 436/7750), and there are at most 10,000 parts ("partNumber ...
    Value range: 1-10000", 436/7750). The stream's actual last part may be shorter than :meth:`part_size_of`
    says: it is simply where the stream ended.

    Build it with :func:`stream_plan`, which picks the numbers; the constructor checks them.

    Attributes:
        part_size: Size of the first parts in bytes (1 MB..5 GB).
        first_parts: How many parts have ``part_size`` (1..10,000).
        step: Parts per doubling after the first ones (1..10,000).
    """

    part_size: int
    first_parts: int
    step: int
    #: The service's smallest part (a dialect's ``min_part_size``), checked against ``part_size``.
    min_part_size: int = field(default=MIN_PART_SIZE, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_part_size(self.part_size, self.min_part_size)
        for name in ("first_parts", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PART_NUMBER:
                raise CosValidationError(name, value, f"a whole number of parts from 1 to {MAX_PART_NUMBER}")

    def part_size_of(self, number: int) -> int:
        """Size of part ``number`` (1..10,000) in bytes, in O(1).

        Raises:
            CosValidationError: ``number`` is outside 1..10,000; the message says how long a stream this plan
                carries (a stream that needs part 10,001 is longer than :attr:`capacity`).
        """
        self._check_number(number)
        return self._size_of_step(self._step_of(number))

    def offset_of(self, number: int) -> int:
        """Offset in the stream of the first byte of part ``number`` (1..10,000), in O(1).

        It is the sum of the sizes of parts ``1..number-1``.

        Raises:
            CosValidationError: As :meth:`part_size_of`.
        """
        self._check_number(number)
        step = self._step_of(number)
        if step == 0:
            return (number - 1) * self.part_size
        into_step = number - self.first_parts - 1 - (step - 1) * self.step
        return self._start_of_step(step) + into_step * self._size_of_step(step)

    @property
    def capacity(self) -> int:
        """The longest stream this plan carries: the sum of the sizes of parts 1..10,000, in bytes."""
        return self.offset_of(MAX_PART_NUMBER) + self.part_size_of(MAX_PART_NUMBER)

    @property
    def max_part_size(self) -> int:
        """The largest part this plan asks for (part 10,000's size): the memory one buffered part may need."""
        return self.part_size_of(MAX_PART_NUMBER)

    # Steps: 0 is the first parts; step s >= 1 holds parts first_parts + (s-1)*step + 1 .. first_parts + s*step.

    def _check_number(self, number: int) -> None:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_PART_NUMBER:
            raise CosValidationError(
                "part_number",
                number,
                f"1 to {MAX_PART_NUMBER} ('partNumber ... Value range: 1-10000', 436/7750); this stream plan "
                f"carries at most {self.capacity} bytes in {MAX_PART_NUMBER} parts: give a larger expected_size "
                "or part_size for a longer stream",
            )

    def _step_of(self, number: int) -> int:
        return 0 if number <= self.first_parts else (number - self.first_parts - 1) // self.step + 1

    @property
    def _growth_base(self) -> int:
        # Steps grow from the first size rounded up to a whole MB, so that every grown size is MB-aligned.
        return _ceil_div(self.part_size, MB) * MB

    @property
    def _capped_from(self) -> int:
        # The first step whose doubled size reaches 5 GB: 2**s >= k  <=>  s >= (k - 1).bit_length().
        return max(1, (_ceil_div(MAX_PART_SIZE, self._growth_base) - 1).bit_length())

    def _size_of_step(self, step: int) -> int:
        if step == 0:
            return self.part_size
        if step >= self._capped_from:
            return MAX_PART_SIZE
        return self._growth_base << step

    def _start_of_step(self, step: int) -> int:
        # Offset of the first part of `step` (>= 1): the first parts, then `step - 1` whole steps. Steps below
        # the cap sum as a geometric series, base * (2 + 4 + ... + 2**m) = base * (2**(m+1) - 2).
        whole = step - 1
        doubled = min(whole, self._capped_from - 1)
        grown = self._growth_base * ((1 << (doubled + 1)) - 2) + (whole - doubled) * MAX_PART_SIZE
        return self.first_parts * self.part_size + self.step * grown


def stream_plan(
    part_size: Optional[int] = None, *, expected_size: Optional[int] = None, min_part_size: int = MIN_PART_SIZE
) -> StreamPlan:
    """Plan the parts of a stream of unknown length, growing the part size so that long streams fit.

    Without ``expected_size``, parts 1..1,000 are ``part_size`` (default 8 MB) and the size doubles every
    1,000 parts after them, MB-aligned and capped at 5 GB. From 8 MB:

    ======  ===========  ==========================
    parts   part size    stream carried at the end
    ======  ===========  ==========================
    1-1000  8 MiB        7.8 GiB
    1001-   16 MiB       23.4 GiB
    2001-   32 MiB       54.7 GiB
    3001-   64 MiB       117 GiB
    4001-   128 MiB      242 GiB
    5001-   256 MiB      492 GiB
    6001-   512 MiB      992 GiB
    7001-   1 GiB        1.95 TiB
    8001-   2 GiB        3.90 TiB
    9001-   4 GiB        7.80 TiB (8,184,000 MiB)
    ======  ===========  ==========================

    Why this schedule: a part is buffered in memory, and from 8 MB a part after the first 1,000 is never more
    than 1/500 of what the stream has already delivered, so a small stream keeps small parts (a 1 GiB stream
    uses 8 MiB parts only) and memory grows with the stream, not ahead of it. The price is the reach: 7.8 TiB
    from 8 MB, not the 48.8 TB object limit. No growing schedule from 8 MB reaches 48.8 TB: that needs every
    one of the 10,000 parts at 5 GB. A larger start reaches further (64 MB: 22.4 TiB, parts capped at 5 GB
    from part 7,001); a stream known to be large should pass ``expected_size``.

    With ``expected_size``, the part size is picked up front: the given ``part_size``, checked like
    :func:`plan_parts` does (it must carry ``expected_size`` in 10,000 parts), or else 8 MB or the smallest whole
    MB that carries ``expected_size`` in 9,000 parts, leaving 1,000 parts of headroom. Every part up to
    ``expected_size`` has that size (and at least the first 1,000 do). If the stream turns out longer, the size
    still doubles over the parts that remain (every 1,000 parts, or in nine equal steps when fewer than 9,000
    remain), so a wrong guess is not fatal: expecting 1 TiB gives 117 MiB parts and carries 4.0 TiB; expecting
    100 GiB, 12 MiB parts and 1.8 TiB. An ``expected_size`` of 7.8 GiB or less (1,000 x 8 MB) gives the default
    plan; up to 70.3 GiB (9,000 x 8 MB) the parts stay 8 MB up to the expected size and grow faster after it.
    Above 43.9 TiB (9,000 x 5 GB) the headroom shrinks: 5 GB parts, and 48.8 TB is the end.

    Args:
        part_size: Size of the first parts in bytes (1 MB..5 GB), or ``None`` for automatic sizing.
        expected_size: The stream's expected length in bytes (0..48.8 TB), or ``None`` if unknown.

    Returns:
        The plan.

    Raises:
        CosValidationError: ``part_size`` is outside 1 MB..5 GB or cannot carry ``expected_size`` in 10,000
            parts, or ``expected_size`` is not a whole number of bytes from 0 to 10,000 x 5 GB.
    """
    if part_size is not None:
        _check_part_size(part_size, min_part_size)
    if expected_size is None:
        first_size = DEFAULT_PART_SIZE if part_size is None else part_size
        return StreamPlan(part_size=first_size, first_parts=STREAM_GROWTH_PARTS, step=STREAM_GROWTH_PARTS, min_part_size=min_part_size)
    if isinstance(expected_size, bool) or not isinstance(expected_size, int) or expected_size < 0:
        raise CosValidationError("expected_size", expected_size, "a whole number of bytes, 0 or more, or None")
    if expected_size > MAX_OBJECT_SIZE:
        raise CosValidationError(
            "expected_size",
            expected_size,
            f"at most {MAX_OBJECT_SIZE} bytes (a multipart object is at most 10000 x 5 GB, 436/13324)",
        )
    if part_size is None:
        part_size = _automatic_part_size(expected_size, STREAM_EXPECTED_PARTS)
    expected_parts = plan_parts(expected_size, part_size).count  # checks that part_size carries expected_size
    first_parts = max(expected_parts, STREAM_GROWTH_PARTS)
    remaining = MAX_PART_NUMBER - first_parts
    step = min(STREAM_GROWTH_PARTS, max(1, _ceil_div(remaining, STREAM_GROWTH_STEPS)))
    return StreamPlan(part_size=part_size, first_parts=first_parts, step=step, min_part_size=min_part_size)


def _check_size(size: int, max_object_size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise CosValidationError("size", size, "a whole number of bytes, 0 or more")
    limit = min(max_object_size, MAX_OBJECT_SIZE)
    if size > limit:
        raise CosValidationError(
            "size",
            size,
            f"at most {limit} bytes (a multipart object is at most 10000 x 5 GB, 436/13324)",
        )


def _check_part_size(part_size: int, minimum: int = MIN_PART_SIZE) -> None:
    rule = _PART_SIZE_RULE if minimum == MIN_PART_SIZE else _other_rule(minimum)
    if isinstance(part_size, bool) or not isinstance(part_size, int):
        raise CosValidationError("part_size", part_size, rule)
    if not minimum <= part_size <= MAX_PART_SIZE:
        raise CosValidationError("part_size", part_size, rule)


def _other_rule(minimum: int) -> str:
    return f"{minimum} ({minimum // 1024} KB) to {MAX_PART_SIZE} (5 GB) bytes per part (OSS UploadPart: 100 KB - 5 GB)"


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
