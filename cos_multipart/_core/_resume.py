"""Resume: decide whether a stored session still applies, and which of its parts can be trusted.

A stored session is reused only when it is for the same file (identity), the same part size (when one was
asked for), the same encryption and the same object options. Then List Parts, the truth for what COS holds,
is compared with the recorded receipts (:meth:`UploadSession.reconcile`):

* a recorded part COS still holds with the same size and ETag is reused, but only after its local bytes are
  read again and their CRC-64 equals the recorded one (unless ``verify_reused`` is off): a file edited in place
  with its size and mtime put back is caught here, and the part is uploaded again;
* a part COS holds but the checkpoint missed (sent in the last second before a crash) is reused when its ETag
  is the MD5 of the local bytes (the CRC-64 comes from the same pass);
* anything else is uploaded again.

Pure: :func:`reads_for` says which local bytes to hash, an executor hashes them (the upload machine's
``DigestParts`` action), :func:`judge_reuse` decides. What reading costs: one sequential read of the reused
bytes with the CRC-64 backend (MD5 only for unrecorded parts); with ``fastcrc`` that runs at the speed the
page cache or the disk delivers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from ._partvalues import PartDigest
from .._protocol.checksum import normalize_etag
from .._protocol.errors import CosResponseError
from .._protocol.limits import MAX_PART_NUMBER
from .._protocol.models import PartInfo
from .session import PartReceipt, Reconciliation, UploadSession, changed_options

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resumed:
    """The outcome of a resume: the session with the parts to reuse, and what was re-read to trust them."""

    session: UploadSession
    reverified_bytes: int
    rejected: Tuple[int, ...]


def stale_reason(stored: UploadSession, wanted: UploadSession, *, part_size_given: bool) -> Optional[str]:
    """Why ``stored`` cannot be resumed as ``wanted`` (a session built from today's file and options).

    A configuration without a part size accepts the stored one; one with a part size requires it.
    """
    if stored.service != wanted.service:
        return f"the upload was made with {stored.service.upper()}, this client speaks {wanted.service.upper()}"
    if stored.identity is None or wanted.identity is None:
        return "the checkpoint does not identify the local file"
    change = stored.identity.difference(wanted.identity)
    if change is not None:
        return f"the local file changed since the upload started ({change})"
    if part_size_given and stored.part_size != wanted.part_size:
        return f"part size {wanted.part_size} asked, the upload used {stored.part_size}"
    if stored.encryption != wanted.encryption or stored.sse_c_key_md5 != wanted.sse_c_key_md5:
        return "the encryption options changed"
    if stored.options_digest != wanted.options_digest:
        changed = changed_options(stored.option_digests, wanted.option_digests) if stored.option_digests else ()
        return f"the object options changed ({', '.join(changed)})" if changed else "the object options changed"
    return None


def bounded_parts(parts: Iterable[PartInfo]) -> List[PartInfo]:
    """The parts of a List Parts answer, refusing one that lists more than an upload can hold.

    Raises:
        CosResponseError: More than 10,000 parts (a server whose pages never end).
    """
    listed: List[PartInfo] = []
    for info in parts:
        listed.append(info)
        if len(listed) > MAX_PART_NUMBER:
            raise CosResponseError(f"List Parts returned more than {MAX_PART_NUMBER} parts")
    return listed


def reads_for(stored: UploadSession, found: Reconciliation, *, verify_reused: bool) -> Tuple[Tuple[int, int, int, bool], ...]:
    """The local bytes to hash before reusing ``found``: ``(number, offset, length, md5)`` of each recorded part
    kept (unless ``verify_reused`` is off; CRC-64 only) and of each unrecorded part (MD5 too: its ETag)."""
    kept = [(receipt.part_number, False) for receipt in found.kept] if verify_reused else []
    wanted = kept + [(info.part_number, True) for info in found.unrecorded]
    return tuple((number, *stored.part_range(number), md5) for number, md5 in wanted)


def judge_reuse(
    stored: UploadSession, found: Reconciliation, digests: Sequence[PartDigest], *, verify_reused: bool, name: str
) -> Resumed:
    """Which parts of ``found`` are reused, given the ``digests`` of :func:`reads_for` (in its order): a recorded
    part whose local CRC-64 differs is sent again; an unrecorded one is reused when its ETag is the local MD5."""
    reused: List[PartReceipt] = []
    rejected: List[int] = []
    read = sum(digest.size for digest in digests)
    checked = iter(digests)
    for receipt in found.kept:
        if verify_reused and next(checked).crc64 != receipt.crc64:
            logger.warning("part %d of %s differs from the uploaded one: sending it again", receipt.part_number, name)
            rejected.append(receipt.part_number)
            continue
        reused.append(receipt)
    for info in found.unrecorded:
        digest = next(checked)
        if digest.md5_hex == normalize_etag(info.etag):
            reused.append(PartReceipt(info.part_number, info.etag, digest.size, digest.crc64))
    logger.debug(
        "resuming upload %s: %d of %d parts reused, %d bytes re-read", stored.upload_id, len(reused), stored.plan.count, read
    )
    return Resumed(stored.with_parts(reused), read, tuple(rejected))
