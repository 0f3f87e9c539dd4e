"""``--json`` of ``verify``, ``rm``, ``uploads`` and errors (issue 24), run in-process against the local server
speaking each service: every line parsed and checked against the schema docs/cli.md gives, exit codes the
text output's, and nothing but JSON on stdout (errors as one JSON object on stderr).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from cos_multipart._cli import main as cli
from cos_multipart.testing import Fault, LocalCOS

from json_schema import conforms, json_lines
from uploads import make_file, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

_OPTIONAL_INT = (int, type(None))
_OPTIONAL_STR = (str, type(None))
#: docs/cli.md, "verify --json".
VERIFY_SCHEMA: Dict[str, Any] = {
    "type": str, "path": str, "target": str, "outcome": str, "local_size": int, "remote_size": _OPTIONAL_INT,
    "local_crc64": _OPTIONAL_INT, "remote_crc64": _OPTIONAL_INT,
}  # fmt: skip
#: docs/cli.md, "rm --json": one object per key ...
RM_KEY_SCHEMA: Dict[str, Any] = {"type": str, "key": str, "code": _OPTIONAL_STR, "message": _OPTIONAL_STR}
RM_WOULD_SCHEMA: Dict[str, Any] = {"type": str, "key": str, "size": int}
#: ... then the summary.
RM_SUMMARY_SCHEMA: Dict[str, Any] = {"type": str, "deleted": int, "not_deleted": int, "would_delete": int, "dry_run": bool}
#: docs/cli.md, "uploads --json".
UPLOAD_SCHEMA: Dict[str, Any] = {"type": str, "key": str, "upload_id": str, "initiated": _OPTIONAL_STR, "source": _OPTIONAL_STR}
UPLOADS_SUMMARY_SCHEMA: Dict[str, Any] = {"type": str, "uploads": int}
#: docs/cli.md, "Errors with --json" (on stderr).
ERROR_SCHEMA: Dict[str, Any] = {"type": str, "exit_code": int, "message": str, "kept": (dict, type(None))}


def run(*argv: str) -> int:
    return cli.main(list(argv))


def error_of(text: str, code: int) -> Dict[str, Any]:
    (error,) = json_lines(text)
    conforms(error, ERROR_SCHEMA)
    assert error["type"] == "error" and error["exit_code"] == code
    return error


def test_verify_json_reports_each_outcome_with_its_exit_code(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 3000)
    other, _ = make_file(tmp_path, 3000, "other.bin")
    with cli_env.client() as client:
        client.put_object("v/same", data)
    cases = [("v/same", path, 0, "equal"), ("v/same", other, cli.EXIT_INTEGRITY, "crc64"), ("v/none", path, cli.EXIT_SERVICE, "missing")]
    for key, local, code, outcome in cases:
        assert run("verify", "--json", str(local), target(cli_env, key)) == code
        out, err = capsys.readouterr()
        (found,) = json_lines(out)
        conforms(found, VERIFY_SCHEMA)
        assert (found["type"], found["outcome"], found["path"], found["target"]) == ("verify", outcome, str(local), target(cli_env, key))
        assert found["local_size"] == 3000 and err == ""
        if outcome == "missing":
            assert found["remote_size"] is None
        else:
            assert found["remote_size"] == 3000 and isinstance(found["remote_crc64"], int)
            assert (found["local_crc64"] == found["remote_crc64"]) == (outcome == "equal")


def test_rm_json_dry_run_then_delete_one_line_per_key(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    with cli_env.client() as client:
        client.put_object("d/a", b"a" * 5)
        client.put_object("d/b/c", b"c" * 7)
        client.put_object("dd", b"not in the folder")
    capsys.readouterr()
    assert run("rm", "-r", "--json", "--dry-run", target(cli_env, "d/")) == 0
    *would, summary = json_lines(capsys.readouterr().out)
    for item in would:
        conforms(item, RM_WOULD_SCHEMA)
    conforms(summary, RM_SUMMARY_SCHEMA)
    assert {(w["type"], w["key"], w["size"]) for w in would} == {("would_delete", "d/a", 5), ("would_delete", "d/b/c", 7)}
    assert summary == {"type": "summary", "deleted": 0, "not_deleted": 0, "would_delete": 2, "dry_run": True}
    assert run("ls", "-r", "--json", target(cli_env, "d/")) == 0 and len(json_lines(capsys.readouterr().out)) == 2

    assert run("rm", "-r", "--yes", "--json", target(cli_env, "d/")) == 0
    out, err = capsys.readouterr()
    *deleted, summary = json_lines(out)
    for item in deleted:
        conforms(item, RM_KEY_SCHEMA)
    assert {(d["type"], d["key"]) for d in deleted} == {("deleted", "d/a"), ("deleted", "d/b/c")} and err == ""
    assert summary == {"type": "summary", "deleted": 2, "not_deleted": 0, "would_delete": 0, "dry_run": False}

    assert run("rm", "--json", target(cli_env, "dd")) == 0
    *deleted, summary = json_lines(capsys.readouterr().out)
    assert [d["key"] for d in deleted] == ["dd"] and summary["deleted"] == 1
    with cli_env.client() as client:
        assert not list(client.list_objects(None))


def test_rm_json_of_a_missing_key_is_an_error_object_on_stderr(
    cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("rm", "--json", target(cli_env, "never-was")) == cli.EXIT_SERVICE
    out, err = capsys.readouterr()
    assert out == ""
    error = error_of(err, cli.EXIT_SERVICE)
    assert error["message"] == f"not found: {target(cli_env, 'never-was')} (nothing deleted)" and error["kept"] is None


def test_rm_json_names_each_key_not_deleted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hostile import Request, cli_against, object_listing, reply

    body = object_listing(("t/a", "t/b"))
    result = (
        b"<?xml version='1.0'?><DeleteResult><Deleted><Key>t/a</Key></Deleted>"
        b"<Error><Key>t/b</Key><Code>AccessDenied</Code><Message>not yours</Message></Error></DeleteResult>"
    )

    def answer(request: Request, sock: Any) -> bool:
        if request.method == "GET":
            reply(sock, "200 OK", body, {"Content-Type": "application/xml"})
        elif request.method == "POST":
            reply(sock, "200 OK", result, {"Content-Type": "application/xml"})
        else:
            reply(sock, "405 Method Not Allowed")
        return True

    with cli_against(answer, monkeypatch):
        assert run("rm", "-r", "--yes", "--json", "cos://examplebucket-1250000000/t/") == cli.EXIT_PARTIAL
        out, err = capsys.readouterr()
        *items, summary = json_lines(out)
        for item in items:
            conforms(item, RM_KEY_SCHEMA)
        assert items == [
            {"type": "deleted", "key": "t/a", "code": None, "message": None},
            {"type": "not_deleted", "key": "t/b", "code": "AccessDenied", "message": "not yours"},
        ]
        assert summary == {"type": "summary", "deleted": 1, "not_deleted": 1, "would_delete": 0, "dry_run": False}
        assert err == ""


def test_uploads_json_names_each_upload_and_its_local_source_and_a_kept_upload_is_in_the_error(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big, _ = make_file(tmp_path, 3 * 1024 * 1024 + 7, "big.bin")
    fault = cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    try:  # a kept upload with its checkpoint
        small_parts = ("--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1")
        assert run("upload", "--json", str(big), target(cli_env, "u/kept.bin"), *small_parts) == cli.EXIT_SERVICE
    finally:
        cli_env.faults.remove(fault)
    out, err = capsys.readouterr()
    error = error_of(err, cli.EXIT_SERVICE)
    kept = error["kept"]
    assert out == "" and kept is not None and kept["key"] == "u/kept.bin" and kept["source"] == str(big)
    assert kept["parts_done"] == 1 and kept["parts_total"] == 4 and "resume" in kept["resume_command"]
    assert "AccessDenied" in error["message"]
    with cli_env.client() as client:
        plain = client.initiate_multipart_upload("u/plain").upload_id
    assert run("uploads", "--json", target(cli_env, "u/")) == 0
    *uploads, summary = json_lines(capsys.readouterr().out)
    for item in uploads:
        conforms(item, UPLOAD_SCHEMA)
    found = {(u["type"], u["key"], u["upload_id"], u["source"]) for u in uploads}
    assert found == {("upload", "u/plain", plain, None), ("upload", "u/kept.bin", kept["upload_id"], str(big))}
    assert all("T" in str(u["initiated"]) for u in uploads)
    assert summary == {"type": "summary", "uploads": 2}
    assert run("ls", "--uploads", "--json", target(cli_env, "u/")) == 0  # the same listing, the same lines
    assert sorted(map(str, json_lines(capsys.readouterr().out))) == sorted(map(str, [*uploads, summary]))
    assert run("uploads", "--json", target(cli_env, "none/")) == 0
    out, err = capsys.readouterr()
    assert json_lines(out) == [{"type": "summary", "uploads": 0}] and err == ""


def test_errors_with_json_are_one_object_on_stderr_with_the_text_message(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("verify", str(tmp_path / "absent"), target(cli_env, "k")) == cli.EXIT_USAGE
    text = capsys.readouterr().err
    assert run("verify", "--json", str(tmp_path / "absent"), target(cli_env, "k")) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    error = error_of(err, cli.EXIT_USAGE)
    assert out == "" and text.strip() == f"cos-multipart: error: {error['message']}" and error["kept"] is None


#: docs/cli.md, "upload --json" and "resume --json".
UPLOADED_SCHEMA: Dict[str, Any] = {
    "type": str, "source": str, "key": str, "target": str, "size": int, "parts": int, "crc64": int, "etag": str,
    "multipart": bool, "upload_id": _OPTIONAL_STR, "bytes_sent": int, "bytes_reused": int, "seconds": (int, float),
}  # fmt: skip
#: docs/cli.md, "abort --json": one object per upload and per checkpoint ...
ABORT_UPLOAD_SCHEMA: Dict[str, Any] = {"type": str, "key": str, "upload_id": str, "code": _OPTIONAL_STR}
ABORT_CHECKPOINT_SCHEMA: Dict[str, Any] = {"type": str, "path": str, "source": _OPTIONAL_STR}
#: ... then the summary.
ABORT_SUMMARY_SCHEMA: Dict[str, Any] = {
    "type": str, "aborted": int, "not_aborted": int, "would_abort": int, "checkpoint_removed": int,
    "would_remove_checkpoint": int, "too_recent": int, "dry_run": bool,
}  # fmt: skip
#: docs/cli.md, "upload -r --json" and "sync --json": one object per file ...
FILE_SCHEMA: Dict[str, Any] = {
    "type": str, "path": _OPTIONAL_STR, "key": str, "size": _OPTIONAL_INT, "crc64": _OPTIONAL_INT, "bytes_reused": int,
    "reason": _OPTIONAL_STR, "error": _OPTIONAL_STR, "kept": (dict, type(None)),
}  # fmt: skip
#: ... then the summary.
TREE_SUMMARY_SCHEMA: Dict[str, Any] = {
    "type": str, "dry_run": bool, "uploaded": int, "skipped": int, "failed": int, "stopped": int, "deleted": int,
    "would_upload": int, "would_delete": int, "not_started": int, "bytes_sent": int, "bytes_reused": int,
    "seconds": (int, float), "interrupted": bool, "deletions_over_limit": int, "delete_skipped": _OPTIONAL_STR,
}  # fmt: skip
_SMALL_PARTS = ("--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1")


def uploaded_of(text: str) -> Dict[str, Any]:
    (found,) = json_lines(text)
    conforms(found, UPLOADED_SCHEMA)
    assert found["type"] == "uploaded"
    return found


def test_upload_and_resume_json_print_one_object_and_no_bar(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small, data = make_file(tmp_path, 1000, "small.bin")
    assert run("upload", "--json", str(small), target(cli_env, "s/small.bin")) == 0
    out, err = capsys.readouterr()
    found = uploaded_of(out)
    assert err == "" and found["size"] == 1000 and found["parts"] == 1 and not found["multipart"]
    assert found["target"] == target(cli_env, "s/small.bin") and found["key"] == "s/small.bin" and found["source"] == str(small)

    big, _ = make_file(tmp_path, 3 * 1024 * 1024 + 7, "big.bin")
    fault = cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    try:
        assert run("upload", str(big), target(cli_env, "s/big.bin"), *_SMALL_PARTS) == cli.EXIT_SERVICE
    finally:
        cli_env.faults.remove(fault)
    capsys.readouterr()
    assert run("resume", "--json", str(big), target(cli_env, "s/big.bin"), *_SMALL_PARTS) == 0
    out, err = capsys.readouterr()
    found = uploaded_of(out)
    assert err == "" and found["multipart"] and found["parts"] == 4 and found["bytes_reused"] == 1024 * 1024
    assert found["size"] == 3 * 1024 * 1024 + 7 and found["bytes_sent"] == found["size"] - found["bytes_reused"]
    with cli_env.client() as client:
        assert client.head_object("s/big.bin").crc64 == found["crc64"]
    del data


#: docs/cli.md, "upload --dry-run --json" (one file).
PLAN_SCHEMA: Dict[str, Any] = {
    "type": str, "source": str, "key": str, "target": str, "size": _OPTIONAL_INT, "parts": _OPTIONAL_INT,
    "part_size": _OPTIONAL_INT, "parts_recorded": _OPTIONAL_INT, "upload_id": _OPTIONAL_STR, "restart": _OPTIONAL_STR,
    "existing": str,
}  # fmt: skip


def plan_of(text: str, kind: str) -> Dict[str, Any]:
    (plan,) = json_lines(text)
    conforms(plan, PLAN_SCHEMA)
    assert plan["type"] == kind
    return plan


def test_upload_and_resume_dry_run_json_say_the_plan_and_write_nothing(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small, _ = make_file(tmp_path, 10)
    big, _ = make_file(tmp_path, 3 * 1024 * 1024 + 7, "big.bin")
    fault = cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    try:
        assert run("upload", str(big), target(cli_env, "p/big.bin"), *_SMALL_PARTS) == cli.EXIT_SERVICE
    finally:
        cli_env.faults.remove(fault)
    capsys.readouterr()
    seen = [e for e in cli_env.log_entries() if e.method in ("PUT", "POST", "DELETE")]
    assert run("upload", "--json", "--dry-run", str(small), target(cli_env, "p/small")) == 0
    plan = plan_of(capsys.readouterr().out, "would_upload")
    assert (plan["size"], plan["parts"], plan["source"], plan["target"]) == (10, None, str(small), target(cli_env, "p/small"))
    for command in ("upload", "resume"):
        assert run(command, "--json", "--dry-run", str(big), target(cli_env, "p/big.bin"), *_SMALL_PARTS) == 0
        out, err = capsys.readouterr()
        plan = plan_of(out, "would_resume")
        assert (plan["parts"], plan["parts_recorded"], plan["part_size"]) == (4, 1, 1024 * 1024) and err == ""
    assert run("upload", "--json", "--dry-run", "--no-resume", str(big), target(cli_env, "p/new.bin"), *_SMALL_PARTS) == 0
    assert plan_of(capsys.readouterr().out, "would_upload")["parts"] == 4
    assert [e for e in cli_env.log_entries() if e.method in ("PUT", "POST", "DELETE")] == seen


def test_abort_json_dry_run_then_abort_one_line_per_upload_and_checkpoint(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big, _ = make_file(tmp_path, 3 * 1024 * 1024 + 7, "big.bin")
    fault = cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    try:
        assert run("upload", str(big), target(cli_env, "a/big.bin"), *_SMALL_PARTS) == cli.EXIT_SERVICE
    finally:
        cli_env.faults.remove(fault)
    with cli_env.client() as client:
        other = client.initiate_multipart_upload("a/other").upload_id
    capsys.readouterr()

    def lines_of(out: str) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]], Dict[str, Any]]:
        *items, summary = json_lines(out)
        conforms(summary, ABORT_SUMMARY_SCHEMA)
        uploads = [item for item in items if "upload_id" in item]
        checkpoints = [item for item in items if "path" in item]
        for item in uploads:
            conforms(item, ABORT_UPLOAD_SCHEMA)
        for item in checkpoints:
            conforms(item, ABORT_CHECKPOINT_SCHEMA)
        assert len(uploads) + len(checkpoints) == len(items)
        return uploads, checkpoints, summary

    assert run("abort", "--json", "--dry-run", target(cli_env, "a/big.bin")) == 0
    uploads, checkpoints, summary = lines_of(capsys.readouterr().out)
    assert [(u["type"], u["key"]) for u in uploads] == [("would_abort", "a/big.bin")]
    assert [(c["type"], c["source"]) for c in checkpoints] == [("would_remove_checkpoint", str(big))]
    assert summary["would_abort"] == 1 and summary["would_remove_checkpoint"] == 1 and summary["dry_run"]

    assert run("abort", "--json", "--all", "--dry-run", target(cli_env, "a/")) == 0
    uploads, checkpoints, summary = lines_of(capsys.readouterr().out)
    assert {u["key"] for u in uploads} == {"a/big.bin", "a/other"} and summary["would_abort"] == 2

    assert run("abort", "--json", target(cli_env, "a/big.bin")) == 0
    uploads, checkpoints, summary = lines_of(capsys.readouterr().out)
    assert [(u["type"], u["key"]) for u in uploads] == [("aborted", "a/big.bin")]
    assert [c["type"] for c in checkpoints] == ["checkpoint_removed"] and not summary["dry_run"]
    assert summary["aborted"] == 1 and summary["checkpoint_removed"] == 1

    with cli_env.client() as client:
        third = client.initiate_multipart_upload("a/third").upload_id
    fault = cli_env.faults.add(Fault.error("AbortMultipartUpload", status=403, code="AccessDenied", nth=1, count=1))
    try:  # the first abort refused (a/other, in key order), the second done
        assert run("abort", "--json", "--all", "--yes", target(cli_env, "a/")) == cli.EXIT_PARTIAL
    finally:
        cli_env.faults.remove(fault)
    out, err = capsys.readouterr()
    uploads, checkpoints, summary = lines_of(out)
    assert [(u["type"], u["upload_id"], u["code"]) for u in uploads] == [("not_aborted", other, "AccessDenied"), ("aborted", third, None)]
    assert (summary["aborted"], summary["not_aborted"], checkpoints, err) == (1, 1, [], "")

    assert run("abort", "--json", "--dry-run", target(cli_env, "a/big.bin"), "no-such-id") == cli.EXIT_SERVICE
    out, err = capsys.readouterr()
    assert out == "" and "no-such-id" in error_of(err, cli.EXIT_SERVICE)["message"]


def tree_lines(text: str) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    *files, summary = json_lines(text)
    for item in files:
        conforms(item, FILE_SCHEMA)
    conforms(summary, TREE_SUMMARY_SCHEMA)
    assert summary["type"] == "summary"
    return files, summary


def test_upload_r_and_sync_json_one_line_per_file_and_failures_still_written(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a" * 10)
    (src / "b.txt").write_bytes(b"b" * 20)
    with cli_env.client() as client:
        client.put_object("t/gone.txt", b"no local file")

    assert run("sync", "--json", "--delete", "--dry-run", str(src), target(cli_env, "t/")) == 0
    files, summary = tree_lines(capsys.readouterr().out)
    assert {(f["type"], f["key"]) for f in files} == {
        ("would_upload", "t/a.txt"), ("would_upload", "t/b.txt"), ("would_delete", "t/gone.txt"),
    }  # fmt: skip
    assert summary["dry_run"] and summary["would_upload"] == 2 and summary["would_delete"] == 1

    failures = tmp_path / "failures.jsonl"
    fault = cli_env.faults.add(Fault.error("PutObject", status=403, code="AccessDenied", nth=1, count=1))
    try:
        code = run("upload", "-r", "--json", "--failures", str(failures), "--concurrency", "1", str(src), target(cli_env, "t/"))
    finally:
        cli_env.faults.remove(fault)
    assert code == cli.EXIT_PARTIAL
    out, err = capsys.readouterr()
    files, summary = tree_lines(out)
    by_type = {f["type"]: f for f in files}
    assert set(by_type) == {"uploaded", "failed"} and summary["uploaded"] == 1 and summary["failed"] == 1
    assert by_type["uploaded"]["crc64"] is not None and "AccessDenied" in str(by_type["failed"]["error"])
    assert json.loads(failures.read_text())["key"] == by_type["failed"]["key"] and err == ""

    assert run("sync", "--json", "--delete", str(src), target(cli_env, "t/")) == 0
    files, summary = tree_lines(capsys.readouterr().out)
    assert {(f["type"], f["key"]) for f in files} == {
        ("uploaded", by_type["failed"]["key"]), ("skipped", by_type["uploaded"]["key"]), ("deleted", "t/gone.txt"),
    }  # fmt: skip
    assert (summary["uploaded"], summary["skipped"], summary["deleted"], summary["failed"]) == (1, 1, 1, 0)

