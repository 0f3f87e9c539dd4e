"""Server-side copy's builders and parsers (PUT Object - Copy, Upload Part - Copy), COS and OSS, without I/O."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from cos_multipart._protocol import copy_ops
from cos_multipart._protocol.copy_ops import CopySource
from cos_multipart._protocol.dialect import COS, OSS
from cos_multipart._protocol.errors import CosResponseError, CosServiceError, CosValidationError
from cos_multipart._protocol.models import HttpCall
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._protocol.sse import SseC

RAW_KEY = b"0123456789ABCDEF0123456789ABCDEF"
OTHER_KEY = b"ABCDEF0123456789ABCDEF0123456789"
UPLOAD = "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"
SOURCE = CopySource("dir/a b+c?.bin", "src-1250000000", "ap-beijing")
COPY_RESULT = (
    b'<?xml version="1.0"?><CopyObjectResult><ETag>"9a4802d5c99dafe1c04da0a8e7e166bf"</ETag>'
    b"<CRC64>16749565679157681890</CRC64><LastModified>2026-12-07T10:00:00.000Z</LastModified></CopyObjectResult>"
)
PART_RESULT = b'<CopyPartResult><ETag>"ba82b57cfdfda8bd17ad4e5879ebb4fe"</ETag><LastModified>2026-12-07T10:00:00.000Z</LastModified></CopyPartResult>'


def headers_of(call: HttpCall) -> Dict[str, Any]:
    return dict(call.headers)


def test_the_cos_source_names_the_bucket_by_host_and_encodes_the_key() -> None:
    assert SOURCE.header(COS) == "src-1250000000.cos.ap-beijing.myqcloud.com/dir/a%20b%2Bc%3F.bin"
    versioned = CopySource("k", "src-1250000000", "ap-beijing", "MTg0NDUx")
    assert versioned.header(COS).endswith("/k?versionId=MTg0NDUx")


def test_the_oss_source_names_the_bucket_by_path() -> None:
    assert CopySource("dir/k", "srcbucket").header(OSS) == "/srcbucket/dir/k"


def test_a_source_takes_the_clients_bucket_and_region_where_it_names_none() -> None:
    assert CopySource("k").resolved("b-1250000000", "ap-guangzhou") == CopySource("k", "b-1250000000", "ap-guangzhou")
    assert SOURCE.resolved("b-1250000000", "ap-guangzhou") == SOURCE
    with pytest.raises(CosValidationError, match="source"):
        CopySource("k").header(COS)


@pytest.mark.parametrize("field, value", [("bucket", "a/b"), ("region", ""), ("version_id", "x y")])
def test_a_source_that_cannot_be_named_is_refused(field: str, value: str) -> None:
    with pytest.raises(CosValidationError, match=f"source {field}"):
        CopySource("k", **{field: value})


def test_prepare_copy_object_copies_metadata_by_default() -> None:
    options = ObjectOptions(storage_class="STANDARD_IA", acl="private")
    call = copy_ops.prepare_copy_object("dst", SOURCE, source_if_match='"abc"', options=options)
    assert (call.method, call.key, call.params, call.body, call.content_length) == ("PUT", "dst", (), None, 0)
    assert headers_of(call) == {
        "x-cos-metadata-directive": "Copy",
        "x-cos-copy-source": SOURCE.header(COS),
        "x-cos-copy-source-if-match": '"abc"',
        "x-cos-storage-class": "STANDARD_IA",
        "x-cos-acl": "private",
        "Content-Length": "0",
    }


def test_a_copy_directive_refuses_content_options() -> None:
    with pytest.raises(CosValidationError, match="content_type.*Replaced"):
        copy_ops.prepare_copy_object("dst", SOURCE, options=ObjectOptions(content_type="text/plain"))


def test_replaced_sends_every_option() -> None:
    options = ObjectOptions(content_type="text/plain", metadata={"a": "1"})
    headers = headers_of(copy_ops.prepare_copy_object("dst", SOURCE, metadata_directive="Replaced", options=options, forbid_overwrite=True))
    assert headers["Content-Type"] == "text/plain" and headers["x-cos-meta-a"] == "1"
    assert headers["x-cos-metadata-directive"] == "Replaced" and headers["x-cos-forbid-overwrite"] == "true"


def test_an_unknown_directive_is_refused() -> None:
    with pytest.raises(CosValidationError, match="metadata_directive"):
        copy_ops.prepare_copy_object("dst", SOURCE, metadata_directive="COPY")


def test_source_and_destination_sse_c_go_under_their_own_names() -> None:
    call = copy_ops.prepare_upload_part_copy(
        "dst", UPLOAD, 3, SOURCE, source_range=(0, 1048575), source_sse_c=SseC(RAW_KEY), sse_c=SseC(OTHER_KEY)
    )
    headers = headers_of(call)
    assert headers["x-cos-copy-source-server-side-encryption-customer-key"] == SseC(RAW_KEY).key
    assert headers["x-cos-server-side-encryption-customer-key"] == SseC(OTHER_KEY).key
    assert headers["x-cos-copy-source-range"] == "bytes=0-1048575"
    assert call.params == (("partNumber", "3"), ("uploadId", UPLOAD))


def test_oss_renames_the_copy_headers_and_refuses_source_sse_c() -> None:
    call = copy_ops.prepare_copy_object("dst", CopySource("k", "srcbucket"), dialect=OSS, source_if_match='"e"')
    wire = OSS.to_wire(headers_of(call))
    assert wire["x-oss-copy-source"] == "/srcbucket/k" and wire["x-oss-copy-source-if-match"] == '"e"'
    assert wire["x-oss-metadata-directive"] == "COPY"
    sse_c = copy_ops.prepare_upload_part_copy("dst", UPLOAD, 1, CopySource("k", "srcbucket"), dialect=OSS, source_sse_c=SseC(RAW_KEY))
    with pytest.raises(CosValidationError, match="source_sse_c"):
        OSS.to_wire(headers_of(sse_c))


@pytest.mark.parametrize("bad", [(5, 4), (-1, 3), (0, 5 * 1024**3), "0-3", (1,)])
def test_a_bad_source_range_is_refused(bad: Any) -> None:
    with pytest.raises(CosValidationError, match="source_range"):
        copy_ops.prepare_upload_part_copy("dst", UPLOAD, 1, SOURCE, source_range=bad)


def test_parse_copy_object_reads_the_xml_result() -> None:
    result = copy_ops.parse_copy_object(200, {"x-cos-request-id": "r1", "x-cos-version-id": "v2"}, COPY_RESULT, key="dst")
    assert (result.etag, result.crc64, result.version_id, result.size) == ('"9a4802d5c99dafe1c04da0a8e7e166bf"', 16749565679157681890, "v2", None)


def test_parse_upload_part_copy_takes_the_crc_header() -> None:
    result = copy_ops.parse_upload_part_copy(200, {"x-cos-hash-crc64ecma": "42"}, PART_RESULT, part_number=2, size=10)
    assert (result.part_number, result.etag, result.crc64, result.size) == (2, '"ba82b57cfdfda8bd17ad4e5879ebb4fe"', 42, 10)
    assert copy_ops.parse_upload_part_copy(200, {}, PART_RESULT, part_number=2, size=10).crc64 is None


def test_a_200_with_an_error_body_is_the_service_error() -> None:
    body = b"<Error><Code>InternalError</Code><Message>copy failed</Message></Error>"
    with pytest.raises(CosServiceError) as caught:
        copy_ops.parse_copy_object(200, {}, body, key="dst")
    assert (caught.value.status, caught.value.code) == (200, "InternalError")


def test_an_unreadable_answer_is_a_response_error() -> None:
    with pytest.raises(CosResponseError):
        copy_ops.parse_upload_part_copy(200, {}, b"<CopyPartResult/>", part_number=1, size=1)
    with pytest.raises(CosResponseError):
        copy_ops.parse_copy_object(200, {}, b"not xml", key="dst")
    with pytest.raises(CosServiceError):
        copy_ops.parse_copy_object(412, {}, b"<Error><Code>PreconditionFailed</Code></Error>", key="dst")
