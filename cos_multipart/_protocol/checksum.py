"""CRC-64 (``x-cos-hash-crc64ecma``), CRC-64 combination, and MD5/ETag helpers.

COS's "crc64ecma" is the reflected CRC-64/XZ (poly 0x42F0E1EBA9EA3693, init and xorout all ones); the
check value of ``b"123456789"`` is 11051210869376104954 [ref 5.1].

Backends, fastest first: ``fastcrc`` (SIMD, the ``cos-multipart[fast]`` extra) then ``crcmod`` (required).
crcmod without its C extension runs at ~17 MB/s; that case is logged once as a warning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import sys
from functools import lru_cache
from typing import Callable, Optional, Sequence, Tuple, Union

logger = logging.getLogger(__name__)

Buffer = Union[bytes, bytearray, memoryview]
CrcFunction = Callable[[Buffer, int], int]

#: CRC-64/XZ in its normal and reflected forms [ref 5.1].
CRC64_POLY = 0x42F0E1EBA9EA3693
CRC64_POLY_REFLECTED = 0xC96C5795D7870F42
CRC64_CHECK = 11051210869376104954
_MASK64 = (1 << 64) - 1


def _crcmod_function() -> Tuple[CrcFunction, str]:
    import crcmod

    # crcmod's initCrc is the register value after the final xor, so 0 means "all ones" inside.
    function = crcmod.mkCrcFun(0x1_0000_0000_0000_0000 | CRC64_POLY, initCrc=0, xorOut=_MASK64, rev=True)
    uses_extension = bool(getattr(sys.modules.get("crcmod.crcmod"), "_usingExtension", False))
    if not uses_extension:
        logger.warning(
            "crcmod's C extension is not available: CRC64 runs at ~17 MB/s. "
            "Install cos-multipart[fast] or a compiler for crcmod."
        )
    return function, "crcmod" if uses_extension else "crcmod-python"


def _fastcrc_function() -> Optional[Tuple[CrcFunction, str]]:
    try:
        from fastcrc import crc64
    except ImportError:
        return None
    xz = crc64.xz

    def update(data: Buffer, crc: int = 0) -> int:
        # fastcrc takes the previous CRC value as ``initial`` and continues from it.
        return int(xz(data, crc)) if crc else int(xz(data))

    return update, "fastcrc"


def _select_backend(name: Optional[str] = None) -> Tuple[CrcFunction, str]:
    if name in (None, "fastcrc"):
        fast = _fastcrc_function()
        if fast is not None:
            return fast
        if name == "fastcrc":
            raise ImportError("the fastcrc backend is not installed (pip install cos-multipart[fast])")
    if name not in (None, "crcmod"):
        raise ValueError(f"unknown CRC64 backend {name!r}: use 'fastcrc' or 'crcmod'")
    return _crcmod_function()


_crc64_update, CRC64_BACKEND = _select_backend()


def crc64(data: Buffer, crc: int = 0) -> int:
    """Return the COS CRC-64 of ``data``, continuing from ``crc`` (the CRC of what came before).

    Args:
        data: Bytes, bytearray or memoryview.
        crc: The CRC-64 of the preceding bytes, 0 to start.
    """
    return _crc64_update(data, crc)


def crc64_function(backend: Optional[str] = None) -> CrcFunction:
    """Return the CRC-64 update function of a named backend (``"fastcrc"``, ``"crcmod"``) or the best one.

    Raises:
        ImportError: The named backend is not installed.
    """
    return _select_backend(backend)[0]


# --- Combination: crc(A || B) from crc(A), crc(B) and len(B) -------------------------------------------
#
# Appending n zero bytes to a message multiplies the CRC register by x^(8n) modulo the polynomial, over GF(2)
# (zlib's crc32_combine technique). x^(8n) is found by square-and-multiply from x^(2^k), k = 0, 1, ...: about
# 2 log2(8n) products of two 64-bit polynomials, each 64 shift-and-xor steps. The map for n bytes is cached as
# eight 256-entry byte tables, so combining costs eight lookups. An upload has at most two distinct part
# lengths, so 10,000 parts cost two table builds (well under a millisecond each) and 10,000 cheap lookups.
#
# Registers are reflected (as the CRC is): bit 63 holds the coefficient of x^0, bit 0 that of x^63.

_X0 = 1 << 63  # the polynomial 1
_X1 = 1 << 62  # the polynomial x


def _times_x(value: int) -> int:
    """``value * x`` modulo the polynomial (reflected)."""
    return (value >> 1) ^ CRC64_POLY_REFLECTED if value & 1 else value >> 1


def _multiply(a: int, b: int) -> int:
    """``a * b`` modulo the polynomial (both reflected)."""
    product = 0
    mask = _X0
    while a:
        if a & mask:
            product ^= b
            a ^= mask
        mask >>= 1
        b = _times_x(b)
    return product


def _x_to_the(exponent: int) -> int:
    """``x ** exponent`` modulo the polynomial, by square-and-multiply.

    Nothing is kept between calls (no shared table to grow): threads may build operators at the same time.
    """
    result = _X0
    square = _X1  # x^(2^k) for the bit k looked at
    while exponent:
        if exponent & 1:
            result = _multiply(square, result)
        exponent >>= 1
        if exponent:
            square = _multiply(square, square)
    return result


@lru_cache(maxsize=64)
def _zeros_operator(length: int) -> Tuple[Tuple[int, ...], ...]:
    """Byte tables of the linear map "append ``length`` zero bytes" on the CRC register."""
    if length <= 0:  # only a positive length appends anything; callers handle 0 themselves
        raise ValueError(f"length must be a positive number of bytes, got {length}")
    # Column i is the image of register bit i: the factor times the monomial that bit stands for, x^(63 - i).
    column = _x_to_the(8 * length)  # bit 63 (x^0)
    columns = [0] * 64
    for bit in range(63, -1, -1):
        columns[bit] = column
        column = _times_x(column)
    tables = []
    for byte_index in range(8):
        low = columns[8 * byte_index : 8 * byte_index + 8]
        table = [0] * 256
        for value in range(1, 256):
            low_bit = (value & -value).bit_length() - 1
            table[value] = table[value & (value - 1)] ^ low[low_bit]
        tables.append(tuple(table))
    return tuple(tables)


def crc64_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """Return the CRC-64 of ``A || B`` given ``crc64(A)``, ``crc64(B)`` and ``len(B)``."""
    if length_b <= 0:
        return crc_a
    tables = _zeros_operator(length_b)
    shifted = 0
    for byte_index in range(8):
        shifted ^= tables[byte_index][(crc_a >> (8 * byte_index)) & 0xFF]
    return shifted ^ crc_b


def crc64_combine_all(parts: Sequence[Tuple[int, int]]) -> int:
    """Return the CRC-64 of the concatenation of parts given as ``(crc64, size)`` pairs in order."""
    total = 0
    for part_crc, size in parts:
        total = crc64_combine(total, part_crc, size)
    return total


# --- MD5 and ETags -----------------------------------------------------------------------------------


class PartHasher:
    """MD5 and CRC-64 of a byte stream, fed once: each buffer is hashed by both in the same pass."""

    __slots__ = ("_md5", "crc64", "size")

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self.crc64 = 0
        self.size = 0

    def update(self, data: Buffer) -> None:
        """Add the next bytes."""
        self._md5.update(data)
        self.crc64 = _crc64_update(data, self.crc64)
        self.size += len(data)

    @property
    def md5_hex(self) -> str:
        """Lowercase hex MD5 of the bytes so far."""
        return self._md5.hexdigest()

    @property
    def md5_base64(self) -> str:
        """Base64 MD5 of the bytes so far, as ``Content-MD5`` wants it."""
        return base64.b64encode(self._md5.digest()).decode("ascii")


#: Bytes per read when a whole file is hashed (sync's CRC-64 of a local file, verify).
FILE_READ_SIZE = 1024 * 1024


def fd_crc64(fd: int) -> int:
    """The CRC-64 of the open file ``fd`` from its start (``pread``: its offset is left alone), read into one
    reused buffer of :data:`FILE_READ_SIZE` bytes, so memory does not grow with the file."""
    buffer = bytearray(FILE_READ_SIZE)
    view = memoryview(buffer)
    crc = offset = 0
    while True:
        count = pread_into(fd, view, offset)
        if not count:
            return crc
        crc = crc64(view[:count], crc)
        offset += count


def file_crc64(path: str) -> int:
    """The CRC-64 of the file at ``path`` (see :func:`fd_crc64`)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return fd_crc64(fd)
    finally:
        os.close(fd)


#: Whether the platform has ``os.preadv`` (Linux, the BSDs).
_PREADV = hasattr(os, "preadv")


def pread_into(fd: int, buffer: Union[bytearray, memoryview], offset: int) -> int:
    """Read up to ``len(buffer)`` bytes of ``fd`` at ``offset`` straight into ``buffer`` (``os.preadv``; where the
    platform lacks it, one ``pread`` copied in); returns how many arrived (fewer: the file ended there)."""
    if _PREADV:
        return os.preadv(fd, [buffer], offset)
    chunk = os.pread(fd, len(buffer), offset)
    buffer[: len(chunk)] = chunk
    return len(chunk)


def md5_base64(data: Buffer) -> str:
    """Return the base64 MD5 of ``data`` (the ``Content-MD5`` header value)."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def normalize_etag(etag: str) -> str:
    """Strip quotes and whitespace and lowercase an ETag: ``'"ABC"'`` -> ``'abc'``."""
    return etag.strip().strip('"').lower()


def etag_is_md5(etag: str) -> bool:
    """True when an ETag has the shape of a plain hex MD5 (not a multipart ``<hex>-<n>`` ETag)."""
    value = normalize_etag(etag)
    if len(value) != 32:
        return False
    try:
        binascii.unhexlify(value)
    except binascii.Error:
        return False
    return True
