"""SSE options: headers per mode, key handling, redaction, raw header mappings."""

from __future__ import annotations

from typing import Any, Dict

import base64
import logging

import pytest

from cos_multipart._protocol.errors import REDACTED, CosValidationError
from cos_multipart._protocol.sse import (
    HEADER_C_ALGORITHM,
    HEADER_C_KEY,
    HEADER_C_KEY_MD5,
    SseC,
    SseCos,
    SseKms,
    coerce,
    from_headers,
)

# The doc's SSE-C sample [ref 6.1].
RAW_KEY = b"0123456789ABCDEF0123456789ABCDEF"
B64_KEY = "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY="
KEY_MD5 = "U5L61r7jcwdNvT7frmUG8g=="


def test_sse_cos_headers() -> None:
    assert SseCos().headers() == {"x-cos-server-side-encryption": "AES256"}


def test_sse_kms_headers_and_context() -> None:
    assert SseKms().headers() == {"x-cos-server-side-encryption": "cos/kms"}
    doc_context = "eyJhdXRob3IiOiJmeXNudGlhbiIsImNvbXBhbnkiOiJUZW5jZW50In0="
    headers = SseKms("48ba38aa-26c5-11ea-855c-52540085****", doc_context).headers()
    assert headers == {
        "x-cos-server-side-encryption": "cos/kms",
        "x-cos-server-side-encryption-cos-kms-key-id": "48ba38aa-26c5-11ea-855c-52540085****",
        "x-cos-server-side-encryption-context": doc_context,
    }
    mapped = SseKms(context={"author": "fysntian", "company": "Tencent"}).headers()
    assert base64.b64decode(mapped["x-cos-server-side-encryption-context"]) == b'{"author":"fysntian","company":"Tencent"}'


@pytest.mark.parametrize("context", ["not base64!", base64.b64encode(b"[1,2]").decode(), base64.b64encode(b"{bad").decode(), 5])
def test_sse_kms_bad_context(context: object) -> None:
    with pytest.raises(CosValidationError) as info:
        SseKms(context=context)  # type: ignore[arg-type]
    assert info.value.field == "SseKms.context"


def test_sse_kms_bad_key_id() -> None:
    with pytest.raises(CosValidationError):
        SseKms("bad\r\nx-injected: 1")


@pytest.mark.parametrize("key", [RAW_KEY, B64_KEY, B64_KEY.encode(), bytearray(RAW_KEY)])
def test_sse_c_accepts_raw_or_base64_and_computes_md5(key: object) -> None:
    option = SseC(key)  # type: ignore[arg-type]
    assert option.headers() == {HEADER_C_ALGORITHM: "AES256", HEADER_C_KEY: B64_KEY, HEADER_C_KEY_MD5: KEY_MD5}


def test_sse_c_verifies_given_md5() -> None:
    assert SseC(RAW_KEY, KEY_MD5).key_md5 == KEY_MD5
    with pytest.raises(CosValidationError) as info:
        SseC(RAW_KEY, "AAAAAAAAAAAAAAAAAAAAAA==")
    assert info.value.field == HEADER_C_KEY_MD5
    assert B64_KEY not in str(info.value)


@pytest.mark.parametrize("key", [b"short", "c2hvcnQ=", "not base64 at all", RAW_KEY + b"x", 12345, "€" * 32])
def test_sse_c_bad_keys_are_redacted(key: object) -> None:
    with pytest.raises(CosValidationError) as info:
        SseC(key)  # type: ignore[arg-type]
    assert info.value.field == HEADER_C_KEY
    assert info.value.value == REDACTED
    assert "32" in info.value.allowed
    text = str(info.value)
    assert str(key) not in text and REDACTED in text


def test_sse_c_algorithm_only_aes256() -> None:
    with pytest.raises(CosValidationError) as info:
        SseC(RAW_KEY, algorithm="AES128")
    assert info.value.value == "AES128"


def test_sse_c_never_shows_key(caplog: pytest.LogCaptureFixture) -> None:
    option = SseC(RAW_KEY)
    for text in (repr(option), str(option), f"{option}", repr([option])):
        assert B64_KEY not in text and RAW_KEY.decode() not in text
        assert REDACTED in text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").debug("option %s %r", option, option)
    assert B64_KEY not in caplog.text


def test_from_headers_sse_c_trio_case_insensitive() -> None:
    option = from_headers(
        {
            "X-Cos-Server-Side-Encryption-Customer-Algorithm": "AES256",
            "x-cos-server-side-encryption-customer-key": B64_KEY,
            "x-cos-server-side-encryption-customer-key-md5": KEY_MD5,
        }
    )
    assert isinstance(option, SseC) and option.key_md5 == KEY_MD5


@pytest.mark.parametrize(
    "headers",
    [
        {HEADER_C_ALGORITHM: "AES256"},  # the official SDK's KeyError case: algorithm alone
        {HEADER_C_KEY: B64_KEY},
        {HEADER_C_KEY: B64_KEY, HEADER_C_KEY_MD5: KEY_MD5},
        {HEADER_C_ALGORITHM: "AES256", HEADER_C_KEY: B64_KEY},
        {HEADER_C_ALGORITHM: "AES256", HEADER_C_KEY: B64_KEY, HEADER_C_KEY_MD5: "AAAAAAAAAAAAAAAAAAAAAA=="},
        {HEADER_C_ALGORITHM: "AES256", HEADER_C_KEY: B64_KEY, "x-cos-server-side-encryption": "AES256"},
    ],
)
def test_from_headers_incomplete_or_inconsistent_sse_c(headers: Dict[str, Any]) -> None:
    with pytest.raises(CosValidationError) as info:
        from_headers(headers)
    assert B64_KEY not in str(info.value)


def test_from_headers_other_modes() -> None:
    assert from_headers({}) is None
    assert from_headers({"x-cos-server-side-encryption": "AES256"}) == SseCos()
    assert from_headers({"x-cos-server-side-encryption": "cos/kms", "x-cos-server-side-encryption-cos-kms-key-id": "k"}) == SseKms("k")
    for bad in (
        {"x-cos-server-side-encryption": "aes256"},
        {"x-cos-server-side-encryption-cos-kms-key-id": "k"},
        {"x-cos-server-side-encryption": "AES256", "x-cos-server-side-encryption-cos-kms-key-id": "k"},
        {"x-cos-acl": "private"},
        {"x-cos-server-side-encryption": 1},
    ):
        with pytest.raises(CosValidationError):
            from_headers(bad)


def test_coerce() -> None:
    assert coerce(None) is None
    assert coerce(SseCos()) == SseCos()
    assert coerce({"x-cos-server-side-encryption": "AES256"}) == SseCos()
    with pytest.raises(CosValidationError) as info:
        coerce("AES256")  # type: ignore[arg-type]
    assert info.value.field == "encryption"
