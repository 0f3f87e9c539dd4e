"""The asyncio executor: runs the upload machine's actions with tasks instead of threads.

:class:`AsyncUpload` asks the :class:`~cos_multipart._core._machine.UploadMachine` what to do, sends each part as a
task (its bytes read and hashed in the upload's thread pool by :class:`~cos_multipart._drivers.aio_bodies.AsyncPart`,
paced and reported on the loop), does the local actions (lock, checkpoint, file reads) in that pool and the
progress ones on the loop, and hands each outcome back. It decides nothing: the path, resume, the
attempt-and-verify rules, Complete's checks and keep-or-abort are the machine's, the same as with threads.
:meth:`AsyncUpload.request` is the one place where an action becomes a client call.

Cancelling the awaiting task stops the machine: the part tasks are cancelled (their connections close), the
upload is kept (or aborted with ``abort_on_failure``), and ``CancelledError`` is re-raised carrying the
:class:`~cos_multipart._protocol.errors.KeptUpload`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, List, Optional, Union

from .._core._actions import (
    Abort, Complete, DeleteObject, Head, Initiate, ListParts, ListUploads, PutObject, ReadStreamPart,
    SendPart,
)  # fmt: skip
from .._core._config import UploadConfig, UploadResult
from .._core._decisions import upload_is_gone
from ._aio_executor import AsyncExecutor
from .threads import target_of
from ._localsteps import LOCAL_ACTIONS, PROGRESS_ACTIONS, LocalSteps, facts_of
from .._core._machine import UploadMachine, UploadStart
from .._core._outcomes import Initiated, Sent, SourceFacts
from .._io._partreader import BufferPartReader
from .._io._sources import AnySource, BodyOptions, PartBody, StreamSource
from .._io.checkpoint import CheckpointStore
from .._protocol.errors import CosServiceError
from .._protocol.limits import MAX_PART_NUMBER
from .._core.parts import Answer
from .._io.ratelimit import TokenBucket
from .aio_bodies import AsyncPart, Callbacks, IterStream, SyncStream, Threads, tracker
from .._io.aio_client import AsyncCosClient

logger = logging.getLogger(__name__)

__all__ = ["AsyncUpload", "abort_quietly", "pool_workers"]

AsyncStream = Union[SyncStream, IterStream]


async def abort_quietly(client: AsyncCosClient, key: str, upload_id: str) -> bool:
    """Abort an upload; ``False`` when the service does not know it (already finished or aborted)."""
    try:
        await client.abort_multipart_upload(key, upload_id)
        return True
    except CosServiceError as error:
        if upload_is_gone(error):
            return False
        raise


def pool_workers(concurrency: int) -> int:
    """Threads for reads and hashes: enough to keep the cores busy, not one per part in flight."""
    return max(2, min(concurrency, 2 * (os.cpu_count() or 1)))


class AsyncUpload(AsyncExecutor):
    """One upload on the loop: runs the upload machine (see the module docstring)."""

    def __init__(
        self,
        client: AsyncCosClient,
        config: UploadConfig,
        store: CheckpointStore,
        source: AnySource,
        stream: Optional[AsyncStream],
        key: str,
        threads: Threads,
        callbacks: Optional[Callbacks],
        *,
        resume_only: bool,
    ) -> None:
        super().__init__()
        self.client = client
        self.config = config
        self.source = source
        self.stream = stream
        self.key = key
        self.threads = threads
        self.callbacks = callbacks
        self.resume_only = resume_only
        self.started = time.monotonic()
        self.limiter = TokenBucket(config.bandwidth_limit) if config.bandwidth_limit else None
        self.local = LocalSteps(
            store, target_of(client), key, resume=config.resume, source=source, cancel=self.stop,
            make_tracker=lambda size, parts: tracker(size, parts, callbacks),
        )  # fmt: skip

    async def run(self) -> UploadResult:
        """The whole upload."""
        facts = facts_of(self.source)
        if self.stream is not None:
            facts = SourceFacts("stream", self.stream.size, name="the stream", check_length=self.stream.check_length)
        elif isinstance(self.source, StreamSource):  # a stream is always given as self.stream (see AsyncUploader)
            raise TypeError("a stream source needs its async reader")
        start = UploadStart(target_of(self.client), self.config, self.key, facts, self.resume_only)
        machine = UploadMachine.upload(start)
        await self.execute(machine)
        return machine.result(time.monotonic() - self.started)

    def prepare_part(self) -> None:
        self.client.ensure_pool_size(self.config.concurrency)

    async def perform(self, action: Any) -> object:
        if isinstance(action, PROGRESS_ACTIONS):
            self.local.perform(action)
            if self.callbacks is not None:
                await self.callbacks.settle()
            return None
        if isinstance(action, ReadStreamPart) and self.stream is not None:
            return await self.stream.read_part(action.size, md5=action.md5, integrity=self.local.target.dialect.integrity)
        if isinstance(action, LOCAL_ACTIONS):
            return await self.threads.run(self.local.perform, action)
        return await self.request(action)

    # -- the one place where an action becomes a client call --

    async def request(self, action: Any) -> object:
        """Send the request ``action`` stands for; its outcome."""
        client, config, key = self.client, self.config, self.key
        if isinstance(action, SendPart):
            body = self._part(action)
            result = await client.upload_part(
                key, action.upload_id, action.number, body, traffic_limit=config.traffic_limit, sse_c=config.sse_c
            )
            return Sent(await body.digest(), Answer(result.etag, result.crc64, result.request_id))
        if isinstance(action, PutObject):
            part = action.part
            whole = self._body(lambda: BufferPartReader(part.data, part.digest, 1), len(part.data), 1)
            put = await client.put_object(
                key, whole, content_md5=action.content_md5, traffic_limit=config.traffic_limit,
                forbid_overwrite=config.forbid_overwrite, options=config.object_options(key),
            )  # fmt: skip
            return Sent(await whole.digest(), Answer(put.etag, put.crc64, put.request_id, put.version_id))
        if isinstance(action, Head):
            return await client.head_object(key, sse_c=config.sse_c)
        if isinstance(action, Initiate):
            started = time.time() + client.transport.clock_offset
            made = await client.initiate_multipart_upload(key, options=config.object_options(key))
            return Initiated(made.upload_id, made.request_id, made.response.attempts, started, time.time())
        if isinstance(action, ListUploads):
            return [upload async for upload in client.list_multipart_uploads(prefix=key)]
        if isinstance(action, ListParts):
            listed: List[object] = []
            async for info in client.list_parts(key, action.upload_id):
                listed.append(info)
                if len(listed) > MAX_PART_NUMBER:
                    break  # the machine refuses a server whose pages never end
            return listed
        if isinstance(action, Complete):
            return await client.complete_multipart_upload(key, action.upload_id, list(action.parts), forbid_overwrite=action.forbid_overwrite)
        if isinstance(action, DeleteObject):
            return await client.delete_object(key, version_id=action.version_id)
        if isinstance(action, Abort):
            return await client.abort_multipart_upload(key, action.upload_id)
        raise TypeError(f"no request for {action!r}")

    def _part(self, action: SendPart) -> AsyncPart:
        """Part ``action.number``'s body: read and hashed in the thread pool, paced and reported on the loop."""
        data = action.data
        if data is not None:
            return self._body(lambda: BufferPartReader(data.data, data.digest, action.number), action.length, action.number)
        source = self.source
        if isinstance(source, StreamSource):
            raise TypeError("a stream's parts carry their bytes")
        options = BodyOptions(action.md5, None, None, self.stop, self.local.target.dialect.integrity)
        return self._body(lambda: source.body(action.number, action.offset, action.length, options), action.length, action.number)

    def _body(self, make_reader: Callable[[], PartBody], length: int, number: int) -> AsyncPart:
        return AsyncPart(make_reader, length, number, self.threads, self.local.progress, self.callbacks, self.limiter)

