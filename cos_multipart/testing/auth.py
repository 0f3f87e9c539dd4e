"""Verification of COS request signatures, header and pre-signed forms [ref 1.11], as pure functions.

The server rebuilds the HttpString from exactly the names the client listed in ``q-header-list`` and
``q-url-param-list`` (in the order listed, values taken from the request), signs it with the SecretKey the
``q-ak`` maps to, and compares in constant time. Quirks of real clients that must pass:

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
import threading
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import unquote

from ..credentials import Credentials
from ..limits import MAX_CLOCK_SKEW_SECONDS
from ..signer import AUTH_FIELDS, SECURITY_TOKEN_HEADER, SignWindow, sign_key, string_to_sign, url_encode

#: "Request has expired" is the message clients match on to correct their clock [ref 1.9].
EXPIRED_MESSAGE = "Request has expired"


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
        computed = _signature(credentials.secret_key, key_window, sign_window, http)
        if hmac.compare_digest(computed.encode("ascii"), expected):
            return credentials
    raise AuthError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )


def _window(value: str, name: str) -> SignWindow:
    start, sep, end = value.partition(";")
    try:
        if not sep:
            raise ValueError(value)
        return SignWindow(int(start), int(end))
    except ValueError:
        raise AuthError("AccessDenied", f"{name} must be '<start>;<end>' with start < end.") from None


def _check_time(window: SignWindow, now: float) -> None:
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
    """The HttpStrings the client may have signed: one, or two when ``host`` is signed and has a port."""
    params = _canonical(_names(param_list), _param_values(request, _names(param_list)))
    names = _names(header_list)
    strings = []
    for values in _header_variants(request, names):
        headers = _canonical(names, values)
        strings.append(f"{request.method.lower()}\n{request.path}\n{params}\n{headers}\n")
    return strings


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


def _canonical(names: Sequence[str], values: Sequence[str]) -> str:
    return "&".join(f"{name}={url_encode(value)}" for name, value in zip(names, values))


def _signature(secret_key: str, key_window: SignWindow, sign_window: SignWindow, http: str) -> str:
    key = sign_key(secret_key, key_window).encode("ascii")
    return hmac.new(key, string_to_sign(sign_window, http).encode("utf-8"), hashlib.sha1).hexdigest()
