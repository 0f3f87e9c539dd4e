"""What ``sync --delete`` may delete, and the walk and reads a hostile tree cannot lead astray, against the
local server speaking COS and OSS (library and command line).

Each test first stores every object the tree could hold, then syncs with ``delete=True`` and checks which
objects are left: an object is removed only when its path is considered by the filters and nothing exists
at that path locally.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from cos_multipart._io import _sources
from cos_multipart._drivers import _dirrun
from cos_multipart._io import _walk
from cos_multipart._cli import main as cli
from cos_multipart._cli.dirs import EXIT_DELETE_LIMIT
from cos_multipart._core._dirplan import LocalFile, WalkIssue, WalkOptions
from cos_multipart._io.client import CosClient
from cos_multipart._drivers.directory import sync_directory, upload_directory
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import LocalCOS
from cos_multipart._drivers.uploader import UploadConfig

from uploads import stored, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def config(tmp_path: Path) -> UploadConfig:
    return UploadConfig(concurrency=3, part_size=MB, multipart_threshold=MB, checkpoint_dir=tmp_path / "ckpt")


def write(root: Path, files: Dict[str, bytes]) -> None:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def keys(client: CosClient, prefix: str = "") -> List[str]:
    return sorted(summary.key for summary in client.list_objects(prefix or None))


CACHE_TREE = {"keep.txt": b"k", "cache/a.bin": b"a", "cache/b/c.bin": b"c", "x/cache/d.bin": b"d", "x/e.txt": b"e"}


@pytest.mark.parametrize(
    "pattern, protected",
    [
        ("cache/", ["cache/a.bin", "cache/b/c.bin"]),
        ("*/cache/", ["x/cache/d.bin"]),
        ("cach?/", ["cache/a.bin", "cache/b/c.bin"]),
        ("[c]ache/", ["cache/a.bin", "cache/b/c.bin"]),
        ("*/", ["cache/a.bin", "cache/b/c.bin", "x/cache/d.bin", "x/e.txt"]),
    ],
)
def test_a_directory_exclude_protects_the_objects_under_it(
    client: CosClient, tmp_path: Path, pattern: str, protected: List[str]
) -> None:
    write(tmp_path / "src", CACHE_TREE)
    assert upload_directory(client, tmp_path / "src", "p", config=config(tmp_path)).ok
    client.put_object("p/gone.txt", b"no local file")
    report = sync_directory(client, tmp_path / "src", "p", config=config(tmp_path), exclude=[pattern], delete=True, cache=False)
    assert report.deleted == ("p/gone.txt",)  # the one object with no local file and not excluded
    left = keys(client, "p/")
    assert all(f"p/{relative}" in left for relative in protected)  # their files exist: nothing lost
    assert left == sorted(f"p/{relative}" for relative in CACHE_TREE)


def test_skipped_links_fifos_and_sockets_protect_their_objects(client: CosClient, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src, {"real.txt": b"r", "inside/f.txt": b"f"})
    write(tmp_path / "elsewhere", {"x.txt": b"x", "sub/y.txt": b"y"})
    (src / "file-link.txt").symlink_to(src / "real.txt")
    (src / "dir-link").symlink_to(tmp_path / "elsewhere")
    (src / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(src / "fifo")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(src / "sock"))
    try:
        # An earlier run with --follow-symlinks stored the links' targets; the special files had objects too.
        assert upload_directory(client, src, "p", config=config(tmp_path), follow_symlinks=True).uploaded
        for name in ("fifo", "sock", "dangling"):
            client.put_object(f"p/{name}", b"old")
        client.put_object("p/gone.txt", b"no local file")
        before = keys(client, "p/")
        assert {"p/dir-link/x.txt", "p/dir-link/sub/y.txt", "p/file-link.txt"} <= set(before)
        report = sync_directory(client, src, "p", config=config(tmp_path), delete=True, cache=False)
        assert {s.key for s in report.skipped} >= {"p/file-link.txt", "p/dir-link", "p/dangling", "p/fifo", "p/sock"}
        assert report.deleted == ("p/gone.txt",)
        assert keys(client, "p/") == sorted(set(before) - {"p/gone.txt"})
        # A link the filters take neither as a file nor as a directory is protected by the filter rule.
        only = sync_directory(client, src, "p", config=config(tmp_path), include=["*.txt"], delete=True, cache=False)
        assert only.deleted == () and keys(client, "p/") == sorted(set(before) - {"p/gone.txt"})
    finally:
        listener.close()


def test_delete_with_no_prefix_needs_delete_bucket_wide(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    write(tmp_path / "src", {"a.txt": b"a"})
    client.put_object("someone-elses/data.bin", b"precious")
    sent = len(local_cos.log_entries())
    for dry_run in (False, True):
        with pytest.raises(CosValidationError) as excinfo:
            sync_directory(client, tmp_path / "src", "", config=config(tmp_path), delete=True, dry_run=dry_run, cache=False)
        assert excinfo.value.field == "delete_bucket_wide"
    assert len(local_cos.log_entries()) == sent  # refused before any request
    report = sync_directory(client, tmp_path / "src", "", config=config(tmp_path), delete=True, delete_bucket_wide=True,
                            max_delete=1, cache=False)  # fmt: skip
    assert report.deleted == ("someone-elses/data.bin",) and keys(client) == ["a.txt"]
    with pytest.raises(CosValidationError) as excinfo:
        sync_directory(client, tmp_path / "src", "p", config=config(tmp_path), delete=True, max_delete=-1)
    assert excinfo.value.field == "max_delete"


def test_max_delete_refuses_the_whole_plan_and_dry_run_shows_it(client: CosClient, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()  # an emptied (or unmounted) directory
    for index in range(3):
        client.put_object(f"p/{index}.bin", b"x")
    for dry_run in (True, False):
        report = sync_directory(client, tmp_path / "src", "p", config=config(tmp_path), delete=True, max_delete=2,
                                dry_run=dry_run, cache=False)  # fmt: skip
        assert report.deleted == () and report.deletions_over_limit == 3 and not report.ok
        assert "3 objects would be deleted, more than max_delete=2" in report.delete_skipped
        assert [a.key for a in report.planned if a.action == "delete"] == (["p/0.bin", "p/1.bin", "p/2.bin"] if dry_run else [])
        assert keys(client, "p/") == ["p/0.bin", "p/1.bin", "p/2.bin"]
    done = sync_directory(client, tmp_path / "src", "p", config=config(tmp_path), delete=True, max_delete=3, cache=False)
    assert done.ok and len(done.deleted) == 3 and keys(client, "p/") == []
    nothing = sync_directory(client, tmp_path / "src", "p", config=config(tmp_path), delete=True, max_delete=0, cache=False)
    assert nothing.ok and nothing.deletions_over_limit == 0  # a limit of 0 with nothing to delete is no refusal


def test_cli_bucket_wide_and_max_delete(cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    write(src, {"a.txt": b"a"})
    with cli_env.client() as client:
        for index in range(3):
            client.put_object(f"p/old{index}", b"x")
        sent = len(cli_env.log_entries())
        bucket = target(cli_env, "")
        assert cli.main(["sync", "--delete", str(src), bucket]) == cli.EXIT_USAGE
        assert "--delete-bucket-wide" in capsys.readouterr().err
        assert cli.main(["sync", "--delete", "--dry-run", str(src), bucket.rstrip("/")]) == cli.EXIT_USAGE
        assert cli.main(["sync", "--max-delete", "1", str(src), target(cli_env, "p/")]) == cli.EXIT_USAGE
        assert "--max-delete 1: a bound of --delete: give it with --delete" in capsys.readouterr().err
        assert len(cli_env.log_entries()) == sent  # nothing sent
        assert cli.main(["sync", "--delete", "--max-delete", "2", "--dry-run", str(src), target(cli_env, "p/")]) == EXIT_DELETE_LIMIT
        captured = capsys.readouterr()
        assert captured.out.count("would delete") == 3 and "3 objects would be deleted, more than --max-delete 2" in captured.err
        assert "a real run would delete none of them" in captured.err
        assert cli.main(["sync", "--delete", "--max-delete", "2", str(src), target(cli_env, "p/")]) == EXIT_DELETE_LIMIT
        assert "nothing was deleted" in capsys.readouterr().err
        assert keys(client, "p/") == ["p/a.txt", "p/old0", "p/old1", "p/old2"]
        assert cli.main(["sync", "--delete", "--max-delete", "3", str(src), target(cli_env, "p/")]) == cli.EXIT_OK
        assert keys(client, "p/") == ["p/a.txt"]
        assert cli.main(["sync", "--delete", "--delete-bucket-wide", str(src), bucket]) == cli.EXIT_OK
        assert keys(client) == ["a.txt"]  # the bucket now mirrors the tree


@pytest.fixture()
def outside(tmp_path: Path) -> Iterator[Path]:
    secret = tmp_path / "outside"
    write(secret, {"id_rsa": b"PRIVATE KEY"})
    yield secret


def test_a_directory_swapped_for_a_link_during_the_walk_is_not_followed(
    client: CosClient, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    write(src, {"mv4/d100/note.txt": b"n", "mv4/other.txt": b"o"})
    real_open, real_scandir = os.open, os.scandir
    victim = src / "mv4" / "d100"
    swapped: List[bool] = []

    def swap(name: Any) -> None:
        """Just before the walk enters ``mv4/d100`` (listed as a directory): make it a link outside."""
        if not swapped and not isinstance(name, int) and os.fspath(name) in ("d100", str(victim)):
            swapped.append(True)
            shutil.rmtree(victim)
            victim.symlink_to(outside)

    def opening(name: Any, *args: Any, **kwargs: Any) -> int:
        swap(name)
        return real_open(name, *args, **kwargs)

    def scandir(where: Any) -> Any:
        swap(where)
        return real_scandir(where)

    # The walk enters a directory by opening it under its parent (or, before the fix, by listing its path).
    monkeypatch.setattr(os, "open", opening)
    monkeypatch.setattr(os, "scandir", scandir)
    client.put_object("p/mv4/d100/note.txt", b"n")
    report = sync_directory(client, src, "p", config=config(tmp_path), delete=True, cache=False)
    monkeypatch.undo()
    assert victim.is_symlink()  # the swap happened between listing mv4 and entering d100
    assert [u.key for u in report.uploaded] == ["p/mv4/other.txt"]
    assert [(f.key, "replaced during the walk" in f.error) for f in report.failed] == [("p/mv4/d100", True)]
    assert report.deleted == () and client.find_object("p/mv4/d100/note.txt") is not None  # kept: not walked
    assert client.find_object("p/mv4/d100/id_rsa") is None


@pytest.mark.parametrize("swapped", ["directory", "file"])
def test_a_path_swapped_for_a_link_after_the_walk_is_not_read(
    client: CosClient, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, swapped: str
) -> None:
    src = tmp_path / "src"
    write(src, {"mv4/d100/id_rsa": b"harmless", "big/id_rsa": b"harmless too"})
    write(outside, {"big/id_rsa": os.urandom(MB + 5)})
    real_walk = _walk.walk

    def walk_then_swap(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
        found = real_walk(root, options)
        for name in ("mv4/d100", "big"):
            if swapped == "directory":
                (src / name / "id_rsa").unlink()
                (src / name).rmdir()
                (src / name).symlink_to(outside / name if name == "big" else outside)
            else:
                (src / name / "id_rsa").unlink()
                (src / name / "id_rsa").symlink_to(outside / name / "id_rsa" if name == "big" else outside / "id_rsa")
        return found

    monkeypatch.setattr(_dirrun, "walk", walk_then_swap)
    report = upload_directory(client, src, "p", config=config(tmp_path))
    assert not report.uploaded and sorted(f.key for f in report.failed) == ["p/big/id_rsa", "p/mv4/d100/id_rsa"]
    assert all("symbolic link" in f.error for f in report.failed)
    assert keys(client) == []


def test_a_file_replaced_by_another_after_the_walk_is_refused(client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    write(src, {"a.txt": b"walked"})
    real_walk = _walk.walk

    def walk_then_replace(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
        found = real_walk(root, options)
        (src / "new.txt").write_bytes(b"another file")
        os.replace(src / "new.txt", src / "a.txt")  # another inode at the path (a hard link from elsewhere, too)
        return found

    monkeypatch.setattr(_dirrun, "walk", walk_then_replace)
    report = upload_directory(client, src, "p", config=config(tmp_path))
    assert [f.kind for f in report.failed] == ["SourceChangedError"] and "replaced" in report.failed[0].error
    assert keys(client) == []


def writer_during_reads(monkeypatch: pytest.MonkeyPatch, path: Path, times: int) -> None:
    """A writer appends to ``path`` while each of the next ``times`` whole-file reads is in progress
    (after its bytes were read, before the PUT)."""
    real_read = _sources.read_whole  # what a directory run's small file is read with
    left = [times]

    def read_whole(*args: Any) -> Any:
        part = real_read(*args)
        if left[0]:
            left[0] -= 1
            with open(path, "ab") as handle:
                handle.write(b"+more")
        return part

    monkeypatch.setattr(_sources, "read_whole", read_whole)


@pytest.mark.parametrize("writes, outcome", [(1, "uploaded"), (2, "failed")])
def test_a_file_written_while_it_is_read_is_read_again_or_fails(
    client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writes: int, outcome: str
) -> None:
    src = tmp_path / "src"
    write(src, {"log.txt": b"first"})
    writer_during_reads(monkeypatch, src / "log.txt", writes)
    report = sync_directory(client, src, "p", config=config(tmp_path), cache=False)
    if outcome == "uploaded":  # the second read saw a stable file: its bytes, never the first read's
        assert [u.key for u in report.uploaded] == ["p/log.txt"] and stored(client, "p/log.txt") == b"first+more"
    else:
        [failure] = report.failed
        assert failure.kind == "SourceChangedError" and "changed while being read" in failure.error
        assert not report.uploaded and keys(client) == []


def test_a_file_written_since_the_walk_is_uploaded_as_it_is_now(
    client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    write(src, {"a.bin": b""})  # the walk sees 0 bytes: the file is being written
    real_walk = _walk.walk

    def walk_then_write(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
        found = real_walk(root, options)
        (src / "a.bin").write_bytes(b"x" * (2 * MB + 7))  # now large: the multipart lane, its real size
        return found

    monkeypatch.setattr(_dirrun, "walk", walk_then_write)
    report = sync_directory(client, src, "p", config=config(tmp_path), cache=False)
    [uploaded] = report.uploaded
    assert uploaded.size == 2 * MB + 7 and stored(client, "p/a.bin") == b"x" * (2 * MB + 7)


def test_names_with_control_characters_are_escaped_for_people_and_exact_in_json(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    evil = "evil\x1b[2J.txt"  # a terminal escape: COS refuses it in a key, so the file fails
    fake = "fake\x07\ncos-multipart: all good.txt"  # a bell and a forged line: a valid key
    write(src, {evil: b"x", fake: b"y"})
    failures = tmp_path / "failures.jsonl"
    assert cli.main(["upload", "-r", "--failures", str(failures), str(src), target(cli_env, "p/")]) == cli.EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "\x1b" not in err and "evil\\x1b[2J.txt" in err
    assert json.loads(failures.read_text())["path"].endswith(evil)  # JSON keeps the name exact
    assert cli.main(["sync", "--delete", "--dry-run", str(src), target(cli_env, "q/")]) == cli.EXIT_PARTIAL
    assert cli.main(["ls", "-r", target(cli_env, "p/")]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "\x07" not in out and not any(line.startswith("cos-multipart: all good") for line in out.splitlines())
    assert out.count("fake\\x07\\ncos-multipart: all good.txt") == 3  # dry run: path and target; the listing
    assert cli.main(["ls", "-r", "--json", target(cli_env, "p/")]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["key"] == "p/" + fake


def test_stat_and_rm_escape_control_characters_in_the_names_they_print(
    cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = "p/fake\x07\ncos-multipart: all good.txt"  # a bell and a forged line: a valid key
    with cli_env.client() as client:
        client.put_object(fake, b"y", metadata={"note": "ok"})
    assert cli.main(["stat", target(cli_env, fake)]) == cli.EXIT_OK
    assert cli.main(["rm", "-r", "--dry-run", target(cli_env, "p/")]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "\x07" not in out and not any(line.startswith("cos-multipart: all good") for line in out.splitlines()), out
    assert out.count("fake\\x07\\ncos-multipart: all good.txt") == 2  # stat's key; rm's would-delete line
    assert cli.main(["stat", "--json", target(cli_env, fake)]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["key"] == fake  # JSON keeps the name exact


def test_one_file_commands_escape_control_characters_in_the_names_they_print(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "fake\x07\ncos-multipart: all good.txt"
    path = tmp_path / name
    path.write_bytes(b"y")
    key = target(cli_env, "p/" + name)
    assert cli.main(["upload", str(path), target(cli_env, "p/")]) == cli.EXIT_OK
    assert cli.main(["upload", str(path), key, "--dry-run"]) == cli.EXIT_OK
    assert cli.main(["verify", str(path), key]) == cli.EXIT_OK
    assert cli.main(["upload", str(path), key, "--forbid-overwrite"]) == cli.EXIT_SERVICE
    captured = capsys.readouterr()
    for text in (captured.out, captured.err):
        assert "\x07" not in text and not any(line.startswith("cos-multipart: all good") for line in text.splitlines())
    assert captured.out.count("fake\\x07\\ncos-multipart: all good.txt") == 6  # uploaded, would upload, equal: path and key each
    assert "fake\\x07\\ncos-multipart: all good.txt already exists" in captured.err


def test_keys_with_control_characters_are_deleted_not_crashed_on(
    cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Delete Multiple Objects carries keys in XML, which cannot hold most control characters: rm -r and
    # sync --delete ended in a ValueError traceback (exit 1), deleting nothing of the batch.
    ctl = ["p/gone\x07\n.txt", "p/cr\r.txt"]
    for key in ("p/gone.txt", *ctl, "q/x\x01"):
        client.put_object(key, b"old")
    write(tmp_path / "src", {"a.txt": b"a"})
    assert cli.main(["sync", "--delete", str(tmp_path / "src"), target(cli_env, "p/")]) == cli.EXIT_OK
    assert keys(client, "p/") == ["p/a.txt"]
    result = client.delete_objects(["q/x\x01"])
    assert result.deleted == ("q/x\x01",) and not result.failed and keys(client, "q/") == []
    client.put_object("r/x\x02", b"old")
    assert cli.main(["rm", "-r", "--yes", target(cli_env, "r/")]) == cli.EXIT_OK
    assert keys(client, "r/") == [] and "deleted 1 object" in capsys.readouterr().out
    for key in ("s/y\x03z", "s/y\x03zz", "s/y"):
        client.put_object(key, b"old")
    assert cli.main(["rm", target(cli_env, "s/y\x03")]) == cli.EXIT_SERVICE  # looked up, not found
    assert cli.main(["rm", target(cli_env, "s/y\x03z")]) == cli.EXIT_OK  # rm looks first: a listing
    assert keys(client, "s/") == ["s/y", "s/y\x03zz"] and "not found: " in capsys.readouterr().err


def test_a_file_created_after_the_walk_keeps_its_object(client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    write(src, {"a.txt": b"a"})
    for key in ("p/late.txt", "p/docs", "p/gone.txt"):
        client.put_object(key, b"old")
    real_walk = _walk.walk

    def walk_then_create(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
        found = real_walk(root, options)
        (src / "late.txt").write_bytes(b"written after the walk")  # the walk did not see it
        (src / "docs").mkdir()
        return found

    monkeypatch.setattr(_dirrun, "walk", walk_then_create)
    report = sync_directory(client, src, "p", config=config(tmp_path), delete=True, cache=False)
    assert report.deleted == ("p/gone.txt",) and keys(client, "p/") == ["p/a.txt", "p/docs", "p/late.txt"]


def test_cli_sync_delete_with_directory_excludes_loses_nothing(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    write(src, CACHE_TREE)
    assert cli.main(["upload", "-r", str(src), target(cli_env, "p/")]) == cli.EXIT_OK
    with cli_env.client() as client:
        client.put_object("p/gone.txt", b"no local file")
        before = keys(client, "p/")
        patterns = [arg for pattern in ("cache/", "*/cache/", "cach?/", "[c]ache/", "*/") for arg in ("--exclude", pattern)]
        assert cli.main(["sync", "--delete", "--dry-run", *patterns, str(src), target(cli_env, "p/")]) == cli.EXIT_OK
        out = capsys.readouterr().out
        assert out.count("would delete") == 1 and f"would delete {target(cli_env, 'p/gone.txt')}" in out
        assert keys(client, "p/") == before  # the dry run deleted nothing
        assert cli.main(["sync", "--delete", *patterns, str(src), target(cli_env, "p/")]) == cli.EXIT_OK
        assert keys(client, "p/") == sorted(set(before) - {"p/gone.txt"})
