"""The local server's layers as pure values, no socket: routing, fault effects, the service."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Dict, Optional

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import Fault, FaultController
from cos_multipart.testing._effects import altered, refusal, wrong_etag
from cos_multipart.testing._messages import Completed, Reply, Request, completed_body
from cos_multipart.testing._routing import parse_request, route
from cos_multipart.testing._service import HANDLERS, Service
from cos_multipart.testing.faults import CLEAN_PLAN, FaultPlan
from cos_multipart.testing.protocol import ServiceError
from cos_multipart.testing.store import BodySink, Store

BUCKET = "examplebucket-1250000000"


def request(method: str, target: str, headers: Optional[Dict[str, str]] = None) -> Request:
    return parse_request(
        method,
        target,
        (headers or {}).items(),
        default_bucket=BUCKET,
        default_region="ap-guangzhou",
        request_id="req-1",
    )


class BytesBody:
    """A request body held in memory, read the way the wire's is."""

    def __init__(self, data: bytes = b"") -> None:
        self._data = io.BytesIO(data)

    def receive(self, sink: BodySink, length: int, *, rate: Optional[float]) -> None:
        sink.write(memoryview(self._data.read(length)))

    def read_small(self, length: int) -> bytes:
        return self._data.read(length)


# --- routing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, target, api",
    [
        ("POST", "/k?uploads", "InitiateMultipartUpload"),
        ("POST", "/k?uploads=", "InitiateMultipartUpload"),
        ("POST", "/k?uploads&uploadId=1", "InitiateMultipartUpload"),
        ("POST", "/k?uploadId=1", "CompleteMultipartUpload"),
        ("PUT", "/k?partNumber=1&uploadId=1", "UploadPart"),
        ("PUT", "/k?uploads&uploadId=1", "UploadPart"),
        ("PUT", "/k?uploads", "PutObject"),
        ("PUT", "/k", "PutObject"),
        ("GET", "/k?uploadId=1", "ListParts"),
        ("GET", "/k", "GetObject"),
        ("GET", "/?uploads", "ListMultipartUploads"),
        ("GET", "/?prefix=a&marker=b", "ListObjects"),
        ("POST", "/?delete", "DeleteMultipleObjects"),
        ("HEAD", "/k?uploadId=1", "HeadObject"),
        ("DELETE", "/k?uploadId=1", "AbortMultipartUpload"),
        ("DELETE", "/k", "DeleteObject"),
        ("GET", "http://h/a%20b?uploadId=1", "ListParts"),  # absolute form, through a proxy
    ],
)
def test_routes(method: str, target: str, api: str) -> None:
    assert route(request(method, target)) == api


@pytest.mark.parametrize(
    "method, target, api",
    [
        ("PUT", "/k", "PutObjectCopy"),
        ("PUT", "/k?partNumber=1&uploadId=1", "UploadPartCopy"),
        ("GET", "/k", "GetObject"),  # other APIs ignore the header
    ],
)
def test_copy_routes(method: str, target: str, api: str) -> None:
    assert route(request(method, target, {"x-cos-copy-source": "b-1250000000.cos.ap-guangzhou.myqcloud.com/k"})) == api


@pytest.mark.parametrize(
    "method, target, headers, status, code",
    [
        ("GET", "/?acl", {}, 501, "NotImplemented"),
        ("PUT", "/?policy", {}, 501, "NotImplemented"),
        ("GET", "/k?acl", {}, 501, "NotImplemented"),
        ("POST", "/k", {}, 405, "MethodNotAllowed"),
        ("PATCH", "/k", {}, 405, "MethodNotAllowed"),
        ("PUT", "/k", {"Content-Length": "ten"}, 400, "InvalidArgument"),
        ("PUT", "/%5Ck", {}, 400, "InvalidURI"),
    ],
)
def test_routing_refusals(method: str, target: str, headers: Dict[str, str], status: int, code: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        route(request(method, target, headers))
    assert (excinfo.value.status, excinfo.value.code) == (status, code)


def test_parsed_request_names_bucket_key_and_resource() -> None:
    parsed = request("GET", "/dir/a%20b?uploadId=7&x=", {"Host": "other-1250000000.cos.ap-beijing.myqcloud.com"})
    assert (parsed.bucket, parsed.region, parsed.key) == ("other-1250000000", "ap-beijing", "dir/a b")
    assert parsed.param("uploadId") == "7" and parsed.has_param("x") and parsed.param("y") is None
    assert parsed.resource == "other-1250000000.cos.ap-beijing.myqcloud.com/dir/a%20b"


# --- fault effects ------------------------------------------------------------------------------------


def plan_of(*faults: Fault) -> FaultPlan:
    return FaultController(faults).plan("UploadPart")


def test_clean_plan_changes_nothing() -> None:
    reply = Reply(200, etag="abc", crc64=5)
    assert altered(reply, CLEAN_PLAN) is reply and refusal(CLEAN_PLAN, request("PUT", "/k"), True) is None


def test_wrong_etag_and_crc_alter_the_reply_values() -> None:
    reply = altered(Reply(200, etag="0abc", crc64=6), plan_of(Fault.wrong_etag(), Fault.wrong_crc64()))
    assert (reply.etag, reply.crc64) == ("1abc", 7)
    assert wrong_etag("9f") == "0f"


def test_wrong_etag_reaches_the_complete_result() -> None:
    reply = altered(Reply(200, crc64=1, pending=lambda: Completed("loc", BUCKET, "k", "abc-2")), plan_of(Fault.wrong_etag()))
    assert reply.pending is not None and reply.pending().etag == "0bc-2" and reply.crc64 == 1
    failed = altered(Reply(200, pending=lambda: Completed(error=ServiceError(500, "InternalError", "x"))), plan_of(Fault.wrong_etag()))
    assert failed.pending is not None and failed.pending().error is not None


def test_error_fault_refuses_and_keeps_its_delay() -> None:
    plan = plan_of(Fault.error("UploadPart", status=503), Fault.delay(0.5, "UploadPart"))
    refused = refusal(plan, request("PUT", "/k?partNumber=1&uploadId=1"), True)
    assert refused is not None and (refused.status, refused.code) == (503, "SlowDown")
    assert altered(refused, plan).delay == 0.5


def test_reset_fault_refuses_only_while_a_body_is_coming() -> None:
    plan = plan_of(Fault.reset("UploadPart", after_bytes=10))
    assert refusal(plan, request("PUT", "/k"), True) == Reply(0)
    assert refusal(plan, request("PUT", "/k"), False) is None
    assert altered(Reply(200), plan).reset_after == 10


# --- the service --------------------------------------------------------------------------------------


def call(service: Service, api: str, method: str, target: str, data: bytes = b"", **headers: str) -> Reply:
    all_headers = {"Content-Length": str(len(data)), **{k.replace("_", "-"): v for k, v in headers.items()}}
    return HANDLERS[api](service, request(method, target, all_headers), BytesBody(data))


def initiate(service: Service, key: str = "k") -> str:
    reply = call(service, "InitiateMultipartUpload", "POST", f"/{key}?uploads")
    text = reply.body.decode()
    return text.split("<UploadId>")[1].split("</UploadId>")[0]


def test_every_api_has_a_handler() -> None:
    from cos_multipart.testing import API_NAMES

    assert set(HANDLERS) == set(API_NAMES)


def test_upload_part_and_complete_as_values(tmp_path: Path) -> None:
    service = Service(Store(tmp_path))
    upload_id = initiate(service)
    first = call(service, "UploadPart", "PUT", f"/k?partNumber=1&uploadId={upload_id}", b"a" * MB)
    second = call(service, "UploadPart", "PUT", f"/k?partNumber=2&uploadId={upload_id}", b"tail")
    assert first.etag == hashlib.md5(b"a" * MB).hexdigest() and first.crc64 == crc64(b"a" * MB)
    body = (
        f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{first.etag}</ETag></Part>"
        f"<Part><PartNumber>2</PartNumber><ETag>{second.etag}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    reply = call(service, "CompleteMultipartUpload", "POST", f"/k?uploadId={upload_id}", body)
    # The 200 and the whole object's CRC-64 are known before anything is merged.
    assert reply.status == 200 and reply.crc64 == crc64(b"a" * MB + b"tail") and reply.pending is not None
    assert service.store.list_uploads(BUCKET)  # nothing merged yet
    done = reply.pending()
    assert done.error is None and done.etag.endswith("-2") and not service.store.list_uploads(BUCKET)
    assert f'<ETag>"{done.etag}"</ETag>' in completed_body(request("POST", "/k"), done).decode()
    head = call(service, "HeadObject", "HEAD", "/k")
    assert (head.length, head.crc64, head.etag) == (MB + 4, reply.crc64, done.etag)


def test_complete_errors_are_raised_before_the_200(tmp_path: Path) -> None:
    service = Service(Store(tmp_path))
    upload_id = initiate(service)
    body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"
    with pytest.raises(ServiceError) as excinfo:
        call(service, "CompleteMultipartUpload", "POST", f"/k?uploadId={upload_id}", body)
    assert excinfo.value.code == "InvalidPart"


def test_get_object_returns_an_open_reader_and_range(tmp_path: Path) -> None:
    service = Service(Store(tmp_path))
    call(service, "PutObject", "PUT", "/k", b"0123456789")
    reply = HANDLERS["GetObject"](service, request("GET", "/k", {"Range": "bytes=2-4"}), BytesBody())
    assert reply.stream is not None
    with reply.stream.reader:
        assert (reply.status, reply.length, reply.stream.first, reply.stream.length) == (206, 3, 2, 3)
        assert ("Content-Range", "bytes 2-4/10") in reply.headers


def test_object_errors(tmp_path: Path) -> None:
    service = Service(Store(tmp_path))
    with pytest.raises(ServiceError) as excinfo:
        call(service, "GetObject", "GET", "/missing")
    assert excinfo.value.code == "NoSuchKey"
    with pytest.raises(ServiceError) as excinfo:
        call(service, "PutObject", "PUT", "/k", b"x", content_md5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert excinfo.value.code == "BadDigest"
    assert call(service, "DeleteObject", "DELETE", "/missing") == Reply(204)


