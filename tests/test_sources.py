"""Sources: a small file is read into the single PUT's buffer once (preadv where the platform has it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cos_multipart._protocol import checksum
from cos_multipart._io._sources import BodyOptions, FileSource, open_source
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.errors import SourceChangedError


@pytest.mark.parametrize("size", [0, 4096, 1024 * 1024, 3 * 1024 * 1024 + 7], ids=["empty", "4KiB", "one-read", "chunked"])
@pytest.mark.parametrize("preadv", [True, False], ids=["preadv", "pread"])
def test_a_small_file_is_read_whole_with_its_checksums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preadv: bool, size: int
) -> None:
    if not preadv:
        monkeypatch.setattr(checksum, "_PREADV", False)  # the one pread_into every reader uses
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    source = open_source(path)
    assert isinstance(source, FileSource)
    try:
        part = source.read_all(BodyOptions(md5=True))
        assert bytes(part.data) == data and part.digest.crc64 == crc64(data) and part.digest.size == len(data)
        if size:
            os.truncate(path, size // 2)  # shorter than planned: a changed source, whichever call reads it
            with pytest.raises(SourceChangedError, match="shorter than when the upload started"):
                source.read_all(BodyOptions(md5=True))
    finally:
        source.close()
