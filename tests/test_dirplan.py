"""The directory planner as pure values: filters, keys, sync decisions, deletions; and the walk on a tree."""

from __future__ import annotations

import fnmatch
import os
import tempfile
from pathlib import Path
from typing import List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cos_multipart._drivers import _dirrun
from cos_multipart._io._crccache import CrcCache
from cos_multipart._core._dirplan import (
    DEFAULT_FILES_PER_TASK,
    LocalFile,
    WalkOptions,
    deletions,
    file_batches,
    files_per_task,
    normalise_prefix,
    object_key,
    split_by_size,
    sync_decision,
)
from cos_multipart._io._walk import walk
from cos_multipart._protocol.errors import CosValidationError


def local(relative: str, size: int = 1, ctime: int = 0) -> LocalFile:
    return LocalFile(f"/d/{relative}", relative, size, 0, ctime, 1, 1)


def test_filters_include_exclude_and_hidden() -> None:
    options = WalkOptions(include=("*.jpg", "docs/*"), exclude=("*/tmp/*",))
    assert options.selects("a/b.jpg") and options.selects("docs/x.txt")
    assert not options.selects("a/b.png") and not options.selects("a/tmp/b.jpg")
    assert WalkOptions().selects(".env") and not WalkOptions(hidden=False).selects("a/.git/config")
    assert not WalkOptions(exclude=("build/*",)).enters("build") and WalkOptions().enters("build")
    with pytest.raises(CosValidationError) as excinfo:
        WalkOptions(include="*.jpg")  # type: ignore[arg-type]
    assert excinfo.value.field == "include"


def test_prefix_and_keys() -> None:
    assert normalise_prefix("") == "" and normalise_prefix("photos") == "photos/" and normalise_prefix("a/") == "a/"
    assert object_key("photos/", "2024/猫 1.jpg") == "photos/2024/猫 1.jpg"
    for bad in ("/abs", 3):
        with pytest.raises(CosValidationError):
            normalise_prefix(bad)  # type: ignore[arg-type]
    with pytest.raises(CosValidationError):
        object_key("", "x" * 900)
    with pytest.raises(CosValidationError):
        object_key("", "bad\udcff name")  # a name that is not valid UTF-8 on disk


@pytest.mark.parametrize(
    "local_crc, remote_size, remote_crc, expected",
    [
        (None, None, None, "new"),
        (None, 5, None, "size differs (local 4, COS 5)"),
        (7, 4, None, "COS has no CRC-64 for the object"),
        (7, 4, 8, "content differs (CRC-64)"),
        (7, 4, 7, None),
    ],
)
def test_sync_decision(local_crc: object, remote_size: object, remote_crc: object, expected: object) -> None:
    assert sync_decision(4, local_crc, remote_size, remote_crc) == expected  # type: ignore[arg-type]


def test_deletions_keep_filtered_keys_markers_and_other_prefixes() -> None:
    remote = ["p/a", "p/b.tmp", "p/dir/", "p/gone", "q/x"]
    assert deletions(remote, ["p/a"], "p/", WalkOptions(exclude=("*.tmp",))) == ["p/gone"]
    odd = ["p/cache//x", "p/./cache/x", "p/../x", "p//"]  # keys no walk could give: never judged
    assert deletions(odd, [], "p/", WalkOptions(exclude=("cache/",))) == []
    protected = ["p/link", "p/link/x", "p/linked", "p/fifo", "p/fifo/y"]
    assert deletions(protected, [], "p/", WalkOptions(), kept=["link", "fifo"]) == ["p/linked"]


def test_split_by_size() -> None:
    small, large = split_by_size([local("a", 10), local("b", 100)], 100)
    assert [f.relative for f in small] == ["a"] and [f.relative for f in large] == ["b"]


def test_walk_sorted_keys_symlinks_and_loops(tmp_path: Path) -> None:
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "deep.txt").write_bytes(b"d")
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / ".hidden").write_bytes(b"")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "b" / "loop").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    files, issues = walk(str(tmp_path), WalkOptions())
    assert [f.relative for f in files] == [".hidden", "a.txt", "b/c/deep.txt"]
    reasons = {issue.relative: issue.reason for issue in issues}
    assert "not followed" in reasons["link.txt"] and "not followed" in reasons["b/loop"]
    assert reasons["fifo"] == "not a regular file"
    followed, issues = walk(str(tmp_path), WalkOptions(follow_symlinks=True))
    assert [f.relative for f in followed] == [".hidden", "a.txt", "b/c/deep.txt", "link.txt"]
    assert any("loop" in issue.reason and issue.relative == "b/loop" for issue in issues)


def test_crc_cache_trusts_identity_and_refuses_racy_entries(tmp_path: Path) -> None:
    cache = CrcCache(tmp_path / "cache.json")
    old = local("a", ctime=1)
    cache.put(old, 42, now=100.0)
    cache.put(local("b", ctime=99 * 10**9), 7, now=100.0)  # changed 1 s before: not stored
    cache.save()
    again = CrcCache(tmp_path / "cache.json")
    assert again.get(old) == 42 and again.get(local("b", ctime=99 * 10**9)) is None
    assert again.get(local("a", ctime=2)) is None  # ctime moved: re-read
    assert CrcCache(tmp_path / "cache.json", trust=False).get(old) is None
    (tmp_path / "cache.json").write_text("{broken")
    assert CrcCache(tmp_path / "cache.json").get(old) is None
    assert oct((tmp_path / "cache.json").stat().st_mode & 0o777)


def test_files_per_task_keeps_every_thread_busy() -> None:
    assert files_per_task(10_000, 4) == DEFAULT_FILES_PER_TASK
    assert files_per_task(40, 4) == 5  # two tasks per thread at least
    assert files_per_task(1, 4) == 1 and files_per_task(0, 4) == 1
    assert files_per_task(10_000, 4, asked=7) == 7


def test_file_batches_large_alone_first_small_by_count_and_bytes() -> None:
    sizes = [10, 500, 20, 30, 900, 40, 50]
    assert file_batches(sizes, 100, files=2) == [(4,), (1,), (0, 2), (3, 5), (6,)]
    assert file_batches(sizes, 100, files=10, max_bytes=60) == [(4,), (1,), (0, 2, 3), (5,), (6,)]
    assert file_batches([99], 100, files=1, max_bytes=1) == [(0,)]  # a batch holds at least one file
    assert file_batches([], 100, files=3) == []
    covered = sorted(index for batch in file_batches(sizes, 100, files=3) for index in batch)
    assert covered == list(range(len(sizes)))


# -- what --delete may delete, over random trees and patterns ------------------------------------------------

_NAMES = ("a", "b", "cache", ".h", "x.tmp", "d.jpg")
_PATTERNS = ("cache/", "*/cache/", "cach?/", "[c]ache/", "*/", "*.tmp", "a/*", "*/b", "b", "*.jpg", "*", "a/", "?/", ".*")
_KINDS = ("file", "dir", "link-file", "link-dir", "fifo")


def _excluded(relative: str, options: WalkOptions) -> bool:
    """An oracle written apart from the planner: whether the filters leave the path out. The path is left
    out when hidden names are off and a name starts with '.', when an exclude matches the path or any of its
    directories followed by '/', or when includes are given and none matches the path."""
    names = relative.split("/")
    if not options.hidden and any(name.startswith(".") for name in names):
        return True
    directories = ["/".join(names[:depth]) + "/" for depth in range(1, len(names))]
    if any(fnmatch.fnmatchcase(path, pattern) for pattern in options.exclude for path in [relative, *directories]):
        return True
    return bool(options.include) and not any(fnmatch.fnmatchcase(relative, pattern) for pattern in options.include)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(
        st.tuples(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3), st.sampled_from(_KINDS)), max_size=8
    ),
    extra=st.lists(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4), max_size=6),
    exclude=st.lists(st.sampled_from(_PATTERNS), max_size=2),
    include=st.lists(st.sampled_from(_PATTERNS), max_size=1),
    hidden=st.booleans(),
    follow=st.booleans(),
)
def test_delete_never_removes_an_excluded_or_existing_path(
    entries: List[Tuple[List[str], str]], extra: List[List[str]], exclude: List[str], include: List[str], hidden: bool, follow: bool
) -> None:
    options = WalkOptions(tuple(include), tuple(exclude), follow, hidden)
    with tempfile.TemporaryDirectory() as top:
        root = Path(top) / "tree"
        elsewhere = Path(top) / "elsewhere"
        (elsewhere / "sub").mkdir(parents=True)
        (elsewhere / "sub" / "f").write_bytes(b"f")
        root.mkdir()
        for names, kind in entries:
            path = root.joinpath(*names)
            if os.path.lexists(path):
                continue  # a name already taken (writing to a FIFO there would wait for a reader)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if kind == "file":
                    path.write_bytes(b"x")
                elif kind == "dir":
                    path.mkdir()
                elif kind == "link-file":
                    path.symlink_to(elsewhere / "sub" / "f")
                elif kind == "link-dir":
                    path.symlink_to(elsewhere)
                else:
                    os.mkfifo(path)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                continue  # a name already taken by another kind of entry
        files, issues = walk(str(root), options)
        if not follow:  # one rule: the walk takes exactly the regular files the filters cover
            regular = [
                os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")
                for directory, _, names in os.walk(root)
                for name in names
                if os.path.isfile(os.path.join(directory, name)) and not os.path.islink(os.path.join(directory, name))
            ]
            assert sorted(item.relative for item in files) == sorted(path for path in regular if options.covers(path))
        local_keys = ["p/" + item.relative for item in files]
        # The bucket: every local path (as the tree would be uploaded, followed or not) and more.
        remote = {"p/" + "/".join(names) for names, _ in entries} | {"p/" + "/".join(names) for names in extra}
        remote |= {"p/" + "/".join(names) + "/sub/f" for names, _ in entries}
        remote |= set(local_keys)
        kept = [issue.relative for issue in issues]
        doomed = [key for key in deletions(sorted(remote), local_keys, "p/", options, kept)
                  if not _dirrun._exists_under(str(root), key[len("p/") :])]  # as DirectoryRun._delete  # fmt: skip
        for key in doomed:
            relative = key[len("p/") :]
            assert not _excluded(relative, options), (key, options)
            local = root.joinpath(*relative.split("/"))
            assert not os.path.lexists(local), key  # nothing exists at the path
            # And no link that was not followed is on the way to it (what it leads to is unknown).
            names = relative.split("/")
            for depth in range(1, len(names)):
                assert follow or not root.joinpath(*names[:depth]).is_symlink(), key
