"""Bucket, region and key rules; the host; how keys are encoded on the wire."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cos_multipart._protocol.dialect import DIALECTS
from cos_multipart._protocol.endpoint import Endpoint, encode_key_path, encode_query, strip_query, validate_bucket, validate_key, validate_region
from cos_multipart._protocol.errors import CosValidationError


@pytest.mark.parametrize("bucket", ["examplebucket-1250000000", "a-1", "my-bucket-2-1250000000", "0a9-7"])
def test_valid_buckets(bucket: str) -> None:
    assert validate_bucket(bucket) == bucket


@pytest.mark.parametrize(
    "bucket", ["", "examplebucket", "-bucket-125", "bucket--125".replace("--", "-_"), "Bucket-125", "bucket-", "bucket-12a", "buc.ket-125", None, 5]
)
def test_invalid_buckets_name_field_value_and_rule(bucket: object) -> None:
    with pytest.raises(CosValidationError) as info:
        validate_bucket(bucket)
    assert info.value.field == "bucket"
    assert info.value.value == bucket
    assert "APPID" in info.value.allowed
    assert "bucket" in str(info.value)


def test_region_rule() -> None:
    assert validate_region("ap-guangzhou") == "ap-guangzhou"
    for bad in ("", "AP-Guangzhou", "ap_guangzhou", "ap.guangzhou", None):
        with pytest.raises(CosValidationError) as info:
            validate_region(bad)
        assert info.value.field == "region"


def test_default_host_and_60_character_rule() -> None:
    # The doc's example of a host of exactly 60 characters (436/13312).
    bucket = "123456789012345678901-1250000000"
    endpoint = Endpoint.build(bucket, "ap-beijing")
    assert endpoint.host == f"{bucket}.cos.ap-beijing.myqcloud.com"
    assert len(endpoint.host) == 60
    assert endpoint.base_url == f"https://{bucket}.cos.ap-beijing.myqcloud.com"
    with pytest.raises(CosValidationError) as info:
        Endpoint.build("1" + bucket, "ap-beijing")
    assert "60" in info.value.allowed and info.value.field == "bucket"


def test_http_scheme_for_default_host() -> None:
    assert Endpoint.build("b-1", "ap-guangzhou", scheme="http").base_url == "http://b-1.cos.ap-guangzhou.myqcloud.com"
    with pytest.raises(CosValidationError):
        Endpoint.build("b-1", "ap-guangzhou", scheme="ftp")


VIRTUAL = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"


@pytest.mark.parametrize(
    "given, base, host",
    [
        # An endpoint that does not name the bucket is where to connect; the Host names the bucket.
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000", VIRTUAL),
        ("http://127.0.0.1:80/", "http://127.0.0.1:80", VIRTUAL),
        ("https://cdn.example.com:8443", "https://cdn.example.com:8443", VIRTUAL),
        ("http://[::1]:9000", "http://[::1]:9000", VIRTUAL),
        ("https://cos.ap-guangzhou.myqcloud.com", "https://cos.ap-guangzhou.myqcloud.com", VIRTUAL),
        # One whose host starts with the bucket names it: its own host is sent.
        (f"https://{VIRTUAL}", f"https://{VIRTUAL}", VIRTUAL),
        ("http://ExampleBucket-1250000000.localhost:9000", "http://ExampleBucket-1250000000.localhost:9000",
         "examplebucket-1250000000.localhost:9000"),
        ("http://examplebucket-1250000000:9000", "http://examplebucket-1250000000:9000", "examplebucket-1250000000:9000"),
        ("http://examplebucket-1250000000x.localhost", "http://examplebucket-1250000000x.localhost", VIRTUAL),
    ],
)
def test_endpoint_is_where_to_connect_and_the_host_names_the_bucket(given: str, base: str, host: str) -> None:
    endpoint = Endpoint.build("examplebucket-1250000000", "ap-guangzhou", given)
    assert endpoint.base_url == base
    assert endpoint.host == host
    assert endpoint.bucket_host == ("" if host != VIRTUAL or given.endswith(VIRTUAL) else VIRTUAL)


def test_oss_endpoint_host_names_the_bucket() -> None:
    oss = DIALECTS["oss"]
    assert Endpoint.build("examplebucket", "cn-beijing", "http://127.0.0.1:9000", dialect=oss).host == "examplebucket.oss-cn-beijing.aliyuncs.com"
    internal = Endpoint.build("examplebucket", "cn-beijing", "https://examplebucket.oss-cn-beijing-internal.aliyuncs.com", dialect=oss)
    assert (internal.host, internal.bucket_host) == ("examplebucket.oss-cn-beijing-internal.aliyuncs.com", "")


@pytest.mark.parametrize("given", ["127.0.0.1:9000", "cdn.example.com", "localhost"])
def test_endpoint_without_scheme_is_refused(given: str) -> None:
    # It used to mean https, so a plain-http server failed later with a TLS error.
    with pytest.raises(CosValidationError) as info:
        Endpoint.build("examplebucket-1250000000", "ap-guangzhou", given)
    assert info.value.field == "endpoint" and info.value.value == given
    assert f"http://{given}" in info.value.allowed and f"https://{given}" in info.value.allowed


@pytest.mark.parametrize(
    "given", ["ftp://host", "http://host/path", "http://host?x=1", "http://user:pw@host", "http://ho st", "http://host:99999", "", "http://"]
)
def test_bad_endpoints(given: str) -> None:
    with pytest.raises(CosValidationError) as info:
        Endpoint.parse(given)
    assert info.value.field == "endpoint"


def test_key_rules() -> None:
    assert validate_key("a/b/c.txt") == "a/b/c.txt"
    assert validate_key("x" * 850) == "x" * 850
    assert validate_key("文" * 283) == "文" * 283  # 849 bytes
    cases = {
        "": "non-empty",
        "/lead": "'/'",
        "\\lead": "'/'",
        "a\x18b": "24-27",
        "a\x1bb": "24-27",
        "x" * 851: "850",
        "文" * 284: "850",
        "\ud800": "Unicode",
    }
    for key, fragment in cases.items():
        with pytest.raises(CosValidationError) as info:
            validate_key(key)
        assert info.value.field == "key"
        assert fragment in info.value.allowed
    with pytest.raises(CosValidationError):
        validate_key(None)


@pytest.mark.parametrize(
    "key, path",
    [
        ("exampleobject(腾讯云)", "/exampleobject%28%E8%85%BE%E8%AE%AF%E4%BA%91%29"),
        ("a b+c?d#e%f~g", "/a%20b%2Bc%3Fd%23e%25f~g"),
        ("dir/sub/file.txt", "/dir/sub/file.txt"),
        ("dir//x", "/dir//x"),
        ("a/../b", "/a/%2E%2E/b"),
        ("./x", "/%2E/x"),
        ("..", "/%2E%2E"),
        ("a/.../b", "/a/.../b"),
        ("a/./b/..", "/a/%2E/b/%2E%2E"),
        ("x/..y/.z", "/x/..y/.z"),
        ("folder/", "/folder/"),
        ("*!'();:@&=$,", "/%2A%21%27%28%29%3B%3A%40%26%3D%24%2C"),
    ],
)
def test_key_path_encoding_round_trips(key: str, path: str) -> None:
    assert encode_key_path(key) == path
    assert unquote(path)[1:] == key


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["", ".", "..", "...", "a", "é", " ", "%", "+", "~", "a.b", "文件"]), min_size=1, max_size=6))
def test_the_whole_key_quoted_at_once_equals_each_segment_quoted(segments: list) -> None:  # type: ignore[type-arg]
    key = "/".join(segments)
    expected = "/" + "/".join("%2E" * len(s) if s in (".", "..") else quote(s, safe="-_.~") for s in segments)
    assert encode_key_path(key) == expected


def test_url_and_query() -> None:
    endpoint = Endpoint.parse("http://127.0.0.1:9000")
    assert endpoint.url("a b", [("partNumber", "1"), ("uploadId", "x+y")]) == "http://127.0.0.1:9000/a%20b?partNumber=1&uploadId=x%2By"
    assert endpoint.url("", [("uploads", None), ("prefix", "dir/")]) == "http://127.0.0.1:9000/?uploads&prefix=dir%2F"
    assert encode_query([]) == ""
    assert urlsplit(endpoint.url("k")).query == ""


def test_strip_query() -> None:
    assert strip_query("https://h/k?q-signature=abc&x-cos-security-token=T#f") == "https://h/k"


def test_oss_endpoint_kinds() -> None:
    from cos_multipart._protocol.endpoint import oss_endpoint

    assert oss_endpoint("examplebucket", "cn-hangzhou") == "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
    assert oss_endpoint("examplebucket", "cn-hangzhou", "internal") == "https://examplebucket.oss-cn-hangzhou-internal.aliyuncs.com"
    assert oss_endpoint("examplebucket", "cn-hangzhou", "dualstack", scheme="http") == "http://examplebucket.cn-hangzhou.oss.aliyuncs.com"
    assert oss_endpoint("examplebucket", "cn-hangzhou", "accelerate") == "https://examplebucket.oss-accelerate.aliyuncs.com"
    for bad in ({"bucket": "Bad_Bucket"}, {"kind": "vpc"}, {"scheme": "ftp"}):
        arguments = {"bucket": "examplebucket", "region": "cn-hangzhou", "kind": "public", "scheme": "https", **bad}
        with pytest.raises(CosValidationError) as caught:
            oss_endpoint(arguments["bucket"], arguments["region"], arguments["kind"], scheme=arguments["scheme"])
        assert caught.value.field == next(iter(bad))
    # A client on the internal endpoint signs for the bucket's region and sends virtual-host style.
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials

    with CosClient("examplebucket", "cn-hangzhou", Credentials("LTAIid", "secret"), dialect="oss",
                   endpoint=oss_endpoint("examplebucket", "cn-hangzhou", "internal")) as client:  # fmt: skip
        assert client.object_url("k") == "https://examplebucket.oss-cn-hangzhou-internal.aliyuncs.com/k"


@pytest.mark.parametrize("asynchronous", [False, True])
def test_clients_refuse_an_endpoint_without_scheme(asynchronous: bool) -> None:
    # CosClient assumed https (then failed with a TLS error against a plain-http server); the CLI refused it.
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.credentials import Credentials

    if asynchronous:
        pytest.importorskip("aiohttp")
        from cos_multipart.aio import AsyncCosClient

        make = AsyncCosClient
    else:
        make = CosClient  # type: ignore[assignment]
    with pytest.raises(CosValidationError) as info:
        make("examplebucket-1250000000", "ap-guangzhou", Credentials("id", "secret"), endpoint="127.0.0.1:9000")
    assert (info.value.field, info.value.value) == ("endpoint", "127.0.0.1:9000")
    assert "http://127.0.0.1:9000 or https://127.0.0.1:9000" in str(info.value)
