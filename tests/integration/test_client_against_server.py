"""CosClient against the local COS server over real sockets: every API, COS errors with their codes,
pre-signed URLs, retries of injected faults, SSE round trips."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import io
import time
from typing import Any, Dict, Iterator

import pytest
import requests

from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.errors import CosServiceError, CosTransportError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.models import CompletedPart
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart._protocol.sse import SseC, SseCos, SseKms
from cos_multipart.testing import TEST_CREDENTIALS, Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

pytestmark = pytest.mark.integration

ONE_MB = bytes(range(256)) * (MB // 256)
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05)
KEY_32 = b"0123456789ABCDEF0123456789ABCDEF"


@pytest.fixture
def client(local_cos: LocalCOS) -> Iterator[CosClient]:
    with local_cos.client(retry=RetryPolicy.never()) as made:
        yield made


def service_error(call: Any, *args: Any, **kwargs: Any) -> CosServiceError:
    with pytest.raises(CosServiceError) as excinfo:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    error = excinfo.value
    assert error.request_id and error.trace_id  # every error carries both ids
    return error


def test_every_api_round_trip(client: CosClient, local_cos: LocalCOS) -> None:
    key = "reports/2024 Q1/数据 (final)+v2.csv"
    tail = b"last part"
    upload = client.initiate_multipart_upload(
        key, content_type="text/csv", metadata={"owner": "team-a"}, storage_class="standard_ia",
        tagging={"project": "demo"}, cache_control="max-age=60", content_disposition="attachment",
        acl="private",
    )
    assert (upload.bucket, upload.key) == (local_cos.bucket, key) and len(upload.upload_id) == 74
    assert upload.request_id
    part1 = client.upload_part(key, upload.upload_id, 1, ONE_MB, content_md5=base64.b64encode(hashlib.md5(ONE_MB).digest()).decode())
    part2 = client.upload_part(key, upload.upload_id, 2, io.BytesIO(tail), content_length=len(tail))
    assert part1.etag == f'"{hashlib.md5(ONE_MB).hexdigest()}"' and part1.crc64 == crc64(ONE_MB)
    assert (part2.size, part2.crc64) == (len(tail), crc64(tail))

    listed = list(client.list_parts(key, upload.upload_id))
    assert [(p.part_number, p.etag, p.size) for p in listed] == [(1, part1.etag, MB), (2, part2.etag, len(tail))]
    assert listed[0].last_modified is not None
    uploads = list(client.list_multipart_uploads(prefix="reports/"))
    assert [(u.key, u.upload_id) for u in uploads] == [(key, upload.upload_id)]
    assert uploads[0].storage_class.upper() == "STANDARD_IA"

    done = client.complete_multipart_upload(key, upload.upload_id, [CompletedPart(1, part1.etag), (2, part2.etag)])
    assert done.key == key and done.bucket == local_cos.bucket and done.etag.endswith('-2"')
    assert done.crc64 == crc64(ONE_MB + tail)
    assert done.location.endswith("/reports/2024%20Q1/%E6%95%B0%E6%8D%AE%20%28final%29%2Bv2.csv") or key in done.location

    head = client.head_object(key)
    assert (head.size, head.crc64, head.etag) == (MB + len(tail), done.crc64, done.etag)
    assert head.response.headers["content-type"] == "text/csv"
    assert head.response.headers["x-cos-meta-owner"] == "team-a"
    assert head.response.headers["x-cos-storage-class"] == "STANDARD_IA"
    assert head.response.headers["x-cos-tagging-count"] == "1"
    with client.get_object(key, byte_range=(MB - 3, None)) as response:
        assert response.status_code == 206 and response.content == ONE_MB[-3:] + tail
    with client.get_object(key) as response:
        assert response.content == ONE_MB + tail

    put = client.put_object("small.txt", b"hello world", content_type="text/plain")
    assert put.etag == f'"{hashlib.md5(b"hello world").hexdigest()}"' and put.crc64 == crc64(b"hello world")
    assert client.delete_object("small.txt").status == 204
    assert service_error(client.head_object, "small.txt").status == 404
    assert client.delete_object(key).status == 204
    apis = {entry.api for entry in local_cos.log_entries()}
    assert apis == {"InitiateMultipartUpload", "UploadPart", "ListParts", "ListMultipartUploads",
                    "CompleteMultipartUpload", "HeadObject", "GetObject", "PutObject", "DeleteObject"}


def test_abort(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("k")
    client.upload_part("k", upload.upload_id, 1, b"x")
    assert client.abort_multipart_upload("k", upload.upload_id).status == 204
    assert list(client.list_multipart_uploads()) == []
    for call, args in [
        (client.upload_part, ("k", upload.upload_id, 1, b"x")),
        (client.list_parts, ("k", upload.upload_id)),
        (client.complete_multipart_upload, ("k", upload.upload_id, [(1, '"x"')])),
        (client.abort_multipart_upload, ("k", upload.upload_id)),
    ]:
        error = service_error(call, *args)
        assert (error.status, error.code) == (404, "NoSuchUpload")


def test_listings_page_past_1000(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("many")
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: client.upload_part("many", upload.upload_id, n, b"p"), range(1, 1003)))
    listed = list(client.list_parts("many", upload.upload_id))
    assert [p.part_number for p in listed] == list(range(1, 1003))
    assert {p.etag for p in listed} == {r.etag for r in results}


def test_complete_errors_carry_cos_codes(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("k")
    small = client.upload_part("k", upload.upload_id, 1, b"small")
    last = client.upload_part("k", upload.upload_id, 2, b"last")
    cases = [
        ([(1, small.etag), (2, '"0123456789abcdef0123456789abcdef"')], "InvalidPart"),
        ([(1, small.etag), (3, last.etag)], "InvalidPart"),
        ([(1, small.etag), (2, last.etag)], "EntityTooSmall"),
    ]
    for parts, code in cases:
        error = service_error(client.complete_multipart_upload, "k", upload.upload_id, parts)
        assert (error.status, error.code) == (400, code)
        assert error.resource.endswith("/k")
    assert service_error(client.complete_multipart_upload, "k", upload.upload_id, [(2, last.etag)], pnum_min=2).code == "InvalidArgument"
    done = client.complete_multipart_upload("k", upload.upload_id, [(2, last.etag)], pnum_max=1)
    assert done.crc64 == crc64(b"last")
    again = client.initiate_multipart_upload("k")
    part = client.upload_part("k", again.upload_id, 1, b"again")
    error = service_error(client.complete_multipart_upload, "k", again.upload_id, [part], forbid_overwrite=True)
    assert (error.status, error.code) == (409, "FileAlreadyExists")


def test_part_errors_carry_cos_codes(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("k")
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert service_error(client.upload_part, "k", upload.upload_id, 1, b"data", content_md5=wrong_md5).code == "BadDigest"
    assert service_error(client.upload_part, "k", upload.upload_id, 1, b"data", psize_max=3).code == "EntityTooLarge"
    assert service_error(client.upload_part, "k", upload.upload_id, 1, b"data", psize_min=5).code == "EntityTooSmall"
    assert service_error(client.upload_part, "k", upload.upload_id, 1, b"data", sse_c=SseC(KEY_32)).code == "SSEHeaderNotAllowed"
    assert client.upload_part("k", upload.upload_id, 1, b"data", psize_min=4, psize_max=4,
                              traffic_limit=838_860_800).size == 4


def test_signature_errors(local_cos: LocalCOS) -> None:
    with local_cos.client(credentials=Credentials(TEST_CREDENTIALS.secret_id, "wrong"), retry=RetryPolicy.never()) as client:
        assert service_error(client.initiate_multipart_upload, "k").code == "SignatureDoesNotMatch"
    with local_cos.client(credentials=Credentials("AKIDunknown", "x"), retry=RetryPolicy.never()) as client:
        assert service_error(client.initiate_multipart_upload, "k").code == "InvalidAccessKeyId"


def test_sts_credentials_and_presigned_urls(local_cos_factory: LocalCOSFactory) -> None:
    sts = Credentials("AKIDtemporary", "temporary-secret", token="session-token")
    cos = local_cos_factory(credentials=[TEST_CREDENTIALS, sts])
    with cos.client(credentials=sts) as client:
        client.put_object("shared/a b.txt", b"shared bytes")
        url = client.presign("shared/a b.txt", expires=60)
        assert "x-cos-security-token=session-token" in url
        host = {"Host": client.endpoint.host}  # the endpoint (an IP) names no bucket: the signed Host does
        assert requests.get(url, headers=host, timeout=10).content == b"shared bytes"
        put_url = client.presign("shared/upload.bin", method="PUT")
        assert requests.put(put_url, data=b"anonymous upload", headers=host, timeout=10).status_code == 200
        assert client.head_object("shared/upload.bin").size == len(b"anonymous upload")
        tampered = url.replace("a%20b.txt", "other.txt")
        assert requests.get(tampered, headers=host, timeout=10).status_code == 403
    with cos.client(credentials=Credentials(sts.secret_id, sts.secret_key), retry=RetryPolicy.never()) as client:
        assert service_error(client.head_object, "shared/a b.txt").status == 403  # token missing
    assert any("x-cos-security-token=<redacted>" in entry.query for entry in cos.log_entries())
    assert "session-token" not in cos.access_log.read_text()


def test_a_presigned_url_for_another_bucket_never_reaches_the_endpoints_default_bucket(
    local_cos_factory: LocalCOSFactory,
) -> None:
    # The URL goes to an IP endpoint, whose Host names no bucket: signed for that host, a PUT for "other"
    # stored the object in the server's default bucket. Signed for the bucket's own host, it is refused
    # unless sent with that Host, which reaches the right bucket.
    cos = local_cos_factory(buckets=["examplebucket-1250000000", "other-1250000000"])
    with cos.client(bucket="other-1250000000") as other, cos.client() as default:
        url = other.presign("up.txt", method="PUT")
        assert requests.put(url, data=b"misplaced?", timeout=10).status_code == 403
        assert default.find_object("up.txt") is None
        answer = requests.put(url, data=b"placed", headers={"Host": other.endpoint.host}, timeout=10)
        assert answer.status_code == 200
        assert other.get_object("up.txt").content == b"placed" and default.find_object("up.txt") is None


def test_expired_presigned_url(local_cos_factory: LocalCOSFactory) -> None:
    # The server's clock runs a minute ahead instead of the test sleeping past the URL's one second.
    later = local_cos_factory(clock=lambda: time.time() + 60)
    with later.client() as client:
        client.put_object("k", b"x")
        url = client.presign("k", expires=1)
        response = requests.get(url, headers={"Host": client.endpoint.host}, timeout=10)
    assert response.status_code == 403 and "Request has expired" in response.text
    with later.client() as client:  # a URL valid for two minutes works there: only the expiry refused the first
        fresh = client.presign("k", expires=120)
        assert requests.get(fresh, headers={"Host": client.endpoint.host}, timeout=10).status_code == 200


def test_retries_injected_503_and_500(local_cos: LocalCOS) -> None:
    local_cos.faults.add(Fault.error("UploadPart", status=503, nth=1, count=2))
    local_cos.faults.add(Fault.error("CompleteMultipartUpload", status=500))
    with local_cos.client(retry=FAST_RETRY) as client:
        upload = client.initiate_multipart_upload("k")
        part = client.upload_part("k", upload.upload_id, 1, io.BytesIO(ONE_MB), content_length=MB)
        assert part.crc64 == crc64(ONE_MB)
        assert client.complete_multipart_upload("k", upload.upload_id, [part]).crc64 == crc64(ONE_MB)
    attempts = [entry.status for entry in local_cos.log_entries("UploadPart")]
    assert attempts == [503, 503, 200]
    assert [entry.status for entry in local_cos.log_entries("CompleteMultipartUpload")] == [500, 200]
    assert all(entry.bytes_in == MB for entry in local_cos.log_entries("UploadPart"))  # body re-sent each time


def test_seeded_error_rate_is_survived(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(faults=[Fault.error("UploadPart", status=503, rate=0.3, seed=5)])
    with cos.client(retry=RetryPolicy(max_attempts=8, backoff_base=0.001, backoff_cap=0.01)) as client:
        upload = client.initiate_multipart_upload("k")
        parts = [client.upload_part("k", upload.upload_id, n, bytes([n]) * MB) for n in range(1, 9)]
        client.complete_multipart_upload("k", upload.upload_id, parts)
    assert len(cos.faults.fired) > 0
    with cos.client() as client, client.get_object("k") as response:
        assert response.content == b"".join(bytes([n]) * MB for n in range(1, 9))


def test_reset_is_retried_and_gives_up_with_a_transport_error(local_cos: LocalCOS) -> None:
    local_cos.faults.add(Fault.reset("PutObject", after_bytes=1000))
    with local_cos.client(retry=FAST_RETRY) as client:
        assert client.put_object("k", ONE_MB).crc64 == crc64(ONE_MB)
    local_cos.faults.add(Fault.reset("PutObject", count=None))
    with local_cos.client(retry=RetryPolicy(max_attempts=2, backoff_base=0.01)) as client:
        with pytest.raises(CosTransportError):
            client.put_object("k", b"x")


def test_non_retryable_errors_are_not_retried(local_cos: LocalCOS) -> None:
    local_cos.faults.add(Fault.error("PutObject", status=404, code="NoSuchBucket", count=None))
    with local_cos.client(retry=FAST_RETRY) as client:
        assert service_error(client.put_object, "k", b"x").code == "NoSuchBucket"
    assert len(local_cos.log_entries("PutObject")) == 1


@pytest.mark.parametrize(
    ("encryption", "etag_is_md5", "echo"),
    [
        (SseCos(), True, {"x-cos-server-side-encryption": "AES256"}),
        (SseKms(key_id="cmk-1", context={"app": "test"}), False, {"x-cos-server-side-encryption-cos-kms-key-id": "cmk-1"}),
        (SseC(KEY_32), False, {"x-cos-server-side-encryption-customer-key-md5": SseC(KEY_32).key_md5}),
    ],
    ids=["sse-cos", "sse-kms", "sse-c"],
)
def test_sse_round_trips(client: CosClient, encryption: Any, etag_is_md5: bool, echo: Dict[str, Any]) -> None:
    sse_c = encryption if isinstance(encryption, SseC) else None
    upload = client.initiate_multipart_upload("enc", encryption=encryption)
    part = client.upload_part("enc", upload.upload_id, 1, b"plaintext", sse_c=sse_c)
    assert (part.etag == f'"{hashlib.md5(b"plaintext").hexdigest()}"') is etag_is_md5
    assert part.crc64 == crc64(b"plaintext")  # CRC64 is of the plaintext in every mode
    for name, value in echo.items():
        assert part.response.headers[name] == value
    done = client.complete_multipart_upload("enc", upload.upload_id, [part])
    assert done.crc64 == crc64(b"plaintext")
    head = client.head_object("enc", sse_c=sse_c)
    assert head.crc64 == done.crc64
    with client.get_object("enc", sse_c=sse_c) as response:
        assert response.content == b"plaintext"
    put = client.put_object("enc-put", b"plaintext", encryption=encryption)
    assert (put.etag == f'"{hashlib.md5(b"plaintext").hexdigest()}"') is etag_is_md5


def test_sse_c_key_rules_seen_by_the_client(client: CosClient) -> None:
    upload = client.initiate_multipart_upload("enc", encryption=SseC(KEY_32))
    assert service_error(client.upload_part, "enc", upload.upload_id, 1, b"x").code == "InvalidArgument"
    other = SseC(b"another key of exactly 32 bytes!")
    assert service_error(client.upload_part, "enc", upload.upload_id, 1, b"x", sse_c=other).code == "InvalidArgument"
    part = client.upload_part("enc", upload.upload_id, 1, b"x", sse_c=SseC(KEY_32))
    client.complete_multipart_upload("enc", upload.upload_id, [part])
    assert service_error(client.head_object, "enc").status == 400
    assert service_error(client.head_object, "enc", sse_c=other).status == 403


def test_keys_with_reserved_characters(client: CosClient) -> None:
    keys = ["a b/c+d&e=f?g#h%i.txt", "目录/文件.txt", "!*'();:@$,[]~", "emoji 😀/x", "dir/"]
    for key in keys:
        upload = client.initiate_multipart_upload(key)
        part = client.upload_part(key, upload.upload_id, 1, key.encode())
        assert client.complete_multipart_upload(key, upload.upload_id, [part]).key == key
        with client.get_object(key) as response:
            assert response.content == key.encode()
    listed = {u.key for u in client.list_multipart_uploads()}
    assert listed == set()


def test_a_netrc_entry_for_the_host_never_replaces_the_signature(
    local_cos: LocalCOS, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-a-cos-key\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))  # requests would add Basic auth from it, over our Authorization
    with local_cos.client() as client:
        client.put_object("netrc", b"signed by us")
        assert client.head_object("netrc").size == len(b"signed by us")
    assert all(entry.status == 200 for entry in local_cos.log_entries())


def test_proxies_from_the_environment_are_read_when_the_client_is_made(
    local_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with local_cos.client(retry=RetryPolicy.never()) as through_proxy:
        monkeypatch.delenv("HTTP_PROXY")  # later changes do not reach a client already made
        with pytest.raises(CosTransportError, match="127.0.0.1:1|refused|proxy|Proxy"):
            through_proxy.head_object("k")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed for the endpoint's host
    with local_cos.client(retry=RetryPolicy.never()) as direct:
        direct.put_object("k", b"x")


@pytest.mark.both_dialects
def test_a_service_error_names_the_service_that_answered(local_cos: LocalCOS) -> None:
    with local_cos.client() as client:
        with pytest.raises(CosServiceError) as raised:
            client.head_object("no/such/key")
    assert raised.value.status == 404 and raised.value.service == local_cos.dialect

    async def head_async() -> CosServiceError:
        from cos_multipart.aio import AsyncCosClient

        async with AsyncCosClient(local_cos.bucket, local_cos.region, TEST_CREDENTIALS, endpoint=local_cos.endpoint, dialect=local_cos.dialect) as aclient:
            try:
                await aclient.head_object("no/such/key")
            except CosServiceError as error:
                return error
        raise AssertionError("the HEAD of a missing key did not fail")

    assert asyncio.run(head_async()).service == local_cos.dialect
