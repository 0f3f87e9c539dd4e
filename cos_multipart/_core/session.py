"""The upload session: what one multipart upload is and what it has verified, as a plain value.

An :class:`UploadSession` names the upload (endpoint, bucket, key, upload id), its part plan, the options the
object was initiated with (a digest, never a secret: SSE-C is represented by its key's MD5), the local source
it reads (path and :class:`FileIdentity`, for files) and every part verified so far as a :class:`PartReceipt`
(number, ETag, size, CRC-64). It holds no open file, no client and no secret, so it can be written to a
checkpoint (:meth:`UploadSession.to_json`), pickled to a worker on another machine, or handed between an
asyncio task and a thread.

Its methods are pure: which parts are pending, whether a receipt fits the plan, the combined CRC-64 of the
object, what Complete must list (and whether the receipts are complete and in order), and how a List Parts
answer compares with what was recorded. Drivers (threads, asyncio, a cluster) do the I/O and ask the session
what is true; no driver decides integrity on its own.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Tuple

from .._protocol.dialect import DIALECTS, integrity_of
from .._protocol.integrity import IntegrityScheme
from .._protocol.checksum import crc64_combine_all, etag_is_md5, normalize_etag
from .._protocol.errors import CosIntegrityError
from .._protocol.models import CompletedPart, PartInfo
from .._protocol.limits import ANY_MIN_PART_SIZE, MAX_PART_NUMBER
from .planner import PartPlan, plan_parts

__all__ = [
    "ENCRYPTION_MODES",
    "FileIdentity",
    "GrowingPlan",
    "PartReceipt",
    "Plan",
    "Reconciliation",
    "UploadSession",
]

SCHEMA = "cos-multipart-checkpoint"
#: Version 2: file identity with ctime and inode, no fingerprint. Version 1 files are read as stale.
VERSION = 2
#: Encryption modes a session records (they decide whether part ETags are MD5s).
ENCRYPTION_MODES = ("none", "cos", "kms", "c")



class Plan(Protocol):
    """How an object is cut into parts: :class:`~cos_multipart._core.planner.PartPlan` or :class:`GrowingPlan`."""

    @property
    def size(self) -> int:
        """Object size in bytes."""

    @property
    def part_size(self) -> int:
        """Size of the first part (of every part but the last, for equal parts)."""

    @property
    def count(self) -> int:
        """Number of parts."""

    def part(self, number: int) -> Tuple[int, int]:
        """``(offset, length)`` of part ``number``."""


class PartSchedule(Protocol):
    """Part sizes that may grow with the part number (a stream's :class:`~cos_multipart._core.planner.StreamPlan`)."""

    def part_size_of(self, number: int) -> int:
        """Size of part ``number``."""

    def offset_of(self, number: int) -> int:
        """Offset of part ``number``."""


@dataclass(frozen=True)
class GrowingPlan:
    """The plan of a stream once its length is known: the schedule's part sizes, the last part shorter.

    Attributes:
        schedule: The part sizes the stream was read with.
        size: The stream's length.
        count: Parts it took.
    """

    schedule: PartSchedule
    size: int
    count: int

    @property
    def part_size(self) -> int:
        """Size of the first part."""
        return self.schedule.part_size_of(1)

    def part(self, number: int) -> Tuple[int, int]:
        """``(offset, length)`` of part ``number``."""
        if not 1 <= number <= self.count:
            raise ValueError(f"part {number} is not in the plan (1..{self.count})")
        offset = self.schedule.offset_of(number)
        return offset, min(self.schedule.part_size_of(number), self.size - offset)


@dataclass(frozen=True)
class FileIdentity:
    """What identifies a local file's content without reading it.

    ``mtime`` can be put back by ``cp -p``, ``rsync -t``, ``tar x`` or ``touch -d``; ``ctime`` cannot (the
    kernel sets it on every change, including the one that restores ``mtime``), and the inode and device
    change when the file is replaced by another one. A resume re-reads the reused parts anyway unless told
    to trust the checkpoint (``verify_reused=False``); the identity is what that trust rests on.

    Attributes:
        size: Size in bytes.
        mtime_ns: Modification time, nanoseconds.
        ctime_ns: Status change time, nanoseconds.
        inode: Inode number.
        device: Device number.
    """

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of_stat(cls, info: os.stat_result) -> "FileIdentity":
        """The identity of a ``stat`` result."""
        return cls(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)

    @classmethod
    def of_fd(cls, fd: int) -> "FileIdentity":
        """The identity of an open file."""
        return cls.of_stat(os.fstat(fd))

    @classmethod
    def of_path(cls, path: "os.PathLike[str] | str") -> "FileIdentity":
        """The identity of the file at ``path`` (following symlinks, as opening it would)."""
        return cls.of_stat(os.stat(path))

    def difference(self, other: "FileIdentity") -> Optional[str]:
        """What changed between ``self`` (before) and ``other`` (now), in words, or ``None``."""
        if self == other:
            return None
        if (self.inode, self.device) != (other.inode, other.device):
            return "the file was replaced by another one"
        if self.size != other.size:
            return f"its size went from {self.size} to {other.size} bytes"
        return "it was modified (its modification or change time moved)"


@dataclass(frozen=True)
class PartReceipt:
    """A part COS stored and this package verified (its CRC-64, and its ETag when that is an MD5).

    Attributes:
        part_number: 1..10000.
        etag: The ETag COS returned (quotes included, as Complete wants it).
        size: Bytes in the part.
        crc64: CRC-64 of the part's bytes, equal to COS's ``x-cos-hash-crc64ecma``.
    """

    part_number: int
    etag: str
    size: int
    crc64: int


@dataclass(frozen=True)
class Reconciliation:
    """How a List Parts answer compares with the parts a session recorded.

    Attributes:
        kept: Recorded parts COS still holds with the same size and ETag.
        unrecorded: Parts COS holds that the session has no receipt for (sent just before a crash), with a
            size that fits the plan; reusable only once the local bytes are shown to match.
        dropped: Recorded parts COS no longer lists, or lists with another size or ETag.
    """

    kept: Tuple[PartReceipt, ...]
    unrecorded: Tuple[PartInfo, ...]
    dropped: Tuple[int, ...]


@dataclass(frozen=True)
class UploadSession:
    """One multipart upload as a value: target, plan, options digest, source identity, verified parts.

    Attributes:
        endpoint: Base URL of the service (a session is only valid there).
        bucket: Bucket name.
        key: Object key.
        upload_id: The multipart upload id.
        plan: How the object is cut into parts.
        options_digest: Digest of the Initiate options (content type, metadata, ACL, ...), without secrets.
        encryption: ``"none"``, ``"cos"``, ``"kms"`` or ``"c"``.
        sse_c_key_md5: Base64 MD5 of the SSE-C key (never the key), or ``None``.
        source: Absolute path of the local file, or ``None`` (a stream, a buffer).
        identity: The local file as it was when the upload started, or ``None``.
        parts: Verified parts, ordered by part number, one per number.
        created: When the upload was initiated (seconds since the epoch).
        option_digests: ``(header name, digest of its value)`` of each object option, sorted: lets a stale
            checkpoint say which option changed without storing the values.
        completing: Complete was (about to be) sent with these parts: a run that finds it so checks the object
            (HEAD: size and CRC-64) before uploading anything, since a kill after Complete leaves it done.
        service: The dialect the upload was made in (``"cos"`` or ``"oss"``): an upload id means nothing to
            the other service, even behind the same endpoint URL.
    """

    endpoint: str
    bucket: str
    key: str
    upload_id: str
    plan: Plan
    options_digest: str = ""
    encryption: str = "none"
    sse_c_key_md5: Optional[str] = None
    source: Optional[str] = None
    identity: Optional[FileIdentity] = None
    parts: Tuple[PartReceipt, ...] = ()
    created: float = field(default_factory=time.time)
    completing: bool = False
    option_digests: Tuple[Tuple[str, str], ...] = ()
    service: str = "cos"

    # --- what is left, what fits ------------------------------------------------------------------------

    @property
    def etag_is_md5(self) -> bool:
        """Whether part ETags are MD5s: "only for no-SSE and SSE-COS" (436/7750) [ref 6.4]."""
        return self.encryption in ("none", "cos")

    @property
    def part_size(self) -> int:
        """Part size of the plan."""
        return self.plan.part_size

    def part_range(self, part_number: int) -> Tuple[int, int]:
        """``(offset, length)`` of a part in the source."""
        return self.plan.part(part_number)

    def pending(self) -> Tuple[int, ...]:
        """Part numbers that have no receipt yet, ascending."""
        done = {part.part_number for part in self.parts}
        return tuple(number for number in range(1, self.plan.count + 1) if number not in done)

    def receipt_problem(self, receipt: PartReceipt) -> Optional[str]:
        """Why ``receipt`` does not fit this session's plan (``None`` when it does)."""
        if not 1 <= receipt.part_number <= self.plan.count:
            return f"part {receipt.part_number} is not in the plan (1..{self.plan.count})"
        length = self.plan.part(receipt.part_number)[1]
        if receipt.size != length:
            return f"part {receipt.part_number} has {receipt.size} bytes, the plan says {length}"
        if not 0 <= receipt.crc64 < 1 << 64:
            return f"part {receipt.part_number} has no valid CRC-64"
        return None

    def with_parts(self, receipts: Iterable[PartReceipt]) -> "UploadSession":
        """A copy holding ``receipts`` (later receipts for a number win).

        Raises:
            ValueError: A receipt does not fit the plan.
        """
        by_number: Dict[int, PartReceipt] = {}
        for receipt in receipts:
            problem = self.receipt_problem(receipt)
            if problem is not None:
                raise ValueError(problem)
            by_number[receipt.part_number] = receipt
        return replace(self, parts=tuple(by_number[n] for n in sorted(by_number)))

    # --- completion ---------------------------------------------------------------------------------------

    def check_complete(self, receipts: Iterable[PartReceipt]) -> Tuple[PartReceipt, ...]:
        """The receipts Complete must list, after checking them against the plan.

        Every part of the plan must have exactly one receipt, in ascending order, with the planned size.

        Raises:
            CosIntegrityError: A part is missing, repeated, out of order or of the wrong size (``what`` is
                ``"parts"`` or ``"size"``).
        """
        ordered = tuple(receipts)
        numbers = [receipt.part_number for receipt in ordered]
        expected = list(range(1, self.plan.count + 1))
        if numbers != expected:
            missing = sorted(set(expected) - set(numbers))[:5]
            raise CosIntegrityError(
                "parts", f"parts 1..{self.plan.count} in order", f"{len(numbers)} receipts (missing {missing})"
            )
        for receipt in ordered:
            problem = self.receipt_problem(receipt)
            if problem is not None:
                raise CosIntegrityError("size", problem, receipt.size, part_number=receipt.part_number)
        return ordered

    @staticmethod
    def combined_crc64(receipts: Iterable[PartReceipt]) -> int:
        """CRC-64 of the object the receipts make, in order (the value Complete must answer).

        Always CRC-64/XZ (kept for callers); :meth:`combined` combines with the session's own scheme.
        """
        return crc64_combine_all([(receipt.crc64, receipt.size) for receipt in receipts])

    @property
    def integrity(self) -> IntegrityScheme:
        """The integrity scheme of the session's service (its dialect's; :attr:`service` names it)."""
        return integrity_of(self.service)

    def combined(self, receipts: Iterable[PartReceipt], scheme: Optional[IntegrityScheme] = None) -> int:
        """The checksum of the object the receipts make, in order, under ``scheme`` (default: :attr:`integrity`):
        the value Complete must answer. (The receipts' field is named ``crc64`` whatever the scheme.)"""
        chosen = scheme if scheme is not None else self.integrity
        return chosen.combine_all([(receipt.crc64, receipt.size) for receipt in receipts])

    @staticmethod
    def completed_parts(receipts: Iterable[PartReceipt]) -> List[CompletedPart]:
        """The ``<Part>`` list of Complete Multipart Upload."""
        return [CompletedPart(receipt.part_number, receipt.etag) for receipt in receipts]

    # --- resume -------------------------------------------------------------------------------------------

    def reconcile(self, listed: Iterable[PartInfo]) -> Reconciliation:
        """Compare a List Parts answer with the recorded receipts (COS is the truth for what it holds)."""
        recorded = {part.part_number: part for part in self.parts}
        kept: List[PartReceipt] = []
        unrecorded: List[PartInfo] = []
        for info in listed:
            number = info.part_number
            if not 1 <= number <= self.plan.count or info.size != self.plan.part(number)[1]:
                continue
            known = recorded.get(number)
            if known is not None and normalize_etag(known.etag) == normalize_etag(info.etag):
                kept.append(known)
            elif self.etag_is_md5 and etag_is_md5(info.etag):
                unrecorded.append(info)
        kept_numbers = {part.part_number for part in kept}
        dropped = tuple(sorted(number for number in recorded if number not in kept_numbers))
        return Reconciliation(tuple(sorted(kept, key=_number)), tuple(unrecorded), dropped)

    # --- serialisation ------------------------------------------------------------------------------------

    def to_json(self) -> Dict[str, Any]:
        """The JSON document a checkpoint stores (CRC-64 values as strings: they exceed 2**53).

        Raises:
            ValueError: The session is of a stream (its parts are not equal), which is never checkpointed.
        """
        if not isinstance(self.plan, PartPlan):
            raise ValueError("only sessions with equal parts (files) are stored")
        identity = self.identity
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "endpoint": self.endpoint,
            "service": self.service,
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "size": self.plan.size,
            "part_size": self.plan.part_size,
            "options_digest": self.options_digest,
            "encryption": self.encryption,
            "sse_c_key_md5": self.sse_c_key_md5,
            "source": self.source,
            "file": None
            if identity is None
            else {
                "size": identity.size,
                "mtime_ns": identity.mtime_ns,
                "ctime_ns": identity.ctime_ns,
                "inode": identity.inode,
                "device": identity.device,
            },
            "created": self.created,
            "completing": self.completing,
            "options": dict(self.option_digests),
            "parts": [[p.part_number, p.etag, p.size, str(p.crc64)] for p in self.parts],
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "UploadSession":
        """Parse a stored document, checking every field's type and range.

        Raises:
            ValueError: Another schema or version, a missing field, a wrong type or an impossible value.
        """
        if document.get("schema") != SCHEMA:
            raise ValueError(f"not a cos-multipart checkpoint (schema {_short(document.get('schema'))})")
        if document.get("version") != VERSION:
            raise ValueError(f"checkpoint version {_short(document.get('version'))}, this version reads {VERSION}")
        encryption = _text(document, "encryption")
        if encryption not in ENCRYPTION_MODES:
            raise ValueError(f"unknown encryption mode {_short(encryption)}")
        key_md5 = document.get("sse_c_key_md5")
        if key_md5 is not None and not isinstance(key_md5, str):
            raise ValueError("field 'sse_c_key_md5' is not a string")
        source = document.get("source")
        if source is not None and not isinstance(source, str):
            raise ValueError("field 'source' is not a string")
        created = document.get("created")
        if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
            raise ValueError("field 'created' is not a finite number")
        if not 0 <= created < 1e11:
            raise ValueError("field 'created' is not a plausible time")
        plan = plan_parts(_integer(document, "size"), _integer(document, "part_size"), min_part_size=ANY_MIN_PART_SIZE)
        session = cls(
            endpoint=_text(document, "endpoint"),
            bucket=_text(document, "bucket"),
            key=_text(document, "key"),
            upload_id=_upload_id(document),
            plan=plan,
            options_digest=_text(document, "options_digest", empty=True),
            encryption=encryption,
            sse_c_key_md5=key_md5,
            source=source,
            identity=_identity(document.get("file")),
            created=float(created),
            completing=_flag(document, "completing"),
            option_digests=_option_digests(document.get("options", {})),
            service=_service(document),
        )
        raw_parts = document.get("parts")
        if not isinstance(raw_parts, list) or len(raw_parts) > MAX_PART_NUMBER:
            raise ValueError("field 'parts' is not a list of at most 10000 parts")
        parts = [_receipt(item) for item in raw_parts]
        if len({p.part_number for p in parts}) != len(parts):
            raise ValueError("a part number appears twice")
        return session.with_parts(parts)


def _service(document: Mapping[str, Any]) -> str:
    # Checkpoints written before OSS existed name no service: they are COS's.
    service = document.get("service", "cos")
    if service not in DIALECTS:
        raise ValueError(f"unknown service {_short(service)}, expected one of {', '.join(sorted(DIALECTS))}")
    return str(service)


def _option_digests(raw: Any) -> Tuple[Tuple[str, str], ...]:
    if not isinstance(raw, dict) or len(raw) > 64:
        raise ValueError("field 'options' is not an object of at most 64 options")
    for name, digest in raw.items():
        if not (isinstance(name, str) and name.isprintable() and 0 < len(name) <= 128):
            raise ValueError("an option name in 'options' is not a header name")
        if not (isinstance(digest, str) and len(digest) <= 64 and all(c in "0123456789abcdef" for c in digest)):
            raise ValueError(f"option {_short(name)} has no hexadecimal digest")
    return tuple(sorted(raw.items()))


def changed_options(before: Tuple[Tuple[str, str], ...], now: Tuple[Tuple[str, str], ...]) -> Tuple[str, ...]:
    """The header names whose value differs between two sessions' ``option_digests`` (set, unset or changed)."""
    old, new = dict(before), dict(now)
    return tuple(sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name)))


def _flag(document: Mapping[str, Any], name: str) -> bool:
    value = document.get(name, False)  # absent in checkpoints written before the field existed
    if not isinstance(value, bool):
        raise ValueError(f"field {name!r} is not true or false")
    return value


def _number(receipt: PartReceipt) -> int:
    return receipt.part_number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(document: Mapping[str, Any], name: str, *, empty: bool = False) -> str:
    value = document.get(name)
    if not isinstance(value, str) or (not empty and not value) or len(value) > 4096:
        raise ValueError(f"field {name!r} is missing or not a string")
    return value


def _integer(document: Mapping[str, Any], name: str, low: int = 0, high: int = 1 << 64) -> int:
    value = document.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
        raise ValueError(f"field {name!r} is missing or not an integer in {low}..{high - 1}")
    return value


def _upload_id(document: Mapping[str, Any]) -> str:
    value = _text(document, "upload_id")
    # An id is sent in the query string: control characters or spaces would make every resume fail.
    if len(value) > 1024 or not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError("field 'upload_id' is not a printable id without spaces")
    return value


def _identity(raw: Any) -> Optional[FileIdentity]:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("field 'file' is not an object")
    return FileIdentity(
        size=_integer(raw, "size"),
        mtime_ns=_integer(raw, "mtime_ns", -(1 << 63), 1 << 63),
        ctime_ns=_integer(raw, "ctime_ns", -(1 << 63), 1 << 63),
        inode=_integer(raw, "inode"),
        device=_integer(raw, "device"),
    )


def _receipt(item: Any) -> PartReceipt:
    if not isinstance(item, list) or len(item) != 4:
        raise ValueError("a part entry is not [number, etag, size, crc64]")
    number, etag, size, crc = item
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_PART_NUMBER:
        raise ValueError("a part number is not 1..10000")
    if not isinstance(etag, str) or not etag or len(etag) > 256 or not etag.isprintable():
        raise ValueError(f"part {number} has no valid ETag")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"part {number} has no valid size")
    if not isinstance(crc, str) or not crc.isascii() or not crc.isdigit() or len(crc) > 20 or int(crc) >= 1 << 64:
        raise ValueError(f"part {number} has no valid CRC-64")
    return PartReceipt(part_number=number, etag=etag, size=size, crc64=int(crc))
