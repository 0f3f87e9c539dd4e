"""``check``, ``du``, ``ls --summarize`` and ``abort --all`` run from the command line against the local server
speaking each service (issue 24): every path reported with its status, exit codes, JSON Lines validated
against the documented schemas, and ``abort --all`` aborting only its scope (``--dry-run`` proven by the
server's access log; a hostile listing that names keys outside the prefix aborts none of them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io._crccache import CACHE_FILE, CrcCache
from cos_multipart._core._dirplan import WalkOptions
from cos_multipart._io._walk import walk
from cos_multipart._io.checkpoint import CheckpointStore, default_checkpoint_dir
from cos_multipart._io.client import CosClient
from cos_multipart.testing import Fault, LocalCOS

from json_schema import conforms, json_lines
from uploads import make_file, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

_WRITING = {"PUT", "POST", "DELETE"}
_OPTIONAL_INT = (int, type(None))
_OPTIONAL_STR = (str, type(None))
#: docs/cli.md, "check --json": one object per path ...
PATH_SCHEMA: Dict[str, Any] = {
    "type": str, "status": str, "path": str, "key": str, "local_size": _OPTIONAL_INT, "remote_size": _OPTIONAL_INT,
    "local_crc64": _OPTIONAL_INT, "remote_crc64": _OPTIONAL_INT, "compared": _OPTIONAL_STR, "reason": str,
}  # fmt: skip
#: ... then one summary object.
SUMMARY_SCHEMA: Dict[str, Any] = {
    "type": str, "prefix": str, "one_way": bool, "equal": int, "size_only": int, "differ": int, "only_local": int,
    "only_remote": int, "skipped": int, "error": int, "ok": bool, "exit_code": int,
}  # fmt: skip
#: docs/cli.md, "du --json".
DU_SCHEMA: Dict[str, Any] = {
    "target": str, "prefix": str, "objects": int, "bytes": int, "storage_classes": dict, "uploads": int, "parts": int,
    "part_bytes": int, "total_bytes": int,
}  # fmt: skip
LS_SUMMARY_SCHEMA: Dict[str, Any] = {"type": str, "objects": int, "folders": int, "bytes": int}
_STATUSES = {"equal", "differ", "only_local", "only_remote", "skipped", "error"}


def run(*argv: str) -> int:
    return cli.main(list(argv))


def checked(text: str) -> Tuple[Dict[str, str], Dict[str, Any]]:
    """``path or key -> status`` of ``check --json`` output, and its summary; every line validated."""
    *paths, summary = json_lines(text)
    for item in paths:
        conforms(item, PATH_SCHEMA)
        assert item["type"] == "path" and item["status"] in _STATUSES
    conforms(summary, SUMMARY_SCHEMA)
    assert summary["type"] == "summary"
    return {item["key"]: item["status"] for item in paths}, summary


def writes_since(server: LocalCOS, seen: int) -> List[str]:
    return [f"{e.method} {e.path} ({e.api})" for e in server.log_entries()[seen:] if e.method in _WRITING]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "same.txt").write_bytes(b"same bytes")
    (root / "sub" / "edited.txt").write_bytes(b"local version")
    (root / "longer.txt").write_bytes(b"12345")
    (root / "new.txt").write_bytes(b"only here")
    (root / "skip.tmp").write_bytes(b"excluded")
    return root


def fill(client: CosClient) -> None:
    client.put_object("t/same.txt", b"same bytes")
    client.put_object("t/sub/edited.txt", b"other version")  # same size, other bytes
    client.put_object("t/longer.txt", b"123456")
    client.put_object("t/gone.txt", b"deleted locally")
    client.put_object("t/skip.tmp", b"remote only, but excluded")
    client.put_object("tree/outside.txt", b"not under t/")  # the folder rule: cos://B/t is t/, never tree/


def test_check_reports_every_path_and_exits_0_only_when_all_are_equal(
    cli_env: LocalCOS, tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_env.client() as client:
        fill(client)
    seen = len(cli_env.log_entries())
    assert run("check", str(tree), target(cli_env, "t"), "--exclude", "*.tmp") == 4
    out = capsys.readouterr().out
    where = target(cli_env, "t/")
    assert f"equal: same.txt -> {where}same.txt" in out
    assert f"differ: sub/edited.txt -> {where}sub/edited.txt (content differs (CRC-64))" in out
    assert f"differ: longer.txt -> {where}longer.txt (size differs (local 5, remote 6))" in out
    assert f"only local: new.txt -> {where}new.txt" in out
    assert f"only remote: {where}gone.txt" in out
    assert "skip.tmp" not in out and "outside" not in out
    assert out.splitlines()[-1] == "1 equal, 2 differ, 1 only local, 1 only remote"
    assert writes_since(cli_env, seen) == []  # a check writes nothing to the bucket

    assert run("check", str(tree), target(cli_env, "t/"), "--exclude", "*.tmp", "--json") == 4
    statuses, summary = checked(capsys.readouterr().out)
    assert statuses == {
        "t/same.txt": "equal", "t/sub/edited.txt": "differ", "t/longer.txt": "differ", "t/new.txt": "only_local",
        "t/gone.txt": "only_remote",
    }  # fmt: skip
    assert summary["exit_code"] == 4 and summary["ok"] is False and summary["prefix"] == "t/"

    assert run("check", str(tree), target(cli_env, "t/"), "--json", "--one-way") == 4  # no --exclude: skip.tmp differs
    statuses, summary = checked(capsys.readouterr().out)
    assert "t/gone.txt" not in statuses and statuses["t/skip.tmp"] == "differ" and summary["one_way"] is True

    # Made equal (sync writes what check compares): exit 0, every line "equal".
    assert run("sync", str(tree), target(cli_env, "t"), "--exclude", "*.tmp", "--delete", "-q") == 0
    assert run("check", str(tree), target(cli_env, "t"), "--exclude", "*.tmp", "--json") == 0
    statuses, summary = checked(capsys.readouterr().out)
    assert set(statuses.values()) == {"equal"} and len(statuses) == 4 and summary["ok"] is True
    assert summary["exit_code"] == 0


def test_check_uses_the_sync_crc_cache_and_checksum_rereads(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "a.bin").write_bytes(b"cached")
    with cli_env.client() as client:
        client.put_object("p/a.bin", b"cached")
    (item,), _ = walk(str(root), WalkOptions())
    cache = CrcCache(default_checkpoint_dir() / CACHE_FILE)
    cache.put(item, 12345, now=time.time() + 60)  # a wrong CRC-64 for the file's current identity
    cache.save()
    # Trusted while the file is unchanged: the check does not read it, so it "differs".
    assert run("check", str(root), target(cli_env, "p/"), "--json") == 4
    statuses, _ = checked(capsys.readouterr().out)
    assert statuses == {"p/a.bin": "differ"}
    assert run("check", str(root), target(cli_env, "p/"), "--json", "--checksum") == 0  # re-read: equal
    statuses, _ = checked(capsys.readouterr().out)
    assert statuses == {"p/a.bin": "equal"}
    assert run("check", str(root), target(cli_env, "p/"), "--json", "--no-cache") == 0
    capsys.readouterr()


def test_check_names_are_exact_in_json_and_escaped_for_people(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "d"
    root.mkdir()
    name = "evil\u202etxt.exe"  # shows as "evilexe.txt" on a terminal
    (root / name).write_bytes(b"x")
    assert run("check", str(root), target(cli_env, "p/")) == 4
    out = capsys.readouterr().out
    assert "\u202e" not in out and "evil\\u202etxt.exe" in out
    assert run("check", str(root), target(cli_env, "p/"), "--json") == 4
    statuses, _ = checked(capsys.readouterr().out)
    assert statuses == {f"p/{name}": "only_local"}
    # A name no key can hold: not compared (exit 8 when nothing else differs), escaped too.
    (root / name).unlink()
    (root / "bell\x1b.txt").write_bytes(b"x")
    assert run("check", str(root), target(cli_env, "p/")) == 8
    out = capsys.readouterr().out
    assert "\x1b" not in out and "not compared: bell\\x1b.txt" in out


def test_check_refuses_a_missing_directory_before_any_request(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = len(cli_env.log_entries())
    assert run("check", str(tmp_path / "nope"), target(cli_env, "p/")) == 2
    assert "DIR" in capsys.readouterr().err
    assert run("check", str(tmp_path), target(cli_env, "p/"), "--concurrency", "0") == 2
    assert "--concurrency 0: a whole number from 1 to 256" in capsys.readouterr().err
    assert cli_env.log_entries()[seen:] == []


def incomplete_upload(client: CosClient, key: str, parts: int) -> str:
    upload_id = client.initiate_multipart_upload(key).upload_id
    for number in range(1, parts + 1):
        client.upload_part(key, upload_id, number, b"p" * (100 * 1024 + number))
    return upload_id


def test_du_counts_objects_by_class_and_incomplete_uploads(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    with cli_env.client() as client:
        client.put_object("t/a", b"a" * 10)
        client.put_object("t/b/c", b"c" * 20, storage_class="STANDARD_IA")
        client.put_object("t", b"named" * 2)  # the object the target cos://B/t names
        client.put_object("tree/x", b"x" * 1000)  # never counted
        incomplete_upload(client, "t/big", 2)
        incomplete_upload(client, "tree/big", 1)
    seen = len(cli_env.log_entries())
    assert run("du", target(cli_env, "t"), "--json") == 0
    (usage,) = json_lines(capsys.readouterr().out)
    conforms(usage, DU_SCHEMA)
    assert (usage["objects"], usage["bytes"], usage["uploads"], usage["parts"]) == (3, 40, 1, 2)
    assert usage["part_bytes"] == 2 * 100 * 1024 + 3 and usage["total_bytes"] == 40 + usage["part_bytes"]
    assert sorted((v["objects"], v["bytes"]) for v in usage["storage_classes"].values()) == [(1, 20), (2, 20)]
    for value in usage["storage_classes"].values():
        conforms(value, {"objects": int, "bytes": int})
    assert writes_since(cli_env, seen) == []
    assert run("du", target(cli_env, "t/"), "--bytes") == 0
    out = capsys.readouterr().out
    assert f"{target(cli_env, 't/')}: 2 objects, 30 B" in out
    assert "incomplete multipart uploads: 1 (2 parts, 204803 B," in out


def test_ls_summarize_ends_with_the_totals(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    with cli_env.client() as client:
        client.put_object("t/a", b"a" * 10)
        client.put_object("t/b/c", b"c" * 20)
    assert run("ls", target(cli_env, "t/"), "--summarize") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "total: 1 object, 10 B (10 bytes), 1 folder"
    assert run("ls", "-r", target(cli_env, "t/"), "--summarize", "--json") == 0
    summary = json_lines(capsys.readouterr().out)[-1]
    conforms(summary, LS_SUMMARY_SCHEMA)
    assert (summary["type"], summary["objects"], summary["bytes"], summary["folders"]) == ("summary", 2, 30, 0)
    seen = len(cli_env.log_entries())
    assert run("ls", "--uploads", "--summarize", target(cli_env, "t/")) == 2
    assert run("du", "--json", "--bytes", target(cli_env, "t/")) == 2
    err = capsys.readouterr().err
    assert "--summarize: does not apply to ls --uploads" in err and "--bytes: does not apply with --json" in err
    assert cli_env.log_entries()[seen:] == []


def _uploads(client: CosClient) -> List[Tuple[str, str]]:
    return sorted((u.key, u.upload_id) for u in client.list_multipart_uploads())


def test_abort_all_aborts_the_scope_only_after_a_dry_run_and_drops_checkpoints(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big, _ = make_file(tmp_path, 3 * 1024 * 1024 + 7, "big.bin")
    fault = cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    try:  # a kept upload with its checkpoint
        small_parts = ("--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1")
        assert run("upload", str(big), target(cli_env, "t/kept.bin"), *small_parts) == cli.EXIT_SERVICE
    finally:
        cli_env.faults.remove(fault)
    with cli_env.client() as client:
        incomplete_upload(client, "t/deep/a", 1)
        incomplete_upload(client, "tree/keep", 1)
        incomplete_upload(client, "tt", 1)
        before = _uploads(client)
    assert len(list(CheckpointStore())) == 1
    capsys.readouterr()

    seen = len(cli_env.log_entries())
    assert run("abort", target(cli_env, "t"), "--all", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.count("would abort") == 2 and "tree/keep" not in out and "tt " not in out
    assert "would remove the checkpoint" in out and "big.bin" in out
    assert run("abort", target(cli_env, "t"), "--all", "--older-than", "7d", "--yes") == 0  # all are new
    assert "no in-progress upload under" in capsys.readouterr().out
    assert run("abort", target(cli_env, "t"), "--all") == 2  # no terminal, no --yes: refused
    assert "no terminal to confirm aborting 2 uploads: add --yes (or try --dry-run first)" in capsys.readouterr().err
    assert writes_since(cli_env, seen) == []  # dry run, --older-than and the refusal sent only listings

    assert run("abort", target(cli_env, "t/"), "--all", "--older-than", "0s", "--yes") == 0
    out = capsys.readouterr().out
    assert out.count("aborted ") == 2 and "removed the checkpoint" in out and "big.bin" in out
    with cli_env.client() as client:
        assert [key for key, _ in _uploads(client)] == ["tree/keep", "tt"]
        assert len(before) == 4
    assert list(CheckpointStore()) == []


def test_abort_all_refuses_what_does_not_apply(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    seen = len(cli_env.log_entries())
    assert run("abort", target(cli_env, "t/k"), "some-id", "--all") == 2
    assert run("abort", target(cli_env, "t/k"), "--older-than", "7d") == 2
    assert run("abort", target(cli_env, "t/k"), "--older-than", "0") == 2
    assert run("abort", target(cli_env, "t/k"), "--yes") == 2
    err = capsys.readouterr().err
    assert "--all" in err and "--older-than" in err and "--yes" in err
    with pytest.raises(SystemExit):
        run("abort", target(cli_env, "t/"), "--all", "--older-than", "soon")
    assert "not a duration" in capsys.readouterr().err
    assert cli_env.log_entries()[seen:] == []


def test_abort_all_never_aborts_keys_a_hostile_listing_names_outside_the_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hostile import Request, cli_against, reply, uploads_listing

    # Out of the prefix asked for, and repeated: what a broken or hostile service might send.
    body = uploads_listing([("t/a", "u1"), ("tree/c", "u2"), ("tt", "u3"), ("t/a", "u1"), ("other", "u4")])
    deletes: List[str] = []

    def answer(request: Request, sock: Any) -> bool:
        if request.method == "GET":
            reply(sock, "200 OK", body, {"Content-Type": "application/xml"})
        elif request.method == "DELETE":
            deletes.append(request.target)
            reply(sock, "204 No Content")
        else:
            reply(sock, "405 Method Not Allowed")
        return True

    with cli_against(answer, monkeypatch):
        assert run("abort", "cos://examplebucket-1250000000/t/", "--all", "--yes", "--older-than", "1d") == 0
        assert len(deletes) == 1 and deletes[0].startswith("/t/a?") and "uploadId=u1" in deletes[0]
        assert "aborted cos://examplebucket-1250000000/t/a upload u1" in capsys.readouterr().out


def test_check_of_an_object_without_crc64_compares_by_size_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hostile import Request, cli_against, object_listing, reply

    # An object written by a tool that computes no CRC-64: neither the listing nor HEAD names one.
    body = object_listing(["p/a.txt"], prefix="p/", size=7)

    def answer(request: Request, sock: Any) -> bool:
        if request.method == "GET":
            reply(sock, "200 OK", body, {"Content-Type": "application/xml"})
        elif request.method == "HEAD":
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\nETag: "e"\r\nx-cos-request-id: hostile\r\n\r\n')
        else:
            reply(sock, "405 Method Not Allowed")
        return True

    root = tmp_path / "d"
    root.mkdir()
    (root / "a.txt").write_bytes(b"1234567")
    with cli_against(answer, monkeypatch):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        assert run("check", str(root), "cos://examplebucket-1250000000/p/") == 0
        out = capsys.readouterr().out
        assert "equal by size only (remote has no CRC-64): a.txt" in out
        assert "1 equal (1 by size only: the service has no CRC-64 for them)" in out
        assert run("check", str(root), "cos://examplebucket-1250000000/p/", "--json") == 0
        statuses, summary = checked(capsys.readouterr().out)
        assert statuses == {"p/a.txt": "equal"} and summary["size_only"] == 1
