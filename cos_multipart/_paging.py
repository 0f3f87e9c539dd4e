"""Where the next page of a listing starts: shared by the sync and the async client (pure).

A server whose markers never advance would make a listing loop forever; both clients stop with
:class:`~cos_multipart.errors.CosResponseError` instead.
"""

from __future__ import annotations

from typing import Optional, Tuple

from ._xml import PartsPage, UploadsPage
from .errors import CosResponseError

UploadMarkers = Tuple[Optional[str], Optional[str]]


def next_parts_marker(page: PartsPage, marker: Optional[int]) -> Optional[int]:
    """The ``part-number-marker`` of the page after ``page`` (fetched with ``marker``), ``None`` at the end.

    Raises:
        CosResponseError: The page is truncated but its marker does not advance.
    """
    if not page.is_truncated:
        return None
    following = page.next_marker if page.next_marker is not None else (page.parts[-1].part_number if page.parts else None)
    if following is None or (marker is not None and following <= marker):
        raise CosResponseError(f"List Parts is truncated but its marker does not advance ({marker} -> {following})")
    return following


def next_upload_markers(page: UploadsPage, markers: UploadMarkers) -> Optional[UploadMarkers]:
    """The ``(key-marker, upload-id-marker)`` of the page after ``page``, ``None`` at the end.

    Raises:
        CosResponseError: The page is truncated but its markers do not advance.
    """
    if not page.is_truncated:
        return None
    following = (page.next_key_marker or None, page.next_upload_id_marker or None)
    if following[0] is None or following == markers:
        raise CosResponseError(f"List Multipart Uploads is truncated but its markers do not advance ({following})")
    return following
