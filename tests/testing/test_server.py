"""The local COS server over real sockets, driven with plain ``requests`` and the signer only."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import socket
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import quote

import pytest
import requests
from lxml import etree

from cos_multipart._protocol import limits
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.signer import CosAuth, SignWindow, presign_url, sign
from cos_multipart.testing import TEST_CREDENTIALS, Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

from .conftest import Raw, complete_body, error_code, write_one_file_object

MB = limits.MB
PART = b"0123456789abcdef" * (MB // 16)  # exactly 1 MB
SSE_C_KEY = base64.b64encode(b"0123456789ABCDEF0123456789ABCDEF").decode()
SSE_C = {
    "x-cos-server-side-encryption-customer-algorithm": "AES256",
    "x-cos-server-side-encryption-customer-key": SSE_C_KEY,
    "x-cos-server-side-encryption-customer-key-MD5": "U5L61r7jcwdNvT7frmUG8g==",
}


def xml(response: requests.Response) -> Any:
    return etree.fromstring(response.content)


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --- the multipart flow -------------------------------------------------------------------------------


def test_multipart_round_trip(raw: Raw) -> None:
    key = "dir/big file.bin"
    upload_id = raw.initiate(key, {"Content-Type": "video/mp4", "x-cos-meta-origin": "test"})
    tail = os.urandom(1234)
    first = raw.part(key, upload_id, 1, PART)
    second = raw.part(key, upload_id, 2, tail)
    assert first.status_code == second.status_code == 200
    assert first.headers["ETag"] == f'"{hashlib.md5(PART).hexdigest()}"'
    assert int(first.headers["x-cos-hash-crc64ecma"]) == crc64(PART)
    assert int(second.headers["x-cos-hash-crc64ecma"]) == crc64(tail)
    assert first.content == b"" and first.headers["x-cos-request-id"]

    listed = xml(raw.request("GET", key, params={"uploadId": upload_id}))
    parts = [(int(p.findtext("PartNumber")), p.findtext("ETag"), int(p.findtext("Size"))) for p in listed.iter("Part")]
    assert parts == [(1, first.headers["ETag"], MB), (2, second.headers["ETag"], 1234)]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", listed.find("Part").findtext("LastModified"))

    done = raw.complete(key, upload_id, [(1, first.headers["ETag"]), (2, second.headers["ETag"])])
    assert done.status_code == 200
    assert done.headers["Transfer-Encoding"] == "chunked"
    assert done.content[:1].isspace() and b"<?xml" not in done.content
    root = etree.fromstring(done.content.lstrip())
    fields = {local(child.tag): child.text for child in root}
    assert fields["Bucket"] == raw.cos.bucket and fields["Key"] == key
    assert fields["Location"] == f"http://{raw.cos.bucket}.cos.{raw.cos.region}.myqcloud.com/dir/big%20file.bin"
    assert re.fullmatch(r'"[0-9a-f]{32}-2"', fields["ETag"] or "")
    assert int(done.headers["x-cos-hash-crc64ecma"]) == crc64(PART + tail)

    got = raw.request("GET", key)
    assert got.content == PART + tail
    assert got.headers["Content-Type"] == "video/mp4" and got.headers["x-cos-meta-origin"] == "test"
    assert got.headers["ETag"] == fields["ETag"]
    assert int(got.headers["x-cos-hash-crc64ecma"]) == crc64(PART + tail)
    head = raw.request("HEAD", key)
    assert head.headers["Content-Length"] == str(MB + 1234) and head.content == b""
    ranged = raw.request("GET", key, headers={"Range": f"bytes={MB - 2}-{MB + 1}"})
    assert ranged.status_code == 206 and ranged.content == PART[-2:] + tail[:2]
    assert ranged.headers["Content-Range"] == f"bytes {MB - 2}-{MB + 1}/{MB + 1234}"
    assert raw.request("GET", key, headers={"Range": f"bytes={MB + 1234}-"}).status_code == 416
    listing = raw.request("GET", "", params={"uploads": ""})
    assert upload_id not in listing.text  # completed uploads are gone
    assert raw.request("DELETE", key).status_code == 204
    assert error_code(raw.request("GET", key)) == "NoSuchKey"
    assert raw.request("DELETE", key).status_code == 204  # deleting nothing is fine


def test_part_reupload_replaces_the_part(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    raw.part("k", upload_id, 1, b"old")
    new = raw.part("k", upload_id, 1, b"new!")
    listed = xml(raw.request("GET", "k", params={"uploadId": upload_id}))
    assert [p.findtext("Size") for p in listed.iter("Part")] == ["4"]
    assert raw.complete("k", upload_id, [(1, new.headers["ETag"])]).status_code == 200
    assert raw.request("GET", "k").content == b"new!"


def test_complete_accepts_sdk_style_bodies(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    etag = raw.part("k", upload_id, 1, b"data").headers["ETag"]
    python_style = complete_body([(1, etag.replace('"', "&quot;"))], declaration=True)
    assert raw.request("POST", "k", params={"uploadId": upload_id}, data=python_style).status_code == 200
    upload_id = raw.initiate("k2")
    etag = raw.part("k2", upload_id, 1, b"data").headers["ETag"]
    go_style = f"<CompleteMultipartUpload><Part><ETag>{etag}</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"
    md5 = base64.b64encode(hashlib.md5(go_style.encode()).digest()).decode()
    response = raw.request("POST", "k2", params={"uploadId": upload_id}, data=go_style.encode(), headers={"Content-MD5": md5})
    assert response.status_code == 200


def test_abort_discards_the_upload(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    raw.part("k", upload_id, 1, b"x")
    assert raw.request("DELETE", "k", params={"uploadId": upload_id}).status_code == 204
    for response in (
        raw.part("k", upload_id, 2, b"y"),
        raw.request("GET", "k", params={"uploadId": upload_id}),
        raw.complete("k", upload_id, [(1, '"x"')]),
        raw.request("DELETE", "k", params={"uploadId": upload_id}),
    ):
        assert (response.status_code, error_code(response)) == (404, "NoSuchUpload")


def test_list_parts_paging(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    for number in range(1, 6):
        raw.part("k", upload_id, number, b"x")
    seen, marker = [], "0"
    for _ in range(5):
        page = xml(raw.request("GET", "k", params={"uploadId": upload_id, "max-parts": "2", "part-number-marker": marker}))
        seen += [int(p.findtext("PartNumber")) for p in page.iter("Part")]
        assert page.findtext("MaxParts") == "2" and page.findtext("PartNumberMarker") == marker
        if page.findtext("IsTruncated") == "false":
            break
        marker = page.findtext("NextPartNumberMarker")
    assert seen == [1, 2, 3, 4, 5]
    bad = raw.request("GET", "k", params={"uploadId": upload_id, "encoding-type": "base64"})
    assert error_code(bad) == "InvalidArgument"


def test_list_multipart_uploads_prefix_delimiter_encoding(raw: Raw) -> None:
    ids = {key: raw.initiate(key) for key in ["photos/a b.jpg", "photos/2024/x.jpg", "video.mp4"]}
    page = xml(raw.request("GET", "", params={"uploads": "", "prefix": "photos/", "delimiter": "/", "encoding-type": "url"}))
    assert [u.findtext("Key") for u in page.iter("Upload")] == ["photos/a%20b.jpg"]
    assert [p.findtext("Prefix") for p in page.iter("CommonPrefixes")] == ["photos/2024/"]
    assert page.findtext("Encoding-Type") == "url"
    upload = next(page.iter("Upload"))
    assert upload.findtext("UploadId") == ids["photos/a b.jpg"]
    assert re.fullmatch(r"\d{4}-.*\.\d{3}Z", upload.findtext("Initiated"))
    first = xml(raw.request("GET", "", params={"uploads": "", "max-uploads": "2"}))
    assert first.findtext("IsTruncated") == "true" and len(list(first.iter("Upload"))) == 2
    rest = xml(raw.request("GET", "", params={"uploads": "", "key-marker": first.findtext("NextKeyMarker"),
                                              "upload-id-marker": first.findtext("NextUploadIdMarker")}))
    assert [u.findtext("Key") for u in rest.iter("Upload")] == ["video.mp4"]
    assert error_code(raw.request("GET", "", params={"uploads": "", "max-uploads": "0"})) == "InvalidArgument"


def test_put_object_and_overwrite_guard(raw: Raw) -> None:
    put = raw.request("PUT", "a.txt", data=b"hello", headers={"Content-Type": "text/plain", "x-cos-storage-class": "STANDARD_IA"})
    assert put.status_code == 200 and put.headers["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'
    assert int(put.headers["x-cos-hash-crc64ecma"]) == crc64(b"hello")
    head = raw.request("HEAD", "a.txt")
    assert head.headers["x-cos-storage-class"] == "STANDARD_IA" and head.headers["Content-Type"] == "text/plain"
    refused = raw.request("PUT", "a.txt", data=b"other", headers={"x-cos-forbid-overwrite": "true"})
    assert (refused.status_code, error_code(refused)) == (409, "FileAlreadyExists")
    upload_id = raw.initiate("a.txt")
    etag = raw.part("a.txt", upload_id, 1, b"x").headers["ETag"]
    refused = raw.complete("a.txt", upload_id, [(1, etag)], headers={"x-cos-forbid-overwrite": "true"})
    assert (refused.status_code, error_code(refused)) == (409, "FileAlreadyExists")
    assert raw.request("GET", "a.txt").content == b"hello"
    overridden = raw.request("GET", "a.txt", params={"response-content-type": "application/json"})
    assert overridden.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "key", ["a b+c&d=e?f#g%h.txt", "目录/文件(1).txt", "sp ace/!*'();:@$,[]~", "emoji-😀", "trailing/", "..%2F"]
)
def test_keys_with_unicode_spaces_and_reserved_characters(raw: Raw, key: str) -> None:
    body = key.encode("utf-8")
    response = raw.upload(key, [body])
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content.lstrip())
    assert {local(c.tag): c.text for c in root}["Key"] == key
    assert raw.request("GET", key).content == body
    listed = xml(raw.request("GET", key, params={"uploadId": raw.initiate(key), "encoding-type": "url"}))
    assert listed.findtext("Key") == quote(key, safe="/")


def test_buckets_come_from_the_host_header(raw: Raw) -> None:
    other = "other-1250000000.cos.ap-beijing.myqcloud.com"
    # A bucket the server does not hold: 404 NoSuchBucket for every API (it used to be made on first use).
    refused = raw.request("PUT", "k", data=b"in other", headers={"Host": other})
    assert (refused.status_code, error_code(refused)) == (404, "NoSuchBucket")
    assert error_code(raw.request("GET", "", headers={"Host": other})) == "NoSuchBucket"
    assert not (raw.cos.data_dir / "buckets" / "other-1250000000").exists()
    assert raw.request("PUT", "", headers={"Host": other}).status_code == 200  # PUT Bucket
    again = raw.request("PUT", "", headers={"Host": other})
    assert (again.status_code, error_code(again)) == (409, "BucketAlreadyExists")
    assert raw.cos.buckets == (raw.cos.bucket, "other-1250000000")
    assert raw.request("PUT", "k", data=b"in other", headers={"Host": other}).status_code == 200
    assert error_code(raw.request("GET", "k")) == "NoSuchKey"
    got = raw.request("GET", "k", headers={"Host": other})
    assert got.content == b"in other"
    missing = raw.request("GET", "missing", headers={"Host": other})
    assert "other-1250000000.cos.ap-beijing.myqcloud.com/missing" in missing.text
    assert (raw.cos.data_dir / "buckets" / "other-1250000000").is_dir()


# --- error paths --------------------------------------------------------------------------------------


def test_error_body_and_headers(raw: Raw) -> None:
    response = raw.request("GET", "no/such", params={"uploadId": "1700000000" + "a" * 64})
    assert response.status_code == 404 and response.headers["Content-Type"] == "application/xml"
    root = xml(response)
    assert [child.tag for child in root] == ["Code", "Message", "Resource", "RequestId", "TraceId"]
    assert root.findtext("Code") == "NoSuchUpload"
    assert root.findtext("RequestId") == response.headers["x-cos-request-id"]
    assert root.findtext("TraceId") == response.headers["x-cos-trace-id"]
    assert root.findtext("Resource") == f"{raw.cos.bucket}.cos.{raw.cos.region}.myqcloud.com/no/such"


def test_upload_id_of_another_key_is_no_such_upload(raw: Raw) -> None:
    upload_id = raw.initiate("one")
    assert error_code(raw.part("two", upload_id, 1, b"x")) == "NoSuchUpload"
    assert error_code(raw.part("one", "../../etc/passwd", 1, b"x")) == "NoSuchUpload"


@pytest.mark.parametrize(
    ("params", "headers", "code"),
    [
        ({"partNumber": "0"}, {}, "InvalidArgument"),
        ({"partNumber": "10001"}, {}, "InvalidArgument"),
        ({"partNumber": "1"}, {"x-cos-traffic-limit": "819199"}, "InvalidArgument"),
        ({"partNumber": "1", "x-cos-traffic-limit": "838860801"}, {}, "InvalidArgument"),
        ({"partNumber": "1"}, {"x-cos-psize-max": "3"}, "EntityTooLarge"),
        ({"partNumber": "1"}, {"x-cos-psize-min": "5"}, "EntityTooSmall"),
        ({"partNumber": "1"}, {"Content-MD5": "not-base64"}, "InvalidDigest"),
        ({"partNumber": "1"}, {"Content-MD5": base64.b64encode(b"\0" * 16).decode()}, "BadDigest"),
        ({"partNumber": "1"}, {"x-cos-server-side-encryption": "AES256"}, "SSEHeaderNotAllowed"),
        ({"partNumber": "1"}, SSE_C, "SSEHeaderNotAllowed"),
    ],
)
def test_upload_part_validation(raw: Raw, params: Dict[str, str], headers: Dict[str, str], code: str) -> None:
    upload_id = raw.initiate("k")
    response = raw.request("PUT", "k", params={**params, "uploadId": upload_id}, data=b"four", headers=headers)
    assert (response.status_code, error_code(response)) == (400, code)
    # the connection stays usable and nothing was stored
    assert "<Part>" not in raw.request("GET", "k", params={"uploadId": upload_id}).text


def test_upload_part_guards_within_limits_pass(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    headers = {"x-cos-psize-min": "4", "x-cos-psize-max": "4", "x-cos-traffic-limit": str(limits.MAX_TRAFFIC_LIMIT),
               "Content-MD5": base64.b64encode(hashlib.md5(b"four").digest()).decode()}
    assert raw.part("k", upload_id, 1, b"four", headers).status_code == 200


def test_complete_validation(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    small = raw.part("k", upload_id, 1, b"small").headers["ETag"]
    last = raw.part("k", upload_id, 2, b"last").headers["ETag"]
    cases = [
        ([(1, small), (2, '"' + "0" * 32 + '"')], "InvalidPart"),
        ([(1, small), (3, last)], "InvalidPart"),
        ([(2, last), (1, small)], "InvalidPartOrder"),
        ([(1, small), (2, last)], "EntityTooSmall"),
    ]
    for parts, code in cases:
        response = raw.complete("k", upload_id, parts)
        assert (response.status_code, error_code(response)) == (400, code), parts
    for body in (b"<CompleteMultipartUpload/>", b"garbage", b""):
        response = raw.request("POST", "k", params={"uploadId": upload_id}, data=body)
        assert error_code(response) == "MalformedXML"
    bad_md5 = raw.request("POST", "k", params={"uploadId": upload_id}, data=complete_body([(2, last)]),
                          headers={"Content-MD5": base64.b64encode(b"\0" * 16).decode()})
    assert error_code(bad_md5) == "BadDigest"
    guarded = raw.complete("k", upload_id, [(2, last)], headers={"x-cos-pnum-min": "2"})
    assert error_code(guarded) == "InvalidArgument"
    assert raw.complete("k", upload_id, [(2, last)], headers={"x-cos-pnum-max": "1"}).status_code == 200


def test_key_too_long_and_unsupported_requests(raw: Raw) -> None:
    assert error_code(raw.request("PUT", "k" * 851, data=b"x")) == "KeyTooLong"
    assert raw.request("PUT", "k" * 850, data=b"x").status_code == 200
    assert raw.request("GET", "").status_code == 200  # List Objects
    assert raw.request("GET", "", params={"acl": ""}).status_code == 501
    assert raw.request("PUT", "k", params={"acl": ""}, data=b"").status_code == 501
    assert raw.request("PATCH", "k").status_code == 405
    assert error_code(raw.request("POST", "k")) == "MethodNotAllowed"


def _signed_raw(cos: LocalCOS, method: str, path: str, headers: Dict[str, str], query: str = "") -> bytes:
    host = f"127.0.0.1:{cos.port}"
    params = dict(p.split("=", 1) for p in query.split("&")) if query else {}
    signed = {"host": host, **{k.lower(): v for k, v in headers.items()}}
    authorization = sign(cos.credentials, SignWindow.around(time.time()), method, path, params, signed)
    lines = [f"{method} {quote(path)}{'?' + query if query else ''} HTTP/1.1", f"Host: {host}",
             f"Authorization: {authorization}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _exchange(cos: LocalCOS, data: bytes, close_write: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", cos.port), timeout=10) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        chunks: List[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_short_body_is_incomplete_body(local_cos: LocalCOS) -> None:
    request = _signed_raw(local_cos, "PUT", "/short", {"Content-Length": "100"}) + b"only ten.."
    reply = _exchange(local_cos, request)
    assert reply.startswith(b"HTTP/1.1 400") and b"<Code>IncompleteBody</Code>" in reply
    assert error_code(Raw(local_cos).request("GET", "short")) == "NoSuchKey"


def test_body_without_content_length_is_411(local_cos: LocalCOS) -> None:
    request = _signed_raw(local_cos, "PUT", "/chunked", {"Transfer-Encoding": "chunked"}) + b"4\r\ndata\r\n0\r\n\r\n"
    reply = _exchange(local_cos, request)
    assert reply.startswith(b"HTTP/1.1 411") and b"MissingContentLength" in reply


# --- authentication over HTTP -------------------------------------------------------------------------


def test_signature_rejections(raw: Raw) -> None:
    raw.request("PUT", "k", data=b"x")
    assert error_code(raw.request("GET", "k", auth=None)) == "AccessDenied"
    wrong = CosAuth(Credentials(raw.cos.credentials.secret_id, "wrong-secret"))
    assert error_code(raw.request("GET", "k", auth=wrong)) == "SignatureDoesNotMatch"
    stranger = CosAuth(Credentials("AKIDnobody", "secret"))
    assert error_code(raw.request("GET", "k", auth=stranger)) == "InvalidAccessKeyId"
    stale = CosAuth(raw.cos.credentials, expires=60, clock=lambda: time.time() - 3600)
    expired = raw.request("GET", "k", auth=stale)
    assert (expired.status_code, error_code(expired)) == (403, "AccessDenied")
    assert "Request has expired" in expired.text
    ahead = CosAuth(raw.cos.credentials, clock=lambda: time.time() + 3600)
    assert error_code(raw.request("GET", "k", auth=ahead)) == "RequestTimeTooSkewed"


def _tampered(raw: Raw, change: Any) -> requests.Response:
    request = requests.Request("PUT", raw.cos.url("k"), data=b"body", headers={"x-cos-meta-a": "1"})
    prepared = raw.session.prepare_request(request)
    raw.auth(prepared)
    change(prepared)
    return raw.session.send(prepared, timeout=10)


def test_tampered_header_and_path(raw: Raw) -> None:
    def header(prepared: requests.PreparedRequest) -> None:
        prepared.headers["x-cos-meta-a"] = "2"

    def path(prepared: requests.PreparedRequest) -> None:
        prepared.url = raw.cos.url("other")

    assert error_code(_tampered(raw, header)) == "SignatureDoesNotMatch"
    assert error_code(_tampered(raw, path)) == "SignatureDoesNotMatch"
    assert _tampered(raw, lambda prepared: None).status_code == 200


def test_python_sdk_quirks(raw: Raw) -> None:
    # host signed without the port, "?uploads=" and a bare "?uploads", uploadId listed lower-cased
    cos = raw.cos
    window = SignWindow.around(time.time())
    authorization = sign(cos.credentials, window, "POST", "/q.bin", {"uploads": ""}, {"host": "127.0.0.1"})
    for url in (cos.url("q.bin") + "?uploads=", cos.url("q.bin") + "?uploads"):
        response = requests.post(url, headers={"Authorization": authorization}, timeout=10)
        assert response.status_code == 200, response.text
    upload_id = re.search(r"<UploadId>(\w+)<", response.text).group(1)  # type: ignore[union-attr]
    authorization = sign(cos.credentials, window, "GET", "/q.bin", {"uploadid": upload_id}, {"host": "127.0.0.1"})
    response = requests.get(cos.url("q.bin") + f"?uploadId={upload_id}", headers={"Authorization": authorization}, timeout=10)
    assert response.status_code == 200, response.text


def test_presigned_urls(local_cos_factory: LocalCOSFactory) -> None:
    sts = Credentials("AKIDtemporary", "temporary-secret", token="session-token")
    cos = local_cos_factory(credentials=[TEST_CREDENTIALS, sts])
    Raw(cos).request("PUT", "shared file.txt", data=b"shared")
    assert requests.get(cos.presign("shared file.txt"), timeout=10).content == b"shared"
    window = SignWindow.around(time.time())
    signed_token = presign_url(sts, cos.url("shared file.txt"), window=window)
    assert requests.get(signed_token, timeout=10).content == b"shared"
    without_token = presign_url(Credentials(sts.secret_id, sts.secret_key), cos.url("shared file.txt"), window=window)
    assert error_code(requests.get(without_token, timeout=10)) == "InvalidAccessKeyId"
    unsigned_token = without_token + "&x-cos-security-token=session-token"
    assert requests.get(unsigned_token, timeout=10).content == b"shared"
    put_url = presign_url(cos.credentials, cos.url("up.txt"), method="PUT", window=window)
    assert requests.put(put_url, data=b"via url", timeout=10).status_code == 200
    assert error_code(requests.get(put_url, timeout=10)) == "SignatureDoesNotMatch"


def test_sts_credentials_added_at_run_time(raw: Raw) -> None:
    sts = Credentials("AKIDlater", "later-secret", token="tok")
    assert error_code(raw.request("PUT", "k", data=b"x", auth=CosAuth(sts))) == "InvalidAccessKeyId"
    raw.cos.add_credentials(sts)
    assert raw.request("PUT", "k", data=b"x", auth=CosAuth(sts)).status_code == 200


def test_anonymous_mode_skips_checks(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(anonymous=True)
    assert requests.put(cos.url("k"), data=b"x", timeout=10).status_code == 200
    assert requests.get(cos.url("k"), timeout=10).content == b"x"


# --- encryption ---------------------------------------------------------------------------------------


def test_sse_cos_etag_is_md5_and_echoed(raw: Raw) -> None:
    sse = {"x-cos-server-side-encryption": "AES256"}
    upload_id = raw.initiate("k", sse)
    part = raw.part("k", upload_id, 1, b"secret data")
    assert part.headers["ETag"] == f'"{hashlib.md5(b"secret data").hexdigest()}"'
    assert part.headers["x-cos-server-side-encryption"] == "AES256"
    done = raw.complete("k", upload_id, [(1, part.headers["ETag"])])
    assert done.headers["x-cos-server-side-encryption"] == "AES256"
    assert raw.request("HEAD", "k").headers["x-cos-server-side-encryption"] == "AES256"
    put = raw.request("PUT", "p", data=b"x", headers=sse)
    assert put.headers["ETag"] == f'"{hashlib.md5(b"x").hexdigest()}"'


def test_sse_kms_etag_is_not_md5(raw: Raw) -> None:
    kms = {"x-cos-server-side-encryption": "cos/kms", "x-cos-server-side-encryption-cos-kms-key-id": "cmk-7"}
    initiated = raw.request("POST", "k", params={"uploads": ""}, headers=kms)
    assert initiated.headers["x-cos-server-side-encryption-cos-kms-key-id"] == "cmk-7"
    upload_id = xml(initiated).findtext("UploadId")
    part = raw.part("k", upload_id, 1, b"secret data")
    assert re.fullmatch(r'"[0-9a-f]{32}"', part.headers["ETag"])
    assert part.headers["ETag"] != f'"{hashlib.md5(b"secret data").hexdigest()}"'
    assert int(part.headers["x-cos-hash-crc64ecma"]) == crc64(b"secret data")  # CRC of the plaintext
    assert part.headers["x-cos-server-side-encryption"] == "cos/kms"
    assert raw.complete("k", upload_id, [(1, part.headers["ETag"])]).status_code == 200


def test_sse_c_semantics(raw: Raw) -> None:
    upload_id = raw.initiate("k", SSE_C)
    missing = raw.part("k", upload_id, 1, b"x")
    assert (missing.status_code, error_code(missing)) == (400, "InvalidArgument")
    other_key = b"another key of exactly 32 bytes!"
    other = {**SSE_C, "x-cos-server-side-encryption-customer-key": base64.b64encode(other_key).decode(),
             "x-cos-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(other_key).digest()).decode()}
    assert "differs" in raw.part("k", upload_id, 1, b"x", other).text
    part = raw.part("k", upload_id, 1, b"plain", SSE_C)
    assert part.status_code == 200 and part.headers["ETag"] != f'"{hashlib.md5(b"plain").hexdigest()}"'
    assert part.headers["x-cos-server-side-encryption-customer-key-MD5"] == SSE_C["x-cos-server-side-encryption-customer-key-MD5"]
    assert "x-cos-server-side-encryption-customer-key" not in part.headers
    assert raw.complete("k", upload_id, [(1, part.headers["ETag"])]).status_code == 200
    assert error_code(raw.request("HEAD", "k")) is None and raw.request("HEAD", "k").status_code == 400
    assert raw.request("GET", "k", headers=other).status_code == 403
    assert raw.request("GET", "k", headers=SSE_C).content == b"plain"
    for path in raw.cos.data_dir.rglob("*"):
        if path.is_file():
            assert SSE_C_KEY.encode() not in path.read_bytes()


# --- faults -------------------------------------------------------------------------------------------


def test_error_faults_nth_and_switching_at_run_time(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    raw.cos.faults.add(Fault.error("UploadPart", status=503, nth=2))
    codes = [raw.part("k", upload_id, 1, b"x").status_code for _ in range(3)]
    assert codes == [200, 503, 200]
    raw.cos.faults.add(Fault.error("UploadPart", status=400, count=None))
    failing = raw.part("k", upload_id, 1, b"x")
    assert (failing.status_code, error_code(failing)) == (400, "RequestTimeout")
    assert "x-cos-trace-id" in failing.headers
    raw.cos.faults.clear()
    assert raw.part("k", upload_id, 1, b"x").status_code == 200


def test_error_fault_rate(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(faults=[Fault.error("PutObject", status=500, rate=0.5, seed=3)])
    raw = Raw(cos)
    statuses = [raw.request("PUT", "k", data=b"x").status_code for _ in range(20)]
    assert set(statuses) == {200, 500} and len(cos.faults.fired) == statuses.count(500)


def test_reset_fault_breaks_the_connection_mid_body(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    raw.cos.faults.add(Fault.reset("UploadPart", after_bytes=64 * 1024))
    with pytest.raises(requests.ConnectionError):
        raw.part("k", upload_id, 1, PART)
    entry = raw.cos.log_entries("UploadPart")[-1]
    assert entry.status == 0 and entry.bytes_in == 64 * 1024
    assert raw.part("k", upload_id, 1, PART).status_code == 200  # a new connection works


def test_reset_fault_on_download(raw: Raw) -> None:
    raw.request("PUT", "k", data=PART)
    raw.cos.faults.add(Fault.reset("GetObject", after_bytes=1000))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        raw.request("GET", "k").content


def test_wrong_etag_and_crc64_faults(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    raw.cos.faults.add(Fault.wrong_etag("UploadPart"))
    raw.cos.faults.add(Fault.wrong_crc64("UploadPart"))
    part = raw.part("k", upload_id, 1, b"data")
    assert part.headers["ETag"] != f'"{hashlib.md5(b"data").hexdigest()}"'
    assert int(part.headers["x-cos-hash-crc64ecma"]) != crc64(b"data")
    right = raw.part("k", upload_id, 1, b"data")
    assert int(right.headers["x-cos-hash-crc64ecma"]) == crc64(b"data")
    raw.cos.faults.add(Fault.wrong_crc64("CompleteMultipartUpload"))
    done = raw.complete("k", upload_id, [(1, right.headers["ETag"])])
    assert int(done.headers["x-cos-hash-crc64ecma"]) != crc64(b"data")


def test_delay_latency_and_bandwidth(raw: Raw) -> None:
    raw.request("PUT", "k", data=b"x")
    raw.cos.faults.add(Fault.delay(0.3, "HeadObject"))
    started = time.monotonic()
    raw.request("HEAD", "k")
    assert time.monotonic() - started >= 0.3
    raw.cos.faults.set_latency(0.2)
    started = time.monotonic()
    raw.request("HEAD", "k")
    # The latency alone: the one-shot delay fired for the first HEAD only (counted, not timed: load only adds).
    assert time.monotonic() - started >= 0.2 and [fired.kind for fired in raw.cos.faults.fired] == ["delay"]
    raw.cos.faults.set_latency(0)
    raw.cos.faults.set_bandwidth(400 * 1024)
    started = time.monotonic()
    raw.request("PUT", "slow", data=b"z" * (200 * 1024))
    assert time.monotonic() - started >= 0.45
    started = time.monotonic()
    assert len(raw.request("GET", "slow").content) == 200 * 1024
    assert time.monotonic() - started >= 0.45


def test_traffic_limit_paces_the_body(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    started = time.monotonic()
    response = raw.part("k", upload_id, 1, b"t" * 51200, {"x-cos-traffic-limit": str(limits.MIN_TRAFFIC_LIMIT)})
    assert response.status_code == 200 and time.monotonic() - started >= 0.45  # 102400 bytes/s


def test_complete_can_answer_200_with_an_error_body(raw: Raw, monkeypatch: pytest.MonkeyPatch) -> None:
    from cos_multipart.testing.protocol import ServiceError

    upload_id = raw.initiate("k")
    etag = raw.part("k", upload_id, 1, b"x").headers["ETag"]

    def fail(*args: Any, **kwargs: Any) -> None:
        raise ServiceError(500, "InternalError", "merge failed")

    assert raw.cos.store is not None
    monkeypatch.setattr(raw.cos.store, "complete", fail)
    response = raw.complete("k", upload_id, [(1, etag)])
    assert response.status_code == 200 and response.content[:1].isspace()
    assert xml_error(response) == "InternalError"


def xml_error(response: requests.Response) -> str:
    return str(etree.fromstring(response.content.lstrip()).findtext("Code"))


# --- persistence, logs, memory, connections -----------------------------------------------------------


def test_state_survives_a_restart(local_cos_factory: LocalCOSFactory, tmp_path: Path) -> None:
    first = local_cos_factory(data_dir=tmp_path)
    raw = Raw(first)
    upload_id = raw.initiate("k")
    etag = raw.part("k", upload_id, 1, b"persisted").headers["ETag"]
    raw.request("PUT", "obj", data=b"object")
    first.stop()
    second = local_cos_factory(data_dir=tmp_path)
    raw = Raw(second)
    assert raw.request("GET", "obj").content == b"object"
    assert etag in raw.request("GET", "k", params={"uploadId": upload_id}).text
    assert raw.complete("k", upload_id, [(1, etag)]).status_code == 200
    assert raw.request("GET", "k").content == b"persisted"


def test_access_log_lines_and_redaction(local_cos_factory: LocalCOSFactory) -> None:
    sts = Credentials("AKIDtemporary", "temporary-secret", token="session-token-value")
    cos = local_cos_factory(credentials=[TEST_CREDENTIALS, sts])
    raw = Raw(cos)
    raw.request("PUT", "k", data=b"12345", headers=SSE_C)
    requests.get(presign_url(sts, cos.url("k"), window=SignWindow.around(time.time())), headers=SSE_C, timeout=10)
    raw.request("GET", "nothing")
    assert len(cos.log_entries()) == 3  # waits until the server has logged every answered request
    text = cos.access_log.read_text()
    # A line is written once its answer is sent, so lines of consecutive requests on different
    # connections may land in either order: find each by its request line.
    lines = text.splitlines()
    assert len(lines) == 3
    (put,) = [line for line in lines if " PUT /k " in line]
    (get,) = [line for line in lines if " GET /k " in line]
    (missing,) = [line for line in lines if " GET /nothing " in line]
    assert re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 PUT /k - 200 5 0 [\d.]+ms PutObject \S+ -$", put)
    assert " GetObject " in get and "q-signature=<redacted>" in get and "x-cos-security-token=<redacted>" in get
    assert missing.endswith("NoSuchKey")
    for secret in ("session-token-value", SSE_C_KEY, cos.credentials.secret_key, sts.secret_key):
        assert secret not in text
        assert all(secret not in str(entry.headers) for entry in cos.log_entries())
    entry = cos.log_entries("PutObject")[0]
    assert entry.headers["x-cos-server-side-encryption-customer-key"] == "<redacted>"
    assert "q-signature=<redacted>" in entry.headers["authorization"]


def test_memory_stays_flat_for_a_64_mb_part(raw: Raw, tmp_path: Path) -> None:
    source = tmp_path / "part.bin"
    with open(source, "wb") as handle:
        handle.truncate(64 * MB)
    upload_id = raw.initiate("big")
    tracemalloc.start()
    try:
        with open(source, "rb") as body:
            response = raw.part("big", upload_id, 1, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert int(response.headers["x-cos-hash-crc64ecma"]) == crc64(bytes(64 * MB))
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"


def test_keep_alive_and_clean_stop(local_cos_factory: LocalCOSFactory) -> None:
    before = set(threading.enumerate())
    cos = local_cos_factory()
    connection = http.client.HTTPConnection("127.0.0.1", cos.port, timeout=10)
    for _ in range(3):
        authorization = sign(cos.credentials, SignWindow.around(time.time()), "GET", "/missing", {}, {})
        connection.request("GET", "/missing", headers={"Authorization": authorization})
        response = connection.getresponse()
        assert response.status == 404 and response.getheader("Connection") == "keep-alive"
        response.read()
    idle = socket.create_connection(("127.0.0.1", cos.port))  # an idle keep-alive connection
    time.sleep(0.05)
    started = time.monotonic()
    cos.stop()
    assert time.monotonic() - started < 30  # not the idle connection's 60 s timeout (a margin load cannot eat)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == []
    connection.close()
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", cos.port), timeout=1)


def test_concurrent_part_uploads(raw: Raw) -> None:
    upload_id = raw.initiate("k")
    chunks = [bytes([n]) * (MB + n) for n in range(8)]
    results: Dict[int, str] = {}

    def put(number: int) -> None:
        session = Raw(raw.cos)
        results[number] = session.part("k", upload_id, number, chunks[number - 1]).headers["ETag"]

    threads = [threading.Thread(target=put, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = raw.complete("k", upload_id, sorted(results.items()))
    assert int(done.headers["x-cos-hash-crc64ecma"]) == crc64(b"".join(chunks))
    assert raw.request("GET", "k").content == b"".join(chunks)


def test_constructor_validation() -> None:
    from cos_multipart._protocol.errors import CosValidationError

    bad: List[Dict[str, Any]] = [{"bucket": "Bad_Bucket"}, {"region": "ap guangzhou"}, {"port": 70000}, {"credentials": []}]
    for options in bad:
        with pytest.raises(CosValidationError):
            LocalCOS(**options)
    assert "secret" not in repr(LocalCOS()).lower()


def test_expect_100_continue(local_cos: LocalCOS) -> None:
    head = _signed_raw(local_cos, "PUT", "/expect", {"Content-Length": "5", "Expect": "100-continue"})
    with socket.create_connection(("127.0.0.1", local_cos.port), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert Raw(local_cos).request("GET", "expect").content == b"hello"


def test_many_parallel_connections(raw: Raw) -> None:
    raw.request("PUT", "k", data=b"shared")

    def fetch(_: int) -> bytes:
        return requests.get(raw.cos.url("k"), auth=raw.auth, timeout=10).content

    import concurrent.futures

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        assert set(pool.map(fetch, range(64))) == {b"shared"}
    assert time.monotonic() - started < 5


def test_stalled_body_is_request_timeout(local_cos_factory: LocalCOSFactory) -> None:
    cos = local_cos_factory(idle_timeout=0.3)
    request = _signed_raw(cos, "PUT", "/stalled", {"Content-Length": "100"}) + b"ten bytes."
    started = time.monotonic()
    reply = _exchange(cos, request, close_write=False)
    assert reply.startswith(b"HTTP/1.1 400") and b"<Code>RequestTimeout</Code>" in reply
    assert 0.3 <= time.monotonic() - started < 30  # the 0.3 s idle timeout, not the request timeout
    assert cos.log_entries("PutObject")[-1].code == "RequestTimeout"


# --- multipart objects are stored as segments (Complete renames the parts, never copies them) ----------

SEGMENTS = [os.urandom(MB), os.urandom(MB), os.urandom(1000)]
WHOLE = b"".join(SEGMENTS)
SIZE = len(WHOLE)
#: (Range header, first byte, last byte): boundaries of the three segments, spans, suffixes, open ends.
SEGMENT_RANGES = [
    ("bytes=0-0", 0, 0),
    (f"bytes={MB - 1}-{MB}", MB - 1, MB),
    (f"bytes={MB}-{MB}", MB, MB),
    (f"bytes={2 * MB - 1}-{2 * MB}", 2 * MB - 1, 2 * MB),
    (f"bytes={MB - 10}-{2 * MB + 9}", MB - 10, 2 * MB + 9),
    ("bytes=0-", 0, SIZE - 1),
    (f"bytes={MB}-", MB, SIZE - 1),
    ("bytes=-1500", SIZE - 1500, SIZE - 1),
    (f"bytes=-{SIZE + 5}", 0, SIZE - 1),
    (f"bytes={SIZE - 1}-{SIZE + 100}", SIZE - 1, SIZE - 1),
]


def upload_segments(raw: Raw, key: str = "seg", chunks: Any = None) -> requests.Response:
    done = raw.upload(key, SEGMENTS if chunks is None else chunks)
    assert done.status_code == 200 and b"<Error>" not in done.content, done.text
    return done


def data_bytes(cos: LocalCOS) -> int:
    return sum(path.stat().st_size for path in (cos.data_dir / "buckets").rglob("*") if path.is_file())


@pytest.mark.parametrize("throttled", [False, True], ids=["sendfile", "buffered"])
def test_segmented_object_get_head_and_ranges(raw: Raw, throttled: bool) -> None:
    done = upload_segments(raw)
    assert done.content[:1].isspace()  # Complete still answers with keep-alive whitespace first
    assert data_bytes(raw.cos) < SIZE + 64 * 1024  # the parts became the object: no second copy
    etag = etree.fromstring(done.content.lstrip()).findtext("{*}ETag")
    crc = done.headers["x-cos-hash-crc64ecma"]
    assert int(crc) == crc64(WHOLE)
    pace = {"x-cos-traffic-limit": str(limits.MAX_TRAFFIC_LIMIT)} if throttled else {}
    for spec, first, last in SEGMENT_RANGES:
        got = raw.request("GET", "seg", headers={"Range": spec, **pace})
        assert got.status_code == 206, spec
        assert got.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}", spec
        assert got.headers["Content-Length"] == str(last - first + 1), spec
        assert got.content == WHOLE[first:last + 1], spec
        assert got.headers["ETag"] == etag and got.headers["x-cos-hash-crc64ecma"] == crc
    whole = raw.request("GET", "seg", headers=pace)
    assert whole.status_code == 200 and whole.content == WHOLE and whole.headers["Content-Length"] == str(SIZE)
    head = raw.request("HEAD", "seg")
    assert head.headers["Content-Length"] == str(SIZE) and head.headers["ETag"] == etag
    assert head.headers["x-cos-hash-crc64ecma"] == crc
    assert head.headers["Last-Modified"] == whole.headers["Last-Modified"]
    assert raw.request("GET", "seg", headers={"Range": f"bytes={SIZE}-"}).status_code == 416


def test_reset_fault_mid_download_of_a_segmented_object(raw: Raw) -> None:
    upload_segments(raw)
    raw.cos.faults.add(Fault.reset("GetObject", after_bytes=MB + 10))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        raw.request("GET", "seg").content
    entry = raw.cos.log_entries("GetObject")[-1]
    assert entry.status == 0 and entry.bytes_out == MB + 10


@pytest.mark.parametrize("change", ["put", "complete", "delete"])
def test_a_streaming_get_serves_one_version_while_the_key_changes(raw: Raw, change: str) -> None:
    upload_segments(raw)
    pace = {"x-cos-traffic-limit": str(40 * MB)}  # 5 MiB/s: the GET is still in the first segment below
    other = Raw(raw.cos)
    with raw.session.get(raw.cos.url("seg"), auth=raw.auth, headers=pace, stream=True, timeout=30) as got:
        assert got.status_code == 200 and got.headers["Content-Length"] == str(SIZE)
        start = got.raw.read(64 * 1024)
        if change == "put":
            assert other.request("PUT", "seg", data=b"new").status_code == 200
        elif change == "complete":
            upload_segments(other, chunks=[b"N" * MB, b"EW"])
        else:
            assert other.request("DELETE", "seg").status_code == 204
        rest = got.raw.read()
    assert start + rest == WHOLE  # all old bytes, none new, nothing missing
    expected = {"put": b"new", "complete": b"N" * MB + b"EW", "delete": None}[change]
    after = other.request("GET", "seg")
    assert after.content == expected if expected is not None else error_code(after) == "NoSuchKey"
    raw.cos.log_entries()  # every answered request is finished, so the old version's reader is closed
    bucket = raw.cos.data_dir / "buckets" / raw.cos.bucket
    assert not any((bucket / "tmp").iterdir())
    assert data_bytes(raw.cos) < (len(expected) if expected else 0) + 64 * 1024


def test_restart_on_a_data_directory_of_the_one_file_layout(local_cos_factory: LocalCOSFactory, tmp_path: Path) -> None:
    old_file = write_one_file_object(tmp_path, "old.txt", WHOLE, "ab" * 16 + "-3")
    first = local_cos_factory(data_dir=tmp_path)
    raw = Raw(first)
    got = raw.request("GET", "old.txt")
    assert got.content == WHOLE and got.headers["ETag"] == '"' + "ab" * 16 + '-3"'
    assert got.headers["Content-Type"] == "text/plain" and got.headers["x-cos-meta-era"] == "old"
    assert got.headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert int(got.headers["x-cos-hash-crc64ecma"]) == crc64(WHOLE)
    for spec, first_byte, last in SEGMENT_RANGES:
        ranged = raw.request("GET", "old.txt", headers={"Range": spec})
        assert ranged.content == WHOLE[first_byte:last + 1] and ranged.status_code == 206, spec
    assert raw.request("HEAD", "old.txt").headers["Content-Length"] == str(SIZE)

    new = [os.urandom(MB), os.urandom(500)]
    upload_segments(raw, "old.txt", new)  # overwritten: the old file goes, the new object is two segments
    assert not old_file.exists()
    first.stop()
    second = local_cos_factory(data_dir=tmp_path)
    raw = Raw(second)
    assert raw.request("GET", "old.txt").content == b"".join(new)
    ranged = raw.request("GET", "old.txt", headers={"Range": f"bytes={MB - 2}-{MB + 1}"})
    assert ranged.content == b"".join(new)[MB - 2:MB + 2]
    assert raw.request("DELETE", "old.txt").status_code == 204
    assert not any((tmp_path / "buckets" / second.bucket / "objects").iterdir())
