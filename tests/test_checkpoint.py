"""Checkpoints: round trip, atomic private files, no secrets, corrupt files ignored, bounded write cost."""

from __future__ import annotations

from typing import Any, Dict

import json
import logging
import os
import stat
import time
from pathlib import Path
import pytest

from cos_multipart._io.checkpoint import (
    Checkpoint,
    CheckpointRecorder,
    CheckpointStore,
    FileIdentity,
    VerifiedPart,
    checkpoint_name,
    default_checkpoint_dir,
    options_digest,
)
from cos_multipart._protocol.limits import MB
from cos_multipart._core.planner import plan_parts

ENDPOINT = "http://127.0.0.1:9000"


def make_checkpoint(source: Path, **changes: object) -> Checkpoint:
    values: Dict[str, Any] = dict(
        endpoint=ENDPOINT,
        bucket="examplebucket-1250000000",
        key="dir/object.bin",
        source=str(source.resolve()),
        upload_id="1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361",
        plan=plan_parts(3 * MB + 5, MB),
        identity=FileIdentity(3 * MB + 5, 1_700_000_000_123_456_789, 1_700_000_000_223_456_789, 42, 2049),
        encryption="c",
        sse_c_key_md5="U5L61r7jcwdNvT7frmUG8g==",
        options_digest=options_digest({"content_type": "application/octet-stream"}),
        parts=(
            VerifiedPart(1, '"39270a968a357d24207e9911162507eb"', MB, 9973912126177188060),
            VerifiedPart(4, '"ab"', 5, 2**64 - 2),
        ),
    )
    values.update(changes)
    return Checkpoint(**values)


def store_in(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path / "checkpoints")


def test_round_trip(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    original = make_checkpoint(tmp_path / "f.bin")
    store.save(original)
    loaded = store.load(ENDPOINT, original.bucket, original.key, tmp_path / "f.bin")
    assert loaded == original
    assert loaded.plan.count == 4


def test_private_modes_and_no_temporary_files_left(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    path = store.save(make_checkpoint(tmp_path / "f.bin"))
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in store.directory.iterdir()] == [path.name]


def test_rewrite_replaces_atomically(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    first = make_checkpoint(tmp_path / "f.bin")
    path = store.save(first)
    inode = os.stat(path).st_ino
    store.save(first.with_parts(()))
    assert os.stat(path).st_ino != inode  # a new file renamed over the old one, never written in place
    assert store.load(ENDPOINT, first.bucket, first.key, tmp_path / "f.bin").parts == ()  # type: ignore[union-attr]


def test_no_secret_reaches_the_file(tmp_path: Path) -> None:
    key = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="
    store = store_in(tmp_path)
    digest = options_digest({"sse_c_key_md5": "U5L61r7jcwdNvT7frmUG8g=="})
    path = store.save(make_checkpoint(tmp_path / "f.bin", options_digest=digest))
    text = path.read_text()
    assert key not in text and "0123456789ABCDEF" not in text
    assert "U5L61r7jcwdNvT7frmUG8g==" in text


def test_big_crc_values_are_strings_in_json(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    document = json.loads(store.save(make_checkpoint(tmp_path / "f.bin")).read_text())
    assert document["parts"][1] == [4, '"ab"', 5, str(2**64 - 2)]
    assert document["file"]["inode"] == 42 and document["file"]["ctime_ns"] == 1_700_000_000_223_456_789


def test_missing_checkpoint(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    assert store.load(ENDPOINT, "b-1", "k", tmp_path / "x") is None
    assert not store.directory.exists()  # loading creates nothing
    assert list(store) == []


def _future_version(document: Dict[str, Any]) -> None:
    document["version"] = 99


def _missing_field(document: Dict[str, Any]) -> None:
    del document["upload_id"]


def _part_size_off_plan(document: Dict[str, Any]) -> None:
    document["parts"][0][2] = 17


def _crc_too_big(document: Dict[str, Any]) -> None:
    document["parts"][0][3] = str(2**64)


def _bool_for_int(document: Dict[str, Any]) -> None:
    document["part_size"] = True


def _newline_in_upload_id(document: Dict[str, Any]) -> None:
    document["upload_id"] = "abc\ndef"


def _infinite_time(document: Dict[str, Any]) -> None:
    document["created"] = 1e400


@pytest.mark.parametrize(
    "corrupt",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"schema": "something-else", "version": 1}',
        _future_version,
        _missing_field,
        _part_size_off_plan,
        _crc_too_big,
        _bool_for_int,
        _newline_in_upload_id,
        _infinite_time,
        b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than the recursion limit
        b" " * (9 * MB),  # larger than any checkpoint
    ],
)
def test_corrupt_or_foreign_files_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, corrupt: object
) -> None:
    store = store_in(tmp_path)
    checkpoint = make_checkpoint(tmp_path / "f.bin")
    path = store.save(checkpoint)
    if isinstance(corrupt, bytes):
        path.write_bytes(corrupt)
    else:
        document = checkpoint.to_json()
        corrupt(document)  # type: ignore[operator]
        path.write_text(json.dumps(document))
    with caplog.at_level(logging.WARNING, logger="cos_multipart._io.checkpoint"):
        assert store.load(ENDPOINT, checkpoint.bucket, checkpoint.key, tmp_path / "f.bin") is None
    assert "ignoring checkpoint" in caplog.text


def test_a_checkpoint_for_another_upload_is_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = store_in(tmp_path)
    checkpoint = make_checkpoint(tmp_path / "f.bin")
    other = store.path_for(ENDPOINT, checkpoint.bucket, "another-key", tmp_path / "f.bin")
    store.directory.mkdir(parents=True, exist_ok=True)
    other.write_text(json.dumps(checkpoint.to_json()))  # e.g. copied by hand
    with caplog.at_level(logging.WARNING):
        assert store.load(ENDPOINT, checkpoint.bucket, "another-key", tmp_path / "f.bin") is None
    assert "another upload" in caplog.text


def test_delete(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    checkpoint = make_checkpoint(tmp_path / "f.bin")
    store.save(checkpoint)
    store.delete(checkpoint)
    store.delete(checkpoint)  # twice is fine
    assert store.load(ENDPOINT, checkpoint.bucket, checkpoint.key, tmp_path / "f.bin") is None


def test_names_depend_on_every_coordinate(tmp_path: Path) -> None:
    base = ("e", "b", "k", str(tmp_path / "a"))
    names = {checkpoint_name(*base)}
    for index in range(4):
        changed = list(base)
        changed[index] += "x"
        names.add(checkpoint_name(*changed))
    assert len(names) == 5
    # relative and absolute spellings of one file share a checkpoint
    os.chdir(tmp_path)
    assert checkpoint_name("e", "b", "k", "a") == checkpoint_name(*base)


def test_listing(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    first = make_checkpoint(tmp_path / "a")
    second = make_checkpoint(tmp_path / "b")
    store.save(first)
    store.save(second)
    (store.directory / "junk.json").write_text("{}")
    assert sorted(str(cp.source) for _, cp in store) == sorted([str(first.source), str(second.source)])


def test_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_checkpoint_dir() == tmp_path / "cos-multipart"
    assert CheckpointStore().directory == tmp_path / "cos-multipart"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_checkpoint_dir() == tmp_path / "home" / ".cache" / "cos-multipart"


@pytest.mark.parametrize("kind", ["fifo", "symlink-to-dev-zero", "directory"])
def test_hostile_files_at_the_checkpoint_path_neither_hang_nor_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    store = store_in(tmp_path)
    checkpoint = make_checkpoint(tmp_path / "f.bin")
    path = store.path_of(checkpoint)
    store.make_directory()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink-to-dev-zero":
        os.symlink("/dev/zero", path)
    else:
        path.mkdir()
    with caplog.at_level(logging.WARNING, logger="cos_multipart._io.checkpoint"):
        assert store.load(ENDPOINT, checkpoint.bucket, checkpoint.key, tmp_path / "f.bin") is None
    assert "ignoring checkpoint" in caplog.text


def test_a_checkpoint_of_the_previous_version_names_its_upload_but_is_stale(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    checkpoint = make_checkpoint(tmp_path / "f.bin")
    document = checkpoint.to_json()
    document.update(version=1, file={"size": 3 * MB + 5, "mtime_ns": 1, "fingerprint": "7"})
    del document["size"]
    store.make_directory()
    store.path_of(checkpoint).write_text(json.dumps(document))
    loaded = store.load(ENDPOINT, checkpoint.bucket, checkpoint.key, tmp_path / "f.bin")
    assert loaded is not None and loaded.upload_id == checkpoint.upload_id  # so it can be aborted
    assert loaded.identity is None and loaded.parts == ()  # never resumed


def test_with_parts_orders_and_deduplicates(tmp_path: Path) -> None:
    checkpoint = make_checkpoint(tmp_path / "f", parts=())
    parts = [VerifiedPart(3, "c", MB, 3), VerifiedPart(1, "a", MB, 1), VerifiedPart(3, "c2", MB, 4)]
    assert [p.etag for p in checkpoint.with_parts(parts).parts] == ["a", "c2"]


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_recorder_batches_writes(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    clock = StepClock()
    recorder = CheckpointRecorder(store, make_checkpoint(tmp_path / "f", parts=()), min_interval=1.0, clock=clock)
    recorder.flush()  # the initial state is written once, right away
    assert recorder.writes == 1
    recorder.add(VerifiedPart(1, "a", MB, 1))
    recorder.add(VerifiedPart(2, "b", MB, 2))
    assert recorder.writes == 1  # within the interval: nothing written
    clock.now = 1.5
    recorder.add(VerifiedPart(3, "c", MB, 3))
    assert recorder.writes == 2
    loaded = store.load(ENDPOINT, "examplebucket-1250000000", "dir/object.bin", tmp_path / "f")
    assert loaded is not None and [p.part_number for p in loaded.parts] == [1, 2, 3]
    recorder.add(VerifiedPart(4, "d", 5, 4))
    recorder.flush()
    recorder.flush()  # nothing new: no write
    assert recorder.writes == 3 and len(recorder.parts) == 4


def test_recorder_survives_an_unwritable_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    recorder = CheckpointRecorder(CheckpointStore(blocker / "sub"), make_checkpoint(tmp_path / "f"))
    with caplog.at_level(logging.WARNING):
        recorder.flush()
    assert "could not write checkpoint" in caplog.text and recorder.writes == 0


def test_cost_of_10000_parts_is_bounded(tmp_path: Path) -> None:
    """10,000 parts: recording them writes the checkpoint once (not once per part), and the file grows linearly
    with the parts. Decided by counts and sizes, never by the clock (the times are printed for the curious)."""
    store = store_in(tmp_path)
    identity = FileIdentity(10_000 * MB, 1, 1, 1, 1)
    recorder = CheckpointRecorder(
        store, make_checkpoint(tmp_path / "f", identity=identity, plan=plan_parts(10_000 * MB, MB), parts=()),
        min_interval=3600.0,
    )
    start = time.perf_counter()
    for number in range(1, 10_001):
        recorder.add(VerifiedPart(number, '"%032x"' % number, MB, 2**63 + number))
    recorder.flush()
    record_seconds = time.perf_counter() - start
    full = recorder.checkpoint
    start = time.perf_counter()
    path = store.save(full)
    write_seconds = time.perf_counter() - start
    loaded = store.load(ENDPOINT, full.bucket, full.key, tmp_path / "f")
    assert loaded == full and len(loaded.parts) == 10_000
    print(f"10,000 parts: record+flush {record_seconds:.3f}s ({recorder.writes} writes), one write {write_seconds * 1000:.0f} ms, {path.stat().st_size} bytes")
    assert recorder.writes == 1  # batched: the 10,000 additions cost one serialisation, at the flush
    assert path.stat().st_size < 10_000 * 100  # linear: under 100 bytes per part
