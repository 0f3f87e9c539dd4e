"""The integrity scheme is a value of the dialect: a toy scheme (CRC-32C, written here) plugged into a copy of
the COS dialect makes the pure upload machine check parts and the object with it, with no I/O at all."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any, List, Optional, Tuple, Union

import pytest

from cos_multipart import UploadConfig
from cos_multipart._core._actions import (
    CheckpointWritten, CombineCrc64, Complete, Done, Failed, Initiate, LoadCheckpoint, SendPart, StartCheckpoint,
)  # fmt: skip
from cos_multipart._core._machine import UploadMachine, UploadStart
from cos_multipart._core._outcomes import Initiated, Sent, SourceFacts, Target
from cos_multipart._core.parts import Answer
from cos_multipart._core.planner import plan_parts
from cos_multipart._core.session import FileIdentity, PartReceipt, UploadSession
from cos_multipart._io._partreader import hash_buffer
from cos_multipart._protocol.checksum import crc64
from cos_multipart._protocol.dialect import COS, OSS, Dialect, integrity_of
from cos_multipart._protocol.errors import CosIntegrityError, CosResponseError
from cos_multipart._protocol.integrity import CRC64_ECMA, IntegrityScheme
from cos_multipart._protocol.models import CompleteResult, ResponseInfo
from cos_multipart._protocol.operations import parse_crc64

MB = 1024 * 1024

# --- the toy scheme: CRC-32C (Castagnoli, reflected, init and xorout all ones), check value 0xE3069283 ---------

_POLY = 0x82F63B78
_MASK = 0xFFFFFFFF


def _table() -> Tuple[int, ...]:
    rows = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ _POLY if value & 1 else value >> 1
        rows.append(value)
    return tuple(rows)


_TABLE = _table()


def crc32c_update(data: Union[bytes, bytearray, memoryview], crc: int = 0) -> int:
    """CRC-32C of ``data`` continuing from ``crc`` (the CRC-32C of what came before; 0 to start)."""
    register = crc ^ _MASK
    table = _TABLE
    for byte in bytes(data):
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register ^ _MASK


@cache
def _zeros(register: int, length: int) -> int:
    for _ in range(length):
        register = _TABLE[register & 0xFF] ^ (register >> 8)
    return register


def crc32c_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """CRC-32C of ``A || B``: ``crc_a`` run through ``length_b`` zero bytes on the bare register (the init and
    xorout cancel out, as with any CRC whose init equals its xorout), then xored with ``crc_b``."""
    return _zeros(crc_a, length_b) ^ crc_b


def _parse_hex32(text: str) -> Optional[int]:
    text = text.strip().lower()
    if len(text) != 8 or any(c not in "0123456789abcdef" for c in text):
        return None
    return int(text, 16)


CRC32C = IntegrityScheme(
    name="crc32c",
    header="x-cos-hash-crc32c",
    update=crc32c_update,
    combine=crc32c_combine,
    parse=_parse_hex32,
    format=lambda value: f"{value:08x}",
    described="8 hex digits",
)
TOY: Dialect = dataclasses.replace(COS, integrity=CRC32C)
TARGET = Target("http://cos.example", "examplebucket-1250000000", TOY)

# Two whole parts and a short last one; bytes that differ per part so a part swapped or combined wrongly shows.
DATA = b"".join(bytes((i * 7 + n) & 0xFF for i in range(256)) * (MB // 256) for n in (1, 2)) + b"tail" * 250
PARTS = [DATA[:MB], DATA[MB : 2 * MB], DATA[2 * MB :]]


@cache
def toy_of(number: int) -> int:
    return CRC32C.of(PARTS[number - 1])


@cache
def toy_whole() -> int:
    return CRC32C.of(DATA)


# --- the scheme itself ------------------------------------------------------------------------------------


def test_the_toy_scheme_is_crc32c_and_combines_to_the_crc_of_the_whole() -> None:
    assert CRC32C.of(b"123456789") == 0xE3069283
    assert CRC32C.update(b"56789", CRC32C.of(b"1234")) == 0xE3069283
    for cut in (0, 1, 4, 9):
        left, right = b"123456789"[:cut], b"123456789"[cut:]
        assert CRC32C.combine_all([(CRC32C.of(left), len(left)), (CRC32C.of(right), len(right))]) == 0xE3069283
    assert CRC32C.combine_all([(toy_of(n), len(PARTS[n - 1])) for n in (1, 2, 3)]) == toy_whole()
    assert toy_whole() != crc64(DATA) & _MASK  # not CRC-64 in disguise


def test_cos_and_oss_own_crc64_ecma_and_name_its_header_on_their_wire() -> None:
    assert COS.integrity is CRC64_ECMA and OSS.integrity is CRC64_ECMA
    assert integrity_of("oss") is CRC64_ECMA and integrity_of(None) is CRC64_ECMA
    assert COS.crc64_header == "x-cos-hash-crc64ecma" and OSS.crc64_header == "x-oss-hash-crc64ecma"
    assert TOY.crc64_header == "x-cos-hash-crc32c"
    assert CRC64_ECMA.combine_all([(crc64(b"1234"), 4), (crc64(b"56789"), 5)]) == crc64(b"123456789")
    assert parse_crc64("18446744073709551615") == (1 << 64) - 1
    with pytest.raises(CosResponseError, match="x-cos-hash-crc64ecma is not an unsigned 64-bit decimal"):
        parse_crc64("18446744073709551616")


def test_a_header_is_parsed_by_the_scheme_it_belongs_to() -> None:
    assert parse_crc64(" e3069283 ", scheme=CRC32C) == 0xE3069283
    with pytest.raises(CosResponseError, match="x-cos-hash-crc32c is not 8 hex digits"):
        parse_crc64("11051210869376104954", scheme=CRC32C)  # a CRC-64 decimal is not a CRC-32C


def test_part_readers_hash_with_the_scheme_they_are_given() -> None:
    assert hash_buffer(PARTS[2], md5=False, integrity=CRC32C).crc64 == toy_of(3)
    assert hash_buffer(PARTS[2], md5=False).crc64 == crc64(PARTS[2])


def test_a_session_combines_with_its_own_scheme() -> None:
    receipts = [PartReceipt(n, f'"e{n}"', len(PARTS[n - 1]), toy_of(n)) for n in (1, 2, 3)]
    session = UploadSession(
        endpoint="http://cos.example", bucket="examplebucket-1250000000", key="k", upload_id="u1",
        plan=plan_parts(len(DATA), MB), options_digest="d" * 64, encryption="none", source="/data/f",
        identity=FileIdentity(len(DATA), 1, 1, 7, 8), created=1_700_000_000.5,
    )  # fmt: skip
    assert session.combined(receipts, CRC32C) == toy_whole()
    assert session.integrity is CRC64_ECMA  # "cos" names the COS dialect's scheme


# --- the pure machine, with the toy dialect ---------------------------------------------------------------


def start() -> UploadStart:
    facts = SourceFacts("file", len(DATA), "/data/f", FileIdentity(len(DATA), 1, 1, 7, 8), "/data/f")
    config = UploadConfig(part_size=MB, multipart_threshold=MB, concurrency=2, part_attempts=1)
    return UploadStart(TARGET, config, "k", facts)


def run(answer_part: Any, answer_complete: Any) -> Tuple[Union[Done, Failed], List[CombineCrc64]]:
    """Drive an upload to the toy target: each part's digest is what the real reader computes with the toy
    scheme; the service's answers come from ``answer_part(number)`` and ``answer_complete()``."""
    machine = UploadMachine.upload(start())
    combines: List[CombineCrc64] = []
    while True:
        actions = machine.next_actions()
        assert actions, "the machine stalled"
        for action in actions:
            if isinstance(action, (Done, Failed)):
                return action, combines
            outcome: object = None
            if isinstance(action, Initiate):
                outcome = Initiated("u1", "ri", 1, 100.0, 101.0)
            elif isinstance(action, StartCheckpoint):
                outcome = "/ckpt/f.json"
            elif isinstance(action, CheckpointWritten):
                outcome = True
            elif isinstance(action, LoadCheckpoint):
                outcome = None
            elif isinstance(action, SendPart):
                digest = hash_buffer(PARTS[action.number - 1], md5=False, integrity=TARGET.dialect.integrity)
                outcome = Sent(digest, Answer(f'"e{action.number}"', answer_part(action.number), f"r{action.number}"))
            elif isinstance(action, CombineCrc64):
                combines.append(action)
                outcome = action.scheme.combine_all(action.parts)  # what every executor does
            elif isinstance(action, Complete):
                outcome = CompleteResult("loc", TARGET.bucket, "k", '"obj"', answer_complete(), None, ResponseInfo(200, "rc"))
            machine.receive(action, outcome)


def test_the_machine_verifies_parts_and_the_object_with_the_dialects_scheme() -> None:
    last, combines = run(toy_of, toy_whole)
    assert isinstance(last, Done), last
    assert [c.scheme for c in combines] == [CRC32C]
    assert last.result.crc64 == toy_whole() and [p.crc64 for p in last.result.parts] == [toy_of(n) for n in (1, 2, 3)]


def test_an_object_checksum_of_another_scheme_is_caught() -> None:
    # Parts agree under the toy scheme, but Complete answers the whole's CRC-64: a CRC-64 value does not pass.
    last, _ = run(toy_of, lambda: crc64(DATA))
    assert isinstance(last, Failed) and isinstance(last.error, CosIntegrityError)
    assert last.error.part_number is None and last.error.local == toy_whole() and last.error.remote == crc64(DATA)


def test_a_part_checksum_of_another_scheme_is_caught() -> None:
    last, combines = run(lambda number: crc64(PARTS[number - 1]), toy_whole)
    assert isinstance(last, Failed) and isinstance(last.error, CosIntegrityError), last
    assert last.error.part_number is not None and not combines  # never reached Complete
