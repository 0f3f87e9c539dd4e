"""Verification of Aliyun OSS signature V4 (``OSS4-HMAC-SHA256``), header and pre-signed forms, as pure
functions [oss-api 1].

Written from the reference, not from :mod:`cos_multipart._protocol.oss_signer`: the server is an independent oracle,
so a rule misread on the client side fails a test instead of being mirrored. The server rebuilds the
canonical request from the *logical* bucket and key (``/bucket/key``, whatever the request path looked
like), every query parameter but ``x-oss-signature``, the default-signed headers (every ``x-oss-*``,
``content-type``, ``content-md5``) plus the ones the client listed in ``AdditionalHeaders``, and the
payload line; derives the signing key from ``"aliyun_v4" + secret`` and the scope, and compares in constant
time. Quirks of real clients that must pass [oss-api 1.6]:

* the three fields of the ``Authorization`` header in any order, with or without a space after each comma
  (the v2 SDKs write none and put ``AdditionalHeaders`` second; oss2 writes ``, `` and puts it last);
* keys sent with ``/`` as ``%2F`` (oss2) and signed with ``/`` (the path is decoded before it is re-encoded).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from .._protocol.credentials import Credentials
from .auth import EXPIRED_MESSAGE, AuthError, Keyring, wire_text

ALGORITHM = "OSS4-HMAC-SHA256"
#: "Scope = SignDate/Region/oss/aliyun_v4_request" [oss-api 1.1].
PRODUCT = "oss"
TERMINATOR = "aliyun_v4_request"
#: The only documented ``x-oss-content-sha256`` value (EC 0002-00000214) [oss-api 1.5].
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_HEADER = "x-oss-date"
CONTENT_SHA256_HEADER = "x-oss-content-sha256"
SECURITY_TOKEN = "x-oss-security-token"  # noqa: S105 - a header name, not a secret
SIGNATURE_PARAM = "x-oss-signature"
#: "the request time differs from the server's by more than 15 minutes" -> RequestTimeTooSkewed [oss-api 1.7].
MAX_SKEW_SECONDS = 15 * 60
#: ``x-oss-expires`` of a pre-signed URL: "1 ... 604800 (7 days)" (EC 0002-00000232) [oss-api 1.9].
MAX_EXPIRES_SECONDS = 604_800
#: "all x-oss-* headers, plus content-type and content-md5, are always signed when present" [oss-api 1.4].
DEFAULT_SIGNED = ("content-type", "content-md5")
_DATE_PATTERN = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SIGN_DATE_PATTERN = re.compile(r"[0-9]{8}")
_SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")

#: Fine-grained error codes (``<EC>``, ``x-oss-ec``) of the signature errors the reference names [oss-api 1, 7].
EC_SIGNATURE_MISMATCH = "0002-00000201"
EC_SIGN_DATE = "0002-00000212"
EC_SCOPE_TERMINATOR = "0002-00000213"
EC_CONTENT_SHA256 = "0002-00000214"
EC_REGION = "0002-00000226"
EC_EXPIRES = "0002-00000232"
EC_DATE_FORMAT = "0002-00000502"


@dataclass(frozen=True)
class SignedRequest:
    """What an OSS V4 signature covers, as the server decoded it.

    Attributes:
        method: HTTP method.
        bucket: The bucket the request is for (from the Host or the path), ``""`` for none.
        key: The decoded object key, ``""`` for bucket requests.
        params: Query parameters, decoded, in the order received.
        headers: Header name (lowercase) to value as received, first occurrence.
    """

    method: str
    bucket: str
    key: str
    params: Tuple[Tuple[str, str], ...]
    headers: Mapping[str, str]

    def param(self, name: str) -> Optional[str]:
        """The value of query parameter ``name`` (exact name), or ``None``."""
        for key, value in self.params:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Credential:
    """The ``Credential`` of a V4 signature: ``AccessKeyId/SignDate/Region/oss/aliyun_v4_request``."""

    access_key_id: str
    sign_date: str
    region: str

    @property
    def scope(self) -> str:
        """``SignDate/Region/oss/aliyun_v4_request``."""
        return f"{self.sign_date}/{self.region}/{PRODUCT}/{TERMINATOR}"


@dataclass(frozen=True)
class _Presented:
    """The signature fields a request presents, from the header or the query string."""

    credential: Credential
    additional: Tuple[str, ...]
    signature: str
    date: str
    in_query: bool


def verify_v4(request: SignedRequest, keyring: Keyring, now: float, *, region: str) -> Credentials:
    """Check the V4 signature of ``request``; return the credentials it was made with.

    Args:
        request: What was received.
        keyring: The accepted keys.
        now: The server's current Unix time.
        region: The region the request must be scoped to (the Host's, or the server's).

    Raises:
        AuthError: No signature or a V1 one (403 AccessDenied), a malformed ``Credential`` or time
            (400 InvalidArgument), an unknown AccessKeyId or a temporary key without its token (403
            InvalidAccessKeyId), a time more than 15 minutes off (403 RequestTimeTooSkewed), an expired
            pre-signed URL (403 AccessDenied "Request has expired"), a mismatch (403 SignatureDoesNotMatch,
            with the canonical request and string to sign the server computed).
    """
    presented = _presented(request)
    credential = presented.credential
    if credential.region != region:
        raise AuthError(
            "SignatureDoesNotMatch",
            f"The region in the credential ({credential.region!r}) does not match the region {region!r}; "
            "use the region ID (cn-hangzhou), not the OSS region ID (oss-cn-hangzhou).",
            ec=EC_REGION,
        )
    credentials = keyring.get(credential.access_key_id)
    if credentials is None:
        raise AuthError("InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
    signed_at = _parse_date(presented.date)
    if presented.date[:8] != credential.sign_date:
        raise AuthError(
            "SignatureDoesNotMatch", "The SignDate of the credential must be the date of x-oss-date.", ec=EC_SIGN_DATE
        )
    _check_time(request, presented, signed_at, now)
    _check_token(request, presented, credentials)
    canonical = canonical_request(request, presented.additional, in_query=presented.in_query)
    to_sign = string_to_sign(presented.date, credential.scope, canonical)
    expected = signature(credentials.secret_key, credential.sign_date, credential.region, to_sign)
    if not hmac.compare_digest(expected.encode("ascii"), presented.signature.encode("ascii", "replace")):
        raise AuthError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            ec=EC_SIGNATURE_MISMATCH,
            details=(("CanonicalRequest", canonical), ("StringToSign", to_sign)),
        )
    return credentials


# --- the algorithm [oss-api 1.1-1.5] ------------------------------------------------------------------


def canonical_uri(bucket: str, key: str) -> str:
    """``/bucket/key`` from the logical names, UTF-8, ``/`` and ``A-Za-z0-9-_.~`` kept, the rest ``%XX``
    upper-case; ``/bucket/`` for a bucket request, ``/`` without a bucket [oss-api 1.2]."""
    if not bucket:
        return "/"
    return quote(f"/{bucket}/{key}", safe="/")


def canonical_query(params: Sequence[Tuple[str, str]]) -> str:
    """Every parameter but ``x-oss-signature``, name and value encoded with ``/`` too, sorted, empty values
    as the bare name (``uploads``), joined with ``&`` [oss-api 1.3]."""
    encoded = sorted(
        (quote(name, safe=""), quote(value, safe="")) for name, value in params if name != SIGNATURE_PARAM
    )
    return "&".join(name if not value else f"{name}={value}" for name, value in encoded)


def signed_headers(headers: Mapping[str, str], additional: Sequence[str]) -> List[Tuple[str, str]]:
    """The ``(name, trimmed value)`` pairs signed: the default-signed ones present and the listed ones
    present, sorted by name [oss-api 1.4]."""
    listed = set(additional)
    pairs = [
        (name, wire_text(value).strip())
        for name, value in headers.items()
        if name.startswith("x-oss-") or name in DEFAULT_SIGNED or name in listed
    ]
    return sorted(pairs)


def canonical_request(request: SignedRequest, additional: Sequence[str], *, in_query: bool) -> str:
    """The canonical request of ``request`` [oss-api 1.1]."""
    headers = "".join(f"{name}:{value}\n" for name, value in signed_headers(request.headers, additional))
    payload = UNSIGNED_PAYLOAD if in_query else request.headers.get(CONTENT_SHA256_HEADER, UNSIGNED_PAYLOAD)
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.bucket, request.key),
            canonical_query(request.params),
            headers,
            ";".join(additional),
            payload,
        ]
    )


def string_to_sign(date: str, scope: str, canonical: str) -> str:
    """``OSS4-HMAC-SHA256 \\n x-oss-date \\n scope \\n hex(SHA256(canonical request))`` (4 lines, no
    trailing newline) [oss-api 1.1]."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{date}\n{scope}\n{digest}"


def signing_key(secret_key: str, sign_date: str, region: str) -> bytes:
    """HMAC-SHA256 chain from ``"aliyun_v4" + secret`` over SignDate, Region, ``oss``, ``aliyun_v4_request``
    (raw bytes fed forward) [oss-api 1.1]."""
    key = ("aliyun_v4" + secret_key).encode("utf-8")
    for message in (sign_date, region, PRODUCT, TERMINATOR):
        key = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
    return key


def signature(secret_key: str, sign_date: str, region: str, to_sign: str) -> str:
    """The 64 lowercase hex characters of the signature."""
    key = signing_key(secret_key, sign_date, region)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# --- what the request presents [oss-api 1.6, 1.9] ----------------------------------------------------


def _presented(request: SignedRequest) -> _Presented:
    header = request.headers.get("authorization")
    if header is not None and header.startswith(ALGORITHM + " "):
        return _from_header(request, header[len(ALGORITHM) + 1 :])
    if request.param("x-oss-signature-version") == ALGORITHM:
        return _from_query(request)
    if header is not None or request.param("OSSAccessKeyId") is not None:
        raise AuthError("AccessDenied", "Only signature V4 (OSS4-HMAC-SHA256) is accepted by this server.")
    raise AuthError("AccessDenied", "You have no right to access this object because of bucket acl.")


def _from_header(request: SignedRequest, value: str) -> _Presented:
    fields: Dict[str, str] = {}
    for item in value.split(","):
        name, sep, text = item.strip().partition("=")
        if not sep or name in fields:
            raise _malformed(f"The Authorization field {item.strip()!r} is not Name=value or is repeated.")
        fields[name] = text.strip()
    unknown = set(fields) - {"Credential", "AdditionalHeaders", "Signature"}
    if unknown or "Credential" not in fields or "Signature" not in fields:
        raise _malformed("The Authorization header must carry Credential, Signature and optionally AdditionalHeaders.")
    date = request.headers.get(DATE_HEADER)
    if date is None:
        raise _malformed("Signature V4 needs the x-oss-date header.", ec=EC_DATE_FORMAT)
    sha256 = request.headers.get(CONTENT_SHA256_HEADER)
    if sha256 is None or sha256.strip() != UNSIGNED_PAYLOAD:
        raise _malformed("Set the x-oss-content-sha256 header to UNSIGNED-PAYLOAD.", ec=EC_CONTENT_SHA256)
    return _Presented(
        credential=_credential(fields["Credential"]),
        additional=_additional(fields.get("AdditionalHeaders", "")),
        signature=fields["Signature"],
        date=date.strip(),
        in_query=False,
    )


def _from_query(request: SignedRequest) -> _Presented:
    values = {
        name: request.param(f"x-oss-{name}") for name in ("credential", "date", "expires", "signature")
    }
    missing = [f"x-oss-{name}" for name, value in values.items() if value is None]
    if missing:
        raise _malformed(f"The pre-signed URL is missing {', '.join(missing)}.")
    return _Presented(
        credential=_credential(values["credential"] or ""),
        additional=_additional(request.param("x-oss-additional-headers") or ""),
        signature=values["signature"] or "",
        date=values["date"] or "",
        in_query=True,
    )


def _credential(value: str) -> Credential:
    pieces = value.rsplit("/", 4)
    if len(pieces) != 5 or not pieces[0]:
        raise _malformed("Credential must be AccessKeyId/SignDate/Region/oss/aliyun_v4_request.", ec=EC_SCOPE_TERMINATOR)
    access_key_id, sign_date, region, product, terminator = pieces
    if not _SIGN_DATE_PATTERN.fullmatch(sign_date):
        raise _malformed(f"The SignDate of the credential must be YYYYMMDD, got {sign_date!r}.", ec=EC_SIGN_DATE)
    if product != PRODUCT or terminator != TERMINATOR:
        raise _malformed("The credential scope must end in /oss/aliyun_v4_request.", ec=EC_SCOPE_TERMINATOR)
    return Credential(access_key_id, sign_date, region)


def _additional(value: str) -> Tuple[str, ...]:
    return tuple(name.strip().lower() for name in value.split(";") if name.strip())


def _parse_date(value: str) -> float:
    if not _DATE_PATTERN.fullmatch(value):
        raise _malformed(f"x-oss-date must be ISO 8601 basic UTC, e.g. 20240115T083000Z, got {value!r}.", ec=EC_DATE_FORMAT)
    try:
        return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise _malformed(f"x-oss-date is not a valid time: {value!r}.", ec=EC_DATE_FORMAT) from None


def _check_time(request: SignedRequest, presented: _Presented, signed_at: float, now: float) -> None:
    if presented.in_query:
        expires_text = request.param("x-oss-expires") or ""
        if not expires_text.isdigit() or not 1 <= int(expires_text) <= MAX_EXPIRES_SECONDS:
            raise _malformed(f"x-oss-expires must be 1 to {MAX_EXPIRES_SECONDS} seconds, got {expires_text!r}.", ec=EC_EXPIRES)
        if now > signed_at + int(expires_text):
            raise AuthError("AccessDenied", EXPIRED_MESSAGE)
        if signed_at > now + MAX_SKEW_SECONDS:
            raise _skewed()
        return
    if abs(now - signed_at) > MAX_SKEW_SECONDS:
        raise _skewed()


def _check_token(request: SignedRequest, presented: _Presented, credentials: Credentials) -> None:
    if not credentials.token:
        return
    token = request.param(SECURITY_TOKEN) if presented.in_query else request.headers.get(SECURITY_TOKEN)
    if not token:
        raise AuthError("InvalidAccessKeyId", "A temporary AccessKeyId needs x-oss-security-token.")
    if not hmac.compare_digest(token.encode("utf-8"), credentials.token.encode("utf-8")):
        raise AuthError("InvalidAccessKeyId", "The x-oss-security-token does not belong to the AccessKeyId.")


def _malformed(message: str, *, ec: str = "") -> AuthError:
    # Old OSS documentation: a malformed Authorization is 400 InvalidArgument [oss-api 1.10, unconfirmed].
    return AuthError("InvalidArgument", message, status=400, ec=ec)


def _skewed() -> AuthError:
    return AuthError("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
