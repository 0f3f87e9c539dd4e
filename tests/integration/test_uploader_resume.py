"""Crash and resume against the local COS server: a killed process, Ctrl-C, a changed file."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, List, Optional, Set

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import Fault, LocalCOS

from uploads import Driver, make_file, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def stop_after(parts: int) -> Any:
    def callback(event: ProgressEvent) -> None:
        if event.parts_done >= parts:
            raise RuntimeError("simulated crash")

    return callback


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials
    from cos_multipart._drivers.uploader import upload_file

    endpoint, bucket, region, secret_id, secret_key, path, directory, dialect = sys.argv[1:9]
    client = CosClient(bucket, region, Credentials(secret_id, secret_key), endpoint=endpoint, dialect=dialect)

    def kill_after_three(event):
        if event.parts_done >= 3:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind, like a power cut

    upload_file(client, path, "killed.bin", part_size=1048576, multipart_threshold=0, concurrency=2,
                checkpoint_dir=directory, progress=kill_after_three)
    """
)


def settled_parts(client: CosClient, key: str, upload_id: str) -> Set[int]:
    """The part numbers COS lists for ``upload_id`` once two listings 0.3 s apart agree (at most 5 s)."""
    seen: Optional[Set[int]] = None
    deadline = time.monotonic() + 5
    while True:
        now = {part.part_number for part in client.list_parts(key, upload_id)}
        if now == seen or time.monotonic() > deadline:
            return now
        seen = now
        time.sleep(0.3)


def test_killed_process_resumes_with_only_the_missing_parts(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 10 * MB + 1)
    credentials = local_cos.credentials
    child = subprocess.run(
        [sys.executable, "-c", CHILD, local_cos.endpoint, local_cos.bucket, local_cos.region,
         credentials.secret_id, credentials.secret_key, str(path), str(store.directory), local_cos.dialect],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    (_, checkpoint), = list(store)
    # The server may still be storing a part whose body the child had sent in full before it died: wait until
    # two listings agree, so that part is counted as on the server (and its log entry as the child's).
    on_server = settled_parts(client, "killed.bin", checkpoint.upload_id)
    assert len(on_server) >= 3
    sent_before = len(local_cos.log_entries("UploadPart"))
    result = driver.uploader(client, store).upload(path, "killed.bin")
    sent = [e for e in local_cos.log_entries("UploadPart")[sent_before:]]
    assert len(sent) == 11 - len(on_server)
    assert result.parts_reused == len(on_server) and result.upload_id == checkpoint.upload_id
    assert stored(client, "killed.bin") == data and result.crc64 == crc64(data)
    assert list(store) == [] and list(client.list_multipart_uploads()) == []


def test_resume_after_an_error_reuses_checkpointed_parts_with_their_crc(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 6 * MB)
    with pytest.raises(RuntimeError, match="simulated crash"):
        driver.uploader(client, store, concurrency=1).upload(path, "k", progress=stop_after(4))
    (_, checkpoint), = list(store)
    assert [p.part_number for p in checkpoint.parts] == [1, 2, 3, 4]
    events: List[ProgressEvent] = []
    result = driver.uploader(client, store).upload(path, "k", progress=events.append)
    assert result.parts_reused == 4 and events[0].parts_reused == 4 and events[0].bytes_done == 4 * MB
    assert stored(client, "k") == data and result.crc64 == crc64(data)


def test_changed_file_aborts_the_old_upload(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    with pytest.raises(RuntimeError):
        driver.uploader(client, store, concurrency=1).upload(path, "k", progress=stop_after(2))
    (_, old), = list(store)
    path, data = make_file(tmp_path, 4 * MB)  # same path and size, new bytes
    result = driver.uploader(client, store).upload(path, "k")
    assert result.upload_id != old.upload_id and result.parts_reused == 0
    assert stored(client, "k") == data
    assert len(local_cos.log_entries("AbortMultipartUpload")) == 1
    assert list(client.list_multipart_uploads()) == []  # nothing orphaned


def test_no_resume_starts_afresh_and_aborts_the_old_upload(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    with pytest.raises(RuntimeError):
        driver.uploader(client, store, concurrency=1).upload(path, "k", progress=stop_after(1))
    result = driver.uploader(client, store, resume=False).upload(path, "k")
    assert result.parts_reused == 0 and stored(client, "k") == data
    assert list(client.list_multipart_uploads()) == [] and list(store) == []


#: How long the server holds the answers of the parts in flight at Ctrl-C: far longer than stopping takes, so
#: "stopped while they were still held" shows the upload did not wait for them.
HOLD_SECONDS = 60.0


def ctrl_c_once_parts_are_held(local_cos: LocalCOS, two_done: threading.Event, held: int) -> threading.Thread:
    """A real SIGINT to the main thread, as Ctrl-C sends (it also wakes an event loop asleep in select(), which
    ``_thread.interrupt_main`` cannot), once two parts are done and the server stored ``held`` more parts
    whose answers it holds."""

    def ready(lister: CosClient) -> bool:
        if not two_done.is_set() or len(local_cos.faults.fired) < held:
            return False
        uploads = list(lister.list_multipart_uploads())
        return len(uploads) == 1 and len(list(lister.list_parts(uploads[0].key, uploads[0].upload_id))) >= 2 + held

    def send() -> None:
        deadline = time.monotonic() + 60  # only ends a broken run: the server's state decides when
        with local_cos.client() as lister:
            while not ready(lister) and time.monotonic() < deadline:
                time.sleep(0.01)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    sender = threading.Thread(target=send, name="test-ctrl-c")
    sender.start()
    return sender


def two_parts_done(event: threading.Event) -> Any:
    def progress(update: ProgressEvent) -> None:
        if update.parts_done >= 2:
            event.set()

    return progress


def test_ctrl_c_stops_fast_keeps_the_checkpoint_and_leaves_no_thread(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    # Decided by events: parts 1 and 2 are answered, the server holds the answers of the others, Ctrl-C
    # arrives; the upload must stop while they are still held (nothing logged for them), keep its checkpoint.
    path, data = make_file(tmp_path, 12 * MB)
    local_cos.faults.add(Fault.delay(HOLD_SECONDS, "UploadPart", nth=3, count=None))
    two_done = threading.Event()
    sender = ctrl_c_once_parts_are_held(local_cos, two_done, held=2)
    with pytest.raises(KeyboardInterrupt):
        driver.uploader(client, store, concurrency=4).upload(path, "k", progress=two_parts_done(two_done))
    sender.join()
    assert len(local_cos.log_entries("UploadPart", settle=0)) == 2, "the stop waited for the held answers"
    assert not [t.name for t in threading.enumerate() if t.name.startswith("cos-multipart")]
    (_, checkpoint), = list(store)
    assert len(checkpoint.parts) == 2 and not local_cos.log_entries("AbortMultipartUpload", settle=0)
    local_cos.faults.clear()
    result = driver.uploader(client, store).upload(path, "k")
    assert result.parts_reused >= 2 and stored(client, "k") == data


def test_ctrl_c_while_parts_wait_for_slow_answers_stops_at_once(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    # COS has the bytes but is slow to answer: the workers are blocked reading the response, not sending.
    path, data = make_file(tmp_path, 4 * MB)
    local_cos.faults.add(Fault.delay(HOLD_SECONDS, "UploadPart", nth=3, count=None))
    two_done = threading.Event()
    sender = ctrl_c_once_parts_are_held(local_cos, two_done, held=2)
    with pytest.raises(KeyboardInterrupt):
        driver.uploader(client, store, concurrency=2).upload(path, "k", progress=two_parts_done(two_done))
    sender.join()
    # Not the held answers, nor the 120 s read timeout: the stop came while parts 3 and 4 were still held.
    assert len(local_cos.log_entries("UploadPart", settle=0)) == 2, "the stop waited for the held answers"
    assert not [t.name for t in threading.enumerate() if t.name.startswith("cos-multipart")]
    (_, checkpoint), = list(store)
    assert len(checkpoint.parts) == 2
    local_cos.faults.clear()
    result = driver.uploader(client, store).upload(path, "k")
    # Parts 3 and 4 reached the server before the interruption: the resume finds them and checks their
    # ETags against the local MD5, so nothing is sent again.
    assert result.parts_reused == 4 and stored(client, "k") == data
