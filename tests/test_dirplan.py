"""The directory planner as pure values: filters, keys, sync decisions, deletions; and the walk on a tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cos_multipart._crccache import CrcCache
from cos_multipart._dirplan import (
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
from cos_multipart._walk import walk
from cos_multipart.errors import CosValidationError


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
