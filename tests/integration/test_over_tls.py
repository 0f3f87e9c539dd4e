"""The client, the uploader and the official SDK against the local server over TLS (real sockets)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from cos_multipart import CosTLSError
from cos_multipart.checkpoint import CheckpointStore
from cos_multipart.checksum import crc64
from cos_multipart.limits import MB
from cos_multipart.testing import LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory
from cos_multipart.uploader import upload_file

from uploads import make_file, stored

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


def test_a_ca_bundle_from_the_environment_is_trusted(
    tls_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cos.ca_path))  # requests alone would ignore this one
    with tls_cos.client(verify=True) as client:
        assert client.put_object("env", b"trusted").crc64 == crc64(b"trusted")


def test_an_untrusted_certificate_is_one_clear_error(tls_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    before = tls_cos.connections_accepted
    with tls_cos.client(verify=True) as client:  # the system's CAs do not know this run's
        started = time.monotonic()
        with pytest.raises(CosTLSError) as excinfo:
            client.put_object("k", b"x")
    error = excinfo.value
    assert error.attempts == 1 and error.certificate and error.host == "127.0.0.1"
    assert time.monotonic() - started < 2  # no backoff: never retried
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
    response = requests.get(url, verify=str(tls_cos.ca_path), timeout=10)
    assert response.status_code == 200 and response.content == b"shared bytes"
