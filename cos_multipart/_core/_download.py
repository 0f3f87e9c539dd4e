"""The download machine's values: what it asks for (actions), what comes back, what it starts from and returns.

A download is the third operation run by the executors (after upload and copy): HEAD, then ranged GETs pinned
with ``If-Match`` to the ETag the HEAD saw, each range written at its offset into a temporary file beside the
target and its CRC-64 computed as its bytes arrive; the range CRCs combined and compared with the object's; then
fsync and an atomic rename. Everything here is a frozen value: no client, file or secret (the executor holds the
SSE-C key and the open temporary file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple, Union

from .._protocol._frozen import FrozenMapping
from .._protocol.checksum import etag_is_md5, normalize_etag
from .._protocol.errors import CosResponseError
from .._protocol.models import ObjectResult

__all__ = [
    "CHECK_CRC64", "CHECK_MD5", "CHECK_SIZE", "CheckRanges", "Commit", "Discard", "DownloadCheckpoint",
    "DownloadResult", "DownloadStart", "FetchRange", "Fetched", "HashTemp", "LoadRanges", "ObjectFacts",
    "PrepareTemp", "SaveRanges", "WriteOut",
]  # fmt: skip

#: How a download was verified: the object's CRC-64 against the combined range CRCs (and size) ...
CHECK_CRC64 = "crc64"
#: ... the object has no CRC-64 but its ETag is the MD5 of its bytes: the file's MD5 (and size) ...
CHECK_MD5 = "md5"
#: ... neither: the size alone (reported as such, never called verified by CRC).
CHECK_SIZE = "size"

#: Server-side encryption values whose ETag is not the MD5 of the plaintext (SSE-KMS; SSE-C is told by its
#: own customer-algorithm header).
_NOT_MD5_ENCRYPTION = ("cos/kms", "kms")


@dataclass(frozen=True)
class ObjectFacts:
    """What the HEAD said of the object: the identity every range is pinned to and the checksums to meet.

    Attributes:
        size: Bytes.
        etag: The ETag as answered (quotes kept): sent as ``If-Match`` with every GET.
        crc64: The whole object's CRC-64, or ``None`` (older objects, some encryption modes).
        version_id: The version (versioned buckets), or ``None``.
        md5: The object's MD5 (hex) when its ETag is one, else ``None``.
    """

    size: int
    etag: str
    crc64: Optional[int]
    version_id: Optional[str] = None
    md5: Optional[str] = None

    @classmethod
    def of(cls, head: ObjectResult) -> "ObjectFacts":
        """The facts of a HEAD answer (its ``Content-Length`` is the object's size)."""
        if head.size is None:
            raise CosResponseError(f"HEAD of {head.key!r} answered without a Content-Length: the object's size is unknown", status=head.response.status, request_id=head.request_id)
        headers = head.response.headers
        encryption = headers.get("x-cos-server-side-encryption", "").lower()
        customer = "x-cos-server-side-encryption-customer-algorithm" in headers
        md5 = None
        if etag_is_md5(head.etag) and not customer and encryption not in _NOT_MD5_ENCRYPTION:
            md5 = normalize_etag(head.etag)
        return cls(head.size, head.etag, head.crc64, head.version_id, md5)

    def same_object(self, other: "ObjectFacts") -> bool:
        """Whether ``other`` describes the same object (ETag, size, CRC-64 and version all equal)."""
        mine = (normalize_etag(self.etag), self.size, self.crc64, self.version_id)
        return mine == (normalize_etag(other.etag), other.size, other.crc64, other.version_id)


@dataclass(frozen=True)
class DownloadStart:
    """What a download starts from (no secret: the SSE-C key stays with the executor).

    Attributes:
        key: The object key.
        path: The target file (its directory holds the temporary file and the checkpoint).
        part_size: Bytes per range.
        concurrency: Ranges in flight at most.
        attempts: Fetches of one range at most (short bodies, broken connections), and rounds of the whole
            object when the combined CRC-64 disagrees.
        resume: Keep the temporary file and a checkpoint after a failure, and reuse them (re-checked).
        threshold: Objects of at most this size come in one GET without ``Range``.
    """

    key: str
    path: str
    part_size: int
    concurrency: int
    attempts: int = 3
    resume: bool = True
    threshold: Optional[int] = None

    @property
    def single_limit(self) -> int:
        """Objects up to this size are fetched in one GET."""
        return self.part_size if self.threshold is None else self.threshold


@dataclass(frozen=True)
class DownloadCheckpoint:
    """A download kept for a resume: the object's identity and the ranges fetched, with their CRC-64s.

    Attributes:
        key: The object key.
        facts: The object the ranges came from.
        part_size: The plan's range size (another plan starts again).
        done: Range index -> CRC-64 of its bytes as fetched (re-checked against the temporary file before use).
    """

    key: str
    facts: ObjectFacts
    part_size: int
    done: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "done", FrozenMapping(self.done))

    def with_range(self, index: int, crc: int) -> "DownloadCheckpoint":
        """This checkpoint with range ``index`` done."""
        return DownloadCheckpoint(self.key, self.facts, self.part_size, {**self.done, index: crc})


@dataclass(frozen=True)
class DownloadResult:
    """A verified download.

    Attributes:
        key: The object key.
        path: The file written (replaced only after verification).
        size: Bytes.
        etag: The object's ETag.
        crc64: The object's CRC-64 (equal to the file's), or ``None`` when it has none.
        version_id: The object's version, or ``None``.
        check: How it was verified: ``"crc64"``, ``"md5"`` (no CRC-64, the ETag is the MD5) or ``"size"``
            (neither: only the size could be checked).
        ranges: Ranges of the plan (1 for a single GET).
        ranges_reused: Ranges taken from an earlier, interrupted run (re-read and re-checked).
        refetched: Range fetches repeated (a short or broken body, or a round after a CRC-64 mismatch).
        restarted: Why an earlier run's temporary file was not reused (the object changed...), or ``""``.
        elapsed: Seconds (measured by the executor).
    """

    key: str
    path: str
    size: int
    etag: str
    crc64: Optional[int]
    version_id: Optional[str]
    check: str
    ranges: int
    ranges_reused: int = 0
    refetched: int = 0
    restarted: str = ""
    elapsed: float = 0.0

    @property
    def verified_by_crc64(self) -> bool:
        """Whether the file's bytes were checked against the object's CRC-64."""
        return self.check == CHECK_CRC64


# --- actions --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRanges:
    """Load the checkpoint of this download's target. -> ``Optional[DownloadCheckpoint]`` (``None``: none, or
    unreadable)"""


@dataclass(frozen=True)
class PrepareTemp:
    """Open the temporary file beside the target, ``size`` bytes long: kept as it is when ``keep`` and it has
    that size (a resume), else created anew. -> ``bool``: whether an earlier temporary file was kept"""

    size: int
    keep: bool


@dataclass(frozen=True)
class CheckRanges:
    """Read the temporary file's ranges ``(index, offset, length)`` back and give their CRC-64s (a resume
    re-checks what it reuses). -> ``Tuple[int, ...]`` in the same order"""

    ranges: Tuple[Tuple[int, int, int], ...]


@dataclass(frozen=True)
class FetchRange:
    """ONE GET of ``length`` bytes at ``offset`` (``whole``: the object without ``Range``), pinned with
    ``If-Match: etag``, written at its offset into the temporary file (``memory``: kept in memory instead, for a
    stream), its CRC-64 computed as it arrives.
    -> :class:`Fetched` (a body shorter than asked is a value; a broken connection the exception)"""

    index: int
    offset: int
    length: int
    etag: str
    whole: bool = False
    attempt: int = 1
    memory: bool = False


@dataclass(frozen=True)
class Fetched:
    """What one :class:`FetchRange` wrote: ``length`` bytes whose CRC-64 is ``crc64`` (and the bytes themselves
    when it asked for ``memory``)."""

    length: int
    crc64: int
    data: Optional[Union[bytes, bytearray]] = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SaveRanges:
    """Write ``checkpoint`` (atomically, beside the target). -> ``None``"""

    checkpoint: DownloadCheckpoint


@dataclass(frozen=True)
class HashTemp:
    """The MD5 (hex) of the temporary file's bytes (an object without CRC-64 whose ETag is an MD5). -> ``str``"""


@dataclass(frozen=True)
class Commit:
    """fsync the temporary file, rename it over the target, fsync the directory, drop the checkpoint. -> ``None``"""


@dataclass(frozen=True)
class Discard:
    """The download failed: keep the temporary file and the checkpoint for a resume (``keep``), or remove both.
    The target is never touched. -> ``None``"""

    keep: bool


@dataclass(frozen=True)
class WriteOut:
    """Write range ``index``'s bytes to the stream (ranges are written in order, each once). -> ``None``"""

    index: int
    data: Union[bytes, bytearray] = field(compare=False, repr=False)
