"""Regression tests for the holes of issue 8 (see ``hole_helpers``): forbid_overwrite, streams of unknown length, a zero-size file with bytes, a kept upload reported."""

from __future__ import annotations

import _thread
import os
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, cast

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosError, CosServiceError
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart._drivers.uploader import UploadConfig

from uploads import Driver, make_file, stored, target

from holes.hole_helpers import (
    object_or_none,
    outcome,
    part_number,
    run_cli,
)

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


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
    from cos_multipart._protocol.errors import ObjectExistsError

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
    from cos_multipart._protocol.errors import kept_upload_of

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
    from cos_multipart._protocol.errors import kept_upload_of

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
