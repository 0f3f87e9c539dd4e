"""Which object keys can be written under a local directory, and where (pure: no file system).

A key comes from the service, which may hold names that mean something else on a disk: ``..`` components that
climb out of the target, absolute paths, NUL bytes, back-slashes (a separator on Windows), empty components
(``a//b``). :func:`local_parts` turns the part of a key below the prefix into path components, or says why it
is refused; the caller lists what was refused and writes nothing for it. The caller still checks, once the
directories exist, that the real path stays inside the target (a symbolic link already there could lead out).
"""

from __future__ import annotations

from typing import Optional, Tuple

__all__ = ["is_folder_marker", "local_parts"]

#: Longest file name most local file systems take (bytes of UTF-8).
MAX_NAME_BYTES = 255


def is_folder_marker(relative: str, size: int) -> bool:
    """Whether the key is an empty "folder" object (``photos/``): nothing to write, its directory is made anyway."""
    return relative.endswith("/") and size == 0


def local_parts(relative: str) -> Tuple[Optional[Tuple[str, ...]], str]:
    """``(components, "")`` for a key's part below the prefix that is safe to write below the target, else
    ``(None, why)``."""
    if not relative:
        return None, "the key is the prefix itself (no name below it)"
    if "\x00" in relative:
        return None, "the key holds a NUL byte"
    if "\\" in relative:
        return None, "the key holds a back-slash (a path separator on Windows)"
    if relative.startswith("/"):
        return None, "the key is an absolute path"
    parts = relative.split("/")
    for part in parts:
        if part == "":
            return None, "the key has an empty path component ('//')"
        if part in (".", ".."):
            return None, f"the key has a {part!r} path component"
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            return None, f"a path component is longer than {MAX_NAME_BYTES} bytes"
    if len(parts[0]) >= 2 and parts[0][1] == ":":
        return None, "the key starts with a drive letter"
    return tuple(parts), ""
