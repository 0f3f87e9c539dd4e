"""What a command-line target names: ``cos://BUCKET/KEY`` (Tencent COS) or ``oss://BUCKET/KEY`` (Aliyun OSS).

The scheme picks the service (its :class:`~cos_multipart.dialect.Dialect`): the header vocabulary, the
signature, the default host, the bucket rule and the environment variables the credentials, region and
endpoint are read from. Everything printed about a target is written back with the same scheme, so that a
line can be copied into the next command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from .dialect import COS, DIALECTS, Dialect
from .errors import CosValidationError

#: The example bucket of each service, for error messages.
_EXAMPLE_BUCKET: Mapping[str, str] = {"cos": "examplebucket-1250000000", "oss": "examplebucket"}
#: ``(region variable, endpoint variable)`` of each service; OSS's are the names Aliyun's own tools read.
_PLACE_ENV: Mapping[str, Tuple[str, str]] = {"cos": ("COS_REGION", "COS_ENDPOINT"), "oss": ("OSS_REGION", "OSS_ENDPOINT")}

SCHEMES: Tuple[str, ...] = tuple(f"{name}://" for name in DIALECTS)
#: How the usage text and errors name a target.
TARGET_FORM = "cos://BUCKET/KEY or oss://BUCKET/KEY"


@dataclass(frozen=True)
class Target:
    """A parsed target.

    Attributes:
        dialect: The service the scheme names.
        bucket: Bucket name (checked by the client, by the service's rule).
        key: Object key or prefix (may be empty where a prefix is allowed).
    """

    dialect: Dialect
    bucket: str
    key: str

    @property
    def scheme(self) -> str:
        """``cos://`` or ``oss://``."""
        return f"{self.dialect.name}://"

    def url(self, key: Optional[str] = None) -> str:
        """``scheme://bucket/key`` for ``key`` (default: this target's own key)."""
        return f"{self.scheme}{self.bucket}/{self.key if key is None else key}"

    @property
    def region_env(self) -> str:
        """The environment variable of the region (``COS_REGION`` / ``OSS_REGION``)."""
        return _PLACE_ENV[self.dialect.name][0]

    @property
    def endpoint_env(self) -> str:
        """The environment variable of the endpoint (``COS_ENDPOINT`` / ``OSS_ENDPOINT``)."""
        return _PLACE_ENV[self.dialect.name][1]


def example(dialect: Dialect = COS, what: str = "dir/file.bin") -> str:
    """An example target of ``dialect``, for messages."""
    return f"{dialect.name}://{_EXAMPLE_BUCKET[dialect.name]}/{what}"


def parse_target(text: str, *, require_key: bool = True) -> Target:
    """``cos://BUCKET/KEY`` or ``oss://BUCKET/KEY`` -> :class:`Target` (the key may be empty when
    ``require_key`` is false).

    Raises:
        CosValidationError: Another scheme, no bucket, or no key where one is required.
    """
    scheme, sep, rest = text.partition("://")
    dialect = DIALECTS.get(scheme.lower()) if sep else None
    if dialect is None:
        raise CosValidationError("target", text, f"{TARGET_FORM}, e.g. {example()} or {example(DIALECTS['oss'])}")
    bucket, _, key = rest.partition("/")
    if not bucket or (require_key and not key):
        raise CosValidationError("target", text, f"{dialect.name}://BUCKET/KEY, e.g. {example(dialect)}")
    return Target(dialect, bucket, key)
