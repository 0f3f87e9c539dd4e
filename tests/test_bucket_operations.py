"""List Objects and Delete Multiple Objects: builders, parsers and the client's paging, without a socket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from typing import Any, Iterator, List, Optional

import pytest

from cos_multipart._protocol import _xml
from cos_multipart._protocol import operations as ops
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.errors import CosResponseError, CosValidationError
from cos_multipart._protocol.endpoint import Endpoint
from cos_multipart._protocol.models import HttpCall, ObjectsPage, ObjectSummary

LISTING = b"""<?xml version='1.0' encoding='utf-8' ?>
<ListBucketResult>
  <Name>examplebucket-1250000000</Name>
  <EncodingType>url</EncodingType>
  <Prefix>dir%2F</Prefix>
  <Marker/>
  <MaxKeys>2</MaxKeys>
  <Delimiter>%2F</Delimiter>
  <IsTruncated>true</IsTruncated>
  <NextMarker>dir%2Fb%20c</NextMarker>
  <Contents>
    <Key>dir%2Fa%2B%E6%96%87</Key>
    <LastModified>2020-03-25T10:07:14.000Z</LastModified>
    <ETag>&quot;ee8de918d05640145b18f70f4c3aa602&quot;</ETag>
    <Size>1024</Size>
    <Owner><ID>1250000000</ID><DisplayName>1250000000</DisplayName></Owner>
    <StorageClass>standard_ia</StorageClass>
    <HashCrc64Ecma>16749565679157681890</HashCrc64Ecma>
  </Contents>
  <CommonPrefixes><Prefix>dir%2Fsub%2F</Prefix></CommonPrefixes>
</ListBucketResult>"""


def test_prepare_list_objects() -> None:
    call = ops.prepare_list_objects(prefix="dir/", delimiter="/", marker="dir/a", max_keys=10)
    assert (call.method, call.key) == ("GET", "")
    assert dict(call.params) == {"encoding-type": "url", "max-keys": "10", "prefix": "dir/", "delimiter": "/", "marker": "dir/a"}
    assert "prefix" not in dict(ops.prepare_list_objects().params)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"max_keys": 0}, "max_keys"), ({"max_keys": 1001}, "max_keys"), ({"prefix": "a\nb"}, "prefix"), ({"marker": 3}, "marker")],
)
def test_prepare_list_objects_refuses(kwargs: Any, field: str) -> None:
    with pytest.raises(CosValidationError) as excinfo:
        ops.prepare_list_objects(**kwargs)
    assert excinfo.value.field == field


def test_parse_list_objects_decodes_keys_and_crc() -> None:
    page = ops.parse_list_objects(200, {}, LISTING)
    assert page.is_truncated and page.next_marker == "dir/b c"
    assert page.common_prefixes == ("dir/sub/",)
    (summary,) = page.objects
    assert summary.key == "dir/a+文" and summary.size == 1024 and summary.storage_class == "STANDARD_IA"
    assert summary.etag == '"ee8de918d05640145b18f70f4c3aa602"' and summary.crc64 == 16749565679157681890
    assert summary.last_modified is not None and summary.last_modified.year == 2020


def test_parse_list_objects_without_crc_and_bad_values() -> None:
    plain = LISTING.replace(b"<HashCrc64Ecma>16749565679157681890</HashCrc64Ecma>", b"")
    assert ops.parse_list_objects(200, {}, plain).objects[0].crc64 is None
    with pytest.raises(CosResponseError):
        ops.parse_list_objects(200, {}, LISTING.replace(b"<Size>1024</Size>", b""))
    with pytest.raises(CosResponseError):
        ops.parse_list_objects(200, {}, LISTING.replace(b"16749565679157681890", b"x1"))
    with pytest.raises(CosResponseError):
        ops.parse_list_objects(200, {}, b"<ListPartsResult/>")


def test_prepare_delete_objects_has_md5_and_quiet() -> None:
    call = ops.prepare_delete_objects(["a", "b & <c>"], quiet=True)
    assert (call.method, call.key, call.params) == ("POST", "", (("delete", None),))
    headers = dict(call.headers)
    assert headers["Content-MD5"] == base64.b64encode(hashlib.md5(call.body).digest()).decode()  # type: ignore[arg-type]
    assert b"<Quiet>true</Quiet>" in call.body and b"<Key>b &amp; &lt;c&gt;</Key>" in call.body  # type: ignore[operator]


def test_prepare_delete_object_of_one_version() -> None:
    assert ops.prepare_delete_object("k").params == ()
    call = ops.prepare_delete_object("k", "MTg0NDUxNTc1NjIzMTQ1MDAwODg")
    assert (call.method, call.key, call.params) == ("DELETE", "k", (("versionId", "MTg0NDUxNTc1NjIzMTQ1MDAwODg"),))
    for bad in ("", "v\n1", 7):
        with pytest.raises(CosValidationError, match="version_id"):
            ops.prepare_delete_object("k", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("keys", [[], ["k"] * 2, [f"k{i}" for i in range(1001)], ["/abs"]])
def test_prepare_delete_objects_refuses(keys: List[str]) -> None:
    with pytest.raises(CosValidationError):
        ops.prepare_delete_objects(keys)


def test_parse_delete_objects() -> None:
    body = (
        b"<DeleteResult><Deleted><Key>a</Key></Deleted>"
        b"<Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>"
    )
    result = ops.parse_delete_objects(200, {"x-cos-request-id": "r1"}, body)
    assert result.deleted == ("a",) and result.failed[0].key == "b" and result.failed[0].code == "AccessDenied"
    assert result.request_ids == ("r1",)
    assert ops.parse_delete_objects(200, {}, b"").failed == ()
    assert _xml.parse_delete_result(b"<DeleteResult/>") == ((), ())


class PagesTransport:
    """A transport whose List Objects answers come from a list (paging rules tested without a socket): the
    client's own loop runs, only the network is replaced, through ``with_transport``."""

    def __init__(self, endpoint: Endpoint, pages: List[ObjectsPage]) -> None:
        self.endpoint = endpoint
        self.clock_offset = 0.0
        self.pool_size = 1
        self.pages: Iterator[ObjectsPage] = iter(pages)
        self.markers: List[Any] = []

    def ensure_pool_size(self, size: int) -> None:
        """Nothing to grow."""

    def credentials(self) -> Credentials:
        return Credentials("AKIDx", "secret")

    def send(self, call: HttpCall, parse: Any, *, cancel: Optional[threading.Event] = None) -> Any:
        self.markers.append(dict(call.params).get("marker"))
        return next(self.pages)

    def stream(self, call: HttpCall, parse: Any, *, cancel: Optional[threading.Event] = None) -> Any:
        raise AssertionError("not a listing")

    def abort_connections(self, cancel: Optional[threading.Event] = None) -> int:
        return 0

    def close(self) -> None:
        """Nothing to release."""


class FakeClient:
    """A real client over a :class:`PagesTransport`."""

    def __init__(self, pages: List[ObjectsPage]) -> None:
        real = CosClient("examplebucket-1250000000", "ap-guangzhou", Credentials("AKIDx", "secret"))
        self.transport = PagesTransport(real.endpoint, pages)
        self.client = real.with_transport(self.transport)
        self.markers = self.transport.markers

    def list_objects(self, **kwargs: Any) -> Iterator[ObjectSummary]:
        return self.client.list_objects(**kwargs)


def summary(key: str) -> ObjectSummary:
    return ObjectSummary(key, 1, '"e"')


def test_paging_follows_markers_and_the_last_key() -> None:
    client = FakeClient([
        ObjectsPage((summary("a"),), (), True, "a"),
        ObjectsPage((summary("b"),), (), True, ""),  # no NextMarker: the last key
        ObjectsPage((summary("c"),), (), False),
    ])  # fmt: skip
    assert [o.key for o in client.list_objects()] == ["a", "b", "c"]
    assert client.markers == [None, "a", "b"]


def test_paging_refuses_a_marker_that_does_not_advance() -> None:
    client = FakeClient([ObjectsPage((summary("b"),), (), True, "b"), ObjectsPage((summary("a"),), (), True, "a")])
    with pytest.raises(CosResponseError, match="does not advance"):
        list(client.list_objects())
    empty = FakeClient([ObjectsPage((), (), True, "")])
    with pytest.raises(CosResponseError, match="does not advance"):
        list(empty.list_objects())


def test_paging_is_bounded() -> None:
    client = FakeClient([ObjectsPage((summary(f"k{i}"),), (), True, f"k{i}") for i in range(5)])
    with pytest.raises(CosResponseError, match="more than 3 pages"):
        list(client.list_objects(max_pages=3))
    with pytest.raises(CosValidationError):
        client.list_objects(max_pages=0)


class AsyncPagesTransport(PagesTransport):
    """:class:`PagesTransport` for the asyncio client: the same pages through the same pager."""

    async def credentials(self) -> Credentials:  # type: ignore[override]
        return Credentials("AKIDx", "secret")

    async def send(self, call: HttpCall, parse: Any, *, cancel: Optional[Any] = None) -> Any:
        return PagesTransport.send(self, call, parse)

    async def stream(self, call: HttpCall, parse: Any, *, cancel: Optional[Any] = None) -> Any:
        raise AssertionError("not a listing")

    async def close(self) -> None:  # type: ignore[override]
        """Nothing to release."""


def test_the_async_client_pages_by_the_same_rules() -> None:
    from cos_multipart.aio import AsyncCosClient

    def client(pages: List[ObjectsPage]) -> Any:
        real = AsyncCosClient("examplebucket-1250000000", "ap-guangzhou", Credentials("AKIDx", "secret"))
        transport = AsyncPagesTransport(real.endpoint, pages)
        return real.with_transport(transport), transport

    async def keys(pages: List[ObjectsPage], **kwargs: Any) -> Any:
        made, transport = client(pages)
        return [o.key async for o in made.list_objects(**kwargs)], transport.markers

    pages = [ObjectsPage((summary("a"),), (), True, "a"), ObjectsPage((summary("b"),), (), True, ""), ObjectsPage((summary("c"),), (), False)]
    assert asyncio.run(keys(pages)) == (["a", "b", "c"], [None, "a", "b"])
    with pytest.raises(CosResponseError, match="does not advance"):
        asyncio.run(keys([ObjectsPage((summary("b"),), (), True, "b"), ObjectsPage((summary("a"),), (), True, "a")]))
    with pytest.raises(CosResponseError, match="more than 3 pages"):
        asyncio.run(keys([ObjectsPage((summary(f"k{i}"),), (), True, f"k{i}") for i in range(5)], max_pages=3))
    with pytest.raises(CosValidationError):
        client([])[0].list_objects(max_pages=0)
