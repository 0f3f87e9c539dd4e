"""No secret in errors: credentials with control characters are refused when loaded, naming the variable,
and texts of HTTP library errors are redacted before they reach a CosTransportError (issue 9)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from hostile import SECRET_ID, SECRET_KEY, HostileServer, Request, reply

from cos_multipart import CosCredentialsError, CosTransportError, Credentials
from cos_multipart._io.transport import Transport

pytestmark = pytest.mark.integration

TOKEN = "SeCrEtT0kenValue42"


def every_text(error: BaseException) -> str:
    """str, repr and the full printed traceback (causes and contexts included) of ``error``."""
    printed = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return "\n".join((str(error), repr(error), printed))


@pytest.mark.parametrize("variable", ["COS_SECURITY_TOKEN", "COS_SECRET_KEY", "COS_SECRET_ID", "TENCENTCLOUD_SECURITY_TOKEN"])
@pytest.mark.parametrize("bad", [TOKEN + "\n", TOKEN + "\r", "\t" + TOKEN, TOKEN[:5] + "\x00" + TOKEN[5:], TOKEN + " "])
def test_credentials_with_control_characters_are_refused_naming_the_variable(variable: str, bad: str) -> None:
    env = {"COS_SECRET_ID": SECRET_ID, "COS_SECRET_KEY": SECRET_KEY, variable: bad}
    with pytest.raises(CosCredentialsError) as caught:
        Credentials.from_env(env)
    assert variable in str(caught.value)
    assert TOKEN[:8] not in every_text(caught.value)


def test_credentials_made_in_code_are_checked_too() -> None:
    for fields in ((SECRET_ID, SECRET_KEY, TOKEN + "\n"), (SECRET_ID, SECRET_KEY + "\n", None), (SECRET_ID + " ", SECRET_KEY)):
        with pytest.raises(CosCredentialsError) as caught:
            Credentials(*fields)
        assert TOKEN[:8] not in str(caught.value) and SECRET_KEY[:8] not in str(caught.value)


def answer_ok(request: Request, sock: socket.socket) -> bool:
    reply(sock, "200 OK", b"", {"ETag": '"x"'})
    return True


def test_an_http_library_error_quoting_the_token_is_redacted() -> None:
    # A provider outside this package's checks (here: a value changed after construction) hands the
    # transport a token the HTTP library refuses; requests' InvalidHeader quotes the value.
    credentials = Credentials(SECRET_ID, SECRET_KEY, TOKEN)
    object.__setattr__(credentials, "token", TOKEN + "\n")
    with HostileServer(answer_ok) as server:
        client = server.client()
        assert isinstance(client.transport, Transport)
        client.transport._provider = lambda: credentials  # noqa: SLF001 - the seam a provider plugs into
        with pytest.raises(CosTransportError) as caught:
            client.head_object("k")
    text = every_text(caught.value)
    assert TOKEN not in text and "SeCrEt" not in text, text
    assert "header value" in str(caught.value)  # what went wrong is still said
    assert not server.requests  # refused before anything was sent


def test_the_cli_prints_the_variable_name_never_the_token(tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 1000)
    with HostileServer(answer_ok) as server:
        env = dict(os.environ, COS_SECRET_ID=SECRET_ID, COS_SECRET_KEY=SECRET_KEY, COS_SECURITY_TOKEN=TOKEN + "\n")
        done = subprocess.run(
            [sys.executable, "-m", "cos_multipart", "upload", str(source), "cos://examplebucket-1250000000/k",
             "--endpoint", server.endpoint, "--checkpoint-dir", str(tmp_path / "cp")],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode != 0
    assert "COS_SECURITY_TOKEN" in done.stderr
    assert TOKEN not in done.stderr + done.stdout and "SeCrEt" not in done.stderr + done.stdout
    assert not server.requests
