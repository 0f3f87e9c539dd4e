"""Command-line edges of ``cp``/``mv`` and ``download``/``cat`` (h-polish): a kept copy's line names the ``cp`` to
re-run, ``resume`` lists copy checkpoints as copies, exit 6's words fit each of its causes, and ``cat``/``download``
refuse what they cannot do before any request."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import List

import pytest

from cos_multipart._cli import main as cli
from cos_multipart.testing import Fault, LocalCOS

from uploads import stored, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

MB = 1024 * 1024
PARTS = ("--part-size", "1MB", "--threshold", "1MB")


def put(server: LocalCOS, key: str, size: int) -> bytes:
    data = os.urandom(size)
    with server.client() as client:
        client.put_object(key, data)
    return data


def read(server: LocalCOS, key: str) -> bytes:
    with server.client() as client:
        return stored(client, key)


def deny_part_copies(server: LocalCOS) -> None:
    server.faults.add(Fault.error("UploadPartCopy", status=403, code="AccessDenied", nth=2, count=None))


def pasted(command: str) -> List[str]:
    """The words of a printed ``cos-multipart ...`` command, as a shell reads them (without the program)."""
    words = shlex.split(command)
    assert words[0] == "cos-multipart"
    return words[1:]


def resume_of(err: str) -> str:
    line = next(line for line in err.splitlines() if "upload kept:" in line)
    return line.split("resume with: ", 1)[1].split("; abort with: ", 1)[0]


@pytest.mark.parametrize("verb", ["cp", "mv"])
def test_a_kept_copy_says_the_exact_command_to_re_run(verb: str, cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(cli_env, "f/a", 3 * MB)
    deny_part_copies(cli_env)
    argv = [verb, target(cli_env, "f/a"), target(cli_env, "g/"), *PARTS, "--concurrency", "1", "--storage-class", "STANDARD"]
    assert cli.main(argv) == cli.EXIT_SERVICE
    command = resume_of(capsys.readouterr().err)
    assert "re-run the same upload" not in command
    words = pasted(command)
    assert words[:3] == [verb, target(cli_env, "f/a"), target(cli_env, "g/")]
    assert "--storage-class" in words and "--part-size" in words
    cli_env.faults.clear()
    assert cli.main(words) == cli.EXIT_OK
    assert "1 parts reused" in capsys.readouterr().out
    assert read(cli_env, "g/a") == data


def test_a_kept_copy_of_cp_r_names_that_object_and_json_carries_it(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    data = put(cli_env, "d/sub/big", 3 * MB)
    put(cli_env, "d/small", 10)
    deny_part_copies(cli_env)
    argv = ["cp", "-r", target(cli_env, "d/"), target(cli_env, "e/"), *PARTS, "--concurrency", "1"]
    assert cli.main(argv) == cli.EXIT_PARTIAL
    words = pasted(resume_of(capsys.readouterr().err))
    assert words[:3] == ["cp", target(cli_env, "d/sub/big"), target(cli_env, "e/sub/big")] and "-r" not in words
    assert cli.main([*argv, "--json"]) == cli.EXIT_PARTIAL
    failed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"failed"' in line]
    again = pasted(failed[0]["kept_upload"]["resume_command"])
    assert "--json" in again and [word for word in again if word != "--json"] == words
    cli_env.faults.clear()
    assert cli.main(words) == cli.EXIT_OK
    assert read(cli_env, "e/sub/big") == data


def keep_a_copy(server: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    put(server, "c/a", 3 * MB)
    deny_part_copies(server)
    assert cli.main(["cp", target(server, "c/a"), target(server, "c/b"), *PARTS, "--concurrency", "1"]) == cli.EXIT_SERVICE
    server.faults.clear()
    capsys.readouterr()


def test_resume_lists_a_kept_copy_as_a_copy_with_how_to_resume_it(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    keep_a_copy(cli_env, capsys)
    assert cli.main(["resume"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert "cos-multipart-copy" not in out + err  # the pseudo path a copy's checkpoint is filed under
    assert "no interrupted uploads" in err
    line = next(line for line in err.splitlines() if "interrupted copy" in line)
    assert f"interrupted copy to {target(cli_env, 'c/b')}: 1/3 parts" in line
    assert "run the same cp or mv again" in line
    abort = pasted(line.split("abort with: ", 1)[1])
    assert abort[:2] == ["abort", target(cli_env, "c/b")]
    assert cli.main(abort) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["resume"]) == cli.EXIT_OK
    assert "interrupted copy" not in capsys.readouterr().err  # aborted, checkpoint removed


def test_resume_json_marks_a_copy_checkpoint(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    keep_a_copy(cli_env, capsys)
    assert cli.main(["resume", "--json"]) == cli.EXIT_OK
    checkpoint, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert checkpoint["copy"] is True and checkpoint["source"] is None
    assert checkpoint["target"] == target(cli_env, "c/b") and summary["checkpoints"] == 1


def test_exit_6_of_a_download_names_the_object_replaced(cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(cli_env, "s/a", 3 * MB)
    cli_env.faults.add(Fault.replace_source("GetObject", nth=1))
    local = tmp_path / "a.bin"
    assert cli.main(["download", target(cli_env, "s/a"), str(local), "--part-size", "1MB", "--concurrency", "1"]) == cli.EXIT_SOURCE_CHANGED
    err = capsys.readouterr().err
    assert f"the object {target(cli_env, 's/a')} was replaced during the download" in err
    assert "run the same command again" in err and "local file" not in err and not local.exists()
    cli_env.faults.add(Fault.replace_source("GetObject", nth=1))
    assert cli.main(["cp", target(cli_env, "s/a"), str(local), "--part-size", "1MB", "--concurrency", "1"]) == cli.EXIT_SOURCE_CHANGED
    assert f"the object {target(cli_env, 's/a')} was replaced during the download" in capsys.readouterr().err


def test_exit_6_of_cat_says_stdout_holds_the_old_objects_start(cli_env: LocalCOS, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    put(cli_env, "s/a", 3 * MB)
    cli_env.faults.add(Fault.replace_source("GetObject", nth=1))
    assert cli.main(["cat", target(cli_env, "s/a"), "--part-size", "1MB", "--concurrency", "1"]) == cli.EXIT_SOURCE_CHANGED
    err = capfdbinary.readouterr().err.decode()
    assert f"the object {target(cli_env, 's/a')} was replaced during the download" in err
    assert "stdout received is the old object's start" in err and "not touched" not in err


def test_exit_6_of_a_copy_names_the_source_object_replaced(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    put(cli_env, "s/a", 3 * MB)
    cli_env.faults.add(Fault.replace_source("UploadPartCopy", nth=1))
    assert cli.main(["cp", target(cli_env, "s/a"), target(cli_env, "s/b"), *PARTS, "--concurrency", "1"]) == cli.EXIT_SOURCE_CHANGED
    err = capsys.readouterr().err
    assert f"the source object {target(cli_env, 's/a')} was replaced while it was copied" in err
    assert f"{target(cli_env, 's/b')} was not written" in err and "run the same command again" in err


def test_exit_6_is_described_by_its_three_causes() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    row = next(line for line in docs.splitlines() if line.startswith("| 6 |"))
    help_text = cli.__doc__ or ""
    for text in (row, " ".join(help_text.split())):
        assert "local file" in text and "copy's source object" in text and "download's object" in text, text


def requests(server: LocalCOS) -> int:
    return sum(len(server.log_entries(api)) for api in ("HeadObject", "GetObject", "ListObjects", "ListObjectsV2"))


@pytest.mark.parametrize("verb", ["download", "cp"])
@pytest.mark.parametrize("flag, value", [("--dry-run", None), ("--json", None), ("--no-resume", None),
                                         ("--traffic-limit", "8Mbit"), ("--bandwidth-limit", "1MB")])  # fmt: skip
def test_stdout_as_local_refuses_what_cat_cannot_do_naming_the_flag(
    verb: str, flag: str, value: str, cli_env: LocalCOS, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    put(cli_env, "o", 10)
    before = requests(cli_env)
    argv = [verb, target(cli_env, "o"), "-", flag, *([value] if value else [])]
    if verb == "cp" and flag == "--bandwidth-limit":
        pytest.skip("not an option of cp")
    assert cli.main(argv) == cli.EXIT_USAGE
    out, err = capfdbinary.readouterr()
    assert out == b"" and flag in err.decode() and "stdout" in err.decode()
    assert requests(cli_env) == before  # refused before any request


def test_cat_refuses_dry_run_and_json_naming_the_flag(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--dry-run", "--json"):
        with pytest.raises(SystemExit) as exited:
            cli.main(["cat", target(cli_env, "o"), flag])
        assert exited.value.code == cli.EXIT_USAGE and flag in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["download", "cp"])
def test_download_into_a_missing_directory_is_refused_naming_local_before_any_request(
    verb: str, cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put(cli_env, "o", 10)
    before = requests(cli_env)
    local = tmp_path / "no" / "such" / "o.bin"
    assert cli.main([verb, target(cli_env, "o"), str(local)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "LOCAL" in err and str(tmp_path / "no" / "such") in err and "does not exist" in err
    assert requests(cli_env) == before and not (tmp_path / "no").exists()
