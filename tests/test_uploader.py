"""The uploader against an in-memory fake of the client: flow, verification, resume, failure policy.

The fake reads request bodies the way the transport does (16 KiB reads, rewinding before a retry) and
computes ETag and CRC-64 like COS, with hooks to inject faults. Real sockets are covered by
tests/integration/test_uploader_*.py.
"""

from __future__ import annotations

import _thread
import dataclasses
import hashlib
import io
import logging
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.errors import CosCancelledError, CosIntegrityError, CosServiceError, CosValidationError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.models import CompleteResult, InitiateResult, ObjectResult, PartInfo, PartResult, ResponseInfo
from cos_multipart._core.progress import ProgressEvent
from cos_multipart._protocol.sse import SseC, SseCos, SseKms
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._drivers.uploader import UploadConfig, Uploader, UploadResult, upload_file

BUCKET = "examplebucket-1250000000"
SSE_C_KEY = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="
Hook = Callable[[str, Dict[str, Any]], None]


class FakeCos:
    """An in-memory COS behind the client's method signatures."""

    def __init__(self) -> None:
        self.bucket = BUCKET
        self.endpoint = SimpleNamespace(base_url="http://127.0.0.1:1")
        self.transport = SimpleNamespace(clock_offset=0.0)
        self.uploads: Dict[str, Dict[int, Tuple[bytes, str]]] = {}
        self.upload_keys: Dict[str, str] = {}
        self.objects: Dict[str, bytes] = {}
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.hook: Optional[Hook] = None  # may raise, or change the "reply" dict
        self.in_flight = 0
        self.max_in_flight = 0
        self.encrypted_etags = False
        self.counter = 0
        self.pool_size = 1
        self.aborted_connections = 0

    def ensure_pool_size(self, size: int) -> None:
        self.pool_size = max(self.pool_size, size)

    def abort_connections(self, cancel: Any = None) -> int:
        self.aborted_connections += 1
        return 0

    def _call(self, name: str, **details: Any) -> Dict[str, Any]:
        options = details.pop("options", None)
        if options is not None:  # the object options, as the requests carry them
            details.update({item.name: getattr(options, item.name) for item in dataclasses.fields(options)})
        with self.lock:
            self.calls.append((name, details))
            self.counter += 1
            reply: Dict[str, Any] = {"request_id": f"req-{self.counter}", "counter": self.counter}
        if self.hook is not None:
            self.hook(name, reply | details)
        return reply

    def names(self) -> List[str]:
        return [name for name, _ in self.calls]

    def part_numbers_sent(self) -> List[int]:
        return sorted(d["part_number"] for n, d in self.calls if n == "upload_part")

    def _read(self, body: Any, length: int) -> bytes:
        if isinstance(body, (bytes, bytearray, memoryview)):
            return bytes(body)
        out = bytearray()
        while len(out) < length:
            block = body.read(min(16_384, length - len(out)))
            if not block:
                break
            out += block
        return bytes(out)

    def _etag(self, data: bytes) -> str:
        if self.encrypted_etags:
            return '"%s"' % hashlib.md5(b"kms" + data).hexdigest()
        return '"%s"' % hashlib.md5(data).hexdigest()

    def initiate_multipart_upload(self, key: str, **options: Any) -> InitiateResult:
        reply = self._call("initiate", key=key, **options)
        upload_id = "%032x" % reply["counter"]
        self.uploads[upload_id] = {}
        self.upload_keys[upload_id] = key
        return InitiateResult(BUCKET, key, upload_id, ResponseInfo(200, reply["request_id"]))

    def upload_part(self, key: str, upload_id: str, part_number: int, body: Any, **options: Any) -> PartResult:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            start = body.tell() if hasattr(body, "tell") else 0
            length = options.get("content_length") or len(body)
            reply = self._call("upload_part", key=key, upload_id=upload_id, part_number=part_number, **options)
            if reply.get("reset_after") is not None:  # a connection reset mid-part: the transport rewinds
                self._read(body, reply["reset_after"])
                body.seek(start)
            data = self._read(body, length)
            if upload_id not in self.uploads:
                raise CosServiceError(404, "NoSuchUpload", "gone", request_id=reply["request_id"])
            etag = reply.get("etag", self._etag(data))
            self.uploads[upload_id][part_number] = (data, etag)
            crc = reply.get("crc64", crc64(data))
            return PartResult(part_number, etag, crc, len(data), ResponseInfo(200, reply["request_id"]))
        finally:
            with self.lock:
                self.in_flight -= 1

    def complete_multipart_upload(self, key: str, upload_id: str, parts: Any, **options: Any) -> CompleteResult:
        parts = [(p.part_number, p.etag) for p in parts]
        reply = self._call("complete", key=key, upload_id=upload_id, parts=parts, **options)
        stored = self.uploads.pop(upload_id, None)
        if stored is None:
            raise CosServiceError(404, "NoSuchUpload", "gone", request_id=reply["request_id"])
        data = b"".join(stored[number][0] for number, _ in parts)
        for number, etag in parts:
            assert stored[number][1] == etag
        self.objects[key] = data
        crc = reply.get("crc64", crc64(data))
        return CompleteResult("", BUCKET, key, '"x-%d"' % len(parts), crc, None, ResponseInfo(200, reply["request_id"]))

    def abort_multipart_upload(self, key: str, upload_id: str) -> ResponseInfo:
        reply = self._call("abort", key=key, upload_id=upload_id)
        if self.uploads.pop(upload_id, None) is None:
            raise CosServiceError(404, "NoSuchUpload", "gone")
        return ResponseInfo(204, reply["request_id"])

    def list_parts(self, key: str, upload_id: str) -> Iterator[PartInfo]:
        self._call("list_parts", key=key, upload_id=upload_id)
        if upload_id not in self.uploads:
            raise CosServiceError(404, "NoSuchUpload", "gone")
        for number, (data, etag) in sorted(self.uploads[upload_id].items()):
            yield PartInfo(number, etag, len(data))

    def put_object(self, key: str, body: Any, **options: Any) -> ObjectResult:
        reply = self._call("put_object", key=key, **options)
        data = self._read(body, options["content_length"])
        self.objects[key] = data
        etag = reply.get("etag", self._etag(data))
        crc = reply.get("crc64", crc64(data))
        return ObjectResult(key, etag, crc, len(data), None, ResponseInfo(200, reply["request_id"]))

    def head_object(self, key: str, **options: Any) -> ObjectResult:
        self._call("head_object", key=key)
        if key not in self.objects:
            raise CosServiceError(404, "NoSuchKey", "none")
        data = self.objects[key]
        return ObjectResult(key, '"h"', crc64(data), len(data), None, ResponseInfo(200, "head"))

    def delete_object(self, key: str, **options: Any) -> ResponseInfo:
        reply = self._call("delete_object", key=key, **options)
        self.objects.pop(key, None)
        return ResponseInfo(204, reply["request_id"])


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture()
def cos() -> FakeCos:
    return FakeCos()


@pytest.fixture()
def store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path / "checkpoints")


def make_file(tmp_path: Path, size: int, name: str = "data.bin") -> Tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def config_of(**options: Any) -> UploadConfig:
    """An UploadConfig from flat keyword arguments: object options go into ``ObjectOptions``."""
    names = {item.name for item in dataclasses.fields(ObjectOptions)}
    return UploadConfig(**{k: v for k, v in options.items() if k not in names},
                        options=ObjectOptions(**{k: v for k, v in options.items() if k in names}))  # fmt: skip


def uploader(cos: FakeCos, store: CheckpointStore, **options: Any) -> Uploader:
    options.setdefault("part_size", MB)
    options.setdefault("multipart_threshold", 0)
    options.setdefault("concurrency", 3)
    return Uploader(cos, config_of(**options), store=store)  # type: ignore[arg-type]


def assert_ok(result: UploadResult, cos: FakeCos, key: str, data: bytes) -> None:
    assert cos.objects[key] == data
    assert result.size == len(data) and result.crc64 == crc64(data)


# --- validation before anything happens ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"part_size": MB - 1}, "part_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": "8"}, "concurrency"),
        ({"multipart_threshold": -1}, "multipart_threshold"),
        ({"traffic_limit": 100}, "traffic_limit"),
        ({"bandwidth_limit": 0}, "bandwidth_limit"),
        ({"storage_class": "FAST"}, "storage_class"),
        ({"acl": "public-read-write"}, "acl"),
        ({"metadata": {"bad_name": "x"}}, "metadata"),
        ({"part_attempts": 0}, "part_attempts"),
        ({"forbid_overwrite": "yes"}, "forbid_overwrite"),
        ({"resume": 1}, "resume"),
        ({"expected_size": -1}, "expected_size"),
    ],
)
def test_bad_options_fail_before_any_request(
    cos: FakeCos, tmp_path: Path, options: Dict[str, Any], field: str
) -> None:
    path, _ = make_file(tmp_path, 10)
    with pytest.raises(CosValidationError) as info:
        Uploader(cos, config_of(**options)).upload(path, "k")  # type: ignore[arg-type]
    assert field in info.value.field
    assert cos.calls == []


def test_bad_key_and_source(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 10)
    with pytest.raises(CosValidationError):
        uploader(cos, store).upload(path, "/leading-slash")
    with pytest.raises(CosValidationError):
        uploader(cos, store).upload(12345, "k")  # type: ignore[arg-type]
    with pytest.raises(CosValidationError):
        uploader(cos, store).upload(tmp_path, "k")  # a directory
    assert cos.calls == []


def test_sse_c_key_never_in_config_repr() -> None:
    config = config_of(encryption=SseC(SSE_C_KEY))
    assert SSE_C_KEY not in repr(config) and SSE_C_KEY not in repr(config.sse_c)


# --- happy paths ---------------------------------------------------------------------------------------


def test_small_file_is_one_verified_put(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 1000)
    result = upload_file(cos, path, "docs/readme.txt", store=store)  # type: ignore[arg-type]
    assert cos.names() == ["put_object"]
    assert cos.calls[0][1]["content_type"] == "text/plain"  # guessed from the key
    assert_ok(result, cos, "docs/readme.txt", data)
    assert result.upload_id is None and not result.multipart and len(result.parts) == 1


def test_multipart_round_trip(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 5 * MB + 123)
    events: List[ProgressEvent] = []
    result = uploader(cos, store).upload(path, "big.bin", progress=events.append)
    assert_ok(result, cos, "big.bin", data)
    assert cos.part_numbers_sent() == [1, 2, 3, 4, 5, 6]
    assert cos.names()[0] == "initiate" and cos.names()[-1] == "complete"
    assert [p.part_number for p in result.parts] == [1, 2, 3, 4, 5, 6]
    assert result.upload_id and result.elapsed > 0 and len(result.request_ids) == 8
    assert cos.calls[0][1]["content_type"] == "application/octet-stream"
    assert events[-1].bytes_done == len(data) and events[-1].parts_done == 6
    assert all(b.bytes_done >= a.bytes_done for a, b in zip(events, events[1:]))
    assert list(store) == []  # checkpoint deleted after success


def test_at_most_concurrency_parts_in_flight(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 8 * MB)

    def slow(name: str, details: Dict[str, Any]) -> None:
        if name == "upload_part":
            time.sleep(0.02)

    cos.hook = slow
    assert_ok(uploader(cos, store, concurrency=2).upload(path, "k"), cos, "k", data)
    assert cos.max_in_flight == 2


def test_options_reach_the_right_requests(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    up = uploader(
        cos,
        store,
        content_type="video/mp4",
        metadata={"owner": "me"},
        acl="private",
        storage_class="STANDARD_IA",
        tagging={"a": "b"},
        encryption=SseC(SSE_C_KEY),
        traffic_limit=819_200,
        forbid_overwrite=True,
    )
    up.upload(path, "k")
    assert cos.names()[:2] == ["head_object", "initiate"]  # forbid_overwrite: checked before anything is made
    initiate = dict(cos.calls[1][1])
    assert initiate["content_type"] == "video/mp4" and initiate["metadata"] == {"owner": "me"}
    assert initiate["acl"] == "private" and initiate["storage_class"] == "STANDARD_IA"
    assert initiate["tagging"] == {"a": "b"} and isinstance(initiate["encryption"], SseC)
    parts = [d for n, d in cos.calls if n == "upload_part"]
    assert all(d["traffic_limit"] == 819_200 and isinstance(d["sse_c"], SseC) for d in parts)
    complete = [d for n, d in cos.calls if n == "complete"][0]
    assert complete["forbid_overwrite"] is True


def test_file_object_and_streams(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 3 * MB + 7)
    with open(path, "rb") as handle:
        handle.seek(7)
        assert_ok(uploader(cos, store).upload(handle, "from-offset"), cos, "from-offset", data[7:])
    assert_ok(uploader(cos, store).upload(io.BytesIO(data), "bytesio"), cos, "bytesio", data)

    class Pipe(io.RawIOBase):
        def __init__(self, payload: bytes) -> None:
            self.inner = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.inner.read(min(len(buffer), 50_000))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    events: List[ProgressEvent] = []
    result = uploader(cos, store).upload(Pipe(data), "pipe", progress=events.append)
    assert_ok(result, cos, "pipe", data)
    assert events[0].total_bytes is None and events[-1].total_bytes == len(data)
    assert events[-1].bytes_done == len(data)
    before = len(cos.calls)
    small = uploader(cos, store, multipart_threshold=MB).upload(Pipe(b"tiny"), "tiny")
    assert small.upload_id is None and cos.names()[before:] == ["put_object"] and cos.objects["tiny"] == b"tiny"
    assert list(store) == []  # streams and file objects never write checkpoints


def test_stream_of_exactly_one_part(cos: FakeCos, store: CheckpointStore) -> None:
    data = os.urandom(MB)

    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    result = uploader(cos, store, multipart_threshold=MB).upload(Pipe(data), "k")
    assert result.multipart and cos.part_numbers_sent() == [1]
    assert_ok(result, cos, "k", data)


def test_empty_file_and_empty_part(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 0)
    result = upload_file(cos, path, "empty", store=store)  # type: ignore[arg-type]
    assert cos.names() == ["put_object"] and result.size == 0 and result.crc64 == 0
    forced = uploader(cos, store).upload(path, "empty-multipart")
    assert forced.multipart and cos.objects["empty-multipart"] == b""


# --- verification --------------------------------------------------------------------------------------


class Faults:
    """Installs reply overrides for selected calls (the hook mutates the fake's reply)."""

    def __init__(self, cos: FakeCos) -> None:
        self.rules: List[Tuple[str, Optional[int], Dict[str, Any], List[int]]] = []
        original_call = cos._call

        def call(name: str, **details: Any) -> Dict[str, Any]:
            reply = original_call(name, **details)
            for rule_name, part, values, left in self.rules:
                if rule_name == name and (part is None or details.get("part_number") == part) and left[0] != 0:
                    left[0] -= 1
                    if "raise" in values:
                        raise values["raise"]
                    reply.update(values)
            return reply

        cos._call = call  # type: ignore[method-assign]

    def add(self, name: str, part: Optional[int], times: int, **values: Any) -> None:
        self.rules.append((name, part, values, [times]))


def test_wrong_crc_once_is_resent(cos: FakeCos, store: CheckpointStore, tmp_path: Path, caplog: Any) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    Faults(cos).add("upload_part", 2, 1, crc64=12345)
    with caplog.at_level(logging.WARNING):
        result = uploader(cos, store).upload(path, "k")
    assert_ok(result, cos, "k", data)
    assert cos.part_numbers_sent() == [1, 2, 2, 3]
    assert "crc64 mismatch for part 2" in caplog.text


def test_wrong_crc_always_is_an_integrity_error(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    Faults(cos).add("upload_part", 2, -1, crc64=12345)
    with pytest.raises(CosIntegrityError) as info:
        uploader(cos, store, part_attempts=2).upload(path, "k")
    error = info.value
    assert (error.what, error.part_number, error.remote) == ("crc64", 2, 12345)
    assert error.local == crc64(path.read_bytes()[MB : 2 * MB])
    assert "complete" not in cos.names() and "k" not in cos.objects
    assert cos.part_numbers_sent().count(2) == 2
    assert len(list(store)) == 1  # kept for resume


def test_wrong_etag_is_resent_without_sse(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    Faults(cos).add("upload_part", 1, 1, etag='"00000000000000000000000000000000"')
    assert_ok(uploader(cos, store).upload(path, "k"), cos, "k", data)
    assert cos.part_numbers_sent() == [1, 1, 2]


def test_verify_md5_off_checks_crc_only(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    Faults(cos).add("upload_part", 1, 1, etag='"00000000000000000000000000000000"')
    assert_ok(uploader(cos, store, verify_md5=False).upload(path, "k"), cos, "k", data)
    assert cos.part_numbers_sent() == [1, 2]
    # The CRC-64 check stays on: a wrong CRC is still sent again.
    Faults(cos).add("upload_part", 1, 1, crc64=0)
    assert_ok(uploader(cos, store, verify_md5=False).upload(path, "k2"), cos, "k2", data)
    assert cos.part_numbers_sent() == [1, 1, 1, 2, 2]  # sorted: both uploads


def test_verify_md5_must_be_a_bool() -> None:
    with pytest.raises(CosValidationError, match="verify_md5"):
        UploadConfig(verify_md5="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("encryption", [SseKms(), SseC(SSE_C_KEY)])
def test_etag_is_not_checked_with_kms_or_sse_c(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path, encryption: Any
) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    cos.encrypted_etags = True
    assert_ok(uploader(cos, store, encryption=encryption).upload(path, "k"), cos, "k", data)
    assert cos.part_numbers_sent() == [1, 2]


def test_etag_is_checked_with_sse_cos(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 2 * MB)
    cos.encrypted_etags = True
    with pytest.raises(CosIntegrityError) as info:
        uploader(cos, store, encryption=SseCos()).upload(path, "k")
    assert info.value.what == "etag"


def test_missing_part_crc_is_an_error(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 2 * MB)
    Faults(cos).add("upload_part", None, -1, crc64=None)
    with pytest.raises(CosIntegrityError):
        uploader(cos, store, part_attempts=1).upload(path, "k")


def test_whole_object_crc_mismatch_is_not_success(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    Faults(cos).add("complete", None, 1, crc64=crc64(data) ^ 1)
    with pytest.raises(CosIntegrityError) as info:
        uploader(cos, store).upload(path, "k")
    assert info.value.part_number is None and info.value.local == crc64(data)
    assert "k" not in cos.objects and "did not match and was deleted" in str(info.value)  # not left behind


def test_single_put_is_verified_too(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 100)
    faults = Faults(cos)
    faults.add("put_object", None, 1, crc64=1)
    result = upload_file(cos, path, "k", store=store)  # type: ignore[arg-type]
    assert cos.names() == ["put_object", "put_object"] and result.crc64 == crc64(data)
    faults.add("put_object", None, -1, etag='"ffffffffffffffffffffffffffffffff"')
    with pytest.raises(CosIntegrityError) as info:
        upload_file(cos, path, "k2", store=store, part_attempts=2)  # type: ignore[arg-type]
    assert info.value.what == "etag"


def test_transport_rewind_mid_part_still_hashes_correctly(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    Faults(cos).add("upload_part", 2, 1, reset_after=300_000)
    assert_ok(uploader(cos, store).upload(path, "k"), cos, "k", data)
    assert cos.part_numbers_sent() == [1, 2, 3]  # one request: the rewind happened inside it


# --- failures ------------------------------------------------------------------------------------------


def test_first_failure_stops_new_parts_and_is_raised(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 20 * MB)
    boom = CosServiceError(503, "SlowDown", "please slow down", request_id="r-503")
    Faults(cos).add("upload_part", 3, 1, **{"raise": boom})
    with pytest.raises(CosServiceError) as info:
        uploader(cos, store, concurrency=2).upload(path, "k")
    assert info.value is boom
    assert len(cos.part_numbers_sent()) <= 6  # stopped promptly: not all 20 parts
    assert "abort" not in cos.names()
    assert len(list(store)) == 1


def test_abort_on_failure(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    Faults(cos).add("upload_part", 2, 1, **{"raise": CosServiceError(500, "InternalError")})
    with pytest.raises(CosServiceError):
        uploader(cos, store, abort_on_failure=True).upload(path, "k")
    assert "abort" in cos.names() and cos.uploads == {}
    assert list(store) == []


def test_stream_failure_aborts(cos: FakeCos, store: CheckpointStore) -> None:
    Faults(cos).add("upload_part", 2, 1, **{"raise": CosServiceError(500, "InternalError")})
    with pytest.raises(CosServiceError):
        uploader(cos, store).upload(io.BytesIO(os.urandom(3 * MB)), "k")
    assert cos.names()[-1] == "abort" and cos.uploads == {}


def test_file_shrinking_during_upload(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    from cos_multipart._protocol.errors import SourceChangedError

    path, data = make_file(tmp_path, 4 * MB)

    def shrink(name: str, details: Dict[str, Any]) -> None:
        if name == "upload_part" and details["part_number"] == 1:
            with open(path, "r+b") as handle:
                handle.truncate(MB)

    cos.hook = shrink
    with pytest.raises(SourceChangedError):
        uploader(cos, store, concurrency=1).upload(path, "k")


def test_callback_exception_stops_the_upload(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, _ = make_file(tmp_path, 6 * MB)

    def stop(event: ProgressEvent) -> None:
        if event.parts_done >= 2:
            raise RuntimeError("user stop")

    with pytest.raises(RuntimeError, match="user stop"):
        uploader(cos, store, concurrency=1).upload(path, "k", progress=stop)
    (_, checkpoint), = list(store)
    assert [p.part_number for p in checkpoint.parts] == [1, 2]


# --- resume --------------------------------------------------------------------------------------------


def interrupted_upload(cos: FakeCos, store: CheckpointStore, path: Path, after_parts: int, **options: Any) -> None:
    def stop(event: ProgressEvent) -> None:
        if event.parts_done >= after_parts:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        uploader(cos, store, concurrency=1, **options).upload(path, "k", progress=stop)


def test_resume_uploads_only_missing_parts(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 6 * MB + 5)
    interrupted_upload(cos, store, path, 3)
    cos.calls.clear()
    events: List[ProgressEvent] = []
    result = uploader(cos, store).upload(path, "k", progress=events.append)
    assert_ok(result, cos, "k", data)
    assert cos.names().count("initiate") == 0 and "list_parts" in cos.names()
    assert cos.part_numbers_sent() == [4, 5, 6, 7]
    assert result.parts_reused == 3
    assert events[0].parts_reused == 3 and events[0].bytes_done == 3 * MB
    assert list(store) == []


def test_resume_checks_whole_crc_with_recovered_parts(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    interrupted_upload(cos, store, path, 2)
    Faults(cos).add("complete", None, 1, crc64=crc64(data) ^ 4)
    with pytest.raises(CosIntegrityError):
        uploader(cos, store).upload(path, "k")


def test_parts_missing_from_the_checkpoint_are_verified_by_md5(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    interrupted_upload(cos, store, path, 1)
    (_, checkpoint), = list(store)
    upload_id = checkpoint.upload_id
    # COS holds part 2 and 3, uploaded after the last checkpoint write (a hard crash); part 3 is corrupt
    cos.uploads[upload_id][2] = (data[MB : 2 * MB], '"%s"' % hashlib.md5(data[MB : 2 * MB]).hexdigest())
    bad = b"x" * MB
    cos.uploads[upload_id][3] = (bad, '"%s"' % hashlib.md5(bad).hexdigest())
    cos.calls.clear()
    result = uploader(cos, store).upload(path, "k")
    assert_ok(result, cos, "k", data)
    assert cos.part_numbers_sent() == [3, 4] and result.parts_reused == 2


def test_with_kms_unrecorded_parts_are_sent_again(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    cos.encrypted_etags = True
    interrupted_upload(cos, store, path, 1, encryption=SseKms())
    (_, checkpoint), = list(store)
    cos.uploads[checkpoint.upload_id][2] = (data[MB : 2 * MB], '"%032x"' % 7)
    cos.calls.clear()
    assert_ok(uploader(cos, store, encryption=SseKms()).upload(path, "k"), cos, "k", data)
    assert cos.part_numbers_sent() == [2, 3]


def test_changed_file_aborts_the_stale_upload(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path, caplog: Any
) -> None:
    path, _ = make_file(tmp_path, 4 * MB)
    interrupted_upload(cos, store, path, 2)
    (_, old), = list(store)
    path, data = make_file(tmp_path, 4 * MB)  # same name, new content
    cos.calls.clear()
    with caplog.at_level(logging.WARNING):
        result = uploader(cos, store).upload(path, "k")
    assert "local file changed" in caplog.text
    assert ("abort", {"key": "k", "upload_id": old.upload_id}) in cos.calls
    assert cos.part_numbers_sent() == [1, 2, 3, 4] and result.upload_id != old.upload_id
    assert_ok(result, cos, "k", data)
    assert cos.uploads == {}  # nothing orphaned


@pytest.mark.parametrize(
    "changes",
    [{"part_size": 2 * MB}, {"storage_class": "ARCHIVE"}, {"encryption": SseC(SSE_C_KEY)}, {"resume": False}],
)
def test_other_options_start_afresh(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path, changes: Dict[str, Any]
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    interrupted_upload(cos, store, path, 2)
    cos.calls.clear()
    assert_ok(uploader(cos, store, **changes).upload(path, "k"), cos, "k", data)
    assert cos.names()[0] == "abort" and cos.uploads == {}
    assert list(store) == []


def test_upload_gone_from_cos_starts_afresh(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    interrupted_upload(cos, store, path, 1)
    cos.uploads.clear()  # expired on the server
    cos.calls.clear()
    assert_ok(uploader(cos, store).upload(path, "k"), cos, "k", data)
    assert cos.names()[:3] == ["list_parts", "abort", "initiate"]  # the recorded id is aborted before it is forgotten


def test_complete_lost_reply_then_no_such_upload(cos: FakeCos, store: CheckpointStore, tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 2 * MB)
    real = cos.complete_multipart_upload

    def complete_then_lose(key: str, upload_id: str, parts: Any, **options: Any) -> CompleteResult:
        real(key, upload_id, parts, **options)  # the object is made...
        raise CosServiceError(404, "NoSuchUpload", "gone")  # ...but the retry says the upload is gone

    cos.complete_multipart_upload = complete_then_lose  # type: ignore[method-assign]
    result = uploader(cos, store).upload(path, "k")
    assert_ok(result, cos, "k", data)
    assert cos.names()[-1] == "head_object"


# --- Ctrl-C --------------------------------------------------------------------------------------------


def test_keyboard_interrupt_stops_fast_keeps_checkpoint_and_threads(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 12 * MB)
    # Decided by events: parts 3 and up are held by the fake until the uploader cuts its connections (as
    # abort_connections does to real sockets); a stop that waited for their answers would get them only after
    # 60 s, and they would be stored.
    cut = threading.Event()
    fake_abort = cos.abort_connections

    def abort_connections(cancel: Any = None) -> int:
        cut.set()
        return fake_abort(cancel)

    def hold(name: str, details: Dict[str, Any]) -> None:
        if name == "upload_part" and details["part_number"] > 2 and cut.wait(60):
            raise CosCancelledError("the connection was cut")

    cos.abort_connections = abort_connections  # type: ignore[method-assign]
    cos.hook = hold
    fired: List[bool] = []

    def on_progress(event: ProgressEvent) -> None:
        if event.parts_done >= 2 and not fired:
            fired.append(True)
            _thread.interrupt_main()

    with pytest.raises(KeyboardInterrupt):
        uploader(cos, store).upload(path, "k", progress=on_progress)
    assert cut.is_set(), "the stop did not cut the connections of the parts in flight"
    (upload_id, stored_parts), = cos.uploads.items()
    assert sorted(stored_parts) == [1, 2], "the stop waited for the answers of the parts in flight"
    assert not [t for t in threading.enumerate() if t.name.startswith("cos-multipart")]
    (_, checkpoint), = list(store)
    assert len(checkpoint.parts) == 2 and "abort" not in cos.names()
    cos.hook = None
    cos.calls.clear()
    result = uploader(cos, store).upload(path, "k")
    assert_ok(result, cos, "k", data)
    assert result.parts_reused == len(checkpoint.parts)
    assert len(cos.part_numbers_sent()) == 12 - len(checkpoint.parts)


def test_resume_without_a_part_size_keeps_the_uploads_own(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 4 * MB)
    interrupted_upload(cos, store, path, 2)  # 1 MB parts
    cos.calls.clear()
    result = uploader(cos, store, part_size=None).upload(path, "k")  # automatic would be one 8 MB part
    assert_ok(result, cos, "k", data)
    assert "abort" not in cos.names() and cos.part_numbers_sent() == [3, 4] and len(result.parts) == 4


def test_resume_refuses_what_it_cannot_resume_and_changes_nothing(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path
) -> None:
    from cos_multipart._protocol.errors import ResumeError

    path, _ = make_file(tmp_path, 4 * MB)
    up = uploader(cos, store)
    with pytest.raises(ResumeError, match="no checkpoint"):
        up.resume(path, "k")
    assert "initiate" not in cos.names()
    interrupted_upload(cos, store, path, 2)
    checkpoint = up.checkpoint_for(path, "k")
    assert checkpoint is not None and len(checkpoint.parts) == 2
    with pytest.raises(ResumeError, match="part size"):
        uploader(cos, store, part_size=2 * MB).resume(path, "k")
    with pytest.raises(ResumeError, match="options"):
        uploader(cos, store, acl="private").resume(path, "k")
    path.write_bytes(os.urandom(4 * MB))
    with pytest.raises(ResumeError, match="changed"):
        up.resume(path, "k")
    assert cos.names().count("abort") == 0  # a refused resume never changes anything
    assert up.checkpoint_for(path, "k") == checkpoint
    assert up.abort("k", checkpoint.upload_id) is True
    assert up.abort("k", checkpoint.upload_id) is False


def test_small_file_with_an_interrupted_upload_resumes_instead_of_a_put(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path
) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    interrupted_upload(cos, store, path, 1)
    cos.calls.clear()
    result = uploader(cos, store, multipart_threshold=8 * MB).upload(path, "k")
    assert "put_object" not in cos.names() and result.parts_reused == 1
    assert_ok(result, cos, "k", data)
    interrupted_upload(cos, store, path, 1)
    cos.calls.clear()
    uploader(cos, store, multipart_threshold=8 * MB, resume=False).upload(path, "k")
    assert cos.names()[0] == "abort" and cos.uploads == {}  # the stale upload is not orphaned


def test_sse_c_key_never_reaches_logs_results_or_checkpoints(
    cos: FakeCos, store: CheckpointStore, tmp_path: Path, caplog: Any
) -> None:
    path, _ = make_file(tmp_path, 3 * MB)
    cos.encrypted_etags = True
    Faults(cos).add("upload_part", 2, 1, crc64=1)  # a warning is logged for the re-send
    with caplog.at_level(logging.DEBUG):
        interrupted_upload(cos, store, path, 2, encryption=SseC(SSE_C_KEY))
        checkpoints = [p.read_text() for p in store.directory.iterdir()]
        result = uploader(cos, store, encryption=SseC(SSE_C_KEY)).upload(path, "k")
    raw_key = "0123456789ABCDEF0123456789ABCDEF"
    texts = [caplog.text, repr(result), repr(uploader(cos, store, encryption=SseC(SSE_C_KEY)).config)]
    texts += checkpoints
    assert "crc64 mismatch" in caplog.text and len(checkpoints) == 1 and "U5L61r7jcwdNvT7frmUG8g==" in checkpoints[0]
    assert all(SSE_C_KEY not in text and raw_key not in text for text in texts)
