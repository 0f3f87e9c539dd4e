"""What the upload machine asks an executor to do: one frozen value per kind of step.

An executor (threads, asyncio, Dask) runs an action and gives the machine its outcome (the value named in each
class's docstring, or the exception the step raised) with :meth:`~cos_multipart._core._machine.UploadMachine.receive`.
No action carries a secret: the executor holds the client and the SSE-C key, the machine only names the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple, Union

from ._copyvalues import CopyPart
from ._download import FetchRange
from ._partvalues import StreamPart
from .._protocol.integrity import CRC64_ECMA, IntegrityScheme
from .._protocol.models import CompletedPart
from .session import PartReceipt, UploadSession

__all__ = [
    "Abort", "Action", "CheckUnchanged", "CheckpointWritten", "CombineCrc64", "Complete", "DeleteObject", "DigestParts", "Done", "DropCheckpoint",
    "Failed", "FlushCheckpoint", "PART_ACTIONS", "Head", "Initiate", "ListParts", "ListUploads", "LoadCheckpoint", "Lock",
    "MarkCompleting", "PartDone", "ProgressFinish", "ProgressFlush", "ProgressRewind", "ProgressStart", "PutObject",
    "ReadAll", "ReadStreamPart", "RecordPart", "SendPart", "StartCheckpoint", "StopParts", "Unlock",
]  # fmt: skip


# --- checkpoint and lock -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lock:
    """Take the checkpoint lock of the file at ``path`` (check the store is usable when resume is on). -> ``None``"""

    path: str


@dataclass(frozen=True)
class Unlock:
    """Release the lock taken by :class:`Lock` (always asked for once it was taken). -> ``None``"""


@dataclass(frozen=True)
class LoadCheckpoint:
    """Load the stored session of the file at ``path`` to the key. -> ``Optional[UploadSession]``"""

    path: str


@dataclass(frozen=True)
class StartCheckpoint:
    """Start recording ``session`` and write it now (a failed write is logged). -> ``str``: where the
    checkpoint is (for the user)."""

    session: UploadSession


@dataclass(frozen=True)
class RecordPart:
    """Add a verified part to the checkpoint (written as the recorder's interval allows). -> ``None``"""

    receipt: PartReceipt


@dataclass(frozen=True)
class MarkCompleting:
    """Record that Complete is about to be sent (a kill from here on leaves a recognisable object). -> ``None``"""


@dataclass(frozen=True)
class FlushCheckpoint:
    """Write every recorded part now (the upload is kept for a resume). -> ``None``"""


@dataclass(frozen=True)
class CheckpointWritten:
    """Whether the checkpoint was ever written (a failed write is logged, not raised: only a written one
    names a kept upload). -> ``bool``"""


@dataclass(frozen=True)
class DropCheckpoint:
    """Delete the checkpoint of ``session``. -> ``None``"""

    session: UploadSession


# --- the source ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadAll:
    """Read the whole (small) file or buffer with its MD5, for a single PUT. -> :class:`StreamPart`"""


@dataclass(frozen=True)
class ReadStreamPart:
    """Read the next ``size`` bytes of the stream (fewer only at its end). -> :class:`StreamPart`"""

    size: int
    md5: bool


@dataclass(frozen=True)
class DigestParts:
    """Read and hash the local bytes of parts ``(number, offset, length, md5)`` (a resume re-checking what it
    reuses). -> ``Tuple[PartDigest, ...]`` in the same order"""

    parts: Tuple[Tuple[int, int, int, bool], ...]


@dataclass(frozen=True)
class CombineCrc64:
    """The checksum of the object ``(crc64, size)`` parts make, in order, under ``scheme`` (the target dialect's;
    pure, but milliseconds of Python per new part length: an executor runs it off its event loop). -> ``int``

    The name says CRC-64 because that is every dialect's scheme today; the executor combines with ``scheme``.
    """

    parts: Tuple[Tuple[int, int], ...]
    scheme: IntegrityScheme = CRC64_ECMA


@dataclass(frozen=True)
class CheckUnchanged:
    """Check the file is still the one the upload started from (raises ``SourceChangedError``). -> ``None``"""


# --- requests ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """HEAD the key. -> ``ObjectResult`` (a 404 is the exception)"""


@dataclass(frozen=True)
class Initiate:
    """Initiate Multipart Upload with the object's options. -> :class:`~cos_multipart._core._outcomes.Initiated`"""


@dataclass(frozen=True)
class ListUploads:
    """List the multipart uploads of the key (after a retried Initiate). -> ``List[UploadInfo]``"""


@dataclass(frozen=True)
class ListParts:
    """List Parts of ``upload_id``, at most 10,001 of them. -> ``List[PartInfo]``"""

    upload_id: str


@dataclass(frozen=True)
class SendPart:
    """ONE attempt at part ``number`` of ``upload_id``: its bytes (``data`` for a stream's part, else
    ``length`` bytes at ``offset`` of the source) read, hashed (MD5 when ``md5``) and sent in one pass.
    -> :class:`~cos_multipart._core._outcomes.Sent`"""

    upload_id: str
    number: int
    offset: int
    length: int
    md5: bool
    attempt: int = 1
    data: Optional[StreamPart] = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PutObject:
    """ONE attempt at the single PUT of ``part`` with ``content_md5``. -> :class:`~cos_multipart._core._outcomes.Sent`"""

    part: StreamPart = field(compare=False, repr=False)
    content_md5: str
    attempt: int = 1


@dataclass(frozen=True)
class StopParts:
    """Stop the part work in flight (cancel bodies, free connections blocked on slow answers); their
    outcomes (success or the cancellation) are still given to the machine. -> ``None``"""


@dataclass(frozen=True)
class Complete:
    """Complete Multipart Upload of ``upload_id`` with ``parts``. -> ``CompleteResult``"""

    upload_id: str
    parts: Tuple[CompletedPart, ...]
    forbid_overwrite: Optional[bool]


@dataclass(frozen=True)
class DeleteObject:
    """Delete the object (``version_id`` when the bucket gave one) Complete made wrong. -> ``None``"""

    version_id: Optional[str]


@dataclass(frozen=True)
class Abort:
    """Abort Multipart Upload ``upload_id``. -> ``None``"""

    upload_id: str


# --- progress ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressStart:
    """A new progress count: ``size`` bytes in ``count`` parts (``None``: unknown), some already reused. -> ``None``"""

    size: Optional[int]
    count: Optional[int]
    reused_parts: int = 0
    reused_bytes: int = 0


@dataclass(frozen=True)
class ProgressRewind:
    """Part ``number`` is sent again: its bytes counted so far no longer count. -> ``None``"""

    number: int


@dataclass(frozen=True)
class PartDone:
    """Part ``number`` (``size`` bytes) is verified (the user's callback may raise). -> ``None``"""

    number: int
    size: int


@dataclass(frozen=True)
class ProgressFinish:
    """A stream ended: its length and parts are known. -> ``None``"""

    size: int
    count: int


@dataclass(frozen=True)
class ProgressFlush:
    """Deliver the last progress event. -> ``None``"""


# --- the end -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """The upload is verified: ``result`` (its ``elapsed`` is the executor's to measure); or a step run on its
    own (:meth:`~cos_multipart._core._machine.UploadMachine.piece`) returned ``result``."""

    result: Any


@dataclass(frozen=True)
class Failed:
    """The upload failed with ``error`` (kept for a resume or aborted already): the executor raises it."""

    error: BaseException


Action = Union[
    Lock, Unlock, LoadCheckpoint, StartCheckpoint, RecordPart, MarkCompleting, FlushCheckpoint, DropCheckpoint,
    CheckpointWritten, ReadAll, ReadStreamPart, DigestParts, CombineCrc64, CheckUnchanged, Head, Initiate, ListUploads, ListParts, SendPart,
    PutObject, StopParts, Complete, DeleteObject, Abort, ProgressStart, ProgressRewind, PartDone, ProgressFinish,
    ProgressFlush, Done, Failed,
]  # fmt: skip
#: The part actions a machine's window hands out: an executor starts each on a worker (a part slot) and hands
#: its outcome back when it finishes, in any order; every other action is done where the executor loops.
#: Each operation adds its own part action here (one per line).
PART_ACTIONS: Tuple[type, ...] = (
    SendPart,
    CopyPart,  # server-side copy: one Upload Part - Copy (_copyvalues)
    FetchRange,
)
