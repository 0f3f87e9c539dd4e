"""What only the asyncio driver and client have: cancellation, an event loop that is never blocked, async
iterators as sources, awaitable progress callbacks, resumes across drivers, and the AsyncCosClient's own
seams. Real event loops, real sockets against the local server, no mocks."""

from __future__ import annotations

import asyncio
import os
import hashlib
import mimetypes
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, List, Tuple

import aiohttp
import pytest

from cos_multipart.aio import AsyncCosClient, AsyncUploader, async_upload_file
from cos_multipart._io.aio_transport import AsyncTransport, failure_kind
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials, RefreshingCredentials
from cos_multipart._protocol.errors import (
    CosServiceError,
    CosTransportError,
    CosValidationError,
    FailureKind,
    SourceChangedError,
    kept_upload_of,
)
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart._io.transport import Transport
from cos_multipart._drivers.uploader import UploadConfig

from loop_guard import run_watched
from uploads import Driver, async_client_like, make_file, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05)


def async_client(local_cos: LocalCOS, **options: Any) -> AsyncCosClient:
    options.setdefault("endpoint", local_cos.endpoint)
    options.setdefault("credentials", local_cos.credentials)
    options.setdefault("dialect", local_cos.dialect)
    return AsyncCosClient(local_cos.bucket, local_cos.region, **options)


def our_threads() -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("cos-multipart")]


async def chunks_of(data: bytes, size: int = 65_537) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[start : start + size]


# --- cancellation ----------------------------------------------------------------------------------------


#: How long the server holds the answers of the parts in flight when the task is cancelled: far longer than any
#: cancellation takes, so "the task ended while they were still held" shows it did not wait for them.
HOLD_SECONDS = 60.0


@pytest.mark.parametrize("abort_on_failure", [False, True], ids=["keep", "abort"])
def test_cancelling_the_task_stops_at_once_and_leaves_nothing_running(
    local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, abort_on_failure: bool
) -> None:
    # Decided by events, not seconds: parts 1 and 2 are answered, the answers of parts 3 and 4 are held by the
    # server; the cancelled task must end while they are still held (not waiting for an answer), with no
    # connection, task or thread left, and nothing logged for them.
    path, data = make_file(tmp_path, 12 * MB)
    local_cos.faults.add(Fault.delay(HOLD_SECONDS, "UploadPart", nth=3, count=2))
    config = UploadConfig(part_size=MB, multipart_threshold=0, concurrency=2, abort_on_failure=abort_on_failure)

    async def scenario() -> Tuple[BaseException, int, List[str], int, int]:
        async with async_client(local_cos) as aclient:
            two_parts = asyncio.Event()

            def progress(event: ProgressEvent) -> None:
                if event.parts_done >= 2:
                    two_parts.set()

            task = asyncio.ensure_future(AsyncUploader(aclient, config, store=store).upload(path, "k", progress=progress))
            await two_parts.wait()
            # Polling: the server's records decide. Parts 1 and 2 logged, the answers of two more held.
            while len(local_cos.faults.fired) < 2 or len(local_cos.log_entries("UploadPart", settle=0)) < 2:
                await asyncio.sleep(0.01)
            task.cancel()
            try:
                await task
            except BaseException as error:  # the test judges it
                raised = error
            held = local_cos.requests_in_progress  # read before anything else can end a hold
            answered = len(local_cos.log_entries("UploadPart", settle=0))
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert isinstance(aclient.transport, AsyncTransport)
            return raised, aclient.transport.connections_in_use, [repr(t) for t in others], held, answered

    raised, connections, tasks, held, answered = asyncio.run(scenario())
    assert isinstance(raised, asyncio.CancelledError), repr(raised)
    assert held == 2 and answered == 2, "the task waited for the answers of the parts in flight"
    assert connections == 0 and tasks == [] and our_threads() == []
    uploads = list(client.list_multipart_uploads())
    if abort_on_failure:
        assert kept_upload_of(raised) is None and uploads == [] and list(store) == []
        return
    kept = kept_upload_of(raised)
    assert kept is not None and kept.parts_done == 2 and kept.parts_total == 12
    (_, checkpoint), = list(store)
    assert kept.upload_id == checkpoint.upload_id == uploads[0].upload_id and len(checkpoint.parts) == 2

    async def resume() -> Any:
        async with async_client(local_cos) as aclient:
            return await AsyncUploader(aclient, config, store=store).resume(path, "k")

    result = asyncio.run(resume())  # the held parts were stored before their answers were held: no race
    assert result.parts_reused >= 2 and stored(client, "k") == data


# --- checkpoints are shared by the drivers ---------------------------------------------------------------


@pytest.mark.parametrize("first,second", [("threads", "asyncio"), ("asyncio", "threads")])
def test_an_upload_interrupted_by_one_driver_resumes_with_the_other(
    local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, first: str, second: str
) -> None:
    path, data = make_file(tmp_path, 6 * MB + 5)

    def stop(event: ProgressEvent) -> None:
        if event.parts_done >= 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError) as info:
        Driver(first).uploader(client, store, concurrency=1).upload(path, "k", progress=stop)
    kept = kept_upload_of(info.value)
    assert kept is not None and kept.parts_done == 3
    sent_before = len(local_cos.log_entries("UploadPart"))
    result = Driver(second).uploader(client, store).resume(path, "k")
    assert result.upload_id == kept.upload_id and result.parts_reused == 3
    assert len(local_cos.log_entries("UploadPart")) - sent_before == 4
    assert result.bytes_reverified == 3 * MB  # reused parts re-read and their CRC-64 compared
    assert stored(client, "k") == data and result.crc64 == crc64(data) and list(store) == []


# --- the event loop is never blocked ---------------------------------------------------------------------


def test_no_call_blocks_the_event_loop(local_cos: LocalCOS, store: CheckpointStore, tmp_path: Path) -> None:
    # Decided by what the loop's thread calls (file reads, hashing, sleeps, waits for a thread, blocking
    # sockets), never by how long a step took: a loaded machine cannot fail it, a read on the loop always does.
    path, data = make_file(tmp_path, 3 * MB + 3)
    config = UploadConfig(part_size=MB, multipart_threshold=0, concurrency=2, bandwidth_limit=4000 * MB)
    expected_crc = crc64(data)
    # The first guess of a content type reads the system's MIME table (once per process, on whichever thread
    # asks first): read it here so the check covers the upload's own calls. Reported as a driver finding.
    mimetypes.guess_type("x.bin")

    async def scenario() -> None:
        async with async_client(local_cos) as aclient:
            uploader = AsyncUploader(aclient, config, store=store)
            await uploader.upload(path, "file")
            await uploader.upload(data, "buffer")
            await uploader.upload(chunks_of(data), "iterator")
            await AsyncUploader(aclient, UploadConfig(multipart_threshold=MB), store=store).upload(data[:MB - 1], "single")
            await AsyncUploader(aclient, UploadConfig(multipart_threshold=4 * MB), store=store).upload(path, "single-file")
            head = await aclient.head_object("iterator")
            assert head.size == len(data) and head.crc64 == expected_crc

    _, guard = run_watched(scenario)
    assert guard.calls > 1000  # the hook watched the upload
    assert guard.found == [], "\n".join(sorted({str(call) for call in guard.found}))
    assert len(local_cos.log_entries("CompleteMultipartUpload")) == 3 and len(local_cos.log_entries("PutObject")) == 2


def _read_a_byte(path: Path) -> None:
    with open(path, "rb") as handle:
        handle.read(1)


@pytest.mark.parametrize(
    "blocking,expected",
    [
        (lambda path: time.sleep(0), "time.sleep"),  # even a sleep of 0: the call, not its length, decides
        (lambda path: hashlib.md5().update(b"x"), "hash.update"),
        (lambda path: crc64(b"x"), "crc"),
        (_read_a_byte, "io.open"),
        (lambda path: threading.Thread(target=lambda: None).start(), "thread.start"),
    ],
    ids=["sleep", "md5", "crc64", "file-read", "thread-start"],
)
def test_the_loop_check_catches_a_blocking_call(
    local_cos: LocalCOS, store: CheckpointStore, tmp_path: Path, blocking: Any, expected: str
) -> None:
    # The check's own proof: a progress callback (called on the loop) and an async-iterator source doing one
    # small blocking call each are both reported, with where they were called from.
    path, data = make_file(tmp_path, MB + 3)

    async def blocking_chunks() -> AsyncIterator[bytes]:
        async for chunk in chunks_of(data):
            blocking(path)
            yield chunk

    def progress(event: ProgressEvent) -> None:
        blocking(path)

    async def scenario() -> None:
        async with async_client(local_cos) as aclient:
            uploader = AsyncUploader(aclient, UploadConfig(part_size=MB, multipart_threshold=0), store=store)
            await uploader.upload(path, "callback", progress=progress)
            await uploader.upload(blocking_chunks(), "source")

    _, guard = run_watched(scenario)
    found = [call for call in guard.found if expected in call.call.lower()]
    assert any("progress" in call.callers for call in found), guard.found
    assert any("blocking_chunks" in call.callers for call in found), guard.found


# --- streams ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, MB - 1, MB, 3 * MB + 12_345])
def test_an_async_iterator_is_a_stream_source(local_cos: LocalCOS, client: CosClient, store: CheckpointStore, size: int) -> None:
    data = os.urandom(size)

    async def scenario() -> Any:
        async with async_client(local_cos) as aclient:
            return await async_upload_file(aclient, chunks_of(data), "it", part_size=MB, multipart_threshold=MB, store=store)

    result = asyncio.run(scenario())
    assert result.multipart is (size >= MB) and result.size == size and result.crc64 == crc64(data)
    assert stored(client, "it") == data


def test_an_async_iterator_with_an_expected_size_gets_larger_parts(
    local_cos: LocalCOS, client: CosClient, store: CheckpointStore
) -> None:
    data = os.urandom(20 * MB)

    async def scenario() -> Any:
        async with async_client(local_cos) as aclient:
            return await async_upload_file(
                aclient, chunks_of(data, MB // 3), "big", multipart_threshold=0, expected_size=10_000 * 9 * MB, store=store
            )

    result = asyncio.run(scenario())
    sizes = [part.size for part in result.parts]
    assert sum(sizes) == 20 * MB and 9 * MB <= sizes[0] <= 16 * MB and sizes[0] % MB == 0
    assert stored(client, "big") == data


def test_a_failing_async_iterator_aborts_the_upload(local_cos: LocalCOS, client: CosClient, store: CheckpointStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(3 * MB)
        raise OSError("the peer went away")

    async def scenario() -> None:
        async with async_client(local_cos) as aclient:
            await async_upload_file(aclient, broken(), "broken", part_size=MB, multipart_threshold=0, store=store)

    with pytest.raises(OSError, match="went away"):
        asyncio.run(scenario())
    assert list(client.list_multipart_uploads()) == []


def test_a_file_that_shrinks_is_source_changed_not_a_network_error(
    local_cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)

    def shrink(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and os.path.getsize(path) == 4 * MB:
            os.truncate(path, MB + MB // 2)

    async def scenario() -> None:
        async with async_client(local_cos, retry=FAST_RETRY) as aclient:
            await async_upload_file(aclient, path, "k", part_size=MB, multipart_threshold=0, concurrency=1, progress=shrink, store=store)

    with pytest.raises(SourceChangedError):
        asyncio.run(scenario())


# --- progress --------------------------------------------------------------------------------------------


def test_awaitable_progress_callbacks_are_awaited_in_order(
    local_cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 5 * MB + 3)
    events: List[ProgressEvent] = []

    async def progress(event: ProgressEvent) -> None:
        await asyncio.sleep(0)
        events.append(event)

    async def scenario() -> None:
        async with async_client(local_cos) as aclient:
            await async_upload_file(aclient, path, "p", part_size=MB, multipart_threshold=0, concurrency=3, progress=progress, store=store)

    asyncio.run(scenario())
    assert events[0].bytes_done == 0 and len(events) > 6
    for before, after in zip(events, events[1:]):
        assert after.bytes_done >= before.bytes_done and after.parts_done >= before.parts_done
    assert events[-1].bytes_done == len(data) and events[-1].parts_done == events[-1].parts_total == 6


def test_an_awaitable_progress_callback_that_raises_stops_the_upload_and_keeps_it(
    local_cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)

    async def progress(event: ProgressEvent) -> None:
        if event.parts_done >= 2:
            raise RuntimeError("enough")

    async def scenario() -> None:
        async with async_client(local_cos) as aclient:
            await async_upload_file(aclient, path, "p", part_size=MB, multipart_threshold=0, concurrency=1, progress=progress, store=store)

    with pytest.raises(RuntimeError, match="enough") as info:
        asyncio.run(scenario())
    kept = kept_upload_of(info.value)
    assert kept is not None and kept.parts_done >= 2


# --- the async client ------------------------------------------------------------------------------------


def test_async_client_round_trip_with_typed_results_and_errors(local_cos: LocalCOS) -> None:
    async def scenario() -> None:
        async with async_client(local_cos) as aclient:
            with pytest.raises(CosValidationError):
                await aclient.upload_part("k", "id", 0, b"x")  # validated before anything is sent
            upload = await aclient.initiate_multipart_upload("k", content_type="text/plain")
            part = await aclient.upload_part("k", upload.upload_id, 1, b"hello")
            assert part.crc64 == crc64(b"hello")
            assert [p.part_number async for p in aclient.list_parts("k", upload.upload_id)] == [1]
            assert [u.upload_id async for u in aclient.list_multipart_uploads()] == [upload.upload_id]
            done = await aclient.complete_multipart_upload("k", upload.upload_id, [part])
            assert done.crc64 == crc64(b"hello")
            head = await aclient.head_object("k")
            assert head.size == 5 and head.response.headers.get("content-type") == "text/plain"
            response = await aclient.get_object("k", byte_range=(1, 3))
            try:
                assert await response.read() == b"ell"
            finally:
                response.release()
            await aclient.delete_object("k")
            with pytest.raises(CosServiceError) as info:
                await aclient.head_object("k")
            assert info.value.status == 404
            url = await aclient.presign("k", "PUT")
            # The service's own form (an OSS client once made COS URLs here, which OSS refuses).
            assert ("x-oss-signature=" if local_cos.dialect == "oss" else "q-signature=") in url

    asyncio.run(scenario())
    assert len(local_cos.log_entries("UploadPart")) == 1  # the invalid part never left the machine


def test_a_refreshing_provider_is_called_off_the_loop(local_cos: LocalCOS) -> None:
    callers: List[str] = []

    def fetch() -> Tuple[Credentials, float]:
        callers.append(threading.current_thread().name)
        time.sleep(0.05)  # a network fetch: it must not stall the loop
        return local_cos.credentials, time.time() + 3600

    async def scenario() -> None:
        async with async_client(local_cos, credentials=RefreshingCredentials(fetch)) as aclient:
            await aclient.put_object("k", b"data")

    asyncio.run(scenario(), debug=True)
    assert callers and all(name != threading.main_thread().name for name in callers)


def test_clock_skew_is_corrected_from_the_server_date(local_cos_factory: Any) -> None:
    skewed = local_cos_factory(clock=lambda: time.time() + 3 * 3600)

    async def scenario() -> float:
        async with async_client(skewed) as aclient:
            await aclient.put_object("k", b"data")
            return aclient.transport.clock_offset

    assert asyncio.run(scenario()) == pytest.approx(3 * 3600, abs=5)


def test_connection_failures_are_transport_errors_without_query_strings(local_cos: LocalCOS) -> None:
    port = local_cos.port
    local_cos.stop()

    async def scenario() -> None:
        async with async_client(local_cos, endpoint=f"http://127.0.0.1:{port}", retry=FAST_RETRY) as aclient:
            await aclient.upload_part("k", "secret-upload-id", 1, b"x")

    with pytest.raises(CosTransportError) as info:
        asyncio.run(scenario())
    error = info.value
    assert error.kind is FailureKind.CONNECTION and error.attempts == FAST_RETRY.max_attempts
    assert "?" not in str(error) and "secret-upload-id" not in str(error)


def test_aiohttp_failures_map_to_the_neutral_kinds() -> None:
    assert failure_kind(aiohttp.ServerTimeoutError()) is FailureKind.TIMEOUT
    assert failure_kind(asyncio.TimeoutError()) is FailureKind.TIMEOUT
    assert failure_kind(aiohttp.ServerDisconnectedError()) is FailureKind.CONNECTION
    assert failure_kind(aiohttp.ClientOSError(104, "reset")) is FailureKind.CONNECTION
    assert failure_kind(aiohttp.ClientPayloadError()) is FailureKind.CONNECTION
    assert failure_kind(aiohttp.InvalidURL("x")) is FailureKind.OTHER
    assert failure_kind(OSError("disk")) is FailureKind.BODY
    assert failure_kind(ValueError()) is FailureKind.OTHER


def test_the_harness_async_client_mirrors_the_sync_one(client: CosClient) -> None:
    mirrored = async_client_like(client)
    assert (mirrored.bucket, mirrored.endpoint.base_url) == (client.bucket, client.endpoint.base_url)
    assert isinstance(mirrored.transport, AsyncTransport) and isinstance(client.transport, Transport)
    assert mirrored.transport.retry == client.transport.retry


def test_the_async_example_runs() -> None:
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[2] / "examples" / "async_upload.py"
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("file:") and "verified" in lines[0] and lines[1].startswith("stream:")
    assert lines[2].startswith("cancel:")


def test_a_file_body_shorter_than_its_length_is_a_body_failure_not_retried(local_cos: LocalCOS, tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * (3 * MB))

    async def scenario() -> None:
        async with async_client(local_cos, retry=FAST_RETRY) as aclient:
            with path.open("rb") as handle, pytest.raises(CosTransportError) as caught:
                await aclient.put_object("short", handle, content_length=3 * MB + 10)
            assert caught.value.kind is FailureKind.BODY and caught.value.attempts == 1
            assert "before its Content-Length" in str(caught.value)

    asyncio.run(scenario())
