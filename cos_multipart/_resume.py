"""Resume: decide whether a stored session still applies, and which of its parts can be trusted.

A stored session is reused only when it is for the same file (identity), the same part size (when one was
asked for), the same encryption and the same object options. Then List Parts, the truth for what COS holds,
is compared with the recorded receipts (:meth:`UploadSession.reconcile`):

* a recorded part COS still holds with the same size and ETag is reused, but only after its local bytes are
  read again and their CRC-64 equals the recorded one (unless ``verify_reused`` is off): a file edited in place
  with its size and mtime put back is caught here, and the part is uploaded again;
* a part COS holds but the checkpoint missed (sent in the last second before a crash) is reused when its ETag
  is the MD5 of the local bytes (hashed here; the CRC-64 comes from the same pass);
* anything else is uploaded again.

What reading costs: one sequential read of the reused bytes with the CRC-64 backend (MD5 only for unrecorded
parts); with ``fastcrc`` that runs at the speed the page cache or the disk delivers.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

from ._sources import FileSource
from .checksum import normalize_etag
from .client import CosClient
from .errors import CosCancelledError, CosResponseError, CosServiceError
from .limits import MAX_PART_NUMBER
from .models import PartInfo
from .parts import NO_SUCH_UPLOAD
from .session import PartReceipt, UploadSession, changed_options

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


def resume(
    client: CosClient,
    stored: UploadSession,
    source: FileSource,
    *,
    verify_reused: bool,
    cancel: Optional[threading.Event] = None,
) -> Optional[Resumed]:
    """The parts of ``stored`` that can be reused, or ``None`` when COS no longer knows the upload."""
    try:
        listed = bounded_parts(client.list_parts(stored.key, stored.upload_id))
    except CosServiceError as error:
        if error.code != NO_SUCH_UPLOAD:
            raise
        return None
    return reuse(stored, listed, source, verify_reused=verify_reused, cancel=cancel)


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


def reuse(
    stored: UploadSession,
    listed: Iterable[PartInfo],
    source: FileSource,
    *,
    verify_reused: bool,
    cancel: Optional[threading.Event] = None,
) -> Resumed:
    """Which parts COS lists (``listed``) can be reused for ``stored``, reading the local bytes as needed.

    Blocking file reads: an asyncio driver runs this in a thread.
    """
    found = stored.reconcile(listed)
    reused: List[PartReceipt] = []
    rejected: List[int] = []
    read = 0
    for receipt in found.kept:
        _check_cancel(cancel)
        if verify_reused:
            offset, length = stored.part_range(receipt.part_number)
            read += length
            if source.digest(receipt.part_number, offset, length, md5=False).crc64 != receipt.crc64:
                logger.warning("part %d of %s differs from the uploaded one: sending it again", receipt.part_number, source.name)
                rejected.append(receipt.part_number)
                continue
        reused.append(receipt)
    for info in found.unrecorded:
        _check_cancel(cancel)
        offset, length = stored.part_range(info.part_number)
        read += length
        digest = source.digest(info.part_number, offset, length, md5=True)
        if digest.md5_hex == normalize_etag(info.etag):
            reused.append(PartReceipt(info.part_number, info.etag, length, digest.crc64))
    logger.debug(
        "resuming upload %s: %d of %d parts reused, %d bytes re-read", stored.upload_id, len(reused), stored.plan.count, read
    )
    return Resumed(stored.with_parts(reused), read, tuple(rejected))


def _check_cancel(cancel: Optional[threading.Event]) -> None:
    if cancel is not None and cancel.is_set():
        raise CosCancelledError("resume cancelled")
