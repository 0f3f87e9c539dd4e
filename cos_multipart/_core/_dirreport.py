"""What a directory upload or sync reports: the files uploaded, skipped and failed, and progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

from .._protocol.errors import KeptUpload

#: The ``kind`` of a :class:`FailedFile` stopped by an interruption (Ctrl-C, SIGTERM) rather than an error.
INTERRUPTED = "KeyboardInterrupt"


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded and verified (``bytes_reused``: bytes of parts an earlier run had sent)."""

    path: str
    key: str
    size: int
    crc64: int
    bytes_reused: int = 0


@dataclass(frozen=True)
class SkippedFile:
    """A file (or link, or special file) not uploaded, and why."""

    path: str
    key: str
    reason: str


@dataclass(frozen=True)
class FailedFile:
    """A file that could not be uploaded (or an object that could not be deleted): ``error`` is one line,
    ``kind`` the exception's class name (:data:`INTERRUPTED` for a file stopped by an interruption),
    ``kept`` the multipart upload kept for a resume (its parts are stored, and billed), if any."""

    path: str
    key: str
    error: str
    kind: str = ""
    kept: Optional[KeptUpload] = None

    @property
    def interrupted(self) -> bool:
        """Stopped by an interruption, not failed: the same run again finishes it."""
        return self.kind == INTERRUPTED


@dataclass(frozen=True)
class PlannedAction:
    """With ``dry_run``: what would be done (``"upload"`` or ``"delete"``), to which file and key, and why."""

    action: str
    path: str
    key: str
    size: int
    reason: str = ""


@dataclass(frozen=True)
class DirectoryProgress:
    """One progress report for the whole tree: files handled (uploaded, skipped or failed) and bytes.

    ``bytes_done`` counts the bytes of handled files plus those sent of the files in flight;
    ``bytes_confirmed`` the bytes of handled files plus those COS has acknowledged of the files in flight (see
    :attr:`~cos_multipart._core.progress.ProgressEvent.bytes_confirmed`). Skipped and failed files count as handled,
    so the total is reached when the run ends; files stopped by an interruption do not (the numbers stay
    where they were).
    """

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    files_failed: int = 0
    bytes_confirmed: int = 0


@dataclass(frozen=True)
class DirectoryReport:
    """What a directory upload or sync did.

    Attributes:
        uploaded: Files uploaded and verified.
        skipped: Files not uploaded: unchanged (sync), links, special files.
        failed: Files that failed (the others went on), and objects that could not be deleted.
        deleted: Keys removed by ``delete``.
        planned: With ``dry_run``: every upload and delete that would have been done.
        bytes_sent: Bytes sent by this run: the files uploaded (less their reused parts) and the parts COS
            acknowledged of files that did not finish (failed, kept for a resume, stopped).
        bytes_reused: Bytes of interrupted uploads an earlier run had sent (resumed, not sent again).
        elapsed: Seconds.
        dry_run: Nothing was uploaded or deleted.
        delete_skipped: Why ``delete`` deleted nothing: the walk could not read part of the tree, or more
            objects than ``max_delete`` would have been deleted.
        deletions_over_limit: When ``max_delete`` refused the deletions: how many the plan had (none was
            deleted; with ``dry_run`` they are in ``planned``); else 0.
        interrupted: The run was interrupted (the report a ``KeyboardInterrupt`` carries): files stopped
            part way are in ``failed`` with :attr:`FailedFile.interrupted` set, nothing was deleted.
        not_started: With ``interrupted``: the files the run never started.
    """

    uploaded: Tuple[UploadedFile, ...] = ()
    skipped: Tuple[SkippedFile, ...] = ()
    failed: Tuple[FailedFile, ...] = ()
    deleted: Tuple[str, ...] = ()
    planned: Tuple[PlannedAction, ...] = field(default=(), repr=False)
    bytes_sent: int = 0
    bytes_reused: int = 0
    elapsed: float = 0.0
    dry_run: bool = False
    delete_skipped: str = ""
    deletions_over_limit: int = 0
    interrupted: bool = False
    not_started: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing failed, and ``delete`` (when asked) was not refused."""
        return not self.failed and not self.delete_skipped

    @property
    def kept(self) -> Tuple[KeptUpload, ...]:
        """The multipart uploads kept for a resume by files that failed or were interrupted."""
        return tuple(f.kept for f in self.failed if f.kept is not None)


ProgressFunction = Callable[[DirectoryProgress], None]
