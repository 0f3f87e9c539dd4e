"""Every validation rule: accepted values, refused values, and what the error says."""

from __future__ import annotations

import io
from typing import Any, Callable

import pytest

from cos_multipart._protocol import validation as v
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.limits import GB
from cos_multipart._protocol.models import CompletedPart, PartResult, ResponseInfo


def refused(function: Callable[..., Any], *args: Any, field: str, **kwargs: Any) -> CosValidationError:
    """Call ``function`` expecting a CosValidationError on ``field``; return it."""
    with pytest.raises(CosValidationError) as info:
        function(*args, **kwargs)
    error = info.value
    assert error.field == field
    assert isinstance(error, ValueError)
    assert error.allowed and error.allowed in str(error) and field in str(error)
    return error


@pytest.mark.parametrize("number", [1, 2, 9999, 10000])
def test_part_number_accepts_range(number: int) -> None:
    assert v.part_number(number) == number


@pytest.mark.parametrize("number", [0, -1, 10001, 99999, True, False, 1.0, "1", None])
def test_part_number_refuses(number: object) -> None:
    error = refused(v.part_number, number, field="part_number")
    assert error.value is number
    assert "1 to 10000" in error.allowed
    assert repr(number) in str(error)


def test_part_size() -> None:
    assert v.part_size(0) == 0
    assert v.part_size(5 * GB) == 5 * GB
    refused(v.part_size, 5 * GB + 1, field="content_length")
    refused(v.part_size, -1, field="content_length")
    assert v.object_size(5 * GB) == 5 * GB
    refused(v.object_size, 5 * GB + 1, field="content_length")


@pytest.mark.parametrize("limit", [819200, 1_000_000, 838860800])
def test_traffic_limit_accepts(limit: int) -> None:
    assert v.traffic_limit(limit) == limit


@pytest.mark.parametrize("limit", [819199, 838860801, 0, True, 1e6, "1000000"])
def test_traffic_limit_refuses(limit: object) -> None:
    error = refused(v.traffic_limit, limit, field="traffic_limit")
    assert "819200" in error.allowed and "838860800" in error.allowed


def test_size_guards() -> None:
    assert v.size_guards(None, None, "psize_min", "psize_max") == (None, None)
    assert v.size_guards(0, 5, "psize_min", "psize_max") == (0, 5)
    assert v.size_guards(5, 5, "pnum_min", "pnum_max") == (5, 5)
    assert v.size_guards(None, 7, "pnum_min", "pnum_max") == (None, 7)
    refused(v.size_guards, -1, None, "psize_min", "psize_max", field="psize_min")
    refused(v.size_guards, None, -2, "psize_min", "psize_max", field="psize_max")
    refused(v.size_guards, True, None, "psize_min", "psize_max", field="psize_min")
    error = refused(v.size_guards, 6, 5, "pnum_min", "pnum_max", field="pnum_min")
    assert "pnum_max=5" in error.allowed


def test_content_md5() -> None:
    assert v.content_md5("OScKloo1fSQgfpkRFiUH6w==") == "OScKloo1fSQgfpkRFiUH6w=="
    for bad in ("", "39270a968a357d24207e9911162507eb", "OScKloo1fSQgfpkRFiUH6w=", "OScKloo1fSQgfpkRFiUH6===", "!ScKloo1fSQgfpkRFiUH6w==", None):
        refused(v.content_md5, bad, field="content_md5")


def test_upload_id() -> None:
    assert v.upload_id("1585130821cbb7") == "1585130821cbb7"
    for bad in ("", "a\nb", "ä", None, 5):
        refused(v.upload_id, bad, field="upload_id")


@pytest.mark.parametrize("value", ["a\r\nx-evil: 1", "a\nb", "a\rb", "\x00", "é", 5])
def test_header_values_refuse_crlf_and_non_ascii(value: object) -> None:
    refused(v.header_value, "cache_control", value, field="cache_control")


def test_storage_class_case_insensitive_sent_upper() -> None:
    assert v.storage_class("standard_ia") == "STANDARD_IA"
    assert v.storage_class("Maz_Standard") == "MAZ_STANDARD"
    error = refused(v.storage_class, "GLACIER", field="storage_class")
    assert "DEEP_ARCHIVE" in error.allowed


def test_acl() -> None:
    assert v.acl("bucket-owner-full-control") == "bucket-owner-full-control"
    error = refused(v.acl, "public-read-write", field="acl")  # not for objects (436/30752)
    assert "public-read" in error.allowed
    refused(v.acl, "Private", field="acl")


def test_grants() -> None:
    for good in ('id="100000000001"', 'id="100000000001",id="100000000002"', 'id="1/2", id="3"'):
        assert v.grant(good, "grant_read") == good
    for bad in ("100000000001", 'uin="1"', 'id="abc"', 'id="1",', 'id="1"\r\n', ""):
        refused(v.grant, bad, "grant_read", field="grant_read")


def test_metadata_names_and_lowercasing() -> None:
    assert v.metadata({"Author": "me", "x-cos-meta-Project-2": "p"}) == {"x-cos-meta-author": "me", "x-cos-meta-project-2": "p"}
    assert v.metadata(None) == {}
    refused(v.metadata, {"under_score": "x"}, field="metadata name")
    refused(v.metadata, {"": "x"}, field="metadata name")
    refused(v.metadata, {"x-cos-meta-": "x"}, field="metadata name")
    refused(v.metadata, {"a.b": "x"}, field="metadata name")
    error = refused(v.metadata, {"Name": "1", "name": "2"}, field="metadata name")
    assert "x-cos-meta-name" in error.allowed
    refused(v.metadata, {"ok": "line\nbreak"}, field="x-cos-meta-ok")
    refused(v.metadata, ["not", "mapping"], field="metadata")


def test_metadata_sizes_count_name_and_value_bytes() -> None:
    name = "x-cos-meta-k"  # 12 bytes
    assert v.metadata({"k": "v" * (2048 - 12)})
    error = refused(v.metadata, {"k": "v" * (2048 - 11)}, field=name)
    assert "2048" in error.allowed
    # Two headers of 2048 bytes each fit in 4096; a third byte over does not.
    assert v.metadata({"a": "v" * (2048 - 12), "b": "v" * (2048 - 12)})
    error = refused(v.metadata, {"a": "v" * (2048 - 12), "b": "v" * (2048 - 12), "c": "v"}, field="metadata")
    assert "4096" in error.allowed


def test_tagging_mapping_and_string() -> None:
    assert v.tagging({"k1": "v1", "team": "a b+c/@:="}) == "k1=v1&team=a%20b%2Bc%2F%40%3A%3D"
    assert v.tagging("k1=v1&k2=a%20b") == "k1=v1&k2=a%20b"
    assert v.tagging("plus=a+b") == "plus=a%2Bb"  # + is a tag character, not a space
    assert v.tagging({"项目": "值"}) == "%E9%A1%B9%E7%9B%AE=%E5%80%BC"
    assert v.tagging(None) is None


def test_tagging_limits() -> None:
    assert v.tagging({f"k{i}": "v" for i in range(10)})
    error = refused(v.tagging, {f"k{i}": "v" for i in range(11)}, field="tagging")
    assert "10" in error.allowed
    refused(v.tagging, {}, field="tagging")
    assert v.tagging({"k" * 127: "v" * 255})
    refused(v.tagging, {"k" * 128: "v"}, field="tagging key")
    refused(v.tagging, {"k": "v" * 256}, field="tagging value for 'k'")
    refused(v.tagging, {"k": ""}, field="tagging value for 'k'")
    refused(v.tagging, {"k#": "v"}, field="tagging key")
    refused(v.tagging, {"k": "v&x"}, field="tagging value for 'k'")
    refused(v.tagging, "k1=v1&k1=v2", field="tagging key")
    refused(v.tagging, "novalue", field="tagging")
    refused(v.tagging, 5, field="tagging")


def _result(number: int, etag: str) -> PartResult:
    return PartResult(number, etag, None, 1, ResponseInfo(200))


def test_completed_parts_shapes_and_quoting() -> None:
    parts = v.completed_parts([(1, "abc"), CompletedPart(2, '"def"'), _result(5, '"ghi"')])
    assert parts == (CompletedPart(1, '"abc"'), CompletedPart(2, '"def"'), CompletedPart(5, '"ghi"'))


@pytest.mark.parametrize(
    "parts, field",
    [
        ([], "parts"),
        ([(2, "a"), (1, "b")], "parts[1].part_number"),
        ([(1, "a"), (1, "b")], "parts[1].part_number"),
        ([(0, "a")], "parts[0].part_number"),
        ([(10001, "a")], "parts[0].part_number"),
        ([(True, "a")], "parts[0].part_number"),
        ([(1, "")], "parts[0].etag"),
        ([(1, '""')], "parts[0].etag"),
        ([(1, None)], "parts[0].etag"),
        ([(1, "a\nb")], "parts[0].etag"),
        ([(1, 'a"b')], "parts[0].etag"),
        ([(1, "a", "x")], "parts[0]"),
        ([{"PartNumber": 1}], "parts[0]"),
        ("12", "parts"),
        (None, "parts"),
    ],
)
def test_completed_parts_refused(parts: object, field: str) -> None:
    refused(v.completed_parts, parts, field=field)


def test_body_length() -> None:
    assert v.body_length(b"abc", None) == 3
    assert v.body_length(bytearray(5), None) == 5
    assert v.body_length(memoryview(b"abcd"), 2) == 2
    refused(v.body_length, b"abc", 4, field="content_length")


class Untouchable(io.BytesIO):
    """A stream that fails the test if anything seeks, tells or reads it."""

    def seek(self, *args: object) -> int:
        raise AssertionError("seek")

    def tell(self) -> int:
        raise AssertionError("tell")

    def read(self, *args: object) -> bytes:
        raise AssertionError("read")


class Sized(Untouchable):
    def __len__(self) -> int:
        return 6


def test_body_length_of_a_stream_does_no_io() -> None:
    stream = Untouchable(b"0123456789")
    assert v.body_length(stream, 6) == 6
    error = refused(v.body_length, stream, None, field="content_length")
    assert "required for a file object" in error.allowed and "Untouchable" in error.allowed
    refused(v.body_length, stream, -1, field="content_length")
    assert v.body_length(Sized(), None) == 6  # a stream that knows its length
    assert v.body_length(Sized(), 4) == 4
    refused(v.body_length, Sized(), 7, field="content_length")


def test_body_length_of_other_bodies() -> None:
    refused(v.body_length, b"abc", -1, field="content_length")
    refused(v.body_length, b"abc", True, field="content_length")
    refused(v.body_length, "text", None, field="body")
    refused(v.body_length, iter([b"x"]), None, field="body")


def test_byte_range_and_positive_int() -> None:
    assert v.byte_range((0, 9)) == "bytes=0-9"
    assert v.byte_range((5, None)) == "bytes=5-"
    assert v.byte_range(None) is None
    for bad in ((5, 4), (-1, 3), (1,), "0-9", (True, 2)):
        refused(v.byte_range, bad, field="byte_range")
    assert v.positive_int(3, "n", 5) == 3
    refused(v.positive_int, 6, "n", 5, field="n")
    refused(v.positive_int, 0, "n", field="n")


@pytest.mark.parametrize("part_size", [6 * GB, True, 50 * 1024, "8MB"])
def test_a_config_part_size_error_names_each_services_rule(part_size: Any) -> None:
    # An UploadConfig does not know its service yet: the message gives COS's and OSS's rules, not one of them.
    from cos_multipart import UploadConfig

    error = refused(UploadConfig, part_size=part_size, field="part_size")
    assert error.value == part_size
    assert "1048576 (1 MB) on COS" in error.allowed and "102400 (100 KB) on OSS" in error.allowed
    assert "5368709120 (5 GB)" in error.allowed and "OSS UploadPart" not in error.allowed
