"""The dialect seam: COS unchanged, OSS's names, signer, limits, endpoints, errors and credentials."""

from __future__ import annotations

import base64
import calendar

import pytest

from cos_multipart._protocol import operations
from cos_multipart._io._attempts import signed_headers
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.dialect import COS, OSS, Dialect, dialect_of
from cos_multipart._protocol.endpoint import Endpoint
from cos_multipart._protocol.errors import CosServiceError, CosValidationError
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._core.planner import plan_parts
from cos_multipart._protocol.sse import SseC, SseCos, SseKms

KEYS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
T = calendar.timegm((2024, 1, 15, 8, 30, 0))
OSS_ENDPOINT = Endpoint.build("examplebucket", "cn-hangzhou", dialect=OSS)


def test_dialect_of_names_and_values() -> None:
    assert dialect_of(None) is COS and dialect_of("OSS") is OSS and dialect_of(OSS) is OSS
    with pytest.raises(CosValidationError) as info:
        dialect_of("s3")
    assert info.value.field == "dialect" and "cos, oss" in info.value.allowed


def test_cos_to_wire_is_identity() -> None:
    headers = {"x-cos-traffic-limit": "819200", "Content-Length": "3"}
    assert COS.to_wire(headers) == headers
    answer = {"x-cos-request-id": "r"}
    assert COS.from_wire(answer) is answer


def test_oss_default_host_and_custom_endpoint() -> None:
    assert OSS_ENDPOINT.host == "examplebucket.oss-cn-hangzhou.aliyuncs.com"
    assert OSS_ENDPOINT.bucket == "examplebucket" and OSS_ENDPOINT.region == "cn-hangzhou"
    custom = Endpoint.build("examplebucket", "cn-hangzhou", "http://127.0.0.1:9000", dialect=OSS)
    assert custom.base_url == "http://127.0.0.1:9000" and custom.dialect is OSS
    with pytest.raises(CosValidationError, match="3 to 63"):
        Endpoint.build("Bad_Bucket", "cn-hangzhou", dialect=OSS)


def test_oss_upload_part_is_signed_v4_with_x_oss_headers() -> None:
    call = operations.prepare_upload_part("multipart.data", "0004B9895DBBB6EC98E36", 1, b"x" * 102400, traffic_limit=819200)
    headers = signed_headers(call, KEYS, OSS_ENDPOINT, T, 900)
    assert headers["x-oss-traffic-limit"] == "819200" and "x-cos-traffic-limit" not in headers
    assert headers["x-oss-date"] == "20240115T083000Z" and headers["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert headers["Authorization"].startswith(
        "OSS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=host,Signature="
    )
    assert headers["Host"] == "examplebucket.oss-cn-hangzhou.aliyuncs.com"


@pytest.mark.parametrize("dialect", [COS, OSS])
def test_a_custom_endpoint_request_sends_and_signs_the_bucket_host(dialect: Dialect) -> None:
    # An IP endpoint used to be sent (and signed) as the Host: the server could only guess the bucket.
    bucket = "examplebucket" if dialect is OSS else "examplebucket-1250000000"
    endpoint = Endpoint.build(bucket, "cn-hangzhou", "http://127.0.0.1:9000", dialect=dialect)
    headers = signed_headers(operations.prepare_abort("k", "U"), KEYS, endpoint, T, 900)
    assert headers["Host"] == dialect.host_template.format(bucket=bucket, region="cn-hangzhou")
    signed = "q-header-list=host" if dialect is COS else "AdditionalHeaders=host"
    assert signed in headers["Authorization"]


def test_oss_sts_token_header() -> None:
    call = operations.prepare_abort("k", "U")
    headers = signed_headers(call, Credentials("STS.X", "sk", "tok"), OSS_ENDPOINT, T, 900)
    assert headers["x-oss-security-token"] == "tok" and "x-cos-security-token" not in headers


def test_oss_initiate_renames_acl_sse_kms_and_storage_class() -> None:
    options = ObjectOptions(acl="private", encryption=SseKms("key-1"), storage_class="STANDARD_IA", metadata={"author": "alice"})
    wire = OSS.to_wire(dict(operations.prepare_initiate("k", options).headers))
    assert wire["x-oss-object-acl"] == "private"
    assert wire["x-oss-server-side-encryption"] == "KMS"
    assert wire["x-oss-server-side-encryption-key-id"] == "key-1"
    assert wire["x-oss-storage-class"] == "IA"
    assert wire["x-oss-meta-author"] == "alice"
    assert OSS.to_wire(dict(operations.prepare_initiate("k", ObjectOptions(encryption=SseCos())).headers))["x-oss-server-side-encryption"] == "AES256"


def test_oss_refuses_sse_c_and_size_guards_before_sending() -> None:
    call = operations.prepare_upload_part("k", "U", 1, b"x", sse_c=SseC(b"k" * 32))
    with pytest.raises(CosValidationError, match="OSS does not have"):
        signed_headers(call, KEYS, OSS_ENDPOINT, T, 900)
    with pytest.raises(CosValidationError, match="x-cos-psize-min"):
        OSS.to_wire(dict(operations.prepare_upload_part("k", "U", 1, b"x", psize_min=1).headers))


def test_oss_answers_are_read_through_neutral_names() -> None:
    answer = OSS.from_wire({"ETag": '"ABC"', "x-oss-hash-crc64ecma": "5", "x-oss-request-id": "RID"})
    part = operations.parse_upload_part(200, answer, b"", part_number=1, size=3)
    assert part.crc64 == 5 and part.response.request_id == "RID"
    assert part.response.headers["x-oss-request-id"] == "RID"  # the service's own names are kept


def test_oss_error_body_and_ec() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooSmall</Code><Message>Your proposed upload is '
        b"smaller than the minimum allowed size.</Message><RequestId>5C3D9175B6FC201293AD****</RequestId>"
        b"<HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId><EC>0042-00000213</EC></Error>"
    )
    headers = OSS.from_wire({"x-oss-request-id": "5C3D9175B6FC201293AD****", "x-oss-ec": "0042-00000213"})
    with pytest.raises(CosServiceError) as info:
        operations.parse_complete(400, headers, body)
    error = info.value
    assert (error.code, error.ec, error.request_id) == ("EntityTooSmall", "0042-00000213", "5C3D9175B6FC201293AD****")
    assert error.host_id == "examplebucket.oss-cn-hangzhou.aliyuncs.com"


def test_oss_head_error_from_x_oss_err() -> None:
    xml = b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><EC>0026-00000001</EC></Error>"
    headers = OSS.from_wire({"x-oss-err": base64.b64encode(xml).decode(), "x-oss-ec": "0026-00000001", "x-oss-request-id": "R"})
    with pytest.raises(CosServiceError) as info:
        operations.parse_head_object(404, headers, b"", key="k")
    assert (info.value.code, info.value.ec, info.value.request_id) == ("NoSuchKey", "0026-00000001", "R")


def test_part_limits_come_from_the_dialect() -> None:
    assert plan_parts(1_000_000, 100 * 1024, min_part_size=OSS.min_part_size).count == 10
    with pytest.raises(CosValidationError):
        plan_parts(1_000_000, 100 * 1024, min_part_size=COS.min_part_size)


def test_oss_client_reads_oss_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COS_SECRET_ID", raising=False)
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAIX")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "secret")
    monkeypatch.setenv("OSS_SESSION_TOKEN", "tok")
    with CosClient("examplebucket", "cn-hangzhou", dialect="oss") as client:
        creds = client.transport.credentials()
        assert (creds.secret_id, creds.token) == ("LTAIX", "tok")
        assert client.endpoint.host == "examplebucket.oss-cn-hangzhou.aliyuncs.com"
        url = client.presign("dir/k 1", expires=600)
        assert url.startswith("https://examplebucket.oss-cn-hangzhou.aliyuncs.com/dir/k%201?")
        assert "x-oss-signature-version=OSS4-HMAC-SHA256" in url and "x-oss-security-token=tok" in url
        assert "secret" not in url
        with pytest.raises(CosValidationError) as info:
            client.presign("k", expires=8 * 86400)
        assert info.value.field == "expires" and "7 days" in info.value.allowed


def test_key_length_is_the_services_and_refused_before_signing() -> None:
    cos = CosClient("examplebucket-1250000000", "ap-guangzhou", KEYS)
    oss = CosClient("examplebucket", "cn-hangzhou", KEYS, dialect="oss")
    assert oss.object_url("k" * 1023).endswith("k" * 1023)  # OSS names run to 1023 bytes
    for client, longest in ((cos, 850), (oss, 1023)):
        client.object_url("x" * longest)
        with pytest.raises(CosValidationError) as info:
            client.object_url("x" * (longest + 1))
        assert info.value.field == "key" and f"at most {longest} bytes" in info.value.allowed
    # The builders are dialect-neutral (they allow the longest key of any service); signing for COS refuses.
    call = operations.prepare_upload_part("x" * 900, "upload-1", 1, b"data")
    with pytest.raises(CosValidationError, match="at most 850 bytes in UTF-8 for COS"):
        signed_headers(call, KEYS, cos.endpoint, T, 600)
    assert "Authorization" in signed_headers(call, KEYS, oss.endpoint, T, 600)
