"""The client, the uploader and the official SDK against the local server over TLS (real sockets)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from cos_multipart import CosTLSError, CosValidationError
from cos_multipart._cli import main as cli
from cos_multipart._cli.target import Target
from cos_multipart._protocol.dialect import DIALECTS
from cos_multipart.aio import AsyncCosClient
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory
from cos_multipart._drivers.uploader import upload_file

from uploads import make_file, stored, target

pytest.importorskip("trustme")

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


@pytest.fixture()
def tls_cos(local_cos_factory: LocalCOSFactory, dialect: str) -> LocalCOS:
    return local_cos_factory(tls=True, dialect=dialect)


def test_uploader_end_to_end_over_tls(tls_cos: LocalCOS, tmp_path: Path, store: CheckpointStore) -> None:
    path, data = make_file(tmp_path, 3 * MB + 5)
    assert tls_cos.endpoint.startswith("https://") and tls_cos.ca_path is not None
    with tls_cos.client() as client:  # trusts the run's CA
        result = upload_file(client, path, "tls/data.bin", part_size=MB, multipart_threshold=0, concurrency=2, store=store)
        assert result.crc64 == crc64(data) and len(result.parts) == 4
        assert stored(client, "tls/data.bin") == data
        assert stored(client, "tls/data.bin", byte_range=(MB - 1, MB)) == data[MB - 1 : MB + 1]


@pytest.fixture()
def tls_cli_env(tls_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalCOS:
    """``cli_env`` over TLS: the command line talks to the HTTPS server, in its service's variables."""
    spoken = DIALECTS[tls_cos.dialect]
    place = Target(spoken, "", "")
    (ids, keys, _tokens) = spoken.credential_env
    for name in (*ids, *keys, *_tokens):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ids[0], tls_cos.credentials.secret_id)
    monkeypatch.setenv(keys[0], tls_cos.credentials.secret_key)
    monkeypatch.setenv(place.endpoint_env, tls_cos.endpoint)
    monkeypatch.setenv(place.region_env, tls_cos.region)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tls_cos


BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def untrusting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def put_with(transport: str, server: LocalCOS, key: str, data: bytes, **options: Any) -> Any:
    """``put_object`` through a new client of ``transport`` (``threads``: CosClient, ``asyncio``: AsyncCosClient)."""
    if transport == "threads":
        with server.client(**options) as client:
            return client.put_object(key, data)

    async def run() -> Any:
        async with AsyncCosClient(
            server.bucket, server.region, server.credentials, endpoint=server.endpoint, dialect=server.dialect, **options
        ) as client:
            return await client.put_object(key, data)

    return asyncio.run(run())


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
@pytest.mark.parametrize("variable", BUNDLE_VARIABLES)
def test_a_ca_bundle_from_the_environment_is_trusted(
    tls_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch, variable: str, transport: str
) -> None:
    untrusting(monkeypatch)
    monkeypatch.setenv(variable, str(tls_cos.ca_path))  # requests alone ignores SSL_CERT_FILE, aiohttp the others
    assert put_with(transport, tls_cos, "env", b"trusted", verify=True).crc64 == crc64(b"trusted")


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_a_ca_bundle_that_does_not_exist_is_refused_before_connecting(
    tls_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, transport: str
) -> None:
    untrusting(monkeypatch)
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(CosValidationError) as caught:
        put_with(transport, tls_cos, "k", b"x", verify=missing)
    assert caught.value.field == "verify" and caught.value.value == missing
    monkeypatch.setenv("SSL_CERT_FILE", missing)
    with pytest.raises(CosValidationError) as caught:
        put_with(transport, tls_cos, "k", b"x", verify=True)
    assert caught.value.field == "SSL_CERT_FILE" and "CA bundle" in str(caught.value)
    assert tls_cos.connections_accepted == 0


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_an_untrusted_certificate_is_one_clear_error_in_both_transports(
    tls_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    untrusting(monkeypatch)
    with pytest.raises(CosTLSError) as caught:
        put_with(transport, tls_cos, "k", b"x", verify=True)
    error = caught.value
    assert error.attempts == 1 and error.certificate and error.host == "127.0.0.1"
    assert "verify=<CA bundle path>" in str(error) and "SSL_CERT_FILE" in str(error)
    assert tls_cos.connections_accepted == 1 and tls_cos.log_entries() == []  # one try, no request got through


def test_cli_ca_bundle_flag_and_what_an_untrusted_certificate_says(
    tls_cli_env: LocalCOS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    untrusting(monkeypatch)
    path, data = make_file(tmp_path, 1000)
    where = target(tls_cli_env, "cli.bin")
    assert cli.main(["upload", str(path), where]) == cli.EXIT_TRANSPORT
    err = capsys.readouterr().err
    assert "--ca-bundle PATH" in err and "SSL_CERT_FILE" in err and "verify=" not in err
    assert cli.main(["upload", "--ca-bundle", str(tls_cli_env.ca_path), str(path), where]) == cli.EXIT_OK
    capsys.readouterr()
    assert stored(tls_cli_env.client(), "cli.bin") == data
    missing = str(tmp_path / "missing.pem")
    assert cli.main(["stat", "--ca-bundle", missing, where]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--ca-bundle '{missing}'" in err and "CA bundle" in err
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cli_env.ca_path))
    assert cli.main(["stat", where]) == cli.EXIT_OK


def test_an_untrusted_certificate_is_one_clear_error(tls_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    before = tls_cos.connections_accepted
    with tls_cos.client(verify=True) as client:  # the system's CAs do not know this run's
        with pytest.raises(CosTLSError) as excinfo:
            client.put_object("k", b"x")
    error = excinfo.value
    # Never retried (so no backoff): one attempt, one connection (counted below), not a timer.
    assert error.attempts == 1 and error.certificate and error.host == "127.0.0.1"
    text = str(error)
    assert "certificate verification failed for 127.0.0.1" in text and "REQUESTS_CA_BUNDLE" in text
    assert "?" not in text and tls_cos.credentials.secret_key not in text
    assert tls_cos.connections_accepted - before == 1  # one attempt reached the server
    assert tls_cos.log_entries() == []  # and no request got through


def test_a_certificate_for_another_name_is_refused(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(tls=True, tls_names=["cos.example.com"])
    with cos.client() as client:  # trusts the CA, but the certificate does not name 127.0.0.1
        with pytest.raises(CosTLSError) as excinfo:
            client.head_object("k")
    assert excinfo.value.attempts == 1 and "mismatch" in excinfo.value.reason
    assert cos.connections_accepted == 1


def test_https_to_a_plain_server_is_a_handshake_error(local_cos: LocalCOS) -> None:
    with local_cos.client(endpoint=local_cos.endpoint.replace("http://", "https://")) as client:
        with pytest.raises(CosTLSError) as excinfo:
            client.put_object("k", b"x")
    assert not excinfo.value.certificate and "does the endpoint speak HTTPS" in str(excinfo.value)


def test_bandwidth_cap_over_tls(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(tls=True, bandwidth=2 * MB)
    data = b"b" * MB
    with cos.client() as client:
        started = time.monotonic()
        client.put_object("slow", data)
        assert time.monotonic() - started >= 0.4  # 1 MiB at 2 MiB/s
        started = time.monotonic()
        assert stored(client, "slow") == data
        assert time.monotonic() - started >= 0.4


def test_presigned_url_over_tls(tls_cos: LocalCOS) -> None:
    with tls_cos.client() as client:
        client.put_object("shared", b"shared bytes")
        url = client.presign("shared", expires=600)  # COS q-sign or OSS V4 query form, by the client's dialect
        host = {"Host": client.endpoint.host}  # the endpoint (an IP) names no bucket: the Host does
    response = requests.get(url, headers=host, verify=str(tls_cos.ca_path), timeout=10)
    assert response.status_code == 200 and response.content == b"shared bytes"
