"""Upload a file or a stream: plan -> initiate or resume -> parts in parallel -> verify -> complete.

:func:`upload_file` is the one-call entry point; :class:`Uploader` with an :class:`UploadConfig` is the
reusable form. Everything the caller passes is validated before any request is sent or any state created.

What is verified:

* every part: the CRC-64 COS returns (``x-cos-hash-crc64ecma``) against the CRC-64 of the bytes sent, and the
  ETag against their MD5 when the ETag is an MD5 ("only for no-SSE and SSE-COS", 436/7750 [ref 6.4]); a
  mismatch sends the part again, up to ``part_attempts`` times, then raises :class:`CosIntegrityError` naming
  the part and both values;
* the whole object: the part CRCs combined in order against the CRC-64 Complete returns ("CRC64 of the whole
  final object", 436/40334 [ref 5.2]), also after a resume (checkpointed parts keep their CRC);
* a single PUT (small objects): its CRC-64, and its ETag when it is an MD5.

A result is only returned when all of that holds; otherwise an exception says what disagreed.

Resume (files given by path): the checkpoint (see :mod:`cos_multipart.checkpoint`) is written right after
Initiate and as parts are verified. Running the same upload again reuses parts whose size and ETag/CRC still
match (List Parts is the source of truth for what COS holds), uploads the rest, completes and deletes the
checkpoint. A changed local file, other options or another part size abort the old upload and start afresh.

Failure: the first part that fails (after the client's retries and the integrity re-sends) stops the upload:
no new part starts, parts in flight stop at their next read, and that part's error is raised. The checkpoint
is kept so the upload can be resumed, unless ``abort_on_failure`` is set (or the source cannot be resumed: a
file object or a stream), in which case the multipart upload is aborted. Ctrl-C behaves the same way and
returns within about a second: workers notice the cancellation at their next read of 16 KiB.
"""

from __future__ import annotations

import concurrent.futures
import logging
import mimetypes
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import (
    IO,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from . import operations, sse, validation
from ._partreader import (
    BufferPartReader,
    FilePartReader,
    PartDigest,
    StreamPart,
    read_stream_part,
)
from .checkpoint import (
    Checkpoint,
    CheckpointRecorder,
    CheckpointStore,
    FileIdentity,
    VerifiedPart,
    options_digest,
)
from .checksum import crc64_combine_all, etag_is_md5, normalize_etag
from .client import CosClient
from .endpoint import validate_key
from .errors import CosError, CosIntegrityError, CosServiceError, CosValidationError, SourceChangedError
from .limits import MAX_PART_NUMBER, MAX_PUT_OBJECT_SIZE
from .models import CompleteResult, ObjectResult, PartInfo
from .planner import DEFAULT_PART_SIZE, PartPlan, plan_parts, stream_part_size
from .progress import ProgressCallback, ProgressTracker
from .ratelimit import TokenBucket

logger = logging.getLogger(__name__)

__all__ = [
    "SourceChangedError",
    "stale_reason",
    "UploadConfig",
    "UploadResult",
    "Uploader",
    "upload_file",
]

#: Default number of parts uploaded at once.
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
#: Objects smaller than this go up in one PUT Object request (with the same verification).
DEFAULT_MULTIPART_THRESHOLD = DEFAULT_PART_SIZE
#: Times a part (or a single PUT) is sent when COS's checksum disagrees with the local one.
DEFAULT_PART_ATTEMPTS = 3
#: How often the coordinating thread wakes up while waiting for parts (bounds Ctrl-C latency).
_POLL_SECONDS = 0.2
DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: COS error code of an unknown or finished upload id (436/7730).
NO_SUCH_UPLOAD = "NoSuchUpload"

Source = Union[str, "os.PathLike[str]", IO[bytes]]


# --- Configuration and result ------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadConfig:
    """How to upload: parts, parallelism, resume, limits, and the options of the stored object.

    Attributes:
        part_size: Bytes per part; ``None`` picks 8 MB, grown MB by MB when the object needs it (1 MB..5 GB).
        concurrency: Parts uploaded at once (threads), 1..256.
        multipart_threshold: Objects smaller than this use a single PUT Object (0 forces multipart).
        resume: Use and keep a checkpoint (files given by path only).
        checkpoint_dir: Where checkpoints live (default ``$XDG_CACHE_HOME/cos-multipart``).
        abort_on_failure: Abort the multipart upload when it fails instead of keeping it for a resume.
        part_attempts: Times a part is sent when the checksums disagree before giving up.
        verify_md5: Also check each part's ETag against the MD5 of the bytes sent, where COS makes the ETag
            an MD5 (no SSE, SSE-COS). CRC-64 is checked in every case; turning this off saves the MD5 pass
            (~1.5 CPU seconds per GiB, see docs/benchmarks.md) for CPU-bound uploads.
        bandwidth_limit: Client-side cap in bytes per second across all workers, or ``None``.
        traffic_limit: Server-side cap per part request in bits per second (``x-cos-traffic-limit``,
            819200..838860800, 436/7750).
        stream_max_size: Largest stream of unknown length to plan for: streams use the smallest part size
            that reaches it in 10,000 parts. ``None``: streams use ``part_size`` (default 8 MB, so up to
            78 GiB).
        forbid_overwrite: Send ``x-cos-forbid-overwrite`` on Complete (refuse to replace an existing object).
        content_type: ``Content-Type`` of the object; guessed from the key when ``None``.
        metadata: ``x-cos-meta-*`` values (suffix -> value).
        acl: ``x-cos-acl``.
        storage_class: ``x-cos-storage-class``.
        tagging: ``x-cos-tagging`` as a mapping or ``k1=v1&k2=v2``.
        encryption: ``SseCos()``, ``SseKms(...)``, ``SseC(key)`` or ``None``.
        cache_control: ``Cache-Control``.
        content_disposition: ``Content-Disposition``.
        content_encoding: ``Content-Encoding``.
        expires: ``Expires``.
    """

    part_size: Optional[int] = None
    concurrency: int = DEFAULT_CONCURRENCY
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    resume: bool = True
    checkpoint_dir: Optional[Union[str, "os.PathLike[str]"]] = None
    abort_on_failure: bool = False
    part_attempts: int = DEFAULT_PART_ATTEMPTS
    verify_md5: bool = True
    bandwidth_limit: Optional[int] = None
    traffic_limit: Optional[int] = None
    stream_max_size: Optional[int] = None
    forbid_overwrite: Optional[bool] = None
    content_type: Optional[str] = None
    metadata: Optional[Mapping[str, str]] = None
    acl: Optional[str] = None
    storage_class: Optional[str] = None
    tagging: Union[Mapping[str, str], str, None] = None
    encryption: sse.EncryptionLike = field(default=None, repr=False)
    cache_control: Optional[str] = None
    content_disposition: Optional[str] = None
    content_encoding: Optional[str] = None
    expires: Optional[str] = None

    def __post_init__(self) -> None:
        if self.part_size is not None:
            plan_parts(0, self.part_size)  # checks 1 MB..5 GB with the documented rule in the message
        validation.integer_in("concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        validation.integer_in("multipart_threshold", self.multipart_threshold, 0, MAX_PUT_OBJECT_SIZE)
        validation.integer_in("part_attempts", self.part_attempts, 1, 100)
        if self.bandwidth_limit is not None:
            TokenBucket(self.bandwidth_limit)  # validates
        if self.traffic_limit is not None:
            validation.traffic_limit(self.traffic_limit)
        self.stream_part_size()
        if self.forbid_overwrite is not None and not isinstance(self.forbid_overwrite, bool):
            raise CosValidationError("forbid_overwrite", self.forbid_overwrite, "True, False or None")
        for name in ("resume", "abort_on_failure", "verify_md5"):
            if not isinstance(getattr(self, name), bool):
                raise CosValidationError(name, getattr(self, name), "True or False")
        object.__setattr__(self, "encryption", sse.coerce(self.encryption))
        operations.object_headers(self.object_options("probe"))  # validates every object option

    def stream_part_size(self) -> int:
        """The part size used for streams of unknown length."""
        if self.stream_max_size is None:
            return self.part_size or DEFAULT_PART_SIZE
        return stream_part_size(self.part_size, max_size=self.stream_max_size)

    @property
    def sse(self) -> Optional[sse.Encryption]:
        """The encryption option object, or ``None``."""
        return sse.coerce(self.encryption)

    @property
    def encryption_mode(self) -> str:
        """``"none"``, ``"cos"``, ``"kms"`` or ``"c"``."""
        option = self.sse
        if isinstance(option, sse.SseC):
            return "c"
        if isinstance(option, sse.SseKms):
            return "kms"
        return "cos" if isinstance(option, sse.SseCos) else "none"

    @property
    def etag_is_md5(self) -> bool:
        """Whether part ETags are the MD5 of the part: "only for no-SSE and SSE-COS" (436/7750) [ref 6.4]."""
        return self.encryption_mode in ("none", "cos")

    @property
    def check_md5(self) -> bool:
        """Whether part bytes are MD5-hashed to check their ETag (``verify_md5`` and an MD5 ETag)."""
        return self.verify_md5 and self.etag_is_md5

    def object_options(self, key: str) -> operations.ObjectOptions:
        """The Initiate / PUT Object options for ``key`` (content type guessed from the key if not set)."""
        return operations.ObjectOptions(
            content_type=self.content_type or mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE,
            metadata=self.metadata,
            acl=self.acl,
            storage_class=self.storage_class,
            tagging=self.tagging,
            encryption=self.encryption,
            cache_control=self.cache_control,
            content_disposition=self.content_disposition,
            content_encoding=self.content_encoding,
            expires=self.expires,
        )

    def object_kwargs(self, key: str) -> Dict[str, Any]:
        """:meth:`object_options` as keyword arguments of the client's Initiate / PUT Object."""
        options = self.object_options(key)
        return {name: getattr(options, name) for name in options.__dataclass_fields__}

    def options_digest(self, key: str) -> str:
        """A digest of what the stored object's options are, without secrets (SSE-C: the key's MD5)."""
        headers = operations.object_headers(self.object_options(key))
        headers.pop(sse.HEADER_C_KEY, None)
        return options_digest(headers)

    def sse_c_key_md5(self) -> Optional[str]:
        """Base64 MD5 of the SSE-C key, when SSE-C is used."""
        option = self.sse
        return option.key_md5 if isinstance(option, sse.SseC) else None


@dataclass(frozen=True)
class UploadResult:
    """A verified upload.

    Attributes:
        bucket: Bucket.
        key: Object key.
        upload_id: Multipart upload id, or ``None`` for a single PUT.
        etag: The object's ETag (quotes included).
        crc64: The object's CRC-64, as computed here and confirmed by COS.
        size: Bytes uploaded.
        parts: The object's parts, in order (one part for a single PUT).
        elapsed: Seconds from start to verified completion.
        request_ids: ``x-cos-request-id`` of every request that made the object (parts in the order
            they finished).
        parts_reused: Parts found already uploaded when resuming.
        version_id: ``x-cos-version-id`` when the bucket has versioning.
    """

    bucket: str
    key: str
    upload_id: Optional[str]
    etag: str
    crc64: int
    size: int
    parts: Tuple[VerifiedPart, ...] = field(repr=False)
    elapsed: float
    request_ids: Tuple[str, ...] = field(repr=False)
    parts_reused: int = 0
    version_id: Optional[str] = None

    @property
    def multipart(self) -> bool:
        """Whether the object was uploaded with the multipart API."""
        return self.upload_id is not None


# --- Sources -----------------------------------------------------------------------------------------


@dataclass
class _Source:
    """What is being uploaded: a file descriptor range, or a sequential stream (maybe of known size)."""

    fd: Optional[int] = None
    offset: int = 0
    size: Optional[int] = None
    path: Optional[str] = None
    stream: Optional[IO[bytes]] = None
    identity: Optional[FileIdentity] = None
    owned: bool = False

    @property
    def resumable(self) -> bool:
        return self.path is not None

    def close(self) -> None:
        if self.owned and self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _open_source(source: Source) -> _Source:
    if isinstance(source, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(source))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise CosValidationError("source", os.fspath(source), "a regular file (use a file object for pipes)")
            identity = FileIdentity.of_fd(fd)
        except BaseException:
            os.close(fd)
            raise
        return _Source(fd=fd, size=identity.size, path=path, identity=identity, owned=True)
    if not callable(getattr(source, "read", None)):
        raise CosValidationError("source", type(source).__name__, "a path, a binary file object or a binary stream")
    fileno = _regular_fileno(source)
    if fileno is not None:
        # A real file: read it with pread from its current position, like a path (but not resumable).
        offset = source.tell()
        return _Source(fd=fileno, offset=offset, size=max(0, os.fstat(fileno).st_size - offset))
    return _Source(stream=source, size=_remaining_size(source))


def _regular_fileno(stream: IO[bytes]) -> Optional[int]:
    try:
        fd = stream.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not stream.seekable():
            return None
        if hasattr(stream, "flush") and stream.writable():
            stream.flush()  # buffered writes must reach the file before pread sees them
        return fd
    except (AttributeError, OSError, ValueError):
        return None


def _remaining_size(stream: IO[bytes]) -> Optional[int]:
    try:
        if not stream.seekable():
            return None
        start = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(start)
        return max(0, end - start)
    except (AttributeError, OSError, ValueError):
        return None


# --- Jobs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One part to send: a range of the file descriptor, or bytes read from a stream."""

    number: int
    offset: int
    length: int
    data: Optional[StreamPart] = None


def _file_jobs(plan: PartPlan, skip: Iterable[int], base: int) -> Iterator[_Job]:
    done = set(skip)
    for number, offset, length in plan.ranges():
        if number not in done:
            yield _Job(number, base + offset, length)


def _stream_jobs(stream: IO[bytes], part_size: int, md5: bool, first: StreamPart) -> Iterator[_Job]:
    part = first
    number = 1
    while True:
        if number > MAX_PART_NUMBER:
            raise CosValidationError(
                "stream_max_size",
                MAX_PART_NUMBER * part_size,
                f"a stream of at most {MAX_PART_NUMBER} parts of {part_size} bytes; this one is longer: "
                "pass a larger stream_max_size or part_size",
            )
        yield _Job(number, (number - 1) * part_size, len(part.data), part)
        if len(part.data) < part_size:
            return
        part = read_stream_part(stream, part_size, md5=md5)
        if not part.data:
            return
        number += 1


# --- The uploader ------------------------------------------------------------------------------------


class Uploader:
    """Uploads files and streams with one client and one configuration.

    Args:
        client: A :class:`cos_multipart.client.CosClient` (or anything with the same methods).
        config: How to upload; the defaults suit most files.
        store: Checkpoint storage (default: a store in ``config.checkpoint_dir``).

    The uploader holds no per-upload state and can be used from several threads, one upload per call.
    """

    def __init__(
        self,
        client: CosClient,
        config: Optional[UploadConfig] = None,
        *,
        store: Optional[CheckpointStore] = None,
    ) -> None:
        self.client = client
        self.config = config if config is not None else UploadConfig()
        self.store = store if store is not None else CheckpointStore(self.config.checkpoint_dir)

    def upload(self, source: Source, key: str, *, progress: Optional[ProgressCallback] = None) -> UploadResult:
        """Upload ``source`` to ``key`` and verify it.

        Args:
            source: A path, a binary file object (read from its current position) or a non-seekable binary
                stream (read to its end).
            key: Object key.
            progress: Called with a :class:`~cos_multipart.progress.ProgressEvent` as bytes go out.

        Returns:
            The verified result.

        Raises:
            CosValidationError: Bad key, source or options (nothing sent).
            CosIntegrityError: COS's checksums disagree with the local bytes after the allowed re-sends.
            CosServiceError / CosTransportError: The request that failed, after retries.
            SourceChangedError: The file shrank while it was uploaded.
        """
        validate_key(key)
        opened = _open_source(source)
        try:
            return _Run(self, opened, key, progress).run()
        finally:
            opened.close()

    def abort(self, key: str, upload_id: str) -> bool:
        """Abort a multipart upload; ``False`` when COS does not know it (already finished or aborted)."""
        return _abort_quietly(self.client, key, upload_id)

    def checkpoint_for(self, path: Union[str, "os.PathLike[str]"], key: str) -> Optional[Checkpoint]:
        """The stored checkpoint an upload of ``path`` to ``key`` would look at, if any."""
        validate_key(key)
        return self.store.load(_endpoint_url(self.client), self.client.bucket, key, path)

    def resume_problem(self, path: Union[str, "os.PathLike[str]"], key: str) -> Optional[str]:
        """Why uploading ``path`` to ``key`` now would not resume a stored upload (``None`` if it would).

        Only local facts are checked (checkpoint present, same file, part size and options); COS may still
        have dropped the upload, in which case the upload starts afresh.
        """
        stored = self.checkpoint_for(path, key)
        if stored is None:
            return "no checkpoint for this file and key"
        return stale_reason(stored, FileIdentity.of_path(path), self.config, key)


def upload_file(
    client: CosClient,
    source: Source,
    key: str,
    *,
    progress: Optional[ProgressCallback] = None,
    store: Optional[CheckpointStore] = None,
    **options: Any,
) -> UploadResult:
    """Upload a file, file object or stream to ``key``, in parallel parts, verified, resumable.

    Args:
        client: The client for the target bucket.
        source: A path, a binary file object or a binary stream.
        key: Object key.
        progress: Progress callback.
        store: Checkpoint storage (default: ``checkpoint_dir`` or the user cache directory).
        **options: Fields of :class:`UploadConfig` (``part_size``, ``concurrency``, ``encryption``, ...).

    Returns:
        The verified :class:`UploadResult`.
    """
    return Uploader(client, UploadConfig(**options), store=store).upload(source, key, progress=progress)


def _abort_quietly(client: CosClient, key: str, upload_id: str) -> bool:
    try:
        client.abort_multipart_upload(key, upload_id)
        return True
    except CosServiceError as error:
        if error.code == NO_SUCH_UPLOAD:
            return False
        raise


class _Run:
    """One upload: the state shared by the coordinating thread and the workers."""

    def __init__(
        self, uploader: Uploader, source: _Source, key: str, callback: Optional[ProgressCallback]
    ) -> None:
        self.client = uploader.client
        self.config = uploader.config
        self.store = uploader.store
        self.source = source
        self.key = key
        self.callback = callback
        self.started = time.monotonic()
        self.cancel = threading.Event()
        self.limiter = TokenBucket(self.config.bandwidth_limit) if self.config.bandwidth_limit else None
        self.request_ids: List[str] = []
        self.stored: Optional[Checkpoint] = None
        self.progress = ProgressTracker(source.size, None, callback)
        self.part_kwargs: Dict[str, Any] = {"cancel": self.cancel}
        if self.config.traffic_limit is not None:
            self.part_kwargs["traffic_limit"] = self.config.traffic_limit
        if isinstance(self.config.sse, sse.SseC):
            self.part_kwargs["sse_c"] = self.config.sse

    # -- top level --

    def run(self) -> UploadResult:
        size = self.source.size
        if size is not None:
            if self.source.path is not None:
                endpoint = _endpoint_url(self.client)
                self.stored = self.store.load(endpoint, self.client.bucket, self.key, self.source.path)
            # A small file goes up in one PUT, unless an interrupted upload of it must be resumed or aborted.
            if size < self.config.multipart_threshold and self.stored is None:
                return self._single_put()
            return self._multipart(plan_parts(size, self.config.part_size))
        part_size = self.config.stream_part_size()
        assert self.source.stream is not None
        first = read_stream_part(self.source.stream, part_size, md5=self.config.check_md5)
        if len(first.data) < min(part_size, self.config.multipart_threshold):
            return self._single_put(first)
        return self._multipart_stream(part_size, first)

    # -- single PUT --

    def _single_put(self, buffered: Optional[StreamPart] = None) -> UploadResult:
        if buffered is None and self.source.stream is not None:
            buffered = read_stream_part(self.source.stream, self.source.size or 0, md5=self.config.check_md5)
        size = len(buffered.data) if buffered is not None else (self.source.size or 0)
        self.progress = ProgressTracker(size, 1, self.callback)
        self.progress.start()
        job = _Job(1, self.source.offset, size, buffered)
        kwargs = self.config.object_kwargs(self.key)
        if self.config.traffic_limit is not None:
            kwargs["traffic_limit"] = self.config.traffic_limit
        if self.config.forbid_overwrite is not None:
            kwargs["forbid_overwrite"] = self.config.forbid_overwrite
        last: Optional[CosIntegrityError] = None
        for attempt in range(1, self.config.part_attempts + 1):
            self.progress.rewind(1)
            reader = self._reader(job)
            result = self.client.put_object(self.key, reader, content_length=size, cancel=self.cancel, **kwargs)
            self.request_ids.append(result.request_id)
            digest = reader.digest()
            last = self._check(1, digest, result.etag, result.crc64, result.request_id)
            if last is None:
                self.progress.part_done(1, size)
                part = VerifiedPart(1, result.etag, size, digest.crc64)
                return self._result(None, result.etag, (part,), digest.crc64, version_id=result.version_id)
            logger.warning("PUT %s: %s (attempt %d of %d)", self.key, last, attempt, self.config.part_attempts)
        assert last is not None
        raise last

    # -- multipart --

    def _multipart(self, plan: PartPlan) -> UploadResult:
        plan, upload_id, recorder, reused = self._resume_or_initiate(plan)
        self.progress = ProgressTracker(plan.size, plan.count, self.callback)
        self.progress.reused(len(reused), sum(p.size for p in reused))
        self.progress.start()
        if self.source.fd is not None:
            jobs = _file_jobs(plan, (p.part_number for p in reused), self.source.offset)
        else:
            jobs = self._stream_jobs(plan.part_size, None)
        parts = self._run_parts(upload_id, jobs, recorder, {p.part_number: p for p in reused})
        return self._complete(upload_id, parts, recorder, len(reused))

    def _multipart_stream(self, part_size: int, first: StreamPart) -> UploadResult:
        upload_id = self._initiate()
        self.progress.start()
        parts = self._run_parts(upload_id, self._stream_jobs(part_size, first), None, {})
        self.progress.finish(sum(p.size for p in parts), len(parts))
        return self._complete(upload_id, parts, None, 0)

    def _stream_jobs(self, part_size: int, first: Optional[StreamPart]) -> Iterator[_Job]:
        stream = self.source.stream
        assert stream is not None
        md5 = self.config.check_md5
        if first is None:
            first = read_stream_part(stream, part_size, md5=md5)
        return _stream_jobs(stream, part_size, md5, first)

    def _initiate(self) -> str:
        result = self.client.initiate_multipart_upload(self.key, **self.config.object_kwargs(self.key))
        self.request_ids.append(result.request_id)
        logger.debug("initiated upload %s for %s", result.upload_id, self.key)
        return result.upload_id

    def _new_checkpoint(self, upload_id: str, part_size: int) -> Checkpoint:
        assert self.source.path is not None and self.source.identity is not None
        return Checkpoint(
            endpoint=_endpoint_url(self.client),
            bucket=self.client.bucket,
            key=self.key,
            source=self.source.path,
            upload_id=upload_id,
            part_size=part_size,
            identity=self.source.identity,
            encryption=self.config.encryption_mode,
            sse_c_key_md5=self.config.sse_c_key_md5(),
            options_digest=self.config.options_digest(self.key),
        )

    # -- resume --

    def _resume_or_initiate(
        self, plan: PartPlan
    ) -> Tuple[PartPlan, str, Optional[CheckpointRecorder], List[VerifiedPart]]:
        """The plan, the upload id, the checkpoint recorder (``None`` when not resumable) and the parts to
        reuse. A resumed upload keeps its own part size unless the caller asked for another one."""
        path = self.source.path
        stored = self.stored
        if stored is not None:
            reason = (
                stale_reason(stored, self.source.identity, self.config, self.key)
                if self.config.resume
                else "resume is off"
            )
            if reason is None:
                reused = self._reconcile(stored, stored.plan)
                if reused is not None:
                    recorder = CheckpointRecorder(self.store, stored.with_parts(reused))
                    recorder.flush()
                    return stored.plan, stored.upload_id, recorder, reused
            else:
                logger.warning("not resuming upload %s of %s: %s", stored.upload_id, path, reason)
                self._discard(stored)
        upload_id = self._initiate()
        if path is None or not self.config.resume:
            return plan, upload_id, None, []
        # Written before any part is sent, so that a crash never leaves an upload nobody knows about.
        recorder = CheckpointRecorder(self.store, self._new_checkpoint(upload_id, plan.part_size))
        recorder.flush()
        return plan, upload_id, recorder, []

    def _discard(self, stored: Checkpoint) -> None:
        """Abort the upload of an unusable checkpoint (so it is not orphaned) and delete the checkpoint."""
        if _abort_quietly(self.client, self.key, stored.upload_id):
            logger.info("aborted stale upload %s of %s", stored.upload_id, self.key)
        self.store.delete(stored)

    def _reconcile(self, stored: Checkpoint, plan: PartPlan) -> Optional[List[VerifiedPart]]:
        """Parts that can be reused, or ``None`` when COS no longer knows the upload."""
        try:
            listed = {info.part_number: info for info in self.client.list_parts(self.key, stored.upload_id)}
        except CosServiceError as error:
            if error.code != NO_SUCH_UPLOAD:
                raise
            logger.warning("upload %s of %s is gone from COS; starting afresh", stored.upload_id, self.key)
            self.store.delete(stored)
            return None
        recorded = {p.part_number: p for p in stored.parts}
        reused: List[VerifiedPart] = []
        for number, info in sorted(listed.items()):
            if not 1 <= number <= plan.count or info.size != plan.part(number)[1]:
                continue
            known = recorded.get(number)
            if known is not None and normalize_etag(known.etag) == normalize_etag(info.etag):
                reused.append(known)
            elif self.config.check_md5 and etag_is_md5(info.etag):
                part = self._verify_listed(number, info, plan)
                if part is not None:
                    reused.append(part)
        logger.debug("resuming upload %s: %d of %d parts reused", stored.upload_id, len(reused), plan.count)
        return reused

    def _verify_listed(self, number: int, info: PartInfo, plan: PartPlan) -> Optional[VerifiedPart]:
        """A part COS holds but the checkpoint missed (written after the last save): reuse it if its ETag is
        the MD5 of the local bytes (hashed here; the CRC comes from the same pass)."""
        offset, length = plan.part(number)
        assert self.source.fd is not None
        digest = FilePartReader(self.source.fd, self.source.offset + offset, length, number).digest()
        if digest.md5_hex != normalize_etag(info.etag):
            return None
        return VerifiedPart(number, info.etag, length, digest.crc64)

    # -- parts --

    def _reader(self, job: _Job) -> Union[FilePartReader, BufferPartReader]:
        if job.data is not None:
            return BufferPartReader(
                job.data.data,
                job.data.digest,
                job.number,
                progress=self.progress,
                limiter=self.limiter,
                cancel=self.cancel,
            )
        assert self.source.fd is not None
        return FilePartReader(
            self.source.fd,
            job.offset,
            job.length,
            job.number,
            md5=self.config.check_md5,
            progress=self.progress,
            limiter=self.limiter,
            cancel=self.cancel,
            path=self.source.path or "",
        )

    def _send_part(self, upload_id: str, job: _Job) -> Tuple[VerifiedPart, List[str]]:
        """Send one part, re-sending it when the checksums disagree (runs in a worker thread)."""
        request_ids: List[str] = []
        problem: Optional[CosIntegrityError] = None
        for attempt in range(1, self.config.part_attempts + 1):
            self.progress.rewind(job.number)
            reader = self._reader(job)
            result = self.client.upload_part(
                self.key, upload_id, job.number, reader, content_length=job.length, **self.part_kwargs
            )
            request_ids.append(result.request_id)
            digest = reader.digest()
            problem = self._check(job.number, digest, result.etag, result.crc64, result.request_id)
            if problem is None:
                return VerifiedPart(job.number, result.etag, job.length, digest.crc64), request_ids
            logger.warning("%s (attempt %d of %d)", problem, attempt, self.config.part_attempts)
        assert problem is not None
        raise problem

    def _check(
        self, number: int, digest: PartDigest, etag: str, crc: Optional[int], request_id: str
    ) -> Optional[CosIntegrityError]:
        if crc != digest.crc64:
            return CosIntegrityError("crc64", digest.crc64, crc, part_number=number, request_id=request_id)
        if self.config.check_md5 and digest.md5_hex is not None and normalize_etag(etag) != digest.md5_hex:
            return CosIntegrityError("etag", digest.md5_hex, etag, part_number=number, request_id=request_id)
        return None

    def _run_parts(
        self,
        upload_id: str,
        jobs: Iterator[_Job],
        recorder: Optional[CheckpointRecorder],
        done: Dict[int, VerifiedPart],
    ) -> List[VerifiedPart]:
        """Run the jobs with at most ``concurrency`` in flight; stop at the first failure."""
        pending: Dict["concurrent.futures.Future[Tuple[VerifiedPart, List[str]]]", int] = {}
        self.client.ensure_pool_size(self.config.concurrency)
        pool = concurrent.futures.ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="cos-multipart")
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.config.concurrency:
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                    else:
                        pending[pool.submit(self._send_part, upload_id, job)] = job.number
                if not pending:
                    break
                finished, _ = concurrent.futures.wait(
                    pending, timeout=_POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
                )
                # Failures first, in part order, so the error raised is a real one, not a cancellation.
                for future in sorted(finished, key=lambda f: (f.exception() is None, pending[f])):
                    pending.pop(future)
                    self._accept(future.result(), done, recorder)
        except BaseException as error:
            self.cancel.set()
            # Workers blocked waiting for an answer would otherwise wait up to the read timeout.
            self.client.abort_connections()
            pool.shutdown(wait=True, cancel_futures=True)
            self._collect_late(pending, done, recorder)
            if recorder is not None:
                recorder.flush()
            self._fail(upload_id, error, recorder)
            raise
        pool.shutdown(wait=True)
        return [done[number] for number in sorted(done)]

    def _accept(
        self,
        outcome: Tuple[VerifiedPart, List[str]],
        done: Dict[int, VerifiedPart],
        recorder: Optional[CheckpointRecorder],
    ) -> None:
        part, request_ids = outcome
        done[part.part_number] = part
        self.request_ids.extend(request_ids)
        if recorder is not None:
            recorder.add(part)
        # Last: the user's callback may raise, and the part is verified and recorded whatever it does.
        self.progress.part_done(part.part_number, part.size)

    def _collect_late(
        self,
        pending: Mapping["concurrent.futures.Future[Tuple[VerifiedPart, List[str]]]", int],
        done: Dict[int, VerifiedPart],
        recorder: Optional[CheckpointRecorder],
    ) -> None:
        """Keep parts that finished while the upload was stopping: a resume will not send them again."""
        for future in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                part, request_ids = future.result()
                done[part.part_number] = part
                if recorder is not None:
                    recorder.add(part)

    def _fail(self, upload_id: str, error: BaseException, recorder: Optional[CheckpointRecorder]) -> None:
        resumable = recorder is not None
        if resumable and not self.config.abort_on_failure:
            logger.debug("upload %s stopped (%s); checkpoint kept for resume", upload_id, type(error).__name__)
            return
        try:
            _abort_quietly(self.client, self.key, upload_id)
        except (CosError, OSError) as abort_error:  # the original error matters more
            logger.warning("could not abort upload %s: %s", upload_id, abort_error)
        if recorder is not None:
            self.store.delete(recorder.checkpoint)

    # -- completion --

    def _complete(
        self,
        upload_id: str,
        parts: List[VerifiedPart],
        recorder: Optional[CheckpointRecorder],
        reused: int,
    ) -> UploadResult:
        expected = crc64_combine_all([(p.crc64, p.size) for p in parts])
        kwargs: Dict[str, Any] = {}
        if self.config.forbid_overwrite is not None:
            kwargs["forbid_overwrite"] = self.config.forbid_overwrite
        completed = [(p.part_number, p.etag) for p in parts]
        try:
            result = self._complete_request(upload_id, completed, expected, sum(p.size for p in parts), kwargs)
        except BaseException as error:
            # A resumable upload keeps its parts and checkpoint: completing can be tried again.
            if recorder is None or self.config.abort_on_failure:
                self._fail(upload_id, error, recorder)
            raise
        self.request_ids.append(result.request_id)
        if recorder is not None:
            self.store.delete(recorder.checkpoint)
        if result.crc64 != expected:
            logger.error("object %s was completed but its CRC-64 does not match the local data", self.key)
            raise CosIntegrityError("crc64", expected, result.crc64, request_id=result.request_id)
        return self._result(
            upload_id, result.etag, tuple(parts), expected, reused=reused, version_id=result.version_id
        )

    def _complete_request(
        self, upload_id: str, completed: List[Tuple[int, str]], crc: int, size: int, kwargs: Dict[str, Any]
    ) -> CompleteResult:
        try:
            return self.client.complete_multipart_upload(self.key, upload_id, completed, **kwargs)
        except CosServiceError as error:
            if error.code != NO_SUCH_UPLOAD:
                raise
            # A retried Complete whose first attempt succeeded: the object may already be there, intact.
            head = self._head_if_matching(crc, size)
            if head is None:
                raise
            logger.debug("Complete answered NoSuchUpload but %s matches: completed by an earlier attempt", self.key)
            bucket = self.client.bucket
            return CompleteResult("", bucket, self.key, head.etag, head.crc64, head.version_id, head.response)

    def _head_if_matching(self, crc: int, size: int) -> Optional[ObjectResult]:
        kwargs: Dict[str, Any] = {}
        if isinstance(self.config.sse, sse.SseC):
            kwargs["sse_c"] = self.config.sse
        try:
            head = self.client.head_object(self.key, **kwargs)
        except CosError:
            return None
        return head if head.crc64 == crc and head.size == size else None

    def _result(
        self,
        upload_id: Optional[str],
        etag: str,
        parts: Tuple[VerifiedPart, ...],
        crc64: int,
        *,
        reused: int = 0,
        version_id: Optional[str] = None,
    ) -> UploadResult:
        return UploadResult(
            bucket=self.client.bucket,
            key=self.key,
            upload_id=upload_id,
            etag=etag,
            crc64=crc64,  # verified against COS's value by the caller
            size=sum(p.size for p in parts),
            parts=parts,
            elapsed=time.monotonic() - self.started,
            request_ids=tuple(self.request_ids),
            parts_reused=reused,
            version_id=version_id,
        )


def stale_reason(
    stored: Checkpoint, identity: Optional[FileIdentity], config: UploadConfig, key: str
) -> Optional[str]:
    """Why ``stored`` cannot be resumed for this file and configuration (``None`` when it can).

    A configuration without a part size accepts the checkpoint's; one with a part size requires it.
    """
    if stored.identity != identity:
        return "the local file changed since the upload started"
    if config.part_size is not None and stored.part_size != config.part_size:
        return f"part size {config.part_size} asked, the upload used {stored.part_size}"
    if stored.encryption != config.encryption_mode or stored.sse_c_key_md5 != config.sse_c_key_md5():
        return "the encryption options changed"
    if stored.options_digest != config.options_digest(key):
        return "the object options changed"
    return None


def _endpoint_url(client: CosClient) -> str:
    """The base URL the client talks to (checkpoints are only valid for the same service)."""
    endpoint = getattr(client, "endpoint", None)
    return str(getattr(endpoint, "base_url", endpoint) or "")
