"""The signer against every test vector of the reference (section 1.10) and its edge cases."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.signer import (
    CosAuth,
    SignWindow,
    canonical_pairs,
    host_header,
    http_string,
    presign_url,
    select_headers,
    sign,
    sign_key,
    signature,
    string_to_sign,
    url_encode,
)

DOC = Credentials("AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q", "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz")
BEIJING = "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
UPLOAD_ID = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"


def window(text: str) -> SignWindow:
    start, end = text.split(";")
    return SignWindow(int(start), int(end))


def test_vector_a_doc_put_with_unicode_path() -> None:
    headers = {
        "Date": "Thu, 16 May 2019 06:45:51 GMT",
        "Host": BEIJING,
        "Content-Type": "text/plain",
        "Content-Length": "13",
        "Content-MD5": "mQ/fVh815F3k6TAUm8m0eg==",
        "x-cos-acl": "private",
        "x-cos-grant-read": 'uin="100000000011"',
    }
    w = window("1557989151;1557996351")
    assert sign_key(DOC.secret_key, w) == "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"
    names, joined = canonical_pairs(headers.items())
    assert names == "content-length;content-md5;content-type;date;host;x-cos-acl;x-cos-grant-read"
    assert joined == (
        "content-length=13&content-md5=mQ%2FfVh815F3k6TAUm8m0eg%3D%3D&content-type=text%2Fplain"
        "&date=Thu%2C%2016%20May%202019%2006%3A45%3A51%20GMT&host=" + BEIJING
        + "&x-cos-acl=private&x-cos-grant-read=uin%3D%22100000000011%22"
    )
    http = http_string("PUT", "/exampleobject(腾讯云)", {}, headers)
    assert string_to_sign(w, http) == "sha1\n1557989151;1557996351\n8b2751e77f43a0995d6e9eb9477f4b685cca4172\n"
    assert signature(DOC.secret_key, w, "PUT", "/exampleobject(腾讯云)", {}, headers) == (
        "3b8851a11a569213c17ba8fa7dcf2abec6935172"
    )


def test_vector_b_doc_get_with_params() -> None:
    w = window("1557989753;1557996953")
    params = {"response-content-type": "application/octet-stream", "response-cache-control": "max-age=600"}
    headers = {"Date": "Thu, 16 May 2019 06:55:53 GMT", "Host": BEIJING}
    assert sign_key(DOC.secret_key, w) == "937914bf490e9e8c189836aad2052e4feeb35eaf"
    assert canonical_pairs(params.items()) == (
        "response-cache-control;response-content-type",
        "response-cache-control=max-age%3D600&response-content-type=application%2Foctet-stream",
    )
    auth = sign(DOC, w, "GET", "/exampleobject(腾讯云)", params, headers)
    assert "q-header-list=date;host&q-url-param-list=response-cache-control;response-content-type" in auth
    assert auth.endswith("&q-signature=01681b8c9d798a678e43b685a9f1bba0f6c0e012")


def test_vector_c_legacy_range_request() -> None:
    headers = {"host": "bucket1-1254000000.cos.ap-beijing.myqcloud.com", "range": "bytes=0-3"}
    assert http_string("GET", "/testfile", {}, headers) == (
        "get\n/testfile\n\nhost=bucket1-1254000000.cos.ap-beijing.myqcloud.com&range=bytes%3D0-3\n"
    )
    sig = signature(DOC.secret_key, window("1417773892;1417853898"), "GET", "/testfile", {}, headers)
    assert sig == "4b6cbab14ce01381c29032423481ebffd514e8be"


def test_vector_d_go_sdk_full_header() -> None:
    creds = Credentials("QmFzZTY0IGlzIGEgZ2VuZXJp", "AKIDZfbOA78asKUYBcXFrJD0a1ICvR98JM")
    headers = {
        "Host": "testbucket-125000000.cos.ap-guangzhou.myqcloud.com",
        "x-cos-content-sha1": "db8ac1c259eb89d4a131b253bacfca5f319d54f2",
        "x-cos-stroage-class": "nearline",
    }
    assert sign(creds, window("1480932292;1481012292"), "PUT", "/testfile2", {}, headers) == (
        "q-sign-algorithm=sha1&q-ak=QmFzZTY0IGlzIGEgZ2VuZXJp&q-sign-time=1480932292;1481012292"
        "&q-key-time=1480932292;1481012292&q-header-list=host;x-cos-content-sha1;x-cos-stroage-class"
        "&q-url-param-list=&q-signature=ce4ac0ecbcdb30538b3fee0a97cc6389694ce53a"
    )


def test_vector_e_upload_part() -> None:
    w = window("1585130834;1585138034")
    params = {"partNumber": "1", "uploadId": UPLOAD_ID}
    headers = {"content-length": "1048576", "content-md5": "OScKloo1fSQgfpkRFiUH6w==", "host": BEIJING}
    assert sign_key(DOC.secret_key, w) == "f177479898d5dc340e32d885a591a6254f7bb3b5"
    http = http_string("PUT", "/exampleobject", params, headers)
    assert http.split("\n")[2] == f"partnumber=1&uploadid={UPLOAD_ID}"
    assert string_to_sign(w, http).split("\n")[2] == "ab2d1012b63374e082dba01e9547f5f4e62a15ee"
    auth = sign(DOC, w, "PUT", "/exampleobject", params, headers)
    assert "q-header-list=content-length;content-md5;host&q-url-param-list=partnumber;uploadid&" in auth
    assert auth.endswith("q-signature=f03556d3961ca3b9a25bba3e82a70c4186d67f6b")


def test_vector_f_initiate_with_security_token() -> None:
    w = window("1585130821;1585138021")
    headers = {
        "content-length": "0",
        "content-type": "video/mp4",
        "host": BEIJING,
        "x-cos-security-token": "TOKEN123",
    }
    http = http_string("POST", "/exampleobject", {"uploads": None}, headers)
    assert http.split("\n")[2] == "uploads="
    assert http.split("\n")[3] == f"content-length=0&content-type=video%2Fmp4&host={BEIJING}&x-cos-security-token=TOKEN123"
    assert string_to_sign(w, http).split("\n")[2] == "8281deb79d89989dfb33a5cdfeadcd758d17a1ba"
    assert signature(DOC.secret_key, w, "POST", "/exampleobject", {"uploads": ""}, headers) == (
        "e72c8d9d8d73b98504dd9b682189e994c7125b8b"
    )


def test_vector_g_unicode_space_and_reserved_characters() -> None:
    w = window("1700000000;1700003600")
    params = {"Prefix": "a/b c", "max-keys": "10", "versions": None}
    headers = {"host": BEIJING, "X-Cos-Meta-Foo": "Hello World!*'()"}
    http = http_string("GET", "/a b/文件(1).txt", params, headers)
    assert http == (
        "get\n/a b/文件(1).txt\nmax-keys=10&prefix=a%2Fb%20c&versions=\n"
        f"host={BEIJING}&x-cos-meta-foo=Hello%20World%21%2A%27%28%29\n"
    )
    auth = sign(DOC, w, "GET", "/a b/文件(1).txt", params, headers)
    assert "q-header-list=host;x-cos-meta-foo&q-url-param-list=max-keys;prefix;versions&" in auth
    assert auth.endswith("q-signature=7ef072d6038b21ce903c98cb95f82f0c8a37f5a4")


def test_authorization_has_the_seven_fields_in_order() -> None:
    auth = sign(DOC, window("1;2"), "GET", "/", {}, {})
    names = [item.split("=", 1)[0] for item in auth.split("&")]
    assert names == [
        "q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list",
        "q-signature",
    ]
    assert "q-header-list=&q-url-param-list=&" in auth


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a b", "a%20b"),
        ("/", "%2F"),
        ("*", "%2A"),
        ("~-_.", "~-_."),
        ("+", "%2B"),
        ("文", "%E6%96%87"),
        ("!\"#$%&'()", "%21%22%23%24%25%26%27%28%29"),
    ],
)
def test_url_encode_keeps_only_the_unreserved_set(raw: str, encoded: str) -> None:
    assert url_encode(raw) == encoded


def test_encoded_names_are_lowercased_including_escapes() -> None:
    names, joined = canonical_pairs([("X-Cos-Meta-É", "É")])
    assert names == "x-cos-meta-%c3%89"
    assert joined == "x-cos-meta-%c3%89=%C3%89"


def test_window_starts_in_the_past_and_rejects_an_empty_window() -> None:
    w = SignWindow.around(1_000_000.7, expires=600)
    assert (w.start, w.end) == (1_000_000 - 60, 1_000_600)
    with pytest.raises(ValueError):
        SignWindow(5, 5)


def test_select_headers_keeps_standard_and_cos_headers_only() -> None:
    chosen = select_headers(
        {"Content-Type": "a", "X-COS-ACL": "private", "x-ci-x": "1", "User-Agent": "u", "Accept": "*/*"}
    )
    assert chosen == {"content-type": "a", "x-cos-acl": "private", "x-ci-x": "1"}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://b-1.cos.r.myqcloud.com/k", "b-1.cos.r.myqcloud.com"),
        ("https://b-1.cos.r.myqcloud.com:443/k", "b-1.cos.r.myqcloud.com"),
        ("http://127.0.0.1:9000/k", "127.0.0.1:9000"),
        ("http://[::1]:9000/k", "[::1]:9000"),
        ("http://h:80/", "h"),
    ],
)
def test_host_header_matches_what_http_clients_send(url: str, host: str) -> None:
    assert host_header(url) == host


def test_cos_auth_signs_decoded_path_params_and_token() -> None:
    creds = Credentials("AKIDx", "secret", token="TOK")
    request = requests.Request(
        "PUT",
        "http://127.0.0.1:9000/a%20b/%E6%96%87%2B.txt",
        params={"partNumber": "3", "uploadId": "u p"},
        data=b"hello",
        headers={"X-Cos-Meta-A": "1", "User-Agent": "ua"},
    ).prepare()
    CosAuth(creds, clock=lambda: 1_700_000_000).__call__(request)
    assert request.headers["x-cos-security-token"] == "TOK"
    fields = dict(item.split("=", 1) for item in request.headers["Authorization"].split("&"))
    assert fields["q-header-list"] == "content-length;host;x-cos-meta-a;x-cos-security-token"
    assert fields["q-url-param-list"] == "partnumber;uploadid"
    expected = signature(
        "secret",
        SignWindow(1_700_000_000 - 60, 1_700_003_600),
        "PUT",
        "/a b/文+.txt",
        {"partNumber": "3", "uploadId": "u p"},
        {"content-length": "5", "host": "127.0.0.1:9000", "x-cos-meta-a": "1", "x-cos-security-token": "TOK"},
    )
    assert fields["q-signature"] == expected


def test_presigned_url_carries_signed_token_and_reproduces_the_sdk_example() -> None:
    creds = Credentials(DOC.secret_id, DOC.secret_key, token="TOKEN123")
    url = presign_url(
        creds,
        f"https://{BEIJING}/exampleobject?partNumber=1&uploadId=abc",
        method="PUT",
        window=SignWindow(1700000000, 1700003600),
    )
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert query["x-cos-security-token"] == "TOKEN123"
    assert query["q-sign-time"] == "1700000000;1700003600"
    assert query["q-url-param-list"] == "partnumber;uploadid;x-cos-security-token"
    assert query["q-header-list"] == "host"
    # The reference's presigned URL for these inputs was produced by the official Python SDK [ref 1.8].
    assert query["q-signature"] == "cbaa22b172b770e74d2e23bef2a03f17ae4f7fb1"
    assert url.startswith(f"https://{BEIJING}/exampleobject?q-sign-algorithm=sha1&q-ak=")


def test_secrets_are_not_in_reprs() -> None:
    creds = Credentials("AKIDvisible", "SECRETKEYVALUE", token="TOKENVALUE")
    for text in (repr(creds), str(creds), repr(CosAuth(creds))):
        assert "SECRETKEYVALUE" not in text and "TOKENVALUE" not in text


# --- the validity of pre-signed URLs is bounded: 7 days (COS documents none, OSS's is 7 days) -------------

SEVEN_DAYS = 7 * 24 * 3600


@pytest.mark.parametrize("expires", [10**12, SEVEN_DAYS + 1, 0, -5, 1.5, True, "3600"])
def test_presign_expires_out_of_range_is_refused(expires: object) -> None:
    from cos_multipart._protocol.errors import CosValidationError
    from cos_multipart._protocol.signer import presign_expires

    with pytest.raises(CosValidationError) as caught:
        presign_expires(expires)
    assert caught.value.field == "expires" and caught.value.value == expires
    assert caught.value.allowed == "an integer from 1 to 604800 seconds (7 days)"


def test_presign_expires_within_range() -> None:
    from cos_multipart._protocol.limits import MAX_PRESIGN_EXPIRES
    from cos_multipart._protocol.signer import presign_expires

    assert MAX_PRESIGN_EXPIRES == SEVEN_DAYS
    assert [presign_expires(value) for value in (1, 3600, SEVEN_DAYS)] == [1, 3600, SEVEN_DAYS]


def test_presign_url_refuses_a_window_longer_than_seven_days() -> None:
    from cos_multipart._protocol.errors import CosValidationError

    url = f"https://{BEIJING}/exampleobject"
    assert "q-sign-time" in presign_url(DOC, url, window=SignWindow.around(1_700_000_000, SEVEN_DAYS))
    with pytest.raises(CosValidationError) as caught:
        presign_url(DOC, url, window=SignWindow(1_700_000_000, 1_700_000_000 + 10**12))
    assert caught.value.field == "window" and "7 days" in caught.value.allowed


@pytest.mark.parametrize("dialect", ["cos", "oss"])
def test_client_presign_refuses_expires_over_seven_days_for_both_services(dialect: str) -> None:
    import asyncio

    from cos_multipart.aio import AsyncCosClient
    from cos_multipart._io.client import CosClient
    from cos_multipart._protocol.errors import CosValidationError

    bucket, region = ("examplebucket-1250000000", "ap-guangzhou") if dialect == "cos" else ("examplebucket", "cn-hangzhou")
    creds = Credentials("AKIDpresign", "presign-secret")
    with CosClient(bucket, region, credentials=creds, dialect=dialect) as client:
        assert client.presign("k", expires=SEVEN_DAYS).startswith("https://")
        for expires in (10**12, SEVEN_DAYS + 1):
            with pytest.raises(CosValidationError) as caught:
                client.presign("k", expires=expires)
            assert (caught.value.field, caught.value.value) == ("expires", expires)
            assert "1 to 604800 seconds (7 days)" in str(caught.value)

    async def run_async() -> None:
        async with AsyncCosClient(bucket, region, credentials=creds, dialect=dialect) as aclient:
            assert (await aclient.presign("k", expires=SEVEN_DAYS)).startswith("https://")
            with pytest.raises(CosValidationError) as caught:
                await aclient.presign("k", expires=10**12)
            assert (caught.value.field, caught.value.value) == ("expires", 10**12)

    asyncio.run(run_async())


def test_cli_presign_names_the_flag_and_the_range(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cos_multipart._cli import main as cli

    monkeypatch.setenv("COS_SECRET_ID", "AKIDpresign")
    monkeypatch.setenv("COS_SECRET_KEY", "presign-secret")
    monkeypatch.delenv("COS_SECURITY_TOKEN", raising=False)
    monkeypatch.setenv("COS_REGION", "ap-guangzhou")
    assert cli.main(["presign", "cos://examplebucket-1250000000/k", "--expires", str(10**12)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--expires" in err and str(10**12) in err and "604800" in err


def test_local_server_presign_is_bounded_too() -> None:
    from cos_multipart._protocol.errors import CosValidationError
    from cos_multipart.testing import LocalCOS

    with pytest.raises(CosValidationError) as caught:
        LocalCOS().presign("k", expires=10**12)
    assert caught.value.field == "expires"
