"""Server-side encryption options: SSE-COS, SSE-KMS and SSE-C (customer key) [ref 6].

The mode is chosen at Initiate Multipart Upload; Upload Part takes only the SSE-C headers, and then
mandatorily with the same key [ref 6.2]. :class:`SseC` never shows its key: ``repr``, ``str`` and every
validation error print ``<redacted>`` instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Union

from ._frozen import freeze
from .errors import REDACTED, CosValidationError
from .limits import SSE_C_ALGORITHM, SSE_C_KEY_BYTES, SSE_COS_ALGORITHM, SSE_KMS_ALGORITHM

#: Request headers of 436/7728 [ref 6.1].
HEADER_SSE = "x-cos-server-side-encryption"
HEADER_KMS_KEY_ID = "x-cos-server-side-encryption-cos-kms-key-id"
HEADER_KMS_CONTEXT = "x-cos-server-side-encryption-context"
HEADER_C_ALGORITHM = "x-cos-server-side-encryption-customer-algorithm"
HEADER_C_KEY = "x-cos-server-side-encryption-customer-key"
HEADER_C_KEY_MD5 = "x-cos-server-side-encryption-customer-key-MD5"
SSE_C_HEADERS = (HEADER_C_ALGORITHM, HEADER_C_KEY, HEADER_C_KEY_MD5)
SSE_HEADERS = (HEADER_SSE, HEADER_KMS_KEY_ID, HEADER_KMS_CONTEXT) + SSE_C_HEADERS
_SECRET_HEADERS = frozenset({HEADER_C_KEY.lower()})


@dataclass(frozen=True)
class SseCos:
    """SSE-COS: COS-managed keys, ``x-cos-server-side-encryption: AES256``."""

    def headers(self) -> Dict[str, str]:
        """The Initiate Multipart Upload / PUT Object headers."""
        return {HEADER_SSE: SSE_COS_ALGORITHM}


@dataclass(frozen=True)
class SseKms:
    """SSE-KMS: keys held by Tencent KMS, ``x-cos-server-side-encryption: cos/kms``.

    Args:
        key_id: The KMS CMK id; ``None`` lets COS use the key it creates for the bucket.
        context: Encryption context: a mapping (sent as base64 of its JSON) or an already base64-encoded
            JSON object.
    """

    key_id: Optional[str] = None
    context: Union[Mapping[str, str], str, None] = None

    def __post_init__(self) -> None:
        if self.key_id is not None and (not isinstance(self.key_id, str) or not _is_header_text(self.key_id)):
            raise CosValidationError("SseKms.key_id", self.key_id, "a non-empty printable ASCII string without leading or trailing space")
        # A copy that cannot change, so the option stays hashable and what was validated is what is sent.
        object.__setattr__(self, "context", freeze(self.context))
        _encode_context(self.context)

    def headers(self) -> Dict[str, str]:
        """The Initiate Multipart Upload / PUT Object headers."""
        result = {HEADER_SSE: SSE_KMS_ALGORITHM}
        if self.key_id:
            result[HEADER_KMS_KEY_ID] = self.key_id
        context = _encode_context(self.context)
        if context:
            result[HEADER_KMS_CONTEXT] = context
        return result


@dataclass(frozen=True)
class SseC:
    """SSE-C: the caller's own AES-256 key, sent with Initiate and with every Upload Part.

    Args:
        key: The 32-byte key, raw or base64-encoded.
        key_md5: Base64 MD5 of the raw key; computed when omitted, checked when given.
        algorithm: Only ``"AES256"`` exists (436/7728).

    Raises:
        CosValidationError: The key is not 32 bytes, ``key_md5`` does not match, or the algorithm is not
            AES256. The key never appears in the error.
    """

    key: Union[bytes, str] = field(repr=False)
    key_md5: Optional[str] = None
    algorithm: str = SSE_C_ALGORITHM

    def __post_init__(self) -> None:
        raw = _raw_key(self.key)
        if self.algorithm != SSE_C_ALGORITHM:
            raise CosValidationError(HEADER_C_ALGORITHM, self.algorithm, f"'{SSE_C_ALGORITHM}' (436/7728)")
        digest = base64.b64encode(hashlib.md5(raw).digest()).decode("ascii")
        if self.key_md5 is not None and self.key_md5 != digest:
            raise CosValidationError(
                HEADER_C_KEY_MD5, self.key_md5, "base64 of the MD5 of the 32-byte key (does not match the key)"
            )
        object.__setattr__(self, "key", base64.b64encode(raw).decode("ascii"))
        object.__setattr__(self, "key_md5", digest)

    def headers(self) -> Dict[str, str]:
        """The SSE-C trio, for Initiate, Upload Part, PUT, HEAD and GET Object."""
        return {HEADER_C_ALGORITHM: self.algorithm, HEADER_C_KEY: str(self.key), HEADER_C_KEY_MD5: str(self.key_md5)}

    def __repr__(self) -> str:
        return f"SseC(key={REDACTED}, key_md5={self.key_md5!r})"

    __str__ = __repr__


Encryption = Union[SseCos, SseKms, SseC]
#: What the client accepts for ``encryption=``/``sse_c=``: an option object or raw SSE headers.
EncryptionLike = Union[SseCos, SseKms, SseC, Mapping[str, str], None]


def from_headers(headers: Mapping[Any, Any]) -> Optional[Encryption]:
    """Turn a raw SSE header mapping (as a user may copy from the docs) into an option object.

    Names are matched case-insensitively; every name must be one of the SSE headers of 436/7728.

    Raises:
        CosValidationError: Unknown name, SSE-C trio incomplete or inconsistent, or mixed modes.
    """
    lowered: Dict[str, str] = {}
    for name, value in headers.items():
        canonical = name.lower() if isinstance(name, str) else name
        if canonical not in {header.lower() for header in SSE_HEADERS}:
            raise CosValidationError("encryption", name, f"an SSE header: {', '.join(SSE_HEADERS)}")
        if not isinstance(value, str):
            shown = REDACTED if canonical in _SECRET_HEADERS else value
            raise CosValidationError(name, shown, "a string")
        lowered[canonical] = value
    trio = [lowered.get(header.lower()) for header in SSE_C_HEADERS]
    if any(value is not None for value in trio):
        if HEADER_SSE in lowered or HEADER_KMS_KEY_ID in lowered or HEADER_KMS_CONTEXT in lowered:
            raise CosValidationError("encryption", _redacted(lowered), "SSE-C headers cannot be mixed with SSE-COS/KMS")
        algorithm, key, key_md5 = trio
        if algorithm is None or key is None or key_md5 is None:
            # All or none: COS needs the trio on the wire, and a partial set is a caller's mistake.
            raise CosValidationError(
                "encryption",
                _redacted(lowered),
                f"all three SSE-C headers together: {', '.join(SSE_C_HEADERS)} (436/7728)",
            )
        return SseC(key, key_md5, algorithm)
    mode = lowered.get(HEADER_SSE)
    if mode is None:
        if lowered:
            raise CosValidationError("encryption", dict(lowered), f"{HEADER_SSE} is required with KMS headers")
        return None
    if mode == SSE_COS_ALGORITHM:
        if len(lowered) > 1:
            raise CosValidationError("encryption", dict(lowered), "SSE-COS takes no other SSE header")
        return SseCos()
    if mode == SSE_KMS_ALGORITHM:
        return SseKms(lowered.get(HEADER_KMS_KEY_ID), lowered.get(HEADER_KMS_CONTEXT))
    raise CosValidationError(HEADER_SSE, mode, f"'{SSE_COS_ALGORITHM}' or '{SSE_KMS_ALGORITHM}' (436/7728)")


def coerce(value: EncryptionLike, field_name: str = "encryption") -> Optional[Encryption]:
    """An option object from ``value`` (option, raw header mapping or ``None``).

    Raises:
        CosValidationError: Anything else.
    """
    if value is None or isinstance(value, (SseCos, SseKms, SseC)):
        return value
    if isinstance(value, Mapping):
        return from_headers(value)
    raise CosValidationError(field_name, type(value).__name__, "SseCos(), SseKms(...), SseC(...), a header mapping or None")


def _raw_key(key: object) -> bytes:
    allowed = f"{SSE_C_KEY_BYTES} raw bytes or the base64 of {SSE_C_KEY_BYTES} bytes (436/7728)"
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
        if len(raw) == SSE_C_KEY_BYTES:
            return raw
        # Fall through: bytes may also hold the base64 text of the key.
        try:
            key = raw.decode("ascii")
        except UnicodeDecodeError:
            raise CosValidationError(HEADER_C_KEY, REDACTED, allowed) from None
    if not isinstance(key, str):
        raise CosValidationError(HEADER_C_KEY, REDACTED, allowed)
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise CosValidationError(HEADER_C_KEY, REDACTED, allowed) from None
    if len(decoded) != SSE_C_KEY_BYTES:
        raise CosValidationError(HEADER_C_KEY, REDACTED, allowed)
    return decoded


def _encode_context(context: Union[Mapping[str, str], str, None]) -> str:
    allowed = "a mapping (sent as base64 JSON) or the base64 of a JSON object"
    if context is None:
        return ""
    if isinstance(context, Mapping):
        try:
            text = json.dumps(dict(context), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            raise CosValidationError("SseKms.context", context, allowed) from None
        return base64.b64encode(text.encode("utf-8")).decode("ascii")
    if isinstance(context, str):
        try:
            decoded = json.loads(base64.b64decode(context, validate=True).decode("utf-8"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise CosValidationError("SseKms.context", context, allowed) from None
        if isinstance(decoded, dict):
            return context
    raise CosValidationError("SseKms.context", context, allowed)


def _is_header_text(value: str) -> bool:
    # No leading/trailing space: HTTP hops may strip it, and the value is signed as given.
    return bool(value) and all(" " <= char <= "~" for char in value) and value == value.strip(" ")


def _redacted(headers: Mapping[str, str]) -> Dict[str, str]:
    return {name: REDACTED if name in _SECRET_HEADERS else value for name, value in headers.items()}
