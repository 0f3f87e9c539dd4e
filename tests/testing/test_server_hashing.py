"""The server's own hashing (``testing/_hashing.py``) against the reference, and the CRC-64 it reports being
the CRC-64 of the bytes it stored, whatever the client believes it sent."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import List, Optional

import pytest
import requests

from cos_multipart import upload_file
from cos_multipart.testing import Fault, FaultController, LocalCOS, _hashing
from cos_multipart.testing._messages import Reply
from cos_multipart.testing._routing import parse_request
from cos_multipart.testing._service import HANDLERS, Service
from cos_multipart.testing.store import BodySink, Store

BUCKET = "examplebucket-1250000000"
MB = 1024 * 1024
#: Documented values [ref 5.1]: the check value, the empty input and the extra values.
DOCUMENTED = [
    (b"123456789", 11051210869376104954),
    (b"", 0),
    (b"a", 3675645893302102789),
    (b"abc", 3231342946509354535),
    (b"ObjectContent", 2900061071848923409),
]


@pytest.mark.parametrize("name", [name for name, _ in _hashing.crc64_backends()])
def test_every_backend_gives_the_documented_values(name: str) -> None:
    update = dict(_hashing.crc64_backends())[name]
    for data, expected in DOCUMENTED:
        assert update(data, 0) == expected, data
    assert _hashing.CHECK_VALUE == 11051210869376104954


def test_backends_agree_on_random_data_and_continue_from_a_crc() -> None:
    generator = random.Random(7)
    data = generator.randbytes(100_000)
    expected = _hashing.crc64_reference(data)
    for name, update in _hashing.crc64_backends():
        assert update(data, 0) == expected, name
        assert update(data[40_000:], update(data[:40_000], 0)) == expected, name
    assert _hashing.crc64(memoryview(data)) == expected


def test_combination_equals_the_crc_over_the_whole_bytes() -> None:
    generator = random.Random(11)
    for _ in range(200):
        first = generator.randbytes(generator.choice([0, 1, 7, 8, 9, 255, 256, 1000, 4096]))
        second = generator.randbytes(generator.choice([0, 1, 2, 63, 64, 65, 1023, 5000]))
        whole = _hashing.crc64_reference(first + second)
        combined = _hashing.crc64_combine(_hashing.crc64(first), _hashing.crc64(second), len(second))
        assert combined == whole


def test_combination_of_many_parts_and_of_large_lengths() -> None:
    generator = random.Random(3)
    parts = [generator.randbytes(generator.randrange(0, 3000)) for _ in range(40)]
    assert _hashing.crc64_of_parts((_hashing.crc64(part), len(part)) for part in parts) == _hashing.crc64(b"".join(parts))
    # Lengths far beyond what a test can hold: advancing over 5 GiB of zeros in one go equals doing it in
    # two halves, and zeros appended one MiB at a time equal the CRC of the zeros.
    zeros = bytes(MB)
    crc_zeros = _hashing.crc64(zeros)
    total = 0
    for _ in range(3):
        total = _hashing.crc64_combine(total, crc_zeros, MB)
    assert total == _hashing.crc64(bytes(3 * MB))
    big = 5 * 1024 * MB
    one_go = _hashing.crc64_combine(12345, 0, big)
    halves = _hashing.crc64_combine(_hashing.crc64_combine(12345, 0, big // 2), 0, big // 2)
    assert one_go == halves


def test_body_hasher_matches_hashlib() -> None:
    hasher = _hashing.BodyHasher()
    for chunk in (b"Object", memoryview(b"Content")):
        hasher.update(chunk)
    assert hasher.md5_hex == hashlib.md5(b"ObjectContent").hexdigest() and hasher.md5_digest == hashlib.md5(b"ObjectContent").digest()
    assert (hasher.crc64, hasher.size) == (2900061071848923409, 13)


# --- what the server reports is of the bytes it stored --------------------------------------------------


class AlteredBody:
    """A request body that reaches the store changed: what a corrupting network would deliver."""

    def __init__(self, sent: bytes, delivered: Optional[bytes] = None) -> None:
        self._data = io.BytesIO(sent if delivered is None else delivered)

    def receive(self, sink: BodySink, length: int, *, rate: Optional[float]) -> None:
        while chunk := self._data.read(min(length, 65536)):
            sink.write(memoryview(chunk))
            length -= len(chunk)

    def read_small(self, length: int) -> bytes:
        return self._data.read(length)


def call(service: Service, api: str, method: str, target: str, body: AlteredBody, length: int) -> Reply:
    request = parse_request(
        method, target, {"Content-Length": str(length)}.items(), default_bucket=BUCKET,
        default_region="ap-guangzhou", request_id="req",
    )  # fmt: skip
    return HANDLERS[api](service, request, body)


def upload(service: Service, sent: List[bytes], delivered: List[bytes]) -> Reply:
    reply = call(service, "InitiateMultipartUpload", "POST", "/k?uploads", AlteredBody(b""), 0)
    upload_id = reply.body.decode().split("<UploadId>")[1].split("</UploadId>")[0]
    items = []
    for number, (part, stored) in enumerate(zip(sent, delivered), 1):
        answer = call(service, "UploadPart", "PUT", f"/k?partNumber={number}&uploadId={upload_id}",
                      AlteredBody(part, stored), len(part))  # fmt: skip
        assert answer.crc64 == _hashing.crc64(stored)  # the part's CRC is of what was stored
        items.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{answer.etag}</ETag></Part>")
    xml = f"<CompleteMultipartUpload>{''.join(items)}</CompleteMultipartUpload>".encode()
    reply = call(service, "CompleteMultipartUpload", "POST", f"/k?uploadId={upload_id}", AlteredBody(xml), len(xml))
    assert reply.pending is not None and reply.pending().error is None
    return reply


def stored_bytes(store: Store) -> bytes:
    chunks = []
    with store.open_object(BUCKET, "k") as reader:
        for handle, offset, count in reader.pieces(0, reader.record.size):
            handle.seek(offset)
            chunks.append(handle.read(count))
    return b"".join(chunks)


def test_complete_reports_the_crc_of_the_stored_bytes_not_of_what_was_sent(tmp_path: Path) -> None:
    generator = random.Random(5)
    sent = [generator.randbytes(MB), generator.randbytes(MB), generator.randbytes(1000)]
    delivered = list(sent)
    delivered[1] = sent[1][:500] + bytes([sent[1][500] ^ 0x40]) + sent[1][501:]  # one bit changed on the way
    service = Service(Store(tmp_path))
    reply = upload(service, sent, delivered)
    stored = stored_bytes(service.store)
    assert stored == b"".join(delivered)
    # A client predicting the object's CRC from the bytes it sent sees the difference at Complete.
    assert reply.crc64 != _hashing.crc64(b"".join(sent))
    assert reply.crc64 == _hashing.crc64(stored) == service.store.get_object(BUCKET, "k").crc64


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_objects_crc_is_the_crc_over_its_stored_bytes(tmp_path: Path, seed: int) -> None:
    generator = random.Random(seed)
    parts = [generator.randbytes(MB + generator.randrange(0, 5000)) for _ in range(generator.randrange(1, 4))]
    parts.append(generator.randbytes(generator.randrange(0, 3000)))
    service = Service(Store(tmp_path))
    reply = upload(service, parts, parts)
    assert reply.crc64 == _hashing.crc64(stored_bytes(service.store)) == _hashing.crc64(b"".join(parts))


# --- the corrupt fault: over HTTP --------------------------------------------------------------------------


def test_corrupt_fault_parses_and_plans() -> None:
    assert Fault.parse("corrupt:api=UploadPart,nth=2") == Fault.corrupt("UploadPart", nth=2)
    controller = FaultController([Fault.corrupt("PutObject")])
    assert controller.plan("PutObject").corrupt and not controller.plan("PutObject").corrupt


def test_a_part_damaged_on_the_way_is_reported_by_its_crc_and_the_objects(local_cos: LocalCOS) -> None:
    generator = random.Random(9)
    sent = [generator.randbytes(MB), generator.randbytes(1000)]
    local_cos.faults.add(Fault.corrupt("UploadPart", nth=1))
    with local_cos.client() as client:
        upload_id = client.initiate_multipart_upload("k").upload_id
        receipts = [client.upload_part("k", upload_id, number, part) for number, part in enumerate(sent, 1)]
        damaged = bytes([sent[0][0] ^ 0x01]) + sent[0][1:]
        assert receipts[0].crc64 == _hashing.crc64(damaged) != _hashing.crc64(sent[0])
        assert receipts[0].etag.strip('"') == hashlib.md5(damaged).hexdigest()
        assert receipts[1].crc64 == _hashing.crc64(sent[1])
        done = client.complete_multipart_upload("k", upload_id, [(r.part_number, r.etag) for r in receipts])
        assert done.crc64 == _hashing.crc64(damaged + sent[1]) != _hashing.crc64(b"".join(sent))
    assert requests.get(local_cos.presign("k"), timeout=30).content == damaged + sent[1]
    assert [fired.kind for fired in local_cos.faults.fired] == ["corrupt"]


def test_the_uploader_resends_a_part_damaged_on_the_way(local_cos: LocalCOS, tmp_path: Path) -> None:
    data = random.Random(4).randbytes(3 * MB + 5)
    path = tmp_path / "source"
    path.write_bytes(data)
    local_cos.faults.add(Fault.corrupt("UploadPart", nth=2))
    with local_cos.client() as client:
        result = upload_file(
            client, path, "k", part_size=MB, multipart_threshold=MB, concurrency=1, checkpoint_dir=tmp_path / "ck"
        )
        assert result.crc64 == _hashing.crc64(data)
        assert client.head_object("k").crc64 == _hashing.crc64(data)
    assert [fired.kind for fired in local_cos.faults.fired] == ["corrupt"]
    assert len(local_cos.log_entries("UploadPart")) == 5  # 4 parts, the damaged one twice
