"""CosClient: glue of validate -> prepare -> send -> parse, pagination, presign, reprs, no request on bad input."""

from __future__ import annotations

import http.client
import io
import logging
from typing import Any, Callable, Dict, List, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from cos_multipart import ObjectStream
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.errors import CosResponseError, CosServiceError, CosValidationError
from cos_multipart._protocol.models import CompletedPart
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart._protocol.signer import SignWindow, sign
from cos_multipart._protocol.sse import SseC, SseCos

from scripted_http import ScriptedServer

SECRET_KEY = "SECRETKEYabcdefghijklmnopqrstuvw"
TOKEN = "TOKENsts0123456789tokentokentoken"
CREDS = Credentials("AKIDexampleid", SECRET_KEY, TOKEN)
SSE = SseC(b"S" * 32)
BASE = "http://127.0.0.1:9000"  # no server: for the tests that send nothing
UPLOAD = "1585130821cbb7df"
NOW = 1_700_000_000.0


def make_client(**kwargs: Any) -> CosClient:
    settings: Dict[str, Any] = {"endpoint": BASE, "retry": RetryPolicy(max_attempts=2, backoff_base=0), "clock": lambda: NOW}
    settings.update(kwargs)
    return CosClient("examplebucket-1250000000", "ap-guangzhou", settings.pop("credentials", CREDS), **settings)


def parts_page(numbers: List[int], truncated: bool, marker: int) -> bytes:
    items = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>&quot;e{n}&quot;</ETag><Size>{n}</Size></Part>" for n in numbers)
    return (
        f"<ListPartsResult><EncodingType>url</EncodingType><Key>k</Key>{items}"
        f"<NextPartNumberMarker>{marker}</NextPartNumberMarker><IsTruncated>{str(truncated).lower()}</IsTruncated></ListPartsResult>"
    ).encode()


def test_multipart_round_trip(scripted: ScriptedServer) -> None:
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("POST", "/video/a%20b.mp4?uploads", body=b"<InitiateMultipartUploadResult><Bucket>examplebucket-1250000000</Bucket><Key>video/a b.mp4</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>")
        scripted.add("PUT", "/video/a%20b.mp4?partNumber=1&uploadId=u1", headers={"ETag": '"p1"', "x-cos-hash-crc64ecma": "18446744073709551615"})
        scripted.add("POST", "/video/a%20b.mp4?uploadId=u1", body=b"  <CompleteMultipartUploadResult><Key>video/a b.mp4</Key><ETag>&quot;o-1&quot;</ETag></CompleteMultipartUploadResult>", headers={"x-cos-hash-crc64ecma": "7"})
        upload = client.initiate_multipart_upload("video/a b.mp4", content_type="video/mp4", encryption=SseCos(), storage_class="standard_ia")
        part = client.upload_part("video/a b.mp4", upload.upload_id, 1, b"hello")
        done = client.complete_multipart_upload("video/a b.mp4", upload.upload_id, [part])
        assert (upload.upload_id, part.etag, part.crc64, part.size) == ("u1", '"p1"', 2**64 - 1, 5)
        assert (done.etag, done.crc64) == ('"o-1"', 7)
        initiate_headers = scripted.requests[0].headers
        assert initiate_headers["x-cos-storage-class"] == "STANDARD_IA"
        assert initiate_headers["x-cos-server-side-encryption"] == "AES256"
        assert scripted.requests[1].body == b"hello"
        assert b"<ETag>\"p1\"</ETag>" in scripted.requests[2].body


def _bad_calls(client: CosClient) -> List[Tuple[str, Callable[[], Any]]]:
    return [
        ("part_number", lambda: client.upload_part("k", UPLOAD, 0, b"x")),
        ("part_number", lambda: client.upload_part("k", UPLOAD, 10001, b"x")),
        ("part_number", lambda: client.upload_part("k", UPLOAD, True, b"x")),
        ("traffic_limit", lambda: client.upload_part("k", UPLOAD, 1, b"x", traffic_limit=1)),
        ("psize_min", lambda: client.upload_part("k", UPLOAD, 1, b"x", psize_min=9, psize_max=1)),
        ("content_md5", lambda: client.upload_part("k", UPLOAD, 1, b"x", content_md5="nope")),
        ("sse_c", lambda: client.upload_part("k", UPLOAD, 1, b"x", sse_c=SseCos())),
        ("encryption", lambda: client.upload_part("k", UPLOAD, 1, b"x", sse_c={"x-cos-server-side-encryption-customer-algorithm": "AES256"})),
        ("upload_id", lambda: client.upload_part("k", "", 1, b"x")),
        ("key", lambda: client.upload_part("/k", UPLOAD, 1, b"x")),
        ("body", lambda: client.upload_part("k", UPLOAD, 1, "text")),
        ("storage_class", lambda: client.initiate_multipart_upload("k", storage_class="GLACIER")),  # type: ignore[arg-type]
        ("acl", lambda: client.initiate_multipart_upload("k", acl="public-read-write")),  # type: ignore[arg-type]
        ("grant_read", lambda: client.initiate_multipart_upload("k", grant_read="100000000001")),
        ("metadata name", lambda: client.initiate_multipart_upload("k", metadata={"bad_name": "v"})),
        ("metadata", lambda: client.initiate_multipart_upload("k", metadata={f"m{i}": "v" * 1000 for i in range(5)})),
        ("tagging", lambda: client.initiate_multipart_upload("k", tagging={f"k{i}": "v" for i in range(11)})),
        ("content_type", lambda: client.initiate_multipart_upload("k", content_type="text/plain\r\nx-evil: 1")),
        ("encryption", lambda: client.initiate_multipart_upload("k", encryption={"x-cos-server-side-encryption-customer-key": "abc"})),
        ("key", lambda: client.initiate_multipart_upload("k\x1a")),
        ("parts", lambda: client.complete_multipart_upload("k", UPLOAD, [])),
        ("parts[1].part_number", lambda: client.complete_multipart_upload("k", UPLOAD, [(2, "a"), (1, "b")])),
        ("pnum_min", lambda: client.complete_multipart_upload("k", UPLOAD, [(1, "a")], pnum_min=-1)),
        ("upload_id", lambda: client.abort_multipart_upload("k", "bad\nid")),
        ("upload_id", lambda: client.list_parts("k", "")),
        ("prefix", lambda: client.list_multipart_uploads(prefix="a\x00")),
        ("content_length", lambda: client.put_object("k", b"abc", content_length=4)),
        ("byte_range", lambda: client.get_object("k", byte_range=(5, 1))),
        ("sse_c", lambda: client.head_object("k", sse_c=SseCos())),
        ("key", lambda: client.delete_object("")),
        ("method", lambda: client.presign("k", method="PATCH")),
        ("expires", lambda: client.presign("k", expires=0)),
    ]


def test_invalid_input_sends_nothing(scripted: ScriptedServer) -> None:
    with make_client(endpoint=scripted.base_url) as client:
        for field, bad in _bad_calls(client):
            with pytest.raises(CosValidationError) as info:
                bad()
            assert info.value.field == field, (field, info.value)
    assert scripted.requests == [] and scripted.connections == 0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"endpoint": "ftp://x"}, "endpoint"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": (1, -1)}, "timeout"),
        ({"pool_size": 0}, "pool_size"),
        ({"retry": 3}, "retry"),
    ],
)
def test_bad_client_settings(kwargs: Dict[str, Any], field: str) -> None:
    with pytest.raises(CosValidationError) as info:
        make_client(**kwargs)
    assert info.value.field == field
    with pytest.raises(CosValidationError):
        CosClient("Bad_Bucket", "ap-guangzhou", CREDS)


def test_list_parts_follows_pages_and_validates_eagerly(scripted: ScriptedServer) -> None:
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("GET", "/k", body=parts_page([1, 2], True, 2))
        scripted.add("GET", "/k", body=parts_page([3], False, 3))
        parts = list(client.list_parts("k", UPLOAD))
        assert [(p.part_number, p.etag, p.size) for p in parts] == [(1, '"e1"', 1), (2, '"e2"', 2), (3, '"e3"', 3)]
        first, second = (request.params for request in scripted.requests)
        assert "part-number-marker" not in first and second["part-number-marker"] == "2"
        assert first["encoding-type"] == "url" and first["uploadId"] == UPLOAD


def test_list_parts_refuses_a_marker_that_does_not_advance(scripted: ScriptedServer) -> None:
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("GET", "/k", body=parts_page([1], True, 1))
        with pytest.raises(CosResponseError, match="does not advance"):
            list(client.list_parts("k", UPLOAD))


def test_list_uploads_follows_pages(scripted: ScriptedServer) -> None:
    page1 = b"<ListMultipartUploadsResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextKeyMarker>a%20b</NextKeyMarker><NextUploadIdMarker>u1</NextUploadIdMarker><Upload><Key>a%20b</Key><UploadId>u1</UploadId></Upload></ListMultipartUploadsResult>"
    page2 = b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated><Upload><Key>c</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>"
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("GET", "/", body=page1)
        scripted.add("GET", "/", body=page2)
        uploads = list(client.list_multipart_uploads(prefix="a"))
        assert [(u.key, u.upload_id) for u in uploads] == [("a b", "u1"), ("c", "u2")]
        second = scripted.requests[1].params
        assert (second["key-marker"], second["upload-id-marker"], second["prefix"]) == ("a b", "u1", "a")


def test_head_get_delete_put(scripted: ScriptedServer) -> None:
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("HEAD", "/k", status=404, headers={"x-cos-request-id": "r404", "x-cos-trace-id": "t404"})
        scripted.add("GET", "/k", body=b"0123456789", status=206, headers={"x-cos-hash-crc64ecma": "1"})
        scripted.add("DELETE", "/k", status=204)
        scripted.add("PUT", "/k", headers={"ETag": '"p"', "x-cos-hash-crc64ecma": "3"})
        with pytest.raises(CosServiceError) as info:
            client.head_object("k", sse_c=SSE)
        assert (info.value.status, info.value.request_id, info.value.trace_id) == (404, "r404", "t404")
        with client.get_object("k", byte_range=(0, 9), sse_c=SSE) as response:
            assert isinstance(response, ObjectStream) and response.status == 206
            assert b"".join(response.iter_chunks(4)) == b"0123456789"
        assert scripted.requests[1].headers["Range"] == "bytes=0-9"
        assert client.delete_object("k").status == 204
        stream = io.BytesIO(b"xxabc")
        stream.seek(2)
        put = client.put_object("k", stream, content_length=3, metadata={"a": "b"})
        assert (put.etag, put.crc64, put.size) == ('"p"', 3, 3)
        assert scripted.requests[3].body == b"abc" and scripted.requests[3].headers["x-cos-meta-a"] == "b"


def test_get_object_error_is_raised(scripted: ScriptedServer) -> None:
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("GET", "/k", status=404, body=b"<Error><Code>NoSuchKey</Code></Error>")
        with pytest.raises(CosServiceError) as info:
            client.get_object("k")
        assert info.value.code == "NoSuchKey"


def test_presign_carries_token_and_verifies() -> None:
    client = make_client()
    url = client.presign("dir/文 件+?.txt", method="put", expires=600)
    parts = urlsplit(url)
    assert parts.path == "/dir/%E6%96%87%20%E4%BB%B6%2B%3F.txt"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert query["x-cos-security-token"] == TOKEN
    assert query["q-sign-time"] == f"{int(NOW) - 60};{int(NOW) + 600}"
    expected = sign(
        CREDS, SignWindow(int(NOW) - 60, int(NOW) + 600), "PUT", unquote(parts.path),
        {"x-cos-security-token": TOKEN}, {"host": "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"},
    )  # fmt: skip
    assert query["q-signature"] == dict(item.split("=", 1) for item in expected.split("&"))["q-signature"]
    assert client.object_url("a b") == f"{BASE}/a%20b"


def test_default_endpoint() -> None:
    client = CosClient("examplebucket-1250000000", "ap-guangzhou", CREDS)
    assert client.object_url("k") == "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/k"


def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COS_SECRET_ID", "AKIDenv")
    monkeypatch.setenv("COS_SECRET_KEY", "envsecret")
    monkeypatch.delenv("COS_SECURITY_TOKEN", raising=False)
    client = CosClient("examplebucket-1250000000", "ap-guangzhou", endpoint=BASE)
    assert "q-ak=AKIDenv" in client.presign("k")


def test_secrets_absent_from_repr_logs_and_errors(scripted: ScriptedServer, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(endpoint=scripted.base_url)
    secrets = (SECRET_KEY, TOKEN, SSE.headers()["x-cos-server-side-encryption-customer-key"])
    assert repr(client) == f"CosClient(bucket='examplebucket-1250000000', region='ap-guangzhou', endpoint='{scripted.base_url}')"
    with caplog.at_level(logging.DEBUG), client:
        scripted.add("PUT", "/k", status=503, body=b"<Error><Code>SlowDown</Code></Error>")
        scripted.add("PUT", "/k", status=403, body=b"<Error><Code>AccessDenied</Code><Message>denied</Message></Error>")
        with pytest.raises(CosServiceError) as info:
            client.upload_part("k", UPLOAD, 1, b"x", sse_c=SSE)
        with pytest.raises(CosValidationError) as invalid:
            client.initiate_multipart_upload("k", encryption={"x-cos-server-side-encryption-customer-algorithm": "AES256", "x-cos-server-side-encryption-customer-key": secrets[2], "x-cos-server-side-encryption-customer-key-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
    texts = [repr(client), str(info.value), repr(info.value), str(invalid.value), caplog.text, repr(SSE), repr(CREDS)]
    assert "retrying PUT" in caplog.text and len(scripted.requests) == 2
    for secret in secrets:
        for text in texts:
            assert secret not in text


def test_complete_accepts_completed_parts_and_tuples(scripted: ScriptedServer) -> None:
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("POST", "/k", body=b"<CompleteMultipartUploadResult><ETag>&quot;x&quot;</ETag></CompleteMultipartUploadResult>")
        client.complete_multipart_upload("k", UPLOAD, [CompletedPart(1, '"a"'), (2, "b")])
        body = scripted.requests[0].body
        assert b'<ETag>"a"</ETag>' in body and b'<ETag>"b"</ETag>' in body


# --- against the local COS server, over real sockets ---------------------------------------------------

TRICKY_KEYS = ["plain.bin", "dir/文件 a+b?c#d%e~f.bin", "a/../b/./c", "sp ace/trailing.", "..."]


@pytest.mark.integration
@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_local_multipart_round_trip(local_cos: Any, key: str) -> None:
    from cos_multipart._protocol.checksum import crc64, crc64_combine

    first, second = bytes(range(256)) * 4096, b"tail-bytes" * 10  # 1 MiB + 100 B
    with local_cos.client() as client:
        upload = client.initiate_multipart_upload(key, metadata={"origin": "test"})
        assert upload.key == key
        with io.BytesIO(b"skip" + first) as stream:
            stream.seek(4)
            part1 = client.upload_part(key, upload.upload_id, 1, stream, content_length=len(first))
        part2 = client.upload_part(key, upload.upload_id, 2, memoryview(second))
        assert (part1.crc64, part2.crc64) == (crc64(first), crc64(second))
        assert [p.part_number for p in client.list_parts(key, upload.upload_id)] == [1, 2]
        assert key in [u.key for u in client.list_multipart_uploads()]
        done = client.complete_multipart_upload(key, upload.upload_id, [part1, part2])
        assert done.crc64 == crc64_combine(crc64(first), crc64(second), len(second)) == crc64(first + second)
        head = client.head_object(key)
        assert head.size == len(first) + len(second) and head.crc64 == done.crc64
        with client.get_object(key, byte_range=(len(first) - 2, None)) as response:
            assert response.content == first[-2:] + second
        presigned = urlsplit(client.presign(key))
        connection = http.client.HTTPConnection(presigned.netloc, timeout=10)  # any client: the URL is all it needs
        try:
            connection.request("GET", f"{presigned.path}?{presigned.query}", headers={"Host": client.endpoint.host})
            response = connection.getresponse()
            assert response.status == 200 and response.read() == first + second
        finally:
            connection.close()
        assert client.delete_object(key).status in (200, 204)
        with pytest.raises(CosServiceError) as info:
            client.head_object(key)
        assert info.value.status == 404 and info.value.request_id


@pytest.mark.integration
def test_local_retries_503_and_connection_reset(local_cos_factory: Any) -> None:
    from cos_multipart.testing import Fault

    server = local_cos_factory(faults=[Fault.error("UploadPart", status=503), Fault.reset("UploadPart", after_bytes=100_000, nth=2)])
    data = b"z" * 1_500_000
    with server.client(retry=RetryPolicy(max_attempts=3, backoff_base=0.01)) as client:
        upload = client.initiate_multipart_upload("k")
        with io.BytesIO(data) as stream:
            part = client.upload_part("k", upload.upload_id, 1, stream, content_length=len(data))
        assert part.size == len(data)
        done = client.complete_multipart_upload("k", upload.upload_id, [part])
        assert done.etag


@pytest.mark.integration
def test_local_abort_and_errors(local_cos: Any) -> None:
    with local_cos.client() as client:
        upload = client.initiate_multipart_upload("gone")
        assert client.abort_multipart_upload("gone", upload.upload_id).status == 204
        with pytest.raises(CosServiceError) as info:
            client.upload_part("gone", upload.upload_id, 1, b"x")
        assert (info.value.status, info.value.code) == (404, "NoSuchUpload")
    with local_cos.client(credentials=Credentials("AKIDexampleid", "wrong-secret")) as client:
        with pytest.raises(CosServiceError) as info:
            client.initiate_multipart_upload("k")
        assert info.value.status == 403


@pytest.mark.integration
def test_local_clock_skew_is_corrected(local_cos_factory: Any) -> None:
    import time

    server = local_cos_factory(clock=lambda: time.time() + 3 * 3600)
    with server.client(retry=RetryPolicy.never()) as client:
        assert client.initiate_multipart_upload("k").upload_id
        assert client.transport.clock_offset == pytest.approx(3 * 3600, abs=5)


@pytest.mark.integration
def test_local_sse_c_part_requires_key(local_cos: Any) -> None:
    with local_cos.client() as client:
        upload = client.initiate_multipart_upload("enc", encryption=SSE)
        part = client.upload_part("enc", upload.upload_id, 1, b"secret data", sse_c=SSE)
        client.complete_multipart_upload("enc", upload.upload_id, [part])
        assert client.head_object("enc", sse_c=SSE).size == len(b"secret data")


def test_list_uploads_refuses_markers_that_do_not_advance(scripted: ScriptedServer) -> None:
    page = b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>a</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker></ListMultipartUploadsResult>"
    with make_client(endpoint=scripted.base_url) as client:
        scripted.add("GET", "/", body=page)
        with pytest.raises(CosResponseError, match="do not advance"):
            list(client.list_multipart_uploads())
