"""GET / HEAD Object conditionals and ranges as each service answers them: the pure rules, then over real
sockets against the local server in both dialects."""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart.testing import LocalCOS
from cos_multipart.testing import _preconditions, oss_protocol, protocol
from cos_multipart.testing.protocol import ServiceError
from cos_multipart.testing.pytest_plugin import LocalCOSFactory

from .anon import fields, put, send

ETAG = "0123456789abcdef0123456789abcdef"
MODIFIED = 1_700_000_000.5  # Tue, 14 Nov 2023 22:13:20 GMT
AT = "Tue, 14 Nov 2023 22:13:20 GMT"
BEFORE = "Tue, 14 Nov 2023 22:13:19 GMT"
AFTER = "Tue, 14 Nov 2023 22:13:21 GMT"


# --- pure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "proceed"),
        ({"if-match": f'"{ETAG}"'}, "proceed"),
        ({"if-match": ETAG}, "proceed"),
        ({"if-match": f'"other", "{ETAG}"'}, "proceed"),
        ({"if-match": "*"}, "proceed"),
        ({"if-match": '"other"'}, 412),
        ({"if-match": f'"{ETAG.upper()}"'}, 412),  # an ETag is compared exactly
        ({"if-unmodified-since": AT}, "proceed"),
        ({"if-unmodified-since": AFTER}, "proceed"),
        ({"if-unmodified-since": BEFORE}, 412),
        ({"if-unmodified-since": "yesterday"}, "proceed"),  # not a date: ignored
        ({"if-match": ETAG, "if-unmodified-since": BEFORE}, "proceed"),  # If-Match decides alone
        ({"if-none-match": f'"{ETAG}"'}, "not-modified"),
        ({"if-none-match": "*"}, "not-modified"),
        ({"if-none-match": '"other"'}, "proceed"),
        ({"if-modified-since": AT}, "not-modified"),
        ({"if-modified-since": AFTER}, "not-modified"),
        ({"if-modified-since": BEFORE}, "proceed"),
        ({"if-none-match": '"other"', "if-modified-since": AFTER}, "proceed"),  # If-None-Match decides alone
        ({"if-match": '"other"', "if-none-match": ETAG}, 412),  # 412 before 304
    ],
)
def test_get_preconditions(headers: Dict[str, str], expected: object) -> None:
    if expected == 412:
        with pytest.raises(ServiceError) as caught:
            _preconditions.evaluate(headers, ETAG, MODIFIED)
        assert (caught.value.status, caught.value.code) == (412, "PreconditionFailed")
    else:
        assert _preconditions.evaluate(headers, ETAG, MODIFIED) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"x-cos-copy-source-if-match": '"other"'},
        {"x-cos-copy-source-if-none-match": ETAG},
        {"x-cos-copy-source-if-modified-since": AFTER},
        {"x-cos-copy-source-if-unmodified-since": BEFORE},
    ],
)
def test_copy_source_preconditions_fail_with_412(headers: Dict[str, str]) -> None:
    with pytest.raises(ServiceError) as caught:
        _preconditions.evaluate(headers, ETAG, MODIFIED, copy_source=True)
    assert caught.value.status == 412
    # the same headers without the prefix do not concern the source
    assert _preconditions.evaluate({}, ETAG, MODIFIED, copy_source=True) == "proceed"


@pytest.mark.parametrize(
    ("header", "size", "standard", "expected"),
    [
        ("bytes=0-9", 1000, False, (0, 9)),
        ("bytes=500-", 1000, False, (500, 999)),
        ("bytes=-500", 1000, False, (500, 999)),
        ("bytes=0-", 1000, False, (0, 999)),
        ("bytes=0-1000", 1000, False, None),  # out of range: the whole object, 200
        ("bytes=1000-2000", 1000, False, None),
        ("bytes=1000-", 1000, False, None),
        ("bytes=-2000", 1000, False, None),
        ("byte=0-499", 1000, False, None),  # malformed: ignored
        ("bytes=9-3", 1000, False, None),
        ("bytes=0-499,500-999", 1000, False, (0, 499)),  # several ranges: the first
        ("bytes=0-", 0, False, None),
        ("bytes=500-2000", 1000, True, (500, 999)),  # standard: cut to the object
        ("bytes=1000-2000", 1000, True, 416),
        ("bytes=-2000", 1000, True, (0, 999)),
        ("bytes=0-", 0, True, 416),
        ("bytes=0-1000", 1000, True, (0, 999)),
    ],
)
def test_oss_ranges(header: str, size: int, standard: bool, expected: object) -> None:
    headers = {oss_protocol.RANGE_BEHAVIOR_HEADER: "standard"} if standard else {}
    if expected == 416:
        with pytest.raises(ServiceError) as caught:
            oss_protocol.byte_range(header, size, headers)
        assert (caught.value.status, caught.value.code) == (416, "InvalidRange")
    else:
        assert oss_protocol.byte_range(header, size, headers) == expected


def test_cos_ranges_of_an_empty_object_and_several_ranges() -> None:
    with pytest.raises(ServiceError) as caught:
        protocol.byte_range("bytes=0-", 0)
    assert caught.value.status == 416
    assert protocol.byte_range("bytes=0-1,4-5", 10) is None  # several ranges: ignored, the whole object


# --- over sockets, both dialects ------------------------------------------------------------------------


@pytest.fixture(params=["cos", "oss"])
def server(request: pytest.FixtureRequest, local_cos_factory: LocalCOSFactory) -> LocalCOS:
    return local_cos_factory(anonymous=True, dialect=request.param)


DATA = os.urandom(3000)


def _get(server: LocalCOS, key: str, **headers: str) -> Tuple[int, Dict[str, str], bytes]:
    response = send(server, "GET", key, headers={name.replace("_", "-"): value for name, value in headers.items()})
    return response.status_code, dict(response.headers), response.content


def _crc_header(server: LocalCOS) -> str:
    return f"x-{server.dialect}-hash-crc64ecma"


def test_if_match_with_range(server: LocalCOS) -> None:
    etag = put(server, "obj", DATA).headers["ETag"]
    status, headers, body = _get(server, "obj", If_Match=etag, Range="bytes=100-199")
    assert status == 206 and body == DATA[100:200]
    assert headers["Content-Range"] == "bytes 100-199/3000"
    assert headers["ETag"] == etag
    # the whole object's CRC-64 on a ranged answer, as OSS documents (and COS, which says "the object's")
    assert headers[_crc_header(server)] == str(crc64(DATA))
    status, headers, body = _get(server, "obj", If_Match='"0000"', Range="bytes=100-199")
    assert status == 412 and fields(body)["Code"] == "PreconditionFailed"
    status, _, body = _get(server, "obj", If_None_Match=etag, Range="bytes=100-199")
    assert status == 304 and body == b""


def test_conditions_on_dates(server: LocalCOS) -> None:
    put(server, "obj", DATA)
    modified = send(server, "HEAD", "obj").headers["Last-Modified"]
    long_ago = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert _get(server, "obj", If_Modified_Since=modified)[0] == 304
    assert _get(server, "obj", If_Modified_Since=long_ago)[0] == 200
    assert _get(server, "obj", If_Unmodified_Since=modified)[0] == 200
    status, _, body = _get(server, "obj", If_Unmodified_Since=long_ago)
    assert status == 412 and fields(body)["Code"] == "PreconditionFailed"
    assert send(server, "HEAD", "obj", headers={"If-Unmodified-Since": long_ago}).status_code == 412
    not_modified = send(server, "HEAD", "obj", headers={"If-None-Match": "*"})
    assert not_modified.status_code == 304 and not_modified.headers["Last-Modified"] == modified


def test_replaced_object_fails_a_pinned_range(server: LocalCOS) -> None:
    etag = put(server, "obj", DATA).headers["ETag"]
    assert _get(server, "obj", If_Match=etag, Range="bytes=0-9")[0] == 206
    put(server, "obj", DATA[::-1])
    assert _get(server, "obj", If_Match=etag, Range="bytes=10-19")[0] == 412


@pytest.mark.parametrize(
    ("value", "cos", "oss"),
    [
        ("bytes=2990-5000", (206, DATA[2990:]), (200, DATA)),
        ("bytes=3000-", (416, b""), (200, DATA)),
        ("bytes=-5000", (206, DATA), (200, DATA)),
        ("bytes=0-9,20-29", (200, DATA), (206, DATA[:10])),
        ("items=0-9", (200, DATA), (200, DATA)),
    ],
)
def test_out_of_range_and_malformed_as_each_service(server: LocalCOS, value: str, cos: Tuple[int, bytes], oss: Tuple[int, bytes]) -> None:
    put(server, "obj", DATA)
    status, _, body = _get(server, "obj", Range=value)
    expected_status, expected_body = cos if server.dialect == "cos" else oss
    assert status == expected_status
    if status == 416:
        assert fields(body)["Code"] == "InvalidRange"
    else:
        assert body == expected_body


def test_oss_standard_range_behavior(local_cos_factory: LocalCOSFactory) -> None:
    server = local_cos_factory(anonymous=True, dialect="oss")
    put(server, "obj", DATA)
    status, headers, body = _get(server, "obj", Range="bytes=2990-5000", x_oss_range_behavior="standard")
    assert (status, body, headers["Content-Range"]) == (206, DATA[2990:], "bytes 2990-2999/3000")
    status, _, body = _get(server, "obj", Range="bytes=3000-", x_oss_range_behavior="standard")
    assert status == 416 and fields(body)["Code"] == "InvalidRange"


def test_empty_object(server: LocalCOS) -> None:
    etag = put(server, "empty", b"").headers["ETag"]
    status, headers, body = _get(server, "empty")
    assert (status, body, headers[_crc_header(server)]) == (200, b"", "0")
    status, _, body = _get(server, "empty", Range="bytes=0-")
    if server.dialect == "cos":
        assert status == 416 and fields(body)["Code"] == "InvalidRange"
    else:
        assert (status, body) == (200, b"")
    assert _get(server, "empty", If_None_Match=etag)[0] == 304


def _entry_code(server: LocalCOS, api: str) -> Optional[str]:
    entries = server.log_entries(api)
    return entries[-1].code if entries else None


def test_not_modified_is_logged(server: LocalCOS) -> None:
    etag = put(server, "obj", DATA).headers["ETag"]
    assert _get(server, "obj", If_None_Match=etag)[0] == 304
    assert _entry_code(server, "GetObject") == "NotModified"
