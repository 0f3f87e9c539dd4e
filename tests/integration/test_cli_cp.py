"""``cos-multipart cp | mv`` against the local server speaking each service: one object, a folder (``-r``), a move,
``--dry-run`` (nothing written), ``--json``, a kept copy's line, and the arguments refused before any request."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List

import pytest

from cos_multipart._cli import main as cli
from cos_multipart.testing import Fault, LocalCOS

from test_directory import max_overlap
from uploads import stored, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

MB = 1024 * 1024
PARTS = ("--part-size", "1MB", "--threshold", "1MB", "--concurrency", "2")
#: The APIs that write: a dry run sends none of them.
WRITES = ("PutObject", "PutObjectCopy", "UploadPartCopy", "InitiateMultipartUpload", "CompleteMultipartUpload",
          "AbortMultipartUpload", "DeleteObject")  # fmt: skip


def put(server: LocalCOS, key: str, size: int) -> bytes:
    data = os.urandom(size)
    with server.client() as client:
        client.put_object(key, data)
    return data


def read(server: LocalCOS, key: str) -> bytes:
    with server.client() as client:
        return stored(client, key)


def exists(server: LocalCOS, key: str) -> bool:
    with server.client() as client:
        return client.find_object(key) is not None


def writes(server: LocalCOS) -> int:
    return sum(len(server.log_entries(api)) for api in WRITES)


def test_cp_copies_one_object_and_says_it_was_verified(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(cli_env, "src/a.bin", 3 * MB + 5)
    assert cli.main(["cp", target(cli_env, "src/a.bin"), target(cli_env, "dst/"), *PARTS]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f"copied {target(cli_env, 'src/a.bin')} to {target(cli_env, 'dst/a.bin')}" in out
    assert "in 4 parts" in out and "verified" in out
    assert read(cli_env, "dst/a.bin") == data


def test_cp_r_copies_the_folder_and_nothing_beside_it(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    files = {key: put(cli_env, key, size) for key, size in (("d/1", 10), ("d/sub/2", 2 * MB + 1), ("d/3", 0))}
    put(cli_env, "dx", 5)  # shares the prefix "d" but is not in the folder d/
    assert cli.main(["cp", "-r", target(cli_env, "d"), target(cli_env, "e"), *PARTS]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "copied 3 objects" in out and "0 failed" in out
    for key, data in files.items():
        assert read(cli_env, "e/" + key[2:]) == data
    assert not exists(cli_env, "e/x") and not exists(cli_env, "ex")


def test_mv_deletes_the_source_only_after_the_copy(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(cli_env, "m/a", 2 * MB)
    assert cli.main(["mv", target(cli_env, "m/a"), target(cli_env, "n/a"), *PARTS]) == cli.EXIT_OK
    assert "moved" in capsys.readouterr().out
    assert read(cli_env, "n/a") == data and not exists(cli_env, "m/a")
    put(cli_env, "m/b", 3 * MB)
    cli_env.faults.add(Fault.replace_source("UploadPartCopy", nth=1))
    code = cli.main(["mv", target(cli_env, "m/b"), target(cli_env, "n/b"), *PARTS, "--concurrency", "1"])
    assert code == cli.EXIT_SOURCE_CHANGED
    assert "was replaced while it was copied" in capsys.readouterr().err
    assert exists(cli_env, "m/b") and not exists(cli_env, "n/b")


def test_dry_run_writes_nothing(cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(cli_env, "p/big", 3 * MB)
    put(cli_env, "p/small", 10)
    before = writes(cli_env)
    assert cli.main(["mv", "-r", "--dry-run", target(cli_env, "p/"), target(cli_env, "q/"), *PARTS]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f"would move {target(cli_env, 'p/big')} -> {target(cli_env, 'q/big')}" in out and "in 3 parts" in out
    assert "in one request" in out
    assert writes(cli_env) == before and exists(cli_env, "p/big") and not exists(cli_env, "q/big")
    assert not list((tmp_path / "cache").rglob("*.json"))
    assert cli.main(["mv", "-r", target(cli_env, "p/"), target(cli_env, "q/"), *PARTS]) == cli.EXIT_OK
    assert writes(cli_env) > before + 5  # the count sees the writes a real run makes


def test_json_prints_one_object_per_copy(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    put(cli_env, "j/a", MB + 1)
    assert cli.main(["cp", "--json", target(cli_env, "j/a"), target(cli_env, "k/a"), *PARTS]) == cli.EXIT_OK
    line = json.loads(capsys.readouterr().out)
    assert line["type"] == "copied" and line["parts"] == 2 and line["crc64_verified"] is True
    assert line["target"] == target(cli_env, "k/a")


def test_a_failed_copy_is_kept_with_its_lines(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    put(cli_env, "f/a", 3 * MB)
    cli_env.faults.add(Fault.error("UploadPartCopy", status=403, code="AccessDenied", nth=2, count=None))
    code = cli.main(["cp", target(cli_env, "f/a"), target(cli_env, "g/a"), *PARTS, "--concurrency", "1"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_SERVICE
    assert "upload kept: 1/3 parts" in err and f"resume with: cos-multipart cp {target(cli_env, 'f/a')} " in err
    cli_env.faults.clear()
    assert cli.main(["cp", target(cli_env, "f/a"), target(cli_env, "g/a"), *PARTS]) == cli.EXIT_OK
    assert "1 parts reused" in capsys.readouterr().out


@pytest.mark.parametrize("argv, named, allowed", [
    (["cp", "./local.bin", "{t}"], "SRC", "use upload or sync"),
    (["mv", "{t}", "{d}/here"], "DST", "mv moves within the service"),
    (["cp", "{t}", "{d}/here", "--storage-class", "STANDARD_IA"], "--storage-class", "DST '"),
    (["cp", "{t}", "{d}/here", "--source-sse-c"], "--source-sse-c", "download --sse c"),
])  # fmt: skip
def test_a_local_side_that_cp_cannot_serve_is_refused_naming_the_argument(
    cli_env: LocalCOS, tmp_path: Path, argv: List[str], named: str, allowed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = put(cli_env, "x", 10)
    words = [word.replace("{t}", target(cli_env, "x")).replace("{d}", str(tmp_path)) for word in argv]
    assert cli.main(words) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert named in err and allowed in err
    assert not (tmp_path / "here").exists() and read(cli_env, "x") == data  # nothing written, nothing moved


def test_cp_to_a_local_path_is_the_verified_download(cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(cli_env, "down/a.bin", 3 * MB + 7)
    assert cli.main(["cp", target(cli_env, "down/a.bin"), str(tmp_path), "--part-size", "1MB", "--concurrency", "2"]) == cli.EXIT_OK
    assert (tmp_path / "a.bin").read_bytes() == data  # a directory DST takes the key's name
    assert len(cli_env.log_entries("GetObject")) >= 4  # in ranges, not one GET
    assert "verified" in capsys.readouterr().out


def test_cp_r_to_a_local_directory_downloads_the_folder(cli_env: LocalCOS, tmp_path: Path) -> None:
    files = {key: put(cli_env, key, size) for key, size in (("t/1", 10), ("t/sub/2", MB + 1))}
    put(cli_env, "tx", 5)  # shares the prefix "t" but is not in the folder t/
    assert cli.main(["cp", "-r", target(cli_env, "t/"), str(tmp_path / "out"), "--quiet"]) == cli.EXIT_OK
    assert {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()} == {"1", "sub/2"}
    assert (tmp_path / "out" / "sub" / "2").read_bytes() == files["t/sub/2"]


def test_cp_dry_run_to_a_local_path_writes_nothing(cli_env: LocalCOS, tmp_path: Path) -> None:
    put(cli_env, "dr/a", 2 * MB)
    assert cli.main(["cp", "--dry-run", target(cli_env, "dr/a"), str(tmp_path / "a")]) == cli.EXIT_OK
    assert list(tmp_path.iterdir()) == []


def test_two_services_are_refused(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    other = "oss" if cli_env.dialect == "cos" else "cos"
    assert cli.main(["cp", target(cli_env, "x"), f"{other}://bucket/x"]) == cli.EXIT_USAGE
    assert "DST" in capsys.readouterr().err


def test_a_source_in_another_region(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(cli_env, "far/a", 2 * MB)
    argv = ["cp", target(cli_env, "far/a"), target(cli_env, "near/a"), *PARTS, "--source-region", "ap-beijing"]
    if cli_env.dialect == "oss":
        assert cli.main(argv) == cli.EXIT_USAGE
        assert "--source-region" in capsys.readouterr().err
        return
    assert cli.main(argv) == cli.EXIT_OK
    assert read(cli_env, "near/a") == data
    # the local server resolves the bucket whatever region the source names: the request named ap-beijing
    assert any("ap-beijing" in entry.headers.get("x-cos-copy-source", "") for entry in cli_env.log_entries("UploadPartCopy"))


def test_mv_onto_itself_is_refused_and_deletes_nothing(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(cli_env, "same/a", 10)
    argv = ["mv", target(cli_env, "same/a"), target(cli_env, "same/a"), "--metadata-directive", "replace", "--content-type", "text/plain"]
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "onto itself" in capsys.readouterr().err
    assert read(cli_env, "same/a") == data


def test_cp_r_copies_side_by_side_within_concurrency(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    files = {f"many/{n}": put(cli_env, f"many/{n}", 1000 + n) for n in range(12)}
    files["many/big"] = put(cli_env, "many/big", 3 * MB)
    assert cli.main(["cp", "-r", target(cli_env, "many/"), target(cli_env, "copies/"), *PARTS, "--concurrency", "3"]) == cli.EXIT_OK
    assert "copied 13 objects" in capsys.readouterr().out
    for key, data in files.items():
        assert read(cli_env, "copies/" + key[len("many/"):]) == data
    assert max_overlap(cli_env) <= 3  # every request of every copy within one pool of 3 slots


def test_dry_run_exits_as_the_run_would_with_forbid_overwrite(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    put(cli_env, "w/a", 10)
    put(cli_env, "taken/a", 5)
    before = writes(cli_env)
    argv = ["cp", "--dry-run", "--forbid-overwrite"]
    assert cli.main([*argv, target(cli_env, "w/a"), target(cli_env, "taken/a")]) == cli.EXIT_SERVICE
    assert "refused: it exists" in capsys.readouterr().out
    assert cli.main([*argv, "-r", target(cli_env, "w/"), target(cli_env, "taken/")]) == cli.EXIT_PARTIAL
    assert cli.main([*argv, target(cli_env, "w/a"), target(cli_env, "free/a")]) == cli.EXIT_OK
    assert writes(cli_env) == before
