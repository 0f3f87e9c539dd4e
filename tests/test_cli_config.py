"""``cos-multipart config`` and the parsers under it: durations, the TOML subset of the config file, the
precedence of flag > environment > profile > default (read back from ``config show``), masking, the file's
privacy rule, ``XDG_CONFIG_HOME`` and ``config import`` of a coscmd config. No server: nothing here connects."""

from __future__ import annotations

import argparse
import io
import os
import re
import stat
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from cos_multipart._cli import profiles as _profiles, main as cli
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._drivers.uploader import DEFAULT_CONCURRENCY

CONFIG = Path("cos-multipart") / "config.toml"


def _config(tmp_path: Path) -> Path:
    return tmp_path / "config" / CONFIG  # tests/conftest.py points XDG_CONFIG_HOME at tmp_path/config


def _show(capsys: pytest.CaptureFixture[str], *argv: str) -> Dict[str, Tuple[str, str]]:
    """``config show ARGV`` as ``{key: (value, source)}``."""
    capsys.readouterr()
    assert cli.main(["config", "show", *argv]) == cli.EXIT_OK
    rows: Dict[str, Tuple[str, str]] = {}
    for line in capsys.readouterr().out.splitlines():
        key, value, source = re.split(r"\s{2,}", line.strip(), maxsplit=2)
        rows[key] = (value, source.strip("()"))
    return rows


# --- durations ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("7d", 604800.0), ("0.5", 0.5), ("500ms", 0.5),
     (" 2M ", 120.0), ("1.5h", 5400.0), (".5s", 0.5), ("0", 0.0), ("-1", -1.0)],
)  # fmt: skip
def test_parse_duration_reads_a_number_with_an_optional_unit(text: str, seconds: float) -> None:
    assert cli.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "--5", "1h30m", "1 hour", "inf", "nan", "1e3", "5 s s"])
def test_parse_duration_refuses_anything_else_naming_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        cli.parse_duration(text)
    assert repr(text) in str(refused.value) and "15m" in str(refused.value) and "7d" in str(refused.value)


def test_parse_whole_duration_wants_whole_seconds() -> None:
    assert cli.parse_whole_duration("1.5m") == 90 and cli.parse_whole_duration("7d") == 604800
    with pytest.raises(argparse.ArgumentTypeError, match="whole number of seconds"):
        cli.parse_whole_duration("1.5")


def test_duration_flags_take_units(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["stat", "cos://b-1250000000/k", "--retry-time", "2m"]).retry_time == 120.0
    assert parser.parse_args(["stat", "cos://b-1250000000/k", "--timeout", "30s"]).timeout == 30.0
    assert parser.parse_args(["presign", "cos://b-1250000000/k", "--expires", "7d"]).expires == 604800
    assert parser.parse_args(["serve", "--request-timeout", "10m"]).request_timeout == 600.0
    assert parser.parse_args(["serve", "--request-timeout", "none"]).request_timeout is None
    assert parser.parse_args(["serve", "--latency", "50ms"]).latency == pytest.approx(0.05)
    for argv in (["stat", "cos://b-1250000000/k", "--retry-time", "2 minutes"], ["serve", "--request-timeout", "0"]):
        with pytest.raises(SystemExit) as stopped:
            cli.main(argv)
        assert stopped.value.code == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert f"argument {argv[-2]}" in err and repr(argv[-1]) in err


# --- the file ----------------------------------------------------------------------------------------------


def test_the_toml_subset_reads_what_toml_allows_here_and_dump_reads_back(tmp_path: Path) -> None:
    text = (
        "# comment\n\n[default]\nregion = \"ap-guangzhou\"  # trailing comment\nconcurrency = 8\n"
        "checkpoint_dir = '/tmp/a \"b\" #c'\n[prod]\nendpoint = \"https://h.example/#x\"\nsecret_key = \"a\\\"b\\\\c\"\n"
    )
    profiles = _profiles.parse(text, tmp_path / "c.toml")
    assert profiles == {
        "default": {"region": "ap-guangzhou", "concurrency": "8", "checkpoint_dir": '/tmp/a "b" #c'},
        "prod": {"endpoint": "https://h.example/#x", "secret_key": 'a"b\\c'},
    }
    assert _profiles.parse(_profiles.dump(profiles), tmp_path / "c.toml") == profiles
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python 3.10
        return
    assert tomllib.loads(_profiles.dump(profiles)) == profiles  # what is written is TOML


@pytest.mark.parametrize("text", ["region = \"x\"\n", "[a]\nregion = \"x\" junk\n", "[a]\nregion = [1, 2]\n", "[a]\nno value\n", "[a b]\n"])
def test_a_line_outside_the_subset_names_the_file_and_the_line(tmp_path: Path, text: str) -> None:
    with pytest.raises(CosValidationError) as refused:
        _profiles.parse(text, tmp_path / "c.toml")
    assert str(tmp_path / "c.toml") in str(refused.value) and "line " in str(refused.value)


def test_config_path_follows_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "path"]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == str(_config(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cli.main(["config", "path"]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == str(tmp_path / "home" / ".config" / CONFIG)


def test_set_list_unset_and_the_file_is_written_0600_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "set", "--profile", "prod", "region", "ap-beijing"]) == cli.EXIT_OK
    assert cli.main(["config", "set", "--profile", "prod", "part_size", "16MB"]) == cli.EXIT_OK
    assert cli.main(["config", "set", "retry_time", "2m"]) == cli.EXIT_OK
    path = _config(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["config.toml"]  # no temporary file left
    capsys.readouterr()
    assert cli.main(["config", "list"]) == cli.EXIT_OK
    assert capsys.readouterr().out == "[prod]\nregion = ap-beijing\npart_size = 16MB\n[default]\nretry_time = 2m\n"
    assert cli.main(["config", "unset", "--profile", "prod", "region"]) == cli.EXIT_OK
    assert _profiles.load(path) == {"prod": {"part_size": "16MB"}, "default": {"retry_time": "2m"}}
    assert cli.main(["config", "unset", "--profile", "prod", "region"]) == cli.EXIT_USAGE


@pytest.mark.parametrize(
    "key, value, words",
    [("colour", "x", "one of: service, region"), ("part_size", "lots", "bytes per part"), ("concurrency", "0", "1..256"),
     ("retry_time", "2 minutes", "a duration"), ("retry_time", "-1m", "a duration"), ("timeout", "0", "a duration"), ("service", "s3", "cos or oss"),
     ("endpoint", "cos.example.com", "https://cos.example.com"), ("secret_key_env", "MY-KEY", "variable name")],
)  # fmt: skip
def test_set_refuses_a_bad_key_or_value_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str, words: str
) -> None:
    capsys.readouterr()
    assert cli.main(["config", "set", "--", key, value]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert words in err and repr(key if key == "colour" else value) in err
    assert not _config(tmp_path).exists()


def test_a_secret_is_read_from_stdin_never_the_command_line_and_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-KEY-value"
    assert cli.main(["config", "set", "secret_key", secret]) == cli.EXIT_USAGE
    assert secret not in capsys.readouterr().err and not _config(tmp_path).exists()
    for key, value in (("secret_key", secret), ("token", "TOKEN-" + secret), ("secret_id", "AKIDexample")):
        monkeypatch.setattr("sys.stdin", io.StringIO(value + "\n"))
        assert cli.main(["config", "set", key, "-"]) == cli.EXIT_OK
    assert _profiles.load(_config(tmp_path))["default"]["secret_key"] == secret
    monkeypatch.setattr("sys.stdin", io.StringIO("bad secret\n"))  # a space: refused without quoting it
    assert cli.main(["config", "set", "secret_key", "-"]) == cli.EXIT_USAGE
    assert "bad secret" not in capsys.readouterr().err
    assert _profiles.load(_config(tmp_path))["default"]["secret_key"] == secret
    assert cli.main(["config", "list"]) == cli.EXIT_OK
    rows = _show(capsys)
    assert rows["secret_key"] == ("********", "profile default, stored in the file")
    assert rows["token"][0] == "********" and rows["secret_id"][0] == "AKID********"
    assert cli.main(["config", "list"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert secret not in out and "AKIDexample" not in out


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_with_a_secret_others_can_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mode: int
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("the-secret\n"))
    assert cli.main(["config", "set", "secret_key", "-"]) == cli.EXIT_OK
    path = _config(tmp_path)
    os.chmod(path, mode)
    capsys.readouterr()
    assert cli.main(["config", "show"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert str(path) in err and f"chmod 600 {path}" in err and "the-secret" not in err


def test_a_file_without_secrets_may_be_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "set", "region", "ap-beijing"]) == cli.EXIT_OK
    os.chmod(_config(tmp_path), 0o644)
    assert _show(capsys)["region"] == ("ap-beijing", "profile default")


# --- precedence: flag > environment > profile > default ----------------------------------------------------


@pytest.mark.parametrize(
    "flag, env, profile, expected",
    [("ap-flag", "ap-env", "ap-profile", ("ap-flag", "--region")),
     (None, "ap-env", "ap-profile", ("ap-env", "$COS_REGION")),
     (None, None, "ap-profile", ("ap-profile", "profile default")),
     (None, None, None, ("(none: from the endpoint's host, else required)", "default"))],
)  # fmt: skip
def test_region_precedence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    flag: Optional[str], env: Optional[str], profile: Optional[str], expected: Tuple[str, str],
) -> None:  # fmt: skip
    monkeypatch.delenv("COS_REGION", raising=False)
    if env:
        monkeypatch.setenv("COS_REGION", env)
    if profile:
        assert cli.main(["config", "set", "region", profile]) == cli.EXIT_OK
    assert _show(capsys, *(["--region", flag] if flag else []))["region"] == expected


@pytest.mark.parametrize(
    "key, flag, profile, expected",
    [("part_size", ["--part-size", "2MB"], "16MB", ("2097152", "--part-size")),
     ("part_size", [], "16MB", ("16777216", "profile default")),
     ("part_size", [], None, ("8388608 (8MB, grown as needed)", "default")),
     ("concurrency", ["--concurrency", "4"], "9", ("4", "--concurrency")),
     ("concurrency", [], "9", ("9", "profile default")),
     ("concurrency", [], None, (str(DEFAULT_CONCURRENCY), "default")),
     ("retry_time", ["--retry-time", "1m"], "2m", ("60 s", "--retry-time")),
     ("retry_time", [], "2m", ("120 s", "profile default")),
     ("retry_time", [], None, ("60 s", "default")),
     ("timeout", ["--timeout", "5s"], "1m", ("5 s", "--timeout")),
     ("timeout", [], "1m", ("60 s", "profile default")),
     ("timeout", [], None, ("10 s to connect, 120 s to read", "default")),
     ("checkpoint_dir", ["--checkpoint-dir", "/flag"], "/profile", ("/flag", "--checkpoint-dir")),
     ("checkpoint_dir", [], "/profile", ("/profile", "profile default"))],
)  # fmt: skip
def test_settings_without_a_variable_flag_over_profile_over_default(
    capsys: pytest.CaptureFixture[str], key: str, flag: List[str], profile: Optional[str], expected: Tuple[str, str]
) -> None:
    if profile:
        assert cli.main(["config", "set", key, profile]) == cli.EXIT_OK
    assert _show(capsys, *flag)[key] == expected


@pytest.mark.parametrize(
    "flag, env, expected",
    [("two", "three", ("two", "--profile")), (None, "three", ("three", "$COS_MULTIPART_PROFILE")),
     (None, None, ("default", "default"))],
)  # fmt: skip
def test_which_profile_flag_over_environment_over_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    flag: Optional[str], env: Optional[str], expected: Tuple[str, str],
) -> None:  # fmt: skip
    for name in ("default", "two", "three"):
        assert cli.main(["config", "set", "--profile", name, "region", f"r-{name}"]) == cli.EXIT_OK
    if env:
        monkeypatch.setenv("COS_MULTIPART_PROFILE", env)
    rows = _show(capsys, *(["--profile", flag] if flag else []))
    assert rows["profile"] == expected and rows["region"] == (f"r-{expected[0]}", f"profile {expected[0]}")


def test_credentials_environment_over_profile(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("COS_SECRET_ID", "COS_SECRET_KEY", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["config", "set", "secret_id_env", "MY_ID"]) == cli.EXIT_OK
    assert cli.main(["config", "set", "secret_key_env", "MY_KEY"]) == cli.EXIT_OK
    monkeypatch.setenv("MY_ID", "AKIDfromprofile")
    monkeypatch.setenv("MY_KEY", "key-from-profile")
    rows = _show(capsys)
    assert rows["secret_id"] == ("AKID********", "$MY_ID, named by profile default")
    assert rows["secret_key"] == ("********", "$MY_KEY, named by profile default")
    monkeypatch.setenv("COS_SECRET_ID", "AKIDfromenv")
    monkeypatch.setenv("COS_SECRET_KEY", "key-from-env")
    rows = _show(capsys)
    assert rows["secret_id"] == ("AKID********", "$COS_SECRET_ID") and rows["secret_key"] == ("********", "$COS_SECRET_KEY")


def test_a_profile_value_does_not_count_as_a_flag_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ls`` refuses a typed --checkpoint-dir without --uploads, not one from the profile (nor the default
    concurrency of ``resume``'s listing)."""
    assert cli.main(["config", "set", "checkpoint_dir", str(tmp_path / "ck")]) == cli.EXIT_OK
    assert cli.main(["config", "set", "concurrency", "3"]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["resume"]) == cli.EXIT_OK  # lists, no "does not apply" for the profile's values
    assert str(tmp_path / "ck") in capsys.readouterr().err


def test_a_bad_value_edited_into_the_file_names_the_key_profile_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('[default]\npart_size = "huge"\n')
    capsys.readouterr()
    assert cli.main(["config", "show"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"part_size of profile default in {path}" in err and "'huge'" in err


# --- import --------------------------------------------------------------------------------------------------


COSCMD = """[common]
secret_id = AKIDimported
secret_key = imported-secret
bucket = examplebucket-1250000000
region = ap-chengdu
max_thread = 5
part_size = 4
schema = https
"""


def test_import_a_coscmd_config_without_and_with_its_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / ".cos.conf"
    source.write_text(COSCMD)
    capsys.readouterr()
    assert cli.main(["config", "import", str(source)]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert "not copied: secret_id, secret_key" in err and "imported-secret" not in out + err
    assert _profiles.load(_config(tmp_path)) == {
        "coscmd": {"service": "cos", "region": "ap-chengdu", "concurrency": "5", "part_size": "4MB"}
    }
    assert cli.main(["config", "import", str(source), "--profile", "withkeys", "--with-secrets"]) == cli.EXIT_OK
    stored = _profiles.load(_config(tmp_path))["withkeys"]
    assert stored["secret_key"] == "imported-secret" and stat.S_IMODE(_config(tmp_path).stat().st_mode) == 0o600
    assert "imported-secret" not in "".join(capsys.readouterr())


def test_import_refuses_what_is_not_a_coscmd_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / ".cos.yaml"
    source.write_text("cos:\n  base:\n    secretid: x\n")
    assert cli.main(["config", "import", str(source)]) == cli.EXIT_USAGE
    assert cli.main(["config", "import", str(tmp_path / "missing")]) == cli.EXIT_USAGE
    assert not _config(tmp_path).exists()


def test_timeout_must_be_more_than_zero(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli.main(["stat", "cos://b-1250000000/k", "--timeout", "0s", "--region", "ap-beijing"]) == cli.EXIT_USAGE
    assert "--timeout 0.0: a duration > 0, e.g. 30s or 2m" in capsys.readouterr().err
