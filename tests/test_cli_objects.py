"""The object and directory commands and the command-line fixes, in-process against the local server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests

from cos_multipart._cli import main as cli
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import Fault, LocalCOS

from test_cli_transfer import SSE_C_KEY, make_file, target


def run(*argv: str) -> int:
    return cli.main(list(argv))


def test_ls_one_level_recursive_and_json(cli_server: LocalCOS, cli_client: CosClient, capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("d/a.txt", "d/sub/b.txt", "d/sub/c/d.txt", "e.txt"):
        cli_client.put_object(key, b"x" * 2048)
    assert run("ls", target(cli_server, "d/")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["DIR", f"cos://{cli_server.bucket}/d/sub/"]
    assert lines[1].endswith(f"cos://{cli_server.bucket}/d/a.txt") and "2.0 KiB" in lines[1] and " UTC " in lines[1]
    assert run("ls", "-r", "--json", target(cli_server, "d/")) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["key"] for r in rows] == ["d/a.txt", "d/sub/b.txt", "d/sub/c/d.txt"] and rows[0]["size"] == 2048
    assert run("ls", target(cli_server, "none/")) == 0 and "no objects" in capsys.readouterr().err


def test_stat_rm_and_presign(cli_server: LocalCOS, cli_client: CosClient, capsys: pytest.CaptureFixture[str]) -> None:
    cli_client.put_object("s.txt", b"hello", metadata={"team": "a"}, storage_class="STANDARD_IA")
    assert run("stat", "--json", target(cli_server, "s.txt")) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 5 and info["crc64"] == crc64(b"hello") and info["metadata"] == {"team": "a"}
    assert info["storage_class"] == "STANDARD_IA"
    assert run("stat", target(cli_server, "s.txt")) == 0 and "crc64: " in capsys.readouterr().out
    assert run("presign", target(cli_server, "s.txt"), "--expires", "60") == 0
    captured = capsys.readouterr()
    # The endpoint (an IP) names no bucket: the signed Host does, and the note says which to send.
    host = {"Host": captured.err.split("'Host: ", 1)[1].split("'", 1)[0]}
    assert host["Host"].startswith(f"{cli_server.bucket}.cos.")
    assert requests.get(captured.out.strip(), headers=host, timeout=10).content == b"hello"
    assert requests.get(captured.out.strip(), timeout=10).status_code == 403  # never another bucket's object
    assert run("presign", "--method", "PUT", target(cli_server, "up.txt")) == 0
    assert requests.put(capsys.readouterr().out.strip(), data=b"put", headers=host, timeout=10).status_code == 200
    assert run("rm", target(cli_server, "s.txt")) == 0 and cli_client.find_object("s.txt") is None
    assert run("stat", target(cli_server, "s.txt")) == cli.EXIT_SERVICE


def test_rm_recursive_dry_run_confirmation_and_yes(
    cli_server: LocalCOS, cli_client: CosClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        cli_client.put_object(f"r/{i}", b"x")
    cli_client.put_object("keep", b"x")
    assert run("rm", "-r", "--dry-run", target(cli_server, "r/")) == 0
    assert capsys.readouterr().out.count("would delete") == 3 and len(list(cli_client.list_objects())) == 4
    assert run("rm", "-r", target(cli_server, "r/")) == cli.EXIT_USAGE  # no terminal to confirm on, no --yes
    assert "no terminal to confirm the deletion of 3 objects: add --yes (or try --dry-run first)" in capsys.readouterr().err
    assert run("rm", "-r", "--yes", target(cli_server, "r/")) == 0
    assert "deleted 3 objects" in capsys.readouterr().out and [o.key for o in cli_client.list_objects()] == ["keep"]


def test_verify_equal_differ_missing(cli_server: LocalCOS, cli_client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, data = make_file(tmp_path, 3000)
    cli_client.put_object("v.bin", data)
    assert run("verify", str(path), target(cli_server, "v.bin")) == 0 and "equal" in capsys.readouterr().out
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert run("verify", str(path), target(cli_server, "v.bin")) == cli.EXIT_INTEGRITY
    assert "CRC-64" in capsys.readouterr().out
    path.write_bytes(data + b"!")
    assert run("verify", str(path), target(cli_server, "v.bin")) == cli.EXIT_INTEGRITY
    assert run("verify", str(path), target(cli_server, "missing.bin")) == cli.EXIT_SERVICE
    assert not any(e.api == "GetObject" for e in cli_server.log_entries())


def test_upload_r_and_sync_delete_dry_run_and_failures(
    cli_server: LocalCOS, cli_client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a")
    (src / "sub" / "文件.txt").write_bytes(b"b")
    (src / "empty").write_bytes(b"")
    assert run("upload", "-r", str(src), target(cli_server, "t")) == 0
    assert "3 uploaded, 0 skipped, 0 failed" in capsys.readouterr().out
    assert sorted(o.key for o in cli_client.list_objects("t/")) == ["t/a.txt", "t/empty", "t/sub/文件.txt"]
    cli_client.put_object("t/stale.txt", b"old")
    assert run("sync", "--delete", "--dry-run", str(src), target(cli_server, "t/")) == 0
    out = capsys.readouterr().out
    assert f"would delete cos://{cli_server.bucket}/t/stale.txt" in out and "would upload" not in out
    assert cli_client.find_object("t/stale.txt") is not None
    (src / "a.txt").write_bytes(b"changed")
    cli_server.faults.add(Fault.error("PutObject", status=400, code="InvalidArgument", nth=1))
    failures = tmp_path / "failed.jsonl"
    assert run("sync", "--delete", "--failures", str(failures), str(src), target(cli_server, "t/")) == cli.EXIT_PARTIAL
    captured = capsys.readouterr()
    assert "failed: " in captured.err and "1 failed, 1 deleted" in captured.out
    (row,) = [json.loads(line) for line in failures.read_text().splitlines()]
    assert row["key"] == "t/a.txt" and row["path"].endswith("a.txt") and "InvalidArgument" in row["error"]
    assert run("sync", str(src), target(cli_server, "t/")) == 0 and "1 uploaded, 2 skipped" in capsys.readouterr().out


def test_new_user_trial_errors_are_one_line_in_flags(
    cli_server: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = make_file(tmp_path, 10)
    assert run("upload", str(tmp_path), target(cli_server, "x")) == cli.EXIT_USAGE
    assert "upload it with -r" in capsys.readouterr().err
    assert run("upload", str(tmp_path / "nope"), target(cli_server, "x")) == cli.EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as excinfo:
        run("upload", "--part-size", "abc", str(path), target(cli_server, "x"))
    err = capsys.readouterr().err
    assert excinfo.value.code == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1 and "--part-size" in err
    assert run("upload", "--part-size", "100", str(path), target(cli_server, "x")) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--part-size 100" in err and "part_size=" not in err and "436/" not in err
    monkeypatch.delenv("COS_ENDPOINT")
    assert run("upload", str(path), target(cli_server, "x")) == cli.EXIT_USAGE
    assert "missing --region" in capsys.readouterr().err
    assert run("upload", "--endpoint", f"127.0.0.1:{cli_server.port}", str(path), target(cli_server, "x")) == cli.EXIT_USAGE
    assert f"http://127.0.0.1:{cli_server.port}" in capsys.readouterr().err
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert run("stat", "--max-attempts", "2", "--endpoint", f"http://127.0.0.1:{free}", target(cli_server, "x")) == cli.EXIT_TRANSPORT
    err = capsys.readouterr().err
    assert "refused" in err and "--endpoint" in err and "HTTPConnectionPool" not in err


def test_traffic_limit_units_sse_c_warning_and_empty_file(
    cli_server: LocalCOS, cli_client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    monkeypatch.setenv("COS_SSE_C_KEY", SSE_C_KEY)
    assert run("upload", "--traffic-limit", "800Mbit", "--part-size", "1MB", "--multipart-threshold", "1MB",
               str(path), target(cli_server, "t.bin")) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "WITHOUT SSE-C" in caplog.text and SSE_C_KEY not in caplog.text + captured.err + captured.out
    parts = cli_server.log_entries("UploadPart")
    assert parts and all(e.headers.get("x-cos-traffic-limit") == str(800 * 1024 * 1024) for e in parts)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert run("upload", str(empty), target(cli_server, "empty")) == 0
    assert cli_client.find_object("empty") is not None


def test_resume_forget_drops_the_checkpoint(
    cli_server: LocalCOS, cli_client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_cli_transfer import interrupt

    path, _ = make_file(tmp_path, 3 * MB)
    upload_id = interrupt(cli_server, cli_client, path, "f.bin", 1)
    assert run("resume") == 0
    listing = capsys.readouterr()
    assert "UTC" in listing.out and "endpoint " in listing.out and "--forget" in listing.err
    assert run("resume", "--forget", str(path), target(cli_server, "f.bin")) == 0
    assert upload_id in capsys.readouterr().out and list(cli_client.list_multipart_uploads()) == []
    assert run("resume", "--forget", str(path), target(cli_server, "f.bin")) == cli.EXIT_USAGE


def test_stat_and_verify_of_an_sse_c_object_without_its_key_say_so(
    cli_server: LocalCOS, cli_client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cos_multipart._protocol.sse import SseC

    cli_client.put_object("secret.bin", b"abc", encryption=SseC(SSE_C_KEY))
    assert run("stat", target(cli_server, "secret.bin")) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "SSE-C encrypted" in err and "--sse-c" in err and "$COS_SSE_C_KEY" in err
    path, _ = make_file(tmp_path, 3)
    assert run("verify", str(path), target(cli_server, "secret.bin")) == cli.EXIT_USAGE
    assert "SSE-C encrypted" in capsys.readouterr().err
    monkeypatch.setenv("COS_SSE_C_KEY", SSE_C_KEY)
    assert run("stat", "--sse-c", target(cli_server, "secret.bin")) == cli.EXIT_OK
    assert "SSE-C" in capsys.readouterr().out
