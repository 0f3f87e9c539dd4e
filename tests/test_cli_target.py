"""Command-line targets: ``cos://`` and ``oss://``, and the client each one makes (no request is sent here)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._cli.target import parse_target
from cos_multipart._cli.transfer import make_client
from cos_multipart._protocol.dialect import COS, OSS
from cos_multipart._protocol.errors import CosValidationError, KeptUpload

_PLACE_VARIABLES = ("COS_REGION", "COS_ENDPOINT", "OSS_REGION", "OSS_ENDPOINT")
_CREDENTIAL_VARIABLES = (
    "COS_SECRET_ID", "COS_SECRET_KEY", "COS_SECURITY_TOKEN", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY",
    "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PLACE_VARIABLES + _CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _args(region: Optional[str] = None, endpoint: Optional[str] = None) -> argparse.Namespace:
    return argparse.Namespace(region=region, endpoint=endpoint)


def test_parse_target_both_schemes() -> None:
    cos = parse_target("cos://b-1/a/b c.txt")
    assert (cos.dialect, cos.bucket, cos.key, cos.url()) == (COS, "b-1", "a/b c.txt", "cos://b-1/a/b c.txt")
    oss = parse_target("OSS://examplebucket/dir/", require_key=False)
    assert (oss.dialect, oss.bucket, oss.key) == (OSS, "examplebucket", "dir/")
    assert oss.url("dir/x") == "oss://examplebucket/dir/x"
    assert parse_target("cos://b-1", require_key=False).key == ""


@pytest.mark.parametrize("bad", ["cos://b-1", "cos:///k", "b-1/k", "s3://b/k", "oss://", "oss:///k", "://b/k"])
def test_parse_target_refuses(bad: str) -> None:
    with pytest.raises(CosValidationError) as caught:
        parse_target(bad)
    assert caught.value.field == "target" and caught.value.value == bad
    assert "://BUCKET/KEY" in caught.value.allowed


def test_an_oss_target_makes_an_oss_client_from_oss_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI-test-id")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "oss-secret-value")
    monkeypatch.setenv("OSS_REGION", "cn-hangzhou")
    # COS's variables are not read for an oss:// target (and would point elsewhere).
    monkeypatch.setenv("COS_ENDPOINT", "http://127.0.0.1:1")
    with make_client(_args(), parse_target("oss://examplebucket/k")) as client:
        assert client.dialect is OSS
        assert client.endpoint.base_url == "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"


def test_an_oss_endpoint_names_its_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI-test-id")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "oss-secret-value")
    for endpoint, region in [
        ("https://oss-cn-shanghai.aliyuncs.com", "cn-shanghai"),
        ("https://examplebucket.oss-ap-southeast-1-internal.aliyuncs.com", "ap-southeast-1"),
    ]:
        with make_client(_args(endpoint=endpoint), parse_target("oss://examplebucket/k")) as client:
            assert client.endpoint.region == region


def test_oss_with_a_custom_endpoint_needs_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI-test-id")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "oss-secret-value")
    with pytest.raises(CosValidationError) as caught:
        make_client(_args(endpoint="http://127.0.0.1:9000"), parse_target("oss://examplebucket/k"))
    assert caught.value.field == "--region" and "OSS_REGION" in caught.value.allowed
    with make_client(_args(region="cn-beijing", endpoint="http://127.0.0.1:9000"), parse_target("oss://examplebucket/k")) as client:
        assert client.endpoint.region == "cn-beijing" and client.endpoint.base_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize("scheme", ["cos", "oss"])
def test_the_target_bucket_is_named_in_the_host_with_an_endpoint(scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # With --endpoint the target's bucket used to reach the server only as its default: it is the Host now.
    for name, value in [("COS_SECRET_ID", "AKIDx"), ("COS_SECRET_KEY", "k"), ("OSS_ACCESS_KEY_ID", "LTAIx"), ("OSS_ACCESS_KEY_SECRET", "k")]:
        monkeypatch.setenv(name, value)
    region = "ap-beijing" if scheme == "cos" else "cn-beijing"
    service = f"cos.{region}.myqcloud.com" if scheme == "cos" else f"oss-{region}.aliyuncs.com"
    for endpoint in (f"https://{service}", "http://127.0.0.1:9000"):  # a region endpoint names the region
        extra = {"region": region} if endpoint.startswith("http:") else {}
        with make_client(_args(endpoint=endpoint, **extra), parse_target(f"{scheme}://wrongbucket-999/k")) as client:
            assert client.endpoint.base_url == endpoint and client.endpoint.host == f"wrongbucket-999.{service}"


def test_oss_bucket_rule_applies_to_oss_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI-test-id")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "oss-secret-value")
    # A COS bucket name is a valid OSS name too; an OSS name without an APPID is not a COS one.
    with pytest.raises(CosValidationError):
        make_client(_args(region="ap-guangzhou"), parse_target("cos://examplebucket/k"))
    with make_client(_args(region="cn-hangzhou"), parse_target("oss://examplebucket/k")) as client:
        assert client.bucket == "examplebucket"


def test_oss_target_without_oss_credentials_names_oss_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 10)
    monkeypatch.setenv("COS_SECRET_ID", "AKIDcos")  # COS credentials do not sign OSS requests
    monkeypatch.setenv("COS_SECRET_KEY", "cos-secret")
    code = cli.main(["upload", str(path), "oss://examplebucket/k", "--region", "cn-hangzhou", "--endpoint", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "OSS_ACCESS_KEY_ID" in err and "cos-secret" not in err


def test_bad_scheme_on_the_command_line_names_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    assert cli.main(["upload", str(path), "s3://bucket/key"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "cos://BUCKET/KEY" in err and "oss://BUCKET/KEY" in err


def test_kept_upload_line_uses_the_service_scheme() -> None:
    kept = KeptUpload("examplebucket", "k", "UPID", 1, 3, None, source="/f", service="oss")
    line = kept.describe()
    assert "resume /f oss://examplebucket/k" in line and "abort oss://examplebucket/k UPID" in line
    assert "cos://" in KeptUpload("b-1", "k", "U", 0, 1, None).describe()


def test_resume_and_abort_commands_are_quoted_absolute_and_repeat_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    from cos_multipart._cli.commands import abort_command, kept_line, resume_command

    monkeypatch.chdir(tmp_path)
    args = cli.build_parser().parse_args([
        "upload", "rel name.bin", "oss://b/k", "--endpoint", "http://h:1", "--region", "cn-hangzhou",
        "--checkpoint-dir", "cp", "--part-size", "1MB", "--no-resume", "--meta", "a=b c", "--sse", "cos",
    ])  # fmt: skip
    kept = KeptUpload("b", "dir/my file (1).bin", "UP", 1, 3, None, source="rel name.bin", service="oss")
    resume = resume_command(args, kept)
    assert resume is not None and shlex.split(resume) == [
        "cos-multipart", "resume", str(tmp_path / "rel name.bin"), "oss://b/dir/my file (1).bin",
        "--region", "cn-hangzhou", "--endpoint", "http://h:1", "--part-size", "1048576",
        "--checkpoint-dir", str(tmp_path / "cp"), "--meta", "a=b c", "--sse", "cos",
    ]  # fmt: skip
    assert shlex.split(abort_command(args, kept)) == [
        "cos-multipart", "abort", "oss://b/dir/my file (1).bin", "UP",
        "--region", "cn-hangzhou", "--endpoint", "http://h:1", "--checkpoint-dir", str(tmp_path / "cp"),
    ]  # fmt: skip
    assert f"resume with: {resume}; abort with: " in kept_line(args, kept)
    assert "re-run the same upload" in kept_line(None, KeptUpload("b", "k", "U", 0, 1, None))
