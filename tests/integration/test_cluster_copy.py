"""A multipart copy whose part copies are sent by the worker processes of a real Dask LocalCluster (the
``cluster`` fixture of conftest.py), against the local server speaking each service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from cos_multipart import CopySource, SourceChangedError  # noqa: E402
from cos_multipart._io.checkpoint import CheckpointStore  # noqa: E402
from cos_multipart._protocol.checksum import crc64  # noqa: E402
from cos_multipart._protocol.errors import CosValidationError  # noqa: E402
from cos_multipart._protocol.limits import MB  # noqa: E402
from cos_multipart._protocol.sse import SseC  # noqa: E402
from cos_multipart.cluster import copy_object_on_cluster  # noqa: E402
from cos_multipart.testing import Fault, LocalCOS  # noqa: E402

from cluster_helpers import target  # noqa: E402
from uploads import stored  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def test_the_workers_copy_the_parts(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    data = os.urandom(5 * MB + 3)
    with cos.client() as client:
        client.put_object("src/big", data, content_type="video/mp4")
    store = CheckpointStore(tmp_path / "checkpoints")
    result = copy_object_on_cluster(cluster, target(cos), "src/big", "dst/big", part_size=MB, threshold=MB, store=store)
    assert result.parts == 6 and result.crc64 == crc64(data) and result.crc64_verified
    with cos.client() as client:
        assert stored(client, "dst/big") == data
        assert client.head_object("dst/big").headers["content-type"] == "video/mp4"
        assert list(client.list_multipart_uploads()) == []
    assert len(cos.log_entries("UploadPartCopy")) == 6 and list(store) == []


def test_a_source_replaced_mid_copy_leaves_nothing(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    with cos.client() as client:
        client.put_object("src/moving", os.urandom(4 * MB))
    # One task copies the 4 parts in order: the source is replaced after the first, the second answers 412.
    cos.faults.add(Fault.replace_source("UploadPartCopy", nth=1))
    store = CheckpointStore(tmp_path / "checkpoints")
    with pytest.raises(SourceChangedError):
        copy_object_on_cluster(cluster, target(cos), CopySource("src/moving"), "dst/moving", part_size=MB, threshold=MB,
                               parts_per_task=4, store=store)  # fmt: skip
    with cos.client() as client:
        assert list(client.list_multipart_uploads()) == [] and client.find_object("dst/moving") is None
    assert list(store) == []


def test_sse_c_is_refused_before_any_request(cluster: Any, cos: LocalCOS) -> None:
    with pytest.raises(CosValidationError, match="encryption"):
        copy_object_on_cluster(cluster, target(cos), "src", "dst", encryption=SseC(b"0123456789ABCDEF0123456789ABCDEF"))
    assert not cos.log_entries("HeadObject")
