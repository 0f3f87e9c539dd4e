"""Helpers of the presigned-upload tests: a client without credentials that PUTs parts to their URLs with plain
``requests`` (what a browser's ``fetch`` does), reporting each part's CRC-64 and ETag as a page's script would."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

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


class AsyncioPresigned:
    """:class:`~cos_multipart.aio.AsyncPresignedUploads` behind the threaded class's interface: each call runs
    on a new event loop (``asyncio.run``, real sockets) with an async client like ``client``."""

    def __init__(self, client: Any, clock: Callable[[], float], part_endpoint: Optional[str] = None, credentials: Any = None) -> None:
        self.client = client
        self.clock = clock
        self.part_endpoint = part_endpoint
        self.credentials = credentials  # default: the sync client's, as they are now

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from cos_multipart.aio import AsyncCosClient, AsyncPresignedUploads

        transport = self.client.transport

        async def run() -> Any:
            async with AsyncCosClient(
                self.client.bucket, self.client.region, self.credentials or transport.credentials(),
                endpoint=self.client.endpoint.base_url,
                dialect=self.client.dialect, clock=self.clock,
            ) as client:  # fmt: skip
                uploads = AsyncPresignedUploads(client, part_endpoint=self.part_endpoint, clock=self.clock)
                return await getattr(uploads, method)(*args, **kwargs)

        return asyncio.run(run())

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method not in ("start", "urls", "complete", "abort", "abort_abandoned", "abort_older_than"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._call(method, *args, **kwargs)
