"""A range's answer judged before its bytes are written (the status, the length, the Content-Range)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cos_multipart._core._download import FetchRange
from cos_multipart._drivers._downloadsteps import DownloadSteps, RangeSink, range_of
from cos_multipart._io._downloadfile import DownloadFiles
from cos_multipart._protocol.errors import CosCancelledError, CosResponseError
from cos_multipart._protocol.integrity import CRC64_ECMA
from cos_multipart._protocol.checksum import crc64


def sink(tmp_path: Path, action: FetchRange) -> RangeSink:
    files = DownloadFiles(str(tmp_path / "out"))
    files.prepare(100, keep=False)
    return RangeSink(action, DownloadSteps(files, CRC64_ECMA, None), None, threading.Event())


def test_content_range_parsed() -> None:
    assert range_of("bytes 10-19/100") == (10, 19)
    assert range_of("bytes */100") is None and range_of("items 1-2/3") is None


def test_a_range_must_answer_206_with_its_own_range(tmp_path: Path) -> None:
    ranged = sink(tmp_path, FetchRange(1, 10, 10, '"e"'))
    ranged.check_answer(206, 10, "bytes 10-19/100")
    ranged.check_answer(206, 10, None)  # no header: the length and status must do
    for status, length, header in ((200, 100, None), (206, 9, "bytes 10-18/100"), (206, 10, "bytes 0-9/100")):
        with pytest.raises(CosResponseError):
            ranged.check_answer(status, length, header)
    whole = sink(tmp_path, FetchRange(0, 0, 100, '"e"', whole=True))
    whole.check_answer(200, 100, None)
    with pytest.raises(CosResponseError):
        whole.check_answer(206, 100, None)


def test_bytes_are_written_at_their_offset_hashed_and_bounded(tmp_path: Path) -> None:
    ranged = sink(tmp_path, FetchRange(1, 10, 10, '"e"'))
    ranged.take(b"abcde")
    ranged.take(b"fghij")
    with pytest.raises(CosResponseError):
        ranged.take(b"k")  # past the range's end: never written
    assert ranged.fetched().length == 10 and ranged.fetched().crc64 == crc64(b"abcdefghij")
    ranged.steps.files.close()
    assert (tmp_path / ".out.cos-download").read_bytes()[10:20] == b"abcdefghij"
    ranged.stop.set()
    with pytest.raises(CosCancelledError):
        ranged.take(b"x")
