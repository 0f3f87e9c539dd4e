"""An independent COS client, Tencent's Python SDK (``cos-python-sdk-v5``), against the local server with
only its endpoint changed: the server must accept what real clients send (host signed without the port,
``?uploads=``, its Complete body with an XML declaration) and answer what they parse.

Skipped when that SDK is not installed (``pip install cos-python-sdk-v5``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

qcloud_cos = pytest.importorskip("qcloud_cos")

pytestmark = pytest.mark.integration


def sdk_client(cos: LocalCOS, **options: Any) -> Any:
    if cos.ca_path is not None:  # a TLS server: trust the CA made for its run
        options.update(Scheme="https", VerifySSL=str(cos.ca_path))
    config = qcloud_cos.CosConfig(
        Region=cos.region,
        SecretId=cos.credentials.secret_id,
        SecretKey=cos.credentials.secret_key,
        Domain=f"127.0.0.1:{cos.port}",
        **{"Scheme": "http", **options},
    )
    return qcloud_cos.CosS3Client(config)


def test_multipart_calls(local_cos: LocalCOS) -> None:
    client, bucket, key = sdk_client(local_cos), local_cos.bucket, "dir/a b+文件 (1).txt"
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    first = client.upload_part(Bucket=bucket, Key=key, Body=b"x" * MB, PartNumber=1, UploadId=upload_id)
    second = client.upload_part(Bucket=bucket, Key=key, Body=b"tail", PartNumber=2, UploadId=upload_id, EnableMD5=True)
    assert int(first["x-cos-hash-crc64ecma"]) == crc64(b"x" * MB)
    listed = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    assert [part["ETag"] for part in listed["Part"]] == [first["ETag"], second["ETag"]]
    assert listed["Key"] == key
    uploads = client.list_multipart_uploads(Bucket=bucket)
    assert uploads["Upload"][0]["Key"] == key
    parts = [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
    done = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Part": parts})
    assert done["Key"] == key and done["ETag"].endswith('-2"')
    assert int(done["x-cos-hash-crc64ecma"]) == crc64(b"x" * MB + b"tail")
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["Content-Length"] == str(MB + 4)
    body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={MB - 1}-")["Body"].get_raw_stream().read()
    assert body == b"xtail"
    aborted = client.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    client.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)
    with pytest.raises(qcloud_cos.CosServiceError) as excinfo:
        client.list_parts(Bucket=bucket, Key="gone", UploadId=aborted)
    assert (excinfo.value.get_status_code(), excinfo.value.get_error_code()) == (404, "NoSuchUpload")


def test_high_level_upload_with_a_retried_part(local_cos: LocalCOS, tmp_path: Path) -> None:
    source = tmp_path / "file.bin"
    data = os.urandom(3 * MB + 7)
    source.write_bytes(data)
    local_cos.faults.add(Fault.error("UploadPart", status=503, nth=2))
    client = sdk_client(local_cos)
    client.upload_file(Bucket=local_cos.bucket, Key="up.bin", LocalFilePath=str(source), PartSize=1, MAXThread=2)
    assert [entry.status for entry in local_cos.log_entries("UploadPart")].count(503) == 1
    url = client.get_presigned_url(Bucket=local_cos.bucket, Key="up.bin", Method="GET")
    assert requests.get(url, timeout=10).content == data


def test_objects_and_errors(local_cos: LocalCOS) -> None:
    client, bucket = sdk_client(local_cos), local_cos.bucket
    put = client.put_object(Bucket=bucket, Key="small.txt", Body=b"hello", EnableMD5=True, ContentType="text/plain")
    assert put["ETag"] == '"5d41402abc4b2a76b9719d911017c592"'
    assert client.head_object(Bucket=bucket, Key="small.txt")["Content-Type"] == "text/plain"
    client.delete_object(Bucket=bucket, Key="small.txt")
    with pytest.raises(qcloud_cos.CosServiceError) as excinfo:
        client.get_object(Bucket=bucket, Key="small.txt")
    assert excinfo.value.get_error_code() == "NoSuchKey" and excinfo.value.get_request_id()
    wrong = qcloud_cos.CosS3Client(qcloud_cos.CosConfig(
        Region=local_cos.region, SecretId=local_cos.credentials.secret_id, SecretKey="wrong",
        Domain=f"127.0.0.1:{local_cos.port}", Scheme="http"))
    with pytest.raises(qcloud_cos.CosServiceError) as excinfo:
        wrong.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert excinfo.value.get_error_code() == "SignatureDoesNotMatch"


def test_over_tls(local_cos_factory: LocalCOSFactory, tmp_path: Path) -> None:
    pytest.importorskip("trustme")
    cos = local_cos_factory(tls=True)
    client = sdk_client(cos)
    source = tmp_path / "file.bin"
    data = os.urandom(2 * MB + 3)
    source.write_bytes(data)
    client.upload_file(Bucket=cos.bucket, Key="sdk.bin", LocalFilePath=str(source), PartSize=1, MAXThread=2)
    head = client.head_object(Bucket=cos.bucket, Key="sdk.bin")
    assert int(head["x-cos-hash-crc64ecma"]) == crc64(data)
    assert client.get_object(Bucket=cos.bucket, Key="sdk.bin")["Body"].get_raw_stream().read() == data
    assert [entry.status for entry in cos.log_entries("UploadPart")] == [200, 200, 200]


def test_list_delete_and_head_calls(local_cos: LocalCOS) -> None:
    client, bucket = sdk_client(local_cos), local_cos.bucket
    keys = ["dir/a", "dir/b", "dir/sub/c", "文件 x+y"]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    page = client.list_objects(Bucket=bucket, Prefix="dir/", Delimiter="/", MaxKeys=1)
    assert page["IsTruncated"] == "true" and [c["Key"] for c in page["Contents"]] == ["dir/a"]
    rest = client.list_objects(Bucket=bucket, Prefix="dir/", Delimiter="/", Marker=page["NextMarker"])
    assert [c["Key"] for c in rest["Contents"]] == ["dir/b"] and rest["CommonPrefixes"][0]["Prefix"] == "dir/sub/"
    everything = client.list_objects(Bucket=bucket)
    assert [c["Key"] for c in everything["Contents"]] == keys
    assert everything["Contents"][0]["Size"] == str(len("dir/a"))
    head = client.head_object(Bucket=bucket, Key="文件 x+y")
    assert int(head["x-cos-hash-crc64ecma"]) == crc64("文件 x+y".encode())
    deleted = client.delete_objects(Bucket=bucket, Delete={"Object": [{"Key": "dir/a"}, {"Key": "文件 x+y"}], "Quiet": "false"})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["dir/a", "文件 x+y"]
    assert [c["Key"] for c in client.list_objects(Bucket=bucket)["Contents"]] == ["dir/b", "dir/sub/c"]


def test_ip_mode_names_the_bucket_in_the_host(local_cos: LocalCOS) -> None:
    # The SDK's IP= mode connects to the address and sends Host <bucket>.cos.<region>.myqcloud.com, as this
    # package's client does with an endpoint: the server stores into that bucket, and knows the ones it holds.
    other = "second-1250000000"
    local_cos.create_bucket(other)
    client = qcloud_cos.CosS3Client(qcloud_cos.CosConfig(
        Region=local_cos.region, SecretId=local_cos.credentials.secret_id, SecretKey=local_cos.credentials.secret_key,
        IP="127.0.0.1", Port=local_cos.port, Scheme="http"))  # fmt: skip
    client.put_object(Bucket=other, Key="k", Body=b"in second")
    assert client.get_object(Bucket=other, Key="k")["Body"].get_raw_stream().read() == b"in second"
    with pytest.raises(qcloud_cos.CosServiceError) as excinfo:
        client.get_object(Bucket=local_cos.bucket, Key="k")
    assert excinfo.value.get_error_code() == "NoSuchKey"
    with pytest.raises(qcloud_cos.CosServiceError) as excinfo:
        client.put_object(Bucket="wrongbucket-999", Key="k", Body=b"x")
    assert (excinfo.value.get_status_code(), excinfo.value.get_error_code()) == (404, "NoSuchBucket")
    with local_cos.client(bucket=other) as ours:  # and this package's client reads what the SDK wrote
        assert ours.get_object("k").content == b"in second"
