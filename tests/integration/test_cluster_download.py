"""One object's ranges fetched by the worker processes of a real Dask LocalCluster into a temporary file on the
same (shared) file system, verified by this process's download machine; against the local server, each service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from cos_multipart._io._downloadfile import DownloadFiles  # noqa: E402
from cos_multipart._io.client import CosClient  # noqa: E402
from cos_multipart._protocol.checksum import crc64  # noqa: E402
from cos_multipart._protocol.errors import CosValidationError, ObjectChangedError  # noqa: E402
from cos_multipart.cluster import download_file_on_cluster  # noqa: E402
from cos_multipart.testing import Fault, LocalCOS  # noqa: E402

from cluster_helpers import target  # noqa: E402
from downloads import fetch, leftovers  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

PART = 256 * 1024


def put(cos: LocalCOS, key: str, size: int) -> bytes:
    data = os.urandom(size)
    with cos.client() as client:
        client.put_object(key, data)
    return data


def test_ranges_from_the_workers_make_a_verified_file(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    data = put(cos, "big", 5 * PART + 7)
    result = download_file_on_cluster(cluster, target(cos), "big", tmp_path / "out", part_size=PART)
    assert (tmp_path / "out").read_bytes() == data
    assert (result.check, result.crc64, result.ranges) == ("crc64", crc64(data), 6)
    assert leftovers(tmp_path) == [] and len(cos.log_entries("GetObject")) == 6


def test_a_corrupted_range_is_fetched_again_by_the_workers(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    data = put(cos, "big", 4 * PART)
    cos.faults.add(Fault.corrupt("GetObject", nth=2, after_bytes=9))
    result = download_file_on_cluster(cluster, target(cos), "big", tmp_path / "out", part_size=PART)
    assert (tmp_path / "out").read_bytes() == data and result.refetched >= 1


def test_an_object_replaced_midway_fails_cleanly(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    put(cos, "big", 6 * PART)
    (tmp_path / "out").write_bytes(b"old")
    replaced: list[bytes] = []

    def replace(event: Any) -> None:
        # Another writer replaces the object once the first range is in: the next ranges are handed out after
        # this callback returns (at most the cluster's 4 threads are in flight), so they meet the new object. The
        # server's replace_source fault would race here: it replaces the object after its answer was sent, and
        # the workers' other ranges may all be served while a slow worker still reads the first.
        if event.parts_done >= 1 and not replaced:
            replaced.append(put(cos, "big", 6 * PART))

    with pytest.raises(ObjectChangedError):
        download_file_on_cluster(cluster, target(cos), "big", tmp_path / "out", part_size=PART, progress=replace)
    assert replaced
    assert (tmp_path / "out").read_bytes() == b"old" and leftovers(tmp_path) == []


def test_an_interrupted_cluster_download_resumes_with_threads(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    data = put(cos, "big", 8 * PART)

    def stop(event: Any) -> None:
        if event.parts_done >= 3:
            raise RuntimeError("stopped by the test")

    with pytest.raises(RuntimeError):
        download_file_on_cluster(cluster, target(cos), "big", tmp_path / "out", part_size=PART, progress=stop)
    stored = DownloadFiles(str(tmp_path / "out")).load()
    assert stored is not None and len(stored.done) >= 3
    with cos.client() as client:
        assert isinstance(client, CosClient)
        result = fetch("threads", client, "big", tmp_path / "out", part_size=PART)
    assert result.ranges_reused == len(stored.done) and (tmp_path / "out").read_bytes() == data


def test_options_are_checked_first(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    with pytest.raises(CosValidationError) as caught:
        download_file_on_cluster("not a client", target(cos), "k", tmp_path / "out")  # type: ignore[arg-type]
    assert caught.value.field == "dask_client"
    with pytest.raises(CosValidationError) as caught:
        download_file_on_cluster(cluster, target(cos), "k", tmp_path / "out", part_size=0)
    assert caught.value.field == "part_size" and cos.log_entries() == []
