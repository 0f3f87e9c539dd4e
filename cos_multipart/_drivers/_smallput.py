"""A small file's verified single PUT, run in the thread that read it (a directory run's small-file lane).

The sequence is the upload machine's own (:func:`~cos_multipart._core._flow.single_put_flow`: Content-MD5, the
attempts and their verification, forbid-overwrite), run by :func:`~cos_multipart._drivers._inline.run_inline`
instead of :class:`~cos_multipart._drivers.threads.Upload`: no machine object, no executor loop, no checkpoint
steps, and a progress tracker only when someone listens. For a 4 KiB file that executor cost more Python than
the request (docs/benchmarks.md, issue 25); what the file's upload decides and checks is unchanged.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

from .._core._actions import PutObject
from .._core._config import UploadConfig, UploadResult
from .._core._decisions import client_dialect
from .._core._flow import UploadStart, single_put_flow
from .._core._outcomes import SourceFacts
from .._core._partvalues import StreamPart
from .._core.progress import ProgressCallback, ProgressTracker
from .._io._sources import BodyOptions
from .._io.client import CosClient
from .._io.ratelimit import TokenBucket
from ._inline import run_inline
from ._localsteps import PROGRESS_ACTIONS, apply_progress
from .threads import client_call, target_of

__all__ = ["SmallPuts"]


class SmallPuts:
    """Single PUTs of parts already read, through one client, with one configuration (a directory run's).

    Args:
        client: The client (a directory run's slot-gated view: a request of no cancel scope is the pool's).
        config: The upload settings of every file.
        limiter: The run's bandwidth cap, shared by every file (``None``: none).
    """

    def __init__(self, client: CosClient, config: UploadConfig, limiter: Optional[TokenBucket]) -> None:
        self.client = client
        self.config = config
        self.limiter = limiter
        self.target = target_of(client)
        self.integrity = client_dialect(client).integrity

    def put(self, key: str, part: StreamPart, name: str, callback: Optional[ProgressCallback]) -> UploadResult:
        """Upload ``part`` as ``key`` with one verified PUT; its result (``callback`` told of its progress)."""
        started = time.monotonic()
        start = UploadStart(self.target, self.config, key, SourceFacts("file", len(part.data), name=name))
        tracker: Optional[ProgressTracker] = None

        def make_tracker(size: Optional[int], parts: Optional[int]) -> ProgressTracker:
            return ProgressTracker(size, parts, callback)

        def perform(action: object) -> object:
            nonlocal tracker
            if isinstance(action, PutObject):
                options = BodyOptions(False, tracker, self.limiter, None, self.integrity)
                return client_call(self.client, key, self.config, action, source=None, options=options)
            if isinstance(action, PROGRESS_ACTIONS):
                if callback is not None:  # the flow starts the count (ProgressStart) before anything else
                    tracker = apply_progress(tracker, action, make_tracker)
                return None
            raise TypeError(f"a single PUT does not do {type(action).__name__}")

        result = run_inline(single_put_flow(start, part), perform)
        return dataclasses.replace(result, elapsed=time.monotonic() - started)
