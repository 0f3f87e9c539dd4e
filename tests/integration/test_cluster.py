"""One object's parts sent by the worker processes of a real Dask LocalCluster, against the local server.

The cluster (2 worker processes, 2 threads each; the ``dask_client`` fixture of conftest.py) is started once
for the module; every test gets its own server. Workers reach the server over loopback sockets and read the test's file from the same path (the
"shared file system" of one machine).
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

distributed = pytest.importorskip("distributed")

from cos_multipart import CosCancelledError, Credentials, UploadConfig, Uploader, crc64, kept_upload_of  # noqa: E402
from cos_multipart import CosIntegrityError, CosTransportError, CosValidationError, RetryPolicy  # noqa: E402
from cos_multipart._protocol.errors import FailureKind  # noqa: E402
from cos_multipart._io.checkpoint import CheckpointStore  # noqa: E402
from cos_multipart.cluster import install_credentials, upload_file_on_cluster  # noqa: E402
from cos_multipart._protocol.limits import MB  # noqa: E402
from cos_multipart._core.progress import ProgressEvent  # noqa: E402
from cos_multipart.remote import ClientConfig, FactoryCredentials  # noqa: E402
from cos_multipart.testing import LocalCOS  # noqa: E402

import cluster_helpers  # noqa: E402
from cluster_helpers import ENV_CREDENTIALS, ENV_NAMES, PLUGIN_CREDENTIALS, SECRET_ID, SECRET_KEY, SECRETS, TOKEN, target  # noqa: E402
from hostile import CorruptingProxy  # noqa: E402
from uploads import make_file, stored  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def parts_config(**options: Any) -> UploadConfig:
    options.setdefault("part_size", MB)
    options.setdefault("multipart_threshold", 0)
    return UploadConfig(**options)


def stop_after(parts: int) -> Callable[[ProgressEvent], None]:
    def progress(event: ProgressEvent) -> None:
        if event.parts_done - event.parts_reused >= parts:
            raise CosCancelledError("stopped by the test")

    return progress


def test_the_workers_reach_the_bucket_the_config_names(cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path) -> None:
    # Through the server's address every worker sends the bucket's host: the object is in that bucket only.
    from cos_multipart.remote import ClientConfig

    other = "second-1250000000"
    cos.create_bucket(other)
    path, data = make_file(tmp_path, 3 * MB + 5)
    config = ClientConfig(other, cos.region, ENV_NAMES, endpoint=cos.endpoint, dialect=cos.dialect)
    upload_file_on_cluster(cluster, config, path, "obj.bin", upload_config=parts_config(part_size=MB, multipart_threshold=0), store=store)
    with cos.client(bucket=other) as client:
        assert stored(client, "obj.bin") == data
    with cos.client() as client:
        assert client.find_object("obj.bin") is None
    assert len(cos.log_entries("UploadPart")) == 4


@pytest.mark.parametrize(
    ("size", "part_size"),
    [(3 * MB + 17, MB), (4 * MB, MB), (7 * MB + 123, 2 * MB), (300_000, MB)],
    ids=["3MB+17-1MB-parts", "4MB-exact-parts", "7MB+123-2MB-parts", "small-single-put"],
)
def test_objects_are_byte_exact(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path, size: int, part_size: int
) -> None:
    path, data = make_file(tmp_path, size)
    config = parts_config(part_size=part_size, multipart_threshold=MB)
    result = upload_file_on_cluster(cluster, target(cos), path, "obj.bin", upload_config=config, store=store)
    with cos.client() as client:
        assert stored(client, "obj.bin") == data
    assert result.crc64 == crc64(data) and result.size == size
    count = -(-size // part_size)
    if size < MB:
        assert not result.multipart and not cos.log_entries("UploadPart")
        return
    assert result.multipart and len(result.parts) == count
    assert len(cos.log_entries("UploadPart")) == count
    assert "cos-part" in cluster.run_on_scheduler(cluster_helpers.task_prefixes)  # the workers sent them
    assert not list(store)  # the checkpoint is gone once the object is verified


def test_interrupted_on_the_cluster_is_finished_by_the_same_call(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 8 * MB + 5)
    config = parts_config()
    with pytest.raises(CosCancelledError) as stopped:
        upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=config, parts_per_task=1,
                               progress=stop_after(3), store=store)  # fmt: skip
    kept = kept_upload_of(stopped.value)
    assert kept is not None and kept.parts_done >= 3 and kept.parts_total == 9
    [(_, checkpoint)] = list(store)
    assert len(checkpoint.parts) >= 3
    result = upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=config, store=store)
    assert result.upload_id == kept.upload_id and result.parts_reused >= 3
    with cos.client() as client:
        assert stored(client, "k") == data


def test_interrupted_on_the_cluster_is_finished_by_the_threaded_uploader(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 6 * MB)
    config = parts_config()
    with pytest.raises(CosCancelledError) as stopped:
        upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=config, parts_per_task=1,
                               progress=stop_after(2), store=store)  # fmt: skip
    kept = kept_upload_of(stopped.value)
    assert kept is not None
    with cos.client() as client:
        result = Uploader(client, config, store=store).resume(path, "k")
        assert result.upload_id == kept.upload_id and result.parts_reused >= 2
        assert stored(client, "k") == data


def test_interrupted_with_threads_is_finished_on_the_cluster(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 6 * MB)
    config = parts_config(concurrency=1)
    with cos.client() as client, pytest.raises(CosCancelledError) as stopped:
        Uploader(client, config, store=store).upload(path, "k", progress=stop_after(2))
    kept = kept_upload_of(stopped.value)
    assert kept is not None and kept.parts_done == 2
    result = upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=config, store=store)
    assert result.upload_id == kept.upload_id and result.parts_reused >= 2
    assert len(cos.log_entries("InitiateMultipartUpload")) == 1
    with cos.client() as client:
        assert stored(client, "k") == data


def test_a_worker_killed_mid_upload_and_the_object_is_still_exact(
    cluster: Any, local_cos_factory: Callable[..., LocalCOS], store: CheckpointStore, tmp_path: Path
) -> None:
    # 2 MB/s per connection: a 1 MB part takes half a second, so the kill finds parts in flight. The
    # credentials come from the plugin, so the worker the nanny restarts gets them again from the scheduler.
    cos = local_cos_factory(credentials=[ENV_CREDENTIALS, PLUGIN_CREDENTIALS], bandwidth=2 * MB)
    config = target(cos, install_credentials(cluster, PLUGIN_CREDENTIALS, name="kill-test"))
    path, data = make_file(tmp_path, 10 * MB)
    killed: List[int] = []

    def kill_a_busy_worker(event: ProgressEvent) -> None:
        if killed or event.parts_done < 1:
            return
        busy = [address for address, keys in cluster.processing().items() if keys]
        pids = cluster.run(cluster_helpers.pid, workers=busy[:1])
        killed.extend(pids.values())
        os.kill(killed[0], signal.SIGKILL)

    result = upload_file_on_cluster(cluster, config, path, "k", upload_config=parts_config(), parts_per_task=1,
                                    progress=kill_a_busy_worker, store=store)  # fmt: skip
    assert killed and killed[0] not in cluster.run(cluster_helpers.pid).values()
    assert result.crc64 == crc64(data) and len(result.parts) == 10
    with cos.client() as client:
        assert stored(client, "k") == data
    # The parts the dead worker was sending were sent again by another worker.
    assert len(cos.log_entries("UploadPart")) > 10


def test_sts_credentials_that_expire_mid_upload_are_refreshed_on_the_workers(
    cluster: Any, local_cos_factory: Callable[..., LocalCOS], store: CheckpointStore, tmp_path: Path
) -> None:
    first = Credentials("AKIDstsfirst" + secrets.token_hex(8), "sts-first-" + secrets.token_hex(8), "tok1-" + secrets.token_hex(8))
    second = Credentials("AKIDstssecond" + secrets.token_hex(8), "sts-second-" + secrets.token_hex(8), "tok2-" + secrets.token_hex(8))
    cos = local_cos_factory(credentials=[first], bandwidth=2 * MB)  # 4 connections: 24 MB take 3 s
    path, data = make_file(tmp_path, 24 * MB)
    sts_file = Path(os.environ["CLUSTER_TEST_STS_FILE"])  # where sts_provider reads, on every machine
    expires = time.time() + 1.0
    cluster_helpers.write_sts_file(sts_file, first, expires)
    revoker: List[threading.Thread] = []

    def revoke_later(at: float) -> None:
        time.sleep(max(0.0, at - time.time()))
        cos.keyring.remove(first.secret_id)  # expired: the server refuses it from now on

    def rotate(event: ProgressEvent) -> None:
        # The STS agent, once a worker has used the first credentials: new ones are issued before the old
        # expire, and the old are revoked a while after their expiry.
        if revoker or event.parts_done < 1:
            return
        cos.add_credentials(second)
        cluster_helpers.write_sts_file(sts_file, second, time.time() + 3600)
        revoker.append(threading.Thread(target=revoke_later, args=(max(time.time(), expires) + 1.5,)))
        revoker[0].start()

    config = target(cos, FactoryCredentials(cluster_helpers.sts_provider))
    try:
        result = upload_file_on_cluster(cluster, config, path, "k", upload_config=parts_config(), parts_per_task=1,
                                        progress=rotate, store=store)  # fmt: skip
    finally:
        for thread in revoker:
            thread.join()
        sts_file.unlink()
    assert result.crc64 == crc64(data)
    signers = [entry.headers.get("authorization", "") for entry in cos.log_entries("UploadPart")]
    assert any(first.secret_id in text for text in signers), "the workers started with the first credentials"
    assert any(second.secret_id in text for text in signers), "and refreshed to the second when they expired"
    assert all(entry.status == 200 for entry in cos.log_entries())


def test_no_secret_in_task_keys_task_state_or_logs(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cluster.run(cluster_helpers.capture_logs)  # again: a worker may have been restarted since
    plugin = install_credentials(cluster, PLUGIN_CREDENTIALS, name="scan")
    key = "private/customer-4711.bin"
    path, _ = make_file(tmp_path, 6 * MB)
    seen: Dict[str, Any] = {}

    def scan_while_running(event: ProgressEvent) -> None:
        if not seen and event.parts_done >= 1:
            seen.update(cluster.run_on_scheduler(cluster_helpers.scheduler_state))

    for credentials in (ENV_NAMES, plugin, FactoryCredentials(cluster_helpers.env_factory)):
        seen.clear()
        upload_file_on_cluster(cluster, target(cos, credentials), path, key, upload_config=parts_config(),
                               parts_per_task=1, progress=scan_while_running, store=store)  # fmt: skip
        assert seen["keys"] and seen["pickled"], "the scan ran while tasks existed"
        assert "ClientConfig(" in seen["text"], "task arguments were scanned"
        assert all(name.startswith("cos-part-") and "customer" not in name for name in seen["keys"])
        for secret in SECRETS:
            assert secret not in seen["text"] and secret.encode() not in seen["pickled"]
    worker_logs = cluster.get_worker_logs()
    our_logs = cluster.run(cluster_helpers.captured_logs)
    scheduler_logs = cluster.get_scheduler_logs()
    texts = [repr(worker_logs), repr(our_logs), repr(scheduler_logs), caplog.text]
    assert any("cos_multipart" in line for lines in our_logs.values() for line in lines), "worker logs were captured"
    for secret in SECRETS:
        assert all(secret not in text for text in texts)


def test_a_worker_that_sees_another_file_refuses_to_send(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    from cos_multipart import SourceChangedError

    path, _ = make_file(tmp_path, 3 * MB)
    changed: List[bool] = []

    def change_file(event: ProgressEvent) -> None:
        if not changed:
            changed.append(True)
            with open(path, "ab") as handle:
                handle.write(b"more")

    with pytest.raises(SourceChangedError) as raised:
        upload_file_on_cluster(cluster, target(cos), path, "k", upload_config=parts_config(), parts_per_task=1,
                               progress=change_file, task_retries=0, store=store)  # fmt: skip
    assert kept_upload_of(raised.value) is None  # a changed source is aborted, as with threads
    with cos.client() as client:
        assert not list(client.list_multipart_uploads())


def test_a_factory_that_carries_the_secret_never_reaches_the_scheduler(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    # Issue 20 item 4: a partial of Credentials was accepted, its repr looked clean, and the secret key and
    # token were pickled into every part task the scheduler held.
    path, _ = make_file(tmp_path, 3 * MB)
    leaky = functools.partial(Credentials, SECRET_ID, SECRET_KEY, token=TOKEN)
    # The scan's control (its own key prefix, so that no other test's scan sees it): a task that does carry
    # the partial shows the secret and the token in the pickled task specs the scheduler holds.
    control = cluster.submit(cluster_helpers.ignore, leaky, key="leak-control-" + secrets.token_hex(4))
    control.result()
    held = cluster.run_on_scheduler(cluster_helpers.scheduler_state, prefix="leak-control-")
    assert SECRET_KEY.encode() in held["pickled"] and TOKEN.encode() in held["pickled"]
    control.release()
    with pytest.raises(CosValidationError, match="referenced by name") as refused:
        upload_file_on_cluster(cluster, target(cos, FactoryCredentials(leaky)), path, "leak.bin",
                               upload_config=parts_config(), parts_per_task=1, store=store)  # fmt: skip
    assert SECRET_KEY not in str(refused.value) and TOKEN not in str(refused.value)
    assert not cos.log_entries(), "refused before anything was sent (no task, no Initiate)"


def test_answer_deadline_ends_a_trickled_part_answer_on_the_workers(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    # The answers to Upload Part come one byte every 0.2 s: each byte resets the read timeout (60 s here),
    # so only the workers' answer deadline ends them; the error says which bound ended the attempt.
    path, _ = make_file(tmp_path, 2 * MB)
    proxy = CorruptingProxy(cos.port, flips=0, trickle=("partNumber=",))
    try:
        config = ClientConfig(cos.bucket, cos.region, ENV_NAMES, endpoint=proxy.endpoint, dialect=cos.dialect,
                              timeout=(10.0, 60.0), retry=RetryPolicy(max_attempts=2, backoff_base=0.01),
                              answer_deadline=1.0)  # fmt: skip
        with pytest.raises(CosTransportError) as raised:
            upload_file_on_cluster(cluster, config, path, "slow.bin", upload_config=parts_config(), parts_per_task=1,
                                   task_retries=0, store=store)  # fmt: skip
    finally:
        proxy.close()
    assert raised.value.kind is FailureKind.TIMEOUT and raised.value.attempts == 2
    assert "answer_deadline" in str(raised.value)
    assert proxy.trickled >= 2 and cos.log_entries("UploadPart"), "the parts reached the server, the answers crawled"


def test_a_part_forged_between_a_worker_and_cos_leaves_no_wrong_object(
    cluster: Any, cos: LocalCOS, store: CheckpointStore, tmp_path: Path
) -> None:
    # Issue 20 item 6 on the cluster: a worker's part damaged on the way, its CRC-64 answer forged (plain
    # HTTP, verify_md5=False). Complete (on the caller) finds it; the object it made must not stay at the key.
    with cos.client() as client:
        client.put_object("obj", os.urandom(10_000))
    path, _ = make_file(tmp_path, 3 * MB + 5)
    proxy = CorruptingProxy(cos.port, flips=1, offset=1000, forge_crc=True)
    try:
        config = ClientConfig(cos.bucket, cos.region, ENV_NAMES, endpoint=proxy.endpoint, dialect=cos.dialect)
        with pytest.raises(CosIntegrityError) as raised:
            upload_file_on_cluster(cluster, config, path, "obj", upload_config=parts_config(verify_md5=False),
                                   parts_per_task=1, store=store)  # fmt: skip
    finally:
        proxy.close()
    assert proxy.flipped == 1 and proxy.forged == 1
    assert raised.value.part_number is None and "the completed object did not match and was deleted" in str(raised.value)
    with cos.client() as client:
        assert client.find_object("obj") is None and not list(client.list_multipart_uploads())
    assert not list(store)
