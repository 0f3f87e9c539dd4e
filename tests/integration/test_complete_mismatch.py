"""A part damaged in transit with its CRC-64 answer forged (plain HTTP, ``verify_md5=False``): Complete's
combined CRC-64 reveals it, and the completed wrong object must not stay at the key (issue 20 item 6).

The man in the middle is :class:`hostile.CorruptingProxy` with ``forge_crc``: it flips one bit of the first
part's body and answers the CRC-64 of the bytes the client sent, so the per-part check passes; the ETag (the
MD5 of the damaged bytes) is not checked with ``verify_md5=False``. COS and OSS document no request header
that makes the service check a CRC-64 the client sends (only ``Content-MD5``, which a part streamed from a
file does not carry: its MD5 is known only once it is sent), so the object is found wrong only at Complete.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Iterator, List
from urllib.parse import parse_qs, urlsplit

import pytest

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.checksum import crc64
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosIntegrityError
from cos_multipart._protocol.limits import MB
from cos_multipart import complete
from cos_multipart._core.planner import plan_parts
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart._core.session import PartReceipt, UploadSession
from cos_multipart.testing import Fault, LocalCOS

from hostile import CorruptingProxy, HostileServer, Request, reply
from uploads import Driver, make_file, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture()
def forger(local_cos: LocalCOS) -> Iterator[CorruptingProxy]:
    """Damages the first PUT body (part 1) and forges the CRC-64 of its answer."""
    proxy = CorruptingProxy(local_cos.port, flips=1, offset=1000, forge_crc=True)
    yield proxy
    proxy.close()


def test_a_forged_part_is_caught_at_complete_and_the_wrong_object_is_deleted(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path,
    forger: CorruptingProxy,
) -> None:  # fmt: skip
    client.put_object("obj", os.urandom(100_000))  # a previous version: overwritten by Complete, as on COS
    path, data = make_file(tmp_path, 3 * MB + 5)
    with local_cos.client(endpoint=forger.endpoint, retry=FAST_RETRY) as through:
        with pytest.raises(CosIntegrityError) as raised:
            driver.uploader(through, store, verify_md5=False).upload(path, "obj")
    assert forger.flipped == 1 and forger.forged == 1, "part 1 was damaged and its CRC-64 answer forged"
    error = raised.value
    assert error.what == "crc64" and error.part_number is None  # found by Complete, for the object
    assert "the completed object did not match and was deleted" in str(error)
    assert client.find_object("obj") is None, "the wrong object stayed at the key"
    assert [entry.status for entry in local_cos.log_entries("DeleteObject")] == [204]
    assert not list(client.list_multipart_uploads()) and not list(store)


def test_with_md5_checks_the_damaged_part_is_sent_again_and_the_object_is_exact(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path,
    forger: CorruptingProxy,
) -> None:  # fmt: skip
    # What verify_md5 (the default) buys on plain HTTP: the ETag of the damaged bytes is not their MD5.
    path, data = make_file(tmp_path, 3 * MB + 5)
    with local_cos.client(endpoint=forger.endpoint, retry=FAST_RETRY) as through:
        driver.uploader(through, store).upload(path, "obj")
    assert forger.flipped == 1 and forger.forged == 1
    assert stored(client, "obj") == data and not local_cos.log_entries("DeleteObject")
    sent: List[Any] = [entry for entry in local_cos.log_entries("UploadPart")]
    assert len(sent) == 5  # 4 parts, part 1 twice


def test_when_the_wrong_object_cannot_be_deleted_the_error_says_so(
    driver: Driver, local_cos: LocalCOS, client: CosClient, store: CheckpointStore, tmp_path: Path,
    forger: CorruptingProxy,
) -> None:  # fmt: skip
    path, _ = make_file(tmp_path, 2 * MB + 5)
    local_cos.faults.add(Fault.error("DeleteObject", status=403, code="AccessDenied"))
    with local_cos.client(endpoint=forger.endpoint, retry=FAST_RETRY) as through:
        with pytest.raises(CosIntegrityError) as raised:
            driver.uploader(through, store, verify_md5=False).upload(path, "obj")
    assert "the completed object did not match and could NOT be deleted (CosServiceError" in str(raised.value)
    assert "AccessDenied" in raised.value.outcome and "delete the key" in raised.value.outcome
    assert client.find_object("obj") is not None  # still there, and the error says it must go


def test_in_a_versioned_bucket_the_version_complete_made_is_the_one_deleted() -> None:
    # The local server keeps no versions: a scripted server answers Complete with a version id and a CRC-64
    # that is not the parts', and records the DELETE that follows.
    parts = (PartReceipt(1, "a" * 32, MB, crc64(b"x" * MB)), PartReceipt(2, "b" * 32, 5, crc64(b"y" * 5)))

    def answer(request: Request, sock: socket.socket) -> bool:
        if request.method == "POST":
            body = b"<CompleteMultipartUploadResult><Key>obj</Key><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>"
            reply(sock, "200 OK", body, {"x-cos-hash-crc64ecma": "12345", "x-cos-version-id": "MTg0NDUxNTc1NjIzMTQ1MDAwODg"})
        else:
            reply(sock, "204 No Content")
        return True

    with HostileServer(answer) as server, server.client() as client:
        session = UploadSession(server.endpoint, client.bucket, "obj", "upload-1", plan_parts(MB + 5, MB))
        with pytest.raises(CosIntegrityError) as raised:
            complete(client, session, parts)
    [deleted] = [request for request in server.requests if request.method == "DELETE"]
    assert parse_qs(urlsplit(deleted.target).query) == {"versionId": ["MTg0NDUxNTc1NjIzMTQ1MDAwODg"]}
    assert raised.value.remote == 12345 and (
        "did not match and was deleted (version MTg0NDUxNTc1NjIzMTQ1MDAwODg; the version it replaced, if any, "
        "is current again)"
    ) in str(raised.value)
