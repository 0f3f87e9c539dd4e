"""The client's TLS rules as pure functions: which CA bundle verify=True means, how a TLS failure reads,
and that it is never retried."""

from __future__ import annotations

from typing import Any, Dict

import random
import ssl

import pytest
import requests

from cos_multipart._protocol.errors import FailureKind
from cos_multipart._io import _requests_engine  # noqa: F401 - loaded as when a proxy applies: requests' failures are judged
from cos_multipart._io import _wire
from cos_multipart._io.transport import _transport_error, failure_kind

from cos_multipart import CosTLSError, CosTransportError
from cos_multipart._io._tls import ca_bundle, tls_failure
from cos_multipart._protocol.retry import RetryPolicy


@pytest.mark.parametrize(
    "verify, environ, expected",
    [
        (True, {}, True),
        (True, {"SSL_CERT_FILE": "/ssl.pem"}, "/ssl.pem"),
        (True, {"REQUESTS_CA_BUNDLE": "/req.pem", "SSL_CERT_FILE": "/ssl.pem"}, "/req.pem"),
        (True, {"CURL_CA_BUNDLE": "/curl.pem", "SSL_CERT_FILE": "/ssl.pem"}, "/curl.pem"),
        (True, {"REQUESTS_CA_BUNDLE": " ", "SSL_CERT_FILE": "/ssl.pem"}, "/ssl.pem"),
        (False, {"SSL_CERT_FILE": "/ssl.pem"}, False),
        ("/mine.pem", {"REQUESTS_CA_BUNDLE": "/req.pem"}, "/mine.pem"),
    ],
)
def test_ca_bundle(verify: object, environ: Dict[str, Any], expected: object) -> None:
    assert ca_bundle(verify, environ) == expected  # type: ignore[arg-type]


def wrapped(cause: BaseException) -> requests.exceptions.SSLError:
    # What requests raises: SSLError(MaxRetryError(reason=urllib3 SSLError(ssl error))), text with the URL.
    import urllib3.exceptions

    inner = urllib3.exceptions.SSLError(cause)
    outer = urllib3.exceptions.MaxRetryError(None, "/k?uploadId=1&q-signature=secret", inner)  # type: ignore[arg-type]
    return requests.exceptions.SSLError(outer)


def test_tls_failure_reads_the_verification_message() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    cause.verify_message = "Hostname mismatch, certificate is not valid for 'h.example'."
    host, reason, certificate = tls_failure(wrapped(cause), "https://h.example:9000/k")
    assert (host, reason, certificate) == ("h.example", "Hostname mismatch, certificate is not valid for 'h.example'", True)


def test_tls_failure_other_than_the_certificate() -> None:
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    cause.reason = "WRONG_VERSION_NUMBER"
    assert tls_failure(wrapped(cause), "https://h/k") == ("h", "WRONG_VERSION_NUMBER", False)
    assert tls_failure(requests.exceptions.SSLError("opaque"), "https://h/k") == ("h", "handshake failed", False)


@pytest.mark.parametrize("engine", ["wire", "requests"])
def test_tls_errors_are_never_retried(engine: str) -> None:
    policy = RetryPolicy()
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    raw: BaseException = _wire.TLSFailure(cause) if engine == "wire" else wrapped(cause)
    assert isinstance(raw, ConnectionError if engine == "wire" else requests.exceptions.ConnectionError)  # else retried
    assert failure_kind(raw) is FailureKind.TLS
    error = _transport_error(raw, "PUT", "https://h.example/k", 1)
    assert isinstance(error, CosTLSError) and error.kind is FailureKind.TLS
    assert policy.classify(error) is None and policy.next(error, elapsed=0, rng=random.Random(1)) is None
    refusal = ConnectionRefusedError(111, "refused")
    refused = _transport_error(_wire.WireFailure(refusal) if engine == "wire" else requests.exceptions.ConnectionError(refusal),
                               "PUT", "https://h.example/k", 1)  # fmt: skip
    assert policy.classify(refused) is not None and refused.kind is FailureKind.CONNECTION


def test_cos_tls_error_message() -> None:
    error = CosTLSError("h.example", "unable to get local issuer certificate", method="PUT", url="https://h.example/k")
    assert isinstance(error, CosTransportError) and error.attempts == 1
    assert str(error) == (
        "TLS certificate verification failed for h.example: unable to get local issuer certificate; if the "
        "server's certificate comes from a private CA, pass verify=<CA bundle path> or set SSL_CERT_FILE "
        "(or REQUESTS_CA_BUNDLE) to its CA bundle (PUT https://h.example/k, 1 attempt)"
    )
    cli = error.explain("pass --ca-bundle PATH")  # what the command line says instead of a library argument
    assert "--ca-bundle PATH" in cli and "verify=" not in cli
