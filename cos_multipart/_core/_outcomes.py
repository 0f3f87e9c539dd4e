"""What an executor tells the upload machine: the facts it starts from and the typed outcomes of actions.

Actions with a plain outcome (``None``, an ``ObjectResult``, a list of ``PartInfo``...) use the client's own
result types; the values here are the ones with no such type. Time only enters the machine through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ._partvalues import PartDigest
from .._protocol.dialect import Dialect
from .parts import Answer
from .session import FileIdentity

__all__ = ["Initiated", "Sent", "SourceFacts", "Target"]


class _Endpoint:
    """The endpoint a session names (what ``_decisions.HasEndpoint`` reads)."""

    def __init__(self, base_url: str, dialect: Dialect) -> None:
        self.base_url = base_url
        self.dialect = dialect


@dataclass(frozen=True)
class Target:
    """Where the upload goes: endpoint URL, bucket, the service's dialect (no client, no credential).

    It reads like a client to :mod:`cos_multipart._core._decisions` (``bucket``, ``endpoint.base_url``,
    ``endpoint.dialect``).
    """

    base_url: str
    bucket: str
    dialect: Dialect

    @property
    def endpoint(self) -> _Endpoint:
        """The endpoint as a client exposes it."""
        return _Endpoint(self.base_url, self.dialect)


@dataclass(frozen=True)
class SourceFacts:
    """What the machine knows of the source: never its bytes or its file handle.

    Attributes:
        kind: ``"file"``, ``"buffer"`` or ``"stream"``.
        size: Bytes (``None``: a stream of unknown length).
        path: Absolute path of a file given by path (then the upload is resumable), else ``None``.
        identity: The file's identity when opened (files only).
        name: For messages.
        check_length: A stream's check of its length at its end (pure: compares with the stated size).
    """

    kind: str
    size: Optional[int]
    path: Optional[str] = None
    identity: Optional[FileIdentity] = None
    name: str = "the source"
    check_length: Optional[Callable[[int], None]] = None


@dataclass(frozen=True)
class Initiated:
    """Initiate's answer.

    Attributes:
        upload_id: The new upload.
        request_id: Its request id.
        attempts: Requests the transport sent (more than one: earlier attempts may have made uploads too).
        started: Unix time (service clock, as far as known) before the first attempt.
        at: Unix time of the answer (the session's ``created``).
    """

    upload_id: str
    request_id: str
    attempts: int
    started: float
    at: float


@dataclass(frozen=True)
class Sent:
    """One attempt at a body: the digest of the bytes sent and what the service answered; ``identity``: the
    file as the machine that read it saw it, when that is another machine (a cluster's worker)."""

    digest: PartDigest
    answer: Answer
    identity: Optional[FileIdentity] = None
