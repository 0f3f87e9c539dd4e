"""CosClient(dialect="oss") against the local server in OSS mode over real sockets: every multipart API,
OSS errors (code, EC, HEAD errors through x-oss-err), OSS's part rules at Complete, SSE, and the uploader
end to end (3 parts of ~100 KB, verified by CRC-64 per part and for the object, read back byte-equal)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.errors import CosServiceError
from cos_multipart._protocol.limits import KB
from cos_multipart._protocol.models import CompletedPart
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart._protocol.sse import SseCos, SseKms
from cos_multipart.testing import OSS_DEFAULT_BUCKET, Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalServiceFactory
from cos_multipart._drivers.uploader import upload_file

pytestmark = pytest.mark.integration

PART = bytes(range(256)) * (100 * KB // 256)  # exactly OSS's 100 KB minimum


@pytest.fixture
def oss(local_service: LocalServiceFactory) -> Tuple[LocalCOS, CosClient]:
    return local_service("oss", client_options={"retry": RetryPolicy.never()})


@pytest.fixture
def client(oss: Tuple[LocalCOS, CosClient]) -> Iterator[CosClient]:
    yield oss[1]


def service_error(call: Any, *args: Any, **kwargs: Any) -> CosServiceError:
    with pytest.raises(CosServiceError) as excinfo:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    error = excinfo.value
    assert error.request_id and len(error.request_id) == 24
    return error


def completed(*parts: Any) -> Any:
    return [CompletedPart(part.part_number, part.etag) for part in parts]


def test_the_server_makes_a_matching_client(oss: Tuple[LocalCOS, CosClient]) -> None:
    server, client = oss
    assert (server.dialect, server.bucket, server.region) == ("oss", OSS_DEFAULT_BUCKET, "cn-hangzhou")
    assert client.dialect.name == "oss"


def test_every_multipart_api_round_trip(client: CosClient, oss: Tuple[LocalCOS, CosClient]) -> None:
    key = "reports/2024 Q1/数据 (final)+v2.csv"
    upload = client.initiate_multipart_upload(
        key, content_type="text/csv", metadata={"owner": "team-a"}, storage_class="STANDARD_IA",
        tagging={"project": "demo"}, cache_control="max-age=60",
    )  # fmt: skip
    assert (upload.bucket, upload.key) == (OSS_DEFAULT_BUCKET, key)
    first = client.upload_part(key, upload.upload_id, 1, PART)
    second = client.upload_part(key, upload.upload_id, 2, b"last part")
    assert first.etag.strip('"') == first.etag.strip('"').upper()  # OSS: MD5 in upper-case hex
    assert first.crc64 == crc64(PART)
    listed = list(client.list_parts(key, upload.upload_id))
    assert [(part.part_number, part.etag, part.size) for part in listed] == [
        (1, first.etag, len(PART)), (2, second.etag, 9),
    ]  # fmt: skip
    assert [item.key for item in client.list_multipart_uploads(prefix="reports/")] == [key]
    done = client.complete_multipart_upload(key, upload.upload_id, completed(first, second))
    assert done.etag.endswith('-2"') and done.crc64 == crc64(PART + b"last part")
    assert done.location == "http://examplebucket.oss-cn-hangzhou.aliyuncs.com/reports/2024%20Q1/%E6%95%B0%E6%8D%AE%20%28final%29%2Bv2.csv"
    head = client.head_object(key)
    assert (head.size, head.crc64, head.etag) == (len(PART) + 9, done.crc64, done.etag)
    response = client.get_object(key, byte_range=(len(PART) - 1, None))
    with response:
        assert response.content == PART[-1:] + b"last part"
        assert response.headers["x-oss-meta-owner"] == "team-a"
        assert response.headers["x-oss-storage-class"] == "IA"
        assert response.headers["x-oss-object-type"] == "Multipart"
        assert response.headers["x-oss-tagging-count"] == "1"
        assert response.headers["Server"] == "AliyunOSS"
        assert "x-cos-request-id" not in response.headers and len(response.headers["x-oss-request-id"]) == 24
    assert [item.key for item in client.list_objects(prefix="reports/")] == [key]
    client.delete_object(key)
    assert service_error(client.head_object, key).code == "NoSuchKey"


def test_abort_then_the_upload_is_gone(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("gone.bin")
    client.upload_part("gone.bin", upload.upload_id, 1, b"x")
    client.abort_multipart_upload("gone.bin", upload.upload_id)
    error = service_error(client.list_parts, "gone.bin", upload.upload_id)
    assert (error.status, error.code) == (404, "NoSuchUpload")
    assert error.host_id == "examplebucket.oss-cn-hangzhou.aliyuncs.com"  # the Host sent names the bucket


def test_parts_of_100_kb_are_enough_and_smaller_fail_at_complete(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("min.bin")
    parts = [client.upload_part("min.bin", upload.upload_id, 1, PART), client.upload_part("min.bin", upload.upload_id, 2, b"z")]
    client.complete_multipart_upload("min.bin", upload.upload_id, completed(*parts))
    upload = client.initiate_multipart_upload("small.bin")
    small = client.upload_part("small.bin", upload.upload_id, 1, PART[:-1])  # accepted: OSS checks at Complete
    tail = client.upload_part("small.bin", upload.upload_id, 2, b"z")
    error = service_error(client.complete_multipart_upload, "small.bin", upload.upload_id, completed(small, tail))
    assert (error.status, error.code, error.ec) == (400, "EntityTooSmall", "0042-00000213")


def test_part_numbers_need_only_ascend(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("gaps.bin")
    one = client.upload_part("gaps.bin", upload.upload_id, 1, PART)
    five = client.upload_part("gaps.bin", upload.upload_id, 5, b"five")
    done = client.complete_multipart_upload("gaps.bin", upload.upload_id, completed(one, five))
    assert done.crc64 == crc64(PART + b"five")


@pytest.mark.parametrize(
    ("encryption", "echo"),
    [(SseCos(), {"x-oss-server-side-encryption": "AES256"}),
     (SseKms("key-1"), {"x-oss-server-side-encryption": "KMS", "x-oss-server-side-encryption-key-id": "key-1"})],
)  # fmt: skip
def test_server_side_encryption_round_trip(client: CosClient, encryption: Any, echo: Any) -> None:
    upload = client.initiate_multipart_upload("sse.bin", encryption=encryption)
    part = client.upload_part("sse.bin", upload.upload_id, 1, b"secret bytes")
    assert part.crc64 == crc64(b"secret bytes")
    client.complete_multipart_upload("sse.bin", upload.upload_id, completed(part))
    with client.get_object("sse.bin") as response:
        assert response.content == b"secret bytes"
        assert {name: response.headers[name] for name in echo} == echo


def test_forbid_overwrite(client: CosClient) -> None:
    client.put_object("once.txt", b"first")
    error = service_error(client.put_object, "once.txt", b"second", forbid_overwrite=True)
    assert (error.status, error.code, error.ec) == (409, "FileAlreadyExists", "0026-00000002")


def test_a_wrong_secret_is_rejected(oss: Tuple[LocalCOS, CosClient]) -> None:
    server = oss[0]
    with server.client(credentials=Credentials(server.credentials.secret_id, "not-the-secret"), retry=RetryPolicy.never()) as wrong:
        error = service_error(wrong.initiate_multipart_upload, "k")
    assert (error.status, error.code, error.ec) == (403, "SignatureDoesNotMatch", "0002-00000201")


def test_temporary_credentials_need_their_token(oss: Tuple[LocalCOS, CosClient]) -> None:
    server = oss[0]
    temporary = Credentials("STS.LOCALTEMPORARY", "temporary-secret", "the-token")
    server.add_credentials(temporary)
    with server.client(credentials=temporary) as sts:
        assert sts.put_object("sts.txt", b"hello").crc64 == crc64(b"hello")
    with server.client(credentials=Credentials("STS.LOCALTEMPORARY", "temporary-secret"), retry=RetryPolicy.never()) as tokenless:
        assert service_error(tokenless.put_object, "sts.txt", b"x").code == "InvalidAccessKeyId"


def test_the_uploader_sends_three_parts_verified(client: CosClient, tmp_path: Path, oss: Tuple[LocalCOS, CosClient]) -> None:
    data = os.urandom(300 * KB + 12345)
    source = tmp_path / "three-parts.bin"
    source.write_bytes(data)
    result = upload_file(client, source, "big/three.bin", part_size=128 * KB, multipart_threshold=128 * KB,
                         checkpoint_dir=tmp_path / "checkpoints")  # fmt: skip
    assert len(result.parts) == 3 and result.crc64 == crc64(data)
    with client.get_object("big/three.bin") as response:
        assert response.content == data
    assert [entry.api for entry in oss[0].log_entries("UploadPart")] == ["UploadPart"] * 3


def test_the_uploader_retries_a_part_whose_crc_is_wrong(local_service: LocalServiceFactory, tmp_path: Path) -> None:
    fault = Fault("wrong_crc64", "UploadPart", nth=2)
    server, client = local_service("oss", faults=[fault])
    data = os.urandom(250 * KB)
    result = upload_file(client, data, "retried.bin", part_size=100 * KB, multipart_threshold=100 * KB, resume=False)
    assert result.crc64 == crc64(data)
    assert len(server.log_entries("UploadPart")) == 4  # one part sent again


def test_the_async_client_and_uploader_speak_oss(oss: Tuple[LocalCOS, CosClient], tmp_path: Path) -> None:
    from cos_multipart.aio import AsyncCosClient, async_upload_file

    server = oss[0]
    data = os.urandom(320 * KB)

    async def run() -> Any:
        async with AsyncCosClient(server.bucket, server.region, credentials=server.credentials,
                                  endpoint=server.endpoint, dialect="oss") as aclient:  # fmt: skip
            upload = await aclient.initiate_multipart_upload("async/raw.bin")
            part = await aclient.upload_part("async/raw.bin", upload.upload_id, 1, b"raw")
            done = await aclient.complete_multipart_upload("async/raw.bin", upload.upload_id, completed(part))
            assert done.crc64 == crc64(b"raw")
            return await async_upload_file(aclient, data, "async/three.bin", part_size=110 * KB,
                                           multipart_threshold=110 * KB, resume=False)  # fmt: skip

    import asyncio

    result = asyncio.run(run())
    assert len(result.parts) == 3 and result.crc64 == crc64(data)
    with oss[1].get_object("async/three.bin") as response:
        assert response.content == data
