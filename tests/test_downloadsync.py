"""The pure decisions of ``sync cos://BUCKET/PREFIX/ DIR``."""

from __future__ import annotations

from cos_multipart._core._dirplan import WalkOptions
from cos_multipart._core._downloadsync import RemoteObject, local_deletions, over_limit, plan_sync_download


def test_plan_selects_refuses_and_leaves_out_folder_markers() -> None:
    objects = [RemoteObject("p/a", 1), RemoteObject("p/x/", 0), RemoteObject("p/../e", 1), RemoteObject("p/b.log", 1), RemoteObject("q/z", 1)]
    items = plan_sync_download(objects, "p/", WalkOptions(exclude=("*.log",)))
    assert [(item.remote.key, item.relative, bool(item.refused)) for item in items] == [("p/a", "a", False), ("p/../e", None, True)]


def test_deletions_spare_objects_filtered_paths_and_temporary_files() -> None:
    items = plan_sync_download([RemoteObject("p/a", 1)], "p/", WalkOptions())
    local = ["a", "gone", "keep.log", ".big.cos-download", ".big.cos-download.json", "d/.hidden"]
    assert local_deletions(local, items, WalkOptions(exclude=("*.log",))) == ["gone", "d/.hidden"]
    assert local_deletions(local, items, WalkOptions(exclude=("*.log",), hidden=False)) == ["gone"]


def test_max_delete() -> None:
    assert not over_limit(3, None) and not over_limit(3, 3) and over_limit(4, 3)
