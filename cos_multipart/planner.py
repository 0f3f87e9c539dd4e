"""Part planning: how an object of a given size is cut into parts (pure, no I/O).

The rules come from :mod:`cos_multipart.limits`:

* "every part is 1 MB - 5 GB, the last part may be smaller than 1 MB" (Upload Part, 436/7750);
* "partNumber ... Value range: 1-10000" (Upload Part, 436/7750);
* "a multipart object is at most 48.82 TB" = 10000 x 5 GB (436/13324).

Automatic part size: :data:`DEFAULT_PART_SIZE` (8 MB) unless the object needs more than 10,000 such parts,
in which case the smallest whole number of MB that fits in 10,000 parts. A part size given by the caller is
used as is when it is within the limits and fits in 10,000 parts; otherwise :class:`CosValidationError`.

An empty object plans as one empty part (a valid multipart upload: the last part may be smaller than 1 MB);
the uploader sends small objects, the empty one included, with a single PUT Object instead.

Streams of unknown length are planned for a stated maximum size (:func:`stream_part_size`): the part size is
chosen so that 10,000 parts reach that size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

from .errors import CosValidationError
from .limits import MAX_OBJECT_SIZE, MAX_PART_NUMBER, MAX_PART_SIZE, MB, MIN_PART_SIZE

#: Part size used when the caller gives none and the object fits in 10,000 parts of this size.
DEFAULT_PART_SIZE = 8 * MB
#: Largest stream (unknown length) planned for by default: 10,000 parts of the default size (78.1 GiB).
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
    size: int, part_size: Optional[int] = None, *, max_object_size: int = MAX_OBJECT_SIZE
) -> PartPlan:
    """Plan the parts of an object of ``size`` bytes.

    Args:
        size: Object size in bytes (0 allowed).
        part_size: Bytes per part, or ``None`` for automatic sizing (8 MB, grown MB by MB when needed).
        max_object_size: Refuse objects larger than this (default: 10,000 x 5 GB, the COS maximum).

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
        _check_part_size(part_size)
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
    """The part size chosen when the caller gives none: 8 MB, or the smallest whole MB that fits 10,000 parts."""
    needed = _ceil_div(max(size, 0), MAX_PART_NUMBER)
    return min(MAX_PART_SIZE, max(DEFAULT_PART_SIZE, _ceil_div(needed, MB) * MB))


def stream_part_size(part_size: Optional[int] = None, *, max_size: int = DEFAULT_STREAM_MAX_SIZE) -> int:
    """The part size for a stream of unknown length that may grow up to ``max_size`` bytes.

    Args:
        part_size: Bytes per part, or ``None`` for automatic sizing.
        max_size: The largest stream to plan for; 10,000 parts of the result reach at least this size.

    Raises:
        CosValidationError: As :func:`plan_parts` for an object of ``max_size`` bytes.
    """
    return plan_parts(max_size, part_size).part_size


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


def _check_part_size(part_size: int) -> None:
    if isinstance(part_size, bool) or not isinstance(part_size, int):
        raise CosValidationError("part_size", part_size, _PART_SIZE_RULE)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise CosValidationError("part_size", part_size, _PART_SIZE_RULE)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
