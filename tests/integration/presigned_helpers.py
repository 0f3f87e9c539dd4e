"""Helpers of the presigned-upload tests: a client without credentials that PUTs parts to their URLs with plain
``requests`` (what a browser's ``fetch`` does), reporting each part's CRC-64 and ETag as a page's script would."""

from __future__ import annotations

import random
from typing import Any, Dict, Iterable, List, Mapping, Optional

import requests

from cos_multipart import crc64
from cos_multipart._core._presigned_start import PartUrl


def data_of(size: int, seed: int = 7) -> bytes:
    """``size`` bytes that differ from part to part (so a part sent in the wrong place is caught)."""
    return random.Random(seed).randbytes(size)


def put_part(url: PartUrl, body: bytes, headers: Optional[Mapping[str, str]] = None) -> requests.Response:
    """PUT ``body`` to ``url`` with the headers it needs (and ``headers``), no credentials."""
    sent = {**dict(url.headers), **dict(headers or {})}
    return requests.put(url.url, data=body, headers=sent, timeout=30)


def send_parts(urls: Iterable[PartUrl], data: bytes, *, skip: Iterable[int] = (), bodies: Optional[Mapping[int, bytes]] = None) -> List[Dict[str, Any]]:
    """PUT every part's bytes (``bodies`` replaces some), each answer checked 200; the reports a client makes:
    ``{"part", "crc64" (decimal text), "etag"}`` of what it sent."""
    reports = []
    for url in urls:
        if url.number in set(skip):
            continue
        body = (bodies or {}).get(url.number, data[url.offset : url.offset + url.size])
        answer = put_part(url, body)
        assert answer.status_code == 200, answer.text
        reports.append({"part": url.number, "crc64": str(crc64(body)), "etag": answer.headers["ETag"]})
    return reports
