"""What a command-line target names: ``cos://BUCKET/KEY`` (Tencent COS) or ``oss://BUCKET/KEY`` (Aliyun OSS).

The scheme picks the service (its :class:`~cos_multipart._protocol.dialect.Dialect`): the header vocabulary, the
signature, the default host, the bucket rule and the environment variables the credentials, region and
endpoint are read from. Everything printed about a target is written back with the same scheme, so that a
line can be copied into the next command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Optional, Tuple

from .._protocol.errors import CosValidationError

if TYPE_CHECKING:  # the dialects (and the signers they name) load when a target is parsed, not for --help
    from .._protocol.dialect import Dialect

#: The example bucket of each service, for error messages.
_EXAMPLE_BUCKET: Mapping[str, str] = {"cos": "examplebucket-1250000000", "oss": "examplebucket"}
#: ``(region variable, endpoint variable)`` of each service; OSS's are the names Aliyun's own tools read.
_PLACE_ENV: Mapping[str, Tuple[str, str]] = {"cos": ("COS_REGION", "COS_ENDPOINT"), "oss": ("OSS_REGION", "OSS_ENDPOINT")}

#: The schemes of ``_protocol.dialect.DIALECTS`` (tests/test_cli_startup.py keeps the two equal).
SCHEMES: Tuple[str, ...] = ("cos://", "oss://")
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


def example(dialect: Optional[Dialect] = None, what: str = "dir/file.bin") -> str:
    """An example target of ``dialect`` (default: COS), for messages."""
    name = "cos" if dialect is None else dialect.name
    return f"{name}://{_EXAMPLE_BUCKET[name]}/{what}"


def parse_target(text: str, *, require_key: bool = True) -> Target:
    """``cos://BUCKET/KEY`` or ``oss://BUCKET/KEY`` -> :class:`Target` (the key may be empty when
    ``require_key`` is false).

    Raises:
        CosValidationError: Another scheme, no bucket, or no key where one is required.
    """
    from .._protocol.dialect import DIALECTS

    scheme, sep, rest = text.partition("://")
    dialect = DIALECTS.get(scheme.lower()) if sep else None
    if dialect is None:
        raise CosValidationError("target", text, f"{TARGET_FORM}, e.g. {example()} or {example(DIALECTS['oss'])}")
    bucket, _, key = rest.partition("/")
    if not bucket or (require_key and not key):
        raise CosValidationError("target", text, f"{dialect.name}://BUCKET/KEY, e.g. {example(dialect)}")
    return Target(dialect, bucket, key)


@dataclass(frozen=True)
class Scope:
    """What a target covers for a command that reaches more than one key (``ls``, ``rm -r``, ``uploads``;
    ``upload -r`` and ``sync`` write under :attr:`prefix`). Decided by :func:`scope_of` alone.

    Attributes:
        prefix: Every key starting with it is covered (``"t/"`` for ``cos://B/t`` and ``cos://B/t/``; ``""``
            for the whole bucket; the typed text itself with ``--raw-prefix``).
        exact: A key the target names itself and that is covered too (``"t"`` for ``cos://B/t``), or ``None``.
    """

    prefix: str
    exact: Optional[str] = None

    def covers(self, key: str) -> bool:
        """Whether ``key`` is within the scope (``tree/`` and ``tt`` are not within ``cos://B/t``)."""
        return key == self.exact or key.startswith(self.prefix)


def folder_of(key: str) -> str:
    """The folder a key names as a prefix: ``"t"`` and ``"t/"`` -> ``"t/"``; ``""`` (the bucket) stays ``""``."""
    return key if not key or key.endswith("/") else key + "/"


def scope_of(target: Target, *, raw_prefix: bool = False) -> Scope:
    """The one rule for what a target covers below it.

    ``cos://B/t`` and ``cos://B/t/`` both mean the folder ``t/`` and everything below it; ``cos://B/t`` also
    names the object ``t`` itself (if there is one), ``cos://B/t/`` does not. ``tree/`` and ``tt`` are never
    covered: a raw string prefix needs ``raw_prefix`` (the ``--raw-prefix`` flag), whose name says so.
    """
    if raw_prefix:
        return Scope(target.key)
    exact = target.key if target.key and not target.key.endswith("/") else None
    return Scope(folder_of(target.key), exact)
