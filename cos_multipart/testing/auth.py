"""Verification of COS request signatures, header and pre-signed forms [ref 1.11], as pure functions.

Written from the reference (doc 436/7778, ``cos-api.md`` section 1), not from the client's
:mod:`cos_multipart._protocol.signer`: the server is an independent oracle, so a rule the client gets wrong (a header
left out of its list, a key encoded the wrong way, the wrong key time) is refused here instead of being
mirrored. ``tests/testing/test_cos_auth_vectors.py`` holds these functions to the documented vectors.

The server rebuilds the HttpString from exactly the names the client listed in ``q-header-list`` and
``q-url-param-list`` (values taken from the request, the pairs sorted by name as the reference says,
whatever order the lists are in), signs it with the SecretKey the ``q-ak`` maps to, and compares in
constant time. Quirks of real clients that must pass:

* ``host`` signed without the port while the ``Host`` header carries it (the Python SDK) [ref 1.4];
* lists with names in any case (``uploadId`` in older doc samples) [ref 1.3];
* the STS token signed or unsigned, in the header or the query string [ref 1.8];
* ``q-key-time`` different from ``q-sign-time``: SignKey from the key time, StringToSign from the sign
  time [ref 1.1].

Query parameters the list does not name are outside the signature and still take effect, as on COS: its
SDK guides tell users to append ``response-content-disposition=attachment`` to a pre-signed URL they
obtained (436/40944, 436/42388, 436/31544), and SDKs append an unsigned ``x-cos-security-token`` [ref 1.8].
So whoever holds a pre-signed GET may choose its ``response-*`` headers (OSS V4 signs every parameter and
refuses them: ``oss_auth``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import unquote

from .._protocol.credentials import Credentials
from ._limits import MAX_CLOCK_SKEW_SECONDS

#: "Request has expired" is the message clients match on to correct their clock [ref 1.9].
EXPIRED_MESSAGE = "Request has expired"
#: The header (or query parameter) carrying an STS token (doc 436/7728) [ref 1.8].
SECURITY_TOKEN_HEADER = "x-cos-security-token"  # noqa: S105 - a header name, not a secret
#: The seven fields of a signature, in the order COS documents them [ref 1.1].
AUTH_FIELDS = (
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
)
#: Unix seconds in a key time: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses).
_SECONDS = re.compile("[0-9]{1,20}")
#: The bytes UrlEncode leaves as they are: RFC 3986's unreserved set [ref 1.2].
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
#: Each byte as UrlEncode writes it: itself, or ``%`` and two UPPER-case hex digits [ref 1.2].
_ENCODED = tuple(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in range(256))


class Window(NamedTuple):
    """``q-sign-time`` or ``q-key-time``: ``start;end`` in Unix seconds, and the text as received (what
    is hashed: the server signs the client's text, not a re-formatting of the numbers)."""

    start: int
    end: int
    text: str


@lru_cache(maxsize=4096)
def url_encode(text: str) -> str:
    """COS's UrlEncode [ref 1.2]: the UTF-8 bytes of ``text``, each byte outside ``A-Z a-z 0-9 - _ . ~``
    written ``%XX`` with upper-case hex (space is ``%20``, never ``+``; ``/`` is ``%2F``).

    Cached: names, hosts and most values repeat from one request to the next.
    """
    return "".join(_ENCODED[byte] for byte in text.encode("utf-8", "surrogatepass"))


def canonical(pairs: Iterable[Tuple[str, str]]) -> Tuple[str, str]:
    """The HeaderList / UrlParamList and HttpHeaders / HttpParameters of ``(name, value)`` pairs [ref 1.3,
    1.4]: each name UrlEncoded then lower-cased, each value UrlEncoded, the pairs sorted by encoded name;
    returns (``"n1;n2"``, ``"n1=v1&n2=v2"``)."""
    encoded = _sorted_encoded((url_encode(name).lower(), value) for name, value in pairs)
    return ";".join(name for name, _ in encoded), "&".join(f"{name}={value}" for name, value in encoded)


def _sorted_encoded(pairs: Iterable[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """``(encoded name, value)`` pairs with their values encoded, sorted by name [ref 1.3 step 3]."""
    return sorted((name, url_encode(value)) for name, value in pairs)


def http_string(method: str, path: str, params: Iterable[Tuple[str, str]], headers: Iterable[Tuple[str, str]]) -> str:
    """``lower(Method) \\n UriPathname \\n HttpParameters \\n HttpHeaders \\n`` [ref 1.1] of raw names and values;
    ``path`` decoded [ref 1.5]."""
    return f"{method.lower()}\n{path}\n{canonical(params)[1]}\n{canonical(headers)[1]}\n"


def _listed_http_string(
    method: str, path: str, params: Iterable[Tuple[str, str]], headers: Iterable[Tuple[str, str]]
) -> str:
    """The HttpString of names as the lists carry them (already encoded and lower-cased) and raw values."""
    lines = ["&".join(f"{name}={value}" for name, value in _sorted_encoded(pairs)) for pairs in (params, headers)]
    return f"{method.lower()}\n{path}\n{lines[0]}\n{lines[1]}\n"


def sign_key(secret_key: str, key_time: str) -> str:
    """``SignKey = hex(HMAC-SHA1(SecretKey, KeyTime))``, lower-case hex [ref 1.1]."""
    return hmac.new(secret_key.encode("utf-8"), key_time.encode("utf-8"), hashlib.sha1).hexdigest()


def string_to_sign(sign_time: str, http: str) -> str:
    """``"sha1" \\n KeyTime \\n hex(SHA1(HttpString)) \\n`` [ref 1.1]."""
    return f"sha1\n{sign_time}\n{hashlib.sha1(http.encode('utf-8')).hexdigest()}\n"


def signature(secret_key: str, key_time: str, sign_time: str, http: str) -> str:
    """``hex(HMAC-SHA1(SignKey, StringToSign))``: the key is SignKey's 40-character hex TEXT [ref 1.1]."""
    key = sign_key(secret_key, key_time).encode("ascii")
    return hmac.new(key, string_to_sign(sign_time, http).encode("utf-8"), hashlib.sha1).hexdigest()


class AuthError(Exception):
    """The request is not authenticated; a 403 (COS always) [ref 4.2].

    Attributes:
        code: ``AccessDenied``, ``InvalidAccessKeyId``, ``SignatureDoesNotMatch`` or ``RequestTimeTooSkewed``
            (OSS also ``InvalidArgument`` for a malformed signature).
        message: The ``<Message>`` of the error body (never contains a secret).
        status: The HTTP status.
        ec: OSS's fine-grained error code, ``""`` when none is documented.
        details: Extra ``(element, text)`` pairs of the error body (OSS: the canonical request and the
            string to sign the server computed; neither contains a secret).
    """

    def __init__(
        self, code: str, message: str, *, status: int = 403, ec: str = "", details: Tuple[Tuple[str, str], ...] = ()
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.ec = ec
        self.details = details
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class ReceivedRequest:
    """A request as the server received it, reduced to what the signature covers.

    Attributes:
        method: HTTP method.
        path: The percent-DECODED request path, starting with ``/``.
        query: Query parameters with decoded names and values, in the order received.
        headers: Header name (lowercase) to value, first occurrence.
    """

    method: str
    path: str
    query: Tuple[Tuple[str, str], ...]
    headers: Mapping[str, str]

    def header(self, name: str) -> Optional[str]:
        """The value of header ``name`` (any case), or ``None``."""
        return self.headers.get(name.lower())

    def param(self, name: str) -> Optional[str]:
        """The value of query parameter ``name`` (exact name), or ``None``."""
        for key, value in self.query:
            if key == name:
                return value
        return None


class Keyring:
    """SecretId -> :class:`Credentials` (with the STS token a temporary key must present); thread-safe."""

    def __init__(self, credentials: Iterable[Credentials] = ()) -> None:
        self._lock = threading.Lock()
        self._keys: Dict[str, Credentials] = {}
        for item in credentials:
            self.add(item)

    def add(self, credentials: Credentials) -> None:
        """Accept ``credentials`` (replacing any with the same SecretId)."""
        with self._lock:
            self._keys[credentials.secret_id] = credentials

    def remove(self, secret_id: str) -> None:
        """Stop accepting ``secret_id``."""
        with self._lock:
            self._keys.pop(secret_id, None)

    def get(self, secret_id: str) -> Optional[Credentials]:
        """The credentials of ``secret_id``, or ``None``."""
        with self._lock:
            return self._keys.get(secret_id)

    def __repr__(self) -> str:
        with self._lock:
            return f"Keyring(secret_ids={sorted(self._keys)!r})"


def find_auth_fields(request: ReceivedRequest) -> Optional[Dict[str, str]]:
    """The seven ``q-*`` fields from the ``Authorization`` header, the query string, or a ``sign`` param.

    Returns ``None`` when the request carries no signature at all.
    """
    header = request.header("authorization")
    if header:
        return _split_auth(header)
    query = {name: value for name, value in request.query if name in AUTH_FIELDS}
    if query:
        return query
    merged = request.param("sign")
    if merged:
        # SDK-only variant: the whole Authorization string URL-encoded in one parameter [ref 1.8].
        return _split_auth(merged)
    return None


def _split_auth(value: str) -> Dict[str, str]:
    fields: Dict[str, str] = {}
    for item in value.strip().split("&"):
        name, _, text = item.partition("=")
        # The values are plain ASCII; unquoting accepts the URL-encoded form of a merged ``sign``.
        fields.setdefault(name.strip(), unquote(text.strip()))
    return fields


def verify(request: ReceivedRequest, keyring: Keyring, now: float) -> Credentials:
    """Check the signature of ``request``; return the credentials it was made with.

    Args:
        request: What was received.
        keyring: The accepted keys.
        now: The server's current Unix time.

    Raises:
        AuthError: Missing or malformed signature (AccessDenied), unknown SecretId or a temporary key
            without its token (InvalidAccessKeyId), window over (AccessDenied "Request has expired"), window
            starting more than 15 minutes ahead (RequestTimeTooSkewed), signature mismatch
            (SignatureDoesNotMatch).
    """
    fields = find_auth_fields(request)
    if fields is None:
        raise AuthError("AccessDenied", "Access Denied. The request carries no signature.")
    missing = [name for name in AUTH_FIELDS if name not in fields]
    if missing:
        raise AuthError("AccessDenied", f"The authorization is missing {', '.join(missing)}.")
    if fields["q-sign-algorithm"].lower() != "sha1":
        raise AuthError("AccessDenied", "q-sign-algorithm must be sha1.")
    credentials = keyring.get(fields["q-ak"])
    if credentials is None:
        raise AuthError("InvalidAccessKeyId", "The SecretId you provided does not exist.")
    sign_window = _window(fields["q-sign-time"], "q-sign-time")
    key_window = _window(fields["q-key-time"], "q-key-time")
    _check_time(sign_window, now)
    _check_token(request, credentials)
    expected = fields["q-signature"].strip().lower().encode("ascii", "replace")
    for http in _http_strings(request, fields["q-header-list"], fields["q-url-param-list"]):
        computed = signature(credentials.secret_key, key_window.text, sign_window.text, http)
        if hmac.compare_digest(computed.encode("ascii"), expected):
            return credentials
    raise AuthError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )


def _window(value: str, name: str) -> Window:
    start, sep, end = value.partition(";")
    if sep and _SECONDS.fullmatch(start) and _SECONDS.fullmatch(end) and int(start) < int(end):
        return Window(int(start), int(end), value)
    raise AuthError("AccessDenied", f"{name} must be '<start>;<end>' with start < end.")


def _check_time(window: Window, now: float) -> None:
    if now > window.end:
        raise AuthError("AccessDenied", EXPIRED_MESSAGE)
    # Clients start the window a little in the past [ref 1.9]; one that starts far in the future comes
    # from a clock that runs ahead.
    if window.start > now + MAX_CLOCK_SKEW_SECONDS:
        raise AuthError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        )


def _check_token(request: ReceivedRequest, credentials: Credentials) -> None:
    if not credentials.token:
        return
    token = request.header(SECURITY_TOKEN_HEADER) or request.param(SECURITY_TOKEN_HEADER)
    if not token:
        raise AuthError("InvalidAccessKeyId", "A temporary SecretId needs x-cos-security-token.")
    if not hmac.compare_digest(token.encode("utf-8"), credentials.token.encode("utf-8")):
        raise AuthError("InvalidAccessKeyId", "The x-cos-security-token does not belong to the SecretId.")


def _names(value: str) -> List[str]:
    return [name.strip().lower() for name in value.split(";") if name.strip()]


def _http_strings(request: ReceivedRequest, header_list: str, param_list: str) -> List[str]:
    """The HttpStrings the client may have signed: one, or two when ``host`` is signed and has a port.

    Built from the names the lists give, with the request's values, by the documented rule (names encoded,
    lower-cased and SORTED, values encoded) whatever order the lists are in: a client that signs its
    headers in another order does not match.
    """
    param_names = _names(param_list)
    params = list(zip(param_names, _param_values(request, param_names)))
    names = _names(header_list)
    return [
        _listed_http_string(request.method, request.path, params, zip(names, values))
        for values in _header_variants(request, names)
    ]


def _param_values(request: ReceivedRequest, names: Sequence[str]) -> List[str]:
    by_name: Dict[str, str] = {}
    for key, value in request.query:
        by_name.setdefault(url_encode(key).lower(), value)
    values = []
    for name in names:
        if name not in by_name:
            raise AuthError("SignatureDoesNotMatch", f"The signed parameter {name} is not in the request.")
        values.append(by_name[name])
    return values


def _header_variants(request: ReceivedRequest, names: Sequence[str]) -> List[List[str]]:
    values = []
    for name in names:
        value = request.header(name)
        if value is None:
            raise AuthError("SignatureDoesNotMatch", f"The signed header {name} is not in the request.")
        values.append(_wire_text(value))
    variants = [values]
    if "host" in names:
        index = names.index("host")
        host = values[index]
        without_port = _strip_port(host)
        if without_port != host:
            variants.append(values[:index] + [without_port] + values[index + 1 :])
    return variants


def _strip_port(host: str) -> str:
    if host.startswith("["):  # IPv6 literal
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() else host


def wire_text(value: str) -> str:
    """A received header value as the UTF-8 text the client signed (``http.client`` decodes latin-1)."""
    return _wire_text(value)


def _wire_text(value: str) -> str:
    # http.client decodes header bytes as latin-1; clients sign the UTF-8 text they meant to send.
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value
