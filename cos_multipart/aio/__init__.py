"""asyncio for cos-multipart: :class:`AsyncCosClient`, :class:`AsyncUploader` and :func:`async_upload_file`.

Needs the ``async`` extra (``pip install 'cos-multipart[async]'``, which installs aiohttp); ``import
cos_multipart`` alone never imports aiohttp.

The async uploader has the threaded one's options (:class:`~cos_multipart.UploadConfig`) and guarantees, on
the same session core: every part's CRC-64 (and ETag, where it is an MD5) checked, the whole object's CRC-64,
checkpoint and resume in the same format (an upload interrupted by either driver resumes with the other),
bounded memory, the bandwidth cap, progress callbacks (plain functions, or ones returning awaitables). The
event loop is never blocked: file reads, hashing, checkpoint writes and the lock run in the upload's own
threads. Cancelling the task that awaits an upload stops it promptly, keeps the checkpoint (or aborts with
``abort_on_failure``), leaves no task, thread or connection behind, and re-raises ``CancelledError`` with
``error.kept_upload`` (:func:`cos_multipart._protocol.errors.kept_upload_of`).

Example::

    from cos_multipart.aio import AsyncCosClient, async_upload_file

    async with AsyncCosClient("examplebucket-1250000000", "ap-guangzhou") as client:
        result = await async_upload_file(client, "video.mp4", "videos/video.mp4", concurrency=16)
"""

from __future__ import annotations

import io
import os
from typing import Any, AsyncIterable, Optional, Union

from .._core._decisions import check_config, check_progress, check_store, check_upload_key, client_dialect
from .._core._config import DEFAULT_CONCURRENCY, DEFAULT_MULTIPART_THRESHOLD, UploadConfig, UploadResult, config_of
from .._core._decisions import endpoint_url
from .._io._sources import Source, StreamSource, open_source
from .._io.checkpoint import CheckpointStore
from .._protocol.endpoint import validate_key
from .._protocol.errors import CosValidationError
from .._protocol.options import ObjectOptions
from .._core.parts import DEFAULT_PART_ATTEMPTS
from .._core.session import UploadSession
from .._drivers.aio_bodies import AsyncProgressCallback, Callbacks, IterStream, SyncStream, Threads
from .._io.aio_client import AsyncCosClient
from .._drivers.aio import AsyncUpload, abort_quietly, pool_workers
from .._io.aio_transport import AsyncBody, AsyncTransport
from .._io._streams import AsyncObjectStream
from .._io._transports import AsyncHttpTransport
from .._drivers.aio_copy import async_copy_object
from .._drivers.aio_download import async_download_file
from .._drivers.aio_presigned import AsyncPresignedUploads  # presigned multipart uploads (issue 26)

__all__ = [
    "AsyncBody",
    "AsyncCosClient",
    "AsyncHttpTransport",
    "AsyncObjectStream",
    "AsyncProgressCallback",
    "AsyncSource",
    "AsyncTransport",
    "AsyncUploader",
    "async_upload_file",
    "async_copy_object",
    "async_download_file",
    "AsyncPresignedUploads",
]

PathLike = Union[str, "os.PathLike[str]"]
#: What an async upload reads: what the threaded one reads, or an async iterator of bytes-like chunks.
AsyncSource = Union[Source, AsyncIterable[Any]]


class AsyncUploader:
    """Uploads files, buffers and streams with one async client and one configuration.

    Args:
        client: An :class:`AsyncCosClient`.
        config: How to upload (:class:`~cos_multipart.UploadConfig`, the threaded uploader's).
        store: Checkpoint storage (default: a store in ``config.checkpoint_dir``), shared with the threaded
            uploader: either resumes the other's interrupted uploads.

    It holds no per-upload state: run several uploads at once from several tasks.
    """

    def __init__(
        self, client: AsyncCosClient, config: Optional[UploadConfig] = None, *, store: Optional[CheckpointStore] = None
    ) -> None:
        if config is not None and not isinstance(config, UploadConfig):
            raise CosValidationError("config", type(config).__name__, "None or an UploadConfig")
        check_store(store)
        self.client = client
        self.config = check_config(config if config is not None else UploadConfig(), client)
        self.store = store if store is not None else CheckpointStore(self.config.checkpoint_dir)

    async def upload(
        self, source: AsyncSource, key: str, *, progress: Optional[AsyncProgressCallback] = None
    ) -> UploadResult:
        """Upload ``source`` to ``key`` and verify it; an interrupted upload of the same file resumes.

        Args:
            source: A path, ``bytes``-like data, a binary file object (read in threads from its current
                position), a non-seekable binary stream, an iterator of bytes-like chunks (read in threads),
                or an async iterator of bytes-like chunks (an aiohttp request's ``content.iter_chunked(...)``,
                for example).
            key: Object key.
            progress: Called on the loop with a :class:`~cos_multipart._core.progress.ProgressEvent` as bytes go
                out; if it returns an awaitable, that is awaited before the upload goes on.

        Raises:
            The threaded :meth:`~cos_multipart.Uploader.upload`'s errors; ``CancelledError`` when cancelled.
        """
        return await self._run(source, key, progress, resume_only=False)

    async def resume(self, path: PathLike, key: str, *, progress: Optional[AsyncProgressCallback] = None) -> UploadResult:
        """Finish an interrupted upload of ``path`` to ``key`` (by either driver), sending only missing parts.

        Raises:
            ResumeError: No checkpoint, a stale one, or COS no longer has the upload; nothing is sent or started.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise CosValidationError("path", type(path).__name__, "the path of the file being uploaded")
        if not self.config.resume:
            raise CosValidationError("resume", False, "True to resume an upload")
        return await self._run(path, key, progress, resume_only=True)

    async def _run(
        self, source: AsyncSource, key: str, progress: Optional[AsyncProgressCallback], *, resume_only: bool
    ) -> UploadResult:
        check_upload_key(key, self.client)
        check_progress(progress, awaitable=True)
        threads = Threads(pool_workers(self.config.concurrency))
        try:
            if hasattr(source, "__aiter__"):
                opened: Any = StreamSource(io.BytesIO(), None)  # stands for the iterator: never read
                stream: Any = IterStream(source, threads)  # type: ignore[arg-type]
            else:
                opened = await threads.run(open_source, source)  # opening and stat are file system calls
                stream = SyncStream(opened, threads) if isinstance(opened, StreamSource) else None
            try:
                callbacks = Callbacks(progress) if progress is not None else None
                upload = AsyncUpload(
                    self.client, self.config, self.store, opened, stream, key, threads, callbacks,
                    resume_only=resume_only,
                )  # fmt: skip
                return await upload.run()
            finally:
                await threads.run(opened.close)
        finally:
            await threads.close()

    async def abort(self, key: str, upload_id: str) -> bool:
        """Abort a multipart upload; ``False`` when COS does not know it (already finished or aborted)."""
        return await abort_quietly(self.client, key, upload_id)

    def checkpoint_for(self, path: PathLike, key: str) -> Optional[UploadSession]:
        """The stored session an upload of ``path`` to ``key`` would look at, if any (reads one small file)."""
        validate_key(key, max_bytes=client_dialect(self.client).max_key_bytes)
        return self.store.load(endpoint_url(self.client), self.client.bucket, key, path)


async def async_upload_file(
    client: AsyncCosClient,
    source: AsyncSource,
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
    progress: Optional[AsyncProgressCallback] = None,
    store: Optional[CheckpointStore] = None,
) -> UploadResult:
    """Upload a file, buffer, file object, stream or async iterator to ``key``: parallel parts, verified,
    resumable; the async :func:`~cos_multipart.upload_file` (same keyword arguments, the
    :class:`~cos_multipart.UploadConfig` fields).

    Returns:
        The verified :class:`~cos_multipart.UploadResult`.
    """
    config = config_of(locals())
    return await AsyncUploader(client, config, store=store).upload(source, key, progress=progress)
