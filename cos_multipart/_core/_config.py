"""What an upload is asked to do (:class:`UploadConfig`) and what it proves (:class:`UploadResult`)."""

from __future__ import annotations

import dataclasses
import functools
import mimetypes
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .._protocol import operations, sse, validation
from .._io.checkpoint import options_digest
from .._protocol.errors import CosValidationError
from .._protocol.limits import ANY_MIN_PART_SIZE, MAX_PART_SIZE, MAX_PUT_OBJECT_SIZE, MIN_PART_SIZE
from .._protocol.options import ObjectOptions
from .parts import DEFAULT_PART_ATTEMPTS
from .planner import plan_parts, stream_plan
from .._io.ratelimit import TokenBucket
from .session import PartReceipt
from ._defaults import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY, MAX_CONCURRENCY as MAX_CONCURRENCY
from ._defaults import DEFAULT_MULTIPART_THRESHOLD as DEFAULT_MULTIPART_THRESHOLD

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: What a dialect-neutral ``part_size`` may be, in words (each service's minimum; the same 5 GB maximum).
PART_SIZE_RULE = (
    f"an integer number of bytes per part up to {MAX_PART_SIZE} (5 GB), at least {MIN_PART_SIZE} (1 MB) on COS "
    f"('every part is 1 MB - 5 GB', 436/7750) or {ANY_MIN_PART_SIZE} (100 KB) on OSS"
)




@functools.lru_cache(maxsize=64)
def _with_content_type(options: ObjectOptions, content_type: str) -> ObjectOptions:
    # Once per (options, type), not per file: ``replace`` validates every option again (~7 us), and a
    # directory of small files asks the same few pairs thousands of times. The values are frozen.
    return dataclasses.replace(options, content_type=content_type)

@dataclass(frozen=True)
class UploadConfig:
    """How to upload: parts, parallelism, resume, limits, and the options of the stored object.

    Attributes:
        part_size: Bytes per part; ``None`` picks 8 MB (16 MB for files of 1 GiB or more), grown MB by MB when
            the object needs it (1 MB..5 GB). A resume keeps the part size its upload started with.
        concurrency: Parts uploaded at once (threads), 1..256.
        multipart_threshold: Objects smaller than this use a single PUT Object with ``Content-MD5``
            (0 forces multipart); at most 5 GB.
        resume: Use and keep a checkpoint (files given by path only).
        checkpoint_dir: Where checkpoints live (default ``$XDG_CACHE_HOME/cos-multipart``).
        abort_on_failure: Abort the multipart upload when it fails instead of keeping it for a resume.
        part_attempts: Times a part is sent when the checksums disagree before giving up (a single PUT also
            when the service refused its body as not matching its Content-MD5: damaged in transit).
        verify_md5: Also check each part's ETag against the MD5 of the bytes sent, where COS makes the ETag
            an MD5 (no SSE, SSE-COS). CRC-64 is checked in every case.
        verify_reused: On resume, read the local bytes of every reused part again and compare their CRC-64
            with the recorded one (a mismatching part is sent again). Turning it off trusts the checkpoint and
            the file's identity (size, mtime, ctime, inode): a file edited in place without changing them
            would then give an object that differs from the file, reported as uploaded.
        bandwidth_limit: Client-side cap in bytes per second across all workers, or ``None``.
        traffic_limit: Server-side cap per part request in bits per second (``x-cos-traffic-limit``).
        expected_size: For streams of unknown length: the expected size, which picks the part size up front
            (parts still grow if the stream is longer). ``None``: parts start at ``part_size`` and grow.
        forbid_overwrite: Refuse to replace an existing object: checked before anything is uploaded, and
            sent as ``x-cos-forbid-overwrite`` with Complete (or the single PUT) against races.
        options: The stored object's options (content type, metadata, ACL, storage class, tags, encryption,
            ...); the content type is guessed from the key when not set.
    """

    part_size: Optional[int] = None
    concurrency: int = DEFAULT_CONCURRENCY
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    resume: bool = True
    checkpoint_dir: Optional[PathLike] = None
    abort_on_failure: bool = False
    part_attempts: int = DEFAULT_PART_ATTEMPTS
    verify_md5: bool = True
    verify_reused: bool = True
    bandwidth_limit: Optional[int] = None
    traffic_limit: Optional[int] = None
    expected_size: Optional[int] = None
    forbid_overwrite: Optional[bool] = None
    options: ObjectOptions = field(default_factory=ObjectOptions)

    def __post_init__(self) -> None:
        if self.part_size is not None:
            # A config is dialect-neutral: the loosest minimum here (OSS's 100 KB), the client's dialect's
            # (COS 1 MB) when the upload is planned, before Initiate. The message names both services' rules.
            try:
                plan_parts(0, self.part_size, min_part_size=ANY_MIN_PART_SIZE)
            except CosValidationError:
                raise CosValidationError("part_size", self.part_size, PART_SIZE_RULE) from None
        validation.integer_in("concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        validation.integer_in("multipart_threshold", self.multipart_threshold, 0, MAX_PUT_OBJECT_SIZE)
        validation.integer_in("part_attempts", self.part_attempts, 1, 100)
        if self.bandwidth_limit is not None:
            TokenBucket(self.bandwidth_limit)  # validates
        if self.traffic_limit is not None:
            validation.traffic_limit(self.traffic_limit)
        stream_plan(self.part_size, expected_size=self.expected_size, min_part_size=ANY_MIN_PART_SIZE)  # validates expected_size
        if self.forbid_overwrite is not None and not isinstance(self.forbid_overwrite, bool):
            raise CosValidationError("forbid_overwrite", self.forbid_overwrite, "True, False or None")
        if self.checkpoint_dir is not None and (not isinstance(self.checkpoint_dir, (str, os.PathLike)) or not os.fspath(self.checkpoint_dir)):
            raise CosValidationError("checkpoint_dir", self.checkpoint_dir, "a directory path (str or os.PathLike) or None")
        for name in ("resume", "abort_on_failure", "verify_md5", "verify_reused"):
            if not isinstance(getattr(self, name), bool):
                raise CosValidationError(name, getattr(self, name), "True or False")
        if not isinstance(self.options, ObjectOptions):
            raise CosValidationError("options", type(self.options).__name__, "an ObjectOptions")
        operations.object_headers(self.options)  # validates every object option

    @property
    def sse_c(self) -> Optional[sse.SseC]:
        """The SSE-C key when SSE-C is used (sent with every part, never stored)."""
        option = sse.coerce(self.options.encryption)
        return option if isinstance(option, sse.SseC) else None

    @property
    def encryption_mode(self) -> str:
        """``"none"``, ``"cos"``, ``"kms"`` or ``"c"``."""
        option = sse.coerce(self.options.encryption)
        if isinstance(option, sse.SseC):
            return "c"
        if isinstance(option, sse.SseKms):
            return "kms"
        return "cos" if isinstance(option, sse.SseCos) else "none"

    @property
    def check_md5(self) -> bool:
        """Whether part bytes are MD5-hashed to check their ETag (``verify_md5`` and an MD5 ETag)."""
        return self.verify_md5 and self.encryption_mode in ("none", "cos")

    def object_options(self, key: str) -> ObjectOptions:
        """The Initiate / PUT Object options for ``key`` (content type guessed from the key if not set)."""
        if self.options.content_type is not None:
            return self.options
        guessed = mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE
        if self.sse_c is not None:  # an SSE-C key is not kept in a process-wide cache beyond its upload
            return dataclasses.replace(self.options, content_type=guessed)
        return _with_content_type(self.options, guessed)

    def options_digest(self, key: str) -> str:
        """A digest of the stored object's options, without secrets (SSE-C: the key's MD5)."""
        return options_digest(self._option_headers(key))

    def option_digests(self, key: str) -> Tuple[Tuple[str, str], ...]:
        """``(header name, digest of its value)`` of every object option, sorted (names a changed option later)."""
        return tuple(
            sorted((name.lower(), options_digest({name.lower(): value})[:16]) for name, value in self._option_headers(key).items())
        )

    def _option_headers(self, key: str) -> Dict[str, str]:
        headers = operations.object_headers(self.object_options(key))
        headers.pop(sse.HEADER_C_KEY, None)
        return headers


@dataclass(frozen=True)
class UploadResult:
    """A verified upload: the object at ``key`` equals the local bytes.

    Attributes:
        bucket: Bucket.
        key: Object key.
        upload_id: Multipart upload id, or ``None`` for a single PUT.
        etag: The object's ETag (quotes included).
        crc64: The object's CRC-64, as computed here and confirmed by COS.
        size: Bytes uploaded.
        parts: The object's parts, in order (one part for a single PUT).
        elapsed: Seconds from start to verified completion.
        request_ids: ``x-cos-request-id`` of every request that made the object.
        parts_reused: Parts found already uploaded when resuming.
        bytes_reverified: Local bytes read again on resume to check reused parts.
        bytes_reused: Bytes of the parts found already uploaded (not sent by this call).
        version_id: ``x-cos-version-id`` when the bucket has versioning.
    """

    bucket: str
    key: str
    upload_id: Optional[str]
    etag: str
    crc64: int
    size: int
    parts: Tuple[PartReceipt, ...] = field(repr=False)
    elapsed: float
    request_ids: Tuple[str, ...] = field(repr=False)
    parts_reused: int = 0
    bytes_reverified: int = 0
    version_id: Optional[str] = None
    bytes_reused: int = 0

    @property
    def bytes_sent(self) -> int:
        """Bytes this call sent (``size`` less the reused parts)."""
        return self.size - self.bytes_reused

    @property
    def multipart(self) -> bool:
        """Whether the object was uploaded with the multipart API."""
        return self.upload_id is not None


def config_of(arguments: Mapping[str, Any]) -> UploadConfig:
    """The :class:`UploadConfig` of an ``upload_file``-style call's keyword arguments (``locals()``): every
    field found there, ``options=None`` meaning the default object options."""
    chosen = {item.name: arguments[item.name] for item in dataclasses.fields(UploadConfig) if item.name in arguments}
    if chosen.get("options") is None:
        chosen["options"] = ObjectOptions()
    return UploadConfig(**chosen)
