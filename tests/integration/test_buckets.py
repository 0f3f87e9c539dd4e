"""The bucket a request names is the bucket it reaches, also through a custom endpoint (the local server's
IP address): the client sends the bucket's host, the server stores into that bucket and answers 404
NoSuchBucket for one it does not hold, and every line the command prints names where the object went."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.errors import CosServiceError, CosValidationError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.models import HttpCall
from cos_multipart._protocol.operations import parse_abort
from cos_multipart.testing import LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

from uploads import Driver, make_file, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

#: A bucket name valid for both services.
OTHER = "second-1250000000"
MISSING = "wrongbucket-999"


def url(server: LocalCOS, bucket: str, key: str) -> str:
    return f"{server.dialect}://{bucket}/{key}"


def keys_in(server: LocalCOS, bucket: str) -> List[str]:
    with server.client(bucket=bucket) as client:
        return [item.key for item in client.list_objects()]


def status_of(server: LocalCOS, bucket: str, key: str) -> Optional[int]:
    """``None`` when ``key`` is in ``bucket``, else the status of the HEAD."""
    with server.client(bucket=bucket) as client:
        try:
            client.head_object(key)
        except CosServiceError as error:
            return error.status
    return None


def test_upload_to_a_bucket_the_server_does_not_hold_is_refused(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It used to land in the server's default bucket and print "uploaded ... to cos://wrongbucket-999/oops.txt".
    path, _ = make_file(tmp_path, 100, "x")
    code = cli.main(["upload", str(path), url(cli_env, MISSING, "oops.txt")])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_SERVICE and "uploaded" not in out, err
    assert "NoSuchBucket" in err
    # The request line shows the endpoint's URL, which names no bucket: the message names the one missing.
    assert f"error: no bucket {MISSING} at 127.0.0.1:{cli_env.port}" in err
    assert cli.main(["ls", url(cli_env, MISSING, "")]) == cli.EXIT_SERVICE
    assert f"error: no bucket {MISSING} at " in capsys.readouterr().err
    assert keys_in(cli_env, cli_env.bucket) == []
    assert cli.main(["stat", url(cli_env, "totally-different-1", "oops.txt")]) != cli.EXIT_OK
    assert "does not exist" in capsys.readouterr().err  # a HEAD answer has no body to name NoSuchBucket
    # Multipart too: refused at Initiate, nothing left behind anywhere.
    big, _ = make_file(tmp_path, 3 * MB, "big")
    assert cli.main(["upload", str(big), url(cli_env, MISSING, "big"), "--part-size", "1MB", "--multipart-threshold", "0"]) == cli.EXIT_SERVICE
    with cli_env.client() as client:
        assert list(client.list_multipart_uploads()) == []
    assert cli_env.log_entries("UploadPart") == []


def test_upload_lands_in_the_bucket_the_target_names(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli_env.create_bucket(OTHER)
    path, data = make_file(tmp_path, 3 * MB + 1, "x")
    for threshold in ("100MB", "0"):  # one PUT, then multipart
        assert cli.main(["upload", str(path), url(cli_env, OTHER, f"oops-{threshold}"), "--part-size", "1MB",
                         "--multipart-threshold", threshold]) == cli.EXIT_OK  # fmt: skip
        assert url(cli_env, OTHER, f"oops-{threshold}") in capsys.readouterr().out
    assert keys_in(cli_env, OTHER) == ["oops-0", "oops-100MB"]
    assert keys_in(cli_env, cli_env.bucket) == []
    with cli_env.client(bucket=OTHER) as client:
        assert stored(client, "oops-0") == data
    assert cli.main(["stat", url(cli_env, OTHER, "oops-0")]) == cli.EXIT_OK
    assert cli.main(["stat", url(cli_env, cli_env.bucket, "oops-0")]) != cli.EXIT_OK
    if cli_env.dialect == "cos":  # COS needs no region with an endpoint: a placeholder names the bucket's host
        monkeypatch.delenv("COS_REGION")
        assert cli.main(["upload", str(path), url(cli_env, OTHER, "no-region")]) == cli.EXIT_OK
        assert "no-region" in keys_in(cli_env, OTHER)


def test_each_driver_reaches_the_clients_bucket(
    local_cos: LocalCOS, driver: Driver, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 2 * MB + 7)
    local_cos.create_bucket(OTHER)
    with local_cos.client(bucket=OTHER) as client:
        result = driver.upload_file(client, path, "obj.bin", part_size=MB, multipart_threshold=0, store=store)
        assert result.multipart and stored(client, "obj.bin") == data
    assert status_of(local_cos, local_cos.bucket, "obj.bin") == 404
    with local_cos.client(bucket=MISSING) as client:
        with pytest.raises(CosServiceError) as caught:
            driver.upload_file(client, path, "obj.bin", part_size=MB, multipart_threshold=0, store=store)
        assert (caught.value.status, caught.value.code) == (404, "NoSuchBucket")
    assert keys_in(local_cos, local_cos.bucket) == [] and keys_in(local_cos, OTHER) == ["obj.bin"]


def test_put_bucket_and_the_buckets_held(local_cos_factory: LocalCOSFactory, dialect: str, tmp_path: Path) -> None:
    server = local_cos_factory(dialect=dialect, buckets=[OTHER], data_dir=tmp_path / "data")
    assert server.buckets == tuple(sorted((server.bucket, OTHER)))
    third = "third-1250000000"
    create = HttpCall("PUT", "", headers=(("Content-Length", "0"),))
    with server.client(bucket=third) as client:
        with pytest.raises(CosServiceError) as caught:
            client.put_object("k", b"x")
        assert (caught.value.status, caught.value.code) == (404, "NoSuchBucket")
        client.transport.send(create, parse_abort)  # 200, empty body, as Abort answers  # PUT / on the bucket's host makes it
        client.put_object("k", b"x")
        with pytest.raises(CosServiceError) as again:
            client.transport.send(create, parse_abort)  # 200, empty body, as Abort answers
        assert (again.value.status, again.value.code) == (409, "BucketAlreadyExists")
    assert third in server.buckets
    server.stop()
    restarted = local_cos_factory(dialect=dialect, data_dir=tmp_path / "data")
    assert restarted.buckets == tuple(sorted((server.bucket, OTHER, third)))  # held across restarts
    assert status_of(restarted, third, "k") is None
    with pytest.raises(CosValidationError) as bad:
        LocalCOS(dialect=dialect, buckets=["Bad_Name"])
    assert (bad.value.field, bad.value.value) == ("buckets", "Bad_Name")
