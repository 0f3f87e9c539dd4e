"""The asyncio executor of a server-side copy: runs the copy machine's actions as tasks on the loop.

:class:`AsyncCopy` is an :class:`~cos_multipart._drivers._aio_executor.AsyncExecutor`: each part copy is a task,
other requests are awaited where it loops, the checkpoint's file work runs in a thread (the loop is never blocked)
and progress on the loop. It decides nothing (:mod:`cos_multipart._core._copyflow` does).
:meth:`AsyncCopy.request` is the one place where a copy action becomes an async client call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, List, Mapping, Optional, Union

from .._core._actions import Abort, Complete, DeleteObject, ListParts
from .._core._copyflow import CopyMachine, CopyStart
from .._core._config import DEFAULT_CONCURRENCY
from .._core._copyvalues import DEFAULT_COPY_THRESHOLD, CopyConfig, CopyObject, CopyPart, CopyResult, HeadDestination, HeadSource, InitiateCopy
from .._core._outcomes import Initiated
from .._core.progress import ProgressCallback, ProgressTracker
from .._io._sources import BufferSource
from .._io.aio_client import AsyncCosClient
from .._io.checkpoint import CheckpointStore
from .._protocol.copy_ops import CopySource, MetadataDirective
from .._protocol.options import Acl, ObjectOptions, StorageClass, Tagging
from .._protocol.sse import EncryptionLike
from .copier import prepare_copy
from .copying import source_client_of
from .._protocol.limits import MAX_PART_NUMBER
from ._aio_executor import AsyncExecutor
from ._localsteps import LOCAL_ACTIONS, PROGRESS_ACTIONS, LocalSteps
from .threads import target_of

__all__ = ["AsyncCopy", "async_copy_object"]


class AsyncCopy(AsyncExecutor):
    """One server-side copy on the loop (arguments as :class:`~cos_multipart._drivers.copying.Copy`'s)."""

    def __init__(
        self, client: AsyncCosClient, source_client: AsyncCosClient, config: CopyConfig, store: CheckpointStore, source: CopySource,
        key: str, callback: Optional[ProgressCallback],
    ) -> None:  # fmt: skip
        super().__init__()
        self.client = client
        self.source_client = source_client
        self.config = config
        self.source = source
        self.key = key
        self.started = time.monotonic()
        self.local = LocalSteps(
            store, target_of(client), key, resume=config.resume, source=BufferSource(b""), cancel=self.stop,
            make_tracker=lambda size, parts: ProgressTracker(size, parts, callback),
        )  # fmt: skip

    async def run(self) -> CopyResult:
        """The whole copy: its verified result, or its failure raised."""
        machine = CopyMachine.copy(CopyStart(target_of(self.client), self.config, self.key, self.source))
        await self.execute(machine)
        return machine.result(time.monotonic() - self.started)

    def prepare_part(self) -> None:
        self.client.ensure_pool_size(self.config.concurrency)

    async def perform(self, action: Any) -> object:
        if isinstance(action, PROGRESS_ACTIONS):
            return self.local.perform(action)
        if isinstance(action, LOCAL_ACTIONS):
            return await asyncio.get_running_loop().run_in_executor(None, self.local.perform, action)
        return await self.request(action)

    async def request(self, action: Any) -> object:
        """Send the request ``action`` stands for; its outcome."""
        client, config, key, source = self.client, self.config, self.key, self.source
        if isinstance(action, CopyPart):
            last = action.offset + action.length - 1
            return await client.upload_part_copy(
                key, action.upload_id, action.number, source=source, source_range=(action.offset, last),
                source_if_match=action.etag, source_sse_c=config.source_sse_c, sse_c=config.sse_c, traffic_limit=config.traffic_limit,
            )  # fmt: skip
        if isinstance(action, HeadSource):
            return await self.source_client.head_object(source.key, sse_c=config.source_sse_c)
        if isinstance(action, HeadDestination):
            return await client.head_object(key, sse_c=config.sse_c)
        if isinstance(action, CopyObject):
            return await client.copy_object(
                key, source=source, metadata_directive=config.metadata_directive, options=config.options,
                source_if_match=action.etag, source_sse_c=config.source_sse_c, traffic_limit=config.traffic_limit,
                forbid_overwrite=config.forbid_overwrite,
            )  # fmt: skip
        if isinstance(action, InitiateCopy):
            started = time.time() + client.transport.clock_offset
            made = await client.initiate_multipart_upload(key, options=config.with_content(action.content))
            return Initiated(made.upload_id, made.request_id, made.response.attempts, started, time.time())
        if isinstance(action, ListParts):
            listed: List[object] = []
            async for info in client.list_parts(key, action.upload_id):
                listed.append(info)
                if len(listed) > MAX_PART_NUMBER:
                    break
            return listed
        if isinstance(action, Complete):
            return await client.complete_multipart_upload(key, action.upload_id, list(action.parts), forbid_overwrite=action.forbid_overwrite)
        if isinstance(action, DeleteObject):
            return await client.delete_object(key, version_id=action.version_id)
        if isinstance(action, Abort):
            return await client.abort_multipart_upload(key, action.upload_id)
        raise TypeError(f"no request for {action!r}")


async def async_copy_object(
    client: AsyncCosClient,
    source: Union[CopySource, str],
    key: str,
    *,
    source_client: Optional[AsyncCosClient] = None,
    metadata_directive: MetadataDirective = "Copy",
    options: Optional[ObjectOptions] = None,
    content_type: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    storage_class: Optional[StorageClass] = None,
    acl: Optional[Acl] = None,
    tagging: Tagging = None,
    encryption: EncryptionLike = None,
    source_sse_c: EncryptionLike = None,
    traffic_limit: Optional[int] = None,
    forbid_overwrite: Optional[bool] = None,
    part_size: Optional[int] = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    threshold: int = DEFAULT_COPY_THRESHOLD,
    resume: bool = True,
    checkpoint_dir: Optional[str] = None,
    abort_on_failure: bool = False,
    progress: Optional[ProgressCallback] = None,
    store: Optional[CheckpointStore] = None,
) -> CopyResult:
    """:func:`cos_multipart.copy_object` on the event loop: the same arguments (with async clients), checks
    and result. Cancelling the awaiting task stops the part copies and keeps the copy for a resume (or aborts
    it with ``abort_on_failure``)."""
    config, resolved, chosen_store = prepare_copy(client, source, key, locals())
    head_client = source_client if source_client is not None else source_client_of(client, resolved, AsyncCosClient)
    try:
        return await AsyncCopy(client, head_client, config, chosen_store, resolved, key, progress).run()
    finally:
        if head_client is not client and source_client is None:
            await head_client.close()
