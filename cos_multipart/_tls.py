"""The client's TLS decisions, pure: which CA bundle ``verify=True`` means, and what a TLS failure says.

requests alone honours ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` (and otherwise uses certifi's bundle,
ignoring ``SSL_CERT_FILE``, which OpenSSL users and tools such as Python's ``ssl`` module expect to work).
:func:`ca_bundle` resolves all three in one place; the transport passes its answer to requests.
"""

from __future__ import annotations

import ssl
from typing import List, Mapping, Set, Tuple, Union
from urllib.parse import urlsplit

#: Environment variables naming a CA bundle, in the order they are honoured: requests' two, then OpenSSL's.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def ca_bundle(verify: Union[bool, str], environ: Mapping[str, str]) -> Union[bool, str]:
    """What to verify server certificates against: ``False`` (nothing), a CA bundle path, or ``True``
    (requests' default bundle).

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


def tls_failure(error: BaseException, url: str) -> Tuple[str, str, bool]:
    """What a TLS failure (a requests ``SSLError``) on ``url`` says: the host, the reason TLS gave, and
    whether it is a certificate verification failure (untrusted CA, expired, other host name). Nothing
    else of the request (no query string) is taken."""
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
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return host, "handshake failed", False
