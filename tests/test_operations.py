"""Request builders (what goes on the wire) and response parsers (what comes back), without I/O."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any, Dict

import pytest

from cos_multipart._protocol import _xml
from cos_multipart._protocol import operations as ops
from cos_multipart._protocol.errors import CosResponseError, CosServiceError, CosValidationError
from cos_multipart._protocol.models import CompletedPart, HttpCall
from cos_multipart._protocol.sse import SseC, SseCos, SseKms

from test_xml import COMPLETE, ERROR, INITIATE, LIST_PARTS, LIST_UPLOADS

KEY = "dir/exampleobject"
UPLOAD = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"
RAW_KEY = b"0123456789ABCDEF0123456789ABCDEF"
IDS = {"x-cos-request-id": "req-1", "x-cos-trace-id": "trace-9"}


def headers_of(call: HttpCall) -> Dict[str, Any]:
    return dict(call.headers)


def test_prepare_initiate_defaults() -> None:
    call = ops.prepare_initiate(KEY)
    assert (call.method, call.key, call.params, call.body) == ("POST", KEY, (("uploads", None),), None)
    assert headers_of(call) == {"Content-Type": "application/octet-stream", "Content-Length": "0"}


def test_prepare_initiate_all_options() -> None:
    options = ops.ObjectOptions(
        content_type="video/mp4",
        metadata={"Example-Field": "example-value"},
        acl="public-read",
        storage_class="standard_ia",
        tagging={"k": "v 1"},
        encryption=SseKms("kid"),
        cache_control="max-age=86400",
        content_disposition="attachment; filename=example.jpg",
        content_encoding="gzip",
        expires="Thu, 01 Dec 2030 16:00:00 GMT",
        grant_read='id="100000000001"',
        grant_read_acp='id="100000000002"',
        grant_write_acp='id="100000000003"',
        grant_full_control='id="100000000004"',
    )
    assert headers_of(ops.prepare_initiate(KEY, options)) == {
        "Content-Type": "video/mp4",
        "Cache-Control": "max-age=86400",
        "Content-Disposition": "attachment; filename=example.jpg",
        "Content-Encoding": "gzip",
        "Expires": "Thu, 01 Dec 2030 16:00:00 GMT",
        "x-cos-meta-example-field": "example-value",
        "x-cos-storage-class": "STANDARD_IA",
        "x-cos-acl": "public-read",
        "x-cos-grant-read": 'id="100000000001"',
        "x-cos-grant-read-acp": 'id="100000000002"',
        "x-cos-grant-write-acp": 'id="100000000003"',
        "x-cos-grant-full-control": 'id="100000000004"',
        "x-cos-tagging": "k=v%201",
        "x-cos-server-side-encryption": "cos/kms",
        "x-cos-server-side-encryption-cos-kms-key-id": "kid",
        "Content-Length": "0",
    }


def test_prepare_initiate_sse_c_and_raw_headers() -> None:
    headers = headers_of(ops.prepare_initiate(KEY, ops.ObjectOptions(encryption=SseC(RAW_KEY))))
    assert headers["x-cos-server-side-encryption-customer-key-MD5"] == "U5L61r7jcwdNvT7frmUG8g=="
    headers = headers_of(ops.prepare_initiate(KEY, ops.ObjectOptions(encryption={"x-cos-server-side-encryption": "AES256"})))
    assert headers["x-cos-server-side-encryption"] == "AES256"
    with pytest.raises(CosValidationError):
        ops.prepare_initiate(KEY, ops.ObjectOptions(encryption={"x-cos-server-side-encryption-customer-algorithm": "AES256"}))


def test_prepare_upload_part() -> None:
    call = ops.prepare_upload_part(
        KEY, UPLOAD, 7, b"x" * 10, content_md5="OScKloo1fSQgfpkRFiUH6w==", traffic_limit=819200, psize_min=1, psize_max=20, sse_c=SseC(RAW_KEY)
    )
    assert (call.method, call.key) == ("PUT", KEY)
    assert call.params == (("partNumber", "7"), ("uploadId", UPLOAD))
    assert headers_of(call) == {
        "Content-Length": "10",
        "Content-MD5": "OScKloo1fSQgfpkRFiUH6w==",
        "x-cos-traffic-limit": "819200",
        "x-cos-psize-min": "1",
        "x-cos-psize-max": "20",
        "x-cos-server-side-encryption-customer-algorithm": "AES256",
        "x-cos-server-side-encryption-customer-key": base64.b64encode(RAW_KEY).decode(),
        "x-cos-server-side-encryption-customer-key-MD5": "U5L61r7jcwdNvT7frmUG8g==",
    }
    assert call.content_length == 10


def test_prepare_upload_part_file_slice() -> None:
    stream = io.BytesIO(b"0123456789")
    stream.seek(3)
    call = ops.prepare_upload_part(KEY, UPLOAD, 1, stream, content_length=4)
    assert call.content_length == 4 and call.body is stream and stream.tell() == 3


@pytest.mark.parametrize("option", [SseCos(), SseKms(), {"x-cos-server-side-encryption": "AES256"}])
def test_upload_part_refuses_sse_cos_and_kms(option: object) -> None:
    # "for SSE-COS/KMS no SSE request headers on parts" (436/7750) [ref 6.2]
    with pytest.raises(CosValidationError) as info:
        ops.prepare_upload_part(KEY, UPLOAD, 1, b"x", sse_c=option)  # type: ignore[arg-type]
    assert info.value.field == "sse_c"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"part_number": 0}, "part_number"),
        ({"part_number": 10001}, "part_number"),
        ({"upload_id": ""}, "upload_id"),
        ({"key": "/abs"}, "key"),
        ({"traffic_limit": 100}, "traffic_limit"),
        ({"content_md5": "abc"}, "content_md5"),
        ({"psize_min": 5, "psize_max": 1}, "psize_min"),
        ({"content_length": 2}, "content_length"),
    ],
)
def test_prepare_upload_part_refuses(kwargs: Dict[str, Any], field: str) -> None:
    arguments: Dict[str, Any] = {"key": KEY, "upload_id": UPLOAD, "part_number": 1, "body": b"x"}
    arguments.update(kwargs)
    with pytest.raises(CosValidationError) as info:
        ops.prepare_upload_part(**arguments)
    assert info.value.field == field


def test_prepare_complete_body_and_headers() -> None:
    call = ops.prepare_complete(KEY, UPLOAD, [(1, "39270a968a357d24207e9911162507eb"), (2, '"d8"')], forbid_overwrite=True, pnum_min=1, pnum_max=2)
    body = call.body
    assert isinstance(body, bytes)
    assert b"<ETag>\"39270a968a357d24207e9911162507eb\"</ETag>" in body
    headers = headers_of(call)
    assert headers["Content-MD5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
    assert headers["Content-Type"] == "application/xml"
    assert headers["Content-Length"] == str(len(body))
    assert headers["x-cos-forbid-overwrite"] == "true"
    assert (headers["x-cos-pnum-min"], headers["x-cos-pnum-max"]) == ("1", "2")
    assert call.params == (("uploadId", UPLOAD),)
    with pytest.raises(CosValidationError):
        ops.prepare_complete(KEY, UPLOAD, [(1, "e")], forbid_overwrite="yes")  # type: ignore[arg-type]


def test_prepare_list_and_others() -> None:
    call = ops.prepare_list_parts(KEY, UPLOAD, part_number_marker=5)
    assert call.params == (("uploadId", UPLOAD), ("encoding-type", "url"), ("max-parts", "1000"), ("part-number-marker", "5"))
    call = ops.prepare_list_uploads(prefix="dir/", key_marker="k", upload_id_marker="u")
    assert call.key == "" and call.params[0] == ("uploads", None)
    assert ("prefix", "dir/") in call.params and ("key-marker", "k") in call.params
    with pytest.raises(CosValidationError):
        ops.prepare_list_uploads(prefix="a\nb")
    with pytest.raises(CosValidationError):
        ops.prepare_list_parts(KEY, UPLOAD, max_parts=1001)
    assert ops.prepare_abort(KEY, UPLOAD).method == "DELETE"
    assert headers_of(ops.prepare_get_object(KEY, byte_range=(0, 9))) == {"Range": "bytes=0-9"}
    assert ops.prepare_head_object(KEY, sse_c=SseC(RAW_KEY)).method == "HEAD"
    assert ops.prepare_delete_object(KEY).params == ()
    put = ops.prepare_put_object(KEY, b"abc", content_md5="kAFQmDzST7DWlj99KOF/cg==", options=ops.ObjectOptions(acl="private"))
    assert headers_of(put)["Content-Length"] == "3" and headers_of(put)["x-cos-acl"] == "private"


def test_parse_initiate_and_upload_part() -> None:
    result = ops.parse_initiate(200, {"X-Cos-Request-Id": "req-1"}, INITIATE)
    assert result.upload_id.startswith("1585130821") and result.request_id == "req-1"
    part = ops.parse_upload_part(
        200, {"ETag": '"39270a968a357d24207e9911162507eb"', "x-cos-hash-crc64ecma": "9973912126177188060"}, b"", part_number=3, size=1048576
    )
    assert (part.part_number, part.etag, part.crc64, part.size) == (3, '"39270a968a357d24207e9911162507eb"', 9973912126177188060, 1048576)
    assert ops.parse_upload_part(200, {"ETag": '"e"'}, b"", part_number=1, size=1).crc64 is None
    with pytest.raises(CosResponseError, match="ETag"):
        ops.parse_upload_part(200, {}, b"", part_number=1, size=1)


@pytest.mark.parametrize("value, expected", [("0", 0), ("18446744073709551615", 2**64 - 1), (" 11051210869376104954 ", 11051210869376104954)])
def test_crc64_unsigned_beyond_int64(value: str, expected: int) -> None:
    assert ops.parse_crc64(value) == expected


@pytest.mark.parametrize("value", ["-1", "18446744073709551616", "abc", "1.5", "", "0x10", "١٢"])
def test_crc64_malformed(value: str) -> None:
    with pytest.raises(CosResponseError, match="crc64ecma"):
        ops.parse_crc64(value, status=200, request_id="r")


def test_parse_complete_sample() -> None:
    result = ops.parse_complete(200, {"x-cos-hash-crc64ecma": "123", "x-cos-version-id": "v1", **IDS}, b"    " + COMPLETE)
    assert result.etag == '"aa259a62513358f69e98e72e59856d88-3"'
    assert (result.crc64, result.version_id, result.request_id) == (123, "v1", "req-1")


def test_parse_complete_200_with_error_body() -> None:
    with pytest.raises(CosServiceError) as info:
        ops.parse_complete(200, IDS, b"\n   \n" + ERROR.replace(b"NoSuchUpload", b"InternalError"))
    error = info.value
    assert (error.status, error.code, error.request_id, error.trace_id) == (200, "InternalError", "req-1", "trace-9")


@pytest.mark.parametrize("body", [COMPLETE, ERROR.replace(b"NoSuchUpload", b"InternalError")], ids=["result", "error"])
def test_parse_complete_parses_the_body_once(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    parse_document = _xml.parse_document

    def counted(data: bytes) -> Any:
        calls.append(len(data))
        return parse_document(data)

    monkeypatch.setattr(_xml, "parse_document", counted)
    try:
        ops.parse_complete(200, IDS, body)
    except CosServiceError as error:
        assert error.code == "InternalError"
    assert len(calls) == 1


def test_parse_complete_200_without_etag_or_bad_xml() -> None:
    with pytest.raises(CosResponseError, match="ETag") as info:
        ops.parse_complete(200, IDS, b"<CompleteMultipartUploadResult><Key>k</Key></CompleteMultipartUploadResult>")
    assert info.value.request_id == "req-1" and info.value.status == 200
    with pytest.raises(CosResponseError):
        ops.parse_complete(200, IDS, b"   ")
    with pytest.raises(CosResponseError):
        ops.parse_complete(200, IDS, COMPLETE[:100])


def test_error_statuses_with_xml_body() -> None:
    with pytest.raises(CosServiceError) as info:
        ops.parse_upload_part(404, {"x-cos-request-id": "req-2"}, ERROR, part_number=1, size=1)
    error = info.value
    assert (error.status, error.code, error.message) == (404, "NoSuchUpload", "The specified upload does not exist.")
    assert error.request_id == "req-2"  # the header wins over the body
    assert error.trace_id == "trace-1"  # from the body when the header is absent
    assert error.resource.endswith("/exampleobject")


@pytest.mark.parametrize("body", [b"", b"<html><body>502 Bad Gateway</body></html>", b"garbage \xff"])
def test_error_statuses_without_cos_error_body(body: bytes) -> None:
    with pytest.raises(CosServiceError) as info:
        ops.parse_initiate(502, IDS, body)
    error = info.value
    assert (error.status, error.code, error.request_id, error.trace_id) == (502, "", "req-1", "trace-9")
    assert "Bad Gateway" in error.message


def test_head_404_gives_status_and_ids() -> None:
    with pytest.raises(CosServiceError) as info:
        ops.parse_head_object(404, IDS, b"", key=KEY)
    assert (info.value.status, info.value.request_id, info.value.trace_id) == (404, "req-1", "trace-9")
    assert "Not Found" in str(info.value)


def test_unexpected_success_status() -> None:
    with pytest.raises(CosResponseError, match="206"):
        ops.parse_initiate(206, {}, INITIATE)


def test_parse_lists_abort_delete_head_get() -> None:
    assert ops.parse_list_parts(200, {}, LIST_PARTS).next_marker == 2
    assert len(ops.parse_list_uploads(200, {}, LIST_UPLOADS).uploads) == 2
    assert ops.parse_abort(204, IDS, b"").request_id == "req-1"
    assert ops.parse_delete_object(204, {}, b"").status == 204
    head = ops.parse_head_object(200, {"Content-Length": "13", "ETag": '"e"', "x-cos-hash-crc64ecma": "2900061071848923409"}, b"", key=KEY)
    assert (head.size, head.etag, head.crc64, head.key) == (13, '"e"', 2900061071848923409, KEY)
    assert ops.parse_get_object(206, {"Content-Length": "5"}, key=KEY).size == 5
    put = ops.parse_put_object(200, {"ETag": '"e"', "x-cos-version-id": "v"}, b"", key=KEY, size=3)
    assert (put.size, put.version_id) == (3, "v")
    with pytest.raises(CosResponseError):
        ops.parse_list_parts(200, {}, b"<html/>")


def test_completed_part_objects_pass_through() -> None:
    call = ops.prepare_complete(KEY, UPLOAD, [CompletedPart(1, '"a"')])
    assert b"<PartNumber>1</PartNumber>" in call.body  # type: ignore[operator]
