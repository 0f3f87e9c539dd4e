"""The local server's pure rules: hosts, ranges, validation, Complete's checks, XML bodies, listings."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import base64
import re

import pytest
from lxml import etree

from cos_multipart._protocol import limits
from cos_multipart.testing import protocol
from cos_multipart.testing.protocol import Encryption, ServiceError, UploadRow

MB = limits.MB
DOC_SSE_C_KEY = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="
DOC_SSE_C_MD5 = "U5L61r7jcwdNvT7frmUG8g=="


def code_of(excinfo: pytest.ExceptionInfo[ServiceError]) -> str:
    return excinfo.value.code


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("examplebucket-1250000000.cos.ap-beijing.myqcloud.com", ("examplebucket-1250000000", "ap-beijing")),
        ("other-1250000000.cos.ap-shanghai.myqcloud.com:8080", ("other-1250000000", "ap-shanghai")),
        ("other-1250000000.localhost:9000", ("other-1250000000", "ap-guangzhou")),
        ("127.0.0.1:9000", ("default-1", "ap-guangzhou")),
        ("localhost", ("default-1", "ap-guangzhou")),
        ("files.example.com", ("default-1", "ap-guangzhou")),
        ("[::1]:9000", ("default-1", "ap-guangzhou")),
        ("", ("default-1", "ap-guangzhou")),
    ],
)
def test_bucket_from_host(host: str, expected: Tuple[Any, ...]) -> None:
    assert protocol.bucket_from_host(host, "default-1", "ap-guangzhou") == expected


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-3", 10, (0, 3)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-4", 10, (6, 9)),
        ("bytes=-40", 10, (0, 9)),
        ("bytes=8-100", 10, (8, 9)),
        ("bytes=0-1,4-5", 10, None),
        ("items=0-1", 10, None),
        ("bytes=5-2", 10, None),
    ],
)
def test_byte_range(header: str, size: int, expected: object) -> None:
    assert protocol.byte_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_range_is_416(header: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        protocol.byte_range(header, 10)
    assert (excinfo.value.status, excinfo.value.code) == (416, "InvalidRange")


@pytest.mark.parametrize("value", ["0", "10001", "-1", "1.5", "abc", ""])
def test_part_number_outside_1_to_10000(value: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        protocol.part_number(value)
    assert code_of(excinfo) == "InvalidArgument"
    assert protocol.part_number("1") == 1 and protocol.part_number("10000") == 10000


@pytest.mark.parametrize("value", ["819199", "838860801", "fast"])
def test_traffic_limit_range(value: str) -> None:
    with pytest.raises(ServiceError):
        protocol.traffic_limit(value)
    assert protocol.traffic_limit("819200") == 819200
    assert protocol.traffic_limit("838860800") == 838860800
    assert protocol.traffic_limit(None) is None


@pytest.mark.parametrize("value", ["not base64!", "AAAA", base64.b64encode(b"x" * 15).decode()])
def test_malformed_content_md5_is_invalid_digest(value: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        protocol.content_md5(value)
    assert code_of(excinfo) == "InvalidDigest"


def test_key_rules() -> None:
    protocol.check_key("a" * limits.MAX_KEY_BYTES)
    protocol.check_key("文件 (1)+!*'.txt")
    for key, code in [("a" * 851, "KeyTooLong"), ("é" * 426, "KeyTooLong"), ("\\x", "InvalidURI"),
                      ("/x", "InvalidURI"), ("a\x1bb", "InvalidURI")]:
        with pytest.raises(ServiceError) as excinfo:
            protocol.check_key(key)
        assert code_of(excinfo) == code


def test_size_guards() -> None:
    protocol.check_size_guards(5, {"x-cos-psize-min": "5", "x-cos-psize-max": "5"})
    with pytest.raises(ServiceError, match="psize-max"):
        protocol.check_size_guards(6, {"x-cos-psize-max": "5"})
    with pytest.raises(ServiceError, match="psize-min"):
        protocol.check_size_guards(4, {"x-cos-psize-min": "5"})
    with pytest.raises(ServiceError) as excinfo:
        protocol.check_size_guards(4, {"x-cos-psize-min": "five"})
    assert code_of(excinfo) == "InvalidArgument"


# --- encryption ---------------------------------------------------------------------------------------

SSE_C = {
    protocol.SSE_C_ALGORITHM_HEADER: "AES256",
    protocol.SSE_C_KEY_HEADER: DOC_SSE_C_KEY,
    protocol.SSE_C_KEY_MD5_HEADER.lower(): DOC_SSE_C_MD5,
}


def test_encryption_modes_and_echo_headers() -> None:
    assert protocol.encryption_of({}) == Encryption()
    assert protocol.encryption_of({"x-cos-server-side-encryption": "AES256"}).echo_headers() == [
        ("x-cos-server-side-encryption", "AES256")
    ]
    kms = protocol.encryption_of({"x-cos-server-side-encryption": "cos/kms",
                                  protocol.SSE_KMS_KEY_ID_HEADER: "cmk-1",
                                  protocol.SSE_CONTEXT_HEADER: base64.b64encode(b'{"a":"b"}').decode()})
    assert kms.echo_headers() == [("x-cos-server-side-encryption", "cos/kms"), (protocol.SSE_KMS_KEY_ID_HEADER, "cmk-1")]
    customer = protocol.encryption_of(SSE_C)
    assert customer == Encryption("SSE-C", customer_key_md5=DOC_SSE_C_MD5)
    assert DOC_SSE_C_KEY not in repr(customer) and DOC_SSE_C_KEY not in str(customer.echo_headers())
    assert (Encryption().etag_is_md5, Encryption("SSE-COS").etag_is_md5) == (True, True)
    assert (kms.etag_is_md5, customer.etag_is_md5) == (False, False)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-cos-server-side-encryption": "aes128"},
        {"x-cos-server-side-encryption": "AES256", protocol.SSE_KMS_KEY_ID_HEADER: "cmk"},
        {protocol.SSE_KMS_KEY_ID_HEADER: "cmk"},
        {"x-cos-server-side-encryption": "cos/kms", protocol.SSE_CONTEXT_HEADER: "bm90IGpzb24="},
        {**SSE_C, "x-cos-server-side-encryption": "AES256"},
        {**SSE_C, protocol.SSE_C_KEY_MD5_HEADER.lower(): "AAAAAAAAAAAAAAAAAAAAAA=="},
        {**SSE_C, protocol.SSE_C_KEY_HEADER: base64.b64encode(b"short").decode()},
        {**SSE_C, protocol.SSE_C_ALGORITHM_HEADER: "AES128"},
        {protocol.SSE_C_ALGORITHM_HEADER: "AES256"},
    ],
)
def test_bad_encryption_headers_are_rejected(headers: Dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as excinfo:
        protocol.encryption_of(headers)
    assert excinfo.value.status == 400
    assert DOC_SSE_C_KEY not in excinfo.value.message


def test_part_encryption_rules() -> None:
    customer = Encryption("SSE-C", customer_key_md5=DOC_SSE_C_MD5)
    protocol.check_part_encryption(customer, SSE_C)
    protocol.check_part_encryption(Encryption("SSE-KMS", kms_key_id="k"), {})
    with pytest.raises(ServiceError, match="needs the same"):
        protocol.check_part_encryption(customer, {})
    other_key = base64.b64encode(b"k" * 32).decode()
    other = {protocol.SSE_C_ALGORITHM_HEADER: "AES256", protocol.SSE_C_KEY_HEADER: other_key,
             protocol.SSE_C_KEY_MD5_HEADER.lower(): protocol.sse_c_key_md5({
                 protocol.SSE_C_ALGORITHM_HEADER: "AES256", protocol.SSE_C_KEY_HEADER: other_key,
                 protocol.SSE_C_KEY_MD5_HEADER.lower(): base64.b64encode(__import__("hashlib").md5(b"k" * 32).digest()).decode()})}
    with pytest.raises(ServiceError, match="differs"):
        protocol.check_part_encryption(customer, {name: value or "" for name, value in other.items()})
    for headers in (SSE_C, {"x-cos-server-side-encryption": "AES256"}):
        with pytest.raises(ServiceError) as excinfo:
            protocol.check_part_encryption(Encryption("SSE-COS"), headers)
        assert code_of(excinfo) == "SSEHeaderNotAllowed"


# --- object headers -----------------------------------------------------------------------------------


def test_object_headers_are_stored_and_checked() -> None:
    stored = dict(protocol.object_headers({
        "content-type": "video/mp4", "cache-control": "no-cache", "x-cos-meta-Color": "blue",
        "x-cos-storage-class": "standard_ia", "x-cos-acl": "private", "x-cos-tagging": "a=1&b=two",
        "x-cos-unrelated": "x",
    }))
    assert stored == {"content-type": "video/mp4", "cache-control": "no-cache", "x-cos-meta-Color": "blue",
                      "x-cos-storage-class": "STANDARD_IA", "x-cos-tagging-count": "2"}
    assert dict(protocol.object_headers({}))["content-type"] == protocol.DEFAULT_CONTENT_TYPE


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"x-cos-meta-bad_name": "v"}, "InvalidArgument"),
        ({"x-cos-meta-big": "v" * 2048}, "MetadataTooLarge"),
        ({f"x-cos-meta-m{i}": "v" * 900 for i in range(5)}, "MetadataTooLarge"),
        ({"x-cos-storage-class": "COLD"}, "InvalidStorageClass"),
        ({"x-cos-acl": "public-read-write"}, "InvalidArgument"),
        ({"x-cos-tagging": "&".join(f"k{i}=v" for i in range(11))}, "InvalidArgument"),
        ({"x-cos-tagging": "k=" + "v" * 256}, "InvalidArgument"),
        ({"x-cos-tagging": "k%23=v"}, "InvalidArgument"),
    ],
)
def test_object_header_violations(headers: Dict[str, Any], code: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        protocol.object_headers(headers)
    assert code_of(excinfo) == code


# --- Complete -----------------------------------------------------------------------------------------


def test_parse_complete_body_accepts_what_sdks_send() -> None:
    python_style = (b'<?xml version="1.0" encoding="utf-8"?>\n<CompleteMultipartUpload><Part><PartNumber>1'
                    b"</PartNumber><ETag>&quot;abc&quot;</ETag></Part></CompleteMultipartUpload>")
    go_style = (b'<CompleteMultipartUpload xmlns="http://x"><Part><ETag>"abc"</ETag><PartNumber>1</PartNumber>'
                b"</Part><!-- c --><Part><ETag>def</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>")
    assert protocol.parse_complete_body(python_style) == [(1, '"abc"')]
    assert protocol.parse_complete_body(go_style) == [(1, '"abc"'), (2, "def")]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Item/></CompleteMultipartUpload>",
        b'<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><CompleteMultipartUpload><Part>'
        b"<PartNumber>&e;</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
    ],
)
def test_malformed_complete_bodies(body: bytes) -> None:
    with pytest.raises(ServiceError) as excinfo:
        protocol.parse_complete_body(body)
    assert code_of(excinfo) == "MalformedXML"


STORED = {1: ("e1", MB), 2: ("e2", MB), 3: ("e3", 10)}


def test_check_complete_accepts_quoted_and_bare_etags() -> None:
    assert protocol.check_complete([(1, '"E1"'), (2, "e2"), (3, '"e3"')], STORED) == [1, 2, 3]
    assert protocol.check_complete([(2, "e2"), (3, "e3")], STORED) == [2, 3]


@pytest.mark.parametrize(
    ("requested", "code"),
    [
        ([(2, "e2"), (1, "e1")], "InvalidPartOrder"),
        ([(1, "e1"), (1, "e1")], "InvalidPartOrder"),
        ([(1, "e1"), (4, "e4")], "InvalidPart"),
        ([(1, "e1"), (2, "wrong")], "InvalidPart"),
        ([(1, "e1"), (3, "e3")], "InvalidPart"),
        ([(3, "e3"), (4, "x")], "InvalidPart"),
    ],
)
def test_check_complete_rules(requested: List[Any], code: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        protocol.check_complete(requested, STORED)
    assert code_of(excinfo) == code


def test_non_last_part_under_1_mb_is_entity_too_small() -> None:
    stored = {1: ("e1", MB - 1), 2: ("e2", 5)}
    with pytest.raises(ServiceError) as excinfo:
        protocol.check_complete([(1, "e1"), (2, "e2")], stored)
    assert code_of(excinfo) == "EntityTooSmall"
    assert protocol.check_complete([(2, "e2")], stored) == [2]


def test_part_count_guards() -> None:
    requested = [(1, "e1"), (2, "e2"), (3, "e3")]
    with pytest.raises(ServiceError, match="pnum-max"):
        protocol.check_complete(requested, STORED, pnum_max=2)
    with pytest.raises(ServiceError, match="pnum-min"):
        protocol.check_complete(requested, STORED, pnum_min=4)
    assert protocol.check_complete(requested, STORED, pnum_min=3, pnum_max=3) == [1, 2, 3]


# --- bodies and ids -----------------------------------------------------------------------------------


def test_complete_xml_has_no_declaration_and_parses_after_whitespace() -> None:
    body = protocol.complete_xml("http://b.cos.r.myqcloud.com/k", "b-1", "k&<>", "abc-2")
    assert body.startswith(b"<CompleteMultipartUploadResult")
    root = etree.fromstring(b"\n   " + body)
    ns = {"c": protocol.COMPLETE_NAMESPACE}
    assert root.findtext("c:Key", namespaces=ns) == "k&<>"
    assert root.findtext("c:ETag", namespaces=ns) == '"abc-2"'


def test_error_xml_elements() -> None:
    root = etree.fromstring(protocol.error_xml("NoSuchUpload", "gone", "b/k", "rid", "tid"))
    assert [child.tag for child in root] == ["Code", "Message", "Resource", "RequestId", "TraceId"]
    assert root.findtext("Code") == "NoSuchUpload" and root.findtext("TraceId") == "tid"


def test_identifiers_have_the_cos_shapes() -> None:
    upload_id = protocol.new_upload_id(1585130821.7)
    assert len(upload_id) == 74 and upload_id.startswith("1585130821") and protocol.is_upload_id(upload_id)
    assert not protocol.is_upload_id("../../etc") and not protocol.is_upload_id(upload_id.upper())
    decoded = base64.b64decode(protocol.new_request_id(0x5E7B2D45)).decode()
    assert re.fullmatch(r"5e7b2d45_[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{6}", decoded)
    assert protocol.iso_time(1585130834.5) == "2020-03-25T10:07:14.500Z"


def test_list_parts_xml_marks_truncation() -> None:
    rows = [protocol.PartRow(n, f"e{n}", MB, 0.0) for n in (3, 4)]
    root = etree.fromstring(protocol.list_parts_xml(
        bucket="b-125", key="a b", upload_id="u", storage_class="STANDARD", parts=rows, marker=2,
        max_parts=2, truncated=True, encode=True))
    assert root.findtext("Key") == "a%20b" and root.findtext("EncodingType") == "url"
    assert root.findtext("NextPartNumberMarker") == "4" and root.findtext("IsTruncated") == "true"
    assert [part.findtext("ETag") for part in root.findall("Part")] == ['"e3"', '"e4"']


# --- List Multipart Uploads paging --------------------------------------------------------------------

ROWS = [UploadRow(key, f"{i:010d}{'a' * 64}", "STANDARD", float(i))
        for i, key in enumerate(["a/1", "a/2", "b", "b", "c/x/1", "d"])]


def page(**options: object) -> protocol.UploadListing:
    settings = {"prefix": "", "delimiter": "", "key_marker": "", "upload_id_marker": "", "max_uploads": 1000}
    settings.update(options)
    return protocol.list_uploads_page(ROWS, **settings)  # type: ignore[arg-type]


def test_list_uploads_with_delimiter_and_prefix() -> None:
    listing = page(delimiter="/")
    assert [row.key for row in listing.uploads] == ["b", "b", "d"]
    assert listing.common_prefixes == ("a/", "c/") and not listing.truncated
    assert page(prefix="c/", delimiter="/").common_prefixes == ("c/x/",)
    assert [row.key for row in page(prefix="a/").uploads] == ["a/1", "a/2"]


def test_list_uploads_pages_through_everything_once() -> None:
    seen = []
    key_marker = upload_marker = ""
    for _ in range(10):
        listing = page(delimiter="/", key_marker=key_marker, upload_id_marker=upload_marker, max_uploads=2)
        seen += [row.key for row in listing.uploads] + list(listing.common_prefixes)
        if not listing.truncated:
            break
        key_marker, upload_marker = listing.next_key_marker, listing.next_upload_id_marker
    assert sorted(seen) == ["a/", "b", "b", "c/", "d"]


def test_upload_id_marker_selects_within_a_key() -> None:
    first_b = ROWS[2].upload_id
    listing = page(key_marker="b", upload_id_marker=first_b)
    assert [(row.key, row.upload_id) for row in listing.uploads][:1] == [("b", ROWS[3].upload_id)]
    assert [row.key for row in page(key_marker="b").uploads] == ["c/x/1", "d"]
