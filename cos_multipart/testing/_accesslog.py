"""The local server's access log: one :class:`AccessLogEntry` per request, secrets redacted.

Lines go to ``<data dir>/access.log`` (and a stream, for ``serve``); the most recent entries stay in memory
for tests. The log also counts requests being served, so a test that has its answer can wait for the
entry (an answer reaches the client before its server thread logs it).
"""

from __future__ import annotations

import re
import collections
import datetime
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Dict, List, Mapping, Optional, TextIO
from urllib.parse import unquote_plus

from .._protocol.errors import REDACTED
from . import protocol
from .auth import SECURITY_TOKEN_HEADER

#: Query parameters and headers whose values never reach a log.
#: OSS mode: the V4 signature and the STS token, in the query or the headers [oss-api 1.8, 1.9].
_OSS_SIGNATURE_PARAM = "x-oss-signature"
_OSS_TOKEN = "x-oss-security-token"  # noqa: S105 - a header name, not a secret
#: The copy source's SSE-C key too (COS copy APIs).
_SOURCE_SSE_C_KEY = "x-cos-copy-source-server-side-encryption-customer-key"
_SECRET_PARAMS = frozenset(
    {"q-signature", "sign", SECURITY_TOKEN_HEADER, protocol.SSE_C_KEY_HEADER, _SOURCE_SSE_C_KEY, _OSS_SIGNATURE_PARAM, _OSS_TOKEN}
)
_SECRET_HEADERS = frozenset({SECURITY_TOKEN_HEADER, protocol.SSE_C_KEY_HEADER, _SOURCE_SSE_C_KEY, _OSS_TOKEN})
_OSS_V4_SIGNATURE = re.compile(r"(Signature=)[0-9A-Za-z]*")
#: Entries kept in memory.
MEMORY_ENTRIES = 10_000


@dataclass(frozen=True)
class AccessLogEntry:
    """One served request, as written to the access log (secrets redacted).

    Attributes:
        time: Unix time the request arrived.
        client: Client address.
        method: HTTP method.
        path: Request path as sent (percent-encoded).
        query: Query string as sent, with signature, token and SSE-C key values redacted.
        status: Status answered (0 when the connection was reset instead).
        bytes_in: Body bytes received.
        bytes_out: Body bytes sent.
        millis: Time to serve, in milliseconds.
        api: The COS API (``"UploadPart"``...), ``""`` when the request was not routed.
        request_id: ``x-cos-request-id`` answered.
        code: Error code answered, ``""`` on success.
        headers: Request headers (lowercase names), secrets redacted.
        answer_millis: For an answer without an object body: milliseconds from arrival until its head began to
            be written (the client cannot have it before then; ``millis`` ends after the last write, when the
            client may already have sent its next request). ``None`` for object bodies and Complete.
    """

    time: float
    client: str
    method: str
    path: str
    query: str
    status: int
    bytes_in: int
    bytes_out: int
    millis: float
    api: str
    request_id: str
    code: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    answer_millis: Optional[float] = None

    def line(self) -> str:
        """The access log line: time, client, method, path, query, status, bytes in/out, ms, API, id, code."""
        moment = datetime.datetime.fromtimestamp(self.time, datetime.timezone.utc)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return (
            f"{stamp} {self.client} {self.method} {self.path} {self.query or '-'} {self.status or 'RESET'} "
            f"{self.bytes_in} {self.bytes_out} {self.millis:.1f}ms {self.api or '-'} {self.request_id} "
            f"{self.code or '-'}"
        )


class AccessLog:
    """Where entries go: a file, optionally a stream, and memory; thread-safe.

    Args:
        path: The log file (appended to, line-buffered).
        stream: Also write lines here (e.g. ``sys.stderr``).
    """

    def __init__(self, path: Path, stream: Optional[TextIO] = None) -> None:
        self.path = path
        self._stream = stream
        self._file: Optional[TextIO] = open(path, "a", encoding="utf-8", buffering=1)
        self._entries: Deque[AccessLogEntry] = collections.deque(maxlen=MEMORY_ENTRIES)
        self._settled = threading.Condition(threading.Lock())
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests being served now (begun, not yet recorded)."""
        with self._settled:
            return self._in_flight

    def begin(self) -> None:
        """Count a request being served (:meth:`record` ends it)."""
        with self._settled:
            self._in_flight += 1

    def record(self, entry: AccessLogEntry) -> None:
        """Append ``entry`` (file, stream, memory) and end its request."""
        line = entry.line() + "\n"
        with self._settled:
            self._in_flight -= 1
            if not self._in_flight:  # :meth:`entries` waits for no request in flight, for nothing else
                self._settled.notify_all()
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(line)
            if self._stream is not None:
                self._stream.write(line)
                self._stream.flush()

    def entries(self, settle: float) -> List[AccessLogEntry]:
        """The entries in memory, oldest first, after waiting up to ``settle`` s for requests being served."""
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=settle)
            return list(self._entries)

    def close(self) -> None:
        """Close the file (entries stay readable)."""
        with self._settled:
            if self._file is not None:
                self._file.close()
                self._file = None


def redact_query(query: str) -> str:
    """``query`` with the values of ``q-signature``, ``sign``, the STS token and the SSE-C key redacted."""
    if not query:
        return ""
    pieces = []
    for piece in query.split("&"):
        name, sep, _ = piece.partition("=")
        if sep and unquote_plus(name).lower() in _SECRET_PARAMS:
            piece = f"{name}={REDACTED}"
        pieces.append(piece)
    return "&".join(pieces)


def redact_headers(headers: Mapping[str, str]) -> Dict[str, str]:
    """``headers`` with the STS token, the SSE-C key and the signature redacted."""
    redacted = {}
    for name, value in headers.items():
        if name in _SECRET_HEADERS:
            value = REDACTED
        elif name == "authorization" and value.startswith("OSS"):
            value = _OSS_V4_SIGNATURE.sub(rf"\g<1>{REDACTED}", value)
        elif name == "authorization":
            value = "&".join(
                f"q-signature={REDACTED}" if item.startswith("q-signature=") else item for item in value.split("&")
            )
        redacted[name] = value
    return redacted
