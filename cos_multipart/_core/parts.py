"""The rules that prove a part arrived intact and that a completed object is the local bytes (no I/O).

:class:`PartVerifier` judges one answer against the digest of the bytes sent; :class:`PendingCompletion` is
Complete's checks. The upload machine (:mod:`cos_multipart._core._machine`) applies them for every executor, and
for the public session steps :func:`cos_multipart.upload_part` and :func:`cos_multipart.complete`
(:mod:`cos_multipart._drivers._steps`), which are runs of the machine's own pieces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Optional, Protocol, Tuple

from ._partvalues import PartDigest
from .._io._sources import BodyOptions, PartBody
from .._protocol.checksum import normalize_etag
from .._protocol.errors import CosIntegrityError, CosServiceError
from .._protocol.models import CompleteResult, ObjectResult
from .session import PartReceipt, UploadSession

logger = logging.getLogger(__name__)

__all__ = [
    "Answer",
    "Completion",
    "PartSource",
    "PartVerifier",
    "PendingCompletion",
]

#: Times a part (or a single PUT) is sent when COS's checksum disagrees with the local one (or, for a single PUT,
#: when COS refused the body as not matching its Content-MD5).
DEFAULT_PART_ATTEMPTS = 3
#: COS error code of an unknown or finished upload id (436/7730).
NO_SUCH_UPLOAD = "NoSuchUpload"
#: What an error says when Complete made an object that is not the local bytes and it was deleted.
MISMATCH_DELETED = "the completed object did not match and was deleted"
#: What it says when the service answered no CRC-64 for the object (nothing known wrong: nothing deleted).
UNVERIFIED = "the service answered no CRC-64 for the completed object: it was left at the key, unverified"

class PartSource(Protocol):
    """Anything that can serve ``length`` bytes at ``offset`` of the upload as a hashed request body."""

    def body(self, number: int, offset: int, length: int, options: BodyOptions) -> PartBody:
        """The body of part ``number``."""


@dataclass(frozen=True)
class Answer:
    """What COS said about one body it stored (a part, or a whole small object)."""

    etag: str
    crc64: Optional[int]
    request_id: str
    version_id: Optional[str] = None


class PartVerifier:
    """The rules of sending one body until it is verified, without the I/O (shared by every driver).

    Iterate it for the attempts; after each send, :meth:`judge` the answer against the digest of the bytes
    sent: a :class:`PartReceipt` ends the loop, ``None`` means send again. After the last attempt it raises.

    Args:
        number: Part number (1 for a single PUT).
        check_md5: Compare the ETag with the MD5 of the bytes sent.
        attempts: Sends at most.
        on_retry: Called with ``number`` before each re-send (progress rewinds).
    """

    def __init__(
        self,
        number: int,
        *,
        check_md5: bool,
        attempts: int = DEFAULT_PART_ATTEMPTS,
        on_retry: Optional[Callable[[int], None]] = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.number = number
        self.check_md5 = check_md5
        self.attempts = attempts
        self.on_retry = on_retry
        self.attempt = 0
        self.request_ids: List[str] = []
        self.answer: Optional[Answer] = None

    def __iter__(self) -> Iterator[int]:
        for attempt in range(1, self.attempts + 1):
            self.attempt = attempt
            if attempt > 1 and self.on_retry is not None:
                self.on_retry(self.number)
            yield attempt

    def outcome(self, receipt: PartReceipt) -> Tuple[PartReceipt, Answer, List[str]]:
        """``(receipt, the answer that proved it, every request id)``: what a driver records."""
        if self.answer is None:
            raise ValueError("judge an answer before asking for the outcome")
        return receipt, self.answer, self.request_ids

    def judge(self, digest: PartDigest, answer: Answer) -> Optional[PartReceipt]:
        """The receipt when COS's checksums equal the local ones; ``None`` to send again.

        Raises:
            CosIntegrityError: They disagreed on the last attempt.
        """
        self.request_ids.append(answer.request_id)
        self.answer = answer
        problem = mismatch(self.number, digest, answer, check_md5=self.check_md5)
        if problem is None:
            return PartReceipt(self.number, answer.etag, digest.size, digest.crc64)
        logger.warning("%s (attempt %d of %d)", problem, self.attempt, self.attempts)
        if self.attempt >= self.attempts:
            raise problem
        return None

    def refused(self, error: BaseException, digest_mismatch: str) -> bool:
        """Whether to send again after the send failed with ``error``.

        ``True`` when the service refused the body as not matching its ``Content-MD5`` (400
        ``digest_mismatch``, the dialect's code: the bytes were damaged on the way, the local ones are fine)
        and attempts remain. ``False`` for any other failure, and for the last attempt's refusal: the caller
        raises ``error`` as it is.
        """
        if not (isinstance(error, CosServiceError) and error.status == 400 and error.code == digest_mismatch):
            return False
        if error.request_id:
            self.request_ids.append(error.request_id)
        logger.warning(
            "part %d: the service refused the body as not matching its Content-MD5 (%s, damaged in transit) "
            "[request id %s] (attempt %d of %d)",
            self.number, error.code, error.request_id, self.attempt, self.attempts,
        )  # fmt: skip
        return self.attempt < self.attempts


def mismatch(number: int, digest: PartDigest, answer: Answer, *, check_md5: bool) -> Optional[CosIntegrityError]:
    """How COS's answer disagrees with the local checksums, or ``None``."""
    if answer.crc64 != digest.crc64:
        return CosIntegrityError("crc64", digest.crc64, answer.crc64, part_number=number, request_id=answer.request_id)
    if check_md5 and digest.md5_hex is not None and normalize_etag(answer.etag) != digest.md5_hex:
        return CosIntegrityError("etag", digest.md5_hex, answer.etag, part_number=number, request_id=answer.request_id)
    return None


@dataclass(frozen=True)
class Completion:
    """A completed and verified object.

    Attributes:
        result: Complete's answer (or the HEAD that showed an earlier attempt had completed it).
        parts: The receipts it was made of, in order.
        crc64: The object's CRC-64, combined from the parts and equal to COS's.
    """

    result: CompleteResult
    parts: Tuple[PartReceipt, ...]
    crc64: int


@dataclass(frozen=True)
class PendingCompletion:
    """What Complete must send and what it must answer, checked against the plan before anything is sent.

    Attributes:
        parts: The receipts, one per part of the plan, in order.
        crc64: The CRC-64 the object must have (the parts' combined in order).
        size: The object's size.
    """

    parts: Tuple[PartReceipt, ...]
    crc64: int
    size: int

    @classmethod
    def of(cls, session: UploadSession, receipts: Iterable[PartReceipt]) -> "PendingCompletion":
        """Check ``receipts`` against ``session`` (count, order, sizes) and combine their CRC-64.

        Raises:
            CosIntegrityError: A part is missing, repeated, out of order or of the wrong size.
        """
        parts = session.check_complete(receipts)
        return cls(parts, session.combined(parts), session.plan.size)

    def accept(self, result: CompleteResult) -> Completion:
        """The verified completion, once COS's CRC-64 for the object equals the combined one.

        Call :meth:`wrong` first: an object known to be wrong is deleted by the driver, then :meth:`mismatch`.

        Raises:
            CosIntegrityError: The object exists on COS but is not known to be the local bytes (no CRC-64).
        """
        if result.crc64 != self.crc64:
            logger.error("object %s was completed but COS answered no CRC-64 for it: left unverified", result.key)
            raise CosIntegrityError("crc64", self.crc64, result.crc64, request_id=result.request_id, outcome=UNVERIFIED)
        return Completion(result, self.parts, self.crc64)

    def wrong(self, result: CompleteResult) -> bool:
        """Whether Complete made an object whose CRC-64 COS answered and is not the local bytes' (to delete)."""
        return result.crc64 is not None and result.crc64 != self.crc64

    def mismatch(self, result: CompleteResult, failure: Optional[BaseException]) -> CosIntegrityError:
        """The error of a :meth:`wrong` object the driver tried to delete (``failure``: why it could not)."""
        outcome = deletion_outcome(result.version_id, failure)
        logger.error("object %s was completed but its CRC-64 does not match the local data: %s", result.key, outcome)
        return CosIntegrityError("crc64", self.crc64, result.crc64, request_id=result.request_id, outcome=outcome)

    def matches(self, head: ObjectResult) -> bool:
        """Whether a HEAD shows the object this completion makes (a retried Complete that answered
        NoSuchUpload after its first attempt succeeded)."""
        return head.crc64 == self.crc64 and head.size == self.size


def deletion_outcome(version_id: Optional[str], failure: Optional[BaseException]) -> str:
    """The words of a wrong completed object's fate: deleted (which version; what is current now) or why not."""
    if failure is not None:
        version = f" version {version_id}" if version_id else ""
        return (
            f"the completed object did not match and could NOT be deleted ({one_line(failure)}): "
            f"delete the key{version} before anyone reads it"
        )
    if version_id:
        return f"{MISMATCH_DELETED} (version {version_id}; the version it replaced, if any, is current again)"
    return f"{MISMATCH_DELETED} (no version id: an object it replaced is not kept unless the bucket keeps versions)"


def one_line(error: BaseException) -> str:
    """``Type: text`` of ``error`` on one line (library errors hold no secret)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def completed_by_earlier_attempt(session: UploadSession, head: ObjectResult) -> CompleteResult:
    """Complete's result, rebuilt from the HEAD of an object an earlier attempt completed."""
    return CompleteResult("", session.bucket, session.key, head.etag, head.crc64, head.version_id, head.response)
