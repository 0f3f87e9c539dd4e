"""The threaded executor of a server-side copy: runs the copy machine's actions (:mod:`cos_multipart._core._copyflow`).

:class:`Copy` is a :class:`~cos_multipart._drivers._executor.ClientExecutor`: part copies (``CopyPart``) go out on
its pool, everything else where it loops; the local actions (lock, checkpoint, CRC-64 combination, progress) are
the upload's own (:class:`~cos_multipart._drivers._localsteps.LocalSteps`). It decides nothing.
:func:`copy_call` is the one place where a copy action becomes a sync client call. No byte of the object passes
through this process: each request only names the source.
"""

from __future__ import annotations

import threading
import time
from itertools import islice
from typing import Any, Optional

from .._core._actions import Abort, Complete, DeleteObject, ListParts
from .._core._copyflow import CopyMachine, CopyStart
from .._core._copyvalues import CopyConfig, CopyObject, CopyPart, CopyResult, HeadDestination, HeadSource, InitiateCopy
from .._core._outcomes import Initiated
from .._core.progress import ProgressCallback, ProgressTracker
from .._io._sources import BufferSource
from .._io.checkpoint import CheckpointStore
from .._io.client import CosClient
from .._protocol.copy_ops import CopySource
from .._protocol.limits import MAX_PART_NUMBER
from ._executor import ClientExecutor
from ._localsteps import LOCAL_ACTIONS, LocalSteps
from .threads import target_of

__all__ = ["Copy", "copy_call", "source_client_of"]


def source_client_of(client: Any, source: CopySource, make: Any) -> Any:
    """The client that HEADs ``source`` (resolved): ``client`` itself when the source is in its bucket and
    region, else ``make(...)`` (the client class) for the source's bucket with the same credentials, dialect,
    and endpoint when ``client``'s is a custom one that does not name its bucket (an IP, the local server)."""
    if (source.bucket, source.region) == (client.bucket, client.region):
        return client
    endpoint = client.endpoint.base_url if client.endpoint.bucket_host else None
    return make(bucket=source.bucket, region=source.region, endpoint=endpoint, credentials=client.transport.credentials, dialect=client.dialect)


def copy_call(client: CosClient, source_client: CosClient, key: str, source: CopySource, config: CopyConfig, action: Any, cancel: Optional[threading.Event]) -> object:
    """The one place where a copy action becomes a sync client call; its outcome."""
    if isinstance(action, CopyPart):
        last = action.offset + action.length - 1
        return client.upload_part_copy(
            key, action.upload_id, action.number, source=source, source_range=(action.offset, last), source_if_match=action.etag,
            source_sse_c=config.source_sse_c, sse_c=config.sse_c, traffic_limit=config.traffic_limit, cancel=cancel,
        )  # fmt: skip
    if isinstance(action, HeadSource):
        return source_client.head_object(source.key, sse_c=config.source_sse_c)
    if isinstance(action, HeadDestination):
        return client.head_object(key, sse_c=config.sse_c)
    if isinstance(action, CopyObject):
        return client.copy_object(
            key, source=source, metadata_directive=config.metadata_directive, options=config.options, source_if_match=action.etag,
            source_sse_c=config.source_sse_c, traffic_limit=config.traffic_limit, forbid_overwrite=config.forbid_overwrite,
        )  # fmt: skip
    if isinstance(action, InitiateCopy):
        started = time.time() + client.transport.clock_offset
        made = client.initiate_multipart_upload(key, options=config.with_content(action.content))
        return Initiated(made.upload_id, made.request_id, made.response.attempts, started, time.time())
    if isinstance(action, ListParts):
        return list(islice(client.list_parts(key, action.upload_id), MAX_PART_NUMBER + 1))
    if isinstance(action, Complete):
        return client.complete_multipart_upload(key, action.upload_id, list(action.parts), forbid_overwrite=action.forbid_overwrite)
    if isinstance(action, DeleteObject):
        return client.delete_object(key, version_id=action.version_id)
    if isinstance(action, Abort):
        return client.abort_multipart_upload(key, action.upload_id)
    raise TypeError(f"no request for {action!r}")


class Copy(ClientExecutor):
    """One server-side copy, run with threads.

    Args:
        client: The destination's client.
        source_client: The client that HEADs the source (:func:`source_client_of`).
        config: How to copy.
        store: Checkpoint storage.
        source: The source, its bucket and region resolved.
        key: The destination key.
        callback: Progress callback (bytes copied).
    """

    def __init__(
        self, client: CosClient, source_client: CosClient, config: CopyConfig, store: CheckpointStore, source: CopySource, key: str,
        callback: Optional[ProgressCallback],
    ) -> None:  # fmt: skip
        super().__init__(config.concurrency, threading.Event(), thread_name="cos-multipart-copy")
        self.client = client
        self.source_client = source_client
        self.config = config
        self.source = source
        self.key = key
        self.started = time.monotonic()
        self.local = LocalSteps(
            store, target_of(client), key, resume=config.resume, source=BufferSource(b""), cancel=self.cancel,
            make_tracker=lambda size, parts: ProgressTracker(size, parts, callback),
        )  # fmt: skip

    def start(self, *, window: Optional[int] = None) -> CopyStart:
        """What the machine starts from (``window``: parts in flight at most, ``0``: all at once)."""
        return CopyStart(target_of(self.client), self.config, self.key, self.source, window)

    def run(self) -> CopyResult:
        """The whole copy: its verified result, or its failure raised."""
        machine = CopyMachine.copy(self.start())
        self.execute(machine)
        return machine.result(time.monotonic() - self.started)

    def perform(self, action: Any) -> object:
        if isinstance(action, LOCAL_ACTIONS):
            return self.local.perform(action)
        return self.request(action)

    def request(self, action: Any) -> object:
        return copy_call(self.client, self.source_client, self.key, self.source, self.config, action, self.cancel)
