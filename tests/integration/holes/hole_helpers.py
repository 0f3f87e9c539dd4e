"""Helpers of the regression tests for the eleven holes of issue 8 (``tests/integration/holes/``), against the
local COS server over real sockets.

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

import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, List, Optional, Tuple
from urllib.parse import parse_qs

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosServiceError
from cos_multipart._core.progress import ProgressEvent
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart.testing import LocalCOS
from cos_multipart.testing.server import AccessLogEntry

from uploads import Driver, stored

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05)


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


CHILD = textwrap.dedent(
    """
    import sys
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials
    from cos_multipart._protocol.retry import RetryPolicy
    from cos_multipart._drivers.uploader import upload_file

    endpoint, bucket, region, secret_id, secret_key, path, key, directory, dialect = sys.argv[1:10]
    client = CosClient(bucket, region, Credentials(secret_id, secret_key), endpoint=endpoint, dialect=dialect,
                       retry=RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_cap=0.05))
    said = []

    def progress(event):
        if event.parts_done >= 1 and not said:
            said.append(1)
            print("mid-way", flush=True)
            sys.stdin.readline()  # held mid-way, holding the checkpoint's lock, until the test says go

    result = upload_file(client, path, key, part_size=1048576, multipart_threshold=0, concurrency=2,
                         checkpoint_dir=directory, progress=progress)
    print("done", result.crc64, flush=True)
    """
)


def start_child(local_cos: LocalCOS, path: Path, key: str, directory: Path) -> "subprocess.Popen[bytes]":
    """A separate process uploading ``path`` to ``key`` with checkpoints in ``directory``; returns once it
    has a part confirmed (so it holds the checkpoint and is mid-way). It stays there, holding the lock, until
    a line is written to its stdin (or stdin is closed): no timing decides whether it is still running."""
    credentials = local_cos.credentials
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, local_cos.endpoint, local_cos.bucket, local_cos.region,
         credentials.secret_id, credentials.secret_key, str(path), key, str(directory), local_cos.dialect],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 120)  # ends a broken run only
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
