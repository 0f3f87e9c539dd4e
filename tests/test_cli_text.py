"""Names printed for people: control characters escaped, everything else as it is."""

from __future__ import annotations

import pytest

from cos_multipart._cli import main as cli
from cos_multipart._cli.text import shown
from cos_multipart._protocol.errors import KEPT_UPLOAD_ATTRIBUTE, KeptUpload


def test_shown_escapes_controls_separators_overrides_and_undecodable_bytes() -> None:
    assert shown("plain 猫 ü + %20.txt") == "plain 猫 ü + %20.txt"
    assert shown("a\x1b[2Jb") == "a\\x1b[2Jb" and shown("1\n2\r3\t4\x7f\x85") == "1\\n2\\r3\\t4\\x7f\\x85"
    assert shown("x\u2028y\u2029z") == "x\\u2028y\\u2029z"
    assert shown("invoice\u202egpj.exe") == "invoice\\u202egpj.exe"  # a name that shows as another
    assert shown("bad\udcffname") == "bad\\xffname"  # a byte that is not UTF-8 (os.fsdecode's escape)
    for text in ("a\x1b", "\n", "\u202e", "\udcff"):
        assert shown(text).isprintable()


def test_a_kept_upload_line_is_one_line_without_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    error = RuntimeError("stopped")
    setattr(error, KEPT_UPLOAD_ATTRIBUTE, KeptUpload("b", "k\x1b[31m\nfake", "id", 1, 2, None, "/tmp/f\x07.bin"))
    cli._report_kept(error)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err and "k\\x1b[31m\\nfake" in err
