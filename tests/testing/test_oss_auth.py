"""The local server's OSS V4 verifier against the reference's worked vectors [oss-api 2].

Each vector is the request the official SDK signed; the verifier must accept it as sent and reject it when
any signed part changes. The verifier is the server's own (cos_multipart.testing.oss_auth), written from the
reference; nothing here uses the client's signer.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import time
from typing import Callable, Dict, Optional, Tuple

import pytest

from cos_multipart._protocol.credentials import Credentials
from cos_multipart.testing.auth import AuthError, Keyring
from cos_multipart.testing.oss_auth import (
    SignedRequest,
    canonical_request,
    signing_key,
    verify_v4,
)

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
STS_AK, TOKEN = "STS.NUEXAMPLE", "CAIS+token/with=chars"
BUCKET, UID, DATE = "examplebucket", "0004B9895DBBB6EC98E36", "20240115T083000Z"
SCOPE = "20240115/cn-hangzhou/oss/aliyun_v4_request"
HOST = "examplebucket.oss-cn-hangzhou.aliyuncs.com"
KEYRING = Keyring([Credentials(AK, SK), Credentials(STS_AK, SK, TOKEN)])
Params = Tuple[Tuple[str, str], ...]


def at(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")))


def header_request(
    method: str, key: str, params: Params, headers: Dict[str, str], signature: str, *,
    ak: str = AK, date: str = DATE, additional: str = "", bucket: str = BUCKET,
) -> SignedRequest:
    scope = f"{date[:8]}/cn-hangzhou/oss/aliyun_v4_request"
    fields = [f"Credential={ak}/{scope}"] + ([f"AdditionalHeaders={additional}"] if additional else [])
    fields.append(f"Signature={signature}")
    sent = {name.lower(): value for name, value in headers.items()}
    sent.update({"x-oss-date": date, "x-oss-content-sha256": "UNSIGNED-PAYLOAD", "authorization": "OSS4-HMAC-SHA256 " + ",".join(fields)})
    return SignedRequest(method, bucket, key, params, sent)


def presigned_request(key: str, params: Params, signature: str, *, headers: Optional[Dict[str, str]] = None) -> SignedRequest:
    return SignedRequest("GET", BUCKET, key, params + (("x-oss-signature", signature),), headers or {})


V1 = header_request(
    "PUT", "multipart.data", (("partNumber", "1"), ("uploadId", UID)),
    {"Content-Length": "102400", "Content-MD5": "Id3A5MFYYp+2G8/gu0wgxg=="},
    "883fc0ef501ae3b8c2a0fcdc063a440140998ab9770c3292a4dab1553469545f",
)
V2 = header_request(
    "POST", "multipart.data", (("uploads", ""), ("encoding-type", "url")),
    {"Content-Type": "application/octet-stream", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
     "x-oss-server-side-encryption": "AES256", "x-oss-meta-author": "alice", "x-oss-storage-class": "Standard"},
    "d4ebf8c44e4488c905cbff25fe38c93f0c5dcaaeab06b4717a80dba92a3c3c27",
)
V3 = header_request(
    "POST", "multipart.data", (("uploadId", UID), ("encoding-type", "url")),
    {"Content-Type": "application/xml", "Content-Length": "176", "Content-MD5": "0+p/dYuWJrxtrpNnFY7lgw==",
     "x-oss-forbid-overwrite": "true"},
    "24305f3e42d74f75765275b6d45b7e2a83b66ce6482c64a69be8568c1d67edb7",
)
V4 = header_request(
    "GET", "dir one/文件 a+b%20c~(1).txt",
    (("uploadId", UID), ("encoding-type", "url"), ("max-parts", "2"), ("part-number-marker", "1"), ("prefix", "a/b c+")),
    {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
    "e551c593d10c3cedcfb3f01c79c4e423ea60ec89e99609b93e0623ce159b18bc",
)
V5 = dataclasses.replace(
    header_request(
        "PUT", "multipart.data", (("partNumber", "2"), ("uploadId", UID)), {"Content-Length": "5"},
        "770da871853299b6ad3d4c99b511e7c1e497f9faa22488f4e709914b5b2f7eea", ak=STS_AK,
    ),
)
V5 = dataclasses.replace(V5, headers={**V5.headers, "x-oss-security-token": TOKEN})
V6 = presigned_request(
    "photos/my cat+1.jpg",
    (("x-oss-signature-version", "OSS4-HMAC-SHA256"), ("x-oss-date", DATE), ("x-oss-expires", "3600"),
     ("x-oss-credential", f"{AK}/{SCOPE}")),
    "012194df18815902b71faf279a692a397b10899c7bfdc750a8456fd81b2a339f",
)
V7 = presigned_request(
    "photos/my cat+1.jpg",
    (("response-content-disposition", "attachment; filename=a.jpg"), ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
     ("x-oss-date", DATE), ("x-oss-expires", "900"), ("x-oss-credential", f"{STS_AK}/{SCOPE}"),
     ("x-oss-security-token", TOKEN)),
    "c12e6e654a34e08baeb546e2ddff428f0b5ef7f7859f35169c365c1762897538",
)
V8 = header_request(
    "GET", "multipart.data", (), {"Host": HOST, "Range": "bytes=0-99"},
    "ca6e970fd2e40180b8b30c92cd732ab0a623efbbe0fb5b3f8cf7e954b25cbb51", additional="host;range",
)
V9 = header_request(
    "PUT", "multipart.data", (("partNumber", "1"), ("uploadId", UID)), {"Content-Length": "3", "Host": "127.0.0.1:9000"},
    "5fdda009702e0fa37545b44764550f4ca5c0a898549a9ab59e0d87174668576d",
)
V10 = header_request("GET", "", (), {}, "063312a72fbc5217e6bf08d199226f8ff8b5b22cd02f902f78de18ebc62aef63", bucket="")

HEADER_VECTORS = {"V1": V1, "V2": V2, "V3": V3, "V4": V4, "V5": V5, "V8": V8, "V9": V9, "V10": V10}
PRESIGNED_VECTORS = {"V6": V6, "V7": V7}


@pytest.mark.parametrize("name", sorted(HEADER_VECTORS))
def test_header_vectors_are_accepted(name: str) -> None:
    credentials = verify_v4(HEADER_VECTORS[name], KEYRING, at(DATE) + 60, region="cn-hangzhou")
    assert credentials.secret_id in (AK, STS_AK)


@pytest.mark.parametrize("name", sorted(PRESIGNED_VECTORS))
def test_presigned_vectors_are_accepted(name: str) -> None:
    verify_v4(PRESIGNED_VECTORS[name], KEYRING, at(DATE) + 600, region="cn-hangzhou")


def test_canonical_requests_match_the_reference() -> None:
    v1 = (
        "PUT\n/examplebucket/multipart.data\npartNumber=1&uploadId=0004B9895DBBB6EC98E36\n"
        "content-md5:Id3A5MFYYp+2G8/gu0wgxg==\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240115T083000Z\n\n\n"
        "UNSIGNED-PAYLOAD"
    )
    assert canonical_request(V1, (), in_query=False) == v1
    v4 = canonical_request(V4, (), in_query=False)
    assert hashlib.sha256(v4.encode()).hexdigest() == "9aa587c24702bbe5b9a4fea322bb0abdbacf0662ec4bab71c3008032017ffc30"
    v7 = canonical_request(V7, (), in_query=True)
    assert hashlib.sha256(v7.encode()).hexdigest() == "f605472455bab47ccbd90bf114604c745c4701c112b205074b291cba51e52938"


def test_documentation_example_d1() -> None:
    when = "20250411T064124Z"
    request = header_request(
        "PUT", "exampleobject", (),
        {"Content-Disposition": "attachment", "Content-Length": "3", "Content-MD5": "ICy5YqxZB1uWSwcVLSNLcA==",
         "Content-Type": "text/plain"},
        "d3694c2dfc5371ee6acd35e88c4871ac95a7ba01d3a2f476768fe61218590097",
        ak="LTAI****************", date=when, additional="content-disposition;content-length",
    )
    canonical = canonical_request(request, ("content-disposition", "content-length"), in_query=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == "c46d96390bdbc2d739ac9363293ae9d710b14e48081fcb22cd8ad54b63136eca"
    assert signing_key("yourAccessKeySecret", "20250411", "cn-hangzhou").hex() == (
        "8a01ff4efcc65ca2cbc75375045c61ab5f3fa8b9a2d84f0add27ef16a25feb3c"
    )
    keyring = Keyring([Credentials("LTAI****************", "yourAccessKeySecret")])
    verify_v4(request, keyring, at(when), region="cn-hangzhou")


def test_presigned_d2_with_host_signed() -> None:
    when = "20241203T032307Z"
    request = presigned_request(
        "exampleobject",
        (("x-oss-signature-version", "OSS4-HMAC-SHA256"), ("x-oss-date", when), ("x-oss-expires", "86400"),
         ("x-oss-credential", "testid/20241203/cn-hangzhou/oss/aliyun_v4_request"), ("x-oss-additional-headers", "host")),
        "a9ad2ce702a93c7c36ace35dd4e1b80cb76a999c890d7dfe78ff342a23dac8e0",
        headers={"host": HOST},
    )
    verify_v4(request, Keyring([Credentials("testid", "yourAccessKeySecret")]), at(when) + 3600, region="cn-hangzhou")


def test_sdk_unit_vector_u1_odd_query_keys() -> None:
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(1702743657))
    params = (("param1", "value1"), ("+param1", "value3"), ("|param1", "value4"), ("+param2", ""), ("|param2", ""), ("param2", ""))
    request = header_request(
        "PUT", "1234+-/123/1.txt", params,
        {"x-oss-head1": "value", "abc": "value", "ZAbc": "value", "XYZ": "value", "content-type": "text/plain"},
        "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe", ak="ak", date=when, bucket="bucket",
    )
    verify_v4(request, Keyring([Credentials("ak", "sk")]), 1702743657, region="cn-hangzhou")


def _with_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    return dataclasses.replace(request, headers={**request.headers, name: value})


ALTERATIONS: Dict[str, Callable[[SignedRequest], SignedRequest]] = {
    "method": lambda r: dataclasses.replace(r, method="POST"),
    "bucket": lambda r: dataclasses.replace(r, bucket="otherbucket"),
    "key": lambda r: dataclasses.replace(r, key="multipart.datb"),
    "param value": lambda r: dataclasses.replace(r, params=(("partNumber", "2"), ("uploadId", UID))),
    "param added": lambda r: dataclasses.replace(r, params=r.params + (("x", "1"),)),
    "content-md5": lambda r: _with_header(r, "content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    "x-oss header added": lambda r: _with_header(r, "x-oss-meta-a", "b"),
    "content-type added": lambda r: _with_header(r, "content-type", "text/plain"),
    "signature": lambda r: _with_header(r, "authorization", r.headers["authorization"][:-1] + "0"),
}


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_any_signed_change_is_rejected(alteration: str) -> None:
    altered = ALTERATIONS[alteration](V1)
    with pytest.raises(AuthError) as excinfo:
        verify_v4(altered, KEYRING, at(DATE), region="cn-hangzhou")
    assert (excinfo.value.code, excinfo.value.status, excinfo.value.ec) == ("SignatureDoesNotMatch", 403, "0002-00000201")
    assert dict(excinfo.value.details)["StringToSign"].startswith("OSS4-HMAC-SHA256\n")


def test_unsigned_header_change_is_accepted() -> None:
    verify_v4(_with_header(V1, "content-length", "7"), KEYRING, at(DATE), region="cn-hangzhou")
    verify_v4(_with_header(V8, "user-agent", "x"), KEYRING, at(DATE), region="cn-hangzhou")


def test_additional_header_change_is_rejected() -> None:
    with pytest.raises(AuthError, match="does not match"):
        verify_v4(_with_header(V8, "range", "bytes=0-98"), KEYRING, at(DATE), region="cn-hangzhou")


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(AuthError) as excinfo:
        verify_v4(V1, Keyring([Credentials(AK, SK + "x")]), at(DATE), region="cn-hangzhou")
    assert excinfo.value.code == "SignatureDoesNotMatch"


def test_unknown_key_and_missing_token() -> None:
    with pytest.raises(AuthError) as excinfo:
        verify_v4(V1, Keyring([]), at(DATE), region="cn-hangzhou")
    assert (excinfo.value.code, excinfo.value.status) == ("InvalidAccessKeyId", 403)
    without_token = dataclasses.replace(V5, headers={k: v for k, v in V5.headers.items() if k != "x-oss-security-token"})
    with pytest.raises(AuthError) as excinfo:
        verify_v4(without_token, KEYRING, at(DATE), region="cn-hangzhou")
    assert excinfo.value.code == "InvalidAccessKeyId"


@pytest.mark.parametrize("offset", [-15 * 60 - 1, 15 * 60 + 1])
def test_skew_beyond_15_minutes(offset: int) -> None:
    with pytest.raises(AuthError) as excinfo:
        verify_v4(V1, KEYRING, at(DATE) + offset, region="cn-hangzhou")
    assert (excinfo.value.code, excinfo.value.status) == ("RequestTimeTooSkewed", 403)


@pytest.mark.parametrize("offset", [-15 * 60, 15 * 60])
def test_skew_within_15_minutes(offset: int) -> None:
    verify_v4(V1, KEYRING, at(DATE) + offset, region="cn-hangzhou")


def test_presigned_url_expires() -> None:
    verify_v4(V6, KEYRING, at(DATE) + 3600, region="cn-hangzhou")
    with pytest.raises(AuthError, match="Request has expired") as excinfo:
        verify_v4(V6, KEYRING, at(DATE) + 3601, region="cn-hangzhou")
    assert excinfo.value.code == "AccessDenied"


def test_region_must_match() -> None:
    with pytest.raises(AuthError) as excinfo:
        verify_v4(V1, KEYRING, at(DATE), region="cn-beijing")
    assert excinfo.value.ec == "0002-00000226"


def test_authorization_fields_in_any_order_with_spaces() -> None:
    # oss2 writes ", " between the fields and AdditionalHeaders last [oss-api 1.6].
    signature = "ca6e970fd2e40180b8b30c92cd732ab0a623efbbe0fb5b3f8cf7e954b25cbb51"
    oss2_style = f"OSS4-HMAC-SHA256 Credential={AK}/{SCOPE}, Signature={signature}, AdditionalHeaders=host;range"
    verify_v4(_with_header(V8, "authorization", oss2_style), KEYRING, at(DATE), region="cn-hangzhou")


@pytest.mark.parametrize(
    ("header", "value", "ec"),
    [
        ("x-oss-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "0002-00000214"),
        ("x-oss-date", "Mon, 15 Jan 2024 08:30:00 GMT", "0002-00000502"),
        ("authorization", f"OSS4-HMAC-SHA256 Credential={AK}/2024-01-15/cn-hangzhou/oss/aliyun_v4_request,Signature=00", "0002-00000212"),
        ("authorization", f"OSS4-HMAC-SHA256 Credential={AK}/20240115/cn-hangzhou/s3/aws4_request,Signature=00", "0002-00000213"),
    ],
)
def test_malformed_signatures(header: str, value: str, ec: str) -> None:
    with pytest.raises(AuthError) as excinfo:
        verify_v4(_with_header(V1, header, value), KEYRING, at(DATE), region="cn-hangzhou")
    assert (excinfo.value.code, excinfo.value.status, excinfo.value.ec) == ("InvalidArgument", 400, ec)


def test_no_signature_or_v1_is_access_denied() -> None:
    anonymous = SignedRequest("GET", BUCKET, "k", (), {})
    v1 = _with_header(anonymous, "authorization", "OSS AKIDEXAMPLE:c2lnbmF0dXJl")
    for request in (anonymous, v1):
        with pytest.raises(AuthError) as excinfo:
            verify_v4(request, KEYRING, at(DATE), region="cn-hangzhou")
        assert excinfo.value.code == "AccessDenied"
