"""``config import`` of COSCLI's ``~/.cos.yaml`` (issue 24): one profile per bucket entry, read by the package's
own reader of the block-YAML subset COSCLI writes, refusing the rest by its line; secrets only when asked for,
the file 0600. No server: nothing here connects."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cos_multipart._cli import profiles as _profiles, main as cli
from cos_multipart._cli.coscli import read

CONFIG = Path("cos-multipart") / "config.toml"

#: As ``coscli config init`` writes it (yaml.v2: a list not indented under its key).
COSCLI = """cos:
  base:
    secretid: AKIDcoscliimported0000000000000000
    secretkey: coscli-secret-value
    sessiontoken: ""
    protocol: https
  buckets:
  - name: examplebucket-1250000000
    alias: bucket1
    region: ap-shanghai
    endpoint: cos.ap-shanghai.myqcloud.com
    ofs: false
  - name: other-1250000000
    alias: ""
    region: ap-beijing
    endpoint: cos.accelerate.myqcloud.com
    ofs: false
"""


def _config(tmp_path: Path) -> Path:
    return tmp_path / "config" / CONFIG  # tests/conftest.py points XDG_CONFIG_HOME at tmp_path/config


def test_the_reader_takes_both_list_indentations_quotes_and_comments(tmp_path: Path) -> None:
    text = """# a comment
cos:
  base:   # trailing comment
    secretid: 'it''s'
    secretkey: "a\\"b"
  buckets:
    - name: b-1   # indented list
      region: ap-guangzhou
    -
      name: b-2
"""
    assert read(text, tmp_path / "x.yaml") == {
        "cos": {"base": {"secretid": "it's", "secretkey": 'a"b'}, "buckets": [{"name": "b-1", "region": "ap-guangzhou"}, {"name": "b-2"}]}
    }


def test_import_makes_one_profile_per_bucket_without_secrets_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / ".cos.yaml"
    source.write_text(COSCLI)
    capsys.readouterr()
    assert cli.main(["config", "import", str(source)]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert _profiles.load(_config(tmp_path)) == {
        "bucket1": {"service": "cos", "region": "ap-shanghai"},  # the region's own host: no endpoint needed
        "other-1250000000": {"service": "cos", "region": "ap-beijing", "endpoint": "https://cos.accelerate.myqcloud.com"},
    }
    assert "not copied: cos.base.secretid, cos.base.secretkey" in err
    assert "coscli-secret-value" not in out + err and "AKIDcoscli" not in out + err
    assert stat.S_IMODE(_config(tmp_path).stat().st_mode) == 0o600


def test_import_with_secrets_stores_them_privately_and_never_prints_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / ".cos.yaml"
    source.write_text(COSCLI.replace("protocol: https", "protocol: http"))
    capsys.readouterr()
    assert cli.main(["config", "import", "--json", "--with-secrets", str(source)]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    found = json.loads(out)
    assert found["format"] == "coscli" and found["left_out"] == [] and err == ""
    assert found["profiles"]["bucket1"]["secret_key"] == "********" and "coscli-secret-value" not in out
    stored = _profiles.load(_config(tmp_path))
    assert stored["bucket1"]["secret_key"] == "coscli-secret-value" and "token" not in stored["bucket1"]
    assert stored["other-1250000000"]["endpoint"] == "http://cos.accelerate.myqcloud.com"
    assert stat.S_IMODE(_config(tmp_path).stat().st_mode) == 0o600
    assert cli.main(["config", "list"]) == cli.EXIT_OK
    assert "coscli-secret-value" not in "".join(capsys.readouterr())


@pytest.mark.parametrize(
    "line, what",
    [
        ("    mode: {a: b}", "'{'"),
        ("    mode: [ap-shanghai]", "'['"),
        ("    mode: |", "'|'"),
        ("    mode: &anchor x", "'&'"),
        ("    mode: \"unterminated", "does not end"),
        ("    just some words", "not a 'key: value' line"),
        ("        deeper: 1", "indentation"),
        ("    region: again", "the key 'region' twice"),
    ],
)
def test_what_the_reader_does_not_understand_is_refused_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, what: str
) -> None:
    lines = COSCLI.splitlines()
    lines.insert(11, line)  # after "    endpoint: ..." of the first bucket: line 12
    source = tmp_path / ".cos.yaml"
    source.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert cli.main(["config", "import", str(source)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{source} 'line 12'" in err and what in err, err
    assert not _config(tmp_path).exists()


def test_profile_renames_a_single_bucket_and_is_refused_for_several(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / ".cos.yaml"
    source.write_text(COSCLI)
    capsys.readouterr()
    assert cli.main(["config", "import", "--profile", "mine", str(source)]) == cli.EXIT_USAGE
    assert "has 2 buckets" in capsys.readouterr().err and not _config(tmp_path).exists()
    one = "\n".join(COSCLI.splitlines()[:12]) + "\n"
    source.write_text(one)
    assert cli.main(["config", "import", "--profile", "mine", str(source)]) == cli.EXIT_OK
    assert _profiles.load(_config(tmp_path)) == {"mine": {"service": "cos", "region": "ap-shanghai"}}


def test_without_file_coscmd_first_then_coscli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert cli.main(["config", "import"]) == cli.EXIT_USAGE
    assert ".cos.yaml" in capsys.readouterr().err
    (home / ".cos.yaml").write_text(COSCLI)
    assert cli.main(["config", "import", "-q"]) == cli.EXIT_OK
    assert set(_profiles.load(_config(tmp_path))) == {"bucket1", "other-1250000000"}
    (home / ".cos.conf").write_text("[common]\nregion = ap-chengdu\n")
    assert cli.main(["config", "import", "-q"]) == cli.EXIT_OK
    assert _profiles.load(_config(tmp_path))["coscmd"] == {"service": "cos", "region": "ap-chengdu"}


def test_a_bad_value_in_the_file_is_named_with_its_profile_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / ".cos.yaml"
    source.write_text(COSCLI.replace("protocol: https", "protocol: ftp"))
    capsys.readouterr()
    assert cli.main(["config", "import", str(source)]) == cli.EXIT_USAGE
    assert "cos.base.protocol" in capsys.readouterr().err and not _config(tmp_path).exists()
    source.write_text(COSCLI.replace("secretkey: coscli-secret-value", "secretkey: has space"))
    assert cli.main(["config", "import", "--with-secrets", str(source)]) == cli.EXIT_USAGE
    assert "has space" not in capsys.readouterr().err and not _config(tmp_path).exists()


def test_config_list_and_show_json_mask_the_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("COS_SECRET_ID", "COS_SECRET_KEY", "COS_SECURITY_TOKEN", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "COS_REGION", "COS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    source = tmp_path / ".cos.yaml"
    source.write_text(COSCLI)
    assert cli.main(["config", "import", "-q", "--with-secrets", str(source)]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["config", "list", "--json"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    *profiles, summary = [json.loads(line) for line in out.splitlines()]
    assert summary == {"type": "summary", "profiles": 2, "path": str(_config(tmp_path))}
    assert profiles[0]["settings"]["secret_key"] == "********" and profiles[0]["settings"]["secret_id"] == "AKID********"
    assert cli.main(["config", "show", "--json", "--profile", "bucket1"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    settings = json.loads(out)["settings"]
    assert settings["secret_key"] == {"value": "********", "source": "profile bucket1, stored in the file"}
    assert settings["region"] == {"value": "ap-shanghai", "source": "profile bucket1"}
    assert settings["endpoint"]["value"] is None and settings["token"]["value"] is None
    assert "coscli-secret-value" not in out and "AKIDcoscliimported" not in out


def test_the_reader_takes_four_space_indentation_as_newer_yaml_writers_use(tmp_path: Path) -> None:
    text = """cos:
    base:
        secretid: ""
        protocol: https
    buckets:
        - name: b-1250000000
          alias: b1
          region: ap-nanjing
          ofs: false
"""
    assert read(text, tmp_path / "x.yaml") == {
        "cos": {
            "base": {"secretid": "", "protocol": "https"},
            "buckets": [{"name": "b-1250000000", "alias": "b1", "region": "ap-nanjing", "ofs": "false"}],
        }
    }
