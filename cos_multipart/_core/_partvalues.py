"""The values a part's bytes make: their checksums (:class:`PartDigest`) and a part held in memory
(:class:`StreamPart`). Pure values, so the upload machine can speak of parts without the readers' I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["PartDigest", "StreamPart"]


@dataclass(frozen=True)
class PartDigest:
    """Checksums of one part's bytes.

    Attributes:
        size: Bytes hashed.
        crc64: CRC-64 (the value of ``x-cos-hash-crc64ecma``).
        md5_hex: Lowercase hex MD5, or ``None`` when MD5 was not needed (ETag is not an MD5 with SSE-KMS/C).
    """

    size: int
    crc64: int
    md5_hex: Optional[str]


@dataclass(frozen=True)
class StreamPart:
    """A part read from a stream: its bytes and their checksums."""

    data: memoryview
    digest: PartDigest
