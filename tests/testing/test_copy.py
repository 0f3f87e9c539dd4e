"""Server-side copy in the local server: PUT Object - Copy and Upload Part - Copy (COS), CopyObject and
UploadPartCopy (OSS). The pure rules, then raw requests over real sockets in both dialects."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
from urllib.parse import quote

import pytest
import requests

from cos_multipart._protocol.checksum import crc64
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart.testing._routing import parse_request
from cos_multipart.testing._service import Service
from cos_multipart.testing.store import Store
from cos_multipart.testing import _copy_rules as rules
from cos_multipart.testing.protocol import ServiceError
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

from .anon import fields, header, put, send

MB = 1024 * 1024

# --- pure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/a/b.txt", ("examplebucket-1250000000", "a/b.txt", None)),
        ("other-1250000000.cos.ap-beijing.myqcloud.com/dir/a%20b%2B%E6%96%87", ("other-1250000000", "dir/a b+文", None)),
        ("b-1.cos.ap-shanghai.myqcloud.com/k?versionId=MTg0", ("b-1", "k", "MTg0")),
        ("http://b-1.cos.ap-shanghai.myqcloud.com/k", ("b-1", "k", None)),
        ("b-1.127.0.0.1:9000/k", ("b-1", "k", None)),
    ],
)
def test_cos_copy_source(value: str, expected: Tuple[str, str, Optional[str]]) -> None:
    source = rules.cos_source(value)
    assert (source.bucket, source.key, source.version_id) == expected


@pytest.mark.parametrize("value", ["", "bucket-1250000000.cos.ap-guangzhou.myqcloud.com", "b-1.cos.x.myqcloud.com/", "/k"])
def test_malformed_cos_copy_source(value: str) -> None:
    with pytest.raises(ServiceError) as caught:
        rules.cos_source(value)
    assert (caught.value.status, caught.value.code) == (400, "InvalidArgument")


def test_oss_copy_source() -> None:
    source = rules.oss_source("/srcbucket/dir/a%20b?versionId=CAEQ")
    assert (source.bucket, source.key, source.version_id) == ("srcbucket", "dir/a b", "CAEQ")
    for value in ("srcbucket/key", "/srcbucket", "/srcbucket/", "//k"):
        with pytest.raises(ServiceError) as caught:
            rules.oss_source(value)
        assert (caught.value.status, caught.value.code, caught.value.ec) == (400, "InvalidArgument", "0042-00000301")


def test_copy_source_ranges() -> None:
    assert rules.cos_range(None, 10) == (0, 10)
    assert rules.cos_range("bytes=2-5", 10) == (2, 4)
    assert rules.cos_range("bytes=0-9", 10) == (0, 10)
    for bad in ("bytes=0-10", "bytes=5-2", "bytes=2-", "bytes=-2", "2-5", "bytes=0-1,3-4"):
        with pytest.raises(ServiceError) as caught:
            rules.cos_range(bad, 10)
        assert (caught.value.status, caught.value.code) == (400, "InvalidArgument")
    assert rules.oss_range("bytes=2-5", 10) == (2, 4)
    for bad in ("bytes=0-10", "bytes=5-2", "bytes=2-", "junk"):
        assert rules.oss_range(bad, 10) == (0, 10)  # OSS copies the whole source


def test_directive_and_single_copy_limit() -> None:
    assert rules.check_directive(None) == "Copy"
    assert rules.check_directive("Replaced") == "Replaced"
    with pytest.raises(ServiceError, match="Copy or Replaced"):
        rules.check_directive("REPLACE")
    rules.check_single_copy_size(5 * 1024**3, rules.COS_COPY.max_object_size)
    with pytest.raises(ServiceError) as caught:
        rules.check_single_copy_size(5 * 1024**3 + 1, rules.COS_COPY.max_object_size)
    assert (caught.value.status, caught.value.code) == (400, "EntityTooLarge")
    assert rules.OSS_COPY.max_object_size == 1024**3


# --- over sockets -------------------------------------------------------------------------------------

OTHER = {"cos": "other-1250000000", "oss": "otherbucket"}


@pytest.fixture(params=["cos", "oss"])
def server(request: pytest.FixtureRequest, local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(anonymous=True, dialect=request.param, buckets=[OTHER[request.param]])


def source_of(server: LocalCOS, key: str, bucket: Optional[str] = None) -> str:
    name = bucket or server.bucket
    if server.dialect == "oss":
        return f"/{name}/{quote(key, safe='/')}"
    return f"{name}.cos.ap-shanghai.myqcloud.com/{quote(key, safe='/')}"  # another region: resolved here all the same


def copy(server: LocalCOS, key: str, source: str, headers: Optional[Dict[str, str]] = None, **options: Any) -> requests.Response:
    sent = {header(server, "x-cos-copy-source"): source, **(headers or {})}
    return send(server, "PUT", key, headers=sent, **options)


def md5_etag(server: LocalCOS, data: bytes) -> str:
    digest = hashlib.md5(data).hexdigest()
    return digest.upper() if server.dialect == "oss" else digest


def test_copy_object(server: LocalCOS) -> None:
    data = os.urandom(300_000)
    put(server, "src/a b.bin", data, {"Content-Type": "text/plain", header(server, "x-cos-meta-colour"): "blue"})
    response = copy(server, "dst.bin", source_of(server, "src/a b.bin"))
    assert response.status_code == 200, response.text
    result = fields(response.content)
    assert result["ETag"] == f'"{md5_etag(server, data)}"'
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", result["LastModified"])
    crc_header = f"x-{server.dialect}-hash-crc64ecma"
    assert response.headers[crc_header] == str(crc64(data))
    assert result.get("CRC64") == (str(crc64(data)) if server.dialect == "cos" else None)
    got = send(server, "GET", "dst.bin")
    assert got.content == data and got.headers["ETag"] == result["ETag"] and got.headers[crc_header] == str(crc64(data))
    # Copy: the source's headers and metadata
    assert got.headers["Content-Type"] == "text/plain" and got.headers[header(server, "x-cos-meta-colour")] == "blue"
    copies = server.log_entries("PutObjectCopy")
    assert len(copies) == 1 and copies[0].path.endswith("/dst.bin") and copies[0].status == 200


def test_copy_across_buckets_and_replace_metadata(server: LocalCOS) -> None:
    data = os.urandom(1000)
    put(server, "src", data, {header(server, "x-cos-meta-colour"): "blue"})
    directive = "REPLACE" if server.dialect == "oss" else "Replaced"
    response = copy(
        server,
        "copied",
        source_of(server, "src"),
        {header(server, "x-cos-metadata-directive"): directive, "Content-Type": "image/png", header(server, "x-cos-meta-size"): "big"},
        bucket=OTHER[server.dialect],
    )
    assert response.status_code == 200, response.text
    got = send(server, "GET", "copied", bucket=OTHER[server.dialect])
    assert got.content == data and got.headers["Content-Type"] == "image/png"
    assert got.headers[header(server, "x-cos-meta-size")] == "big" and header(server, "x-cos-meta-colour") not in got.headers


@pytest.mark.parametrize(
    ("source", "code"),
    [("missing", "NoSuchKey"), ("no-bucket", "NoSuchBucket"), ("version", "NoSuchVersion")],
)
def test_missing_sources(server: LocalCOS, source: str, code: str) -> None:
    put(server, "src", b"x")
    value = {
        "missing": source_of(server, "nothing-here"),
        "no-bucket": source_of(server, "src", "nobucket-1250000000" if server.dialect == "cos" else "nobucket"),
        "version": source_of(server, "src") + "?versionId=MTg0NDUxNTc1NjIzMTQ1MDAwODg",
    }[source]
    response = copy(server, "dst", value)
    assert response.status_code == 404 and fields(response.content)["Code"] == code
    assert send(server, "HEAD", "dst").status_code == 404
    assert copy(server, "dst", source_of(server, "src") + "?versionId=null").status_code == 200


def test_copy_onto_itself(server: LocalCOS) -> None:
    put(server, "same", b"data", {"Content-Type": "text/plain"})
    response = copy(server, "same", source_of(server, "same"), {"Content-Type": "image/png"})
    if server.dialect == "cos":  # COS: only with x-cos-metadata-directive: Replaced
        assert response.status_code == 400 and fields(response.content)["Code"] == "InvalidRequest"
        assert send(server, "HEAD", "same").headers["Content-Type"] == "text/plain"
        response = copy(server, "same", source_of(server, "same"), {"Content-Type": "image/png", "x-cos-metadata-directive": "Replaced"})
    assert response.status_code == 200, response.text  # OSS: the request's metadata whatever the directive
    got = send(server, "GET", "same")
    assert (got.content, got.headers["Content-Type"]) == (b"data", "image/png")


def test_copy_conditions(server: LocalCOS) -> None:
    etag = put(server, "src", b"data").headers["ETag"]
    pinned = {header(server, "x-cos-copy-source-if-match"): etag}
    assert copy(server, "dst", source_of(server, "src"), pinned).status_code == 200
    for name, value in (
        ("x-cos-copy-source-if-match", '"0123"'),
        ("x-cos-copy-source-if-none-match", etag),
        ("x-cos-copy-source-if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT"),
        ("x-cos-copy-source-if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),
    ):
        response = copy(server, "dst2", source_of(server, "src"), {header(server, name): value})
        assert response.status_code == 412 and fields(response.content)["Code"] == "PreconditionFailed", name
    assert send(server, "HEAD", "dst2").status_code == 404


def test_forbid_overwrite(server: LocalCOS) -> None:
    put(server, "src", b"new")
    put(server, "dst", b"old")
    response = copy(server, "dst", source_of(server, "src"), {header(server, "x-cos-forbid-overwrite"): "true"})
    assert response.status_code == 409 and fields(response.content)["Code"] == "FileAlreadyExists"
    assert send(server, "GET", "dst").content == b"old"


def _sse_c(key: bytes, prefix: str = "x-cos-server-side-encryption-customer-") -> Dict[str, str]:
    return {
        prefix + "algorithm": "AES256",
        prefix + "key": base64.b64encode(key).decode(),
        prefix + "key-MD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }


def test_sse_c_source_and_destination(local_cos_factory: LocalCOSFactory) -> None:
    server = local_cos_factory(anonymous=True)
    key, other = b"k" * 32, b"o" * 32
    source_headers = _sse_c(key, "x-cos-copy-source-server-side-encryption-customer-")
    put(server, "secret", b"data", _sse_c(key))
    response = copy(server, "plain", source_of(server, "secret"))
    assert response.status_code == 400 and fields(response.content)["Code"] == "InvalidRequest"
    wrong = _sse_c(other, "x-cos-copy-source-server-side-encryption-customer-")
    assert copy(server, "plain", source_of(server, "secret"), wrong).status_code == 403
    response = copy(server, "plain", source_of(server, "secret"), source_headers)
    assert response.status_code == 200, response.text
    assert send(server, "GET", "plain").content == b"data"
    # the copy source's key never reaches the access log
    logged = server.log_entries("PutObjectCopy")[-1].headers
    assert logged["x-cos-copy-source-server-side-encryption-customer-key"] != source_headers["x-cos-copy-source-server-side-encryption-customer-key"]
    assert base64.b64encode(key).decode() not in server.access_log.read_text()
    # a plain source with copy-source SSE-C headers: refused; destination under another SSE-C key
    assert copy(server, "again", source_of(server, "plain"), source_headers).status_code == 400
    response = copy(server, "again", source_of(server, "secret"), {**source_headers, **_sse_c(other)})
    assert response.status_code == 200 and response.headers["x-cos-server-side-encryption-customer-algorithm"] == "AES256"
    assert send(server, "GET", "again").status_code == 400
    assert send(server, "GET", "again", headers=_sse_c(other)).content == b"data"


def _initiate(server: LocalCOS, key: str, bucket: Optional[str] = None) -> str:
    response = send(server, "POST", key, params={"uploads": ""}, bucket=bucket)
    assert response.status_code == 200, response.text
    return fields(response.content)["UploadId"]


def _part_copy(server: LocalCOS, key: str, upload_id: str, number: int, source: str, first_last: Optional[str] = None,
               headers: Optional[Dict[str, str]] = None, bucket: Optional[str] = None) -> requests.Response:
    sent = dict(headers or {})
    if first_last is not None:
        sent[header(server, "x-cos-copy-source-range")] = f"bytes={first_last}"
    return copy(server, key, source, sent, params={"partNumber": str(number), "uploadId": upload_id}, bucket=bucket)


def _complete(server: LocalCOS, key: str, upload_id: str, etags: Dict[int, str], bucket: Optional[str] = None) -> requests.Response:
    items = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in sorted(etags.items()))
    body = f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()
    return send(server, "POST", key, params={"uploadId": upload_id}, data=body, bucket=bucket)


def test_upload_part_copy(server: LocalCOS) -> None:
    data = os.urandom(2 * MB + 12345)
    put(server, "big", data)
    upload_id = _initiate(server, "copied", OTHER[server.dialect])
    cuts = [(0, MB - 1), (MB, 2 * MB - 1), (2 * MB, len(data) - 1)]
    etags = {}
    for number, (first, last) in enumerate(cuts, 1):
        response = _part_copy(server, "copied", upload_id, number, source_of(server, "big"), f"{first}-{last}", bucket=OTHER[server.dialect])
        assert response.status_code == 200, response.text
        result = fields(response.content)
        assert set(result) == {"ETag", "LastModified"}
        assert result["ETag"] == f'"{md5_etag(server, data[first:last + 1])}"'
        assert response.headers[f"x-{server.dialect}-hash-crc64ecma"] == str(crc64(data[first : last + 1]))
        etags[number] = result["ETag"]
    done = _complete(server, "copied", upload_id, etags, OTHER[server.dialect])
    assert done.status_code == 200 and done.headers[f"x-{server.dialect}-hash-crc64ecma"] == str(crc64(data))
    assert send(server, "GET", "copied", bucket=OTHER[server.dialect]).content == data
    assert [entry.api for entry in server.log_entries("UploadPartCopy")] == ["UploadPartCopy"] * 3


def test_upload_part_copy_whole_source_ranges_and_sizes(server: LocalCOS) -> None:
    put(server, "small", b"0123456789")
    upload_id = _initiate(server, "dst")
    whole = _part_copy(server, "dst", upload_id, 1, source_of(server, "small"))
    assert whole.status_code == 200 and fields(whole.content)["ETag"] == f'"{md5_etag(server, b"0123456789")}"'
    bad = _part_copy(server, "dst", upload_id, 2, source_of(server, "small"), "5-10")
    if server.dialect == "cos":
        assert bad.status_code == 400 and fields(bad.content)["Code"] == "InvalidArgument"
    else:  # OSS copies the whole source for a range out of specification
        assert bad.status_code == 200 and fields(bad.content)["ETag"] == fields(whole.content)["ETag"]
    ranged = _part_copy(server, "dst", upload_id, 2, source_of(server, "small"), "2-4")
    assert ranged.status_code == 200
    # the parts' sizes are checked at Complete, as uploaded parts' are: a 10-byte first part is too small
    done = _complete(server, "dst", upload_id, {1: fields(whole.content)["ETag"], 2: fields(ranged.content)["ETag"]})
    assert fields(done.content)["Code"] == "EntityTooSmall"
    missing = _part_copy(server, "dst", upload_id, 3, source_of(server, "nothing"))
    assert missing.status_code == 404 and fields(missing.content)["Code"] == "NoSuchKey"
    gone = _part_copy(server, "dst", "1700000000" + "0" * 64, 1, source_of(server, "small"))
    assert gone.status_code == 404 and fields(gone.content)["Code"] == "NoSuchUpload"
    pinned = _part_copy(server, "dst", upload_id, 3, source_of(server, "small"), headers={header(server, "x-cos-copy-source-if-match"): '"00"'})
    assert pinned.status_code == 412


def test_empty_source(server: LocalCOS) -> None:
    put(server, "empty", b"")
    response = copy(server, "copy-of-empty", source_of(server, "empty"))
    assert response.status_code == 200 and response.headers[f"x-{server.dialect}-hash-crc64ecma"] == "0"
    assert send(server, "GET", "copy-of-empty").content == b""
    upload_id = _initiate(server, "dst")
    part = _part_copy(server, "dst", upload_id, 1, source_of(server, "empty"))
    assert part.status_code == 200 and fields(part.content)["ETag"] == f'"{md5_etag(server, b"")}"'


# --- the replace_source fault ---------------------------------------------------------------------------


def test_source_replaced_after_the_nth_part_copy_fails_the_pinned_next_part(server: LocalCOS) -> None:
    data = os.urandom(3 * MB)
    etag = put(server, "src", data).headers["ETag"]
    pinned = {header(server, "x-cos-copy-source-if-match"): etag}
    server.faults.add(Fault.replace_source(nth=2))
    upload_id = _initiate(server, "dst")
    etags = {}
    for number in (1, 2):
        response = _part_copy(server, "dst", upload_id, number, source_of(server, "src"), f"{(number - 1) * MB}-{number * MB - 1}", pinned)
        assert response.status_code == 200, response.text
        etags[number] = fields(response.content)["ETag"]
    # part 2's bytes are the original's: the source changed only after it was copied
    assert etags[2] == f'"{md5_etag(server, data[MB : 2 * MB])}"'
    head = send(server, "HEAD", "src")
    assert head.headers["ETag"] != etag and head.headers[f"x-{server.dialect}-hash-crc64ecma"] != str(crc64(data))
    assert int(head.headers["Content-Length"]) == len(data)
    assert send(server, "GET", "src").content == bytes(byte ^ 0xFF for byte in data)
    third = _part_copy(server, "dst", upload_id, 3, source_of(server, "src"), f"{2 * MB}-{3 * MB - 1}", pinned)
    assert third.status_code == 412 and fields(third.content)["Code"] == "PreconditionFailed"
    assert [(fired.api, fired.kind, fired.request_number) for fired in server.faults.fired] == [("UploadPartCopy", "replace_source", 2)]


def test_replace_source_on_a_single_copy_and_an_empty_source(server: LocalCOS) -> None:
    put(server, "empty", b"")
    server.faults.add(Fault.replace_source("PutObjectCopy"))
    assert copy(server, "dst", source_of(server, "empty")).status_code == 200
    assert send(server, "GET", "dst").content == b""
    assert send(server, "GET", "empty").content == b"\x00"


def test_replace_source_only_after_a_copy_that_succeeded(server: LocalCOS) -> None:
    etag = put(server, "src", b"data").headers["ETag"]
    server.faults.add(Fault.replace_source("PutObjectCopy", count=None))
    assert copy(server, "dst", source_of(server, "src"), {header(server, "x-cos-copy-source-if-match"): '"00"'}).status_code == 412
    assert send(server, "HEAD", "src").headers["ETag"] == etag


def test_replace_source_spec_form() -> None:
    assert Fault.parse("replace_source:nth=2") == Fault.replace_source(api=None, nth=2)
    assert Fault.parse("replace_source:api=UploadPartCopy,nth=2") == Fault.replace_source(nth=2)


# --- answer faults on the copy APIs ----------------------------------------------------------------------


def test_wrong_etag_wrong_crc64_and_corrupt_on_part_copies(server: LocalCOS) -> None:
    data = os.urandom(1000)
    put(server, "src", data)
    upload_id = _initiate(server, "dst")
    right = f'"{md5_etag(server, data)}"'
    server.faults.add(Fault.wrong_etag("UploadPartCopy"))
    response = _part_copy(server, "dst", upload_id, 1, source_of(server, "src"))
    assert response.status_code == 200 and fields(response.content)["ETag"] not in (right, "")
    assert len(fields(response.content)["ETag"]) == len(right)
    server.faults.add(Fault.wrong_crc64("UploadPartCopy"))
    response = _part_copy(server, "dst", upload_id, 1, source_of(server, "src"))
    assert fields(response.content)["ETag"] == right
    assert response.headers[f"x-{server.dialect}-hash-crc64ecma"] != str(crc64(data))
    server.faults.add(Fault.corrupt("UploadPartCopy"))
    response = _part_copy(server, "dst", upload_id, 1, source_of(server, "src"))
    damaged = bytes([data[0] ^ 1]) + data[1:]
    # stored damaged, and answered as stored: the ETag and CRC-64 of the damaged bytes
    assert fields(response.content)["ETag"] == f'"{md5_etag(server, damaged)}"'
    assert response.headers[f"x-{server.dialect}-hash-crc64ecma"] == str(crc64(damaged))
    done = _complete(server, "dst", upload_id, {1: fields(response.content)["ETag"]})
    assert done.status_code == 200 and send(server, "GET", "dst").content == damaged


def test_corrupt_and_wrong_etag_on_single_copies(server: LocalCOS) -> None:
    data = os.urandom(1000)
    put(server, "src", data)
    server.faults.add(Fault.corrupt("PutObjectCopy"))
    response = copy(server, "dst", source_of(server, "src"))
    damaged = bytes([data[0] ^ 1]) + data[1:]
    assert response.headers[f"x-{server.dialect}-hash-crc64ecma"] == str(crc64(damaged))
    assert send(server, "GET", "dst").content == damaged
    server.faults.add(Fault.wrong_etag("PutObjectCopy"))
    response = copy(server, "dst", source_of(server, "src"))
    assert fields(response.content)["ETag"] != send(server, "HEAD", "dst").headers["ETag"]


def test_replace_source_of_a_source_gone_meanwhile_leaves_the_answer(tmp_path: Path) -> None:
    # The copy succeeded, then its source was deleted before the fault ran: the copy's 200 must stand.
    store = Store(tmp_path)
    store.create_bucket("examplebucket-1250000000")
    request = parse_request(
        "PUT",
        "/dst",
        [("x-cos-copy-source", "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/gone")],
        default_bucket="examplebucket-1250000000",
        default_region="ap-guangzhou",
        request_id="r",
    )
    Service(store).replace_copy_source(request)
    assert not store.has_object("examplebucket-1250000000", "gone")
