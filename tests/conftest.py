"""Shared test configuration: the local COS server fixtures (``local_cos``, ``local_cos_factory``) and the
scripted HTTP server (``scripted``)."""

pytest_plugins = ["cos_multipart.testing.pytest_plugin"]


import pathlib  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402

from cos_multipart._io.client import CosClient  # noqa: E402
from cos_multipart.testing import LocalCOS  # noqa: E402

from scripted_http import ScriptedServer  # noqa: E402


@pytest.fixture(autouse=True)
def _no_user_profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """No test reads the machine's own profiles (``~/.config/cos-multipart``) or a profile named outside it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("COS_MULTIPART_PROFILE", raising=False)


@pytest.fixture()
def cli_server(local_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> LocalCOS:
    """The local server, with the command line's environment pointing at it (credentials, endpoint, cache)."""
    monkeypatch.setenv("COS_SECRET_ID", local_cos.credentials.secret_id)
    monkeypatch.setenv("COS_SECRET_KEY", local_cos.credentials.secret_key)
    monkeypatch.delenv("COS_SECURITY_TOKEN", raising=False)
    monkeypatch.setenv("COS_ENDPOINT", local_cos.endpoint)
    monkeypatch.delenv("COS_REGION", raising=False)
    monkeypatch.delenv("COS_SSE_C_KEY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return local_cos


@pytest.fixture()
def cli_client(cli_server: LocalCOS) -> Iterator[CosClient]:
    """A client of :func:`cli_server`."""
    with cli_server.client() as made:
        yield made


@pytest.fixture()
def scripted() -> Iterator[ScriptedServer]:
    """A scripted HTTP/1.1 server on 127.0.0.1 (``tests/scripted_http.py``); what it saw a client do wrong
    (a request no rule expected, a chunked or mis-sized body) fails the test at teardown."""
    with ScriptedServer() as server:
        yield server
    if server.failures:
        pytest.fail("the scripted server saw: " + "; ".join(server.failures), pytrace=False)
