"""The header block parser gives what ``http.client.parse_headers`` (the email parser) gives, plain or odd."""

from __future__ import annotations

import io
import http.client
from email.message import Message

import pytest

from cos_multipart.testing._headers import MAX_HEADERS, MAX_LINE, parse_header_block, read_header_block

BLOCKS = [
    b"\r\n",
    b"Host: b.cos.ap-x.myqcloud.com\r\nContent-Length: 4096\r\n\r\n",
    b"Host:b\r\nX-Empty:\r\nX-Blank:   \r\nX-Tab:\t v \t\r\nDup: 1\r\nDup: 2\r\n\r\n",
    b"Host: b\r\nX-Odd-Chars: a\x85b\r\n\r\n",  # \x85 is a line break to str.splitlines
    b"Host: b\r\nX-Bare-Cr: a\rb\r\n\r\n",
    b"Host: b\r\nX-Folded: a\r\n  b\r\n\r\n",  # obs-fold
    b"Host: b\r\nno colon here\r\nX-After: c\r\n\r\n",  # ends the headers for the email parser
    b"Host: b\r\n: no name\r\n\r\n",
    b" Leading: space\r\nHost: b\r\n\r\n",
    b"From nobody\r\nHost: b\r\n\r\n",
    b"Host: b\nX-Lf: only\n\n",
    b"Host: b\r\nX-Latin: caf\xe9\r\n\r\n",
    b"Host: b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n",
    b"Host: b\r\ncontent-type: Message/RFC822\r\n\r\n",
    b"Host: b\r\nContent-Type: application/octet-stream\r\n\r\n",
    b"Host: b\r\n",  # the connection closed before the empty line
    b"Host: b\r\nX-Vt: a\x0bb\x0cc\x1cd\r\n\r\n",
    b"Host: b\r\nX:y:z\r\n\r\n",
]


def _payload(message: Message) -> object:
    payload = message.get_payload()
    if isinstance(payload, list):  # a message/* or multipart type: the parts
        return [(part.items(), _payload(part)) for part in payload if isinstance(part, Message)]
    return payload


def _stdlib(block: bytes) -> http.client.HTTPMessage:
    return http.client.parse_headers(io.BytesIO(block))


@pytest.mark.parametrize("block", BLOCKS)
def test_parse_header_block_matches_http_client(block: bytes) -> None:
    expected = _stdlib(block)
    text = read_header_block(io.BytesIO(block))
    got = parse_header_block(text)
    assert type(got) is type(expected)
    assert got.items() == expected.items()
    assert _payload(got) == _payload(expected)
    assert [type(defect) for defect in got.defects] == [type(defect) for defect in expected.defects]
    assert got.get_unixfrom() == expected.get_unixfrom()
    assert got.get_content_type() == expected.get_content_type()


def test_read_header_block_keeps_http_clients_limits() -> None:
    with pytest.raises(http.client.LineTooLong):
        read_header_block(io.BytesIO(b"X: " + b"a" * MAX_LINE + b"\r\n\r\n"))
    with pytest.raises(http.client.HTTPException, match="more than"):
        read_header_block(io.BytesIO(b"X: a\r\n" * (MAX_HEADERS + 1) + b"\r\n"))
    with pytest.raises(http.client.LineTooLong):
        http.client.parse_headers(io.BytesIO(b"X: " + b"a" * MAX_LINE + b"\r\n\r\n"))


def test_read_header_block_leaves_the_body_unread() -> None:
    stream = io.BytesIO(b"Host: b\r\n\r\nBODY")
    assert read_header_block(stream) == "Host: b\r\n\r\n"
    assert stream.read() == b"BODY"
