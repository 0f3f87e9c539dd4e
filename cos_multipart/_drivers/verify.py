"""Does an object equal a local file? Size and CRC-64 compared, nothing downloaded (one HEAD).

:func:`verify` is what ``cos-multipart verify`` runs: HEAD the key, compare its size with the file's, and when
they agree read the file once and compare its CRC-64 with the one COS (or OSS) computed for the object. The
answer is a :class:`VerifyResult` value; an object that differs is not an exception, only a failed request is.

Example::

    from cos_multipart import CosClient, verify

    with CosClient("examplebucket-1250000000", "ap-guangzhou") as client:
        result = verify(client, "backup.tar", "backups/backup.tar")
        if not result.equal:
            print(result.describe())
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Optional, Union

from .._protocol.checksum import file_crc64
from .._protocol.errors import CosValidationError, SourceNotFoundError
from .._protocol.sse import SseC

if TYPE_CHECKING:
    from .._io.client import CosClient

__all__ = ["VerifyOutcome", "VerifyResult", "verify"]

PathLike = Union[str, "os.PathLike[str]"]

#: How a comparison ended: ``"equal"``; ``"missing"`` (no object has the key); ``"size"`` (sizes differ: the
#: file was not read); ``"crc64"`` (same size, other bytes); ``"no-crc64"`` (the service sent no CRC-64 for the
#: object, e.g. one written by a tool that does not compute it: nothing can be concluded).
VerifyOutcome = Literal["equal", "missing", "size", "crc64", "no-crc64"]


@dataclass(frozen=True)
class VerifyResult:
    """A local file compared with an object: sizes and CRC-64s, and the verdict.

    Attributes:
        path: The local file, as given.
        bucket: Bucket.
        key: Object key.
        local_size: Bytes in the file.
        remote_size: Bytes in the object, or ``None`` when it does not exist.
        local_crc64: CRC-64 of the file, or ``None`` when it was not read (the object is missing, its size
            differs, or the service sent no CRC-64).
        remote_crc64: CRC-64 the service reports for the object, or ``None``.
    """

    path: str
    bucket: str
    key: str
    local_size: int
    remote_size: Optional[int]
    local_crc64: Optional[int]
    remote_crc64: Optional[int]

    @property
    def exists(self) -> bool:
        """Whether an object has the key."""
        return self.remote_size is not None

    @property
    def outcome(self) -> VerifyOutcome:
        """How the comparison ended (see :data:`VerifyOutcome`)."""
        if self.remote_size is None:
            return "missing"
        if self.remote_size != self.local_size:
            return "size"
        if self.remote_crc64 is None or self.local_crc64 is None:
            return "no-crc64"
        return "equal" if self.local_crc64 == self.remote_crc64 else "crc64"

    @property
    def equal(self) -> bool:
        """Whether the object holds the file's bytes (same size and the same CRC-64)."""
        return self.outcome == "equal"

    def describe(self) -> str:
        """One line saying what was found."""
        where = f"{self.bucket}/{self.key}"
        outcome = self.outcome
        if outcome == "missing":
            return f"{where} does not exist"
        if outcome == "size":
            return f"differ: {self.path} is {self.local_size} bytes, {where} is {self.remote_size} bytes"
        if outcome == "no-crc64":
            return f"cannot verify: the service sent no CRC-64 for {where}"
        if outcome == "crc64":
            return (
                f"differ: {self.path} has CRC-64 {self.local_crc64}, {where} has {self.remote_crc64} "
                f"(same size {self.local_size})"
            )
        return f"equal: {self.path} and {where} ({self.local_size} bytes, CRC-64 {self.local_crc64})"


def verify(client: "CosClient", path: PathLike, key: str, *, sse_c: Optional[SseC] = None) -> VerifyResult:
    """Compare the file at ``path`` with the object at ``key``: size, then CRC-64 (one HEAD, no download).

    The file is read (once, 1 MiB at a time) only when the sizes agree and the service reported a CRC-64.

    Args:
        client: A client of the object's bucket (COS or OSS).
        path: The local file.
        key: Object key.
        sse_c: The SSE-C key, for an object stored with SSE-C (its HEAD needs it).

    Returns:
        The :class:`VerifyResult`; ``result.equal`` is the verdict.

    Raises:
        SourceNotFoundError: No file at ``path``.
        CosValidationError: ``path`` is not a regular file, ``key`` breaks the key rules, ``sse_c`` is not an
            :class:`~cos_multipart._protocol.sse.SseC` (nothing sent).
        CosServiceError / CosTransportError: HEAD failed other than with 404.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise CosValidationError("path", type(path).__name__, "the path of a local file (str or os.PathLike)")
    if sse_c is not None and not isinstance(sse_c, SseC):
        raise CosValidationError("sse_c", type(sse_c).__name__, "None or an SseC key")
    text = os.fspath(path)
    try:
        info = os.stat(text)
    except FileNotFoundError:
        raise SourceNotFoundError(text, "path") from None
    if not stat.S_ISREG(info.st_mode):
        raise CosValidationError("path", text, "a regular file")
    found = client.find_object(key, sse_c=sse_c)
    remote_size = found.size if found is not None else None
    remote_crc = found.crc64 if found is not None else None
    local_crc = None
    if remote_size == info.st_size and remote_crc is not None:
        local_crc = file_crc64(text)
    return VerifyResult(text, client.bucket, key, info.st_size, remote_size, local_crc, remote_crc)
