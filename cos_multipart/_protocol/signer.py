"""The COS request signature, ``q-sign-algorithm=sha1`` [ref 1], as pure functions.

Nothing here reads the clock or the network: the signing window is an input. :func:`sign` returns the
``Authorization`` value for a request described by plain data; :func:`presign_url` returns a URL that
carries the signature in its query string. No HTTP library is imported: the ``requests`` adapter
:class:`~cos_multipart.CosAuth` lives beside the transport (``cos_multipart._io._requests_auth``).

The algorithm (doc 436/7778)::

    KeyTime      = "<start>;<end>"
    SignKey      = hex(HMAC-SHA1(SecretKey, KeyTime))
    HttpString   = lower(method) \\n decoded-path \\n HttpParameters \\n HttpHeaders \\n
    StringToSign = "sha1" \\n KeyTime \\n hex(SHA1(HttpString)) \\n
    Signature    = hex(HMAC-SHA1(SignKey, StringToSign))
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .credentials import Credentials
from .errors import CosValidationError
from .limits import DEFAULT_SIGN_EXPIRES, MAX_PRESIGN_EXPIRES, SIGN_SKEW_SECONDS

#: The header carrying an STS token (doc 436/7728) [ref 1.8].
SECURITY_TOKEN_HEADER = "x-cos-security-token"  # noqa: S105 - a header name, not a secret

#: Standard headers signed when present, besides every ``x-cos-*`` and ``x-ci-*`` header [ref 1.7]:
#: the union of the official SDKs' lists plus ``date``, which the doc's worked examples sign.
SIGNED_STANDARD_HEADERS = frozenset(
    {
        "access-control-request-headers",
        "access-control-request-method",
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-length",
        "content-md5",
        "content-type",
        "date",
        "expect",
        "expires",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-unmodified-since",
        "origin",
        "pic-operations",
        "range",
        "transfer-encoding",
    }
)
SIGNED_HEADER_PREFIXES = ("x-cos-", "x-ci-")

#: The seven fields of the Authorization value, in the order COS documents [ref 1.1].
AUTH_FIELDS = (
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
)

Params = Mapping[str, Optional[str]]


@lru_cache(maxsize=4096)
def url_encode(value: str) -> str:
    """Percent-encode UTF-8 bytes, leaving only ``A-Z a-z 0-9 - _ . ~``; hex digits uppercase [ref 1.2]."""
    # Cached: header and parameter names, hosts and most values repeat from one request to the next.
    return quote(value, safe="-_.~")


def should_sign_header(name: str) -> bool:
    """True for the headers this package signs: the standard list and every ``x-cos-*``/``x-ci-*``."""
    lowered = name.lower()
    return lowered in SIGNED_STANDARD_HEADERS or lowered.startswith(SIGNED_HEADER_PREFIXES)


def select_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the subset of ``headers`` to sign, with lowercase names."""
    return {
        lowered: value
        for name, value in headers.items()
        if (lowered := name.lower()) in SIGNED_STANDARD_HEADERS or lowered.startswith(SIGNED_HEADER_PREFIXES)
    }  # should_sign_header's rule, written inline: it runs for every header of every request


@dataclass(frozen=True)
class SignWindow:
    """The validity window of a signature, Unix seconds (``q-sign-time`` and ``q-key-time``)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"sign window end {self.end} must be after start {self.start}")

    @property
    def key_time(self) -> str:
        """``"<start>;<end>"``."""
        return f"{self.start};{self.end}"

    @classmethod
    def around(
        cls, now: float, expires: int = DEFAULT_SIGN_EXPIRES, skew: int = SIGN_SKEW_SECONDS
    ) -> "SignWindow":
        """The window ``[now - skew, now + expires]``: it starts in the past to tolerate a fast clock."""
        start = int(now) - skew
        return cls(start, int(now) + expires)


def canonical_pairs(items: Iterable[Tuple[str, Optional[str]]]) -> Tuple[str, str]:
    """Encode, lowercase and sort name/value pairs: return (``"n1;n2"``, ``"n1=v1&n2=v2"``) [ref 1.3, 1.4]."""
    # List comprehensions, not generators: this runs on every request, and a generator resumes once per item.
    encoded = sorted([(url_encode(name).lower(), url_encode(value or "")) for name, value in items])
    names = ";".join([name for name, _ in encoded])
    joined = "&".join([f"{name}={value}" for name, value in encoded])
    return names, joined


def http_string(method: str, path: str, params: Params, headers: Mapping[str, str]) -> str:
    """The HttpString: method, decoded path, canonical params and headers, each line ending in ``\\n``."""
    return _http_string(method, path, canonical_pairs(params.items())[1], canonical_pairs(headers.items())[1])


def _http_string(method: str, path: str, param_string: str, header_string: str) -> str:
    return f"{method.lower()}\n{path}\n{param_string}\n{header_string}\n"


def string_to_sign(window: SignWindow, http: str) -> str:
    """``sha1\\n<KeyTime>\\n<hex sha1(HttpString)>\\n``."""
    digest = hashlib.sha1(http.encode("utf-8")).hexdigest()
    return f"sha1\n{window.key_time}\n{digest}\n"


def sign_key(secret_key: str, window: SignWindow) -> str:
    """``hex(HMAC-SHA1(SecretKey, KeyTime))``: the 40-character key the signature is made with."""
    return _sign_key(secret_key, window.key_time)


@lru_cache(maxsize=2)
def _sign_key(secret_key: str, key_time: str) -> str:
    # The key time changes once a second: requests signed within the same second (many small files) share
    # one SignKey. Kept in memory only, as the credentials themselves are.
    return hmac.digest(secret_key.encode("utf-8"), key_time.encode("utf-8"), "sha1").hex()


def signature(
    secret_key: str, window: SignWindow, method: str, path: str, params: Params, headers: Mapping[str, str]
) -> str:
    """The ``q-signature`` value: the hex HMAC-SHA1 of StringToSign under the SignKey string."""
    return _signature(secret_key, window, http_string(method, path, params, headers))


def _signature(secret_key: str, window: SignWindow, http: str) -> str:
    key = sign_key(secret_key, window).encode("ascii")
    return hmac.digest(key, string_to_sign(window, http).encode("utf-8"), "sha1").hex()  # one C call


def auth_fields(
    credentials: Credentials,
    window: SignWindow,
    method: str,
    path: str,
    params: Params,
    headers: Mapping[str, str],
) -> List[Tuple[str, str]]:
    """The seven ``(name, value)`` fields of a signature, in order; every header and param given is signed.

    Args:
        credentials: Who signs.
        window: The validity window.
        method: HTTP method.
        path: The request path, percent-DECODED, starting with ``/`` (e.g. ``"/a b/文件.txt"``).
        params: Query parameters (decoded values; ``None`` or ``""`` for a bare name such as ``uploads``).
        headers: The headers to sign (see :func:`select_headers`), with the values as sent.
    """
    header_list, header_string = canonical_pairs(headers.items())
    param_list, param_string = canonical_pairs(params.items())
    http = _http_string(method, path, param_string, header_string)
    return [
        ("q-sign-algorithm", "sha1"),
        ("q-ak", credentials.secret_id),
        ("q-sign-time", window.key_time),
        ("q-key-time", window.key_time),
        ("q-header-list", header_list),
        ("q-url-param-list", param_list),
        ("q-signature", _signature(credentials.secret_key, window, http)),
    ]


def sign(
    credentials: Credentials,
    window: SignWindow,
    method: str,
    path: str,
    params: Params,
    headers: Mapping[str, str],
) -> str:
    """Return the ``Authorization`` header value; see :func:`auth_fields` for the arguments."""
    return "&".join([f"{name}={value}" for name, value in auth_fields(credentials, window, method, path, params, headers)])


def host_header(url: str) -> str:
    """The ``Host`` header an HTTP client sends for ``url``: the port only when it is not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return host if port is None or port == default else f"{host}:{port}"


#: What ``expires`` of a pre-signed URL may be, in the words of an error message.
PRESIGN_EXPIRES_ALLOWED = f"an integer from 1 to {MAX_PRESIGN_EXPIRES} seconds (7 days)"


def presign_expires(expires: object, field: str = "expires") -> int:
    """``expires`` of a pre-signed URL, checked: whole seconds from 1 to :data:`~cos_multipart._protocol.limits.MAX_PRESIGN_EXPIRES`
    (7 days; COS documents no maximum, OSS's is 7 days: see ``limits``).

    Raises:
        CosValidationError: Naming ``field``, the value and the range.
    """
    if isinstance(expires, bool) or not isinstance(expires, int) or not 1 <= expires <= MAX_PRESIGN_EXPIRES:
        raise CosValidationError(field, expires, PRESIGN_EXPIRES_ALLOWED)
    return expires


def presign_url(
    credentials: Credentials,
    url: str,
    *,
    method: str = "GET",
    window: SignWindow,
    headers: Optional[Mapping[str, str]] = None,
) -> str:
    """Return ``url`` with the signature in its query string (a pre-signed URL) [ref 1.8].

    The host and every query parameter already in ``url`` are signed. The STS token, if any, is added as
    ``x-cos-security-token`` and signed too, so the URL works for anyone who holds it until ``window.end``.

    Args:
        credentials: Who signs.
        url: The full URL with the percent-encoded path, e.g. from :meth:`CosClient.object_url`.
        method: The HTTP method the URL will be used with.
        window: The validity window: at most 7 days after it starts, plus the skew allowance of
            :meth:`SignWindow.around` (:data:`~cos_multipart._protocol.limits.MAX_PRESIGN_EXPIRES`).
        headers: Extra headers the user of the URL must send exactly (they are signed).

    Raises:
        CosValidationError: ``window`` is longer than that.
    """
    if window.end - window.start > MAX_PRESIGN_EXPIRES + SIGN_SKEW_SECONDS:
        allowed = f"at most {MAX_PRESIGN_EXPIRES + SIGN_SKEW_SECONDS} seconds (7 days and the {SIGN_SKEW_SECONDS} s skew allowance)"
        raise CosValidationError("window", window.key_time, allowed)
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if credentials.token:
        params[SECURITY_TOKEN_HEADER] = credentials.token
    signed_headers = {"host": host_header(url)}
    signed_headers.update(select_headers(headers or {}))
    fields = auth_fields(credentials, window, method, unquote(parts.path) or "/", params, signed_headers)
    query = "&".join(f"{url_encode(k)}={url_encode(v or '')}" for k, v in fields + sorted(params.items()))
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}?{query}"


def __getattr__(name: str) -> Any:
    # CosAuth lived here before the signer stopped importing requests; it is kept reachable, loaded lazily.
    if name == "CosAuth":
        from .._io._requests_auth import CosAuth

        return CosAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
