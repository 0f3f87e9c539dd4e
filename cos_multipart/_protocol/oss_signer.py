"""The Aliyun OSS request signature V4, ``OSS4-HMAC-SHA256`` [oss-api 1], as pure functions.

Nothing here reads the clock or the network: the signing time is an input (Unix seconds). No HTTP library
is imported. The local server checks these signatures with its own code (``testing/oss_auth.py``) so that
the two implementations test each other.

The algorithm (OSS "Include a V4 signature in the Authorization header", SDK ``signer/v4.py``)::

    CanonicalRequest = Method \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n
                       AdditionalHeaders \\n "UNSIGNED-PAYLOAD"
    Scope            = YYYYMMDD "/" region "/oss/aliyun_v4_request"
    StringToSign     = "OSS4-HMAC-SHA256" \\n x-oss-date \\n Scope \\n hex(SHA256(CanonicalRequest))
    SigningKey       = HMAC chain from "aliyun_v4" + secret over date, region, "oss", "aliyun_v4_request"
    Signature        = hex(HMAC-SHA256(SigningKey, StringToSign))

Unlike the COS signer: the canonical URI is the *logical* ``/bucket/key`` (whatever host or path the request
used), every query parameter is signed with its case kept, and only ``x-oss-*``, ``content-type`` and
``content-md5`` are signed unless more are named in ``AdditionalHeaders``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from .credentials import Credentials

ALGORITHM = "OSS4-HMAC-SHA256"
PRODUCT = "oss"
TERMINATOR = "aliyun_v4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
HEADER_DATE = "x-oss-date"
HEADER_CONTENT_SHA256 = "x-oss-content-sha256"
#: The STS token header; being ``x-oss-*`` it is always signed [oss-api 1.8].
SECURITY_TOKEN_HEADER = "x-oss-security-token"  # noqa: S105 - a header name, not a secret
#: Headers signed whenever present, besides every ``x-oss-*`` [oss-api 1.4].
DEFAULT_SIGNED_HEADERS = frozenset({"content-type", "content-md5"})
#: Longest validity of a presigned URL: 7 days [oss-api 1.9].
MAX_PRESIGN_SECONDS = 604_800

Params = Iterable[Tuple[str, Optional[str]]]


def iso_time(now: float) -> str:
    """``YYYYMMDD'T'HHMMSS'Z'`` (UTC) of Unix time ``now``: the ``x-oss-date`` value [oss-api 1.7]."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(now)))


def scope(date: str, region: str) -> str:
    """``<YYYYMMDD>/<region>/oss/aliyun_v4_request``; ``date`` may be the whole ``x-oss-date``."""
    return f"{date[:8]}/{region}/{PRODUCT}/{TERMINATOR}"


def canonical_uri(bucket: Optional[str], key: Optional[str]) -> str:
    """``/bucket/key`` percent-encoded (``/`` kept, upper-case hex), ``/bucket/`` or ``/`` [oss-api 1.2]."""
    if not bucket:
        return "/"
    return quote(f"/{bucket}/{key or ''}", safe="/")


def canonical_query(params: Params) -> str:
    """Every parameter encoded (``/`` too), sorted, ``k=v`` joined by ``&``; an empty value is the bare key."""
    encoded = sorted((quote(name, safe=""), quote(value or "", safe="")) for name, value in params)
    return "&".join(f"{name}={value}" if value else name for name, value in encoded)


def signed_header_names(headers: Mapping[str, str], additional: Iterable[str] = ()) -> Tuple[List[str], List[str]]:
    """(canonical header names, AdditionalHeaders names): lower-case and sorted.

    Default-signed headers are never listed as additional; an additional header absent from ``headers`` is
    dropped, as the official SDK does.
    """
    present = {name.lower() for name, value in headers.items()}
    extra = sorted({name.lower() for name in additional} & present - {n for n in present if _signed_by_default(n)})
    canonical = sorted({n for n in present if _signed_by_default(n)} | set(extra))
    return canonical, extra


def _signed_by_default(name: str) -> bool:
    return name.startswith("x-oss-") or name in DEFAULT_SIGNED_HEADERS


def canonical_request(
    method: str,
    bucket: Optional[str],
    key: Optional[str],
    params: Params,
    headers: Mapping[str, str],
    additional: Iterable[str] = (),
) -> str:
    """The CanonicalRequest; ``headers`` must already carry ``x-oss-date`` (and the payload header)."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names, extra = signed_header_names(lowered, additional)
    header_block = "".join(f"{name}:{lowered[name]}\n" for name in names)
    payload = lowered.get(HEADER_CONTENT_SHA256, UNSIGNED_PAYLOAD)
    return "\n".join(
        [method.upper(), canonical_uri(bucket, key), canonical_query(params), header_block, ";".join(extra), payload]
    )


def string_to_sign(date: str, region: str, request: str) -> str:
    """``OSS4-HMAC-SHA256\\n<x-oss-date>\\n<scope>\\n<hex sha256(request)>`` (no trailing newline)."""
    digest = hashlib.sha256(request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{date}\n{scope(date, region)}\n{digest}"


def signing_key(secret_key: str, date: str, region: str) -> bytes:
    """The raw 32-byte key of one day and region: the HMAC-SHA256 chain of [oss-api 1.1]."""
    key = _hmac(("aliyun_v4" + secret_key).encode("utf-8"), date[:8])
    for part in (region, PRODUCT, TERMINATOR):
        key = _hmac(key, part)
    return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signature(secret_key: str, date: str, region: str, request: str) -> str:
    """The 64 lower-case hex characters signing ``request`` (a CanonicalRequest)."""
    key = signing_key(secret_key, date, region)
    return hmac.new(key, string_to_sign(date, region, request).encode("utf-8"), hashlib.sha256).hexdigest()


def sign_headers(
    credentials: Credentials,
    *,
    method: str,
    bucket: Optional[str],
    key: Optional[str],
    params: Params,
    headers: Mapping[str, str],
    region: str,
    now: float,
    additional: Sequence[str] = (),
) -> Dict[str, str]:
    """``headers`` plus ``x-oss-date``, ``x-oss-content-sha256``, the STS token and ``Authorization``.

    Args:
        credentials: Who signs (the AccessKeyId appears in the header; secret and token never do, except
            the token in its own header).
        method: HTTP method.
        bucket: The bucket (part of the signature even when the host already names it).
        key: The object key, raw (not percent-encoded); ``None`` for bucket requests.
        params: Query parameters, decoded; ``None`` or ``""`` for a bare name such as ``uploads``.
        headers: The request's headers.
        region: Region ID such as ``cn-hangzhou`` (never ``oss-cn-hangzhou``).
        now: Unix seconds of the signature.
        additional: Other header names to sign (e.g. ``host``), listed in ``AdditionalHeaders``.
    """
    signed = dict(headers)
    date = iso_time(now)
    signed[HEADER_DATE] = date
    signed[HEADER_CONTENT_SHA256] = UNSIGNED_PAYLOAD
    if credentials.token:
        signed[SECURITY_TOKEN_HEADER] = credentials.token
    pairs = list(params)
    request = canonical_request(method, bucket, key, pairs, signed, additional)
    _, extra = signed_header_names({name.lower(): value for name, value in signed.items()}, additional)
    value = f"{ALGORITHM} Credential={credentials.secret_id}/{scope(date, region)}"
    if extra:
        value += ",AdditionalHeaders=" + ";".join(extra)
    signed["Authorization"] = value + ",Signature=" + signature(credentials.secret_key, date, region, request)
    return signed


def presign_query(
    credentials: Credentials,
    *,
    method: str,
    bucket: Optional[str],
    key: Optional[str],
    params: Params,
    region: str,
    now: float,
    expires: int,
    headers: Optional[Mapping[str, str]] = None,
    additional: Sequence[str] = (),
) -> List[Tuple[str, str]]:
    """The query parameters of a presigned URL, in order: the request's own, the ``x-oss-*`` auth ones,
    and ``x-oss-signature`` last [oss-api 1.9]. ``expires`` is seconds after ``now``, 1 to 7 days.

    Raises:
        ValueError: ``expires`` outside 1..604800.
    """
    if isinstance(expires, bool) or not isinstance(expires, int) or not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires {expires!r} must be 1 to {MAX_PRESIGN_SECONDS} seconds (OSS V4 presign)")
    date = iso_time(now)
    query: List[Tuple[str, str]] = [(name, value or "") for name, value in params]
    query += [
        ("x-oss-signature-version", ALGORITHM),
        ("x-oss-date", date),
        ("x-oss-expires", str(expires)),
        ("x-oss-credential", f"{credentials.secret_id}/{scope(date, region)}"),
    ]
    if credentials.token:
        query.append(("x-oss-security-token", credentials.token))
    signed_headers = dict(headers or {})
    _, extra = signed_header_names({name.lower(): value for name, value in signed_headers.items()}, additional)
    if extra:
        query.append(("x-oss-additional-headers", ";".join(extra)))
    # No x-oss-content-sha256 header travels with a presigned URL: the last line is UNSIGNED-PAYLOAD itself.
    request = canonical_request(method, bucket, key, query, signed_headers, additional)
    query.append(("x-oss-signature", signature(credentials.secret_key, date, region, request)))
    return query


def encode_query(query: Sequence[Tuple[str, str]]) -> str:
    """``k=v&...`` with keys and values percent-encoded as OSS's SDKs send them (``/`` encoded, ``%20``)."""
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" if value else quote(name, safe="") for name, value in query)
