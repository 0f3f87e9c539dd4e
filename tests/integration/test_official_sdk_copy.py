"""The official SDKs' copy calls, unchanged, against the local server: Tencent's ``cos-python-sdk-v5``
(``copy_object``, ``upload_part_copy``, ``copy()`` on its multipart path) and Aliyun's ``alibabacloud-oss-v2``
(``copy_object``, ``upload_part_copy``, the ``Copier`` on its multipart path). The copied bytes equal the source's.

Each module is skipped when its SDK is not installed."""

from __future__ import annotations

import os
from typing import Any

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.limits import KB, MB
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

pytestmark = pytest.mark.integration

OTHER_COS = "copies-1250000000"
OTHER_OSS = "copies"


# --- Tencent COS ----------------------------------------------------------------------------------------


def cos_sdk(server: LocalCOS) -> Any:
    """The SDK aimed at the real service's host names (its ``copy()`` builds the source's URL itself, from the
    source's bucket and region), reaching the local server as its HTTP proxy: every request names the bucket
    in its Host, as against COS."""
    qcloud_cos = pytest.importorskip("qcloud_cos")
    config = qcloud_cos.CosConfig(
        Region=server.region,
        SecretId=server.credentials.secret_id,
        SecretKey=server.credentials.secret_key,
        Scheme="http",
        Proxies={"http": server.endpoint},
    )
    return qcloud_cos.CosS3Client(config)


@pytest.fixture
def cos_server(local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(buckets=[OTHER_COS])


def test_cos_copy_object_and_upload_part_copy(cos_server: LocalCOS) -> None:
    client, bucket = cos_sdk(cos_server), cos_server.bucket
    data = os.urandom(2 * MB + 7)
    put = client.put_object(Bucket=bucket, Key="src/a b.bin", Body=data, ContentType="text/plain", Metadata={"x-cos-meta-k": "v"})
    source = {"Bucket": bucket, "Key": "src/a b.bin", "Region": cos_server.region}
    copied = client.copy_object(Bucket=OTHER_COS, Key="copy.bin", CopySource=source)
    assert copied["ETag"] == put["ETag"] and int(copied["CRC64"]) == crc64(data)
    assert int(copied["x-cos-hash-crc64ecma"]) == crc64(data)
    head = client.head_object(Bucket=OTHER_COS, Key="copy.bin")
    assert (head["Content-Type"], head["x-cos-meta-k"]) == ("text/plain", "v")
    assert client.get_object(Bucket=OTHER_COS, Key="copy.bin")["Body"].get_raw_stream().read() == data
    replaced = client.copy_object(Bucket=bucket, Key="src/a b.bin", CopySource=source, CopyStatus="Replaced", ContentType="image/png")
    assert replaced["ETag"] == put["ETag"]
    assert client.head_object(Bucket=bucket, Key="src/a b.bin")["Content-Type"] == "image/png"

    upload_id = client.create_multipart_upload(Bucket=OTHER_COS, Key="parts.bin")["UploadId"]
    first = client.upload_part_copy(Bucket=OTHER_COS, Key="parts.bin", PartNumber=1, UploadId=upload_id, CopySource=source,
                                    CopySourceRange=f"bytes=0-{MB - 1}")  # fmt: skip
    second = client.upload_part_copy(Bucket=OTHER_COS, Key="parts.bin", PartNumber=2, UploadId=upload_id, CopySource=source,
                                     CopySourceRange=f"bytes={MB}-{len(data) - 1}")  # fmt: skip
    assert int(first["x-cos-hash-crc64ecma"]) == crc64(data[:MB])
    parts = [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
    done = client.complete_multipart_upload(Bucket=OTHER_COS, Key="parts.bin", UploadId=upload_id, MultipartUpload={"Part": parts})
    assert int(done["x-cos-hash-crc64ecma"]) == crc64(data)
    assert client.get_object(Bucket=OTHER_COS, Key="parts.bin")["Body"].get_raw_stream().read() == data
    assert len(cos_server.log_entries("UploadPartCopy")) == 2


def test_cos_copy_errors_reach_the_sdk(cos_server: LocalCOS) -> None:
    qcloud_cos = pytest.importorskip("qcloud_cos")
    client, bucket = cos_sdk(cos_server), cos_server.bucket
    etag = client.put_object(Bucket=bucket, Key="src", Body=b"data")["ETag"]
    source = {"Bucket": bucket, "Key": "src", "Region": cos_server.region}
    with pytest.raises(qcloud_cos.CosServiceError) as caught:
        client.copy_object(Bucket=bucket, Key="dst", CopySource={**source, "Key": "missing"})
    assert (caught.value.get_status_code(), caught.value.get_error_code()) == (404, "NoSuchKey")
    with pytest.raises(qcloud_cos.CosServiceError) as caught:
        client.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfMatch='"0000"')
    assert (caught.value.get_status_code(), caught.value.get_error_code()) == (412, "PreconditionFailed")
    assert client.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfMatch=etag)["ETag"] == etag
    with pytest.raises(qcloud_cos.CosServiceError) as caught:
        client.copy_object(Bucket=bucket, Key="src", CopySource=source)
    assert (caught.value.get_status_code(), caught.value.get_error_code()) == (400, "InvalidRequest")


def test_cos_sdk_copy_takes_its_multipart_path(cos_server: LocalCOS) -> None:
    client, bucket = cos_sdk(cos_server), cos_server.bucket
    client._conf.set_copy_part_threshold_size(MB)  # its multipart copy above 1 MiB instead of 5 GB
    data = os.urandom(3 * MB + 5)
    client.put_object(Bucket=bucket, Key="big", Body=data)
    # a source named in another region: the SDK copies by parts (same region and class would be one copy)
    source = {"Bucket": bucket, "Key": "big", "Region": "ap-shanghai"}
    done = client.copy(Bucket=OTHER_COS, Key="big-copy", CopySource=source, PartSize=1, MAXThread=2)
    assert int(done["x-cos-hash-crc64ecma"]) == crc64(data)
    assert client.get_object(Bucket=OTHER_COS, Key="big-copy")["Body"].get_raw_stream().read() == data
    assert len(cos_server.log_entries("UploadPartCopy")) == 4
    assert not cos_server.log_entries("PutObjectCopy")


def test_cos_sdk_copy_does_not_pin_its_source(cos_server: LocalCOS) -> None:
    # The SDK's copy() sends its parts without x-cos-copy-source-if-match (it passes only SSE-C headers on to
    # them): with the source replaced after the first part, it completes an object that is neither version.
    client, bucket = cos_sdk(cos_server), cos_server.bucket
    client._conf.set_copy_part_threshold_size(MB)
    data = os.urandom(3 * MB)
    etag = client.put_object(Bucket=bucket, Key="big", Body=data)["ETag"]
    cos_server.faults.add(Fault.replace_source(nth=1))
    source = {"Bucket": bucket, "Key": "big", "Region": "ap-shanghai"}
    client.copy(Bucket=OTHER_COS, Key="mixed", CopySource=source, PartSize=1, MAXThread=1, CopySourceIfMatch=etag)
    mixed = client.get_object(Bucket=OTHER_COS, Key="mixed")["Body"].get_raw_stream().read()
    assert mixed == data[:MB] + bytes(byte ^ 0xFF for byte in data[MB:])
    assert all(entry.status == 200 for entry in cos_server.log_entries("UploadPartCopy"))


# --- Aliyun OSS -----------------------------------------------------------------------------------------


def oss_sdk(server: LocalCOS) -> Any:
    oss = pytest.importorskip("alibabacloud_oss_v2")
    config = oss.config.load_default()
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.credentials.secret_id, server.credentials.secret_key, server.credentials.token
    )
    config.region = server.region
    # The service's own host names (virtual-hosted: <bucket>.oss-<region>.aliyuncs.com names any bucket), the
    # local server reached as the HTTP proxy; an IP endpoint's path style reaches only the default bucket here.
    config.endpoint = f"http://oss-{server.region}.aliyuncs.com"
    config.proxy_host = {"http": server.endpoint}
    config.retry_max_attempts = 1
    return oss.Client(config)


@pytest.fixture
def oss_server(local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(dialect="oss", buckets=[OTHER_OSS])


def test_oss_copy_object_and_upload_part_copy(oss_server: LocalCOS) -> None:
    oss = pytest.importorskip("alibabacloud_oss_v2")
    client, bucket = oss_sdk(oss_server), oss_server.bucket
    data = os.urandom(300 * KB)
    put = client.put_object(oss.PutObjectRequest(bucket=bucket, key="src/a b.bin", body=data, metadata={"k": "v"}))
    copied = client.copy_object(oss.CopyObjectRequest(bucket=OTHER_OSS, key="copy.bin", source_bucket=bucket, source_key="src/a b.bin"))
    assert copied.etag == put.etag and int(copied.hash_crc64) == crc64(data)
    head = client.head_object(oss.HeadObjectRequest(bucket=OTHER_OSS, key="copy.bin"))
    assert head.metadata == {"k": "v"} and int(head.hash_crc64) == crc64(data)
    assert client.get_object(oss.GetObjectRequest(bucket=OTHER_OSS, key="copy.bin")).body.read() == data

    upload_id = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key="parts.bin")).upload_id
    etags = []
    for number, (first, last) in enumerate(((0, 100 * KB - 1), (100 * KB, len(data) - 1)), 1):
        result = client.upload_part_copy(oss.UploadPartCopyRequest(
            bucket=bucket, key="parts.bin", upload_id=upload_id, part_number=number, source_key="src/a b.bin",
            source_range=f"bytes={first}-{last}", if_match=put.etag,
        ))  # fmt: skip
        etags.append(oss.UploadPart(part_number=number, etag=result.etag))
    done = client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=bucket, key="parts.bin", upload_id=upload_id, complete_multipart_upload=oss.CompleteMultipartUpload(parts=etags),
    ))  # fmt: skip
    assert int(done.hash_crc64) == crc64(data)
    assert client.get_object(oss.GetObjectRequest(bucket=bucket, key="parts.bin")).body.read() == data

    with pytest.raises(oss.exceptions.OperationError) as caught:
        client.copy_object(oss.CopyObjectRequest(bucket=bucket, key="x", source_key="src/a b.bin", if_match='"0000"'))
    assert caught.value.unwrap().status_code == 412 and caught.value.unwrap().code == "PreconditionFailed"


def test_oss_copier_takes_its_multipart_path(oss_server: LocalCOS) -> None:
    oss = pytest.importorskip("alibabacloud_oss_v2")
    client, bucket = oss_sdk(oss_server), oss_server.bucket
    data = os.urandom(MB + 3)
    client.put_object(oss.PutObjectRequest(bucket=bucket, key="big", body=data, content_type="text/plain"))
    copier = client.copier(part_size=256 * KB, multipart_copy_threshold=300 * KB, parallel_num=2)
    # another bucket: the Copier's "shallow copy" (one CopyObject in the same bucket) does not apply
    result = copier.copy(oss.CopyObjectRequest(bucket=OTHER_OSS, key="big-copy", source_bucket=bucket, source_key="big"))
    assert int(result.hash_crc64) == crc64(data)  # the Copier also compared it with the source's
    got = client.get_object(oss.GetObjectRequest(bucket=OTHER_OSS, key="big-copy"))
    assert got.body.read() == data and got.content_type == "text/plain"
    assert len(oss_server.log_entries("UploadPartCopy")) == 5
    assert not oss_server.log_entries("PutObjectCopy")
