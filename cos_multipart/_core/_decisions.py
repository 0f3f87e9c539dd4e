"""What an upload driver decides, without I/O: shared by the threaded and the asyncio driver.

A driver (:mod:`cos_multipart._drivers.threads` with threads, :mod:`cos_multipart._drivers.aio` with tasks) does the I/O;
every choice it makes about *what* to do is a function here, so the two cannot drift apart:

* which path an upload takes (a single PUT, a multipart upload, a stream) and when a resume is refused;
* the session a file and a configuration make, and why a stored one is stale;
* what a forbid-overwrite HEAD answer means, and COS's 409 ``FileAlreadyExists`` at Complete;
* on failure: keep the upload for a resume (with the :class:`~cos_multipart._protocol.errors.KeptUpload` the error
  carries) or abort it;
* how a stream is cut into numbered parts and where it ends (:class:`StreamCutter`);
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import time
from typing import Callable, cast, Iterable, List, Optional, Protocol, Union

from ._config import UploadConfig
from ._partvalues import PartDigest
from ._outcomes import SourceFacts
from .._io._sources import AnySource, BufferSource, FileSource, StreamSource
from .._protocol.errors import (
    KEPT_UPLOAD_ATTRIBUTE,
    CosIntegrityError,
    CosServiceError,
    CosValidationError,
    KeptUpload,
    ObjectExistsError,
    ResumeError,
    SourceChangedError,
    UploadGoneError,
)
from .._protocol.dialect import COS, Dialect
from .._protocol.limits import MAX_PART_NUMBER
from .._protocol.models import PartInfo, UploadInfo
from .._protocol.endpoint import validate_key
from .parts import NO_SUCH_UPLOAD, PendingCompletion
from .._io.checkpoint import CheckpointStore
from .planner import StreamPlan, plan_parts
from .session import FileIdentity, GrowingPlan, UploadSession
from . import _resume

logger = logging.getLogger(__name__)

#: COS's answer to Complete with ``x-cos-forbid-overwrite: true`` when the key exists (a race with a writer).
FILE_ALREADY_EXISTS = "FileAlreadyExists"

#: The paths an upload can take.
SINGLE_PUT = "single-put"
MULTIPART = "multipart"
STREAM = "stream"


class HasEndpoint(Protocol):
    """A client (sync or async): what a session needs to know of it."""

    @property
    def bucket(self) -> str:
        """The bucket."""

    @property
    def endpoint(self) -> "_Endpoint":
        """Where it sends requests."""


class _Endpoint(Protocol):
    @property
    def base_url(self) -> str:
        """Base URL."""



Described = Union[FileSource, BufferSource, SourceFacts]


def is_stream(source: object) -> bool:
    """Whether ``source`` (a source or the machine's :class:`SourceFacts`) is a stream."""
    return isinstance(source, StreamSource) or (isinstance(source, SourceFacts) and source.kind == "stream")


def known_size(source: Described) -> int:
    """The size of a file or buffer (a stream's may be unknown: it is never planned as one)."""
    if source.size is None:
        raise TypeError("a stream has no plan of equal parts")
    return source.size


def client_dialect(client: HasEndpoint) -> Dialect:
    """The client's dialect; COS for a client-like object whose endpoint names none (test doubles,
    clients written before dialects)."""
    dialect = getattr(client.endpoint, "dialect", COS)
    return dialect if isinstance(dialect, Dialect) else COS


def check_config(config: UploadConfig, client: HasEndpoint) -> UploadConfig:
    """``config`` once its part size and object options fit the client's service (COS 1 MB, OSS 100 KB, up
    to 5 GB; OSS has no SSE-C, grants or KMS context): an :class:`UploadConfig` is dialect-neutral and
    checked only against the loosest rules when made.

    Raises:
        CosValidationError: ``part_size`` is outside the service's range, or an option the service lacks is
            set (nothing sent, nothing created).
    """
    dialect = client_dialect(client)
    if config.part_size is not None:
        plan_parts(0, config.part_size, min_part_size=dialect.min_part_size)
    dialect.to_wire(config.options.headers())
    return config


def check_upload_key(key: object, client: HasEndpoint) -> str:
    """``key`` once it is a key an upload may write: the service's key rules, and no trailing ``/``.

    A key ending in ``/`` names a folder: uploading a file there would make an object called ``backups/``
    that listings show as a folder. The command line appends the file's name to a target ending in ``/``;
    the library does not guess, the caller gives the whole key.

    Raises:
        CosValidationError: ``key`` breaks a rule (nothing sent).
    """
    checked = validate_key(key, max_bytes=client_dialect(client).max_key_bytes)
    if checked.endswith("/"):
        raise CosValidationError(
            "key", checked, "an object key that does not end in '/' (that would make an object named like a folder; "
            "the command line appends the file name to a target ending in '/', the library does not: give the "
            "whole key, e.g. 'backups/data.bin')",
        )  # fmt: skip
    return checked


def check_progress(progress: object, *, awaitable: bool = False) -> None:
    """Refuse a ``progress`` that cannot be called, before any request (it is first called after Initiate).

    Raises:
        CosValidationError: ``progress`` is neither ``None`` nor callable.
    """
    if progress is not None and not callable(progress):
        returns = ", returning None or an awaitable" if awaitable else ""
        raise CosValidationError("progress", progress, f"None or a callable taking a ProgressEvent{returns}")


def check_store(store: object) -> None:
    """Refuse a ``store`` that is not a :class:`~cos_multipart._io.checkpoint.CheckpointStore` (or ``None``).

    Raises:
        CosValidationError: ``store`` is something else.
    """
    if store is not None and not isinstance(store, CheckpointStore):
        raise CosValidationError("store", type(store).__name__, "None or a cos_multipart.CheckpointStore")


def endpoint_url(client: HasEndpoint) -> str:
    """The base URL the client talks to (checkpoints are only valid for the same service)."""
    return client.endpoint.base_url


# --- which path -------------------------------------------------------------------------------------------


def path_without_checkpoint(source: Union[AnySource, SourceFacts], config: UploadConfig, key: str, *, resume_only: bool) -> Optional[str]:
    """The path of a source that has no checkpoint (not a file given by path), or ``None`` for a path.

    Raises:
        ResumeError: ``resume_only`` and the source is not a file given by path.
    """
    if is_stream(source):
        if resume_only:
            raise ResumeError("the stream", key, "only a file given by path can be resumed")
        return STREAM
    if source.path is None:
        if resume_only:
            raise ResumeError("the source", key, "only a file given by path can be resumed")
        return SINGLE_PUT if known_size(cast(Described, source)) < config.multipart_threshold else MULTIPART
    return None


def path_with_checkpoint(
    source: Described, config: UploadConfig, stored: Optional[UploadSession], *, resume_only: bool
) -> str:
    """The path of a file given by path, once its checkpoint (``stored``) was looked up under its lock."""
    if stored is None and not resume_only and known_size(source) < config.multipart_threshold:
        return SINGLE_PUT
    return MULTIPART


def stream_is_small(first: "bytes | memoryview", first_size: int, config: UploadConfig) -> bool:
    """Whether a stream whose first read gave ``first`` goes up in one PUT (it ended below the threshold)."""
    return len(first) < min(first_size, config.multipart_threshold)


def content_md5(digest: PartDigest) -> str:
    """The ``Content-MD5`` header of a single PUT (COS refuses a body damaged in transit)."""
    return base64.b64encode(bytes.fromhex(digest.md5_hex or "")).decode("ascii")


# --- sessions and resume -------------------------------------------------------------------------------


def planned_session(
    client: HasEndpoint, config: UploadConfig, source: Described, key: str
) -> UploadSession:
    """The session a new upload of ``source`` will run, made (plan and all) before Initiate: a part size that
    cannot carry the file is refused while nothing exists on COS. Its ``upload_id`` is empty until
    :func:`initiated` sets it.

    Raises:
        CosValidationError: ``part_size`` does not fit this file on this service (nothing sent).
    """
    return wanted_session(client, config, source, key, "", config.part_size)


def initiated(planned: UploadSession, upload_id: str, created: Optional[float] = None) -> UploadSession:
    """``planned`` with the upload id Initiate answered (at ``created``, Unix time; default: now)."""
    return dataclasses.replace(planned, upload_id=upload_id, created=time.time() if created is None else created)


def check_plan(client: HasEndpoint, config: UploadConfig, source: Union[AnySource, SourceFacts], key: str) -> None:
    """Plan a file or buffer source before anything else happens (lock, checkpoint, any request): a part size
    that cannot carry it, or a file larger than the service allows, is refused first. Streams are planned by
    :func:`~cos_multipart._core.planner.stream_plan` before their first read.

    Raises:
        CosValidationError: ``part_size`` does not fit this source on this service (nothing sent).
    """
    if not is_stream(source):
        # The plan alone (what planned_session checks): the session's option digests are not needed to refuse
        # a part size, and each small file's upload_file call would compute them for nothing.
        plan_parts(known_size(cast(Described, source)), config.part_size, min_part_size=client_dialect(client).min_part_size)


def wanted_session(
    client: HasEndpoint,
    config: UploadConfig,
    source: Described,
    key: str,
    upload_id: str,
    part_size: Optional[int],
) -> UploadSession:
    """The session this file and configuration make, with ``part_size`` (``None``: automatic)."""
    return UploadSession(
        endpoint=endpoint_url(client),
        bucket=client.bucket,
        key=key,
        upload_id=upload_id,
        plan=plan_parts(known_size(source), part_size, min_part_size=client_dialect(client).min_part_size),
        options_digest=config.options_digest(key),
        option_digests=config.option_digests(key),
        service=client_dialect(client).name,
        encryption=config.encryption_mode,
        sse_c_key_md5=config.sse_c.key_md5 if config.sse_c is not None else None,
        source=source.path,
        identity=getattr(source, "identity", None),
        created=0.0,  # not read: :func:`initiated` sets it from Initiate's answer (no clock read here)
    )


def stale_reason(
    client: HasEndpoint, config: UploadConfig, source: Described, key: str, stored: UploadSession
) -> Optional[str]:
    """Why ``stored`` cannot be resumed with today's file and configuration, or ``None``."""
    if not config.resume:
        return "resume is off"
    # A resumed upload keeps its own part size unless one is asked for.
    part_size = config.part_size if config.part_size is not None else stored.part_size
    try:
        wanted = wanted_session(client, config, source, key, "", part_size)
    except CosValidationError as error:  # the file grew past what that part size can carry
        return str(error)
    return _resume.stale_reason(stored, wanted, part_size_given=config.part_size is not None)


def refuse_stale(stored: UploadSession, source: Described, key: str, reason: str, *, resume_only: bool) -> None:
    """A stale checkpoint: raise :class:`ResumeError` for a resume (nothing is changed); an upload goes on, aborts
    the old upload and then calls :func:`stale_abandoned`."""
    if resume_only:
        raise ResumeError(source.name, key, reason)


def stale_abandoned(stored: UploadSession, source: Described, reason: str, *, aborted: bool) -> None:
    """Say in one line why the stored upload was not resumed and what became of it."""
    logger.warning(
        "not resuming upload %s of %s: %s; the old upload %s and a new upload starts", stored.upload_id,
        source.name, reason, "was aborted" if aborted else "was already gone from COS",
    )  # fmt: skip


def refuse_lost(stored: UploadSession, source: Described, key: str, *, resume_only: bool) -> None:
    """COS no longer has the stored upload: raise :class:`ResumeError` for a resume, else say so once."""
    if resume_only:  # a refused resume changes nothing; an upload will start afresh and say so
        raise ResumeError(source.name, key, f"COS no longer has upload {stored.upload_id}; an upload starts a new one")
    logger.warning("upload %s of %s is gone from COS; starting a new upload", stored.upload_id, key)


#: Seconds before a retried Initiate's first attempt that an extra upload of the key may carry as its
#: initiation time (COS's clock against this one's, with the offset learnt from clock errors): uploads of the key
#: initiated in that window, other than the one answered, are this run's and are aborted.
INITIATE_WINDOW_SLACK = 60.0


def extra_initiated(uploads: Iterable[UploadInfo], key: str, kept: str, since: float) -> List[str]:
    """Upload ids of ``key`` initiated since ``since`` (Unix time, slack included) other than ``kept``: what the
    lost answers of a retried Initiate created. An upload with no initiation time is left alone."""
    found = []
    for upload in uploads:
        initiated = upload.initiated
        if upload.key != key or upload.upload_id == kept or initiated is None:
            continue
        if initiated.timestamp() >= since - INITIATE_WINDOW_SLACK:
            found.append(upload.upload_id)
    return found


def worker_file_change(session: UploadSession, here: FileIdentity) -> Optional[SourceChangedError]:
    """Why the file another machine read (its identity ``here``) is not the one the upload started from.

    Size and modification time only: device numbers differ between machines mounting the same share.
    """
    started = session.identity
    if started is None or (started.size, started.mtime_ns) == (here.size, here.mtime_ns):
        return None
    change = started.difference(here) or "it was modified"
    path = session.source or ""
    return SourceChangedError(f"{path} on a worker is not the file the upload started from ({change})", path=path)


def lost_but_aborted(stored: UploadSession, *, aborted: bool) -> None:
    """List Parts said the upload was gone, yet aborting it worked: it was not gone (a false answer), and
    aborting it is what kept it from being orphaned."""
    if aborted:
        logger.warning("upload %s was reported gone but still existed: aborted it, so it is not left behind", stored.upload_id)


def earlier_completion(stored: UploadSession, reason: Optional[str]) -> Optional[PendingCompletion]:
    """What the object is if an earlier run's Complete succeeded (it was sent: ``stored.completing``), or ``None``.

    Only for a checkpoint that still applies (``reason`` is ``None``) and records every part of the plan.
    """
    if not stored.completing or reason is not None or len(stored.parts) != stored.plan.count:
        return None
    try:
        return PendingCompletion.of(stored, stored.parts)
    except CosIntegrityError:
        return None


def recorded_listing(stored: UploadSession) -> List[PartInfo]:
    """The stored receipts as a List Parts answer would give them (to re-read them with ``_resume.reuse``)."""
    return [PartInfo(part.part_number, part.etag, part.size) for part in stored.parts]


def nothing_to_resume(source: Described, key: str) -> ResumeError:
    """The error of a resume that found no checkpoint."""
    return ResumeError(source.path or "", key, "no checkpoint records an interrupted upload of this file to this key")


def checkpoints(config: UploadConfig, session: UploadSession) -> bool:
    """Whether a newly initiated session is recorded in a checkpoint (files given by path, resume on)."""
    return session.source is not None and config.resume


# --- overwriting ----------------------------------------------------------------------------------------


def overwrite_refusal(
    head_error: Optional[CosServiceError], bucket: str, key: str, service: str = "cos"
) -> Optional[BaseException]:
    """With ``forbid_overwrite``: what the HEAD of ``key`` means (``head_error`` is ``None`` when it exists).

    Returns ``None`` when the key is free (404), else the exception to raise.
    """
    if head_error is None:
        return ObjectExistsError(bucket, key, service=service)
    return None if head_error.status == 404 else head_error


class refusing_existing:  # noqa: N801 - used as a function: ``with refusing_existing(bucket, key):``
    """Inside: COS's 409 ``FileAlreadyExists`` is raised as :class:`ObjectExistsError` (sync or async code).

    A class, not a generator-based context manager: it wraps every single PUT of a tree's small files, and a
    generator costs several times the calls to enter and leave.
    """

    __slots__ = ("_bucket", "_key", "_service")

    def __init__(self, bucket: str, key: str, service: str = "cos") -> None:
        self._bucket = bucket
        self._key = key
        self._service = service

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type], error: Optional[BaseException], traceback: object) -> None:
        if isinstance(error, CosServiceError):
            exists = exists_error(error, self._bucket, self._key, self._service)
            if exists is not None:
                raise exists from error


def exists_error(error: BaseException, bucket: str, key: str, service: str = "cos") -> Optional[ObjectExistsError]:
    """COS's 409 ``FileAlreadyExists`` (Complete or PUT with forbid-overwrite) as :class:`ObjectExistsError`."""
    if isinstance(error, CosServiceError) and error.status == 409 and error.code == FILE_ALREADY_EXISTS:
        return ObjectExistsError(bucket, key, service=service)
    return None


# --- failure --------------------------------------------------------------------------------------------


def object_completed(error: BaseException) -> bool:
    """Whether Complete succeeded before ``error`` (a whole-object CRC-64 mismatch): nothing to abort."""
    return isinstance(error, CosIntegrityError) and error.part_number is None and error.what == "crc64"


def gone_error(error: BaseException, session: UploadSession) -> Optional[UploadGoneError]:
    """``error`` as :class:`UploadGoneError` when it says the running upload is gone (a part or Complete answered
    404 ``NoSuchUpload``; Complete's own check that an earlier attempt made the object came first), else ``None``.

    A gone upload is not kept: its checkpoint could only make a resume fail.
    """
    return stream_gone_error(error, session.bucket, session.key, session.upload_id, session.service)


def stream_gone_error(error: BaseException, bucket: str, key: str, upload_id: str, service: str) -> Optional[UploadGoneError]:
    """:func:`gone_error` of an upload known by its target and id (a stream's, whose session is made at its end)."""
    if isinstance(error, UploadGoneError):
        return error
    if isinstance(error, CosServiceError) and upload_is_gone(error):
        return UploadGoneError(error, bucket=bucket, key=key, upload_id=upload_id, service=service)
    return None


def upload_is_gone(error: BaseException) -> bool:
    """Whether ``error`` is COS's 404 ``NoSuchUpload`` to a request of the running upload."""
    return isinstance(error, CosServiceError) and error.code == NO_SUCH_UPLOAD


def upload_gone(error: UploadGoneError) -> None:
    """Note that the running upload is gone (the error raised says so to the user: no warning line too)."""
    logger.debug("upload %s is gone (%s): checkpoint dropped, nothing kept", error.upload_id, error.code)


def keeps_upload(error: BaseException, config: UploadConfig, *, recorded: bool) -> bool:
    """Whether a failed upload is kept for a resume (it has a checkpoint) rather than aborted."""
    return (
        recorded
        and not config.abort_on_failure
        and not isinstance(error, (SourceChangedError, ObjectExistsError))
        and not upload_is_gone(error)
        and not object_completed(error)
    )


def attach_kept(error: BaseException, session: UploadSession, parts_done: int, checkpoint: str) -> None:
    """Set ``error.kept_upload`` (whatever the exception, KeyboardInterrupt and CancelledError included)."""
    kept = KeptUpload(
        bucket=session.bucket, key=session.key, upload_id=session.upload_id, parts_done=parts_done,
        parts_total=session.plan.count, checkpoint=checkpoint, source=session.source, service=session.service,
    )  # fmt: skip
    with contextlib.suppress(AttributeError, TypeError):
        setattr(error, KEPT_UPLOAD_ATTRIBUTE, kept)
    logger.debug("upload %s stopped (%s); checkpoint kept for resume", session.upload_id, type(error).__name__)


def abort_failed(upload_id: str, error: BaseException) -> None:
    """Log an abort that failed after the upload itself failed (the original error matters more)."""
    logger.warning("could not abort upload %s: %s", upload_id, error)


# --- streams --------------------------------------------------------------------------------------------


class StreamCutter:
    """Numbers the parts read from a stream, tells the size of the next read and finds the end (pure).

    Args:
        schedule: The part sizes.
        check_length: Called with the stream's length at its end, before the last part goes out
            (:meth:`~cos_multipart._io._sources.StreamSource.check_length`).
    """

    def __init__(self, schedule: StreamPlan, check_length: Callable[[int], None]) -> None:
        self.schedule = schedule
        self._check_length = check_length
        self.number = 0
        self.size = 0
        self.ended = False

    def next_read(self) -> Optional[int]:
        """Bytes to read for the next part, or ``None`` at the end of the stream."""
        if self.ended:
            return None
        # Past the last part number the schedule raises, naming its capacity, unless the stream ended.
        return self.schedule.part_size_of(self.number + 1) if self.number < MAX_PART_NUMBER else 1

    def take(self, length: int) -> Optional[int]:
        """A part of ``length`` bytes was read: its number, or ``None`` when the stream ended before it."""
        if length == 0 and self.number > 0:
            self.ended = True
            self._check_length(self.size)
            return None
        self.number += 1
        self.size += length
        if length < self.schedule.part_size_of(self.number):  # the end of the stream
            self.ended = True
            self._check_length(self.size)
        return self.number

    def session(self, client: HasEndpoint, key: str, upload_id: str, parts: int, config: UploadConfig) -> UploadSession:
        """The session of the whole stream, once it ended (for Complete's checks)."""
        plan = GrowingPlan(self.schedule, self.size, parts)
        return UploadSession(
            endpoint_url(client), client.bucket, key, upload_id, plan, encryption=config.encryption_mode,
            service=client_dialect(client).name, created=0.0,
        )  # fmt: skip
