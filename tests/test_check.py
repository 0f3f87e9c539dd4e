"""The verdicts of ``check`` (:func:`cos_multipart._drivers.check.compare`) and the ``--older-than`` durations."""

from __future__ import annotations

import argparse
from typing import Optional, Tuple

import pytest

from cos_multipart._cli.main import parse_duration
from cos_multipart._drivers.check import CheckedPath, CheckReport, compare


@pytest.mark.parametrize(
    ("local", "remote", "expected"),
    [
        ((5, None), (None, None), ("only_local", None)),
        ((5, None), (6, 1), ("differ", "size")),
        ((5, 1), (5, 2), ("differ", "crc64")),
        ((5, 1), (5, 1), ("equal", "crc64")),
        ((5, None), (5, None), ("equal", "size")),  # the service has no CRC-64: by size only, and said
        ((5, None), (5, 1), ("error", None)),
    ],
)
def test_compare(local: Tuple[int, Optional[int]], remote: Tuple[Optional[int], Optional[int]], expected: Tuple[str, Optional[str]]) -> None:
    status, compared, reason = compare(local[0], local[1], remote[0], remote[1])
    assert (status, compared) == expected
    assert bool(reason) == (expected != ("equal", "crc64"))


def test_a_report_is_ok_only_when_nothing_differs_or_failed() -> None:
    equal = CheckedPath("a", "p/a", "equal", 1, 1, 7, 7, "crc64")
    skipped = CheckedPath("l", "p/l", "skipped", reason="symbolic link")
    assert CheckReport("p/", (equal, skipped)).ok
    for status in ("differ", "only_local", "only_remote", "error"):
        assert not CheckReport("p/", (equal, CheckedPath("b", "p/b", status))).ok


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2W", 1209600), ("1.5h", 5400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "7y", "1d2h"])
def test_parse_duration_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        parse_duration(text)
