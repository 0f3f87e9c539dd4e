"""The engine-neutral steps (upload_part, complete) driven by hand, as another driver would run them."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import pytest

from cos_multipart import CosIntegrityError, PartReceipt, UploadSession, complete, plan_parts, upload_part
from cos_multipart._sources import FileSource, open_source
from cos_multipart.client import CosClient
from cos_multipart.checksum import crc64
from cos_multipart.limits import MB

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
