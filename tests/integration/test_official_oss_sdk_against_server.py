"""An independent OSS client, Aliyun's Python SDK (``alibabacloud-oss-v2``), unchanged against the local
server in OSS mode with only its endpoint, region and credentials set: signature V4 (path style, as the SDK
uses for an IP endpoint), its multipart calls, its own uploader with CRC-64 checks on (the default), OSS
errors as it parses them, and a wrong secret rejected.

v2, not oss2: v2 can be pointed at a custom http endpoint (``Config.endpoint``) and signs V4 by default.
Skipped when the SDK is not installed (``pip install alibabacloud-oss-v2``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.limits import KB
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

oss = pytest.importorskip("alibabacloud_oss_v2")

pytestmark = pytest.mark.integration

PART = os.urandom(100 * KB)


def sdk_client(server: LocalCOS, secret: str = "", **options: Any) -> Any:
    config = oss.config.load_default()
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.credentials.secret_id, secret or server.credentials.secret_key, server.credentials.token
    )
    config.region = server.region
    config.endpoint = server.endpoint  # an IP endpoint: the SDK uses path style, /examplebucket/key
    config.retry_max_attempts = 1
    for name, value in options.items():
        setattr(config, name, value)
    return oss.Client(config)


@pytest.fixture
def server(local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(dialect="oss")


def test_multipart_calls(server: LocalCOS) -> None:
    client, bucket, key = sdk_client(server), server.bucket, "dir/a b+文件 (1).txt"
    upload_id = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key=key)).upload_id
    first = client.upload_part(oss.UploadPartRequest(bucket=bucket, key=key, upload_id=upload_id, part_number=1, body=PART))
    second = client.upload_part(oss.UploadPartRequest(bucket=bucket, key=key, upload_id=upload_id, part_number=2, body=b"tail"))
    assert int(first.hash_crc64) == crc64(PART)  # the SDK also checked it against its own CRC
    listed = client.list_parts(oss.ListPartsRequest(bucket=bucket, key=key, upload_id=upload_id))
    assert listed.key == key
    assert [(part.part_number, part.etag, int(part.hash_crc64)) for part in listed.parts] == [
        (1, first.etag, crc64(PART)), (2, second.etag, crc64(b"tail")),
    ]  # fmt: skip
    uploads = client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=bucket))
    assert [upload.key for upload in uploads.uploads] == [key]
    parts = [oss.UploadPart(part_number=1, etag=first.etag), oss.UploadPart(part_number=2, etag=second.etag)]
    done = client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=bucket, key=key, upload_id=upload_id, complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts),
    ))  # fmt: skip
    assert done.key == key and done.etag.endswith('-2"')
    assert int(done.hash_crc64) == crc64(PART + b"tail")
    head = client.head_object(oss.HeadObjectRequest(bucket=bucket, key=key))
    assert (head.content_length, head.object_type, int(head.hash_crc64)) == (len(PART) + 4, "Multipart", crc64(PART + b"tail"))
    body = client.get_object(oss.GetObjectRequest(bucket=bucket, key=key, range_header=f"bytes={len(PART) - 1}-")).body.read()
    assert body == PART[-1:] + b"tail"


def test_abort_and_errors_as_the_sdk_parses_them(server: LocalCOS) -> None:
    client, bucket = sdk_client(server), server.bucket
    upload_id = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key="gone")).upload_id
    client.abort_multipart_upload(oss.AbortMultipartUploadRequest(bucket=bucket, key="gone", upload_id=upload_id))
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.list_parts(oss.ListPartsRequest(bucket=bucket, key="gone", upload_id=upload_id))
    error = excinfo.value.unwrap()
    assert (error.status_code, error.code) == (404, "NoSuchUpload")
    with pytest.raises(oss.exceptions.OperationError) as excinfo:  # HEAD: no body, the error in x-oss-err
        client.head_object(oss.HeadObjectRequest(bucket=bucket, key="missing"))
    error = excinfo.value.unwrap()
    assert (error.status_code, error.code, error.ec) == (404, "NoSuchKey", "0026-00000001")


def test_complete_all_and_the_100_kb_rule(server: LocalCOS) -> None:
    client, bucket = sdk_client(server), server.bucket
    upload_id = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key="all")).upload_id
    for number, data in ((1, PART), (2, b"end")):
        client.upload_part(oss.UploadPartRequest(bucket=bucket, key="all", upload_id=upload_id, part_number=number, body=data))
    done = client.complete_multipart_upload(
        oss.CompleteMultipartUploadRequest(bucket=bucket, key="all", upload_id=upload_id, complete_all="yes")
    )
    assert int(done.hash_crc64) == crc64(PART + b"end")
    upload_id = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key="small")).upload_id
    for number, data in ((1, PART[:-1]), (2, b"end")):
        client.upload_part(oss.UploadPartRequest(bucket=bucket, key="small", upload_id=upload_id, part_number=number, body=data))
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.complete_multipart_upload(
            oss.CompleteMultipartUploadRequest(bucket=bucket, key="small", upload_id=upload_id, complete_all="yes")
        )
    error = excinfo.value.unwrap()
    assert (error.status_code, error.code, error.ec) == (400, "EntityTooSmall", "0042-00000213")


def test_the_sdk_uploader_with_crc_checks(server: LocalCOS, tmp_path: Path) -> None:
    data = os.urandom(700 * KB + 321)
    source = tmp_path / "several-parts.bin"
    source.write_bytes(data)
    client = sdk_client(server)
    uploader = client.uploader(part_size=200 * KB, parallel_num=3)
    result = uploader.upload_file(oss.PutObjectRequest(bucket=server.bucket, key="sdk/big.bin"), filepath=str(source))
    assert int(result.hash_crc64) == crc64(data) and result.etag.endswith('-4"')
    read = client.get_object(oss.GetObjectRequest(bucket=server.bucket, key="sdk/big.bin")).body.read()
    assert read == data
    assert len(server.log_entries("UploadPart")) == 4


def test_the_sdk_catches_a_wrong_crc(local_cos_factory: LocalCOSFactory) -> None:
    server = local_cos_factory(dialect="oss", faults=[Fault("wrong_crc64", "UploadPart")])
    client = sdk_client(server)
    upload_id = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=server.bucket, key="k")).upload_id
    with pytest.raises(Exception, match="(?i)crc"):
        client.upload_part(oss.UploadPartRequest(bucket=server.bucket, key="k", upload_id=upload_id, part_number=1, body=b"data"))


def test_a_wrong_secret_is_rejected(server: LocalCOS) -> None:
    client = sdk_client(server, secret="not-the-secret")
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.put_object(oss.PutObjectRequest(bucket=server.bucket, key="k", body=b"x"))
    error = excinfo.value.unwrap()
    assert (error.status_code, error.code, error.ec) == (403, "SignatureDoesNotMatch", "0002-00000201")


def test_the_sdk_presigned_url_is_verified(server: LocalCOS) -> None:
    import requests

    client = sdk_client(server)
    client.put_object(oss.PutObjectRequest(bucket=server.bucket, key="photos/my cat+1.jpg", body=b"meow"))
    signed = client.presign(oss.GetObjectRequest(bucket=server.bucket, key="photos/my cat+1.jpg"))
    assert "x-oss-signature=" in signed.url
    assert requests.get(signed.url, timeout=10).content == b"meow"
    tampered = signed.url.replace("my%20cat", "my%20dog")
    assert requests.get(tampered, timeout=10).status_code == 403


def test_the_sdk_with_temporary_credentials(server: LocalCOS) -> None:
    from cos_multipart._protocol.credentials import Credentials

    server.add_credentials(Credentials("STS.LOCALTEMPORARY", "temporary-secret", "CAIS+token/with=chars"))
    config = oss.config.load_default()
    config.credentials_provider = oss.credentials.StaticCredentialsProvider(
        "STS.LOCALTEMPORARY", "temporary-secret", "CAIS+token/with=chars"
    )
    config.region, config.endpoint, config.retry_max_attempts = server.region, server.endpoint, 1
    client = oss.Client(config)
    client.put_object(oss.PutObjectRequest(bucket=server.bucket, key="sts.txt", body=b"hello", metadata={"owner": "a"}))
    head = client.head_object(oss.HeadObjectRequest(bucket=server.bucket, key="sts.txt"))
    assert head.metadata == {"owner": "a"} and int(head.hash_crc64) == crc64(b"hello")
    listed = client.list_objects(oss.ListObjectsRequest(bucket=server.bucket))
    assert [item.key for item in listed.contents] == ["sts.txt"]


def test_the_sdk_paginates_list_objects_v2(server: LocalCOS) -> None:
    client = sdk_client(server)
    keys = ["a/1", "a/2", "b", "c d+e", "文件"]
    for key in keys:
        client.put_object(oss.PutObjectRequest(bucket=server.bucket, key=key, body=key.encode()))
    paginator = client.list_objects_v2_paginator(limit=2)
    pages = list(paginator.iter_page(oss.ListObjectsV2Request(bucket=server.bucket)))
    assert [item.key for page in pages for item in page.contents] == keys and len(pages) == 3
    assert [page.key_count for page in pages] == [2, 2, 1]
    rolled = client.list_objects_v2(oss.ListObjectsV2Request(bucket=server.bucket, delimiter="/", start_after="a"))
    assert [prefix.prefix for prefix in rolled.common_prefixes] == ["a/"]
    assert [item.key for item in rolled.contents] == ["b", "c d+e", "文件"]
