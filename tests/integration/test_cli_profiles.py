"""Profiles, ``--timeout`` and durations by running the command against the local server, for ``cos://`` and
``oss://`` targets: a profile gives the endpoint, region, credentials (by naming environment variables, or
stored) and transfer settings; flags and the environment still win; a stored secret makes the file private."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import List
from urllib.parse import parse_qs, urlsplit

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import Fault, LocalCOS

from uploads import make_file, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def _names(server: LocalCOS) -> List[str]:
    """The service's variables the command reads: id, key, token, endpoint, region."""
    if server.dialect == "oss":
        return ["OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN", "OSS_ENDPOINT", "OSS_REGION"]
    return ["COS_SECRET_ID", "COS_SECRET_KEY", "COS_SECURITY_TOKEN", "COS_ENDPOINT", "COS_REGION"]


def _stored(server: LocalCOS, key: str) -> bytes:
    with server.client() as client:
        response = client.get_object(key)
        try:
            return bytes(response.content)
        finally:
            response.close()


def _profile_instead_of_environment(server: LocalCOS, monkeypatch: pytest.MonkeyPatch, name: str = "prod") -> None:
    """Move the server's settings from the service's variables into the profile ``name`` (credentials in
    variables the profile names)."""
    for variable in _names(server):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PROD_ID", server.credentials.secret_id)
    monkeypatch.setenv("PROD_KEY", server.credentials.secret_key)
    for key, value in (
        ("service", server.dialect), ("endpoint", server.endpoint), ("region", server.region),
        ("secret_id_env", "PROD_ID"), ("secret_key_env", "PROD_KEY"),
    ):  # fmt: skip
        assert cli.main(["config", "set", "--profile", name, key, value]) == cli.EXIT_OK


def test_a_profile_gives_endpoint_region_and_credentials(
    cli_env: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile_instead_of_environment(cli_env, monkeypatch)
    path, data = make_file(tmp_path, 2 * MB + 3)
    assert cli.main(["upload", str(path), target(cli_env, "p.bin"), "--profile", "prod"]) == cli.EXIT_OK
    assert _stored(cli_env, "p.bin") == data
    monkeypatch.setenv("COS_MULTIPART_PROFILE", "prod")  # the environment names it as well
    assert cli.main(["stat", target(cli_env, "p.bin")]) == cli.EXIT_OK
    monkeypatch.delenv("COS_MULTIPART_PROFILE")
    capsys.readouterr()
    assert cli.main(["stat", target(cli_env, "p.bin")]) == cli.EXIT_USAGE  # no profile: nothing to connect with
    assert cli.main(["stat", target(cli_env, "p.bin"), "--profile", "nosuch"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--profile 'nosuch'" in err and "(it has: prod)" in err


def test_the_default_profile_is_used_without_naming_it(
    cli_env: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _profile_instead_of_environment(cli_env, monkeypatch, name="default")
    path, data = make_file(tmp_path, 1000)
    assert cli.main(["upload", str(path), target(cli_env, "d.bin")]) == cli.EXIT_OK
    assert _stored(cli_env, "d.bin") == data


def test_a_named_variable_that_is_unset_is_named_in_the_error(
    cli_env: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile_instead_of_environment(cli_env, monkeypatch)
    monkeypatch.delenv("PROD_KEY")
    path, _ = make_file(tmp_path, 10)
    capsys.readouterr()
    assert cli.main(["upload", str(path), target(cli_env, "x.bin"), "--profile", "prod"]) == cli.EXIT_USAGE
    assert "$PROD_KEY, which is not set" in capsys.readouterr().err
    assert cli_env.log_entries(settle=0) == []  # refused before any request


def test_the_profile_part_size_and_concurrency_apply_and_the_flag_wins(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["config", "set", "part_size", "1MB"]) == cli.EXIT_OK
    assert cli.main(["config", "set", "concurrency", "2"]) == cli.EXIT_OK
    path, _ = make_file(tmp_path, 4 * MB)
    capsys.readouterr()
    assert cli.main(["upload", str(path), target(cli_env, "a.bin"), "--multipart-threshold", "0"]) == cli.EXIT_OK
    assert "in 4 parts" in capsys.readouterr().out  # the profile's 1MB
    assert cli.main(["upload", str(path), target(cli_env, "b.bin"), "--multipart-threshold", "0", "--part-size", "2MB"]) == 0
    assert "in 2 parts" in capsys.readouterr().out  # the flag's 2MB


def test_a_profile_for_the_other_service_is_refused(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "cos" if cli_env.dialect == "oss" else "oss"
    assert cli.main(["config", "set", "--profile", "elsewhere", "service", other]) == cli.EXIT_OK
    path, _ = make_file(tmp_path, 10)
    capsys.readouterr()
    assert cli.main(["upload", str(path), target(cli_env, "x.bin"), "--profile", "elsewhere"]) == cli.EXIT_USAGE
    assert f"service = '{other}'" in capsys.readouterr().err
    assert cli.main(["config", "set", "--profile", "default", "service", other]) == cli.EXIT_OK
    assert cli.main(["upload", str(path), target(cli_env, "x.bin")]) == cli.EXIT_OK  # an implicit default is skipped


def test_a_stored_secret_makes_the_file_private_and_is_never_printed(
    cli_env: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile_instead_of_environment(cli_env, monkeypatch)
    secret = cli_env.credentials.secret_key
    assert cli.main(["config", "unset", "--profile", "prod", "secret_key_env"]) == cli.EXIT_OK
    assert cli.main(["config", "set", "--profile", "prod", "secret_key", secret]) == cli.EXIT_USAGE  # not on a command line
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    assert cli.main(["config", "set", "--profile", "prod", "secret_key", "-"]) == cli.EXIT_OK
    config = tmp_path / "config" / "cos-multipart" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    path, data = make_file(tmp_path, 1000)
    assert cli.main(["upload", str(path), target(cli_env, "s.bin"), "--profile", "prod"]) == cli.EXIT_OK
    assert _stored(cli_env, "s.bin") == data
    assert cli.main(["config", "show", "--profile", "prod"]) == cli.EXIT_OK
    assert cli.main(["config", "list"]) == cli.EXIT_OK
    shown = capsys.readouterr()
    assert secret not in shown.out + shown.err
    assert "secret_key = ********" in shown.out
    os.chmod(config, 0o644)  # others can read the secret now: every command refuses the file
    assert cli.main(["stat", target(cli_env, "s.bin"), "--profile", "prod"]) == cli.EXIT_USAGE
    assert cli.main(["config", "list"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"chmod 600 {config}" in err and secret not in err


def test_timeout_per_request_from_the_flag_and_from_a_profile(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A HEAD held back 60 s fails at the 500 ms timeout (no retries), from the flag and from a profile."""
    cli_env.faults.add(Fault.delay(60, "HeadObject", count=None))
    capsys.readouterr()
    assert cli.main(["stat", target(cli_env, "k"), "--timeout", "500ms", "--retry-time", "0"]) == cli.EXIT_TRANSPORT
    assert "no answer from" in capsys.readouterr().err
    assert cli.main(["config", "set", "timeout", "0.5s"]) == cli.EXIT_OK
    assert cli.main(["config", "set", "retry_time", "0"]) == cli.EXIT_OK
    assert cli.main(["stat", target(cli_env, "k")]) == cli.EXIT_TRANSPORT


def test_presign_expires_takes_a_unit(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    lifetimes = []
    for expires in ("1h", "3600", "60m"):
        assert cli.main(["presign", target(cli_env, "k"), "--expires", expires]) == cli.EXIT_OK
        query = parse_qs(urlsplit(capsys.readouterr().out.strip()).query)
        if "q-sign-time" in query:  # COS: start;end
            start, end = query["q-sign-time"][0].split(";")
            lifetimes.append(int(end) - int(start))
        else:  # OSS V4: the lifetime itself
            lifetimes.append(int(query["x-oss-expires"][0]))
    assert len(set(lifetimes)) == 1 and lifetimes[0] >= 3600
    with pytest.raises(SystemExit) as stopped:
        cli.main(["presign", target(cli_env, "k"), "--expires", "1.5"])
    assert stopped.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--expires" in err and "'1.5'" in err and "15m" in err


def test_the_resume_command_printed_names_the_profile_and_works_when_run(
    cli_env: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shlex

    _profile_instead_of_environment(cli_env, monkeypatch)
    assert cli.main(["config", "set", "--profile", "prod", "part_size", "1MB"]) == cli.EXIT_OK
    path, data = make_file(tmp_path, 3 * MB)
    cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=1))
    capsys.readouterr()
    argv = ["upload", str(path), target(cli_env, "kept.bin"), "--profile", "prod", "--multipart-threshold", "0", "--concurrency", "1"]
    assert cli.main(argv) == cli.EXIT_SERVICE
    err = capsys.readouterr().err
    resume = err.split("resume with: ", 1)[1].split("; abort with:", 1)[0]
    words = shlex.split(resume)
    assert words[:2] == ["cos-multipart", "resume"] and "--profile" in words and "--part-size" not in words
    assert cli.main(words[1:]) == cli.EXIT_OK  # the profile gives the endpoint, credentials and part size again
    assert _stored(cli_env, "kept.bin") == data


def test_the_profile_checkpoint_dir_serves_ls_uploads_and_is_not_refused_by_ls(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The profile's checkpoint directory is where an upload keeps its checkpoint and where ``ls --uploads``
    looks; plain ``ls`` refuses a typed --checkpoint-dir, not the profile's."""
    checkpoints = tmp_path / "profile-checkpoints"
    assert cli.main(["config", "set", "checkpoint_dir", str(checkpoints)]) == cli.EXIT_OK
    path, _ = make_file(tmp_path, 3 * MB)
    cli_env.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=1))
    argv = ["upload", str(path), target(cli_env, "c.bin"), "--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1"]
    assert cli.main(argv) == cli.EXIT_SERVICE
    assert len(list(checkpoints.iterdir())) == 1  # kept in the profile's directory
    capsys.readouterr()
    assert cli.main(["ls", target(cli_env, "")]) == cli.EXIT_OK
    assert cli.main(["ls", "--uploads", target(cli_env, "")]) == cli.EXIT_OK
    assert str(path) in capsys.readouterr().out  # the local file of the upload, read from the profile's checkpoints
    assert cli.main(["ls", target(cli_env, ""), "--checkpoint-dir", str(checkpoints)]) == cli.EXIT_USAGE


def test_sync_takes_the_profile_settings(
    cli_env: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile_instead_of_environment(cli_env, monkeypatch)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"a" * 100)
    assert cli.main(["sync", str(tree), target(cli_env, "s/"), "--profile", "prod"]) == cli.EXIT_OK
    assert _stored(cli_env, "s/a.txt") == b"a" * 100
