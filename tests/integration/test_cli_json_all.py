"""Every command of ``cos-multipart --help`` speaks ``--json`` or is on docs/cli.md's list of those that do
not (issue 24), and every ``--json`` output checks against its documented schema (docs/cli.md), run against
the local server speaking each service (``serve`` in a subprocess, since it runs until a signal).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from cos_multipart._cli import main as cli
from cos_multipart.testing import Fault, LocalCOS

from json_schema import conforms, json_lines
from test_cli_check import DU_SCHEMA, LS_SUMMARY_SCHEMA, PATH_SCHEMA, SUMMARY_SCHEMA
from test_cli_json import (
    ABORT_CHECKPOINT_SCHEMA,
    ABORT_SUMMARY_SCHEMA,
    ABORT_UPLOAD_SCHEMA,
    FILE_SCHEMA,
    RM_KEY_SCHEMA,
    RM_SUMMARY_SCHEMA,
    RM_WOULD_SCHEMA,
    TREE_SUMMARY_SCHEMA,
    UPLOAD_SCHEMA,
    UPLOADED_SCHEMA,
    UPLOADS_SUMMARY_SCHEMA,
    VERIFY_SCHEMA,
)
from uploads import make_file, target

pytestmark = [pytest.mark.integration]

_INT_OR_NONE = (int, type(None))
_STR_OR_NONE = (str, type(None))
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

#: docs/cli.md, "ls --json": one object per object, per folder, then (--summarize) the summary.
LS_OBJECT_SCHEMA: Dict[str, Any] = {
    "key": str, "size": int, "etag": _STR_OR_NONE, "crc64": _INT_OR_NONE, "storage_class": _STR_OR_NONE,
    "last_modified": _STR_OR_NONE,
}  # fmt: skip
LS_FOLDER_SCHEMA: Dict[str, Any] = {"prefix": str}
#: docs/cli.md, "stat --json".
STAT_SCHEMA: Dict[str, Any] = {
    "key": str, "size": int, "etag": _STR_OR_NONE, "crc64": _INT_OR_NONE, "storage_class": _STR_OR_NONE,
    "content_type": _STR_OR_NONE, "last_modified": _STR_OR_NONE, "encryption": _STR_OR_NONE, "metadata": dict,
    "version_id": _STR_OR_NONE,
}  # fmt: skip
#: docs/cli.md, "presign --json".
PRESIGN_SCHEMA: Dict[str, Any] = {"type": str, "target": str, "method": str, "url": str, "expires": int, "host": _STR_OR_NONE}
#: docs/cli.md, "resume --json" without PATH: one object per checkpoint, then the summary.
CHECKPOINT_SCHEMA: Dict[str, Any] = {
    "type": str, "path": str, "copy": bool, "source": _STR_OR_NONE, "target": str, "service": str, "bucket": str, "key": str,
    "upload_id": str, "parts_done": int, "parts_total": int, "part_size": int, "size": int, "started": _STR_OR_NONE,
    "endpoint": str, "encryption": str,
}  # fmt: skip
CHECKPOINTS_SUMMARY_SCHEMA: Dict[str, Any] = {"type": str, "checkpoints": int, "directory": str}
#: docs/cli.md, "resume --forget --json".
FORGET_SCHEMA: Dict[str, Any] = {"type": str, "source": str, "target": str, "upload_id": str, "aborted": (bool, type(None))}
#: docs/cli.md, "config ... --json".
CONFIG_SCHEMAS: Dict[str, Dict[str, Any]] = {
    "set": {"type": str, "profile": str, "key": str, "value": str, "path": str},
    "unset": {"type": str, "profile": str, "key": str, "path": str},
    "profile": {"type": str, "name": str, "settings": dict},
    "summary": {"type": str, "profiles": int, "path": str},
    "path": {"type": str, "path": str, "exists": bool},
    "settings": {"type": str, "settings": dict},
    "imported": {"type": str, "source": str, "format": str, "path": str, "profiles": dict, "left_out": list},
}
#: docs/cli.md, "cp and mv": one object per copy (then, with -r, a summary).
COPIED_SCHEMA: Dict[str, Any] = {
    "type": str, "source": str, "target": str, "size": int, "parts": int, "multipart": bool, "upload_id": _STR_OR_NONE,
    "crc64": _INT_OR_NONE, "source_crc64": _INT_OR_NONE, "crc64_verified": bool, "etag": str, "parts_reused": int,
    "seconds": (int, float),
}  # fmt: skip
#: docs/cli.md, "serve --json".
SERVE_SCHEMAS: Dict[str, Dict[str, Any]] = {
    "listening": {
        "type": str, "service": str, "endpoint": str, "host": str, "port": int, "bucket": str, "buckets": list,
        "region": str, "secret_id": str, "secret_key": _STR_OR_NONE, "credentials": str, "anonymous": bool,
        "data_dir": str, "temporary": bool, "access_log": str, "ca_bundle": _STR_OR_NONE, "tls_names": list,
        "faults": list, "pid": int,
    },
    "stopped": {"type": str, "endpoint": str},
}  # fmt: skip


#: docs/cli.md, "download": ``download --json``.
DOWNLOADED_SCHEMA: Dict[str, Any] = {
    "type": str, "source": str, "key": str, "target": str, "size": int, "ranges": int, "crc64": _INT_OR_NONE, "etag": str,
    "check": str, "ranges_reused": int, "refetched": int, "restarted": _STR_OR_NONE, "seconds": float,
}  # fmt: skip


def leaf_commands(parser: argparse.ArgumentParser, path: Tuple[str, ...] = ()) -> Dict[Tuple[str, ...], argparse.ArgumentParser]:
    """Every command that runs (``config set``, not ``config``), by its words."""
    found: Dict[Tuple[str, ...], argparse.ArgumentParser] = {}
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: parser}
    for action in subs:
        for name, sub in action.choices.items():
            found.update(leaf_commands(sub, (*path, name)))
    return found


def documented_exceptions() -> Dict[str, str]:
    """docs/cli.md's commands without ``--json``: the line ``- `NAME`: why``, under "Commands without --json"."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("**Commands without `--json`**", 1)[1].split("\n\n", 2)[1]
    return dict(re.findall(r"^- `([a-z ]+)`: (.+)$", section, re.MULTILINE))


def test_every_command_takes_json_or_is_documented_as_an_exception() -> None:
    exceptions = documented_exceptions()
    assert exceptions, "docs/cli.md lists the commands without --json"
    for words, parser in leaf_commands(cli.build_parser()).items():
        flags = {flag for action in parser._actions for flag in action.option_strings}
        name = " ".join(words)
        assert ("--json" in flags) != (name in exceptions), (name, "--json" in flags)
        if "--json" in flags:
            assert name in RUNS, f"{name} --json has no run checking its schema"
    assert set(exceptions) <= {" ".join(words) for words in leaf_commands(cli.build_parser())}


# --- each --json output, checked against its schema -------------------------------------------------------------


def _one_of(schemas: Dict[str, Dict[str, Any]]) -> Callable[[Dict[str, Any]], None]:
    def check(line: Dict[str, Any]) -> None:
        conforms(line, schemas[line["type"]])

    return check


def _ls_line(line: Dict[str, Any]) -> None:
    conforms(line, LS_SUMMARY_SCHEMA if "type" in line else LS_FOLDER_SCHEMA if "prefix" in line else LS_OBJECT_SCHEMA)


def _abort_line(line: Dict[str, Any]) -> None:
    if line["type"] == "summary":
        conforms(line, ABORT_SUMMARY_SCHEMA)
    else:
        conforms(line, ABORT_UPLOAD_SCHEMA if "upload_id" in line else ABORT_CHECKPOINT_SCHEMA)


def _tree_line(line: Dict[str, Any]) -> None:
    conforms(line, TREE_SUMMARY_SCHEMA if line["type"] == "summary" else FILE_SCHEMA)


def _fixture(server: LocalCOS, tmp: Path) -> Dict[str, str]:
    """Objects, a kept upload with its checkpoint, a directory and a profile for the runs below."""
    small, _ = make_file(tmp, 100, "small.bin")
    big, _ = make_file(tmp, 3 * 1024 * 1024 + 7, "big.bin")
    tree = tmp / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"a" * 10)
    with server.client() as client:
        client.put_object("o/small.bin", small.read_bytes())
        client.put_object("tree/a.txt", b"a" * 10)
    fault = server.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    try:
        parts = ("--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1")
        assert cli.main(["upload", "-q", str(big), target(server, "o/big.bin"), *parts]) == cli.EXIT_SERVICE
    finally:
        server.faults.remove(fault)
    coscmd = tmp / "cos.conf"
    coscmd.write_text("[common]\nregion = ap-guangzhou\nmax_thread = 4\n")
    return {"small": str(small), "big": str(big), "tree": str(tree), "coscmd": str(coscmd)}


#: The run of each command with --json: its arguments (from the fixture's names) and how each line is checked.
RUNS: Dict[str, Tuple[Callable[[LocalCOS, Dict[str, str]], List[str]], Callable[[Dict[str, Any]], None]]] = {
    "upload": (lambda s, f: ["upload", f["small"], target(s, "o/up.bin")], lambda line: conforms(line, UPLOADED_SCHEMA)),
    "resume": (lambda s, f: ["resume"], _one_of({"checkpoint": CHECKPOINT_SCHEMA, "summary": CHECKPOINTS_SUMMARY_SCHEMA})),
    "sync": (lambda s, f: ["sync", "--dry-run", f["tree"], target(s, "tree/")], _tree_line),
    "ls": (lambda s, f: ["ls", "-r", "--summarize", target(s, "")], _ls_line),
    "uploads": (lambda s, f: ["uploads", target(s, "o/")], _one_of({"upload": UPLOAD_SCHEMA, "summary": UPLOADS_SUMMARY_SCHEMA})),
    "stat": (lambda s, f: ["stat", target(s, "o/small.bin")], lambda line: conforms(line, STAT_SCHEMA)),
    "rm": (lambda s, f: ["rm", "-r", "--dry-run", target(s, "o/")],
           _one_of({"would_delete": RM_WOULD_SCHEMA, "deleted": RM_KEY_SCHEMA, "summary": RM_SUMMARY_SCHEMA})),
    "presign": (lambda s, f: ["presign", "--expires", "1h", target(s, "o/small.bin")], lambda line: conforms(line, PRESIGN_SCHEMA)),
    "verify": (lambda s, f: ["verify", f["small"], target(s, "o/small.bin")], lambda line: conforms(line, VERIFY_SCHEMA)),
    "check": (lambda s, f: ["check", f["tree"], target(s, "tree/")], _one_of({"path": PATH_SCHEMA, "summary": SUMMARY_SCHEMA})),
    "du": (lambda s, f: ["du", target(s, "o/")], lambda line: conforms(line, DU_SCHEMA)),
    "abort": (lambda s, f: ["abort", "--all", "--dry-run", target(s, "o/")], _abort_line),
    "config set": (lambda s, f: ["config", "set", "--profile", "p", "part_size", "16MB"], _one_of(CONFIG_SCHEMAS)),
    "config unset": (lambda s, f: ["config", "unset", "--profile", "p", "part_size"], _one_of(CONFIG_SCHEMAS)),
    "config list": (lambda s, f: ["config", "list"], _one_of(CONFIG_SCHEMAS)),
    "config path": (lambda s, f: ["config", "path"], _one_of(CONFIG_SCHEMAS)),
    "config show": (lambda s, f: ["config", "show", "--service", s.dialect], _one_of(CONFIG_SCHEMAS)),
    "config import": (lambda s, f: ["config", "import", f["coscmd"]], _one_of(CONFIG_SCHEMAS)),
    "cp": (lambda s, f: ["cp", target(s, "o/small.bin"), target(s, "o/copied.bin")], lambda line: conforms(line, COPIED_SCHEMA)),
    "mv": (lambda s, f: ["mv", target(s, "o/copied.bin"), target(s, "o/moved.bin")], lambda line: conforms(line, COPIED_SCHEMA)),
    "download": (lambda s, f: ["download", target(s, "o/small.bin"), str(Path(f["small"]).parent / "downloaded.bin")],
                 lambda line: conforms(line, DOWNLOADED_SCHEMA)),
    "serve": (lambda s, f: [], _one_of(SERVE_SCHEMAS)),  # run in a subprocess: test_serve_json_says_the_start_and_the_stop
}


@pytest.mark.both_dialects
def test_every_json_output_conforms_to_its_schema(
    cli_env: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    names = _fixture(cli_env, tmp_path)
    capsys.readouterr()
    for name, (argv_of, check) in RUNS.items():
        argv = argv_of(cli_env, names)
        if not argv:
            continue
        words = name.split()
        code = cli.main([*argv[: len(words)], "--json", *argv[len(words) :]])
        out, err = capsys.readouterr()
        assert code == 0, (name, err)
        lines = json_lines(out)
        assert lines, name
        for line in lines:
            check(line)
        assert "\r" not in err, name  # no progress bar


def test_serve_json_says_the_start_and_the_stop(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COS_", "OSS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "cos_multipart", "serve", "--json", "-q", "--port", "0", "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        listening = json_lines(process.stdout.readline())[0]
        conforms(listening, SERVE_SCHEMAS["listening"])
        assert listening["type"] == "listening" and listening["endpoint"].endswith(f":{listening['port']}")
        assert listening["credentials"] == "test" and listening["secret_key"]  # the public test key
        assert listening["temporary"] is False and listening["pid"] == process.pid
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    (stopped,) = json_lines(out)
    conforms(stopped, SERVE_SCHEMAS["stopped"])
    assert stopped == {"type": "stopped", "endpoint": listening["endpoint"]} and process.returncode == 0


def test_serve_json_never_prints_a_key_of_the_user(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COS_", "OSS_"))}
    env.update(COS_SECRET_ID="AKIDuserkey000000000000000000000000", COS_SECRET_KEY="user-secret-never-printed")
    process = subprocess.Popen(
        [sys.executable, "-m", "cos_multipart", "serve", "--json", "-q", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        listening = json_lines(process.stdout.readline())[0]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert listening["secret_key"] is None and listening["credentials"] == "environment"
    assert "user-secret-never-printed" not in out + err


# --- the commands that gained --json -----------------------------------------------------------------------------


@pytest.mark.both_dialects
def test_resume_json_lists_the_checkpoints_and_forget_says_what_it_dropped(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["resume", "--json"]) == 0
    (summary,) = json_lines(capsys.readouterr().out)
    assert summary["type"] == "summary" and summary["checkpoints"] == 0
    names = _fixture(cli_env, tmp_path)
    capsys.readouterr()
    assert cli.main(["resume", "--json"]) == 0
    out, err = capsys.readouterr()
    checkpoint, summary = json_lines(out)
    conforms(checkpoint, CHECKPOINT_SCHEMA)
    assert (checkpoint["source"], checkpoint["target"], checkpoint["parts_done"], checkpoint["parts_total"]) == (
        names["big"], target(cli_env, "o/big.bin"), 1, 4,
    )  # fmt: skip
    assert checkpoint["service"] == cli_env.dialect and summary["checkpoints"] == 1 and err == ""
    assert checkpoint["started"] is not None and checkpoint["started"].endswith("+00:00")

    where = target(cli_env, "o/big.bin")
    seen = [e for e in cli_env.log_entries() if e.method in ("PUT", "POST", "DELETE")]
    assert cli.main(["resume", "--forget", "--dry-run", "--json", names["big"], where]) == 0
    (would,) = json_lines(capsys.readouterr().out)
    conforms(would, FORGET_SCHEMA)
    assert would == {"type": "would_forget", "source": names["big"], "target": where, "upload_id": checkpoint["upload_id"], "aborted": None}
    assert [e for e in cli_env.log_entries() if e.method in ("PUT", "POST", "DELETE")] == seen
    assert cli.main(["resume", "--forget", "--json", names["big"], where]) == 0
    (forgot,) = json_lines(capsys.readouterr().out)
    assert forgot == {**would, "type": "forgotten", "aborted": True}
    assert cli.main(["resume", "--json"]) == 0
    assert json_lines(capsys.readouterr().out) == [{**summary, "checkpoints": 0}]
    assert cli.main(["resume", "--json", "--part-size", "8MB"]) == cli.EXIT_USAGE  # a transfer option still is refused
    out, err = capsys.readouterr()
    assert out == "" and "--part-size" in json_lines(err)[0]["message"]


@pytest.mark.both_dialects
def test_presign_json_gives_the_url_its_expiry_and_the_host_to_send(
    cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_env.client() as client:
        client.put_object("p/x", b"x")
    assert cli.main(["presign", "--json", "--expires", "15m", target(cli_env, "p/x")]) == 0
    out, err = capsys.readouterr()
    (found,) = json_lines(out)
    conforms(found, PRESIGN_SCHEMA)
    assert (found["type"], found["method"], found["expires"], found["target"]) == ("presigned", "GET", 900, target(cli_env, "p/x"))
    assert found["url"].startswith(cli_env.endpoint) and found["host"] is not None and found["host"].startswith(cli_env.bucket + ".")
    assert err == ""  # the note about the Host header is the "host" field
    assert cli.main(["presign", "--json", "--expires", "8d", target(cli_env, "p/x")]) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == "" and json_lines(err)[0]["message"].startswith("--expires 691200")
