"""``cos-multipart serve`` (in a subprocess, stopped with Ctrl-C) and ``cos-multipart demo``."""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import requests

from cos_multipart._cli import server as _cli_server, demo as _demo
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.errors import CosIntegrityError, CosValidationError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.signer import CosAuth
from cos_multipart.testing import TEST_CREDENTIALS, Fault, LocalCOS

# The command modules are registered on a parser of their own so these tests do not depend on the
# other command modules.
PARSER_SCRIPT = """
import argparse, sys
from cos_multipart._cli import server as _cli_server
parser = argparse.ArgumentParser(prog="cos-multipart")
common = argparse.ArgumentParser(add_help=False)
common.add_argument("-v", "--verbose", action="store_true")
common.add_argument("-q", "--quiet", action="store_true")
_cli_server.register(parser.add_subparsers(dest="command"), [common])
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def parse(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true")
    _cli_server.register(parser.add_subparsers(dest="command"), [common])
    return parser.parse_args(argv)


def start_serve(args: List[str], env: Optional[Dict[str, str]] = None) -> "tuple[subprocess.Popen[str], List[str]]":
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("COS_", "TENCENTCLOUD_", "OSS_"))}
    environment.update(env or {})
    process = subprocess.Popen(
        [sys.executable, "-c", PARSER_SCRIPT, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )
    banner: List[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            return process, banner
    process.kill()
    raise AssertionError(f"serve did not start: {banner} {process.stderr.read() if process.stderr else ''}")


def stop(process: "subprocess.Popen[str]") -> "tuple[int, str, str]":
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    return process.returncode, out, err


def test_serve_prints_what_to_use_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process, banner = start_serve(["--data-dir", str(tmp_path), "--bucket", "mybucket-1300000000",
                                   "--region", "ap-beijing", "--bucket", "second-1300000000"])
    text = "\n".join(banner)
    endpoint = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text).group(1)  # type: ignore[union-attr]
    assert "mybucket-1300000000" in text and "ap-beijing" in text
    assert TEST_CREDENTIALS.secret_id in text and "documented test key" in text
    response = requests.put(f"{endpoint}/hello.txt", data=b"hi", auth=CosAuth(TEST_CREDENTIALS), timeout=10)
    assert response.status_code == 200
    auth = CosAuth(TEST_CREDENTIALS)
    second = {"Host": "second-1300000000.cos.ap-beijing.myqcloud.com"}
    assert requests.put(f"{endpoint}/k", data=b"2", headers=second, auth=auth, timeout=10).status_code == 200
    missing = {"Host": "third-1300000000.cos.ap-beijing.myqcloud.com"}
    assert requests.put(f"{endpoint}/k", data=b"3", headers=missing, auth=auth, timeout=10).status_code == 404
    assert "buckets:    mybucket-1300000000, second-1300000000" in text
    code, out, err = stop(process)
    assert code == 0 and "stopped" in out
    assert re.search(r" PUT /hello\.txt - 200 2 0 .* PutObject ", err)  # access log on stderr
    assert (tmp_path / "buckets" / "mybucket-1300000000").is_dir()
    assert "PutObject" in (tmp_path / "access.log").read_text()


def test_serve_takes_credentials_from_the_environment_without_printing_the_key() -> None:
    env = {"COS_SECRET_ID": "AKIDfromenvironment", "COS_SECRET_KEY": "environment-secret-key"}
    process, banner = start_serve(["--fault", "error:api=PutObject,status=503"], env=env)
    text = "\n".join(banner)
    endpoint = re.search(r"listening on (\S+)", text).group(1)  # type: ignore[union-attr]
    assert "AKIDfromenvironment" in text and "environment-secret-key" not in text
    assert "SlowDown" in text
    auth = CosAuth(Credentials("AKIDfromenvironment", "environment-secret-key"))
    assert requests.put(f"{endpoint}/k", data=b"x", auth=auth, timeout=10).status_code == 503
    assert requests.put(f"{endpoint}/k", data=b"x", auth=auth, timeout=10).status_code == 200
    assert requests.put(f"{endpoint}/k", data=b"x", auth=CosAuth(TEST_CREDENTIALS), timeout=10).status_code == 403
    code, out, err = stop(process)
    assert code == 0 and "environment-secret-key" not in out + err


def test_serve_dialect_oss(tmp_path: Path) -> None:
    from cos_multipart._protocol.oss_signer import sign_headers

    env = {"OSS_ACCESS_KEY_ID": "LTAIfromenvironment", "OSS_ACCESS_KEY_SECRET": "oss-environment-secret"}
    process, banner = start_serve(["--dialect", "oss", "--data-dir", str(tmp_path)], env=env)
    text = "\n".join(banner)
    endpoint = re.search(r"Local OSS server listening on (http://127\.0\.0\.1:\d+)", text).group(1)  # type: ignore[union-attr]
    assert "examplebucket" in text and "cn-hangzhou" in text and "LTAIfromenvironment" in text
    headers = sign_headers(Credentials(env["OSS_ACCESS_KEY_ID"], env["OSS_ACCESS_KEY_SECRET"]), method="PUT",
                           bucket="examplebucket", key="hello.txt", params=(), headers={}, region="cn-hangzhou",
                           now=time.time())  # fmt: skip
    response = requests.put(f"{endpoint}/examplebucket/hello.txt", data=b"hi", headers=headers, timeout=10)
    assert response.status_code == 200 and response.headers["x-oss-hash-crc64ecma"] == str(crc64(b"hi"))
    code, out, err = stop(process)
    assert code == 0 and "local OSS server stopped" in out and "oss-environment-secret" not in out + err


def test_serve_tls_prints_the_ca_bundle_to_trust(tmp_path: Path) -> None:
    pytest.importorskip("trustme")
    process, banner = start_serve(["--tls", "--data-dir", str(tmp_path), "-q"])
    text = "\n".join(banner)
    endpoint = re.search(r"listening on (https://127\.0\.0\.1:\d+)", text).group(1)  # type: ignore[union-attr]
    ca_path = re.search(r"CA bundle: +(\S+)", text).group(1)  # type: ignore[union-attr]
    assert Path(ca_path).is_file() and "TLS names:  localhost, 127.0.0.1, ::1" in text
    assert "--ca-bundle" in text and "verify=" not in text  # the command line's terms, not the library's
    auth = CosAuth(TEST_CREDENTIALS)
    assert requests.put(f"{endpoint}/k", data=b"x", auth=auth, timeout=10, verify=ca_path).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.put(f"{endpoint}/k", data=b"x", auth=auth, timeout=10, verify=True)
    code, out, err = stop(process)
    assert code == 0


def test_serve_credentials_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COS_SECRET_ID", "COS_SECRET_KEY", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert _cli_server.serve_credentials(None, None) == (TEST_CREDENTIALS, "test")
    assert _cli_server.serve_credentials("id", "key") == (Credentials("id", "key"), "flags")
    with pytest.raises(CosValidationError):
        _cli_server.serve_credentials("id", None)


@pytest.mark.parametrize(("text", "size"), [("123", 123), ("64KB", 64 * 1024), ("256MB", 256 * MB),
                                            ("1.5G", int(1.5 * 1024 * MB)), ("2mb", 2 * MB)])
def test_size_argument(text: str, size: int) -> None:
    assert parse(["demo", "--size", text]).size == size


@pytest.mark.parametrize("text", ["lots", "12TB", "-5"])
def test_bad_size_argument(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["demo", "--size", text])
    assert "size" in capsys.readouterr().err


def test_demo_uploads_verifies_and_cleans_up() -> None:
    out = io.StringIO()
    # Larger than the 8 MiB answer cap: the demo HEADs the object, whose Content-Length is not an answer to read.
    options = _demo.DemoOptions(size=9 * MB + 5, part_size=MB, threads=2)
    assert _demo.run_demo(options, out) == 0
    text = out.getvalue()
    assert "10 part(s)" in text and "Summary" in text and "CRC64 matches" in text
    assert re.search(r"upload\s+[\d.]+ s, \d+ MiB/s", text)
    source = Path(re.search(r"\((/\S+demo\.bin)\)", text).group(1))  # type: ignore[union-attr]
    assert not source.parent.exists()


def test_demo_fails_when_the_server_reports_a_wrong_crc(monkeypatch: pytest.MonkeyPatch) -> None:
    def faulty(**options: object) -> LocalCOS:
        return LocalCOS(faults=[Fault.wrong_crc64("HeadObject", count=None)], **options)  # type: ignore[arg-type]

    monkeypatch.setattr(_demo, "LocalCOS", faulty)
    with pytest.raises(CosIntegrityError) as excinfo:
        _demo.run_demo(_demo.DemoOptions(size=2 * MB, part_size=MB, threads=1), io.StringIO())
    assert excinfo.value.what == "crc64"


def test_demo_progress_bar_and_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    _demo.run_demo(_demo.DemoOptions(size=2 * MB, part_size=MB, threads=1, progress_bar=True), out)
    assert "upload" in out.getvalue() and "100%" in out.getvalue()  # tqdm's bar
    monkeypatch.setattr(_demo, "_LINE_SECONDS", 0.0)
    out = io.StringIO()
    _demo.run_demo(_demo.DemoOptions(size=2 * MB, part_size=MB, threads=1), out)
    assert re.search(r"100\.0 %\s+2\.0 MiB\s+parts 2/2", out.getvalue())


def test_demo_file_blocks_differ_and_crc_is_of_the_content(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    crc = _demo.write_test_file(path, 9 * MB + 3)
    data = path.read_bytes()
    assert len(data) == 9 * MB + 3 and crc == crc64(data)
    assert data[: 4 * MB] != data[4 * MB : 8 * MB]


@pytest.mark.parametrize("options", [{"size": -1}, {"part_size": MB - 1}, {"threads": 0},
                                     {"size": 10_001 * MB, "part_size": MB}])
def test_demo_options_are_validated(options: Dict[str, Any]) -> None:
    with pytest.raises(CosValidationError):
        _demo.DemoOptions(**options)
