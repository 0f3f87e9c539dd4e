"""Both clients against the local server over real sockets: the streamed body of ``get_object`` and a transport
passed in (a wrapper that counts the calls it carries, the real transport behind it)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from hostile import HostileServer
from hostile import Request as HostileRequest
from uploads import async_client_like

from cos_multipart import HttpTransport, ObjectStream, upload_file
from cos_multipart._io._slots import RequestSlots
from cos_multipart._io._transports import Parser
from cos_multipart.aio import AsyncHttpTransport, AsyncObjectStream, AsyncTransport
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.credentials import Credentials
from cos_multipart._protocol.endpoint import Endpoint
from cos_multipart._protocol.errors import CosCancelledError, CosServiceError, CosTransportError, CosValidationError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.models import HttpCall, ObjectResult
from cos_multipart.testing import LocalCOS
from cos_multipart._io.transport import Transport

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

DATA = os.urandom(3 * MB + 123)
CHUNK = 64 * 1024


# --- the streamed body -----------------------------------------------------------------------------------


def test_get_object_streams_the_body_with_its_parsed_head(client: CosClient) -> None:
    put = client.put_object("big.bin", DATA, content_type="application/x-test")
    with client.get_object("big.bin") as body:
        assert isinstance(body, ObjectStream)
        assert (body.status, body.result.size, body.result.crc64, body.result.etag) == (200, len(DATA), crc64(DATA), put.etag)
        assert body.headers["Content-Type"] == body.headers["content-type"] == "application/x-test"
        chunks = list(body.iter_chunks(CHUNK))
    assert body.closed and b"".join(chunks) == DATA
    assert all(len(chunk) == CHUNK for chunk in chunks[:-1]) and 0 < len(chunks[-1]) <= CHUNK
    with pytest.raises(ValueError, match="closed"):
        body.read()
    with client.get_object("big.bin", byte_range=(1, 3)) as part:
        assert (part.status, part.result.size, part.read(), part.read()) == (206, 3, DATA[1:4], b"")


def test_a_body_closed_half_read_leaves_the_client_working(client: CosClient) -> None:
    client.put_object("big.bin", DATA)
    body = client.get_object("big.bin")
    assert body.read(100) == DATA[:100]
    body.close()
    body.close()  # idempotent
    assert client.head_object("big.bin").size == len(DATA)  # the connection was not handed on mid-body
    with client.get_object("big.bin") as again:
        assert again.read() == DATA and b"".join(again) == b""


def test_get_object_of_a_missing_key_raises_the_service_error(client: CosClient) -> None:
    with pytest.raises(CosServiceError) as caught:
        client.get_object("missing")
    assert (caught.value.status, caught.value.code) == (404, "NoSuchKey")


def test_the_async_client_streams_the_same_body(client: CosClient) -> None:
    put = client.put_object("big.bin", DATA)

    async def scenario() -> Tuple[Any, ...]:
        async with async_client_like(client) as aclient:
            async with await aclient.get_object("big.bin") as body:
                assert isinstance(body, AsyncObjectStream)
                head = (body.status, body.result.size, body.result.crc64, body.result.etag)
                chunks = [chunk async for chunk in body.iter_chunks(CHUNK)]
            async with await aclient.get_object("big.bin", byte_range=(1, 3)) as part:
                ranged = (part.status, await part.read(), await part.read())
            half = await aclient.get_object("big.bin")
            first = await half.read(100)
            await half.close()
            whole = await (await aclient.get_object("big.bin")).read()
            with pytest.raises(CosServiceError) as missing:
                await aclient.get_object("missing")
            return head, chunks, body.closed, ranged, first, whole, missing.value.status

    head, chunks, closed, ranged, first, whole, missing = asyncio.run(scenario())
    assert head == (200, len(DATA), crc64(DATA), put.etag) and closed and b"".join(chunks) == DATA
    assert all(len(chunk) <= CHUNK for chunk in chunks)
    assert ranged == (206, DATA[1:4], b"") and first == DATA[:100] and whole == DATA and missing == 404


# --- an injected transport -------------------------------------------------------------------------------


class Counting:
    """An :class:`HttpTransport` that records every call it carries, then hands it to the real one."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner
        self.calls: List[str] = []
        self.closed = False

    @property
    def endpoint(self) -> Endpoint:
        return self.inner.endpoint

    @property
    def clock_offset(self) -> float:
        return self.inner.clock_offset

    @property
    def pool_size(self) -> int:
        return self.inner.pool_size

    def ensure_pool_size(self, size: int) -> None:
        self.inner.ensure_pool_size(size)

    def credentials(self) -> Credentials:
        return self.inner.credentials()

    def send(self, call: HttpCall, parse: Parser[Any], *, cancel: Optional[threading.Event] = None) -> Any:
        self.calls.append(f"{call.method} {dict(call.params)}")
        return self.inner.send(call, parse, cancel=cancel)

    def stream(self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[threading.Event] = None) -> ObjectStream:
        self.calls.append(f"{call.method} stream")
        return self.inner.stream(call, parse, cancel=cancel)

    def abort_connections(self, cancel: Optional[threading.Event] = None) -> int:
        return self.inner.abort_connections(cancel)

    def close(self) -> None:
        self.closed = True  # the real transport belongs to the client it came from


def test_a_wrapped_transport_carries_every_call_of_the_client(client: CosClient, local_cos: LocalCOS) -> None:
    counting = Counting(client.transport)
    counted = client.with_transport(counting)
    upload = counted.initiate_multipart_upload("k")
    part = counted.upload_part("k", upload.upload_id, 1, b"hello")
    assert [p.part_number for p in counted.list_parts("k", upload.upload_id)] == [1]
    counted.complete_multipart_upload("k", upload.upload_id, [part])
    assert [o.key for o in counted.list_objects()] == ["k"] and counted.find_object("nope") is None
    with counted.get_object("k") as body:
        assert body.read() == b"hello"
    assert counted.delete_objects(["k"]).deleted == ("k",)
    assert [call.split(" ")[0] for call in counting.calls] == ["POST", "PUT", "GET", "POST", "GET", "HEAD", "GET", "POST"]
    assert counting.calls[-2] == "GET stream"
    assert len(local_cos.log_entries()) == len(counting.calls)  # each call one request, nothing around the wrapper
    counted.close()
    assert counting.closed and client.head_object is not None
    assert client.find_object("k") is None  # the original client still works: its transport was not closed


def test_an_upload_runs_through_a_transport_given_to_the_constructor(local_cos: LocalCOS, tmp_path: Path) -> None:
    with local_cos.client() as plain:
        assert isinstance(plain.transport, Transport) and isinstance(plain.transport, HttpTransport)
        counting = Counting(plain.transport)
        dialect = plain.dialect
        counted = CosClient(local_cos.bucket, local_cos.region, endpoint=local_cos.endpoint, dialect=dialect, transport=counting)
        assert counted.transport is counting
        source = tmp_path / "data.bin"
        source.write_bytes(DATA)
        result = upload_file(
            counted, source, "up.bin", part_size=MB, multipart_threshold=MB, checkpoint_dir=tmp_path / "checkpoints"
        )
        assert result.crc64 == crc64(DATA)
        assert sum(call.startswith("PUT {'partNumber'") for call in counting.calls) == 4
        with plain.get_object("up.bin") as body:
            assert body.read() == DATA


def test_a_transport_is_refused_for_another_endpoint_or_with_connection_arguments(local_cos: LocalCOS) -> None:
    with local_cos.client() as plain:
        dialect = plain.dialect
        with pytest.raises(CosValidationError) as caught:
            CosClient(local_cos.bucket, local_cos.region, endpoint="http://127.0.0.1:1", dialect=dialect, transport=plain.transport)
        assert caught.value.field == "transport" and "the client's endpoint" in str(caught.value)
        with pytest.raises(CosValidationError) as caught:
            CosClient(local_cos.bucket, local_cos.region, endpoint=local_cos.endpoint, dialect=dialect, transport=plain.transport, timeout=5)
        assert caught.value.field == "timeout" and "left out with transport=" in str(caught.value)
        with pytest.raises(CosValidationError) as caught:
            plain.with_transport(object())  # type: ignore[arg-type]
        assert caught.value.field == "transport"
    assert local_cos.log_entries() == []


class AsyncCounting:
    """An :class:`AsyncHttpTransport` that records every call, then hands it to the real one."""

    def __init__(self, inner: AsyncHttpTransport) -> None:
        self.inner = inner
        self.calls: List[str] = []

    @property
    def endpoint(self) -> Endpoint:
        return self.inner.endpoint

    @property
    def clock_offset(self) -> float:
        return self.inner.clock_offset

    @property
    def pool_size(self) -> int:
        return self.inner.pool_size

    def ensure_pool_size(self, size: int) -> None:
        self.inner.ensure_pool_size(size)

    async def credentials(self) -> Credentials:
        return await self.inner.credentials()

    async def send(self, call: HttpCall, parse: Parser[Any], *, cancel: Optional[asyncio.Event] = None) -> Any:
        self.calls.append(call.method)
        return await self.inner.send(call, parse, cancel=cancel)

    async def stream(self, call: HttpCall, parse: Parser[ObjectResult], *, cancel: Optional[asyncio.Event] = None) -> AsyncObjectStream:
        self.calls.append(f"{call.method} stream")
        return await self.inner.stream(call, parse, cancel=cancel)

    async def close(self) -> None:
        await self.inner.close()


def test_the_async_client_takes_a_transport_and_has_every_sync_method(client: CosClient, local_cos: LocalCOS) -> None:
    keys = [f"dir/{n}" for n in range(3)] + ["dir/line\x01break"]
    for key in keys:
        client.put_object(key, key.encode())

    async def scenario() -> Tuple[Any, ...]:
        base = async_client_like(client)
        assert isinstance(base.transport, AsyncTransport) and isinstance(base.transport, AsyncHttpTransport)
        counting = AsyncCounting(base.transport)
        async with base.with_transport(counting) as aclient:
            found = await aclient.find_object("dir/0"), await aclient.find_object("nope")
            page = await aclient.list_objects_page(prefix="dir/", max_keys=2)
            pages = [p async for p in aclient.list_object_pages(prefix="dir/", max_keys=2)]
            listed = [o.key async for o in aclient.list_objects("dir/")]
            deleted = await aclient.delete_objects(keys)
            left = [o.key async for o in aclient.list_objects("dir/")]
            stopped = asyncio.Event()
            stopped.set()
            with pytest.raises(CosCancelledError):
                await aclient.put_object("never", b"x", cancel=stopped)
        return found, page, pages, listed, deleted, left, counting.calls

    found, page, pages, listed, deleted, left, calls = asyncio.run(scenario())
    assert found[0] is not None and found[0].size == 5 and found[1] is None
    assert [o.key for o in page.objects] == ["dir/0", "dir/1"] and page.is_truncated
    assert [len(p.objects) for p in pages] == [2, 2] and listed == sorted(keys)
    assert sorted(deleted.deleted) == sorted(keys) and deleted.failed == () and left == []
    assert calls == ["HEAD", "HEAD", "GET", "GET", "GET", "GET", "POST", "DELETE", "GET", "PUT"]  # the PUT not sent:
    assert not any(entry.method == "PUT" and entry.path.endswith("/never") for entry in local_cos.log_entries())


def test_request_slots_wrap_the_transport_without_touching_the_client(client: CosClient, local_cos: LocalCOS) -> None:
    client.put_object("k", b"data")
    original = client.transport
    slots = RequestSlots(1)
    view = slots.client_view(client)
    assert client.transport is original and view.transport is not original
    assert isinstance(view.transport, HttpTransport) and view.endpoint == client.endpoint
    with ThreadPoolExecutor(4) as pool:
        sizes = list(pool.map(lambda _: view.head_object("k").size, range(8)))
    with view.get_object("k") as body:
        assert body.read() == b"data"
    assert sizes == [4] * 8 and slots.peak == 1
    view.close()  # the view's wrapper leaves the shared transport open
    assert client.head_object("k").size == 4
    before = len(local_cos.log_entries())
    slots.stop()
    with pytest.raises(CosCancelledError):
        view.head_object("k")
    assert len(local_cos.log_entries()) == before


@pytest.mark.parametrize("into", [False, True], ids=["read", "readinto"])
def test_a_body_that_breaks_off_raises_a_transport_error_on_both_clients(into: bool) -> None:
    def answer(request: HostileRequest, sock: socket.socket) -> bool:
        head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"e\"\r\nx-cos-request-id: hostile\r\n\r\n"
        sock.sendall(head.encode("latin-1") + b"0123456789")  # 10 of the 1000 bytes announced, then the end
        sock.shutdown(socket.SHUT_RDWR)
        return False

    with HostileServer(answer) as server, server.client() as client:
        body = client.get_object("k")
        assert body.result.size == 1000
        with pytest.raises(CosTransportError) as caught, body:
            body.readinto(bytearray(4096)) if into else body.read()
        assert caught.value.method == "GET" and "127.0.0.1" in str(caught.value)

        async def scenario() -> CosTransportError:
            async with server.async_client() as aclient:
                streamed = await aclient.get_object("k")
                with pytest.raises(CosTransportError) as failed:
                    async with streamed:
                        if into:
                            await streamed.readinto(bytearray(4096))
                        else:
                            async for _ in streamed:
                                pass
                return failed.value

        assert asyncio.run(scenario()).method == "GET"
