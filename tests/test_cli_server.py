"""``cos-multipart serve``: its flags take the units the client's flags take, and a busy port is explained."""

from __future__ import annotations

import socket

import pytest

from cos_multipart._cli import main as cli


def test_serve_bandwidth_takes_the_client_flags_units() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["serve", "--bandwidth", "1MB"]).bandwidth == 1024 * 1024
    assert parser.parse_args(["serve", "--bandwidth", "512KB"]).bandwidth == 512 * 1024
    assert parser.parse_args(["serve", "--bandwidth", "2048"]).bandwidth == 2048
    assert parser.parse_args(["demo", "--bandwidth", "1MB"]).bandwidth == 1024 * 1024


def test_serve_on_a_busy_port_names_the_port_and_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["serve", "--port", str(port), "--quiet"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--port {port}: " in err and "in use" in err and "--port 0" in err and "Errno" not in err
