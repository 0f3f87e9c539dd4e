"""How a stored object is described: :class:`ObjectOptions`, given to Initiate Multipart Upload and PUT Object.

The fourteen object options are defined here and nowhere else: the client's keyword arguments are sugar
that :func:`resolve` turns into an :class:`ObjectOptions`, and the headers are built by
:meth:`ObjectOptions.headers` (436/7746, 436/7749).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Literal, Mapping, Optional, Tuple, Union

from . import sse as _sse
from . import validation
from ._frozen import FrozenMapping, freeze
from .errors import CosValidationError

#: The object ACLs (436/30752; ``limits.OBJECT_ACLS``), as a type: ``acl="publc"`` fails type checking (and
#: still raises ``CosValidationError`` when run).
Acl = Literal["default", "private", "public-read", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"]
#: The storage classes (436/7746; ``limits.STORAGE_CLASSES``) as a type, upper or lower case (COS reads them
#: case-insensitively; other spellings are accepted when run, but not by the type checker).
StorageClass = Literal[
    "STANDARD", "STANDARD_IA", "ARCHIVE", "DEEP_ARCHIVE", "INTELLIGENT_TIERING", "MAZ_STANDARD", "MAZ_STANDARD_IA",
    "MAZ_INTELLIGENT_TIERING",
    "standard", "standard_ia", "archive", "deep_archive", "intelligent_tiering", "maz_standard", "maz_standard_ia",
    "maz_intelligent_tiering",
]  # fmt: skip

HEADER_STORAGE_CLASS = "x-cos-storage-class"
HEADER_ACL = "x-cos-acl"
HEADER_TAGGING = "x-cos-tagging"
#: Initiate's Content-Type is marked required (436/7746); this is what an unspecified object gets.
DEFAULT_CONTENT_TYPE = "application/octet-stream"

Tagging = Union[Mapping[str, str], str, None]

__all__ = ["Acl", "ObjectOptions", "FrozenMapping", "OPTION_NAMES", "StorageClass", "resolve", "DEFAULT_CONTENT_TYPE"]


@dataclass(frozen=True)
class ObjectOptions:
    """How the stored object is described: metadata, storage class, ACL, tags and encryption.

    Frozen and hashable. Mappings (``metadata``, ``tagging`` when a mapping) are copied into a
    :class:`FrozenMapping` when the options are made, so changing the caller's dict afterwards changes
    nothing; ``encryption`` is kept as the option object (:class:`~cos_multipart._protocol.sse.SseC`... ) even when
    given as raw headers. Every value is validated here, so a bad one fails when the options are made,
    before any request. ``repr`` never shows an SSE-C key.

    Args:
        content_type: MIME type (default ``application/octet-stream``).
        metadata: ``x-cos-meta-*`` values, keyed by suffix or full header name.
        acl: Object ACL, e.g. ``"private"``.
        storage_class: e.g. ``"STANDARD_IA"`` (any case).
        tagging: Mapping or ``"k1=v1&k2=v2"``; at most 10 tags.
        encryption: :class:`~cos_multipart._protocol.sse.SseCos`, :class:`~cos_multipart._protocol.sse.SseKms`,
            :class:`~cos_multipart._protocol.sse.SseC`, or their raw headers.
        cache_control: ``Cache-Control`` to store.
        content_disposition: ``Content-Disposition`` to store.
        content_encoding: ``Content-Encoding`` to store.
        expires: ``Expires`` to store.
        grant_read: ``id="<uin>"[,id="<uin>"...]``.
        grant_read_acp: Same format.
        grant_write_acp: Same format.
        grant_full_control: Same format.

    Raises:
        CosValidationError: A value COS would refuse, naming the field.
    """

    content_type: Optional[str] = None
    metadata: Optional[Mapping[str, str]] = None
    acl: Optional[Acl] = None
    storage_class: Optional[StorageClass] = None
    tagging: Tagging = None
    encryption: _sse.EncryptionLike = None
    cache_control: Optional[str] = None
    content_disposition: Optional[str] = None
    content_encoding: Optional[str] = None
    expires: Optional[str] = None
    grant_read: Optional[str] = None
    grant_read_acp: Optional[str] = None
    grant_write_acp: Optional[str] = None
    grant_full_control: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", freeze(self.metadata))
        object.__setattr__(self, "tagging", freeze(self.tagging))
        object.__setattr__(self, "encryption", _sse.coerce(self.encryption))
        # Validates every option now, on the frozen copies; kept, as the values cannot change: an upload asks
        # for them several times per object (thousands of times in a directory of small files).
        object.__setattr__(self, "_headers", self._build_headers())

    @property
    def sse(self) -> Optional[_sse.Encryption]:
        """The encryption option object, or ``None``."""
        return _sse.coerce(self.encryption)

    def headers(self) -> Dict[str, str]:
        """The Initiate / PUT Object headers of these options (``Content-Type`` always included)."""
        built: Optional[Dict[str, str]] = self.__dict__.get("_headers")  # absent from a pickle of an older version
        return dict(built) if built is not None else self._build_headers()

    def _build_headers(self) -> Dict[str, str]:
        headers: Dict[str, str] = {
            "Content-Type": validation.header_value("content_type", self.content_type or DEFAULT_CONTENT_TYPE)
        }
        validation.optional_header(headers, "Cache-Control", self.cache_control, "cache_control")
        validation.optional_header(headers, "Content-Disposition", self.content_disposition, "content_disposition")
        validation.optional_header(headers, "Content-Encoding", self.content_encoding, "content_encoding")
        validation.optional_header(headers, "Expires", self.expires, "expires")
        headers.update(validation.metadata(self.metadata))
        if self.storage_class is not None:
            headers[HEADER_STORAGE_CLASS] = validation.storage_class(self.storage_class)
        if self.acl is not None:
            headers[HEADER_ACL] = validation.acl(self.acl)
        for name, header in GRANT_HEADERS.items():
            value = getattr(self, name)
            if value is not None:
                headers[header] = validation.grant(value, name)
        tags = validation.tagging(self.tagging)
        if tags is not None:
            headers[HEADER_TAGGING] = tags
        option = self.sse
        if option is not None:
            headers.update(option.headers())
        return headers


#: The option names, in order: the fields of :class:`ObjectOptions`.
OPTION_NAMES: Tuple[str, ...] = tuple(item.name for item in dataclasses.fields(ObjectOptions))
#: ``grant_read`` -> ``x-cos-grant-read`` ... (436/7746).
GRANT_HEADERS = {name: "x-cos-" + name.replace("_", "-") for name in OPTION_NAMES if name.startswith("grant_")}


def resolve(options: Optional[ObjectOptions], given: Mapping[str, Any]) -> ObjectOptions:
    """The options of a call that takes ``options=`` and the keyword options as sugar.

    Args:
        options: The ``options`` argument.
        given: The call's arguments (e.g. its ``locals()``); the option names in it that are not ``None``
            are the keyword options given.

    Raises:
        CosValidationError: ``options`` is not an :class:`ObjectOptions`, both ``options`` and a keyword
            option were given, or a keyword option is invalid.
    """
    keywords = {name: given[name] for name in OPTION_NAMES if given.get(name) is not None}
    if options is None:
        return ObjectOptions(**keywords)
    if not isinstance(options, ObjectOptions):
        raise CosValidationError("options", type(options).__name__, "an ObjectOptions or None")
    if keywords:
        first = next(iter(keywords))
        raise CosValidationError(
            first, "given with options=", f"either options=ObjectOptions(...) or keyword options, not both (put {first} in the ObjectOptions)"
        )
    return options
