"""A Ctrl-C (or the command's SIGTERM) can land anywhere in the threaded executor's loop, also between a
part's end and its outcome reaching the machine. The upload must still stop, keep or abort, and never wait for
an outcome nobody will report."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

from cos_multipart import CheckpointStore, CosClient, UploadConfig, Uploader
from cos_multipart._drivers import threads

pytestmark = [pytest.mark.integration]

MB = 1024 * 1024
#: Only a guard against hanging; the test is decided by what the upload did.
HANG_GUARD = 60.0


def test_an_interrupt_that_loses_a_parts_outcome_still_ends_the_upload(
    client: CosClient, store: CheckpointStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(os.urandom(6 * MB))
    real = threads.Upload.finished_parts
    dropped: List[int] = []

    def finished_parts(self: threads.Upload) -> List[Tuple[Any, object]]:
        outcomes = real(self)
        if outcomes and not dropped:
            dropped.append(outcomes[0][0].number)  # popped from the running set, never handed to the machine
            raise KeyboardInterrupt
        return outcomes

    monkeypatch.setattr(threads.Upload, "finished_parts", finished_parts)
    uploader = Uploader(client, UploadConfig(part_size=MB, multipart_threshold=0, concurrency=2), store=store)
    raised: List[Optional[BaseException]] = []

    def run() -> None:
        try:
            uploader.upload(path, "interrupted/file.bin")
            raised.append(None)
        except BaseException as error:  # the test judges it
            raised.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    assert not worker.is_alive(), "the upload waited for the outcome the interrupt lost"
    assert dropped and isinstance(raised[0], KeyboardInterrupt), raised
    ((_, kept),) = list(store)  # kept for a resume, as any interrupted upload with checkpoints on
    assert dropped[0] not in {part.part_number for part in kept.parts}  # never recorded: a resume sends it again
    assert uploader.resume(path, "interrupted/file.bin").size == 6 * MB
