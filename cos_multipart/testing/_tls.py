"""TLS for the local server: a certificate authority and a server certificate made for one run.

``trustme`` makes both in memory (no ``openssl`` command, nothing to configure); the CA certificate is
written to a PEM file clients are pointed at (``verify=`` / ``REQUESTS_CA_BUNDLE``). The server's key never
touches the disk. ``trustme`` (and the ``cryptography`` it builds on) come with the ``tls`` extra.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Tuple

#: The names a certificate is made for unless others are given: every way a loopback server is reached.
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_FILE = "local-cos-ca.pem"
_MISSING = "TLS for the local COS server needs trustme: pip install 'cos-multipart[tls]'"


@dataclass(frozen=True)
class ServerTLS:
    """A server's TLS settings: the context its connections are wrapped with and the CA that signed it.

    Attributes:
        context: The server-side context (certificate and key loaded; TLS 1.2 or later).
        ca_path: PEM file of the CA certificate: what clients must trust.
        names: The host names and addresses the certificate is valid for.
    """

    context: ssl.SSLContext
    ca_path: Path
    names: Tuple[str, ...]


def certificate_names(host: str, extra: Iterable[str] = ()) -> Tuple[str, ...]:
    """The names a certificate for a server listening on ``host`` covers: ``extra`` if any were given,
    else :data:`DEFAULT_NAMES` plus ``host`` (unless it listens on every address)."""
    names = list(extra)
    if not names:
        names = list(DEFAULT_NAMES)
        if host not in ("", "0.0.0.0", "::") and host not in names:  # noqa: S104 - comparing, not binding
            names.append(host)
    return tuple(dict.fromkeys(_normalise(name) for name in names))


def make_server_tls(directory: Path, names: Tuple[str, ...]) -> ServerTLS:
    """A fresh CA and a certificate it signed for ``names``; the CA certificate is written to
    ``directory / CA_FILE``.

    Raises:
        ImportError: trustme is not installed.
    """
    try:
        import trustme
    except ImportError as error:  # pragma: no cover - the test extra installs it
        raise ImportError(_MISSING) from error
    authority = trustme.CA(organization_name="cos-multipart local COS server")
    certificate = authority.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    certificate.configure_cert(context)
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / CA_FILE
    authority.cert_pem.write_to_path(str(ca_path))
    return ServerTLS(context, ca_path, names)


def _normalise(name: str) -> str:
    text = name.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower()
