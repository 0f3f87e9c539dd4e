"""``cos-multipart download`` and ``cat`` against the local server speaking each service: equal bytes, a
directory target, --dry-run writes nothing, --json, resume, ``download -r`` with hostile keys, ``cat`` exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io.client import CosClient
from cos_multipart.testing import Fault, LocalCOS

from downloads import leftovers, put
from uploads import target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

HOSTILE = ["p/../escape", "p/a/../../up", "p//x", "p/./x", "p/\\win", "p/..", "p/a\x00b", "p//etc/passwd"]


def run(*argv: str) -> int:
    return cli.main(list(argv))


def json_lines(text: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def everything_under(folder: Path) -> List[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_download_to_a_file_and_to_a_directory(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(client, "dir/big.bin", 3 * 1024 * 1024 + 5)
    assert run("download", target(cli_env, "dir/big.bin"), str(tmp_path / "out.bin"), "--part-size", "1MB") == 0
    assert (tmp_path / "out.bin").read_bytes() == data
    line = capsys.readouterr().out
    assert "downloaded" in line and "4 ranges" in line and "verified" in line
    folder = tmp_path / "folder"
    folder.mkdir()
    assert run("download", target(cli_env, "dir/big.bin"), str(folder)) == 0
    assert (folder / "big.bin").read_bytes() == data
    assert leftovers(tmp_path) == [] and leftovers(folder) == []


def test_download_json(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(client, "k", 1000)
    assert run("download", target(cli_env, "k"), str(tmp_path / "out"), "--json") == 0
    (line,) = json_lines(capsys.readouterr().out)
    assert line["type"] == "downloaded" and line["size"] == len(data) and line["check"] == "crc64" and line["ranges"] == 1
    assert line["target"] == str(tmp_path / "out")


def test_dry_run_writes_nothing(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(client, "k", 3 * 1024 * 1024)
    put(client, "p/a", 10)
    seen = len(cli_env.log_entries())
    assert run("download", target(cli_env, "k"), str(tmp_path / "out"), "--dry-run", "--part-size", "1MB") == 0
    assert "would download" in capsys.readouterr().out
    assert run("download", "-r", target(cli_env, "p/"), str(tmp_path / "tree"), "--dry-run") == 0
    assert "would download 1 objects" in capsys.readouterr().out
    assert everything_under(tmp_path) == []
    assert {entry.api for entry in cli_env.log_entries()[seen:]} <= {"HeadObject", "ListObjects"}


def test_an_interrupted_download_resumes(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(client, "k", 4 * 1024 * 1024)
    cli_env.faults.add(Fault.truncate("GetObject", nth=3, after_bytes=10, count=3))  # range 3 short on every attempt
    code = run("download", target(cli_env, "k"), str(tmp_path / "out"), "--part-size", "1MB", "--concurrency", "1")
    assert code == 5 and not (tmp_path / "out").exists()  # the body cut short: a broken connection
    assert len(leftovers(tmp_path)) == 2  # the temporary file and its checkpoint, for the next run
    assert "download kept" in capsys.readouterr().err
    before = len(cli_env.log_entries("GetObject"))
    assert run("download", target(cli_env, "k"), str(tmp_path / "out"), "--part-size", "1MB", "--json") == 0
    (line,) = json_lines(capsys.readouterr().out)
    assert line["ranges_reused"] == 2 and len(cli_env.log_entries("GetObject")) - before == 2
    assert (tmp_path / "out").read_bytes() == data and leftovers(tmp_path) == []


def test_recursive_download_refuses_unsafe_names_and_writes_nothing_outside(
    cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in HOSTILE:
        client.put_object(key, b"hostile")
    good = {"p/ok": put(client, "p/ok", 100), "p/sub/deeper/f": put(client, "p/sub/deeper/f", 70000)}
    client.put_object("p/empty-folder/", b"")
    root = tmp_path / "inside" / "tree"
    code = run("download", "-r", target(cli_env, "p/"), str(root), "--json")
    assert code == 8
    lines = json_lines(capsys.readouterr().out)
    refused = {line["key"] for line in lines if line["type"] == "refused"}
    assert refused == set(HOSTILE)
    assert lines[-1]["type"] == "summary" and (lines[-1]["downloaded"], lines[-1]["refused"]) == (2, len(HOSTILE))
    assert everything_under(tmp_path) == ["inside", "inside/tree", "inside/tree/ok", "inside/tree/sub", "inside/tree/sub/deeper", "inside/tree/sub/deeper/f"]
    for key, data in good.items():
        assert (root / key[2:]).read_bytes() == data


def test_recursive_download_does_not_follow_a_link_out_of_the_target(
    cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "tree"
    root.mkdir()
    os.symlink(outside, root / "link")
    client.put_object("p/link/file", b"x")
    assert run("download", "-r", target(cli_env, "p/"), str(root)) == 8
    assert "refused" in capsys.readouterr().out
    assert list(outside.iterdir()) == []


def test_cat_writes_the_object_and_its_exit_code_says_if_it_matched(
    cli_env: LocalCOS, client: CosClient, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    data = put(client, "k", 3 * 1024 * 1024 + 1)
    assert run("cat", target(cli_env, "k"), "--part-size", "1MB") == 0
    assert capfdbinary.readouterr().out == data
    cli_env.faults.add(Fault.corrupt("GetObject", nth=2, after_bytes=3))
    assert run("cat", target(cli_env, "k"), "--part-size", "1MB") == 4
    captured = capfdbinary.readouterr()
    assert len(captured.out) == len(data) and captured.out != data
    assert b"do not match" in captured.err


def test_a_missing_object_and_a_prefix_without_r(cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("download", target(cli_env, "nope"), str(tmp_path / "out")) == 3
    assert run("download", target(cli_env, "dir/"), str(tmp_path / "out")) == 2
    assert "-r" in capsys.readouterr().err
    assert everything_under(tmp_path) == []


def test_recursive_download_of_many_small_objects_keeps_requests_within_the_concurrency(
    local_cos_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_directory import max_overlap

    server = local_cos_factory(latency=0.02)
    monkeypatch.setenv("COS_SECRET_ID", server.credentials.secret_id)
    monkeypatch.setenv("COS_SECRET_KEY", server.credentials.secret_key)
    monkeypatch.setenv("COS_ENDPOINT", server.endpoint)
    monkeypatch.setenv("COS_REGION", server.region)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with server.client() as client:
        objects = {f"p/{i}.txt": put(client, f"p/{i}.txt", 100 + i) for i in range(12)}
        objects["p/big"] = put(client, "p/big", 3 * 1024 * 1024)
    seen = len(server.log_entries())
    assert run("download", "-r", target(server, "p/"), str(tmp_path / "out"), "--concurrency", "3", "--part-size", "1MB") == 0
    assert "downloaded 13 objects" in capsys.readouterr().out
    for key, data in objects.items():
        assert (tmp_path / "out" / key[2:]).read_bytes() == data
    assert max_overlap(server) <= 3 and len(server.log_entries()) > seen


def test_download_command_takes_a_cp_namespace_and_a_dash_for_stdout(
    cli_env: LocalCOS, client: CosClient, tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    import argparse

    from cos_multipart._cli.download import download_command

    data = put(client, "k", 5000)
    routed = argparse.Namespace(source=target(cli_env, "k"), target=str(tmp_path / "copy"), quiet=True, endpoint=None, region=None)
    assert download_command(routed) == 0 and (tmp_path / "copy").read_bytes() == data
    assert run("download", target(cli_env, "k"), "-") == 0
    assert capfdbinary.readouterr().out == data
