"""Walk a local directory into :class:`~cos_multipart._core._dirplan.LocalFile` values (the I/O of the planner).

Entries are visited in sorted order, so keys come out in a stable order on every OS. Symbolic links are
skipped unless ``follow_symlinks``; followed links to directories are checked against the directories
being walked (by device and inode), so a loop is reported once and never entered. Anything that is not a
regular file (sockets, FIFOs, devices) is reported and skipped; an unreadable directory is reported as a
failure and the walk goes on.

Without ``follow_symlinks`` no link is ever followed, not even one put in place while the walk runs: every
directory is opened relative to its parent's descriptor with ``O_NOFOLLOW`` and listed from its own
descriptor, never by path, and :func:`open_in_tree` opens a file the same way when it is read (the caller
then compares the opened file's identity with the walk's). A directory swapped for a link between being
listed and being entered fails to open (reported as a failure) instead of leading outside the tree.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import FrozenSet, List, Optional, Tuple, Union

from .._core._dirplan import LocalFile, WalkIssue, WalkOptions

_Identity = Tuple[int, int]

#: ``O_NOFOLLOW`` where the platform has one (POSIX); 0 elsewhere (Windows has no such flag).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: ``O_DIRECTORY`` where the platform has one.
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
#: Errors of opening with ``O_NOFOLLOW`` (and ``O_DIRECTORY``) something that is now a link or no directory.
SWAPPED = {errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", errno.ELOOP)}


class _OpenDir:
    """A directory descriptor shared by the directory's listing and its pending subdirectories."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.users = 1

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            os.close(self.fd)


def _dir_flags(follow_symlinks: bool) -> int:
    return os.O_RDONLY | _DIRECTORY | (0 if follow_symlinks else _NOFOLLOW)


def walk(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
    """The files under ``root`` that ``options`` select, and what was left out with a reason."""
    files: List[LocalFile] = []
    issues: List[WalkIssue] = []
    try:
        top_fd = os.open(root, os.O_RDONLY | _DIRECTORY)  # the directory the caller named: followed if a link
    except OSError as error:
        return files, [WalkIssue(root, "", f"cannot list the directory: {error.strerror}", failed=True)]
    top = os.fstat(top_fd)
    # (parent, name, path, relative, ancestors, identity seen in the parent's listing)
    Pending = Tuple[_OpenDir, str, str, str, FrozenSet[_Identity], _Identity]
    stack: List[Pending] = []
    _list(_OpenDir(top_fd), root, "", frozenset({(top.st_dev, top.st_ino)}), options, files, issues, stack)
    try:
        while stack:
            parent, name, path, relative_dir, ancestors, seen = stack.pop()
            try:
                fd = os.open(name, _dir_flags(options.follow_symlinks), dir_fd=parent.fd)
            except OSError as error:
                reason = (
                    "replaced during the walk (no longer a directory); not entered"
                    if error.errno in SWAPPED
                    else f"cannot list the directory: {error.strerror}"
                )
                issues.append(WalkIssue(path, relative_dir, reason, failed=True))
                continue
            finally:
                parent.release()
            opened = _OpenDir(fd)
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) != seen:
                issues.append(WalkIssue(path, relative_dir, "replaced during the walk (another directory); not entered", failed=True))
                opened.release()
                continue
            _list(opened, path, relative_dir, ancestors, options, files, issues, stack)
    finally:
        for parent, *_ in stack:
            parent.release()
    files.sort(key=lambda item: item.relative)
    return files, issues


def _list(
    directory: _OpenDir,
    path: str,
    relative_dir: str,
    ancestors: FrozenSet[_Identity],
    options: WalkOptions,
    files: List[LocalFile],
    issues: List[WalkIssue],
    stack: List[Tuple[_OpenDir, str, str, str, FrozenSet[_Identity], _Identity]],
) -> None:
    """List one open directory: its files into ``files``, its subdirectories onto ``stack``."""
    try:
        try:
            with os.scandir(directory.fd) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            issues.append(WalkIssue(path, relative_dir, f"cannot list the directory: {error.strerror}", failed=True))
            return
        below = []
        for entry in entries:
            relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
            entry_path = os.path.join(path, entry.name)
            found = _visit(entry, entry_path, relative, options, ancestors, issues)
            if isinstance(found, LocalFile):
                files.append(found)
            elif found is not None:
                directory.users += 1
                below.append((directory, entry.name, entry_path, relative, ancestors | {found}, found))
        stack.extend(reversed(below))  # depth first, in name order
    finally:
        directory.release()


def _visit(
    entry: "os.DirEntry[str]",
    path: str,
    relative: str,
    options: WalkOptions,
    ancestors: FrozenSet[_Identity],
    issues: List[WalkIssue],
) -> Optional[Union[LocalFile, _Identity]]:
    """A file to upload, the identity of a directory to enter, or ``None`` (reported in ``issues``)."""
    link = False
    try:
        link = entry.is_symlink()
        if link and not options.follow_symlinks:
            # Reported (and so protected from --delete) whenever the filters would take it as a file or
            # enter it as a directory: what it points to is unknown.
            if options.selects(relative) or options.enters(relative):
                issues.append(WalkIssue(path, relative, "symbolic link (not followed; see --follow-symlinks)"))
            return None
        info = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        issues.append(WalkIssue(path, relative, "dangling symbolic link" if link else "vanished during the walk"))
        return None
    except OSError as error:
        issues.append(WalkIssue(path, relative, f"cannot read: {error.strerror}", failed=True))
        return None
    if stat.S_ISLNK(info.st_mode):  # listed as a file or directory, a link by the time it was looked at
        issues.append(WalkIssue(path, relative, "symbolic link (not followed; see --follow-symlinks)"))
        return None
    if stat.S_ISDIR(info.st_mode):
        identity = (info.st_dev, info.st_ino)
        if identity in ancestors:
            issues.append(WalkIssue(path, relative, "symbolic link loop (a directory being walked); not followed"))
            return None
        return identity if options.enters(relative) else None
    if not options.selects(relative):
        return None
    if not stat.S_ISREG(info.st_mode):
        issues.append(WalkIssue(path, relative, "not a regular file"))
        return None
    return LocalFile(
        path=path,
        relative=relative,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        ctime_ns=info.st_ctime_ns,
        inode=info.st_ino,
        device=info.st_dev,
    )


def open_in_tree(root: str, relative: str, *, follow_symlinks: bool) -> int:
    """A read-only descriptor of the file at ``relative`` (``/`` separators) under ``root``.

    Without ``follow_symlinks`` every directory on the way and the file itself are opened relative to the
    previous one with ``O_NOFOLLOW``: a link anywhere below ``root`` (one put in place after the walk saw a
    directory or a file there) fails the open with ``ELOOP`` or ``ENOTDIR`` instead of leading outside the
    tree. ``root`` itself is opened as the caller named it.

    Raises:
        OSError: The file cannot be opened (missing, a link, not readable).
    """
    # O_NONBLOCK: a FIFO put in the file's place must not block the open (a regular file ignores it).
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    if follow_symlinks or not _NOFOLLOW:
        opened = os.open(os.path.join(root, *relative.split("/")), flags)
    else:
        *directories, name = relative.split("/")
        fd = os.open(root, os.O_RDONLY | _DIRECTORY)
        try:
            for directory in directories:
                below = os.open(directory, _dir_flags(False), dir_fd=fd)
                os.close(fd)
                fd = below
            opened = os.open(name, flags | _NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
    if hasattr(os, "set_blocking"):
        os.set_blocking(opened, True)
    return opened
