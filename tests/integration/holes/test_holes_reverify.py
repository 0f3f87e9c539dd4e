"""Regression tests for the holes of issue 8 (see ``hole_helpers``): resume re-verifies reused parts, a file modified while it uploads, a damaged single PUT."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, List

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosError, SourceChangedError
from cos_multipart._protocol.limits import MB
from cos_multipart._core.progress import ProgressEvent
from cos_multipart.testing import LocalCOS
from cos_multipart._drivers.uploader import UploadConfig

from uploads import Driver, make_file, stored

from holes.hole_helpers import (
    FAST_RETRY,
    flip_in_place,
    interrupt,
    object_or_none,
    outcome,
    parts_sent,
    rchar,
    restore_times,
)

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


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
