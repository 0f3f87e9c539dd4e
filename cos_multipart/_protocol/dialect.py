"""Which service a client speaks: Tencent COS (the default) or Aliyun OSS, as a value.

The two services share the multipart protocol (S3-style XML, Initiate / Upload Part / Complete / Abort /
List Parts, CRC-64/XZ, part numbers 1..10,000) and differ in a few well-defined places. Each difference is a
field of :class:`Dialect`, read by the code that needs it, so that no builder, parser or driver asks "is
this OSS?":

* the header vocabulary: the builders of :mod:`cos_multipart._protocol.operations` write the package's neutral
  header names (COS's, ``x-cos-*``); :meth:`Dialect.to_wire` renames them for the service (``x-oss-*``,
  ``x-oss-object-acl``, ...) and refuses the ones it does not have (SSE-C, grants, ``psize``/``pnum``
  guards on OSS), and :meth:`Dialect.from_wire` adds the neutral names to an answer's headers (keeping the
  service's own), so parsers read ``x-cos-hash-crc64ecma`` whichever service answered;
* the signer (:attr:`Dialect.signer`): COS ``q-sign-algorithm=sha1`` or OSS ``OSS4-HMAC-SHA256``;
* the limits (part sizes, key length), the default host, bucket naming and the credential variables;
* the integrity scheme (:attr:`Dialect.integrity`): which checksum parts and objects are verified with, its
  neutral header and how part values combine (:data:`~cos_multipart._protocol.integrity.CRC64_ECMA` for both).

COS's behaviour is exactly what it was before dialects: its renames are empty and its prefix is ``x-cos-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, Mapping, Optional, Pattern, Tuple

from . import oss_signer
from .credentials import COS_ENV, Credentials, EnvNames
from .errors import CosValidationError
from .integrity import CRC64_ECMA, IntegrityScheme
from .limits import (
    MAX_BUCKET_HOST_LENGTH,
    MAX_KEY_BYTES,
    MAX_PART_NUMBER,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    OSS_MAX_KEY_BYTES,
    OSS_MIN_PART_SIZE,
    SIGN_SKEW_SECONDS,
)
from .models import HttpCall
from .presign_parts import PartPresigner, presign_part_cos, presign_part_oss4
from .signer import SECURITY_TOKEN_HEADER, SignWindow, presign_url, select_headers, sign

if TYPE_CHECKING:  # pragma: no cover
    from .endpoint import Endpoint

#: The neutral header prefix: builders write these names and parsers read them.
NEUTRAL_PREFIX = "x-cos-"

#: COS's 400 error code of a body that does not match its ``Content-MD5`` [cos-api 4: "Content-MD5 does not
#: match body"]; a malformed ``Content-MD5`` is :data:`INVALID_DIGEST` on COS.
BAD_DIGEST = "BadDigest"
#: OSS's 400 error code of a body that does not match its ``Content-MD5`` [oss-api 3.2, 5.3, 7]; on COS the code of
#: a malformed ``Content-MD5``. OSS documents no separate code for a malformed one (the local server answers
#: InvalidDigest for both): this package's ``Content-MD5`` is made from the bytes it sends, never malformed, so
#: on OSS the code is read as a mismatch.
INVALID_DIGEST = "InvalidDigest"

#: ``(call with wire headers, credentials, endpoint, now (clock-corrected), sign_expires) -> headers to send``.
Signer = Callable[[HttpCall, Credentials, "Endpoint", float, int], Dict[str, str]]
#: ``(credentials, endpoint, method, key, now (clock-corrected), expires seconds) -> pre-signed URL``.
Presigner = Callable[[Credentials, "Endpoint", str, str, float, int], str]


def sign_cos(call: HttpCall, credentials: Credentials, endpoint: "Endpoint", now: float, sign_expires: int) -> Dict[str, str]:
    """COS ``q-sign-algorithm=sha1`` [ref 1]: the token header, then ``Authorization`` over the host, the
    standard and ``x-cos-*`` headers and every parameter, valid from ``now`` minus the skew allowance."""
    headers = dict(call.headers)
    if credentials.token:
        headers[SECURITY_TOKEN_HEADER] = credentials.token
    to_sign = select_headers(headers)
    to_sign["host"] = endpoint.host
    if endpoint.bucket_host:  # the endpoint's host names no bucket: the Host sent names it (and is signed)
        headers["Host"] = endpoint.host
    window = SignWindow.around(now, sign_expires, SIGN_SKEW_SECONDS)
    params = {name: value for name, value in call.params}
    headers["Authorization"] = sign(credentials, window, call.method, "/" + call.key, params, to_sign)
    return headers


def presign_cos(credentials: Credentials, endpoint: "Endpoint", method: str, key: str, now: float, expires: int) -> str:
    """A COS pre-signed URL [ref 1.8]: the host and the STS token signed, valid from ``now`` for ``expires`` s.

    The signed host is the one requests send (:attr:`Endpoint.host`): when the endpoint's host names no bucket,
    the bucket's own host, so the URL must be sent with that ``Host`` header; signed for the endpoint's host it
    reached whatever bucket that host serves (a PUT stored the object in another bucket).
    """
    headers = {"Host": endpoint.host} if endpoint.bucket_host else None
    return presign_url(credentials, endpoint.url(key), method=method, window=SignWindow.around(now, expires), headers=headers)


def presign_oss4(credentials: Credentials, endpoint: "Endpoint", method: str, key: str, now: float, expires: int) -> str:
    """An OSS V4 pre-signed URL [oss-api 1.9]: ``x-oss-*`` query parameters, ``x-oss-signature`` last.

    Raises:
        CosValidationError: ``expires`` is over OSS's 7 days.
    """
    try:
        query = oss_signer.presign_query(
            credentials, method=method, bucket=endpoint.bucket or None, key=key, params=(), region=endpoint.region,
            now=now, expires=expires,
        )  # fmt: skip
    except ValueError as error:
        raise CosValidationError("expires", expires, f"1 to {oss_signer.MAX_PRESIGN_SECONDS} seconds (7 days) for OSS") from error
    return f"{endpoint.url(key)}?{oss_signer.encode_query(query)}"


def sign_oss4(call: HttpCall, credentials: Credentials, endpoint: "Endpoint", now: float, sign_expires: int) -> Dict[str, str]:
    """OSS V4 [oss-api 1]: ``x-oss-date`` is ``now``; OSS allows 15 minutes either way, so ``sign_expires``
    has no counterpart in the header form. The canonical URI is the logical ``/bucket/key``; the ``Host``
    sent is signed too (``AdditionalHeaders=host``), so a request cannot be replayed to another bucket's host."""
    del sign_expires  # header-form V4 signatures carry a time, not a window
    return oss_signer.sign_headers(
        credentials,
        method=call.method,
        bucket=endpoint.bucket or None,
        key=call.key or None,
        params=call.params,
        headers={**dict(call.headers), "Host": endpoint.host},
        region=endpoint.region,
        now=now,
        additional=("host",),
    )


@dataclass(frozen=True)
class Dialect:
    """One service's answers to every question on which COS and OSS differ.

    Attributes:
        name: ``"cos"`` or ``"oss"``; also the scheme of command-line targets (``oss://bucket/key``).
        service: How messages name the service.
        header_prefix: ``x-cos-`` or ``x-oss-``.
        renamed_headers: Neutral (COS) header name -> this service's name, or ``None`` when the service has
            no such header (sending it is refused before anything goes out). Others swap the prefix.
        renamed_values: Neutral header name -> {neutral value: this service's value}.
        min_part_size: Smallest part but the last (COS 1 MB, OSS 100 KB).
        max_part_size: Largest part (5 GB for both).
        max_parts: Parts per upload (10,000 for both).
        max_key_bytes: Longest object key in UTF-8 bytes (COS 850, OSS 1023).
        host_template: The default host, from ``bucket`` and ``region``.
        max_host_length: Longest default host, or ``None``.
        bucket_pattern: Bucket names (fullmatch).
        bucket_rule: The bucket rule in words, for errors.
        region_example: A region, for errors.
        credential_env: Where credentials are read from the environment.
        signer: Signs one attempt (see :data:`Signer`).
        supports_sse_c: Customer-provided keys exist (COS) or not (OSS).
        presigner: Makes a pre-signed URL (see :data:`Presigner`).
        integrity: The checksum the service answers for parts and objects (CRC-64/XZ for COS and OSS).
        digest_mismatch: The 400 error code of a body refused for not matching its ``Content-MD5`` (damaged
            on the way: :data:`BAD_DIGEST` on COS, :data:`INVALID_DIGEST` on OSS).
    """

    name: str
    service: str
    header_prefix: str
    min_part_size: int
    max_key_bytes: int
    host_template: str
    bucket_pattern: Pattern[str]
    bucket_rule: str
    region_example: str
    credential_env: EnvNames
    signer: Signer
    presigner: Presigner
    supports_sse_c: bool
    max_host_length: Optional[int] = None
    max_part_size: int = MAX_PART_SIZE
    max_parts: int = MAX_PART_NUMBER
    renamed_headers: Mapping[str, Optional[str]] = field(default_factory=dict)
    renamed_values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    integrity: IntegrityScheme = CRC64_ECMA
    #: Makes a pre-signed Upload Part URL (presigned uploads, issue 26); ``None``: the service has none.
    part_presigner: Optional[PartPresigner] = None
    digest_mismatch: str = BAD_DIGEST

    def __hash__(self) -> int:
        return hash(self.name)

    def check_key(self, key: str) -> str:
        """Refuse a key longer than this service allows; return it. (The other key rules are the same for
        every service and checked by the request builders, which allow the longest key of any service.)

        Raises:
            CosValidationError: The key is longer than :attr:`max_key_bytes` in UTF-8.
        """
        size = len(key.encode("utf-8", "surrogatepass"))
        if size > self.max_key_bytes:
            raise CosValidationError("key", key, f"at most {self.max_key_bytes} bytes in UTF-8 for {self.service}, got {size}")
        return key

    @property
    def crc64_header(self) -> str:
        """The integrity scheme's header on the wire (``x-cos-hash-crc64ecma`` / ``x-oss-hash-crc64ecma``).

        The name stays ``crc64_header`` for callers; it is :attr:`integrity`'s header, renamed for the service.
        """
        return self.wire_name(self.integrity.header)

    @property
    def request_id_header(self) -> str:
        """The request id header on the wire."""
        return self.wire_name(NEUTRAL_PREFIX + "request-id")

    def wire_name(self, neutral: str) -> str:
        """This service's name for the neutral header ``neutral``.

        Raises:
            CosValidationError: The service has no such header.
        """
        lowered = neutral.lower()
        if not lowered.startswith(NEUTRAL_PREFIX):
            return neutral
        if lowered in self.renamed_headers:
            renamed = self.renamed_headers[lowered]
            if renamed is None:
                option = _OPTION_OF_HEADER.get(lowered, neutral)
                raise CosValidationError(option, "(set)", f"an option {self.service} does not have ({neutral}): leave it out")
            return renamed
        return self.header_prefix + neutral[len(NEUTRAL_PREFIX) :]

    @property
    def speaks_neutral(self) -> bool:
        """Whether this service's request headers are the neutral ones (:meth:`to_wire` changes nothing)."""
        return self.header_prefix == NEUTRAL_PREFIX and not self.renamed_headers

    def to_wire(self, headers: Mapping[str, str]) -> Dict[str, str]:
        """A request's neutral headers in this service's vocabulary (names and values).

        Raises:
            CosValidationError: A header the service does not have.
        """
        if self.speaks_neutral:
            return dict(headers)
        wire: Dict[str, str] = {}
        for name, value in headers.items():
            values = self.renamed_values.get(name.lower(), {})
            wire[self.wire_name(name)] = values.get(value, value)
        return wire

    def from_wire(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """An answer's headers plus the neutral name of each of this service's own (``x-oss-request-id``
        is also ``x-cos-request-id``), so that one parser reads every service; COS's come back as they are."""
        if self.header_prefix == NEUTRAL_PREFIX:
            return headers
        lowered = {name.lower(): value for name, value in headers.items()}
        aliases = {
            NEUTRAL_PREFIX + name[len(self.header_prefix) :]: value
            for name, value in lowered.items()
            if name.startswith(self.header_prefix)
        }
        return {**aliases, **lowered}


#: The option a user sets for each neutral header a service may lack: errors name what the user wrote.
_OPTION_OF_HEADER: Mapping[str, str] = {
    "x-cos-grant-read": "grant_read",
    "x-cos-grant-read-acp": "grant_read_acp",
    "x-cos-grant-write-acp": "grant_write_acp",
    "x-cos-grant-full-control": "grant_full_control",
    "x-cos-server-side-encryption-context": "encryption (SseKms context)",
    "x-cos-server-side-encryption-customer-algorithm": "encryption (SseC)",
    "x-cos-server-side-encryption-customer-key": "encryption (SseC)",
    "x-cos-server-side-encryption-customer-key-md5": "encryption (SseC)",
    "x-cos-psize-min": "psize_min",
    "x-cos-psize-max": "psize_max",
    "x-cos-pnum-min": "pnum_min",
    "x-cos-pnum-max": "pnum_max",
    "x-cos-copy-source-server-side-encryption-customer-algorithm": "source_sse_c",
    "x-cos-copy-source-server-side-encryption-customer-key": "source_sse_c",
    "x-cos-copy-source-server-side-encryption-customer-key-md5": "source_sse_c",
}

_COS_BUCKET = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9]+")
_OSS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")

#: Tencent Cloud COS (436/*): the default, unchanged.
COS = Dialect(
    name="cos",
    service="COS",
    header_prefix=NEUTRAL_PREFIX,
    min_part_size=MIN_PART_SIZE,
    max_key_bytes=MAX_KEY_BYTES,
    host_template="{bucket}.cos.{region}.myqcloud.com",
    max_host_length=MAX_BUCKET_HOST_LENGTH,
    bucket_pattern=_COS_BUCKET,
    bucket_rule=(
        "<BucketName>-<APPID>: lowercase letters, digits and '-', not starting or ending with '-', "
        "then '-' and the numeric APPID, e.g. 'examplebucket-1250000000'"
    ),
    region_example="ap-guangzhou",
    credential_env=COS_ENV,
    signer=sign_cos,
    presigner=presign_cos,
    supports_sse_c=True,
    part_presigner=presign_part_cos,
)

#: Aliyun OSS [oss-api]: the same protocol with its own names, signature V4 and a 100 KB part minimum.
OSS = Dialect(
    name="oss",
    service="OSS",
    header_prefix="x-oss-",
    min_part_size=OSS_MIN_PART_SIZE,
    max_key_bytes=OSS_MAX_KEY_BYTES,
    host_template="{bucket}.oss-{region}.aliyuncs.com",
    bucket_pattern=_OSS_BUCKET,
    bucket_rule="3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    region_example="cn-hangzhou",
    credential_env=(("OSS_ACCESS_KEY_ID",), ("OSS_ACCESS_KEY_SECRET",), ("OSS_SESSION_TOKEN",)),
    signer=sign_oss4,
    presigner=presign_oss4,
    supports_sse_c=False,
    part_presigner=presign_part_oss4,
    digest_mismatch=INVALID_DIGEST,
    renamed_headers={
        # The object ACL has its own name on OSS (PutObject, Complete) [oss-api 3.1, 3.7].
        "x-cos-acl": "x-oss-object-acl",
        "x-cos-server-side-encryption-cos-kms-key-id": "x-oss-server-side-encryption-key-id",
        # OSS has no per-grantee ACL headers, no KMS context, no SSE-C [oss-api 6] and no size guards.
        "x-cos-grant-read": None,
        "x-cos-grant-read-acp": None,
        "x-cos-grant-write-acp": None,
        "x-cos-grant-full-control": None,
        "x-cos-server-side-encryption-context": None,
        "x-cos-server-side-encryption-customer-algorithm": None,
        "x-cos-server-side-encryption-customer-key": None,
        "x-cos-server-side-encryption-customer-key-md5": None,
        "x-cos-psize-min": None,
        "x-cos-psize-max": None,
        "x-cos-pnum-min": None,
        "x-cos-pnum-max": None,
        # Nor SSE-C of a copy's source (OSS CopyObject / UploadPartCopy have no such headers).
        "x-cos-copy-source-server-side-encryption-customer-algorithm": None,
        "x-cos-copy-source-server-side-encryption-customer-key": None,
        "x-cos-copy-source-server-side-encryption-customer-key-md5": None,
    },
    renamed_values={
        # SSE-KMS is "KMS" on OSS, "cos/kms" on COS [oss-api 6].
        "x-cos-server-side-encryption": {"cos/kms": "KMS"},
        # The classes both services have, in OSS's spelling [oss-api 9]; others go as given (OSS judges).
        "x-cos-storage-class": {"STANDARD": "Standard", "STANDARD_IA": "IA", "ARCHIVE": "Archive"},
        # A copy's metadata directive: COS's Copy / Replaced are COPY / REPLACE on OSS (OSS CopyObject).
        "x-cos-metadata-directive": {"Copy": "COPY", "Replaced": "REPLACE"},
    },
)

DIALECTS: Mapping[str, Dialect] = {dialect.name: dialect for dialect in (COS, OSS)}
DialectLike = Optional[object]


def dialect_of(value: DialectLike) -> Dialect:
    """A :class:`Dialect` from itself, its name (``"cos"``, ``"oss"``) or ``None`` (COS).

    Raises:
        CosValidationError: Anything else.
    """
    if value is None:
        return COS
    if isinstance(value, Dialect):
        return value
    if isinstance(value, str) and value.lower() in DIALECTS:
        return DIALECTS[value.lower()]
    raise CosValidationError("dialect", value, f"one of {', '.join(sorted(DIALECTS))}, a Dialect, or None (COS)")


def integrity_of(service: Optional[str]) -> IntegrityScheme:
    """The integrity scheme of the dialect named ``service`` (an :class:`~cos_multipart._core.session.UploadSession`
    names its service, not its dialect value); CRC-64/XZ for a name no dialect has (a checkpoint of an older
    release names none)."""
    dialect = DIALECTS.get((service or "").lower())
    return dialect.integrity if dialect is not None else CRC64_ECMA


def loosest_part_limits() -> Tuple[int, int]:
    """``(smallest min_part_size, largest max_part_size)`` over every dialect: what a dialect-neutral value
    (an :class:`~cos_multipart.UploadConfig`, a checkpoint) can check; the client's dialect checks the rest."""
    return min(d.min_part_size for d in DIALECTS.values()), max(d.max_part_size for d in DIALECTS.values())
