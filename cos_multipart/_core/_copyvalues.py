"""Server-side copy as values: what to copy and how (:class:`CopyConfig`), what the copy machine asks for
(its actions) and what it gives back (:class:`CopyResult`). Pure: no client, no secret in an action.

The copy machine (:mod:`cos_multipart._core._copyflow`) also asks for the upload machine's own actions where they
mean the same (Lock, checkpoints, Complete, Abort, DeleteObject, CombineCrc64, progress): an executor does them
the same way.
"""

from __future__ import annotations

from ._defaults import DEFAULT_COPY_THRESHOLD

import dataclasses
from dataclasses import dataclass, field
from typing import Optional, Tuple

from .._protocol.copy_ops import MetadataDirective
from .._protocol.errors import CosValidationError
from .._protocol.limits import MAX_COPY_OBJECT_SIZE, MAX_PART_SIZE, METADATA_DIRECTIVES
from .._protocol.options import ObjectOptions
from .._protocol.sse import EncryptionLike, SseC, coerce
from .._protocol.validation import positive_int
from ._config import DEFAULT_CONCURRENCY

__all__ = [
    "CopyConfig", "CopyObject", "CopyPart", "CopyResult", "DEFAULT_COPY_PART_SIZE", "DEFAULT_COPY_THRESHOLD",
    "HeadDestination", "HeadSource", "InitiateCopy",
]  # fmt: skip

#: A single PUT Object - Copy up to this size (COS's and OSS's single copies are fast; parts of 64 MB in
#: parallel are faster above it). At most the service's single-copy limit (COS 5 GB, OSS 1 GB).
#: Parts of a multipart copy: no bytes pass through the client, so parts can be large (fewer requests).
DEFAULT_COPY_PART_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True)
class CopyConfig:
    """How to copy.

    Attributes:
        part_size: Bytes per Upload Part - Copy (``None``: 64 MB, grown when 10,000 parts need more).
        concurrency: Part copies in flight at most.
        threshold: Sources up to this size are copied with one PUT Object - Copy (at most 5 GB; the OSS
            dialect lowers it to its 1 GB); larger ones part by part.
        metadata_directive: ``"Copy"`` keeps the source's content type and metadata (a multipart copy
            carries them over itself); ``"Replaced"`` takes ``options``'.
        options: The destination's options (with ``"Copy"``: storage class, ACL, grants, tags, encryption).
        source_sse_c: The source's SSE-C key.
        traffic_limit: Server-side cap per copy request, bit/s.
        forbid_overwrite: Refuse to replace an object at the destination key.
        resume: Keep a checkpoint of a multipart copy, so that a run after a crash copies only missing parts.
        checkpoint_dir: Where checkpoints live.
        abort_on_failure: Abort a failed multipart copy instead of keeping it for a resume.
    """

    part_size: Optional[int] = None
    concurrency: int = DEFAULT_CONCURRENCY
    threshold: int = DEFAULT_COPY_THRESHOLD
    metadata_directive: MetadataDirective = "Copy"
    options: ObjectOptions = field(default_factory=ObjectOptions)
    source_sse_c: EncryptionLike = None
    traffic_limit: Optional[int] = None
    forbid_overwrite: Optional[bool] = None
    resume: bool = True
    checkpoint_dir: Optional[str] = None
    abort_on_failure: bool = False

    def __post_init__(self) -> None:
        if self.part_size is not None:
            positive_int(self.part_size, "part_size")
            if self.part_size > MAX_PART_SIZE:
                raise CosValidationError("part_size", self.part_size, f"at most {MAX_PART_SIZE} bytes (5 GB, 436/8287)")
        positive_int(self.concurrency, "concurrency")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or not 0 <= self.threshold <= MAX_COPY_OBJECT_SIZE:
            raise CosValidationError("threshold", self.threshold, f"0 to {MAX_COPY_OBJECT_SIZE} bytes (5 GB, 436/10881)")
        if self.metadata_directive not in METADATA_DIRECTIVES:
            raise CosValidationError("metadata_directive", self.metadata_directive, f"one of {', '.join(METADATA_DIRECTIVES)}")
        if not isinstance(self.options, ObjectOptions):
            raise CosValidationError("options", type(self.options).__name__, "an ObjectOptions")
        if self.metadata_directive == "Copy":  # the source's content options win: one given would be dropped
            for name in _CONTENT:
                if getattr(self.options, name) is not None:
                    raise CosValidationError(name, getattr(self.options, name), "only with metadata_directive='Replaced' (Copy keeps the source's)")
        source_key = coerce(self.source_sse_c, "source_sse_c")
        if source_key is not None and not isinstance(source_key, SseC):
            raise CosValidationError("source_sse_c", type(source_key).__name__, "SseC(...) or None: only a customer key is needed to read a source")
        object.__setattr__(self, "source_sse_c", source_key)

    @property
    def sse_c(self) -> Optional[SseC]:
        """The destination's SSE-C key (every part copy carries it), or ``None``."""
        option = self.options.sse
        return option if isinstance(option, SseC) else None

    def with_content(self, content: Optional[ObjectOptions]) -> ObjectOptions:
        """The options Initiate gets: ``content`` (the source's content type and metadata, for ``"Copy"``)
        with this copy's storage class, ACL, grants, tags and encryption."""
        if content is None:
            return self.options
        kept = {name: getattr(self.options, name) for name in _NOT_CONTENT}
        return dataclasses.replace(content, **kept)


#: The options a ``Copy`` directive takes from the source.
_CONTENT = ("content_type", "metadata", "cache_control", "content_disposition", "content_encoding", "expires")
#: The options a ``Copy`` directive does not take from the source.
_NOT_CONTENT = ("acl", "storage_class", "tagging", "encryption", "grant_read", "grant_read_acp", "grant_write_acp", "grant_full_control")


@dataclass(frozen=True)
class CopyResult:
    """A verified copy.

    Attributes:
        bucket: The destination bucket.
        key: The destination key.
        source: The source as ``bucket/key[?versionId=]``.
        size: Bytes copied (the destination's size, checked against the source's).
        etag: The destination's ETag.
        crc64: The destination's CRC-64.
        source_crc64: The source's CRC-64, or ``None`` when the service has none for it (an old object):
            then the copy is verified by its size and by the parts' CRC-64 answers only.
        crc64_verified: Whether the destination's CRC-64 was compared with the source's and found equal.
        upload_id: The multipart upload (``None`` for a single copy).
        parts: Parts copied (1 for a single copy).
        parts_reused: Parts a resumed copy did not copy again.
        version_id: The destination's version, in a versioned bucket.
        elapsed: Seconds the copy took.
        request_ids: The request ids of the copy's requests.
    """

    bucket: str
    key: str
    source: str
    size: int
    etag: str
    crc64: Optional[int]
    source_crc64: Optional[int]
    crc64_verified: bool
    upload_id: Optional[str]
    parts: int
    parts_reused: int = 0
    version_id: Optional[str] = None
    elapsed: float = 0.0
    request_ids: Tuple[str, ...] = ()


# --- actions (their outcomes after the arrow) -----------------------------------------------------------------


@dataclass(frozen=True)
class HeadSource:
    """HEAD the source (with its SSE-C key). -> ``ObjectResult`` (size, ETag, CRC-64, headers)"""


@dataclass(frozen=True)
class HeadDestination:
    """HEAD the destination key (with its SSE-C key). -> ``ObjectResult`` (a 404 is the exception)"""


@dataclass(frozen=True)
class CopyObject:
    """ONE PUT Object - Copy of the whole source, pinned to ``etag``. -> ``ObjectResult``"""

    etag: str


@dataclass(frozen=True)
class InitiateCopy:
    """Initiate the destination's multipart upload with the config's options, and ``content`` (the source's
    content type and metadata, for a ``Copy`` directive; no secret). -> ``Initiated``"""

    content: Optional[ObjectOptions]


@dataclass(frozen=True)
class CopyPart:
    """ONE Upload Part - Copy: ``length`` bytes of the source from ``offset`` as part ``number`` of
    ``upload_id``, pinned to the source's ``etag``. -> ``PartResult``"""

    upload_id: str
    number: int
    offset: int
    length: int
    etag: str
