"""The OSS V4 signer against every worked vector of oss-api.md section 2 (byte for byte)."""

from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import random
from typing import Dict, List, Optional, Tuple
from urllib.parse import quote, urlencode

import pytest

from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.oss_signer import (
    canonical_request,
    encode_query,
    presign_query,
    sign_headers,
    signing_key,
    string_to_sign,
)

AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
KEYS = Credentials(AK, SK)
STS = Credentials("STS.NUEXAMPLE", SK, "CAIS+token/with=chars")
BUCKET, UID, REGION = "examplebucket", "0004B9895DBBB6EC98E36", "cn-hangzhou"
T = calendar.timegm((2024, 1, 15, 8, 30, 0))
HOST = "examplebucket.oss-cn-hangzhou.aliyuncs.com"
EMPTY_MD5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>'
    b'<ETag>"3349DC700140D7F86A0784842780****"</ETag></Part></CompleteMultipartUpload>'
)
Params = List[Tuple[str, Optional[str]]]


def md5b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def signed(
    method: str, key: Optional[str], params: Params, headers: Dict[str, str], *, creds: Credentials = KEYS,
    now: float = T, bucket: Optional[str] = BUCKET, additional: Tuple[str, ...] = (),
) -> Tuple[str, str, str]:
    """(canonical request, sha256 of it, Authorization) as the signer makes them."""
    out = sign_headers(creds, method=method, bucket=bucket, key=key, params=params, headers=headers, region=REGION, now=now, additional=additional)
    request = canonical_request(method, bucket, key, params, out, additional)
    return request, hashlib.sha256(request.encode()).hexdigest(), out["Authorization"]


def test_signing_key_of_the_common_day() -> None:
    assert signing_key(SK, "20240115", REGION).hex() == "a4f59e9a336b61da584b28c6e4bad7f1ecc13157d1751bcf029dd4079a464f1f"


def test_d1_documentation_example() -> None:
    headers = {"Content-Disposition": "attachment", "Content-Length": "3", "Content-MD5": "ICy5YqxZB1uWSwcVLSNLcA==", "Content-Type": "text/plain"}
    creds = Credentials("LTAI****************", "yourAccessKeySecret")
    now = calendar.timegm((2025, 4, 11, 6, 41, 24))
    request, digest, auth = signed("PUT", "exampleobject", [], headers, creds=creds, now=now, additional=("content-disposition", "content-length"))
    assert request == (
        "PUT\n/examplebucket/exampleobject\n\ncontent-disposition:attachment\ncontent-length:3\n"
        "content-md5:ICy5YqxZB1uWSwcVLSNLcA==\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n"
        "x-oss-date:20250411T064124Z\n\ncontent-disposition;content-length\nUNSIGNED-PAYLOAD"
    )
    assert digest == "c46d96390bdbc2d739ac9363293ae9d710b14e48081fcb22cd8ad54b63136eca"
    assert signing_key("yourAccessKeySecret", "20250411", REGION).hex() == "8a01ff4efcc65ca2cbc75375045c61ab5f3fa8b9a2d84f0add27ef16a25feb3c"
    assert auth == (
        "OSS4-HMAC-SHA256 Credential=LTAI****************/20250411/cn-hangzhou/oss/aliyun_v4_request,"
        "AdditionalHeaders=content-disposition;content-length,"
        "Signature=d3694c2dfc5371ee6acd35e88c4871ac95a7ba01d3a2f476768fe61218590097"
    )


def test_d2_presign_with_additional_host() -> None:
    creds = Credentials("testid", "yourAccessKeySecret")
    query = presign_query(creds, method="GET", bucket=BUCKET, key="exampleobject", params=[], region=REGION, now=1733196187, expires=86400, headers={"Host": HOST}, additional=("host",))
    assert f"https://{HOST}/exampleobject?" + encode_query(query) == (
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/exampleobject?x-oss-signature-version=OSS4-HMAC-SHA256"
        "&x-oss-date=20241203T032307Z&x-oss-expires=86400&x-oss-credential=testid%2F20241203%2Fcn-hangzhou%2Foss%2F"
        "aliyun_v4_request&x-oss-additional-headers=host"
        "&x-oss-signature=a9ad2ce702a93c7c36ace35dd4e1b80cb76a999c890d7dfe78ff342a23dac8e0"
    )
    request = canonical_request("GET", BUCKET, "exampleobject", query[:-1], {"Host": HOST}, ("host",))
    assert hashlib.sha256(request.encode()).hexdigest() == "ce3490cfd9a5131e6f3cbd4399e7c74ee26183a6d0da7e743d402fff2b0c8c76"


def test_v1_upload_part() -> None:
    request, digest, auth = signed("PUT", "multipart.data", [("partNumber", "1"), ("uploadId", UID)], {"Content-Length": "102400", "Content-MD5": md5b64(b"x" * 102400)})
    assert request == (
        "PUT\n/examplebucket/multipart.data\npartNumber=1&uploadId=0004B9895DBBB6EC98E36\ncontent-md5:Id3A5MFYYp+2G8/gu0wgxg==\n"
        "x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240115T083000Z\n\n\nUNSIGNED-PAYLOAD"
    )
    assert digest == "a04a407b8342d192e74447728a3738da390edf124d5175face46290a422665f0"
    assert auth == (
        "OSS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/cn-hangzhou/oss/aliyun_v4_request,"
        "Signature=883fc0ef501ae3b8c2a0fcdc063a440140998ab9770c3292a4dab1553469545f"
    )


def test_v2_initiate() -> None:
    headers = {"Content-Type": "application/octet-stream", "Content-MD5": EMPTY_MD5, "x-oss-server-side-encryption": "AES256", "x-oss-meta-author": "alice", "x-oss-storage-class": "Standard"}
    request, digest, auth = signed("POST", "multipart.data", [("uploads", ""), ("encoding-type", "url")], headers)
    assert request == (
        "POST\n/examplebucket/multipart.data\nencoding-type=url&uploads\ncontent-md5:1B2M2Y8AsgTpgAmY7PhCfg==\n"
        "content-type:application/octet-stream\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240115T083000Z\n"
        "x-oss-meta-author:alice\nx-oss-server-side-encryption:AES256\nx-oss-storage-class:Standard\n\n\nUNSIGNED-PAYLOAD"
    )
    assert digest == "74d86aedddbf2e247b6f2d480dd7e75affcb9749beefde819874d118bb3d766e"
    assert auth.endswith(",Signature=d4ebf8c44e4488c905cbff25fe38c93f0c5dcaaeab06b4717a80dba92a3c3c27")
    # ?uploads= and ?uploads sign the same
    assert signed("POST", "multipart.data", [("uploads", None), ("encoding-type", "url")], headers)[2] == auth


def test_v3_complete() -> None:
    assert len(XML) == 176
    headers = {"Content-Type": "application/xml", "Content-Length": "176", "Content-MD5": md5b64(XML), "x-oss-forbid-overwrite": "true"}
    request, digest, auth = signed("POST", "multipart.data", [("uploadId", UID), ("encoding-type", "url")], headers)
    assert "content-md5:0+p/dYuWJrxtrpNnFY7lgw==\n" in request
    assert digest == "2c3d0fd21d183f337c1b8a77691ec8919dc9ce67086fc7579848b88a4431e7ec"
    assert auth.endswith(",Signature=24305f3e42d74f75765275b6d45b7e2a83b66ce6482c64a69be8568c1d67edb7")


def test_v4_awkward_key_and_paging_query() -> None:
    params: Params = [("uploadId", UID), ("encoding-type", "url"), ("max-parts", "2"), ("part-number-marker", "1"), ("prefix", "a/b c+")]
    request, digest, auth = signed("GET", "dir one/文件 a+b%20c~(1).txt", params, {"Content-MD5": EMPTY_MD5})
    assert request.split("\n")[1:3] == [
        "/examplebucket/dir%20one/%E6%96%87%E4%BB%B6%20a%2Bb%2520c~%281%29.txt",
        "encoding-type=url&max-parts=2&part-number-marker=1&prefix=a%2Fb%20c%2B&uploadId=0004B9895DBBB6EC98E36",
    ]
    assert digest == "9aa587c24702bbe5b9a4fea322bb0abdbacf0662ec4bab71c3008032017ffc30"
    assert auth.endswith(",Signature=e551c593d10c3cedcfb3f01c79c4e423ea60ec89e99609b93e0623ce159b18bc")


def test_v5_upload_part_with_sts_token() -> None:
    request, digest, auth = signed("PUT", "multipart.data", [("partNumber", "2"), ("uploadId", UID)], {"Content-Length": "5"}, creds=STS)
    assert "x-oss-security-token:CAIS+token/with=chars\n" in request
    assert digest == "8c6b456a2c4786a497b6222b1c5d2a4ea05db3af6e6059a0884c9feb799749ab"
    assert auth == (
        "OSS4-HMAC-SHA256 Credential=STS.NUEXAMPLE/20240115/cn-hangzhou/oss/aliyun_v4_request,"
        "Signature=770da871853299b6ad3d4c99b511e7c1e497f9faa22488f4e709914b5b2f7eea"
    )


def test_v6_presigned_get() -> None:
    query = presign_query(KEYS, method="GET", bucket=BUCKET, key="photos/my cat+1.jpg", params=[], region=REGION, now=T, expires=3600)
    assert encode_query(query) == (
        "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20240115T083000Z&x-oss-expires=3600"
        "&x-oss-credential=AKIDEXAMPLE%2F20240115%2Fcn-hangzhou%2Foss%2Faliyun_v4_request"
        "&x-oss-signature=012194df18815902b71faf279a692a397b10899c7bfdc750a8456fd81b2a339f"
    )
    request = canonical_request("GET", BUCKET, "photos/my cat+1.jpg", query[:-1], {})
    assert hashlib.sha256(request.encode()).hexdigest() == "a83cffadf93d6c6da80f85d509479e32b81ff6a8ca83d5b844870ce5ab2845f2"


def test_v7_presigned_get_with_sts_and_response_param() -> None:
    params: Params = [("response-content-disposition", "attachment; filename=a.jpg")]
    query = presign_query(STS, method="GET", bucket=BUCKET, key="photos/my cat+1.jpg", params=params, region=REGION, now=T, expires=900)
    assert encode_query(query) == (
        "response-content-disposition=attachment%3B%20filename%3Da.jpg&x-oss-signature-version=OSS4-HMAC-SHA256"
        "&x-oss-date=20240115T083000Z&x-oss-expires=900"
        "&x-oss-credential=STS.NUEXAMPLE%2F20240115%2Fcn-hangzhou%2Foss%2Faliyun_v4_request"
        "&x-oss-security-token=CAIS%2Btoken%2Fwith%3Dchars"
        "&x-oss-signature=c12e6e654a34e08baeb546e2ddff428f0b5ef7f7859f35169c365c1762897538"
    )
    request = canonical_request("GET", BUCKET, "photos/my cat+1.jpg", query[:-1], {})
    assert hashlib.sha256(request.encode()).hexdigest() == "f605472455bab47ccbd90bf114604c745c4701c112b205074b291cba51e52938"


def test_v8_additional_headers() -> None:
    request, digest, auth = signed("GET", "multipart.data", [], {"Host": HOST, "Range": "bytes=0-99"}, additional=("host", "range"))
    assert digest == "9ce899927391d3046a2667f15fb4f32f23c01c95e6276889059eb05ff601f2d0"
    assert auth == (
        "OSS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=host;range,"
        "Signature=ca6e970fd2e40180b8b30c92cd732ab0a623efbbe0fb5b3f8cf7e954b25cbb51"
    )


def test_v9_path_style_signs_the_logical_uri() -> None:
    _, digest, auth = signed("PUT", "multipart.data", [("partNumber", "1"), ("uploadId", UID)], {"Content-Length": "3"})
    assert digest == "46f234d676d367c7629963a48ed95f216262a06b42edf255879b58b4ee984c8b"
    assert auth.endswith(",Signature=5fdda009702e0fa37545b44764550f4ca5c0a898549a9ab59e0d87174668576d")


def test_v10_no_bucket() -> None:
    request, digest, auth = signed("GET", None, [], {}, bucket=None)
    assert request == "GET\n/\n\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240115T083000Z\n\n\nUNSIGNED-PAYLOAD"
    assert digest == "97389b1eb86949d75ef5698145cecb1bcf3a404d4a61857ae5aaece55d41858a"
    assert auth.endswith(",Signature=063312a72fbc5217e6bf08d199226f8ff8b5b22cd02f902f78de18ebc62aef63")


SDK_PARAMS: Params = [("param1", "value1"), ("+param1", "value3"), ("|param1", "value4"), ("+param2", None), ("|param2", None), ("param2", None)]
SDK_HEADERS = {"x-oss-head1": "value", "abc": "value", "ZAbc": "value", "XYZ": "value"}


@pytest.mark.parametrize(
    ("now", "token", "additional", "expected"),
    [
        (1702743657, None, (), "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"),
        (1702784856, "token", (), "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"),
        (1702747512, None, ("ZAbc", "abc"), "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"),
    ],
)
def test_sdk_unit_vectors_header_form(now: int, token: Optional[str], additional: Tuple[str, ...], expected: str) -> None:
    creds = Credentials("ak", "sk", token)
    headers = {**SDK_HEADERS, "content-type": "text/plain", "x-oss-content-sha256": "UNSIGNED-PAYLOAD"}
    out = sign_headers(creds, method="PUT", bucket="bucket", key="1234+-/123/1.txt", params=SDK_PARAMS, headers=headers, region=REGION, now=now, additional=additional)
    assert out["Authorization"].endswith("Signature=" + expected)
    if additional:
        assert ",AdditionalHeaders=abc;zabc," in out["Authorization"]
    if now == 1702743657:
        assert canonical_request("PUT", "bucket", "1234+-/123/1.txt", SDK_PARAMS, out) == (
            "PUT\n/bucket/1234%2B-/123/1.txt\n%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n"
            "content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
        )


@pytest.mark.parametrize(
    ("now", "token", "expected"),
    [
        (1702781677, None, "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe"),
        (1702785388, "token", "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5"),
    ],
)
def test_sdk_unit_vectors_query_form(now: int, token: Optional[str], expected: str) -> None:
    creds = Credentials("ak", "sk", token)
    headers = {**SDK_HEADERS, "content-type": "application/octet-stream"}
    query = presign_query(creds, method="PUT", bucket="bucket", key="1234+-/123/1.txt", params=SDK_PARAMS, region=REGION, now=now, expires=599, headers=headers)
    assert query[-1] == ("x-oss-signature", expected)


def test_string_to_sign_has_four_lines_and_no_trailing_newline() -> None:
    text = string_to_sign("20240115T083000Z", REGION, "x")
    assert text.count("\n") == 3 and not text.endswith("\n")


def test_presign_refuses_more_than_seven_days() -> None:
    with pytest.raises(ValueError, match="604800"):
        presign_query(KEYS, method="GET", bucket=BUCKET, key="k", params=[], region=REGION, now=T, expires=604801)


_ALPHABET = "abcXYZ019 -_.~/+=&?%#!*'()[]{}:;@,$文件ñ\u00e9"


def _random_text(rng: "random.Random", longest: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, longest)))


def test_random_requests_sign_as_the_official_sdk_signs_them() -> None:
    """Differential: 300 random requests (methods, keys with reserved and non-ASCII characters, query
    parameters with and without values, signed and unsigned headers, STS tokens, times) get the same
    Authorization from this signer as from the official SDK's (``alibabacloud_oss_v2.signer.v4``)."""
    sdk = pytest.importorskip("alibabacloud_oss_v2")
    from alibabacloud_oss_v2.signer.v4 import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext

    rng = random.Random(20261201)
    for _ in range(300):
        method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
        bucket = rng.choice(["examplebucket", "a-b-c", "bucket123"])
        key = _random_text(rng, 40).lstrip("/") or "k"
        params = {_random_text(rng, 8): rng.choice(["", _random_text(rng, 12)]) for _ in range(rng.randint(0, 4))}
        headers = {"content-type": rng.choice(["text/plain", "application/octet-stream"])}
        if rng.random() < 0.5:
            headers["content-md5"] = "1B2M2Y8AsgTpgAmY7PhCfg=="
        for _ in range(rng.randint(0, 3)):
            headers[f"x-oss-meta-{rng.choice(['a', 'owner', 'x1'])}"] = _random_text(rng, 10).strip() or "v"
        headers["x-unsigned"] = "not signed unless additional"
        additional = rng.choice([(), ("x-unsigned",)])
        token = rng.choice([None, "sts-token-" + str(rng.getrandbits(64))])
        now = rng.randint(1_600_000_000, 1_900_000_000)
        url = f"http://{bucket}.oss-{REGION}.aliyuncs.com/{quote(key)}"
        query = urlencode(params, quote_via=quote)  # how the SDK's client writes a request's query
        request = HttpRequest(method=method, url=url + ("?" + query if query else ""), headers=dict(headers))
        context = SigningContext(
            product="oss", region=REGION, bucket=bucket, key=key, request=request,
            credentials=sdk.credentials.Credentials("LTAIak", "secret/key+", token),
            signing_time=datetime.datetime.fromtimestamp(now, datetime.timezone.utc),
            additional_headers=set(additional),
        )  # fmt: skip
        SignerV4().sign(context)
        ours = sign_headers(
            Credentials("LTAIak", "secret/key+", token), method=method, bucket=bucket, key=key,
            params=list(params.items()), headers=headers, region=REGION, now=now, additional=additional,
        )  # fmt: skip
        assert ours["Authorization"] == request.headers["Authorization"], (method, key, params, headers)
