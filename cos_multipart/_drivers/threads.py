"""The threaded executor behind :class:`~cos_multipart._drivers.uploader.Uploader`: runs the upload machine's actions.

:class:`Upload` asks the :class:`~cos_multipart._core._machine.UploadMachine` what to do, sends each part on a
bounded thread pool (read, hashed and sent in one pass by :mod:`cos_multipart._io._partreader`'s bodies), does
every other action where it loops, and hands each outcome back. It decides nothing: the path, resume, the
attempt-and-verify rules, Complete's checks and keep-or-abort are the machine's. :func:`client_call` is the
one place where an action becomes a sync client call, for this executor, the public session steps
(:mod:`cos_multipart._drivers._steps`) and the cluster's worker steps (:mod:`cos_multipart.remote`).
"""

from __future__ import annotations

import logging
import threading
import time
from itertools import islice
from typing import Any, Optional, Union

from .._core._actions import (
    Abort, Complete, DeleteObject, Head, Initiate, ListParts, ListUploads, PutObject, SendPart,
)  # fmt: skip
from .._core._config import UploadConfig, UploadResult
from .._core._decisions import client_dialect, endpoint_url, upload_is_gone
from ._executor import POLL_SECONDS, ClientExecutor
from ._localsteps import LOCAL_ACTIONS, LocalSteps, facts_of
from .._core._machine import UploadMachine, UploadStart
from .._core._outcomes import Initiated, Sent, Target
from .._io._partreader import BufferPartReader
from .._io._sources import AnySource, BodyOptions, PartBody, StreamSource
from .._io.checkpoint import CheckpointStore
from .._io.client import CosClient
from .._protocol.errors import CosServiceError
from .._protocol.limits import MAX_PART_NUMBER
from .._core.parts import Answer, PartSource
from .._core.progress import ProgressCallback, ProgressTracker
from .._io.ratelimit import TokenBucket

logger = logging.getLogger(__name__)

__all__ = ["POLL_SECONDS", "Upload", "abort_quietly", "client_call", "endpoint_url", "target_of"]


def abort_quietly(client: CosClient, key: str, upload_id: str) -> bool:
    """Abort an upload; ``False`` when the service does not know it (already finished or aborted)."""
    try:
        client.abort_multipart_upload(key, upload_id)
        return True
    except CosServiceError as error:
        if upload_is_gone(error):
            return False
        raise


def target_of(client: Any) -> Target:
    """The machine's view of where ``client`` sends (endpoint URL, bucket, dialect)."""
    return Target(endpoint_url(client), client.bucket, client_dialect(client))


class Upload(ClientExecutor):
    """One call of :meth:`Uploader.upload`: runs the upload machine with threads.

    Args:
        client: The client (shared with other uploads; this one's requests carry :attr:`cancel`).
        config: The upload's configuration.
        store: Checkpoint storage.
        source: The opened source.
        key: The object key.
        callback: Progress callback.
        resume_only: Only resume (a :class:`~cos_multipart._protocol.errors.ResumeError` when there is nothing to resume).
        limiter: A bandwidth cap shared with other uploads (default: one of ``config.bandwidth_limit``).
    """

    def __init__(
        self,
        client: CosClient,
        config: UploadConfig,
        store: CheckpointStore,
        source: AnySource,
        key: str,
        callback: Optional[ProgressCallback],
        *,
        resume_only: bool,
        limiter: Optional[TokenBucket] = None,
    ) -> None:
        super().__init__(config.concurrency, threading.Event())
        self.client = client
        self.config = config
        self.source = source
        self.key = key
        self.resume_only = resume_only
        self.started = time.monotonic()
        # One cap per upload unless the caller shares one over several (a directory run: the cap is the run's).
        self.limiter = limiter or (TokenBucket(config.bandwidth_limit) if config.bandwidth_limit else None)
        self.local = LocalSteps(
            store, target_of(client), key, resume=config.resume, source=source, cancel=self.cancel,
            make_tracker=lambda size, parts: ProgressTracker(size, parts, callback),
        )  # fmt: skip

    @property
    def progress(self) -> ProgressTracker:
        """The upload's progress."""
        return self.local.progress

    def start(self, *, window: Optional[int] = None) -> UploadStart:
        """What the machine starts from (``window``: parts in flight at most, ``0``: all at once)."""
        facts = facts_of(self.source)
        return UploadStart(target_of(self.client), self.config, self.key, facts, self.resume_only, window)

    def run(self) -> UploadResult:
        """The whole upload."""
        return self.run_machine(UploadMachine.upload(self.start()))

    def run_machine(self, machine: UploadMachine) -> UploadResult:
        """Run ``machine`` to its end: its result, or its failure raised."""
        self.execute(machine)
        return machine.result(time.monotonic() - self.started)

    # -- what the actions mean --

    def perform(self, action: Any) -> object:
        if isinstance(action, LOCAL_ACTIONS):
            return self.local.perform(action)
        return self.request(action)

    def request(self, action: Any) -> object:
        """Send the request ``action`` stands for; its outcome."""
        options = BodyOptions(False, self.progress, self.limiter, self.cancel, client_dialect(self.client).integrity)
        return client_call(self.client, self.key, self.config, action, source=self.source, options=options)


def _part_body(source: Optional[Union[PartSource, StreamSource]], action: SendPart, options: BodyOptions) -> PartBody:
    """Part ``action.number``'s body: the bytes it carries (a stream's part), else ``action.length`` bytes at
    ``action.offset`` of ``source``; read, hashed (MD5 when ``action.md5``) and paced (``options``) while sent."""
    if action.data is not None:
        part = action.data
        return BufferPartReader(part.data, part.digest, action.number, progress=options.progress, limiter=options.limiter, cancel=options.cancel)
    if source is None:
        raise TypeError(f"no source to read part {action.number} from")
    if isinstance(source, StreamSource):
        raise TypeError("a stream's parts carry their bytes")
    body_options = BodyOptions(action.md5, options.progress, options.limiter, options.cancel, options.integrity)
    return source.body(action.number, action.offset, action.length, body_options)


def client_call(
    client: CosClient,
    key: str,
    config: UploadConfig,
    action: Any,
    *,
    source: Optional[Union[PartSource, StreamSource]],
    options: BodyOptions,
) -> object:
    """The one place where a request action becomes a sync client call: for :class:`Upload` and for the public
    session steps (:mod:`cos_multipart._drivers._steps`). Its outcome.

    Args:
        client: The client.
        key: The object key.
        config: The traffic limit and SSE-C key of every request; the object's options and forbid-overwrite
            of Initiate and the single PUT.
        source: Where a part's bytes are read (a stream's parts carry theirs).
        options: Progress, bandwidth cap and cancellation of the bodies; its ``cancel`` is carried by every
            request that sends a body (set: it stops and is not retried).
    """
    cancel = options.cancel
    if isinstance(action, SendPart):
        sent = _part_body(source, action, options)
        result = client.upload_part(
            key, action.upload_id, action.number, sent, content_length=action.length,
            traffic_limit=config.traffic_limit, sse_c=config.sse_c, cancel=cancel,
        )  # fmt: skip
        return Sent(sent.digest(), Answer(result.etag, result.crc64, result.request_id))
    if isinstance(action, PutObject):
        part = action.part
        # Nothing to tell while the bytes go and no cap to keep: the bytes themselves are the body (their
        # checksums were taken when they were read); the transport sends a small one with the head.
        body: Union[memoryview, BufferPartReader] = part.data
        if options.progress is not None or options.limiter is not None:
            body = BufferPartReader(part.data, part.digest, 1, progress=options.progress, limiter=options.limiter, cancel=cancel)
        put = client.put_object(
            key, body, content_length=len(part.data), content_md5=action.content_md5,
            traffic_limit=config.traffic_limit, forbid_overwrite=config.forbid_overwrite, cancel=cancel,
            options=config.object_options(key),
        )  # fmt: skip
        return Sent(part.digest, Answer(put.etag, put.crc64, put.request_id, put.version_id))
    if isinstance(action, Head):
        return client.head_object(key, sse_c=config.sse_c)
    if isinstance(action, Initiate):
        started = time.time() + client.transport.clock_offset
        made = client.initiate_multipart_upload(key, options=config.object_options(key))
        return Initiated(made.upload_id, made.request_id, made.response.attempts, started, time.time())
    if isinstance(action, ListUploads):
        return list(client.list_multipart_uploads(prefix=key))
    if isinstance(action, ListParts):
        return list(islice(client.list_parts(key, action.upload_id), MAX_PART_NUMBER + 1))
    if isinstance(action, Complete):
        return client.complete_multipart_upload(key, action.upload_id, list(action.parts), forbid_overwrite=action.forbid_overwrite)
    if isinstance(action, DeleteObject):
        return client.delete_object(key, version_id=action.version_id)
    if isinstance(action, Abort):
        return client.abort_multipart_upload(key, action.upload_id)
    raise TypeError(f"no request for {action!r}")
