"""Verified downloads against the local server over real sockets: one suite for (threads, asyncio) x (COS, OSS)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, List

import pytest

from cos_multipart import download_file, download_stream
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.errors import CosIntegrityError, CosValidationError, DownloadLockedError, ObjectChangedError, UploadLockedError
from cos_multipart._protocol.sse import SseC
from cos_multipart.testing import Fault, LocalCOS

from downloads import DRIVERS, KEY_32, PART, fetch, leftovers, put

pytestmark = pytest.mark.both_dialects


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_equal_bytes_from_parallel_ranges(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    data = put(client, "big", 5 * PART + 123)
    seen: List[Any] = []
    result = fetch(driver, client, "big", tmp_path / "out", progress=seen.append)
    assert (tmp_path / "out").read_bytes() == data
    assert (result.check, result.crc64, result.size, result.ranges, result.refetched) == ("crc64", crc64(data), len(data), 6, 0)
    assert leftovers(tmp_path) == []
    gets = local_cos.log_entries("GetObject")
    assert len(gets) == 6 and {entry.status for entry in gets} == {206}
    assert seen and seen[-1].bytes_done == len(data)


def test_small_and_empty_objects_in_one_get(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    for key, size in (("small", 1000), ("empty", 0)):
        data = put(client, key, size)
        result = fetch(driver, client, key, tmp_path / key)
        assert (tmp_path / key).read_bytes() == data and result.ranges == 1 and result.check == "crc64"
    assert [entry.status for entry in local_cos.log_entries("GetObject")] == [200, 200]
    assert leftovers(tmp_path) == []


def test_a_corrupted_range_is_fetched_again(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    data = put(client, "big", 4 * PART)
    local_cos.faults.add(Fault.corrupt("GetObject", nth=2, after_bytes=100))
    result = fetch(driver, client, "big", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert result.refetched >= 1 and result.check == "crc64"
    assert [fired.kind for fired in local_cos.faults.fired] == ["corrupt"]


def test_a_truncated_range_is_fetched_again(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    data = put(client, "big", 4 * PART)
    local_cos.faults.add(Fault.truncate("GetObject", nth=3, after_bytes=1000))
    result = fetch(driver, client, "big", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data
    assert result.refetched == 1 and len(local_cos.log_entries("GetObject")) == 5


def test_damage_on_every_round_is_never_reported_verified(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    put(client, "big", 2 * PART + 5)
    (tmp_path / "out").write_bytes(b"the old file")
    local_cos.faults.add(Fault.corrupt("GetObject", count=None))
    with pytest.raises(CosIntegrityError) as caught:
        fetch(driver, client, "big", tmp_path / "out", attempts=2)
    assert caught.value.what == "crc64"
    assert (tmp_path / "out").read_bytes() == b"the old file"  # replaced only after verification
    assert leftovers(tmp_path) == []


def test_an_object_replaced_midway_fails_cleanly(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    put(client, "big", 6 * PART)
    (tmp_path / "out").write_bytes(b"the old file")
    local_cos.faults.add(Fault.replace_source(api="GetObject", nth=1))
    with pytest.raises(ObjectChangedError):
        fetch(driver, client, "big", tmp_path / "out", concurrency=1)
    assert (tmp_path / "out").read_bytes() == b"the old file"
    assert leftovers(tmp_path) == []  # the temporary file and checkpoint are gone
    assert 412 in {entry.status for entry in local_cos.log_entries("GetObject")}


def test_sse_c(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    if local_cos.dialect != "cos":
        pytest.skip("OSS has no SSE-C")
    data = os.urandom(3 * PART)
    client.put_object("enc", data, encryption=SseC(KEY_32))
    result = fetch(driver, client, "enc", tmp_path / "out", sse_c=SseC(KEY_32))
    assert (tmp_path / "out").read_bytes() == data and result.check == "crc64"


def test_options_are_checked_before_any_request(driver: str, client: CosClient, local_cos: LocalCOS, tmp_path: Path) -> None:
    put(client, "k", 10)
    for options, field in (
        ({"part_size": 0}, "part_size"), ({"concurrency": -1}, "concurrency"), ({"traffic_limit": 5}, "traffic_limit"),
        ({"progress": "print"}, "progress"), ({"bandwidth_limit": -1}, "bandwidth_limit"), ({"attempts": 0}, "attempts"),
    ):  # fmt: skip
        with pytest.raises(CosValidationError) as caught:
            fetch(driver, client, "k", tmp_path / "out", **options)
        assert caught.value.field == field
    with pytest.raises(CosValidationError) as caught:
        fetch(driver, client, "k", tmp_path)
    assert caught.value.field == "path"
    assert local_cos.log_entries("GetObject") == [] and local_cos.log_entries("HeadObject") == []


def test_a_stream_gets_the_bytes_in_order_and_checked(client: CosClient, local_cos: LocalCOS) -> None:
    data = put(client, "big", 7 * PART + 3)
    out = io.BytesIO()
    local_cos.faults.add(Fault.truncate("GetObject", nth=2, after_bytes=10))  # re-fetched before it is written
    result = download_stream(client, "big", out, part_size=PART, concurrency=3)
    assert out.getvalue() == data and result.check == "crc64" and result.refetched == 1 and result.path == "-"


def test_a_stream_whose_bytes_were_damaged_says_so(client: CosClient, local_cos: LocalCOS) -> None:
    put(client, "big", 3 * PART)
    local_cos.faults.add(Fault.corrupt("GetObject", nth=2, after_bytes=5))
    with pytest.raises(CosIntegrityError) as caught:
        download_stream(client, "big", io.BytesIO(), part_size=PART)
    assert caught.value.what == "crc64" and "stream" in str(caught.value)


def test_a_stream_of_a_small_and_an_empty_object(client: CosClient) -> None:
    for size in (0, 10):
        data = put(client, "small", size)
        out = io.BytesIO()
        assert download_stream(client, "small", out).ranges == 1 and out.getvalue() == data


def test_two_downloads_to_one_target_at_once_are_refused(driver: str, client: CosClient, tmp_path: Path) -> None:
    data = put(client, "big", 3 * PART)
    refused: List[BaseException] = []

    def second(event: Any) -> None:
        if not refused and event.parts_done >= 1:
            try:
                download_file(client, "big", tmp_path / "out")
            except DownloadLockedError as error:
                refused.append(error)

    fetch(driver, client, "big", tmp_path / "out", concurrency=1, progress=second)
    assert len(refused) == 1 and isinstance(refused[0], UploadLockedError) and "downloading" in str(refused[0])
    assert (tmp_path / "out").read_bytes() == data and leftovers(tmp_path) == []
