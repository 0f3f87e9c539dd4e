"""The client's TLS decisions, pure: which CA bundle ``verify=True`` means, and what a TLS failure says.

``verify=True`` means the CA bundle the environment names, in this order: ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE`` (what requests honours) then ``SSL_CERT_FILE`` (what OpenSSL, curl and Python's ``ssl``
module honour, and what requests alone ignores); without any, requests' certifi bundle (threads) or the
system's store (asyncio). Both transports take the answer of :func:`ca_bundle`, so a bundle named in the
environment is trusted the same way by both. A path that does not exist is refused when the client is
made, naming the argument or the variable, instead of failing every request later.
"""

from __future__ import annotations

import os
import ssl
from typing import List, Mapping, Optional, Set, Tuple, Union
from urllib.parse import urlsplit

from .._protocol.errors import CosValidationError

#: Environment variables naming a CA bundle, in the order they are honoured: requests' two, then OpenSSL's.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def ca_bundle(verify: Union[bool, str], environ: Mapping[str, str]) -> Union[bool, str]:
    """What to verify server certificates against: ``False`` (nothing), a CA bundle path, or ``True``
    (the HTTP library's default bundle).

    ``verify`` given as ``False`` or a path is kept; ``True`` becomes the first non-empty variable of
    :data:`CA_BUNDLE_VARIABLES` in ``environ``, else stays ``True``.
    """
    if verify is not True:
        return verify
    for name in CA_BUNDLE_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value
    return True


def checked_ca_bundle(verify: object, environ: Mapping[str, str]) -> Union[bool, str]:
    """:func:`ca_bundle`, with the path it names checked to exist (a file, or a directory of CA files).

    Raises:
        CosValidationError: ``verify`` is not ``True``, ``False`` or a path (field ``verify``), or the path
            it means does not exist (field ``verify``, or the environment variable that named it).
    """
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if not isinstance(verify, (bool, str)) or verify == "":
        raise CosValidationError("verify", verify, "True, False, or the path of a CA bundle (PEM)")
    chosen = ca_bundle(verify, environ)
    if isinstance(chosen, str) and not os.path.exists(chosen):
        field = "verify" if verify is not True else next(n for n in CA_BUNDLE_VARIABLES if environ.get(n, "").strip())
        raise CosValidationError(field, chosen, "the path of an existing CA bundle file (PEM) or certificate directory")
    return chosen


def bundle_locations(location: str) -> Tuple[Optional[str], Optional[str]]:
    """``(cafile, capath)`` for the CA bundle ``location``, a file or a directory of hashed certificates: the
    arguments of ``ssl.create_default_context`` and ``SSLContext.load_verify_locations`` alike."""
    return (None, location) if os.path.isdir(location) else (location, None)


def tls_failure(error: BaseException, url: str) -> Tuple[str, str, bool]:
    """What a TLS failure (a requests ``SSLError``, an aiohttp ``ClientSSLError``) on ``url`` says: the
    host, the reason TLS gave, and whether it is a certificate verification failure (untrusted CA, expired,
    other host name). Nothing else of the request (no query string) is taken."""
    host = urlsplit(url).hostname or url
    seen: Set[int] = set()
    pending: List[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            message = getattr(current, "verify_message", None) or getattr(current, "reason", None)
            return host, str(message or "certificate verify failed").rstrip("."), True
        if isinstance(current, ssl.SSLError):
            return host, str(current.reason or current.strerror or "handshake failed"), False
        pending.extend(item for item in current.args if isinstance(item, BaseException))
        linked_names = ("reason", "os_error", "certificate_error", "__cause__", "__context__")  # aiohttp: os_error...
        for linked in (getattr(current, name, None) for name in linked_names):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return host, "handshake failed", False
