"""A request's header block, read as ``http.client.parse_headers`` reads it but without the email parser when
the block is plain (one ``name: value`` per CRLF-ended line), which every client sends.

``http.server`` parses headers with :mod:`email`'s feed parser: a fifth of the server's CPU per small PUT.
For a plain block its outcome is one ``(name, value)`` pair per line, in order, the value with leading blanks
removed; that is what :func:`parse_header_block` builds. Anything else (folded lines, a line that is no header,
bare CR or LF, the other characters ``str.splitlines`` breaks at, a multipart or message type) goes to the email parser, so the server answers
every request exactly as before. ``tests/testing/test_headers.py`` compares both on odd blocks.
"""

from __future__ import annotations

import email.parser
import http.client
import io
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import IO, List, Union

#: What ``http.client`` allows (its private limits, read when present).
MAX_LINE = int(getattr(http.client, "_MAXLINE", 65536))
MAX_HEADERS = int(getattr(http.client, "_MAXHEADERS", 100))

# A header name the email parser accepts (``[\041-\071\073-\176]``, non-empty), a colon, then a value holding
# none of the characters where ``str.splitlines`` (which the email parser splits lines with) would break.
# A multipart or message/* Content-Type makes the email parser look for a body structure (and note defects): any
# mention of either word takes the email parser's path.
_NESTED = re.compile("multipart|message", re.IGNORECASE)
_PLAIN_LINE = re.compile("[!-9;-~]+:[^\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*")


def read_header_block(rfile: Union[IO[bytes], io.BufferedIOBase]) -> str:
    """The header lines up to and including the empty line, as ``http.client`` reads them.

    Raises:
        http.client.LineTooLong: A line is longer than ``MAX_LINE``.
        http.client.HTTPException: More than ``MAX_HEADERS`` lines.
    """
    lines: List[bytes] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return b"".join(lines).decode("iso-8859-1")


def parse_header_block(text: str) -> http.client.HTTPMessage:
    """The message ``http.client.parse_headers`` makes of ``text`` (see the module doc)."""
    if text == "\r\n":
        lines: List[str] = []
    elif text.endswith("\r\n\r\n") and not _NESTED.search(text):
        lines = text[:-4].split("\r\n")
        if not all(_PLAIN_LINE.fullmatch(line) for line in lines):
            return _parsed(text)
    else:
        return _parsed(text)
    message = http.client.HTTPMessage()
    for line in lines:
        name, value = line.split(":", 1)
        message.set_raw(name, value.lstrip(" \t"))
    message.set_payload("")
    return message


def _parsed(text: str) -> http.client.HTTPMessage:
    message: http.client.HTTPMessage = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
    return message


class PlainHeaderParsing(BaseHTTPRequestHandler):
    """``BaseHTTPRequestHandler.parse_request`` with the header block read by this module.

    The request line is still parsed by ``http.server`` (handed an empty header block), so its errors come
    first as before; then the headers are read and the ``Connection`` and ``Expect`` headers handled as
    ``http.server`` handles them.
    """

    def parse_request(self) -> bool:
        rfile = self.rfile
        self.rfile = io.BytesIO(b"\r\n")
        try:
            if not super().parse_request():
                return False
        finally:
            self.rfile = rfile
        try:
            self.headers = parse_header_block(read_header_block(rfile))
        except http.client.LineTooLong as error:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(error))
            return False
        except http.client.HTTPException as error:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(error))
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "").lower()
        if expect == "100-continue" and self.protocol_version >= "HTTP/1.1" and self.request_version >= "HTTP/1.1":
            return self.handle_expect_100()
        return True
