"""Every check that can be made before a request is made before the first request, in every driver: a part size
too small for the file, a ``progress`` that cannot be called, a key ending in ``/``, a missing file. After each
refusal the server saw no request at all and holds no multipart upload (nothing billed that nothing names)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cos_multipart import SourceNotFoundError
from cos_multipart._cli import main as cli
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.limits import GB, MB
from cos_multipart.testing import LocalCOS

from uploads import Driver, make_file, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def sparse_file(directory: Path, size: int, name: str = "11G.bin") -> Path:
    """A file of ``size`` bytes that takes no disk space (a hole): only its size matters to the plan."""
    path = directory / name
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def nothing_happened(server: LocalCOS, client: CosClient, store: CheckpointStore, *, seen: int = 0) -> None:
    """No request reached the server (after the ``seen`` first), no multipart upload exists, no checkpoint."""
    assert [entry.api for entry in server.log_entries()[seen:]] == []
    assert list(client.list_multipart_uploads()) == []
    assert list(store) == []


def test_a_part_size_too_small_for_the_file_is_refused_before_initiate(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path = sparse_file(tmp_path, 11 * GB)
    with pytest.raises(CosValidationError) as excinfo:
        driver.upload_file(client, path, "k", part_size=MB, store=store)
    error = excinfo.value
    assert error.field == "part_size" and error.value == MB and "at most 10000 parts" in error.allowed
    nothing_happened(local_cos, client, store)


def test_a_part_size_too_small_for_a_file_object_is_refused_before_initiate(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path = sparse_file(tmp_path, 11 * GB)
    with open(path, "rb") as handle, pytest.raises(CosValidationError) as excinfo:
        driver.upload_file(client, handle, "k", part_size=MB, store=store)
    assert excinfo.value.field == "part_size"
    nothing_happened(local_cos, client, store)


@pytest.mark.parametrize("progress", [True, "bar", 3], ids=["True", "str", "int"])
def test_a_progress_that_cannot_be_called_is_refused_before_any_request(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, progress: Any
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    with pytest.raises(CosValidationError) as excinfo:
        driver.upload_file(client, path, "k", part_size=MB, multipart_threshold=0, progress=progress, store=store)
    assert excinfo.value.field == "progress" and excinfo.value.value == progress
    assert "callable" in excinfo.value.allowed
    nothing_happened(local_cos, client, store)


def test_a_key_ending_in_a_slash_is_refused_and_names_the_convention(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    path, _ = make_file(tmp_path, 10)
    with pytest.raises(CosValidationError) as excinfo:
        driver.upload_file(client, path, "backups/", store=store)
    error = excinfo.value
    assert error.field == "key" and error.value == "backups/"
    assert "appends the file name" in error.allowed and "backups/data.bin" in error.allowed
    nothing_happened(local_cos, client, store)
    seen = len(local_cos.log_entries())
    with pytest.raises(CosValidationError):
        driver.upload_file(client, b"bytes", "dir/", store=store)
    nothing_happened(local_cos, client, store, seen=seen)


def test_a_missing_file_is_a_validation_error_and_a_file_not_found_error(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.bin"
    with pytest.raises(SourceNotFoundError) as excinfo:
        driver.upload_file(client, missing, "k", store=store)
    error = excinfo.value
    assert isinstance(error, CosValidationError) and isinstance(error, FileNotFoundError)
    assert error.errno == 2 and error.filename == str(missing) and error.field == "source"
    assert str(missing) in str(error) and "no such file" in str(error)
    nothing_happened(local_cos, client, store)


def test_the_cli_refuses_a_part_size_too_small_before_initiate(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sparse_file(tmp_path, 11 * GB)
    code = cli.main(["upload", str(path), target(cli_env, "k"), "--part-size", "1MB"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "--part-size" in err, err
    assert [entry.api for entry in cli_env.log_entries()] == []
    with cli_env.client() as client:
        assert list(client.list_multipart_uploads()) == []
    assert not [name for _, _, names in os.walk(tmp_path / "cache") for name in names if name.endswith(".json")]


@pytest.mark.parametrize(("argument", "value"), [("store", "/tmp/checkpoints"), ("config", {"part_size": MB})])
def test_a_store_or_config_of_another_type_is_refused_before_any_request(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path, argument: str, value: Any
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    with pytest.raises(CosValidationError) as excinfo:
        if argument == "store":
            driver.Uploader(client, store=value).upload(path, "k")
        else:
            driver.Uploader(client, value, store=store).upload(path, "k")
    assert excinfo.value.field == argument and excinfo.value.value == type(value).__name__
    nothing_happened(local_cos, client, store)
