"""Pre-signed Upload Part URLs (issue 26), COS and OSS forms, as pure functions: the signing time is an input.

A part URL names the upload and the part in its query (``partNumber``, ``uploadId``), is signed for ``PUT``, and
may sign a ``Content-MD5`` so that the service itself refuses bytes that are not the part's. The STS token, when
the credentials carry one, travels in the query (signed) as the services require; the secret key never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Mapping, Optional, Tuple

from . import oss_signer, validation
from .credentials import Credentials
from .errors import CosValidationError
from .limits import SIGN_SKEW_SECONDS
from .signer import SignWindow, presign_expires, presign_url

if TYPE_CHECKING:  # pragma: no cover
    from .endpoint import Endpoint

#: The header a part URL may sign; the client must then send it with exactly that value.
CONTENT_MD5 = "Content-MD5"

#: ``(credentials, endpoint, key, upload_id, part_number, now, expires, content_md5) -> (url, headers to send)``.
PartPresigner = Callable[[Credentials, "Endpoint", str, str, int, float, int, Optional[str]], Tuple[str, Dict[str, str]]]


def part_params(upload_id: str, part_number: int) -> Tuple[Tuple[str, str], ...]:
    """The query of an Upload Part request: ``partNumber`` and ``uploadId`` (436/7750; OSS UploadPart)."""
    return (("partNumber", str(part_number)), ("uploadId", upload_id))


def required_headers(endpoint: "Endpoint", content_md5: Optional[str]) -> Dict[str, str]:
    """The headers whoever uses a part URL must send: ``Content-MD5`` when signed, and ``Host`` when the
    endpoint's host does not name the bucket (a browser cannot set it: give it an endpoint that does)."""
    headers: Dict[str, str] = {}
    if endpoint.bucket_host:
        headers["Host"] = endpoint.host
    if content_md5 is not None:
        headers[CONTENT_MD5] = content_md5
    return headers


def presign_part_cos(
    credentials: Credentials, endpoint: "Endpoint", key: str, upload_id: str, part_number: int, now: float,
    expires: int, content_md5: Optional[str],
) -> Tuple[str, Dict[str, str]]:  # fmt: skip
    """A COS part URL [ref 1.8]: ``q-*`` fields over the host, both parameters, the token and the MD5."""
    headers = required_headers(endpoint, content_md5)
    signed: Mapping[str, str] = {**headers, "Host": endpoint.host}
    window = SignWindow.around(now, expires, SIGN_SKEW_SECONDS)
    url = presign_url(credentials, endpoint.url(key, part_params(upload_id, part_number)), method="PUT", window=window, headers=signed)
    return url, headers


def presign_part_oss4(
    credentials: Credentials, endpoint: "Endpoint", key: str, upload_id: str, part_number: int, now: float,
    expires: int, content_md5: Optional[str],
) -> Tuple[str, Dict[str, str]]:  # fmt: skip
    """An OSS V4 part URL [oss-api 1.9]: both parameters and the ``x-oss-*`` ones signed, ``Content-MD5``
    signed by default when present.

    Raises:
        CosValidationError: ``expires`` over OSS's 7 days.
    """
    headers = required_headers(endpoint, content_md5)
    signed = {CONTENT_MD5: content_md5} if content_md5 is not None else {}
    try:
        query = oss_signer.presign_query(
            credentials, method="PUT", bucket=endpoint.bucket or None, key=key,
            params=part_params(upload_id, part_number), region=endpoint.region, now=now, expires=expires,
            headers=signed,
        )  # fmt: skip
    except ValueError as error:
        raise CosValidationError("expires", expires, f"1 to {oss_signer.MAX_PRESIGN_SECONDS} seconds (7 days) for OSS") from error
    return f"{endpoint.url(key)}?{oss_signer.encode_query(query)}", headers


def sign_part_url(
    credentials: Credentials, endpoint: "Endpoint", key: str, upload_id: str, part_number: int, *, now: float,
    expires: int, content_md5: Optional[str] = None,
) -> Tuple[str, Dict[str, str]]:  # fmt: skip
    """A pre-signed Upload Part URL of ``endpoint``'s service and the headers its user must send, every
    argument checked first.

    Raises:
        CosValidationError: A bad key, upload id, part number (1 to the service's maximum), ``expires`` (1 to
            604800 s) or ``content_md5``; a service without part URLs.
    """
    from .endpoint import validate_key  # endpoint imports the dialect, which imports this module

    dialect = endpoint.dialect
    if dialect.part_presigner is None:
        raise CosValidationError("endpoint", dialect.name, "a service with pre-signed part URLs (COS, OSS)")
    validate_key(key, max_bytes=dialect.max_key_bytes)
    validation.upload_id(upload_id)
    validation.part_number(part_number)
    seconds = presign_expires(expires)
    if content_md5 is not None:
        validation.content_md5(content_md5)
    return dialect.part_presigner(credentials, endpoint, key, upload_id, part_number, now, seconds, content_md5)
