"""Walk a local directory into :class:`~cos_multipart._dirplan.LocalFile` values (the I/O of the planner).

Entries are visited in sorted order, so keys come out in a stable order on every OS. Symbolic links are
skipped unless ``follow_symlinks``; followed links to directories are checked against the directories
being walked (by device and inode), so a loop is reported once and never entered. Anything that is not a
regular file (sockets, FIFOs, devices) is reported and skipped; an unreadable directory is reported as a
failure and the walk goes on.
"""

from __future__ import annotations

import os
import stat
from typing import FrozenSet, List, Optional, Tuple, Union

from ._dirplan import LocalFile, WalkIssue, WalkOptions

_Identity = Tuple[int, int]


def walk(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
    """The files under ``root`` that ``options`` select, and what was left out with a reason."""
    files: List[LocalFile] = []
    issues: List[WalkIssue] = []
    top = os.stat(root)
    stack: List[Tuple[str, str, FrozenSet[_Identity]]] = [(root, "", frozenset({(top.st_dev, top.st_ino)}))]
    while stack:
        directory, relative_dir, ancestors = stack.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            issues.append(WalkIssue(directory, relative_dir, f"cannot list the directory: {error.strerror}", failed=True))
            continue
        below: List[Tuple[str, str, FrozenSet[_Identity]]] = []
        for entry in entries:
            relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
            found = _visit(entry, relative, options, ancestors, issues)
            if isinstance(found, LocalFile):
                files.append(found)
            elif found is not None:
                below.append((entry.path, relative, ancestors | {found}))
        stack.extend(reversed(below))  # depth first, in name order
    files.sort(key=lambda item: item.relative)
    return files, issues


def _visit(
    entry: "os.DirEntry[str]", relative: str, options: WalkOptions, ancestors: FrozenSet[_Identity], issues: List[WalkIssue]
) -> Optional[Union[LocalFile, _Identity]]:
    """A file to upload, the identity of a directory to enter, or ``None`` (reported in ``issues``)."""
    try:
        link = entry.is_symlink()
        if link and not options.follow_symlinks:
            if options.selects(relative):
                issues.append(WalkIssue(entry.path, relative, "symbolic link (not followed; see --follow-symlinks)"))
            return None
        info = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        issues.append(WalkIssue(entry.path, relative, "dangling symbolic link" if link else "vanished during the walk"))
        return None
    except OSError as error:
        issues.append(WalkIssue(entry.path, relative, f"cannot read: {error.strerror}", failed=True))
        return None
    if stat.S_ISDIR(info.st_mode):
        identity = (info.st_dev, info.st_ino)
        if identity in ancestors:
            issues.append(WalkIssue(entry.path, relative, "symbolic link loop (a directory being walked); not followed"))
            return None
        return identity if options.enters(relative) else None
    if not options.selects(relative):
        return None
    if not stat.S_ISREG(info.st_mode):
        issues.append(WalkIssue(entry.path, relative, "not a regular file"))
        return None
    return LocalFile(
        path=entry.path,
        relative=relative,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        ctime_ns=info.st_ctime_ns,
        inode=info.st_ino,
        device=info.st_dev,
    )
