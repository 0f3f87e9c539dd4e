"""The on-disk store: parts, assembly (kernel copy and buffered), restarts, concurrent abort, secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Dict, List

import pytest

from cos_multipart.checksum import crc64
from cos_multipart.limits import MB
from cos_multipart.testing import store as store_module
from cos_multipart.testing.protocol import Encryption, ServiceError
from cos_multipart.testing.store import PartRecord, Store

BUCKET = "examplebucket-1250000000"


def put_part(store: Store, upload, number: int, data: bytes) -> PartRecord:  # type: ignore[no-untyped-def]
    with store.sink(BUCKET) as sink:
        sink.write(memoryview(data))
        return store.commit_part(upload, number, sink, store.etag_for(sink.hasher.md5_hex, upload.encryption))


def all_parts(parts: Dict[int, PartRecord]) -> List[int]:
    return sorted(parts)


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_complete_assembles_parts_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool) -> None:
    if not kernel_copy:
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    monkeypatch.setattr(store_module, "COPY_BUFFER", 4096)
    store = Store(tmp_path)
    upload = store.create_upload(BUCKET, "k", storage_class="STANDARD", headers=[], encryption=Encryption())
    chunks = [os.urandom(MB + 17), os.urandom(MB), os.urandom(5)]
    for number, chunk in reversed(list(enumerate(chunks, 1))):
        put_part(store, upload, number, chunk)
    ticks: List[int] = []
    record = store.complete(upload, all_parts, on_progress=lambda: ticks.append(1))
    assert record.size == sum(map(len, chunks)) and record.crc64 == crc64(b"".join(chunks))
    assert record.etag.endswith("-3")
    with store.open_object(record) as data:
        assert data.read() == b"".join(chunks)
    assert ticks  # the HTTP layer gets a chance to send keep-alive whitespace
    assert store.list_uploads(BUCKET) == []
    leftovers = [p.name for p in (tmp_path / "buckets" / BUCKET / "tmp").iterdir()]
    assert leftovers == []


def test_state_is_reloaded_by_a_new_store(tmp_path: Path) -> None:
    first = Store(tmp_path)
    upload = first.create_upload(BUCKET, "k", storage_class="STANDARD_IA", headers=[("content-type", "a/b")],
                                 encryption=Encryption("SSE-KMS", kms_key_id="cmk"))
    part = put_part(first, upload, 1, b"data")
    second = Store(tmp_path)
    assert second.get_upload(BUCKET, "k", upload.upload_id) == upload
    assert second.list_parts(upload) == [part]
    assert second.etag_for("0" * 32, upload.encryption) == first.etag_for("0" * 32, upload.encryption)


def test_etag_is_md5_only_without_sse_or_with_sse_cos(tmp_path: Path) -> None:
    store = Store(tmp_path)
    md5 = "5d41402abc4b2a76b9719d911017c592"
    assert store.etag_for(md5, Encryption()) == md5 == store.etag_for(md5, Encryption("SSE-COS"))
    kms = store.etag_for(md5, Encryption("SSE-KMS", kms_key_id="k"))
    customer = store.etag_for(md5, Encryption("SSE-C", customer_key_md5="x"))
    assert len({md5, kms, customer}) == 3 and all(len(value) == 32 for value in (kms, customer))


def test_part_committed_after_abort_is_no_such_upload(tmp_path: Path) -> None:
    store = Store(tmp_path)
    upload = store.create_upload(BUCKET, "k", storage_class="STANDARD", headers=[], encryption=Encryption())
    with store.sink(BUCKET) as sink:
        sink.write(memoryview(b"in flight"))
        store.abort(BUCKET, "k", upload.upload_id)
        with pytest.raises(ServiceError) as excinfo:
            store.commit_part(upload, 1, sink, "etag")
        assert excinfo.value.code == "NoSuchUpload"
    assert not any((tmp_path / "buckets" / BUCKET / "tmp").iterdir())


def test_replaced_object_stays_readable_while_open(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def put(data: bytes):  # type: ignore[no-untyped-def]
        with store.sink(BUCKET) as sink:
            sink.write(memoryview(data))
            return store.put_object(BUCKET, "k", sink, etag="e", headers=[], encryption=Encryption())

    old = put(b"old")
    with store.open_object(old) as reader:
        put(b"new")
        assert reader.read() == b"old"
    assert store.open_object(store.get_object(BUCKET, "k")).read() == b"new"
    data_files = list((tmp_path / "buckets" / BUCKET / "objects").glob("*.data"))
    assert len(data_files) == 1


def test_server_secret_is_private(tmp_path: Path) -> None:
    Store(tmp_path)
    mode = stat.S_IMODE((tmp_path / ".server-secret").stat().st_mode)
    assert mode == 0o600
