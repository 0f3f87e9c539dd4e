"""The object record's JSON is what ``dataclasses.asdict`` wrote before it was built by hand (a data directory
written by an older server reads the same, and the other way round)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

import pytest

from cos_multipart.testing.protocol import Encryption
from cos_multipart.testing.store import ObjectRecord, Segment, _object_to_json, _read_object


def _as_before(record: ObjectRecord) -> Dict[str, Any]:
    data = dataclasses.asdict(record)
    if record.segments:
        data["segments"] = [[segment.name, segment.size] for segment in record.segments]
    else:
        del data["segments"]
    return data


RECORDS = [
    ObjectRecord("b-1250000000", "k", "0" * 32, 7, 4096, 1.5, (), Encryption(), "abc.0123456789ab.data"),
    ObjectRecord(
        "b-1250000000",
        "dir/ключ",
        "e" * 32 + "-2",
        2**64 - 1,
        10,
        2.0,
        (("Content-Type", "text/plain"), ("x-cos-meta-a", "b")),
        Encryption("SSE-KMS", "kid", ""),
        "abc.seg",
        (Segment("part-00001", 4), Segment("part-00002", 6)),
    ),  # fmt: skip
    ObjectRecord("b-1250000000", "c", "1" * 32, 0, 0, 3.0, (), Encryption("SSE-C", "", "bWQ1"), "c.data"),
]


@pytest.mark.parametrize("record", RECORDS)
def test_object_json_is_what_asdict_wrote(record: ObjectRecord, tmp_path: Any) -> None:
    text = json.dumps(_object_to_json(record), ensure_ascii=False)
    assert text == json.dumps(_as_before(record), ensure_ascii=False)
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    assert _read_object(path) == record
