"""The engine-neutral steps (upload_part, complete) driven by hand, as another driver would run them."""

from __future__ import annotations

import dataclasses
import os
import pickle
import random
from pathlib import Path
from typing import List, Tuple

import pytest

from cos_multipart import (
    CosIntegrityError, CosServiceError, PartReceipt, UploadSession, complete, plan_parts, upload_part,
)  # fmt: skip
from cos_multipart._io._sources import FileSource, open_source
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.limits import MB
from cos_multipart.testing import Fault, LocalCOS

from uploads import stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]


def test_parts_in_any_order_from_a_pickled_session_complete_verified(client: CosClient, tmp_path: Path) -> None:
    data = os.urandom(3 * MB + 17)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    upload = client.initiate_multipart_upload("big.bin")
    session = UploadSession(client.endpoint.base_url, client.bucket, "big.bin", upload.upload_id, plan_parts(len(data), MB))
    numbers = list(session.pending())
    random.Random(7).shuffle(numbers)
    receipts = []
    for number in numbers:
        # Each part as a worker elsewhere would send it: its own copy of the session, its own source.
        worker_session = pickle.loads(pickle.dumps(session))
        source = open_source(path)
        if not isinstance(source, FileSource):
            raise TypeError(source)
        try:
            receipts.append(upload_part(client, worker_session, number, source))
        finally:
            source.close()
    with pytest.raises(CosIntegrityError):
        complete(client, session, receipts)  # not in order: refused before anything is sent
    receipts.sort(key=lambda receipt: receipt.part_number)
    with pytest.raises(CosIntegrityError):
        complete(client, session, receipts[:-1])  # a part missing
    with pytest.raises(CosIntegrityError):
        complete(client, session, receipts[:-1] + [PartReceipt(4, receipts[-1].etag, 5, 0)])  # off the plan
    assert [u.upload_id for u in client.list_multipart_uploads()] == [upload.upload_id]  # nothing was sent
    done = complete(client, session.with_parts(receipts), receipts)
    assert done.crc64 == crc64(data) and stored(client, "big.bin") == data


# --- each decision of a step, through the public function ------------------------------------------------


def opened(path: Path) -> FileSource:
    source = open_source(path)
    if not isinstance(source, FileSource):
        raise TypeError(source)
    return source


def sent_parts(client: CosClient, tmp_path: Path, key: str) -> Tuple[bytes, UploadSession, List[PartReceipt]]:
    """A file of three parts, each sent with upload_part: its bytes, the session and the receipts."""
    data = os.urandom(2 * MB + 5)
    path = tmp_path / key
    path.write_bytes(data)
    upload = client.initiate_multipart_upload(key)
    session = UploadSession(client.endpoint.base_url, client.bucket, key, upload.upload_id, plan_parts(len(data), MB))
    source = opened(path)
    try:
        receipts = [upload_part(client, session, number, source) for number in session.pending()]
    finally:
        source.close()
    return data, session, receipts


def apis_since(local_cos: LocalCOS, seen: int) -> List[Tuple[str, int]]:
    """``(api, status)`` of the requests served after the first ``seen``, in the order they arrived."""
    entries = sorted(local_cos.log_entries()[seen:], key=lambda entry: entry.time)
    return [(entry.api, entry.status) for entry in entries]


def test_complete_sent_again_after_it_succeeded_is_accepted_when_the_object_matches(
    local_cos: LocalCOS, client: CosClient, tmp_path: Path
) -> None:
    # A retried Complete whose first attempt had completed the upload: NoSuchUpload, then HEAD shows the object
    # these receipts make (size and combined CRC-64): accepted, nothing deleted.
    data, session, receipts = sent_parts(client, tmp_path, "again.bin")
    first = complete(client, session, receipts)
    seen = len(local_cos.log_entries())
    again = complete(client, session, receipts)
    assert apis_since(local_cos, seen) == [("CompleteMultipartUpload", 404), ("HeadObject", 200)]
    assert again.crc64 == first.crc64 == crc64(data) and again.parts == tuple(receipts)
    assert stored(client, "again.bin") == data


def test_complete_answered_no_such_upload_is_raised_when_the_object_is_another(
    local_cos: LocalCOS, client: CosClient, tmp_path: Path
) -> None:
    _, session, receipts = sent_parts(client, tmp_path, "other.bin")
    complete(client, session, receipts)
    other = os.urandom(2 * MB + 5)  # same size, other bytes: the CRC-64 tells them apart
    client.put_object("other.bin", other)
    seen = len(local_cos.log_entries())
    with pytest.raises(CosServiceError) as raised:
        complete(client, session, receipts)
    assert raised.value.code == "NoSuchUpload"
    assert apis_since(local_cos, seen) == [("CompleteMultipartUpload", 404), ("HeadObject", 200)]
    assert stored(client, "other.bin") == other, "an object the receipts do not describe was touched"


def test_complete_deletes_the_object_when_its_crc64_is_not_the_receipts(
    local_cos: LocalCOS, client: CosClient, tmp_path: Path
) -> None:
    # Receipts whose CRC-64 is not the bytes stored (as when an answer was forged): Complete succeeds with the
    # ETags, the object's CRC-64 is not the combined one, and the object must not stay at the key.
    _, session, receipts = sent_parts(client, tmp_path, "wrong.bin")
    wrong = [dataclasses.replace(receipts[0], crc64=receipts[0].crc64 ^ 1), *receipts[1:]]
    seen = len(local_cos.log_entries())
    with pytest.raises(CosIntegrityError) as raised:
        complete(client, session, wrong)
    assert raised.value.what == "crc64" and raised.value.part_number is None
    assert "the completed object did not match and was deleted" in str(raised.value)
    assert apis_since(local_cos, seen) == [("CompleteMultipartUpload", 200), ("DeleteObject", 204)]
    assert client.find_object("wrong.bin") is None


def test_complete_says_so_when_the_wrong_object_could_not_be_deleted(
    local_cos: LocalCOS, client: CosClient, tmp_path: Path
) -> None:
    _, session, receipts = sent_parts(client, tmp_path, "stuck.bin")
    wrong = [*receipts[:-1], dataclasses.replace(receipts[-1], crc64=receipts[-1].crc64 ^ 1)]
    local_cos.faults.add(Fault.error("DeleteObject", status=403, code="AccessDenied"))
    with pytest.raises(CosIntegrityError) as raised:
        complete(client, session, wrong)
    assert "could NOT be deleted" in str(raised.value) and "AccessDenied" in raised.value.outcome
    assert client.find_object("stuck.bin") is not None  # still there, and the error says it must go


def test_upload_part_sends_a_part_again_when_its_answer_disagrees(
    local_cos: LocalCOS, client: CosClient, tmp_path: Path
) -> None:
    data = os.urandom(MB + 3)
    path = tmp_path / "part.bin"
    path.write_bytes(data)
    upload = client.initiate_multipart_upload("part.bin")
    session = UploadSession(client.endpoint.base_url, client.bucket, "part.bin", upload.upload_id, plan_parts(len(data), MB))
    source = opened(path)
    try:
        local_cos.faults.add(Fault.wrong_crc64("UploadPart"))  # the first answer only
        receipt = upload_part(client, session, 1, source)
        assert receipt.crc64 == crc64(data[:MB]) and receipt.size == MB
        assert len(local_cos.log_entries("UploadPart")) == 2
        local_cos.faults.add(Fault.wrong_crc64("UploadPart", count=None))
        with pytest.raises(CosIntegrityError) as raised:
            upload_part(client, session, 2, source, attempts=2)
        assert raised.value.what == "crc64" and raised.value.part_number == 2
        assert len(local_cos.log_entries("UploadPart")) == 4, "sent once more than attempts, or fewer"
    finally:
        source.close()
