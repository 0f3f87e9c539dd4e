"""The upload session as a pure value: pending parts, receipts, completion checks, reconcile, JSON, pickle."""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path
from typing import Any, Dict

import pytest

from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.errors import CosIntegrityError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.models import PartInfo
from cos_multipart._core.planner import plan_parts, stream_plan
from cos_multipart._core.session import FileIdentity, GrowingPlan, PartReceipt, UploadSession

IDENTITY = FileIdentity(size=3 * MB + 5, mtime_ns=1_700_000_000_123_456_789, ctime_ns=1_700_000_001_000_000_000,
                        inode=123456, device=2049)  # fmt: skip


def session(**changes: Any) -> UploadSession:
    values: Dict[str, Any] = dict(
        endpoint="http://127.0.0.1:9000",
        bucket="examplebucket-1250000000",
        key="dir/obj",
        upload_id="1700000000abcdef",
        plan=plan_parts(3 * MB + 5, MB),
        options_digest="d" * 64,
        encryption="none",
        source="/data/file.bin",
        identity=IDENTITY,
        created=1_700_000_000.5,
    )
    values.update(changes)
    return UploadSession(**values)


def receipt(number: int, size: int = MB, crc: int = 7) -> PartReceipt:
    return PartReceipt(number, '"%032x"' % number, size, crc)


def test_pending_parts_are_those_without_a_receipt() -> None:
    value = session().with_parts([receipt(2), receipt(4, 5)])
    assert value.pending() == (1, 3)
    assert [p.part_number for p in value.parts] == [2, 4]


def test_a_receipt_that_does_not_fit_the_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="plan says"):
        session().with_parts([receipt(4, MB)])  # the last part has 5 bytes
    with pytest.raises(ValueError, match="not in the plan"):
        session().with_parts([receipt(5, 5)])


def test_complete_needs_every_part_once_in_order() -> None:
    value = session()
    parts = [receipt(1), receipt(2), receipt(3), receipt(4, 5)]
    assert value.check_complete(parts) == tuple(parts)
    with pytest.raises(CosIntegrityError, match="missing \\[3\\]"):
        value.check_complete([parts[0], parts[1], parts[3]])
    with pytest.raises(CosIntegrityError):
        value.check_complete([parts[1], parts[0], parts[2], parts[3]])
    with pytest.raises(CosIntegrityError):
        value.check_complete([parts[0], parts[1], parts[2], receipt(4, 6)])


def test_combined_crc_is_the_crc_of_the_object() -> None:
    data = os.urandom(3 * MB + 5)
    parts = [PartReceipt(n + 1, "e", len(data[o : o + MB]), crc64(data[o : o + MB])) for n, o in enumerate(range(0, len(data), MB))]
    assert UploadSession.combined_crc64(parts) == crc64(data)


def test_reconcile_keeps_matching_parts_and_flags_the_rest() -> None:
    value = session().with_parts([receipt(1), receipt(2), receipt(3)])
    listed = [
        PartInfo(1, '"%032x"' % 1, MB),  # same
        PartInfo(2, '"%032x"' % 99, MB),  # another ETag: re-sent
        PartInfo(4, '"%032x"' % 4, 5),  # not recorded, MD5 ETag: check the local bytes
        PartInfo(9, '"%032x"' % 9, MB),  # not in the plan
    ]
    found = value.reconcile(listed)
    assert [p.part_number for p in found.kept] == [1]
    assert [p.part_number for p in found.unrecorded] == [2, 4]
    assert found.dropped == (2, 3)


def test_unrecorded_parts_with_non_md5_etags_are_not_candidates() -> None:
    found = session(encryption="kms").reconcile([PartInfo(1, '"%032x"' % 1, MB)])
    assert found.unrecorded == ()


def test_json_round_trip_and_pickle() -> None:
    value = session(completing=True).with_parts([receipt(1, crc=2**64 - 1), receipt(4, 5)])
    again = UploadSession.from_json(json.loads(json.dumps(value.to_json())))
    assert again == value and again.completing
    assert pickle.loads(pickle.dumps(value)) == value
    assert "secret" not in json.dumps(value.to_json()).lower()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("upload_id", "abc\ndef"),
        ("upload_id", ""),
        ("upload_id", "a b"),
        ("upload_id", 5),
        ("created", math.inf),
        ("created", 1e20),
        ("created", math.nan),
        ("created", True),
        ("part_size", 0),
        ("size", -1),
        ("encryption", "rot13"),
        ("parts", [[1, '"a"', MB, "x"]]),
        ("parts", [[1, '"a"', MB, str(2**64)]]),
        ("parts", [[0, '"a"', MB, "1"]]),
        ("parts", [[1, '"a"', MB, "1"], [1, '"a"', MB, "1"]]),
        ("parts", "nope"),
        ("file", {"size": 1}),
        ("completing", "yes"),
    ],
)
def test_hostile_fields_are_refused(field: str, value: Any) -> None:
    document = session().to_json()
    document[field] = value
    with pytest.raises(ValueError):
        UploadSession.from_json(json.loads(json.dumps(document, allow_nan=True)))


def test_identity_names_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    before = FileIdentity.of_path(path)
    stat = os.stat(path)
    path.write_bytes(b"xyz")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back, as cp -p would
    after = FileIdentity.of_path(path)
    assert after.mtime_ns == before.mtime_ns
    assert before.difference(after) is not None  # ctime moved
    replaced = tmp_path / "g"
    replaced.write_bytes(b"xyz")
    os.replace(replaced, path)
    assert "replaced" in str(before.difference(FileIdentity.of_path(path)))


def test_growing_plan_of_a_stream() -> None:
    schedule = stream_plan(MB)
    plan = GrowingPlan(schedule, 1002 * MB + 3, 1002)  # 1,000 parts of 1 MB, one of 2 MB, 3 bytes
    assert plan.part(1) == (0, MB)
    assert plan.part(1001) == (1000 * MB, 2 * MB)
    assert plan.part(1002) == (1002 * MB, 3)
    value = session(plan=plan, source=None, identity=None)
    with pytest.raises(ValueError):
        value.to_json()  # streams are never checkpointed


def test_the_service_travels_with_the_session() -> None:
    from cos_multipart._core._resume import stale_reason

    oss = session(service="oss")
    assert UploadSession.from_json(json.loads(json.dumps(oss.to_json()))).service == "oss"
    # Checkpoints written before OSS existed name no service: they are COS's.
    document = session().to_json()
    del document["service"]
    assert UploadSession.from_json(document).service == "cos"
    with pytest.raises(ValueError, match="unknown service"):
        UploadSession.from_json({**document, "service": "s3"})
    # An upload id of one service means nothing to the other, even behind the same endpoint URL.
    reason = stale_reason(session(), oss, part_size_given=False)
    assert reason is not None and "COS" in reason and "OSS" in reason
    assert stale_reason(oss, session(service="oss"), part_size_given=False) is None


def test_a_resume_keeps_its_uploads_part_size_when_the_default_changed(tmp_path: Path) -> None:
    # An upload of a 1 GiB file started with 8 MB parts (the default before issue 25, or --part-size 8MB)
    # resumes with them; a new upload of the same file plans 16 MB parts.
    from cos_multipart import CosClient, Credentials, UploadConfig
    from cos_multipart._core import _decisions
    from cos_multipart._io._sources import FileSource, open_source

    path = tmp_path / "large.bin"
    with open(path, "wb") as file:
        file.truncate(1024 * MB)  # sparse: nothing here reads it
    client = CosClient("examplebucket-1250000000", "ap-guangzhou", Credentials("AKIDx", "secret"))
    config = UploadConfig(checkpoint_dir=str(tmp_path / "checkpoints"))
    source = open_source(str(path))
    try:
        assert isinstance(source, FileSource)
        assert _decisions.planned_session(client, config, source, "large.bin").part_size == 16 * MB
        stored = _decisions.wanted_session(client, config, source, "large.bin", "upload-1", 8 * MB)
        assert _decisions.stale_reason(client, config, source, "large.bin", stored) is None
        asked = UploadConfig(checkpoint_dir=str(tmp_path / "checkpoints"), part_size=16 * MB)
        assert _decisions.stale_reason(client, asked, source, "large.bin", stored) == (
            f"part size {16 * MB} asked, the upload used {8 * MB}"
        )
    finally:
        source.close()
        client.close()
