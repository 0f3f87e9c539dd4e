"""The threaded driver: upload a file, a buffer or a stream in parallel parts, verified and resumable.

:func:`upload_file` is the one-call entry point; :class:`Uploader` with an :class:`UploadConfig` is the
reusable form. Everything the caller passes is validated before any request is sent or any state created.

The driver decides nothing about integrity itself; it runs the session core:

* sources (:mod:`cos_multipart._io._sources`): open, identify, read ranges; a file must still be the same file
  (size, mtime, ctime, inode, no bytes past the end) after its last read and before Complete;
* resume (:mod:`cos_multipart._core._resume`): a stored :class:`~cos_multipart._core.session.UploadSession` reconciled
  with List Parts, reused parts re-read and their CRC-64 compared (``verify_reused``), stale uploads aborted;
* parts (:mod:`cos_multipart._core.parts`): the attempt-and-verify rules for parts and the single PUT, and Complete
  checked against the receipts (count, order, sizes, combined CRC-64);
* the upload machine (:mod:`cos_multipart._core._machine`) that holds the sequence, run by the threaded executor
  (:mod:`cos_multipart._drivers.threads`) with a bounded pool of threads.

Failure: the first part that fails (after the client's retries and the integrity re-sends) stops the upload;
requests of this upload blocked on slow answers are freed at once (other uploads sharing the client are not
touched), and that part's error is raised. A resumable upload (a file given by path) keeps its checkpoint and
the exception carries a :class:`~cos_multipart._protocol.errors.KeptUpload`; other sources, ``abort_on_failure`` and a
changed source abort the multipart upload instead, so nothing half-made is left behind.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from .._core._decisions import check_config, check_progress, check_store, check_upload_key, client_dialect
from .._core._config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MULTIPART_THRESHOLD,
    MAX_CONCURRENCY,
    config_of,
    UploadConfig,
    UploadResult,
)
from .threads import Upload, abort_quietly, endpoint_url
from .._io._sources import Source, open_source
from .._io.checkpoint import CheckpointStore
from .._io.client import CosClient
from .._protocol.endpoint import validate_key
from .._protocol.errors import CosValidationError
from .._protocol.options import ObjectOptions
from .._core.parts import DEFAULT_PART_ATTEMPTS
from .._core.progress import ProgressCallback
from .._core.session import UploadSession

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MULTIPART_THRESHOLD",
    "MAX_CONCURRENCY",
    "UploadConfig",
    "UploadResult",
    "Uploader",
    "upload_file",
]

PathLike = Union[str, "os.PathLike[str]"]


class Uploader:
    """Uploads files, buffers and streams with one client and one configuration.

    Args:
        client: A :class:`cos_multipart._io.client.CosClient`.
        config: How to upload; the defaults suit most files.
        store: Checkpoint storage (default: a store in ``config.checkpoint_dir``).

    The uploader holds no per-upload state and can be used from several threads, one upload per call.
    """

    def __init__(
        self, client: CosClient, config: Optional[UploadConfig] = None, *, store: Optional[CheckpointStore] = None
    ) -> None:
        if config is not None and not isinstance(config, UploadConfig):
            raise CosValidationError("config", type(config).__name__, "None or an UploadConfig")
        check_store(store)
        self.client = client
        self.config = check_config(config if config is not None else UploadConfig(), client)
        self.store = store if store is not None else CheckpointStore(self.config.checkpoint_dir)

    def upload(self, source: Source, key: str, *, progress: Optional[ProgressCallback] = None) -> UploadResult:
        """Upload ``source`` to ``key`` and verify it; an interrupted upload of the same file resumes.

        Args:
            source: A path, ``bytes``-like data, a binary file object (read from its current position), a
                non-seekable binary stream (read to its end), or an iterator of bytes-like chunks (a generator:
                read like a stream, one part buffer at a time).
            key: Object key.
            progress: Called with a :class:`~cos_multipart._core.progress.ProgressEvent` as bytes go out.

        Raises:
            CosValidationError: Bad key (a key ending in ``/`` included), source, ``progress`` or options;
                a part size that cannot carry the file (nothing sent).
            SourceNotFoundError: No file at the path (a ``CosValidationError`` and a ``FileNotFoundError``).
            UploadLockedError: Another process is uploading the same file to the same key.
            ObjectExistsError: ``forbid_overwrite`` and the key exists (nothing uploaded).
            CosIntegrityError: COS's checksums disagree with the local bytes after the allowed re-sends.
            CosServiceError / CosTransportError: The request that failed, after retries.
            SourceChangedError: The file changed while it was uploaded (nothing completed).
            UploadGoneError: The multipart upload was aborted elsewhere while it ran (``NoSuchUpload``);
                its checkpoint is dropped and nothing is kept.
        """
        return self._run(source, key, progress, resume_only=False)

    def resume(self, path: PathLike, key: str, *, progress: Optional[ProgressCallback] = None) -> UploadResult:
        """Finish an interrupted upload of ``path`` to ``key``, sending only the missing parts.

        Raises:
            ResumeError: No checkpoint, a stale one (the file or the options changed), or COS no longer has the
                upload; nothing is sent or started.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise CosValidationError("path", type(path).__name__, "the path of the file being uploaded")
        if not self.config.resume:
            raise CosValidationError("resume", False, "True to resume an upload")
        return self._run(path, key, progress, resume_only=True)

    def _run(self, source: Source, key: str, progress: Optional[ProgressCallback], *, resume_only: bool) -> UploadResult:
        check_upload_key(key, self.client)
        check_progress(progress)
        opened = open_source(source)
        try:
            return Upload(self.client, self.config, self.store, opened, key, progress, resume_only=resume_only).run()
        finally:
            opened.close()

    def abort(self, key: str, upload_id: str) -> bool:
        """Abort a multipart upload; ``False`` when COS does not know it (already finished or aborted)."""
        return abort_quietly(self.client, key, upload_id)

    def checkpoint_for(self, path: PathLike, key: str) -> Optional[UploadSession]:
        """The stored session an upload of ``path`` to ``key`` would look at, if any."""
        validate_key(key, max_bytes=client_dialect(self.client).max_key_bytes)
        return self.store.load(endpoint_url(self.client), self.client.bucket, key, path)


def upload_file(
    client: CosClient,
    source: Source,
    key: str,
    *,
    part_size: Optional[int] = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    resume: bool = True,
    checkpoint_dir: Optional[PathLike] = None,
    abort_on_failure: bool = False,
    part_attempts: int = DEFAULT_PART_ATTEMPTS,
    verify_md5: bool = True,
    verify_reused: bool = True,
    bandwidth_limit: Optional[int] = None,
    traffic_limit: Optional[int] = None,
    expected_size: Optional[int] = None,
    forbid_overwrite: Optional[bool] = None,
    options: Optional[ObjectOptions] = None,
    progress: Optional[ProgressCallback] = None,
    store: Optional[CheckpointStore] = None,
) -> UploadResult:
    """Upload a file, buffer, file object or stream to ``key``: parallel parts, verified, resumable.

    The keyword arguments are those of :class:`UploadConfig`; ``progress`` and ``store`` as for
    :meth:`Uploader.upload` and :class:`Uploader`.

    Returns:
        The verified :class:`UploadResult`.
    """
    config = config_of(locals())
    return Uploader(client, config, store=store).upload(source, key, progress=progress)
