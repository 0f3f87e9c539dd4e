"""Directory upload and sync against the local server over real sockets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from cos_multipart._io import _crccache
from cos_multipart._drivers import _dirrun
from cos_multipart._protocol import checksum
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._drivers.directory import DirectoryProgress, sync_directory, upload_directory
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart._drivers.uploader import UploadConfig

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def tree(root: Path) -> Dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "空 目录/文件 ü+%.txt": "ünicode".encode(),
        "empty.bin": b"",
        "deep/x/y/z.txt": b"z" * 1000,
        ".hidden": b"h",
        "big.bin": os.urandom(2 * MB + 12345),
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def config(tmp_path: Path, concurrency: int = 3) -> UploadConfig:
    return UploadConfig(concurrency=concurrency, part_size=MB, multipart_threshold=MB, checkpoint_dir=tmp_path / "ckpt")


def max_overlap(cos: LocalCOS) -> int:
    events: List[Tuple[float, int]] = []
    for entry in cos.log_entries():
        # A small answer ends when its head begins to be written: after the last write the client may already
        # have sent its next request, which would count as an overlap that never was.
        served = entry.millis if entry.answer_millis is None else entry.answer_millis
        events += [(entry.time, 1), (entry.time + served / 1000, -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def test_tree_upload_keys_crcs_and_one_bound(local_cos_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cos = local_cos_factory(latency=0.02)
    files = tree(tmp_path / "src")
    for i in range(12):
        (tmp_path / "src" / "many" / f"{i}.txt").parent.mkdir(exist_ok=True)
        (tmp_path / "src" / "many" / f"{i}.txt").write_bytes(b"%d" % i)
        files[f"many/{i}.txt"] = b"%d" % i
    seen: List[DirectoryProgress] = []
    with cos.client() as client:
        report = upload_directory(client, tmp_path / "src", "backup", config=config(tmp_path), progress=seen.append)
        assert report.ok and len(report.uploaded) == len(files)
        for relative, data in files.items():
            found = client.find_object(f"backup/{relative}")
            assert found is not None and found.size == len(data) and found.crc64 == crc64(data)
    assert report.bytes_sent == sum(len(d) for d in files.values()) and report.bytes_reused == 0
    assert seen[-1].files_done == seen[-1].files_total == len(files) and seen[-1].bytes_done == seen[-1].bytes_total
    assert max_overlap(cos) <= 3  # every request, parts and PUTs alike, inside one pool of 3 slots
    assert any(e.api == "UploadPart" for e in cos.log_entries()) and report.elapsed > 0


def test_a_failing_file_does_not_stop_the_others(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / "src").mkdir(exist_ok=True)
        (tmp_path / "src" / f"{i}.txt").write_bytes(b"x" * i)
    local_cos.faults.add(Fault.error("PutObject", status=400, code="InvalidArgument", nth=3))
    report = upload_directory(client, tmp_path / "src", config=config(tmp_path, concurrency=1))
    assert len(report.uploaded) == 4 and len(report.failed) == 1
    (failure,) = report.failed
    assert failure.kind == "CosServiceError" and "InvalidArgument" in failure.error and failure.key == "2.txt"


def test_a_small_file_damaged_in_transit_is_sent_again(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    # A small file's PUT refused as not matching its Content-MD5 (COS BadDigest, OSS InvalidDigest) is sent
    # again in its lane, as the single PUT of upload_file is; one whose every send is damaged fails alone.
    root = tmp_path / "src"
    root.mkdir()
    files = {f"{i}.txt": os.urandom(100 + i) for i in range(4)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    local_cos.faults.add(Fault.corrupt("PutObject", nth=2))
    report = upload_directory(client, root, "d", config=config(tmp_path, concurrency=1))
    assert report.ok and len(report.uploaded) == len(files), report.failed
    for name, data in files.items():
        assert client.get_object(f"d/{name}").read() == data
    codes = [entry.code for entry in local_cos.log_entries("PutObject")]
    assert len(codes) == len(files) + 1 and codes.count(client.dialect.digest_mismatch) == 1
    local_cos.faults.add(Fault.corrupt("PutObject", nth=2, count=3))  # the next run's 2nd file, every attempt
    report = upload_directory(client, root, "e", config=config(tmp_path, concurrency=1))
    [failure] = report.failed
    assert failure.kind == "CosServiceError" and client.dialect.digest_mismatch in failure.error
    assert len(report.uploaded) == len(files) - 1
    assert len(local_cos.log_entries("PutObject")) == (len(files) + 1) + (len(files) - 1) + 3  # part_attempts: 3


def test_interrupted_sync_resumes_and_skips_what_is_done(
    local_cos: LocalCOS, client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tree(tmp_path / "src")
    local_cos.faults.add(Fault.error("UploadPart", status=400, code="InvalidArgument", nth=2))
    cache = tmp_path / "crc.json"
    first = sync_directory(client, tmp_path / "src", "s/", config=config(tmp_path, 1), cache=cache)
    assert [f.key for f in first.failed] == ["s/big.bin"] and len(first.uploaded) == len(files) - 1
    # What this run sent counts the acknowledged part of the file that failed (and was kept) too: an
    # interrupted or failed run said "0 B sent" after sending most of a large file.
    assert first.bytes_sent == sum(len(data) for name, data in files.items() if name != "big.bin") + MB
    monkeypatch.setattr(_crccache, "RACY_SECONDS", -60.0)  # fresh files may be cached in this test
    second = sync_directory(client, tmp_path / "src", "s/", config=config(tmp_path, 1), cache=cache)
    assert [f.key for f in second.uploaded] == ["s/big.bin"] and second.uploaded[0].bytes_reused == MB
    assert second.bytes_sent == len(files["big.bin"]) - MB and len(second.skipped) == len(files) - 1
    reads: List[int] = []  # inodes of the files whose CRC-64 was computed
    real = checksum.fd_crc64
    def counting(fd: int) -> int:
        reads.append(os.fstat(fd).st_ino)
        return real(fd)

    monkeypatch.setattr(_dirrun, "fd_crc64", counting)
    (tmp_path / "src" / "a.txt").write_bytes(b"ALPHA")  # same size, new content, new ctime
    third = sync_directory(client, tmp_path / "src", "s/", config=config(tmp_path, 2), cache=cache)
    assert [f.key for f in third.uploaded] == ["s/a.txt"] and reads == [(tmp_path / "src" / "a.txt").stat().st_ino]
    fourth = sync_directory(client, tmp_path / "src", "s/", config=config(tmp_path, 2), cache=cache, checksum=True)
    assert not fourth.uploaded and len(reads) > 1 + len(files) - 2  # --checksum re-read the non-empty files


def test_delete_dry_run_then_delete(local_cos: LocalCOS, client: CosClient, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "keep.txt").write_bytes(b"k")
    for key in ("p/keep.txt", "p/gone.txt", "p/sub/gone2.txt", "p/skip.tmp", "p/folder/", "other/x"):
        client.put_object(key, b"old")
    dry = sync_directory(client, tmp_path / "src", "p", config=config(tmp_path), exclude=["*.tmp"], delete=True, dry_run=True, cache=False)
    assert [(a.action, a.key) for a in dry.planned] == [("delete", "p/gone.txt"), ("delete", "p/sub/gone2.txt"), ("upload", "p/keep.txt")]
    assert dry.deleted == () and len(list(client.list_objects())) == 6
    done = sync_directory(client, tmp_path / "src", "p", config=config(tmp_path), exclude=["*.tmp"], delete=True, cache=False)
    assert done.deleted == ("p/gone.txt", "p/sub/gone2.txt")
    assert [o.key for o in client.list_objects()] == ["other/x", "p/folder/", "p/keep.txt", "p/skip.tmp"]


def test_symlinks_followed_on_request(client: CosClient, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "target.txt").write_bytes(b"target")
    (tmp_path / "src" / "link.txt").symlink_to(tmp_path / "target.txt")
    (tmp_path / "src" / "loop").symlink_to(tmp_path / "src")
    skipped = upload_directory(client, tmp_path / "src", config=config(tmp_path))
    assert not skipped.uploaded and {s.key for s in skipped.skipped} == {"link.txt", "loop"}
    followed = upload_directory(client, tmp_path / "src", "f", config=config(tmp_path), follow_symlinks=True)
    assert [u.key for u in followed.uploaded] == ["f/link.txt"] and "loop" in followed.skipped[0].reason


def test_bandwidth_limit_caps_the_whole_run_not_each_file(
    client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --bandwidth-limit is a cap over all parts (docs/cli.md): each file made its own token bucket, so files
    # sent in parallel went as many times as fast. Every byte of the run must come from one bucket.
    from cos_multipart._drivers import threads as _driver
    from cos_multipart._io import ratelimit

    taken: List[Tuple[int, int]] = []

    class Recording(ratelimit.TokenBucket):
        def reserve(self, amount: int) -> float:
            taken.append((id(self), amount))
            return 0.0  # never wait: the test counts, it does not time

    monkeypatch.setattr(_driver, "TokenBucket", Recording)
    monkeypatch.setattr(_dirrun, "TokenBucket", Recording, raising=False)
    root = tmp_path / "src"
    root.mkdir()
    sizes = {"a.bin": 2 * MB + 1, "b.bin": 3 * MB, "small.txt": 100}
    for name, size in sizes.items():
        (root / name).write_bytes(os.urandom(size))
    settings = UploadConfig(concurrency=4, part_size=MB, multipart_threshold=MB, bandwidth_limit=100 * MB,
                            checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    report = upload_directory(client, root, "bw", config=settings)
    assert report.ok and len(report.uploaded) == 3
    assert len({bucket for bucket, _ in taken}) == 1
    assert sum(amount for _, amount in taken) == sum(sizes.values())


def test_small_files_take_the_inline_single_put_and_are_still_retried_and_verified(
    local_cos: LocalCOS, client: CosClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small file is one verified PUT run in its lane's thread: no upload machine and no executor per file
    # (they cost more than the request, issue 25); the sequence's attempts and checks are the same.
    from cos_multipart._core import _machine

    machines: List[object] = []
    original = _machine.Machine.__init__

    def counting(self: _machine.Machine, flow: Any) -> None:
        machines.append(self)
        original(self, flow)

    monkeypatch.setattr(_machine.Machine, "__init__", counting)
    root = tmp_path / "src"
    root.mkdir()
    files = {f"f{i}.txt": os.urandom(100 + i) for i in range(6)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    local_cos.faults.add(Fault.wrong_crc64("PutObject"))
    local_cos.faults.add(Fault.reset("PutObject", nth=2))
    seen: List[DirectoryProgress] = []
    report = upload_directory(client, root, "small", config=config(tmp_path), progress=seen.append)
    assert report.ok and len(report.uploaded) == len(files), report.failed
    for name, data in files.items():
        assert client.get_object(f"small/{name}").read() == data
    assert machines == []
    assert seen[-1].bytes_done == seen[-1].bytes_total == sum(len(d) for d in files.values())
    puts = [e for e in local_cos.log_entries() if e.api == "PutObject"]
    assert len(puts) == len(files) + 2  # the answer that disagreed sent again, the reset retried


@pytest.mark.parametrize("size, in_flight_told", [(200 * 1024, True), (4096, False)], ids=["200KiB", "4KiB"])
def test_a_small_files_own_progress_is_told_only_above_64_kib(
    client: CosClient, tmp_path: Path, size: int, in_flight_told: bool
) -> None:
    # Over 64 KiB a small file's bytes are reported while they go (and confirmed before the file ends); up to
    # 64 KiB they leave in one or two writes and only the file's end is told.
    root = tmp_path / "src"
    root.mkdir()
    (root / "f.bin").write_bytes(os.urandom(size))
    seen: List[DirectoryProgress] = []
    report = upload_directory(client, root, "told", config=config(tmp_path), progress=seen.append)
    assert report.ok and len(report.uploaded) == 1
    assert any(p.files_done == 0 and p.bytes_done > 0 for p in seen) is in_flight_told
    assert seen[-1].files_done == 1 and seen[-1].bytes_done == seen[-1].bytes_total == size
