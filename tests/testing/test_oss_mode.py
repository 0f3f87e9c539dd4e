"""The local server's OSS mode: where the bucket is named, the x-oss-* vocabulary at the edge, OSS errors
(EC, HostId, bodiless HEAD errors with x-oss-err), OSS's rules, the CLI flag. Raw HTTP where the wire
matters; requests are signed with the reference's algorithm through cos_multipart._protocol.oss_signer only as a
tool (the server's own verifier is tested against the reference's vectors in test_oss_auth.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Dict, Optional, Tuple

import pytest
import requests
from lxml import etree
from urllib.parse import quote

from cos_multipart._cli import server as _cli_server
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.oss_signer import sign_headers
from cos_multipart.testing import LocalCOS
from cos_multipart.testing import oss_protocol
from cos_multipart.testing.protocol import ServiceError
from cos_multipart.testing.pytest_plugin import LocalCOSFactory
from cos_multipart.testing.server_dialect import COS, OSS, server_dialect


@pytest.fixture
def server(local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(dialect="oss")


def send(server: LocalCOS, method: str, key: str, *, params: Tuple[Tuple[str, str], ...] = (), headers: Optional[Dict[str, str]] = None,
         data: bytes = b"", path_style: bool = True, host: Optional[str] = None, bucket: Optional[str] = None) -> requests.Response:
    sent = dict(headers or {})
    signed = sign_headers(server.credentials, method=method, bucket=bucket or server.bucket, key=key or None, params=params,
                          headers=sent, region=server.region, now=time.time())  # fmt: skip
    if host is not None:
        signed["Host"] = host
    path = (f"/{server.bucket}/" if path_style else "/") + quote(key, safe="/")
    query = "&".join(f"{name}={quote(value, safe='')}" if value else name for name, value in params)
    url = f"{server.endpoint}{path}" + (f"?{query}" if query else "")
    return requests.request(method, url, headers=signed, data=data, timeout=30)


def error_of(body: bytes) -> Dict[str, str]:
    return {child.tag: child.text or "" for child in etree.fromstring(body)}


def initiate(server: LocalCOS, key: str, headers: Optional[Dict[str, str]] = None) -> str:
    response = send(server, "POST", key, params=(("uploads", ""),), headers=headers)
    assert response.status_code == 200, response.text
    match = re.search(r"<UploadId>(\w+)</UploadId>", response.text)
    assert match
    return match.group(1)


# --- pure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("127.0.0.1:9000", "/examplebucket/a/b", ("examplebucket", "cn-hangzhou", "a/b")),
        ("127.0.0.1:9000", "/examplebucket", ("examplebucket", "cn-hangzhou", "")),
        ("127.0.0.1:9000", "/a/b", ("examplebucket", "cn-hangzhou", "a/b")),
        ("localhost", "/k", ("examplebucket", "cn-hangzhou", "k")),
        ("other-bucket.oss-cn-beijing.aliyuncs.com", "/examplebucket/k", ("other-bucket", "cn-beijing", "examplebucket/k")),
        ("bk1.oss-cn-shanghai-internal.aliyuncs.com", "/k", ("bk1", "cn-shanghai", "k")),
        ("bk1.cn-shenzhen.oss.aliyuncs.com", "/k", ("bk1", "cn-shenzhen", "k")),
        ("bk1.localhost:9000", "/k", ("bk1", "cn-hangzhou", "k")),
        ("files.example.com", "/k", ("examplebucket", "cn-hangzhou", "k")),
    ],
)
def test_where_the_bucket_is_named(host: str, path: str, expected: Tuple[str, str, str]) -> None:
    assert oss_protocol.locate(host, path, "examplebucket", "cn-hangzhou") == expected


def test_inbound_renames_checks_and_drops_cos_headers() -> None:
    internal = oss_protocol.inbound({
        "x-oss-meta-owner": "a", "x-oss-server-side-encryption": "KMS", "x-oss-server-side-encryption-key-id": "k1",
        "x-oss-storage-class": "IA", "x-oss-forbid-overwrite": "true", "x-cos-meta-sneaky": "b", "content-type": "t",
        "x-oss-object-acl": "public-read-write",
    })  # fmt: skip
    assert internal == {
        "x-cos-meta-owner": "a", "x-cos-server-side-encryption": "cos/kms",
        "x-cos-server-side-encryption-cos-kms-key-id": "k1", "x-cos-storage-class": "STANDARD_IA",
        "x-cos-forbid-overwrite": "true", "content-type": "t",
    }  # fmt: skip
    for headers, status in (({"x-oss-server-side-encryption": "cos/kms"}, 400), ({"x-oss-server-side-encryption": "SM4"}, 501),
                            ({"x-oss-storage-class": "STANDARD_IA"}, 400), ({"x-oss-object-acl": "authenticated-read"}, 400)):
        with pytest.raises(ServiceError) as excinfo:
            oss_protocol.inbound(headers)
        assert excinfo.value.status == status


def test_outbound_speaks_oss() -> None:
    assert oss_protocol.outbound([
        ("x-cos-server-side-encryption", "cos/kms"), ("x-cos-server-side-encryption-cos-kms-key-id", "k1"),
        ("x-cos-storage-class", "DEEP_ARCHIVE"), ("x-cos-meta-a", "b"), ("Content-Type", "t"),
    ]) == (
        ("x-oss-server-side-encryption", "KMS"), ("x-oss-server-side-encryption-key-id", "k1"),
        ("x-oss-storage-class", "DeepColdArchive"), ("x-oss-meta-a", "b"), ("Content-Type", "t"),
    )  # fmt: skip


def test_the_dialect_is_validated() -> None:
    assert server_dialect("OSS") is OSS and server_dialect("cos") is COS
    with pytest.raises(CosValidationError, match="dialect"):
        LocalCOS(dialect="s3")
    with pytest.raises(CosValidationError, match="3-63"):
        LocalCOS(dialect="oss", bucket="examplebucket-1250000000_")
    LocalCOS(dialect="oss", bucket="ab-c")
    with pytest.raises(CosValidationError, match="appid"):
        LocalCOS(bucket="examplebucket")  # COS names keep their APPID


# --- over the wire ------------------------------------------------------------------------------------


def test_virtual_hosted_and_path_style_reach_the_same_object(server: LocalCOS) -> None:
    assert send(server, "PUT", "k.txt", data=b"hello").status_code == 200
    virtual = send(server, "GET", "k.txt", path_style=False, host="examplebucket.oss-cn-hangzhou.aliyuncs.com")
    assert virtual.content == b"hello"
    ip_host = send(server, "GET", "k.txt", path_style=False)
    assert ip_host.content == b"hello"


def test_error_body_and_headers(server: LocalCOS) -> None:
    response = send(server, "GET", "missing")
    assert response.status_code == 404
    fields = error_of(response.content)
    assert list(fields) == ["Code", "Message", "RequestId", "HostId", "EC", "RecommendDoc"]
    assert (fields["Code"], fields["EC"], fields["HostId"]) == ("NoSuchKey", "0026-00000001", f"127.0.0.1:{server.port}")
    assert fields["RequestId"] == response.headers["x-oss-request-id"]
    assert response.headers["x-oss-ec"] == "0026-00000001" and "x-cos-trace-id" not in response.headers


def test_head_errors_have_no_body_but_x_oss_err(server: LocalCOS) -> None:
    response = send(server, "HEAD", "missing")
    assert response.status_code == 404 and response.content == b""
    assert error_of(base64.b64decode(response.headers["x-oss-err"]))["Code"] == "NoSuchKey"


def test_a_bucket_not_held_is_no_such_bucket_and_put_bucket_makes_it(server: LocalCOS) -> None:
    host = "other-bucket.oss-cn-hangzhou.aliyuncs.com"
    missing = send(server, "PUT", "k", data=b"x", path_style=False, host=host, bucket="other-bucket")
    fields = error_of(missing.content)
    assert (missing.status_code, fields["Code"], fields["BucketName"]) == (404, "NoSuchBucket", "other-bucket")
    assert send(server, "PUT", "", path_style=False, host=host, bucket="other-bucket").status_code == 200  # PutBucket
    again = send(server, "PUT", "", path_style=False, host=host, bucket="other-bucket")
    assert (again.status_code, error_of(again.content)["Code"]) == (409, "BucketAlreadyExists")
    assert "other-bucket" in server.buckets


def test_signature_mismatch_shows_what_the_server_signed(server: LocalCOS) -> None:
    signed = sign_headers(server.credentials, method="GET", bucket=server.bucket, key="k", params=(), headers={},
                          region=server.region, now=time.time())  # fmt: skip
    response = requests.get(f"{server.endpoint}/{server.bucket}/other", headers=signed, timeout=30)
    fields = error_of(response.content)
    assert (response.status_code, fields["Code"], fields["EC"]) == (403, "SignatureDoesNotMatch", "0002-00000201")
    assert fields["CanonicalRequest"].startswith("GET\n/examplebucket/other\n")
    assert server.credentials.secret_key not in response.text


def test_cos_signatures_are_not_accepted(server: LocalCOS) -> None:
    from cos_multipart._protocol.signer import CosAuth

    response = requests.get(f"{server.endpoint}/{server.bucket}/k", auth=CosAuth(server.credentials), timeout=30)
    assert (response.status_code, error_of(response.content)["Code"]) == (403, "AccessDenied")


def test_skewed_clock_is_refused(local_cos_factory: LocalCOSFactory) -> None:
    server = local_cos_factory(dialect="oss", clock=lambda: time.time() + 16 * 60)
    response = send(server, "GET", "k")
    assert (response.status_code, error_of(response.content)["Code"]) == (403, "RequestTimeTooSkewed")


def test_content_md5_mismatch_is_invalid_digest(server: LocalCOS) -> None:
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = send(server, "PUT", "k", data=b"data", headers={"Content-MD5": wrong})
    assert (response.status_code, error_of(response.content)["Code"]) == (400, "InvalidDigest")


def test_part_etags_are_upper_case_md5_and_complete_answers_at_once(server: LocalCOS) -> None:
    upload_id = initiate(server, "k")
    part = send(server, "PUT", "k", params=(("partNumber", "1"), ("uploadId", upload_id)), data=b"abc")
    assert part.headers["ETag"] == f'"{hashlib.md5(b"abc").hexdigest().upper()}"'
    assert part.headers["x-oss-hash-crc64ecma"] == "3231342946509354535"
    body = f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part.headers['ETag']}</ETag></Part></CompleteMultipartUpload>"
    done = send(server, "POST", "k", params=(("encoding-type", "url"), ("uploadId", upload_id)), data=body.encode())
    assert done.status_code == 200 and done.content.startswith(b"<?xml")  # no keep-alive whitespace on OSS
    assert "chunked" not in done.headers.get("Transfer-Encoding", "")
    assert done.headers["ETag"].endswith('-1"') and done.headers["x-oss-hash-crc64ecma"] == "3231342946509354535"
    assert b"<EncodingType>url</EncodingType>" in done.content


def test_cos_headers_are_ignored_as_oss_would(server: LocalCOS) -> None:
    assert send(server, "PUT", "k", data=b"x", headers={"x-cos-meta-a": "b", "x-oss-meta-c": "d"}).status_code == 200
    head = send(server, "HEAD", "k")
    assert head.headers["x-oss-meta-c"] == "d" and "x-oss-meta-a" not in head.headers and "x-cos-meta-a" not in head.headers
    assert head.headers["x-oss-object-type"] == "Normal"


def test_complete_all_needs_an_empty_body(server: LocalCOS) -> None:
    upload_id = initiate(server, "k")
    send(server, "PUT", "k", params=(("partNumber", "1"), ("uploadId", upload_id)), data=b"abc")
    response = send(server, "POST", "k", params=(("uploadId", upload_id),), headers={"x-oss-complete-all": "yes"}, data=b"<x/>")
    assert (response.status_code, error_of(response.content)["EC"]) == (400, "0042-00000216")


def test_invalid_part_order(server: LocalCOS) -> None:
    upload_id = initiate(server, "k")
    etags = [send(server, "PUT", "k", params=(("partNumber", str(n)), ("uploadId", upload_id)), data=b"x" * 102400).headers["ETag"] for n in (1, 2)]
    body = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etags[n - 1]}</ETag></Part>" for n in (2, 1))
    response = send(server, "POST", "k", params=(("uploadId", upload_id),), data=f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode())
    assert (response.status_code, error_of(response.content)["Code"], response.headers["x-oss-ec"]) == (400, "InvalidPartOrder", "0042-00000209")


def test_list_parts_carries_each_part_crc(server: LocalCOS) -> None:
    upload_id = initiate(server, "k")
    send(server, "PUT", "k", params=(("partNumber", "1"), ("uploadId", upload_id)), data=b"abc")
    listed = send(server, "GET", "k", params=(("uploadId", upload_id),))
    assert b"<HashCrc64ecma>3231342946509354535</HashCrc64ecma>" in listed.content and b"<Owner>" not in listed.content


def test_keys_up_to_1023_bytes(server: LocalCOS) -> None:
    assert send(server, "PUT", "k" * 1023, data=b"x").status_code == 200
    assert send(server, "PUT", "k" * 1024, data=b"x").status_code == 400


def test_serve_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAIexample")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "oss-secret")
    credentials, source = _cli_server.serve_credentials(None, None, "oss")
    assert (credentials.secret_id, source) == ("LTAIexample", "environment")
