"""``cos_multipart.verify``: a local file against an object by size and CRC-64 (one HEAD), as a value; the
command's ``verify`` runs it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from cos_multipart import CosValidationError, SourceNotFoundError, VerifyResult, crc64, verify
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._protocol.sse import SseC
from cos_multipart.testing import LocalCOS

from uploads import make_file

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def test_an_equal_object_is_equal(client: CosClient, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 3 * 1024 * 1024 + 5)
    client.put_object("v.bin", data)
    result = verify(client, path, "v.bin")
    assert isinstance(result, VerifyResult) and result.equal and result.outcome == "equal" and result.exists
    assert result.local_size == result.remote_size == len(data)
    assert result.local_crc64 == result.remote_crc64 == crc64(data)
    assert result.path == str(path) and result.key == "v.bin" and result.bucket == client.bucket
    assert result.describe().startswith("equal: ")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.local_size = 1  # type: ignore[misc]


def test_other_bytes_of_the_same_size_differ_by_crc64(client: CosClient, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 1000)
    client.put_object("v.bin", bytes(reversed(data)))
    result = verify(client, path, "v.bin")
    assert not result.equal and result.outcome == "crc64"
    assert result.local_crc64 == crc64(data) and result.remote_crc64 == crc64(bytes(reversed(data)))


def test_another_size_differs_without_reading_the_file(client: CosClient, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 1000)
    client.put_object("v.bin", b"short")
    result = verify(client, path, "v.bin")
    assert result.outcome == "size" and not result.equal
    assert (result.local_size, result.remote_size, result.local_crc64) == (1000, 5, None)
    assert "1000 bytes" in result.describe() and "5 bytes" in result.describe()


def test_a_missing_object_is_missing(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 10)
    result = verify(client, path, "nothing-here.bin")
    assert result.outcome == "missing" and not result.exists and not result.equal
    assert result.remote_size is None and result.remote_crc64 is None and result.local_crc64 is None
    assert [entry.api for entry in local_cos.log_entries()] == ["HeadObject"]


def test_bad_paths_are_refused_before_any_request(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError) as excinfo:
        verify(client, tmp_path / "nope", "k")
    assert excinfo.value.field == "path" and isinstance(excinfo.value, FileNotFoundError)
    with pytest.raises(CosValidationError) as invalid:
        verify(client, tmp_path, "k")
    assert invalid.value.field == "path" and "regular file" in invalid.value.allowed
    assert local_cos.log_entries() == []


def test_an_sse_c_object_is_verified_with_its_key(client: CosClient, tmp_path: Path) -> None:
    if client.dialect.name == "oss":
        pytest.skip("OSS has no SSE-C")
    key = SseC(os.urandom(32))
    path, data = make_file(tmp_path, 2000)
    client.put_object("c.bin", data, options=ObjectOptions(encryption=key))
    assert verify(client, path, "c.bin", sse_c=key).equal
