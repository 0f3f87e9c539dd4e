"""Many files over the worker processes of a real Dask LocalCluster, against the local server.

The cluster (2 worker processes, 2 threads each) is the ``dask_client`` fixture of conftest.py, started once
for the module; every test gets its own server and tree. The workers read the tree at the caller's paths
(the "shared file system" of one machine), and the large files' checkpoints live in a directory they share.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

distributed = pytest.importorskip("distributed")

from cos_multipart import UploadConfig
from cos_multipart._drivers import _dirrun
from cos_multipart._io import _walk  # noqa: E402
from cos_multipart._core._dirplan import LocalFile, WalkIssue, WalkOptions  # noqa: E402
from cos_multipart._io.client import CosClient  # noqa: E402
from cos_multipart.cluster import install_credentials, sync_directory_on_cluster, upload_directory_on_cluster  # noqa: E402
from cos_multipart._drivers.directory import DirectoryProgress, DirectoryReport  # noqa: E402
from cos_multipart._protocol.errors import CosValidationError  # noqa: E402
from cos_multipart._protocol.limits import MB  # noqa: E402
from cos_multipart.remote import FactoryCredentials  # noqa: E402
from cos_multipart.testing import Fault, LocalCOS  # noqa: E402

import cluster_helpers  # noqa: E402
from cluster_helpers import ENV_CREDENTIALS, ENV_NAMES, PLUGIN_CREDENTIALS, SECRETS, target  # noqa: E402
from uploads import stored  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

BIG = "data/big.bin"
BIG_SIZE = 4 * MB + 321


def tree(root: Path, small: int = 24) -> Dict[str, bytes]:
    """Small files in nested directories (an empty one, a unicode name, a dot file) and one 5-part file."""
    files: Dict[str, bytes] = {
        "a.txt": b"alpha",
        "empty.bin": b"",
        ".hidden": b"h",
        "空 目录/文件 ü+%.txt": "ünicode".encode(),
        BIG: os.urandom(BIG_SIZE),
    }
    for index in range(small):
        files[f"d{index % 3}/sub{index % 2}/f{index:03d}.bin"] = os.urandom(100 + 997 * index)
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def settings(tmp_path: Path, concurrency: int = 3) -> UploadConfig:
    return UploadConfig(concurrency=concurrency, part_size=MB, multipart_threshold=MB, checkpoint_dir=tmp_path / "ckpt")


def assert_bucket_holds(client: CosClient, prefix: str, files: Dict[str, bytes]) -> None:
    """The listing under ``prefix`` is exactly the tree, and every object's bytes are the file's."""
    listed = {summary.key: summary.size for summary in client.list_objects(prefix)}
    assert listed == {prefix + relative: len(data) for relative, data in files.items()}
    for relative, data in files.items():
        assert stored(client, prefix + relative) == data, relative


def test_a_nested_tree_is_uploaded_byte_exact_by_the_workers(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    files = tree(tmp_path / "src")
    seen: List[DirectoryProgress] = []
    report = upload_directory_on_cluster(cluster, target(cos), tmp_path / "src", "t", upload_config=settings(tmp_path),
                                         files_per_task=5, progress=seen.append)  # fmt: skip
    assert report.ok and isinstance(report, DirectoryReport)
    assert [item.key for item in report.uploaded] == sorted("t/" + relative for relative in files)
    assert report.bytes_sent == sum(len(data) for data in files.values())
    with cos.client() as client:
        assert_bucket_holds(client, "t/", files)
    assert len(cos.log_entries("UploadPart")) == 5 and len(cos.log_entries("CompleteMultipartUpload")) == 1
    assert "cos-files" in cluster.run_on_scheduler(cluster_helpers.task_prefixes)  # the workers sent them
    assert seen[-1].files_done == seen[-1].files_total == len(files) and seen[-1].bytes_done == seen[-1].bytes_total
    assert not list((tmp_path / "ckpt").glob("*.json"))  # the big file's checkpoint is gone once verified
    # The global bound: no worker process ever had more than `concurrency` requests in flight.
    peaks = cluster.run(cluster_helpers.slot_peaks)
    assert any(peaks.values()) and all(peak <= 3 for values in peaks.values() for peak in values)


def test_a_file_that_fails_is_reported_and_the_others_are_uploaded(
    cluster: Any, cos: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tree(tmp_path / "src", small=9)
    gone = tmp_path / "src" / "d1" / "sub1" / "f001.bin"
    real_walk = _walk.walk

    def walk_then_remove(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
        found = real_walk(root, options)
        gone.unlink()  # after the plan, before its task runs: the worker cannot open it
        return found

    monkeypatch.setattr(_dirrun, "walk", walk_then_remove)
    report = upload_directory_on_cluster(cluster, target(cos), tmp_path / "src", "f/", upload_config=settings(tmp_path),
                                         files_per_task=3)  # fmt: skip
    [failure] = report.failed
    assert failure.key == "f/d1/sub1/f001.bin" and failure.kind == "FileNotFoundError"
    assert len(report.uploaded) == len(files) - 1
    del files["d1/sub1/f001.bin"]
    with cos.client() as client:
        assert_bucket_holds(client, "f/", files)


def test_a_small_file_damaged_in_transit_is_sent_again_by_its_worker(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    # The worker runs the same single-PUT sequence: a PUT refused as not matching its Content-MD5 (COS
    # BadDigest, OSS InvalidDigest) is sent again there, and the file is uploaded.
    root = tmp_path / "src"
    root.mkdir()
    files = {f"s{index}.bin": os.urandom(200 + index) for index in range(3)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    cos.faults.add(Fault.corrupt("PutObject"))
    report = upload_directory_on_cluster(cluster, target(cos), root, "c/", upload_config=settings(tmp_path))
    assert report.ok and len(report.uploaded) == len(files), report.failed
    with cos.client() as client:
        assert_bucket_holds(client, "c/", files)
        codes = [entry.code for entry in cos.log_entries("PutObject")]
        assert len(codes) == len(files) + 1 and codes.count(client.dialect.digest_mismatch) == 1


def test_a_task_that_fails_as_a_whole_fails_its_files_only(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    tree(tmp_path / "src", small=3)
    nowhere = target(cos, FactoryCredentials(cluster_helpers.caller_only))
    report = upload_directory_on_cluster(cluster, nowhere, tmp_path / "src", upload_config=settings(tmp_path),
                                         task_retries=0)  # fmt: skip
    assert not report.uploaded and len(report.failed) == 3 + 5  # each worker refused: no credentials there
    assert {failure.kind for failure in report.failed} == {"CosCredentialsError"}
    assert "no credentials on this worker" in report.failed[0].error


def test_a_rerun_resumes_the_large_file_and_skips_the_rest(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    files = tree(tmp_path / "src")
    cos.faults.add(Fault.error("UploadPart", status=400, code="InvalidArgument", nth=3))
    # One request at a time per worker: parts 1 and 2 are stored before part 3 fails.
    first = sync_directory_on_cluster(cluster, target(cos), tmp_path / "src", "s/", upload_config=settings(tmp_path, 1),
                                      cache=False)  # fmt: skip
    assert [failure.key for failure in first.failed] == ["s/" + BIG] and len(first.uploaded) == len(files) - 1
    assert list((tmp_path / "ckpt").glob("*.json")), "the failed large file kept its checkpoint (shared directory)"
    second = sync_directory_on_cluster(cluster, target(cos), tmp_path / "src", "s/", upload_config=settings(tmp_path),
                                       cache=False)  # fmt: skip
    [resumed] = second.uploaded
    assert resumed.key == "s/" + BIG and resumed.bytes_reused == 2 * MB
    assert len(second.skipped) == len(files) - 1 and {skip.reason for skip in second.skipped} == {"same size and CRC-64"}
    assert len(cos.log_entries("InitiateMultipartUpload")) == 1  # the same upload, resumed on a worker
    with cos.client() as client:
        assert_bucket_holds(client, "s/", files)
    puts = len(cos.log_entries("PutObject"))
    third = sync_directory_on_cluster(cluster, target(cos), tmp_path / "src", "s/", upload_config=settings(tmp_path),
                                      cache=False, dry_run=True)  # fmt: skip
    assert not third.planned and len(third.skipped) == len(files) and len(cos.log_entries("PutObject")) == puts


def test_a_worker_killed_mid_task_and_its_files_are_still_exact(
    cluster: Any, local_cos_factory: Callable[..., LocalCOS], tmp_path: Path
) -> None:
    # 2 MB/s per connection: the big file's parts take half a second each, so the kill finds its task
    # running. Plugin credentials: the worker the nanny restarts gets them again from the scheduler.
    cos = local_cos_factory(credentials=[ENV_CREDENTIALS, PLUGIN_CREDENTIALS], bandwidth=2 * MB)
    config = target(cos, install_credentials(cluster, PLUGIN_CREDENTIALS, name="kill-dirs"))
    files = tree(tmp_path / "src", small=6)
    killed: List[int] = []

    def kill_a_busy_worker(event: DirectoryProgress) -> None:
        if killed:
            return
        busy = [address for address, keys in cluster.processing().items() if keys]
        pids = cluster.run(cluster_helpers.pid, workers=busy[:1])
        killed.extend(pids.values())
        os.kill(killed[0], signal.SIGKILL)

    report = upload_directory_on_cluster(cluster, config, tmp_path / "src", "k/", upload_config=settings(tmp_path, 2),
                                         files_per_task=1, progress=kill_a_busy_worker)  # fmt: skip
    assert killed and report.ok, report.failed
    with cos.client() as client:
        assert_bucket_holds(client, "k/", files)


def test_no_secret_in_task_keys_task_state_or_logs(
    cluster: Any, cos: LocalCOS, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cluster.run(cluster_helpers.capture_logs)  # again: a worker may have been restarted since
    plugin = install_credentials(cluster, PLUGIN_CREDENTIALS, name="scan-dirs")
    tree(tmp_path / "src", small=12)
    seen: Dict[str, Any] = {}

    def scan_while_running(event: DirectoryProgress) -> None:
        if not seen and event.files_done >= 1:
            seen.update(cluster.run_on_scheduler(cluster_helpers.scheduler_state, prefix="cos-files"))

    for credentials in (ENV_NAMES, plugin):
        seen.clear()
        upload_directory_on_cluster(cluster, target(cos, credentials), tmp_path / "src", "private/customer-4711",
                                    upload_config=settings(tmp_path), files_per_task=2, progress=scan_while_running)  # fmt: skip
        assert seen["keys"] and seen["pickled"], "the scan ran while tasks existed"
        assert "ClientConfig(" in seen["text"] and "FileTask(" in seen["text"], "task arguments were scanned"
        assert all(name.startswith("cos-files-") and "customer" not in name for name in seen["keys"])
        for secret in SECRETS:
            assert secret not in seen["text"] and secret.encode() not in seen["pickled"]
    texts = [repr(cluster.get_worker_logs()), repr(cluster.run(cluster_helpers.captured_logs)),
             repr(cluster.get_scheduler_logs()), caplog.text]  # fmt: skip
    assert "handling" in texts[1], "the workers' cos_multipart logs were captured"
    for secret in SECRETS:
        assert all(secret not in text for text in texts)


def test_sync_delete_on_the_cluster_keeps_excluded_and_skipped_paths(cluster: Any, cos: LocalCOS, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = {"keep.txt": b"k", "cache/a.bin": b"a", "cache/b/c.bin": b"c", "x/cache/d.bin": b"d", "x/e.txt": b"e"}
    for relative, data in files.items():
        (src / relative).parent.mkdir(parents=True, exist_ok=True)
        (src / relative).write_bytes(data)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "y.txt").write_bytes(b"y")
    (src / "dir-link").symlink_to(tmp_path / "elsewhere")
    os.mkfifo(src / "fifo")
    config = target(cos)
    assert upload_directory_on_cluster(cluster, config, src, "p", upload_config=settings(tmp_path), follow_symlinks=True).ok
    with cos.client() as client:
        client.put_object("p/fifo", b"old")
        everything = sorted(summary.key for summary in client.list_objects("p/"))
        assert "p/dir-link/y.txt" in everything
        for pattern in ("cache/", "*/cache/", "cach?/", "[c]ache/", "*/"):
            client.put_object("p/gone.txt", b"no local file")
            report = sync_directory_on_cluster(cluster, config, src, "p", upload_config=settings(tmp_path), exclude=[pattern],
                                               delete=True, cache=False)  # fmt: skip
            assert report.deleted == ("p/gone.txt",), pattern
            assert sorted(summary.key for summary in client.list_objects("p/")) == everything, pattern
        sent = len(cos.log_entries())
        with pytest.raises(CosValidationError) as excinfo:
            sync_directory_on_cluster(cluster, config, src, "", upload_config=settings(tmp_path), delete=True, cache=False)
        assert excinfo.value.field == "delete_bucket_wide" and len(cos.log_entries()) == sent
        (src / "keep.txt").unlink()
        (src / "x" / "e.txt").unlink()
        over = sync_directory_on_cluster(cluster, config, src, "p", upload_config=settings(tmp_path), delete=True,
                                         max_delete=1, cache=False)  # fmt: skip
        assert over.deleted == () and over.deletions_over_limit == 2 and not over.ok
        done = sync_directory_on_cluster(cluster, config, src, "p", upload_config=settings(tmp_path), delete=True,
                                         max_delete=2, cache=False)  # fmt: skip
        assert done.deleted == ("p/keep.txt", "p/x/e.txt")


def test_a_directory_swapped_for_a_link_after_the_walk_is_not_read_by_the_workers(
    cluster: Any, cos: LocalCOS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    (src / "mv4" / "d100").mkdir(parents=True)
    (src / "mv4" / "d100" / "id_rsa").write_bytes(b"harmless")
    (src / "ok.txt").write_bytes(b"ok")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "id_rsa").write_bytes(b"PRIVATE KEY")
    real_walk = _walk.walk

    def walk_then_swap(root: str, options: WalkOptions) -> Tuple[List[LocalFile], List[WalkIssue]]:
        found = real_walk(root, options)
        (src / "mv4" / "d100" / "id_rsa").unlink()
        (src / "mv4" / "d100").rmdir()
        (src / "mv4" / "d100").symlink_to(tmp_path / "outside")  # after the plan, before the worker reads
        return found

    monkeypatch.setattr(_dirrun, "walk", walk_then_swap)
    report = upload_directory_on_cluster(cluster, target(cos), src, "f/", upload_config=settings(tmp_path))
    assert [u.key for u in report.uploaded] == ["f/ok.txt"]
    [failure] = report.failed
    assert failure.key == "f/mv4/d100/id_rsa" and "symbolic link" in failure.error
    with cos.client() as client:
        assert client.find_object("f/mv4/d100/id_rsa") is None


@pytest.mark.parametrize("writes, outcome", [(1, "uploaded"), (2, "failed")])
def test_a_file_written_while_a_worker_reads_it_is_read_again_or_fails(
    cluster: Any, cos: LocalCOS, tmp_path: Path, writes: int, outcome: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "log.txt").write_bytes(b"first")
    cluster.run(cluster_helpers.write_during_reads, str(src / "log.txt"), writes)
    try:
        report = sync_directory_on_cluster(cluster, target(cos), src, "w/", upload_config=settings(tmp_path), cache=False)
    finally:
        cluster.run(cluster_helpers.stop_writing_during_reads)
    with cos.client() as client:
        if outcome == "uploaded":  # the second read saw a stable file: its bytes, never the first read's
            assert [u.key for u in report.uploaded] == ["w/log.txt"] and stored(client, "w/log.txt") == b"first+more"
        else:
            [failure] = report.failed
            assert failure.kind == "SourceChangedError" and "changed while being read" in failure.error
            assert not report.uploaded and client.find_object("w/log.txt") is None
