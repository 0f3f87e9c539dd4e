"""``--json`` output shared by commands: one JSON object a line on stdout, errors as one JSON object on
stderr (docs/cli.md gives each command's schema; names are exact, never escaped for the eye)."""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any, Dict, Optional

from .check import json_line
from .._protocol.errors import KeptUpload


def emit(value: Dict[str, Any]) -> None:
    """Print ``value`` as one JSON line on stdout."""
    print(json_line(value), flush=True)


def iso_time(value: Optional[datetime.datetime]) -> Optional[str]:
    """``value`` in UTC as ISO 8601 (``2026-12-07T04:00:00+00:00``), ``None`` when unknown."""
    return value.astimezone(datetime.timezone.utc).isoformat() if value else None


def kept_object(kept: Optional[KeptUpload], args: Optional[argparse.Namespace] = None) -> Optional[Dict[str, Any]]:
    """The upload a failure kept for a resume, as the ``kept`` field of an error object, with the commands
    that resume it (``None`` when it was not made from a file) and abort it."""
    if kept is None:
        return None
    from .commands import abort_command, resume_command

    return {
        "service": kept.service,
        "bucket": kept.bucket,
        "key": kept.key,
        "upload_id": kept.upload_id,
        "parts_done": kept.parts_done,
        "parts_total": kept.parts_total,
        "source": kept.source or None,
        "resume_command": resume_command(args, kept),
        "abort_command": abort_command(args, kept),
    }


def error_object(
    exit_code: int, message: str, kept: Optional[KeptUpload] = None, args: Optional[argparse.Namespace] = None
) -> Dict[str, Any]:
    """``{"type": "error", ...}``: what ``--json`` prints on stderr instead of the error line."""
    return {"type": "error", "exit_code": exit_code, "message": message, "kept": kept_object(kept, args)}


def print_error(
    exit_code: int, message: str, kept: Optional[KeptUpload] = None, args: Optional[argparse.Namespace] = None
) -> None:
    """Print the error object on stderr."""
    print(json_line(error_object(exit_code, message, kept, args)), file=sys.stderr, flush=True)


def upload_line(kind: str, key: str, upload_id: str, code: Optional[str] = None) -> Dict[str, Any]:
    """One upload of ``abort --json``: ``aborted``, ``not_aborted`` (with the service's ``code``) or ``would_abort``."""
    return {"type": kind, "key": key, "upload_id": upload_id, "code": code}


def checkpoint_line(kind: str, path: Any, source: Any) -> Dict[str, Any]:
    """One checkpoint of ``abort --json``: ``checkpoint_removed`` or ``would_remove_checkpoint``."""
    return {"type": kind, "path": str(path), "source": None if source is None else str(source)}


def abort_summary(lines: Any, *, dry_run: bool, too_recent: int = 0) -> Dict[str, Any]:
    """The last object of ``abort --json``: the lines printed, counted by type."""
    kinds = [line["type"] for line in lines]
    counted = ("aborted", "not_aborted", "would_abort", "checkpoint_removed", "would_remove_checkpoint")
    return {"type": "summary", **{kind: kinds.count(kind) for kind in counted}, "too_recent": too_recent, "dry_run": dry_run}


def emit_all(lines: Any, summary: Dict[str, Any]) -> None:
    """Print ``lines``, then ``summary``."""
    for line in lines:
        emit(line)
    emit(summary)


def checkpoint_object(path: Any, checkpoint: Any) -> Dict[str, Any]:
    """One interrupted upload of ``resume --json`` (no PATH): a checkpoint and what it records."""
    from .transfer import is_copy

    started = datetime.datetime.fromtimestamp(checkpoint.created, datetime.timezone.utc) if checkpoint.created else None
    copy = is_copy(checkpoint)  # its source is an object, recorded only as a digest: no path to show
    return {
        "type": "checkpoint",
        "path": str(path),
        "copy": copy,
        "source": None if checkpoint.source is None or copy else str(checkpoint.source),
        "target": f"{checkpoint.service}://{checkpoint.bucket}/{checkpoint.key}",
        "service": checkpoint.service,
        "bucket": checkpoint.bucket,
        "key": checkpoint.key,
        "upload_id": checkpoint.upload_id,
        "parts_done": len(checkpoint.parts),
        "parts_total": checkpoint.plan.count,
        "part_size": checkpoint.plan.part_size,
        "size": checkpoint.plan.size,
        "started": iso_time(started),
        "endpoint": checkpoint.endpoint,
        "encryption": checkpoint.encryption,
    }
