"""``cos-multipart sync cos://BUCKET/PREFIX/ DIR`` (the download direction) against the local server speaking each
service: what changed is fetched, the rest skipped by size and CRC-64, --delete with --max-delete, --dry-run writes
nothing, unsafe keys refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io.client import CosClient
from cos_multipart.testing import LocalCOS

from downloads import put
from uploads import target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def run(*argv: str) -> int:
    return cli.main(list(argv))


def lines_of(text: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def files_under(folder: Path) -> Dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_sync_fetches_what_changed_and_skips_the_rest(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    objects = {"p/a": put(client, "p/a", 100), "p/sub/b": put(client, "p/sub/b", 70000)}
    root = tmp_path / "mirror"
    assert run("sync", target(cli_env, "p/"), str(root), "--json") == 0
    summary = lines_of(capsys.readouterr().out)[-1]
    assert (summary["downloaded"], summary["skipped"]) == (2, 0)
    assert files_under(root) == {"a": objects["p/a"], "sub/b": objects["p/sub/b"]}
    gets = len(cli_env.log_entries("GetObject"))
    assert run("sync", target(cli_env, "p/"), str(root), "--json") == 0
    summary = lines_of(capsys.readouterr().out)[-1]
    assert (summary["downloaded"], summary["skipped"]) == (0, 2) and len(cli_env.log_entries("GetObject")) == gets
    changed = put(client, "p/a", 100)  # same size, other bytes: the CRC-64 tells
    (root / "sub" / "b").write_bytes(b"x" * 70000)  # a local edit of the same size
    assert run("sync", target(cli_env, "p/"), str(root)) == 0
    out = capsys.readouterr().out
    assert "2 downloaded, 0 skipped" in out
    assert files_under(root) == {"a": changed, "sub/b": objects["p/sub/b"]}


def test_delete_with_its_guards(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(client, "p/a", 10)
    root = tmp_path / "mirror"
    root.mkdir()
    (root / "extra.txt").write_bytes(b"no object")
    (root / "keep.log").write_bytes(b"excluded")
    assert run("sync", target(cli_env, "p/"), str(root), "--delete", "--max-delete", "0", "--exclude", "*.log") == 9
    assert (root / "extra.txt").exists() and "nothing was deleted" in capsys.readouterr().out
    assert run("sync", target(cli_env, "p/"), str(root), "--delete", "--dry-run", "--exclude", "*.log") == 0
    assert "would delete" in capsys.readouterr().out and (root / "extra.txt").exists()
    assert run("sync", target(cli_env, "p/"), str(root), "--delete", "--exclude", "*.log", "--json") == 0
    kinds = [line["type"] for line in lines_of(capsys.readouterr().out)]
    assert "deleted" in kinds and not (root / "extra.txt").exists() and (root / "keep.log").exists()


def test_dry_run_writes_nothing(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(client, "p/a", 10)
    seen = len(cli_env.log_entries())
    assert run("sync", target(cli_env, "p/"), str(tmp_path / "mirror"), "--dry-run") == 0
    assert "1 to download" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert {entry.api for entry in cli_env.log_entries()[seen:]} <= {"ListObjects", "HeadObject"}


def test_unsafe_keys_are_refused(cli_env: LocalCOS, client: CosClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client.put_object("p/../escape", b"x")
    put(client, "p/ok", 5)
    root = tmp_path / "inside"
    assert run("sync", target(cli_env, "p/"), str(root), "--json") == 8
    kinds = {line["type"]: line for line in lines_of(capsys.readouterr().out)}
    assert kinds["refused"]["key"] == "p/../escape" and files_under(tmp_path) == {"inside/ok": files_under(root)["ok"]}


def test_upload_options_are_refused_when_downloading(cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("sync", target(cli_env, "p/"), str(tmp_path / "m"), "--storage-class", "STANDARD_IA") == 2
    assert "--storage-class" in capsys.readouterr().err
    assert run("sync", target(cli_env, "p/"), str(tmp_path / "m"), "--max-delete", "3") == 2
