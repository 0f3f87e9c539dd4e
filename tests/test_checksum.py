"""CRC-64/XZ values, backends agreeing, combination, and MD5/ETag helpers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cos_multipart._protocol import checksum
from cos_multipart._protocol.checksum import (
    CRC64_CHECK,
    PartHasher,
    crc64,
    crc64_combine,
    crc64_combine_all,
    crc64_function,
    etag_is_md5,
    md5_base64,
    normalize_etag,
)


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"", 0),
        (b"123456789", CRC64_CHECK),
        (b"a", 3675645893302102789),
        (b"abc", 3231342946509354535),
        (b"ObjectContent", 2900061071848923409),
    ],
)
def test_reference_values(data: bytes, value: int) -> None:
    assert crc64(data) == value


def _reference_crc64(data: bytes) -> int:
    """The byte-wise table algorithm of reference section 5.1, independent of any backend."""
    table = []
    for i in range(256):
        value = i
        for _ in range(8):
            value = (value >> 1) ^ (0xC96C5795D7870F42 if value & 1 else 0)
        table.append(value)
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


@pytest.mark.parametrize("backend", ["crcmod", "fastcrc"])
def test_backends_agree_with_the_reference_algorithm(backend: str) -> None:
    function = crc64_function(backend)
    data = os.urandom(4099)
    assert function(data, 0) == _reference_crc64(data)
    assert function(memoryview(data)[1000:], function(memoryview(data)[:1000], 0)) == _reference_crc64(data)
    assert function(bytearray(b"123456789"), 0) == CRC64_CHECK


def test_unknown_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown CRC64 backend"):
        crc64_function("zlib")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_combine_equals_crc_of_concatenation(a: bytes, b: bytes) -> None:
    assert crc64_combine(crc64(a), crc64(b), len(b)) == crc64(a + b)


def test_combine_all_over_parts_of_different_sizes() -> None:
    parts = [os.urandom(n) for n in (1 << 20, 1 << 20, 12345, 0, 7)]
    assert crc64_combine_all([(crc64(p), len(p)) for p in parts]) == crc64(b"".join(parts))


def test_combine_of_ten_thousand_equal_parts_is_fast() -> None:
    # Decided by work counted, not time: equal parts share one zeros operator, built once (a per-part build,
    # ~5 ms a part, would count 10,000 builds, or none through the cache).
    checksum._zeros_operator.cache_clear()
    crc64_combine_all([(i * 2654435761 % (1 << 64), 8 << 20) for i in range(10_000)])
    info = checksum._zeros_operator.cache_info()
    assert info.misses == 1


@pytest.mark.parametrize("length", [1, 8, 4096, 1 << 20, (8 << 20) + 12_345])
def test_combine_over_long_second_parts(length: int) -> None:
    a, b = os.urandom(33), os.urandom(length)
    assert crc64_combine(crc64(a), crc64(b), length) == crc64(a + b)


def test_zeros_operators_compose() -> None:
    # Appending m zero bytes and then n is appending m + n: holds for any correct operator, however built.
    checksum._zeros_operator.cache_clear()
    for crc in (0, 1, 1 << 63, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF):
        both = crc64_combine(crc64_combine(crc, 0, 5 << 20), 0, 3 << 20)
        assert crc64_combine(crc, 0, 8 << 20) == both


def test_building_an_operator_takes_a_logarithmic_number_of_products(monkeypatch: pytest.MonkeyPatch) -> None:
    # Square-and-multiply: at most two products per bit of 8 * length (the old 64x64 bit-matrix squarings took
    # ~7 ms of CPU per distinct part length, paid by every new process's first multipart upload).
    products = 0
    multiply = checksum._multiply

    def counted(a: int, b: int) -> int:
        nonlocal products
        products += 1
        return multiply(a, b)

    monkeypatch.setattr(checksum, "_multiply", counted)
    checksum._zeros_operator.cache_clear()
    length = (8 << 20) + 12_345
    checksum._zeros_operator(length)
    assert 0 < products <= 2 * (8 * length).bit_length()
    checksum._zeros_operator.cache_clear()  # built with the counting multiply: not left for other tests


def test_part_hasher_computes_md5_and_crc_in_one_pass() -> None:
    data = os.urandom(100_000)
    hasher = PartHasher()
    view = memoryview(data)
    for offset in range(0, len(data), 30_000):
        hasher.update(view[offset : offset + 30_000])
    assert hasher.size == len(data)
    assert hasher.crc64 == crc64(data)
    assert hasher.md5_hex == hashlib.md5(data).hexdigest()
    assert hasher.md5_base64 == md5_base64(data)


def test_doc_content_md5() -> None:
    assert md5_base64(b"ObjectContent") == "mQ/fVh815F3k6TAUm8m0eg=="


def test_etag_helpers() -> None:
    assert normalize_etag(' "39270A968A357D24207E9911162507EB" ') == "39270a968a357d24207e9911162507eb"
    assert etag_is_md5('"39270a968a357d24207e9911162507eb"')
    assert not etag_is_md5('"aa259a62513358f69e98e72e59856d88-3"')
    assert not etag_is_md5('"zz270a968a357d24207e9911162507eb"')


def test_file_crc64_reads_a_file_larger_than_its_buffer_once_whatever_its_offset(tmp_path: Path) -> None:
    data = os.urandom(checksum.FILE_READ_SIZE * 2 + 12_345)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert checksum.file_crc64(str(path)) == crc64(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 100, os.SEEK_SET)
        assert checksum.fd_crc64(fd) == crc64(data)  # from the start, by pread
        assert os.lseek(fd, 0, os.SEEK_CUR) == 100  # the descriptor's offset is left alone
    finally:
        os.close(fd)
    (tmp_path / "empty").write_bytes(b"")
    assert checksum.file_crc64(str(tmp_path / "empty")) == 0
