"""What a directory upload or sync reports: the files uploaded, skipped and failed, and progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Tuple


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
    ``kind`` the exception's class name."""

    path: str
    key: str
    error: str
    kind: str = ""


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

    ``bytes_done`` counts the bytes of handled files plus those in flight; skipped and failed files count as
    handled, so the total is reached when the run ends.
    """

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    files_failed: int = 0


@dataclass(frozen=True)
class DirectoryReport:
    """What a directory upload or sync did.

    Attributes:
        uploaded: Files uploaded and verified.
        skipped: Files not uploaded: unchanged (sync), links, special files.
        failed: Files that failed (the others went on), and objects that could not be deleted.
        deleted: Keys removed by ``delete``.
        planned: With ``dry_run``: every upload and delete that would have been done.
        bytes_sent: Bytes sent by this run.
        bytes_reused: Bytes of interrupted uploads an earlier run had sent (resumed, not sent again).
        elapsed: Seconds.
        dry_run: Nothing was uploaded or deleted.
        delete_skipped: Why ``delete`` deleted nothing: the walk could not read part of the tree, or more
            objects than ``max_delete`` would have been deleted.
        deletions_over_limit: When ``max_delete`` refused the deletions: how many the plan had (none was
            deleted; with ``dry_run`` they are in ``planned``); else 0.
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

    @property
    def ok(self) -> bool:
        """Nothing failed, and ``delete`` (when asked) was not refused."""
        return not self.failed and not self.delete_skipped


ProgressFunction = Callable[[DirectoryProgress], None]
