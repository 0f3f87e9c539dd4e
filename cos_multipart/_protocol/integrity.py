"""The integrity scheme a dialect checks parts and objects with, as a value.

COS and OSS both answer CRC-64/XZ ("crc64ecma") for each part and for the object, so the one instance today
is :data:`CRC64_ECMA`. Everything that hashes, combines or reads that checksum goes through an
:class:`IntegrityScheme`, so that a service with another checksum (CRC-32C, CRC-64/NVME, ...) is a new value
on its :class:`~cos_multipart._protocol.dialect.Dialect`, not a rewrite of the readers, the session or the
parsers.

The values stay plain ``int``\\ s and the public fields that carry them keep the name ``crc64``
(:class:`~cos_multipart.PartReceipt`, results, checkpoints): renaming them would break the public API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

from .checksum import Buffer, crc64, crc64_combine

__all__ = ["CRC64_ECMA", "IntegrityScheme"]

#: ``(bytes, value of what came before) -> value of both``.
Update = Callable[[Buffer, int], int]
#: ``(value of A, value of B, len(B)) -> value of A || B``.
Combine = Callable[[int, int, int], int]


def _parse_decimal64(text: str) -> Optional[int]:
    """An unsigned 64-bit decimal, or ``None`` when ``text`` is not one."""
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value < 1 << 64 else None


@dataclass(frozen=True)
class IntegrityScheme:
    """One checksum: how it is computed, combined, and read from an answer's headers.

    Attributes:
        name: The scheme's name, e.g. ``"crc64ecma"``.
        header: The neutral (``x-cos-*``) response header that carries it; the dialect renames it on the wire.
        update: Continue the checksum: ``update(data, value)`` is the value of the bytes before and ``data``.
            Readers bind it once and call it once per chunk (it is the per-byte hot path).
        combine: ``combine(a, b, len_b)``: the value of two consecutive byte ranges from theirs.
        parse: The header's text as a value, or ``None`` when it is not one.
        format: A value as the header writes it.
        described: The header's form in words, for errors.
        initial: The value of no bytes.
    """

    name: str
    header: str
    update: Update
    combine: Combine
    parse: Callable[[str], Optional[int]]
    format: Callable[[int], str]
    described: str
    initial: int = 0

    def of(self, data: Buffer) -> int:
        """The value of ``data``."""
        return self.update(data, self.initial)

    def combine_all(self, parts: Sequence[Tuple[int, int]]) -> int:
        """The value of the concatenation of parts given as ``(value, size)`` pairs, in order."""
        total = self.initial
        for value, size in parts:
            total = self.combine(total, value, size) if size else total
        return total


#: CRC-64/XZ as COS and OSS answer it: ``x-cos-hash-crc64ecma``, an unsigned decimal [ref 5.2].
CRC64_ECMA = IntegrityScheme(
    name="crc64ecma",
    header="x-cos-hash-crc64ecma",
    update=crc64,
    combine=crc64_combine,
    parse=_parse_decimal64,
    format=str,
    described="an unsigned 64-bit decimal",
)
