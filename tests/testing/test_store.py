"""The on-disk store: parts, Complete by renaming (segments), readers, overwrites, restarts, secrets."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import store as store_module
from cos_multipart.testing.protocol import Encryption, ServiceError
from cos_multipart.testing.store import ObjectReader, ObjectRecord, PartRecord, Store, UploadRecord

from .conftest import write_one_file_object

BUCKET = "examplebucket-1250000000"
#: Three segments: two of 1 MB and a short last one (the shape COS allows).
CHUNKS = [os.urandom(MB), os.urandom(MB), os.urandom(1000)]
WHOLE = b"".join(CHUNKS)


def new_upload(store: Store, key: str = "k") -> UploadRecord:
    return store.create_upload(BUCKET, key, storage_class="STANDARD", headers=[], encryption=Encryption())


def put_part(store: Store, upload: UploadRecord, number: int, data: bytes) -> PartRecord:
    with store.sink(BUCKET) as sink:
        sink.write(memoryview(data))
        return store.commit_part(upload, number, sink, store.etag_for(sink.hasher.md5_hex, upload.encryption))


def put(store: Store, data: bytes, key: str = "k") -> ObjectRecord:
    with store.sink(BUCKET) as sink:
        sink.write(memoryview(data))
        return store.put_object(BUCKET, key, sink, etag=hashlib.md5(data).hexdigest(), headers=[],
                                encryption=Encryption())


def multipart(store: Store, chunks: List[bytes], key: str = "k", **options: object) -> ObjectRecord:
    upload = new_upload(store, key)
    for number, chunk in enumerate(chunks, 1):
        put_part(store, upload, number, chunk)
    return store.complete(upload, store.list_parts(upload), **options)  # type: ignore[arg-type]


def read(reader: ObjectReader, first: int = 0, length: int = -1) -> bytes:
    if length < 0:
        length = reader.record.size - first
    out = bytearray()
    for handle, offset, count in reader.pieces(first, length):
        handle.seek(offset)
        out += handle.read(count)
    return bytes(out)


def bucket_dir(root: Path) -> Path:
    return root / "buckets" / BUCKET


def files_under(path: Path) -> List[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


# --- Complete without copying -------------------------------------------------------------------------


def test_complete_renames_the_part_files_into_the_object(tmp_path: Path) -> None:
    store = Store(tmp_path)
    upload = new_upload(store)
    for number, chunk in reversed(list(enumerate(CHUNKS, 1))):
        put_part(store, upload, number, chunk)
    put_part(store, upload, 4, b"never completed")  # uploaded but not listed by Complete
    parts_dir = bucket_dir(tmp_path) / "uploads" / upload.upload_id
    inodes = {part.data: (parts_dir / part.data).stat().st_ino for part in store.list_parts(upload)}

    record = store.complete(upload, [part for part in store.list_parts(upload) if part.number <= 3])

    assert record.size == len(WHOLE) and record.crc64 == crc64(WHOLE) and record.etag.endswith("-3")
    storage = bucket_dir(tmp_path) / "objects" / record.data
    assert storage.is_dir() and record.data.endswith(store_module.SEGMENTS_SUFFIX)
    assert [segment.size for segment in record.segments] == [len(chunk) for chunk in CHUNKS]
    # The very files the parts were written to, not copies of them.
    assert [(storage / s.name).stat().st_ino for s in record.segments] == [inodes[s.name] for s in record.segments]
    # Nothing else is left: the part metadata, the part not selected and the upload are gone.
    assert sorted(p.name for p in storage.iterdir()) == sorted(s.name for s in record.segments)
    assert sum(p.stat().st_size for p in files_under(bucket_dir(tmp_path)) if p.suffix == ".data") == len(WHOLE)
    assert store.list_uploads(BUCKET) == [] and not any((bucket_dir(tmp_path) / "tmp").iterdir())
    with store.open_object(BUCKET, "k") as reader:
        assert reader.record == record and read(reader) == WHOLE
    with pytest.raises(ServiceError) as excinfo:
        put_part(store, upload, 1, b"late")
    assert excinfo.value.code == "NoSuchUpload"


def test_complete_refused_leaves_the_upload_whole(tmp_path: Path) -> None:
    store = Store(tmp_path)
    put(store, b"existing")
    upload = new_upload(store)
    parts = [put_part(store, upload, 1, b"one")]
    with pytest.raises(ServiceError) as excinfo:
        store.complete(upload, parts, forbid_overwrite=True)
    assert excinfo.value.code == "FileAlreadyExists"
    # A part replaced after the caller checked the listing: the caller's checks no longer hold.
    replaced = put_part(store, upload, 1, b"two")
    with pytest.raises(ServiceError) as excinfo:
        store.complete(upload, parts)
    assert excinfo.value.code == "InvalidPart"
    parts = [replaced]
    assert store.list_parts(upload) == parts and store.list_uploads(BUCKET) == [upload]
    with store.open_object(BUCKET, "k") as reader:
        assert read(reader) == b"existing"


@pytest.mark.parametrize("failing", ["complete", "put"])
def test_old_version_is_removed_only_after_the_new_record_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store = Store(tmp_path)
    old = multipart(store, CHUNKS)
    upload = new_upload(store)
    put_part(store, upload, 1, b"new")
    real_write = store_module._write_json

    def write(path: Path, data: Dict[str, object]) -> None:
        if path.parent.name == "objects":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(store_module, "_write_json", write)
    with pytest.raises(OSError):
        if failing == "complete":
            store.complete(upload, store.list_parts(upload))
        else:
            put(store, b"new")
    monkeypatch.undo()
    assert store.get_object(BUCKET, "k") == old
    with store.open_object(BUCKET, "k") as reader:
        assert read(reader) == WHOLE
    # The upload (or the PUT's body) is as it was: nothing left behind, and Complete can be retried.
    assert [part.number for part in store.list_parts(upload)] == [1]
    assert not any((bucket_dir(tmp_path) / "tmp").iterdir())
    assert len(list((bucket_dir(tmp_path) / "objects").iterdir())) == 2  # the record and its directory
    assert store.complete(upload, store.list_parts(upload)).size == 3


# --- reading --------------------------------------------------------------------------------------------


RANGES = [
    (0, 1), (MB - 1, 1), (MB, 1), (MB - 1, 2), (2 * MB - 1, 2), (MB - 10, MB + 20), (0, len(WHOLE)),
    (len(WHOLE) - 1, 1), (2 * MB, 1000), (5, 2 * MB + 900), (MB, 10 * MB), (0, 0),
]


@pytest.mark.parametrize("first, length", RANGES)
def test_ranges_across_segment_boundaries(tmp_path: Path, first: int, length: int) -> None:
    store = Store(tmp_path)
    multipart(store, CHUNKS)
    with store.open_object(BUCKET, "k") as reader:
        pieces = [(offset, count) for _, offset, count in reader.pieces(first, length)]
        assert read(reader, first, length) == WHOLE[first:first + length]
    end = min(first + length, len(WHOLE))
    bounds = [(0, MB), (MB, 2 * MB), (2 * MB, len(WHOLE))]
    expected = [(max(first, s) - s, min(end, e) - max(first, s)) for s, e in bounds]
    assert pieces == [(offset, count) for offset, count in expected if count > 0]


def test_a_single_put_object_is_one_file_written_as_before(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = put(store, b"hello world")
    assert record.segments == ()
    meta = json.loads(next((bucket_dir(tmp_path) / "objects").glob("*.json")).read_text())
    assert "segments" not in meta and meta["data"] == record.data and record.data.endswith(".data")
    with store.open_object(BUCKET, "k") as reader:
        assert read(reader, 6, 5) == b"world" and len(list(reader.pieces(0, 11))) == 1


def test_empty_objects(tmp_path: Path) -> None:
    store = Store(tmp_path)
    put(store, b"")
    multipart(store, [b""], key="m")
    for key in ("k", "m"):
        with store.open_object(BUCKET, key) as reader:
            assert reader.record.size == 0 and list(reader.pieces(0, 0)) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir() or not store_module.LAZY_SEGMENTS,
                    reason="needs /proc and relative descriptors")
def test_a_reader_holds_two_descriptors_whatever_the_number_of_segments(tmp_path: Path) -> None:
    store = Store(tmp_path)
    chunks = [bytes([n]) * 1000 for n in range(40)]
    multipart(store, chunks)
    before = len(os.listdir("/proc/self/fd"))
    with store.open_object(BUCKET, "k") as reader:
        held = []
        out = bytearray()
        for handle, offset, count in reader.pieces(0, reader.record.size):
            held.append(len(os.listdir("/proc/self/fd")) - before)
            handle.seek(offset)
            out += handle.read(count)
    assert bytes(out) == b"".join(chunks) and max(held) <= 2
    assert len(os.listdir("/proc/self/fd")) == before


# --- concurrency: overwrite and delete while reading --------------------------------------------------


def overwrite_by_complete(store: Store) -> None:
    multipart(store, [b"N" * MB, b"EW"])


def overwrite_by_put(store: Store) -> None:
    put(store, b"new")


def delete(store: Store) -> None:
    store.delete_object(BUCKET, "k")


@pytest.mark.parametrize("lazy", [True, False] if store_module.LAZY_SEGMENTS else [False])
@pytest.mark.parametrize("change", [overwrite_by_complete, overwrite_by_put, delete])
def test_a_reader_keeps_serving_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lazy: bool, change: Callable[[Store], None]
) -> None:
    monkeypatch.setattr(store_module, "LAZY_SEGMENTS", lazy)
    store = Store(tmp_path)
    old = multipart(store, CHUNKS)
    objects = bucket_dir(tmp_path) / "objects"
    with store.open_object(BUCKET, "k") as reader, store.open_object(BUCKET, "k") as second:
        pieces: Iterator[Tuple[Any, int, int]] = reader.pieces(0, old.size)
        handle, offset, count = next(pieces)  # mid-way through the first segment
        handle.seek(offset)
        start = handle.read(1000)
        change(store)
        assert not (objects / old.data).exists()  # the key no longer names the old data
        out = bytearray(start) + handle.read(count - 1000)
        for handle, offset, count in pieces:
            handle.seek(offset)
            out += handle.read(count)
        assert bytes(out) == WHOLE and reader.record == old
        assert read(second, MB - 5, 10) == WHOLE[MB - 5:MB + 5]
    # The last reader gone, the old data is too.
    assert not any((bucket_dir(tmp_path) / "tmp").iterdir())
    assert all(old.data not in p.name for p in objects.iterdir())
    if change is delete:
        assert list(objects.iterdir()) == []
        with pytest.raises(ServiceError):
            store.open_object(BUCKET, "k")
    else:
        with store.open_object(BUCKET, "k") as reader:
            assert read(reader) in (b"new", b"N" * MB + b"EW")


# --- restarts --------------------------------------------------------------------------------------------


def test_state_is_reloaded_by_a_new_store(tmp_path: Path) -> None:
    first = Store(tmp_path)
    upload = first.create_upload(BUCKET, "k", storage_class="STANDARD_IA", headers=[("content-type", "a/b")],
                                 encryption=Encryption("SSE-KMS", kms_key_id="cmk"))
    part = put_part(first, upload, 1, b"data")
    record = multipart(first, CHUNKS, key="object")
    second = Store(tmp_path)
    assert second.get_upload(BUCKET, "k", upload.upload_id) == upload
    assert second.list_parts(upload) == [part]
    assert second.etag_for("0" * 32, upload.encryption) == first.etag_for("0" * 32, upload.encryption)
    assert second.get_object(BUCKET, "object") == record
    with second.open_object(BUCKET, "object") as reader:
        assert read(reader, MB - 3, 6) == WHOLE[MB - 3:MB + 3]


def test_a_data_directory_of_the_one_file_layout_loads(tmp_path: Path) -> None:
    write_one_file_object(tmp_path, "assembled", WHOLE, "0" * 32 + "-3")
    store = Store(tmp_path)
    record = store.get_object(BUCKET, "assembled")
    assert record.segments == () and record.size == len(WHOLE) and record.crc64 == crc64(WHOLE)
    assert record.headers == (("content-type", "text/plain"), ("x-cos-meta-era", "old"))
    with store.open_object(BUCKET, "assembled") as reader:
        assert read(reader, MB - 1, 2) == WHOLE[MB - 1:MB + 1] and read(reader) == WHOLE
    multipart(store, [b"x" * MB, b"y"], key="assembled")  # the old file goes when the key is overwritten
    assert not list((bucket_dir(tmp_path) / "objects").glob("*.data"))
    with store.open_object(BUCKET, "assembled") as reader:
        assert read(reader) == b"x" * MB + b"y"


def test_restart_puts_back_an_upload_whose_complete_was_cut_short(tmp_path: Path) -> None:
    store = Store(tmp_path)
    upload = new_upload(store)
    parts = [put_part(store, upload, 1, CHUNKS[0]), put_part(store, upload, 2, CHUNKS[2])]
    # Stopped between renaming the upload into the objects and writing the object's record:
    moved = bucket_dir(tmp_path) / "objects" / f"{'0' * 64}.000000000000{store_module.SEGMENTS_SUFFIX}"
    os.replace(bucket_dir(tmp_path) / "uploads" / upload.upload_id, moved)
    restarted = Store(tmp_path)
    assert restarted.list_uploads(BUCKET) == [upload] and restarted.list_parts(upload) == parts
    assert not moved.exists()
    assert restarted.complete(upload, restarted.list_parts(upload)).size == MB + 1000


def test_restart_finishes_the_tidy_up_of_a_recorded_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_tidy", lambda *args: None)  # stopped right after the record
    store = Store(tmp_path)
    record = multipart(store, CHUNKS)
    storage = bucket_dir(tmp_path) / "objects" / record.data
    assert (storage / "upload.json").exists() and list(storage.glob("part-*.json"))
    monkeypatch.undo()
    restarted = Store(tmp_path)
    assert sorted(p.name for p in storage.iterdir()) == sorted(s.name for s in record.segments)
    assert restarted.list_uploads(BUCKET) == []
    with restarted.open_object(BUCKET, "k") as reader:
        assert read(reader) == WHOLE


def test_restart_removes_data_left_for_readers_that_never_closed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    multipart(store, CHUNKS)
    reader = store.open_object(BUCKET, "k")
    put(store, b"new")  # the old version waits in tmp/ for its reader, which the "crash" never closes
    assert any((bucket_dir(tmp_path) / "tmp").iterdir())
    Store(tmp_path)
    assert not any((bucket_dir(tmp_path) / "tmp").iterdir())
    reader.close()


# --- the rest -------------------------------------------------------------------------------------------


def test_etag_is_md5_only_without_sse_or_with_sse_cos(tmp_path: Path) -> None:
    store = Store(tmp_path)
    md5 = "5d41402abc4b2a76b9719d911017c592"
    assert store.etag_for(md5, Encryption()) == md5 == store.etag_for(md5, Encryption("SSE-COS"))
    kms = store.etag_for(md5, Encryption("SSE-KMS", kms_key_id="k"))
    customer = store.etag_for(md5, Encryption("SSE-C", customer_key_md5="x"))
    assert len({md5, kms, customer}) == 3 and all(len(value) == 32 for value in (kms, customer))


def test_part_committed_after_abort_is_no_such_upload(tmp_path: Path) -> None:
    store = Store(tmp_path)
    upload = new_upload(store)
    with store.sink(BUCKET) as sink:
        sink.write(memoryview(b"in flight"))
        store.abort(BUCKET, "k", upload.upload_id)
        with pytest.raises(ServiceError) as excinfo:
            store.commit_part(upload, 1, sink, "etag")
        assert excinfo.value.code == "NoSuchUpload"
    assert not any((bucket_dir(tmp_path) / "tmp").iterdir())


def test_server_secret_is_private(tmp_path: Path) -> None:
    Store(tmp_path)
    mode = stat.S_IMODE((tmp_path / ".server-secret").stat().st_mode)
    assert mode == 0o600


def test_a_new_bucket_is_never_seen_half_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two first requests at once: the second must not stream its body into a tmp/ that does not exist yet."""
    store = Store(tmp_path / "data")
    made = threading.Event()
    real_mkdir = Path.mkdir

    def slow_mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        real_mkdir(self, *args, **kwargs)
        if self.name == "uploads" and not made.is_set():
            made.set()  # the bucket directory exists now, its tmp/ does not yet
            time.sleep(0.3)

    monkeypatch.setattr(Path, "mkdir", slow_mkdir)
    first = threading.Thread(target=store.sink, args=(BUCKET,))
    first.start()
    assert made.wait(5)
    sink = store.sink(BUCKET)  # the second request, while the first is still making the bucket
    first.join(5)
    assert sink.path.parent.is_dir()
