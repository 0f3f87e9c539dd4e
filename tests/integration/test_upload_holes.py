"""Regression tests for the eleven holes of issue 8, against the local COS server over real sockets.

Each test fails on the uploader before the issue-8 rewrite for the reason the hole names (a stale part
reported as verified, a mixed object reported as uploaded, a damaged PUT replacing the good object, a second
run not refused, ...). Where the required behaviour needs a name the rewrite adds (``verify_reused``,
``UploadLockedError``, ``ObjectExistsError``, ``ResumeError``, ``kept_upload_of``, ``expected_size``), the
name is imported inside the test, after the behaviour that shows the hole has been checked, so this module
collects either way.

Mechanisms used here (nothing in the library or the server is mocked):

* the server's own faults (``Fault.error``, ``Fault.delay``, ``set_bandwidth``) and its access log;
* :class:`CorruptingProxy`, a loopback TCP proxy in a thread that flips one byte in the body of chosen
  requests (the server has no body-corruption fault) and records every request's headers;
* a child ``python -c`` process running the uploader, for the checkpoint lock (a different pid; killed
  with SIGKILL to show the kernel releases the lock);
* ``/proc/self/io`` (bytes the process read) to show ``verify_reused=False`` skips the re-read;
* ``/proc/version``, a regular file whose stat size is 0 but which has content.
"""

from __future__ import annotations

import _thread
import io
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Tuple, cast
from urllib.parse import parse_qs

import pytest

from cos_multipart import cli
from cos_multipart.checkpoint import CheckpointStore
from cos_multipart.checksum import crc64
from cos_multipart.client import CosClient
from cos_multipart.errors import CosError, CosServiceError, CosTransportError, SourceChangedError
from cos_multipart.limits import MB
from cos_multipart.progress import ProgressEvent
from cos_multipart.retry import RetryPolicy
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart.testing.server import AccessLogEntry
from cos_multipart.uploader import UploadConfig

from hostile import CorruptingProxy
from uploads import Driver, make_file, stored, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture()
def client(local_cos: LocalCOS) -> Iterator[CosClient]:
    with local_cos.client(retry=FAST_RETRY, timeout=(5, 10)) as made:
        yield made


# --- helpers -------------------------------------------------------------------------------------------


def stop_after(parts: int) -> Any:
    """A progress callback that interrupts the upload once ``parts`` parts are confirmed."""

    def callback(event: ProgressEvent) -> None:
        if event.parts_done >= parts:
            raise RuntimeError("simulated crash")

    return callback


def interrupt(
    client: CosClient, store: CheckpointStore, path: Path, key: str, parts: int, *, driver: Optional[Driver] = None
) -> str:
    """Leave an interrupted resumable upload of ``path`` with ``parts`` parts done (by ``driver``); return its
    upload id."""
    driver = driver if driver is not None else Driver("threads")
    with pytest.raises(RuntimeError, match="simulated crash"):
        driver.uploader(client, store, concurrency=1).upload(path, key, progress=stop_after(parts))
    checkpoints = [checkpoint for _, checkpoint in store if checkpoint.key == key]
    assert len(checkpoints) == 1
    return checkpoints[0].upload_id


def part_number(entry: AccessLogEntry) -> int:
    return int(parse_qs(entry.query)["partNumber"][0])


def parts_sent(local_cos: LocalCOS, key: str, since: int = 0) -> List[int]:
    """Part numbers of the Upload Part requests for ``key`` logged after the first ``since`` entries."""
    entries = local_cos.log_entries("UploadPart")[since:]
    return [part_number(e) for e in entries if e.path.lstrip("/") == key]


def object_or_none(client: CosClient, key: str) -> Optional[bytes]:
    """The stored bytes of ``key``, or ``None`` when HEAD answers 404."""
    try:
        client.head_object(key)
    except CosServiceError as error:
        assert error.status == 404, error
        return None
    return stored(client, key)


def restore_times(path: Path, before: os.stat_result) -> None:
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def flip_in_place(path: Path, offset: int, count: int = 3) -> bytes:
    """Change ``count`` bytes at ``offset`` without changing the size; return the new content."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        old = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in old))
    return path.read_bytes()


def rchar() -> int:
    """Bytes this process has read with read()/pread() so far (Linux ``/proc/self/io``)."""
    with open("/proc/self/io") as handle:
        for line in handle:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")  # pragma: no cover


@pytest.fixture()
def proxy_factory(local_cos: LocalCOS) -> Iterator[Any]:
    made: List[CorruptingProxy] = []

    def make(**options: Any) -> CorruptingProxy:
        proxy = CorruptingProxy(local_cos.port, **options)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


CHILD = textwrap.dedent(
    """
    import sys
    from cos_multipart.client import CosClient
    from cos_multipart.credentials import Credentials
    from cos_multipart.retry import RetryPolicy
    from cos_multipart.uploader import upload_file

    endpoint, bucket, region, secret_id, secret_key, path, key, directory, dialect = sys.argv[1:10]
    client = CosClient(bucket, region, Credentials(secret_id, secret_key), endpoint=endpoint, dialect=dialect,
                       retry=RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_cap=0.05))
    said = []

    def progress(event):
        if event.parts_done >= 1 and not said:
            said.append(1)
            print("mid-way", flush=True)

    result = upload_file(client, path, key, part_size=1048576, multipart_threshold=0, concurrency=2,
                         checkpoint_dir=directory, progress=progress)
    print("done", result.crc64, flush=True)
    """
)


def start_child(local_cos: LocalCOS, path: Path, key: str, directory: Path) -> "subprocess.Popen[bytes]":
    """A separate process uploading ``path`` to ``key`` with checkpoints in ``directory``; returns once it
    has a part confirmed (so it holds the checkpoint and is mid-way)."""
    credentials = local_cos.credentials
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, local_cos.endpoint, local_cos.bucket, local_cos.region,
         credentials.secret_id, credentials.secret_key, str(path), key, str(directory), local_cos.dialect],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 20)
    line = child.stdout.readline() if ready else b""
    if line.strip() != b"mid-way":
        child.kill()
        _, err = child.communicate(timeout=10)
        raise AssertionError(f"the child did not get mid-way: {line!r} {err.decode()[-2000:]}")
    return child


def outcome(call: Any) -> Tuple[Any, Optional[BaseException], float]:
    """``(result, error, seconds)`` of ``call()``."""
    started = time.monotonic()
    try:
        return call(), None, time.monotonic() - started
    except Exception as error:  # the test judges the type
        return None, error, time.monotonic() - started


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


# --- 1. resume re-verifies the parts it reuses ---------------------------------------------------------


def test_1_resume_reuploads_a_part_changed_behind_a_restored_mtime(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 6 * MB + 123)
    interrupt(client, store, path, "k", 3, driver=driver)  # parts 1-3 on COS, recorded in the checkpoint
    before = os.stat(path)
    data = flip_in_place(path, MB + 300_000)  # inside part 2, away from the fingerprint samples
    restore_times(path, before)
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns
    logged = len(local_cos.log_entries("UploadPart"))
    result = driver.uploader(client, store).upload(path, "k")
    assert stored(client, "k") == data, "a stale part was reused: the object differs from the file"
    assert result.crc64 == crc64(data)
    assert 2 in parts_sent(local_cos, "k", logged), "the changed part 2 was not uploaded again"


def test_1_resume_reverifies_when_the_file_is_replaced_by_a_copy_with_the_same_size_and_mtime(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 6 * MB + 123)
    interrupt(client, store, path, "k", 3, driver=driver)
    before = os.stat(path)
    side = tmp_path / "edited"
    shutil.copy2(path, side)
    data = flip_in_place(side, MB + 300_000)
    restore_times(side, before)
    replacement = tmp_path / "replacement"
    shutil.copy2(side, replacement)  # like `cp -p`: same size, same mtime, a new inode
    os.replace(replacement, path)
    after = os.stat(path)
    assert after.st_ino != before.st_ino and after.st_size == before.st_size
    assert after.st_mtime_ns == before.st_mtime_ns
    result = driver.uploader(client, store).upload(path, "k")
    assert stored(client, "k") == data, "parts of the old file were reused for its replacement"
    assert result.crc64 == crc64(data)


def test_1_verify_reused_false_trusts_the_checkpoint_without_reading_the_parts(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    # New name: UploadConfig(verify_reused=...). The documented risk of False: reused parts are not read
    # again, so a change the file identity cannot see goes unnoticed. Shown here by the bytes read: less
    # than the reused parts (8 MiB); the two parts sent and the server's socket reads are below that.
    path, data = make_file(tmp_path, 10 * MB)
    interrupt(client, store, path, "k", 8, driver=driver)
    config = UploadConfig(part_size=MB, multipart_threshold=0, concurrency=2, verify_reused=False)
    read_before = rchar()
    result = driver.Uploader(client, config, store=store).upload(path, "k")
    read = rchar() - read_before
    assert result.parts_reused == 8
    assert read < 8 * MB, f"{read} bytes read: the reused parts were read again"
    assert stored(client, "k") == data


# --- 2. a file modified while it uploads ---------------------------------------------------------------


def test_2_file_modified_in_place_during_the_upload_is_never_a_mixed_success(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, old = make_file(tmp_path, 4 * MB)
    changed: List[bytes] = []

    def modify_once(event: ProgressEvent) -> None:
        if event.parts_done >= 2 and not changed:
            changed.append(flip_in_place(path, 100))  # part 1, already sent; same size

    result, error, _ = outcome(lambda: driver.uploader(client, store, concurrency=1).upload(path, "k", progress=modify_once))
    assert changed, "the file was not modified: the test proves nothing"
    final = path.read_bytes()
    if error is None:
        assert stored(client, "k") == final, "success was reported for an object mixing old and new bytes"
        assert result.crc64 == crc64(final)
    else:
        assert isinstance(error, SourceChangedError), repr(error)
        assert object_or_none(client, "k") in (None, old), "a mixed object was left at the key"


# --- 3. a single PUT damaged in transit ----------------------------------------------------------------


def test_3_damaged_single_put_never_replaces_the_previous_object(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, proxy_factory: Any
) -> None:
    previous = os.urandom(50_000)
    client.put_object("small", previous)
    path, _ = make_file(tmp_path, 200_000)
    proxy = proxy_factory(flips=None)  # every PUT body damaged
    with local_cos.client(endpoint=proxy.endpoint, retry=FAST_RETRY, timeout=(5, 10)) as through_proxy:
        _, error, _ = outcome(lambda: driver.uploader(through_proxy, store, multipart_threshold=MB).upload(path, "small"))
    assert proxy.flipped >= 1
    assert isinstance(error, CosError), repr(error)
    assert stored(client, "small") == previous, "a damaged body replaced the previous object"
    puts = [headers for method, _, headers in proxy.requests if method == "PUT"]
    assert puts and all("content-md5" in headers for headers in puts), "the single PUT carried no Content-MD5"


def test_3_single_put_damaged_once_carries_content_md5_and_ends_correct_or_refused(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, proxy_factory: Any
) -> None:
    previous = os.urandom(50_000)
    client.put_object("small", previous)
    path, data = make_file(tmp_path, 200_000)
    proxy = proxy_factory(flips=1)
    with local_cos.client(endpoint=proxy.endpoint, retry=FAST_RETRY, timeout=(5, 10)) as through_proxy:
        _, error, _ = outcome(lambda: driver.uploader(through_proxy, store, multipart_threshold=MB).upload(path, "small"))
    assert proxy.flipped == 1
    puts = [headers for method, _, headers in proxy.requests if method == "PUT"]
    assert "content-md5" in puts[0], "the damaged single PUT carried no Content-MD5: COS could not refuse it"
    assert stored(client, "small") == (data if error is None else previous)
    entries = local_cos.log_entries("PutObject")
    # [0] is the previous object's PUT; each service names the Content-MD5 mismatch its own way
    assert entries[1].status == 400 and entries[1].code == {"cos": "BadDigest", "oss": "InvalidDigest"}[local_cos.dialect]


def test_3_damaged_single_put_with_forbid_overwrite_leaves_no_damaged_object(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, proxy_factory: Any
) -> None:
    path, data = make_file(tmp_path, 200_000)
    proxy = proxy_factory(flips=1)
    with local_cos.client(endpoint=proxy.endpoint, retry=FAST_RETRY, timeout=(5, 10)) as through_proxy:
        up = driver.uploader(through_proxy, store, multipart_threshold=MB, forbid_overwrite=True)
        _, error, _ = outcome(lambda: up.upload(path, "small"))
    assert proxy.flipped == 1
    if error is None:
        assert stored(client, "small") == data
    else:
        assert object_or_none(client, "small") is None, f"a damaged object became permanent ({error!r})"


# --- 4. a lock on the checkpoint -----------------------------------------------------------------------


def test_4_second_run_of_the_same_upload_is_refused_at_once_and_the_first_completes(
    driver: Driver, local_cos: LocalCOS, client: CosClient, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 8 * MB)
    directory = tmp_path / "checkpoints"
    local_cos.faults.set_bandwidth(3 * MB)  # the first run takes about 1.5 s
    child = start_child(local_cos, path, "locked.bin", directory)
    try:
        store = CheckpointStore(directory)
        _, error, seconds = outcome(lambda: driver.uploader(client, store).upload(path, "locked.bin"))
        assert error is not None, "a second run of the same upload was not refused: both ran on one checkpoint"
        assert type(error).__name__ == "UploadLockedError", f"not refused by a lock: {error!r}"
        from cos_multipart.errors import UploadLockedError

        assert isinstance(error, UploadLockedError), repr(error)
        assert error.pid == child.pid and str(child.pid) in str(error)
        assert seconds < 2.0, f"refused only after {seconds:.1f} s"
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err.decode()
    assert out.split()[-2:] == [b"done", str(crc64(data)).encode()]
    assert stored(client, "locked.bin") == data
    assert list(client.list_multipart_uploads()) == []


def test_4_the_lock_dies_with_its_process(driver: Driver, local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 8 * MB)
    directory = tmp_path / "checkpoints"
    local_cos.faults.set_bandwidth(1 * MB)  # the child would take about 4 s; it is killed mid-way
    child = start_child(local_cos, path, "locked.bin", directory)
    store = CheckpointStore(directory)
    try:
        _, error, _ = outcome(lambda: driver.uploader(client, store).upload(path, "locked.bin"))
        assert error is not None, "a second run of the same upload was not refused while the first held it"
        assert type(error).__name__ == "UploadLockedError", f"not refused by a lock: {error!r}"
        assert child.poll() is None, "the first run was disturbed (it ended before it was killed)"
    finally:
        os.kill(child.pid, signal.SIGKILL)  # no cleanup of any kind: only the kernel can release the lock
        child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    local_cos.faults.set_bandwidth(None)
    result = driver.uploader(client, store).upload(path, "locked.bin")
    assert stored(client, "locked.bin") == data and result.crc64 == crc64(data)


# --- 5. one upload's failure leaves its neighbours alone -----------------------------------------------


def test_5_a_failing_upload_does_not_touch_another_upload_on_the_same_client(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path_a, _ = make_file(tmp_path, 4 * MB, "a.bin")
    path_b, data_b = make_file(tmp_path, 12 * MB, "b.bin")
    local_cos.faults.set_bandwidth(4 * MB)  # B's parts take about 0.25 s each: they are in flight when A fails
    b_mid_round = threading.Event()

    def progress_b(event: ProgressEvent) -> None:
        if event.bytes_done >= 4 * MB + MB // 2:
            b_mid_round.set()

    a_failed: List[bool] = []

    def progress_a(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and not a_failed:
            a_failed.append(b_mid_round.wait(10))
            os.truncate(path_a, 0)  # A's source fails: its next part reads short

    results: Dict[str, Any] = {}
    with local_cos.client(retry=RetryPolicy.never(), timeout=(5, 10)) as shared:

        def run(name: str, path: Path, progress: Any, concurrency: int) -> None:
            results[name] = outcome(
                lambda: driver.uploader(shared, store, concurrency=concurrency).upload(path, name, progress=progress)
            )

        threads = [
            threading.Thread(target=run, args=("b.bin", path_b, progress_b, 4)),
            threading.Thread(target=run, args=("a.bin", path_a, progress_a, 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert a_failed == [True], "A failed before B was mid-way: the test proves nothing"
    assert results["a.bin"][1] is not None, "upload A did not fail: the test proves nothing"
    _, error_b, _ = results["b.bin"]
    assert error_b is None, f"the healthy upload B failed because A failed: {error_b!r}"
    assert stored(client, "b.bin") == data_b
    entries = [e for e in local_cos.log_entries("UploadPart") if e.path == "/b.bin"]
    assert sorted(part_number(e) for e in entries) == list(range(1, 13)), "B's parts were sent again"
    assert all(e.status == 200 for e in entries)


# --- 6. a file that gets shorter -----------------------------------------------------------------------


def test_6_a_file_shorter_than_planned_is_source_changed_and_not_retried(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)

    def shrink(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and os.path.getsize(path) == 4 * MB:
            os.truncate(path, MB + MB // 2)  # part 2 reads 512 KiB, then the file ends

    _, error, _ = outcome(lambda: driver.uploader(client, store, concurrency=1).upload(path, "k", progress=shrink))
    assert not isinstance(error, CosTransportError), f"a short local file was reported as a network error: {error!r}"
    assert isinstance(error, SourceChangedError), repr(error)
    assert parts_sent(local_cos, "k").count(2) <= 1, "the request with the short body was retried"


def test_6_a_seekable_stream_that_gets_shorter_than_its_measured_size_is_source_changed(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore
) -> None:
    # A seekable stream (no file descriptor) is measured with seek/tell before the upload: 4 MiB. It then
    # yields only 1.5 MiB. Reporting a 1.5 MiB object as the verified upload of a 4 MiB source is wrong.
    stream = io.BytesIO(os.urandom(4 * MB))

    def shrink(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and len(stream.getbuffer()) == 4 * MB:
            stream.truncate(MB + MB // 2)

    result, error, _ = outcome(
        lambda: driver.uploader(client, store, concurrency=1).upload(stream, "k", progress=shrink)
    )
    assert error is not None, f"a {result.size}-byte object was reported verified for a 4 MiB source"
    assert isinstance(error, SourceChangedError), repr(error)
    assert object_or_none(client, "k") is None
    parts = parts_sent(local_cos, "k")
    assert len(parts) == len(set(parts)), f"a request was retried: {parts}"


def test_6_cli_exit_code_for_a_file_that_shrinks(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    cli_env.faults.add(Fault.delay(1.0, "UploadPart", nth=1))  # part 1's answer is held back

    def shrink_when_part_1_arrives() -> None:
        deadline = time.monotonic() + 10
        while not cli_env.faults.fired and time.monotonic() < deadline:
            time.sleep(0.01)
        os.truncate(path, MB // 2)

    watcher = threading.Thread(target=shrink_when_part_1_arrives)
    watcher.start()
    code = run_cli(
        "upload", str(path), target(cli_env, "k"), "--part-size", "1MB", "--multipart-threshold", "0",
        "--concurrency", "1",
    )  # fmt: skip
    watcher.join()
    err = capsys.readouterr().err
    assert code == 6, f"exit {code}: {err}"  # EXIT_SOURCE_CHANGED
    assert parts_sent(cli_env, "k").count(2) <= 1


# --- 7. resume when COS no longer has the upload -------------------------------------------------------


def test_7_cli_resume_of_an_upload_cos_lost_fails_and_starts_nothing(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    with cli_env.client(retry=FAST_RETRY) as client:
        upload_id = interrupt(client, CheckpointStore(), path, "r.bin", 2)
        client.abort_multipart_upload("r.bin", upload_id)  # behind the checkpoint's back
    logged = len(cli_env.log_entries())
    code = run_cli("resume", str(path), target(cli_env, "r.bin"), "--part-size", "1MB")
    out, err = capsys.readouterr()
    apis = [e.api for e in cli_env.log_entries()[logged:]]
    assert "InitiateMultipartUpload" not in apis and "UploadPart" not in apis, f"resume started afresh: {apis}"
    assert code == cli.EXIT_USAGE, f"exit {code}"  # ResumeError
    assert err.startswith("cos-multipart: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert upload_id in err or "no longer" in err, err
    with cli_env.client() as client:
        assert list(client.list_multipart_uploads()) == [] and object_or_none(client, "r.bin") is None
    # `upload` in the same situation starts afresh and says so in one line (a real process: real stderr).
    child = subprocess.run(
        [sys.executable, "-m", "cos_multipart", "upload", str(path), target(cli_env, "r.bin"),
         "--part-size", "1MB", "--multipart-threshold", "0"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr.decode()
    lines = child.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cos-multipart: warning:") and upload_id in lines[0], lines
    with cli_env.client() as client:
        assert stored(client, "r.bin") == data


def test_7_uploader_resume_of_an_upload_cos_lost_raises_resume_error(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    # New names: Uploader.resume and errors.ResumeError (today only the CLI has a resume, tested above).
    path, _ = make_file(tmp_path, 4 * MB)
    upload_id = interrupt(client, store, path, "r.bin", 2, driver=driver)
    client.abort_multipart_upload("r.bin", upload_id)
    logged = len(local_cos.log_entries())
    from cos_multipart.errors import ResumeError

    with pytest.raises(ResumeError):
        driver.uploader(client, store).resume(path, "r.bin")
    apis = [e.api for e in local_cos.log_entries()[logged:]]
    assert "InitiateMultipartUpload" not in apis and "UploadPart" not in apis, apis
    assert list(client.list_multipart_uploads()) == []


# --- 8. forbid_overwrite fails before Initiate -----------------------------------------------------------


def test_8_forbid_overwrite_fails_before_initiate_when_the_key_exists(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    client.put_object("k", b"the existing object")
    path, _ = make_file(tmp_path, 4 * MB)
    _, error, _ = outcome(lambda: driver.uploader(client, store, forbid_overwrite=True).upload(path, "k"))
    assert error is not None
    apis = [e.api for e in local_cos.log_entries()]
    assert "InitiateMultipartUpload" not in apis and "UploadPart" not in apis, f"sent before failing: {apis}"
    assert list(client.list_multipart_uploads()) == [] and list(store) == []
    from cos_multipart.errors import ObjectExistsError

    assert isinstance(error, ObjectExistsError), repr(error)
    assert error.bucket == local_cos.bucket and error.key == "k"
    assert stored(client, "k") == b"the existing object"


def test_8_cli_forbid_overwrite_exit_3_before_initiate(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_env.client() as client:
        client.put_object("k", b"the existing object")
    path, _ = make_file(tmp_path, 4 * MB)
    code = run_cli(
        "upload", str(path), target(cli_env, "k"), "--part-size", "1MB", "--multipart-threshold", "0",
        "--forbid-overwrite",
    )  # fmt: skip
    apis = [e.api for e in cli_env.log_entries()]
    assert "InitiateMultipartUpload" not in apis and "UploadPart" not in apis, f"sent before failing: {apis}"
    assert code == cli.EXIT_SERVICE
    assert capsys.readouterr().err.count("\n") == 1


def test_8_object_created_during_the_upload_aborts_at_complete_and_drops_the_checkpoint(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    racer = b"created by someone else meanwhile"
    created: List[bool] = []

    def create_meanwhile(event: ProgressEvent) -> None:
        if event.parts_done >= 1 and not created:
            created.append(True)
            with local_cos.client() as other:
                other.put_object("k", racer)

    _, error, _ = outcome(
        lambda: driver.uploader(client, store, forbid_overwrite=True).upload(path, "k", progress=create_meanwhile)
    )
    assert created and error is not None
    assert isinstance(error, CosError), repr(error)
    assert stored(client, "k") == racer
    assert list(client.list_multipart_uploads()) == [], "the refused upload was left behind"
    assert list(store) == [], "the refused upload's checkpoint was left behind"
    assert len(local_cos.log_entries("AbortMultipartUpload")) == 1


# --- 9. streams of unknown length ----------------------------------------------------------------------


class Generated:
    """A non-seekable raw stream of ``size`` bytes produced on demand (a pipe would do the same)."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._counter = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        self._left -= size
        self._counter += 1
        return bytes([self._counter % 251]) * size


def test_9_expected_size_picks_the_stream_part_size_up_front(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore
) -> None:
    # New name: UploadConfig(expected_size=...) replaces stream_max_size. 10,000 parts must reach the
    # expected 90,000 MB, so parts are at least 9 MB (more than the 8 MB default); every part but the last
    # has the same size. (A stream past 10,000 parts of its start size cannot be tested at real size: at
    # least 10,001 MB would have to be sent.)
    expected = 10_000 * 9 * MB
    config = UploadConfig(multipart_threshold=0, concurrency=2, expected_size=expected)
    result = driver.Uploader(client, config, store=store).upload(cast(IO[bytes], Generated(20 * MB)), "stream")
    sizes = [e.bytes_in for e in sorted(local_cos.log_entries("UploadPart"), key=part_number)]
    assert sum(sizes) == 20 * MB == result.size
    assert len(set(sizes[:-1])) == 1 and 9 * MB <= sizes[0] <= 16 * MB and sizes[-1] <= sizes[0], sizes
    assert sizes[0] % MB == 0


# --- 10. a file whose stat size is 0 but which has bytes ------------------------------------------------


@pytest.mark.parametrize("threshold", [None, 0], ids=["single-put", "multipart"])
def test_10_a_zero_size_file_with_content_is_never_an_empty_verified_object(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, threshold: Optional[int]
) -> None:
    source = Path("/proc/version")
    if not source.exists() or os.stat(source).st_size != 0:
        pytest.skip("needs Linux /proc (a regular file whose stat size is 0)")
    content = source.read_bytes()
    assert content
    options: Dict[str, Any] = {} if threshold is None else {"multipart_threshold": threshold}
    config = UploadConfig(concurrency=1, **options)
    result, error, _ = outcome(lambda: driver.Uploader(client, config, store=store).upload(source, "proc"))
    if error is None:
        assert result.size == len(content), f"{result.size} B reported verified for {len(content)} B of content"
        assert stored(client, "proc") == content
    else:
        assert isinstance(error, CosError) and "proc" in str(error), repr(error)
        assert object_or_none(client, "proc") is None


# --- 11. a kept upload is reported ---------------------------------------------------------------------


def fail_part_3(local_cos: LocalCOS) -> None:
    """Part 3 (counted from now) answers a non-retryable 403 AccessDenied."""
    local_cos.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=3))


def test_11_the_error_of_a_kept_upload_carries_it(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    fail_part_3(local_cos)
    _, error, _ = outcome(lambda: driver.uploader(client, store, concurrency=1).upload(path, "k"))
    assert isinstance(error, CosServiceError) and error.status == 403, repr(error)
    (upload,) = list(client.list_multipart_uploads())
    assert getattr(error, "kept_upload", None) is not None or upload.upload_id in str(error), (
        f"the kept upload {upload.upload_id} is not mentioned: {error}"
    )
    from cos_multipart.errors import kept_upload_of

    kept = kept_upload_of(error)
    assert kept is not None
    assert (kept.bucket, kept.key, kept.upload_id) == (local_cos.bucket, "k", upload.upload_id)
    assert (kept.parts_done, kept.parts_total) == (2, 4)
    (checkpoint_path, checkpoint), = list(store)
    assert kept.checkpoint is not None and Path(kept.checkpoint) == Path(checkpoint_path)
    assert checkpoint.upload_id == upload.upload_id


def test_11_ctrl_c_that_keeps_the_upload_carries_it(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)

    def press_ctrl_c(event: ProgressEvent) -> None:
        if event.parts_done == 2:
            _thread.interrupt_main()

    with pytest.raises(KeyboardInterrupt) as info:
        driver.uploader(client, store, concurrency=1).upload(path, "k", progress=press_ctrl_c)
        time.sleep(5)  # only reached if the interrupt arrives after the upload returned
    (upload,) = list(client.list_multipart_uploads())
    from cos_multipart.errors import kept_upload_of

    # asyncio.run answers Ctrl-C with a KeyboardInterrupt of its own, raised from the upload's CancelledError
    assert kept_upload_of(info.value) is not None, "Ctrl-C kept the upload without saying so"

    kept = kept_upload_of(info.value)
    assert kept is not None and kept.upload_id == upload.upload_id and kept.parts_total == 4
    assert kept.parts_done >= 2


def test_11_cli_prints_one_line_about_the_kept_upload(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    fail_part_3(cli_env)
    code = run_cli(
        "upload", str(path), target(cli_env, "k"), "--part-size", "1MB", "--multipart-threshold", "0",
        "--concurrency", "1",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == cli.EXIT_SERVICE, err
    with cli_env.client() as client:
        (upload,) = list(client.list_multipart_uploads())
    kept = [line for line in err.splitlines() if "upload kept" in line]
    assert len(kept) == 1, f"no 'upload kept' line: {err}"
    line = kept[0]
    assert "2/4 parts" in line and upload.upload_id in line, line
    assert f"cos-multipart resume {path} {target(cli_env, 'k')}" in line, line
    assert f"cos-multipart abort {target(cli_env, 'k')} {upload.upload_id}" in line, line
