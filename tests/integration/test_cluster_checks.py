"""The cluster driver (a real Dask LocalCluster) checks everything it can before its first request, and an
upload aborted elsewhere while its parts are on the workers is gone (:class:`UploadGoneError`), keeping
nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from cos_multipart import UploadConfig, UploadGoneError, kept_upload_of  # noqa: E402
from cos_multipart._io.checkpoint import CheckpointStore  # noqa: E402
from cos_multipart.cluster import upload_file_on_cluster  # noqa: E402
from cos_multipart._protocol.errors import CosValidationError  # noqa: E402
from cos_multipart._protocol.limits import GB, MB  # noqa: E402
from cos_multipart.testing import LocalCOS  # noqa: E402

from cluster_helpers import target  # noqa: E402
from test_checks_before_requests import sparse_file  # noqa: E402
from test_upload_gone import abort_from_elsewhere  # noqa: E402
from uploads import make_file  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def nothing_happened(cos: LocalCOS, store: CheckpointStore) -> None:
    assert [entry.api for entry in cos.log_entries()] == []
    with cos.client() as client:
        assert list(client.list_multipart_uploads()) == []
    assert list(store) == []


def test_a_part_size_too_small_for_the_file_is_refused_before_initiate(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path = sparse_file(tmp_path, 11 * GB)
    with pytest.raises(CosValidationError) as excinfo:
        upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=UploadConfig(part_size=MB), store=store)
    assert excinfo.value.field == "part_size" and excinfo.value.value == MB
    nothing_happened(cos, store)


def test_a_part_size_below_the_services_minimum_is_refused_before_initiate(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    # 200 KB is a valid OSS part size (the loosest minimum an UploadConfig checks) but not a COS one.
    path, _ = make_file(tmp_path, 3 * MB)
    config = UploadConfig(part_size=200 * 1024, multipart_threshold=0)
    if cos.dialect == "oss":
        upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=config, store=store)
        return
    with pytest.raises(CosValidationError) as excinfo:
        upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=config, store=store)
    assert excinfo.value.field == "part_size"
    nothing_happened(cos, store)


@pytest.mark.parametrize(("key", "progress", "field"), [("k", True, "progress"), ("dir/", None, "key")], ids=["progress", "key"])
def test_a_bad_progress_or_key_is_refused_before_any_request(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path, key: str, progress: Any, field: str
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    config = UploadConfig(part_size=MB, multipart_threshold=0)
    with pytest.raises(CosValidationError) as excinfo:
        upload_file_on_cluster(cluster, target(cos), path, key, upload_config=config, progress=progress, store=store)
    assert excinfo.value.field == field
    nothing_happened(cos, store)


def test_something_else_than_a_dask_client_is_refused_before_any_request(
    cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    config = UploadConfig(part_size=MB, multipart_threshold=0)
    with pytest.raises(CosValidationError) as excinfo:
        upload_file_on_cluster(object(), target(cos), path, "k", upload_config=config, store=store)  # type: ignore[arg-type]
    assert excinfo.value.field == "dask_client" and excinfo.value.value == "object"
    nothing_happened(cos, store)


def test_an_upload_aborted_elsewhere_while_on_the_cluster_is_gone_and_keeps_nothing(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 8 * MB)
    config = UploadConfig(part_size=MB, multipart_threshold=0)
    with pytest.raises(UploadGoneError) as excinfo:
        upload_file_on_cluster(
            cluster, target(cos), path, "gone.bin", upload_config=config, parts_per_task=1, store=store,
            progress=abort_from_elsewhere(cos, "gone.bin"),
        )  # fmt: skip
    error = excinfo.value
    assert "was aborted elsewhere (NoSuchUpload); nothing kept" in str(error) and kept_upload_of(error) is None
    assert list(store) == []
    with cos.client() as client:
        assert list(client.list_multipart_uploads()) == []
