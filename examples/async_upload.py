"""Upload from asyncio code: a file, and a request body streamed straight to COS, against a local server.

Run it (needs the ``async`` extra, ``pip install -e '.[async]'``)::

    python examples/async_upload.py

``handle_upload`` has the shape of a FastAPI / aiohttp / Starlette upload handler: it takes the request body
as an async iterator of chunks and never holds more than ``concurrency`` parts of it in memory. No web
framework is needed to run the example: ``fake_request_body`` stands in for one.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import AsyncIterator, Dict

from cos_multipart.aio import AsyncCosClient, AsyncUploader, async_upload_file
from cos_multipart import kept_upload_of, ProgressEvent, UploadConfig
from cos_multipart.testing import LocalCOS

MB = 1024 * 1024


async def handle_upload(uploader: AsyncUploader, key: str, body: AsyncIterator[bytes]) -> Dict[str, object]:
    """What a web handler would do: stream the request body into an object, answer with what was verified.

    In FastAPI: ``body = request.stream()``; in aiohttp: ``body = request.content.iter_chunked(64 * 1024)``.
    """

    async def report(event: ProgressEvent) -> None:  # an awaitable callback: e.g. push to a websocket
        await asyncio.sleep(0)

    result = await uploader.upload(body, key, progress=report)
    return {"key": result.key, "size": result.size, "crc64": str(result.crc64), "parts": len(result.parts)}


async def fake_request_body(size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A request body arriving in 64 KiB chunks."""
    sent = 0
    while sent < size:
        piece = os.urandom(min(chunk, size - sent))
        sent += len(piece)
        await asyncio.sleep(0)  # the network
        yield piece


async def main(cos: LocalCOS, directory: Path) -> None:
    async with AsyncCosClient(cos.bucket, cos.region, cos.credentials, endpoint=cos.endpoint) as client:
        # 1. A file: parts read and hashed in threads, sent by tasks; resumable (checkpoint in `directory`).
        path = directory / "video.bin"
        path.write_bytes(os.urandom(20 * MB))
        result = await async_upload_file(
            client, path, "videos/video.bin", part_size=4 * MB, concurrency=8, checkpoint_dir=directory / "cp"
        )
        print(f"file:   {result.size} bytes in {len(result.parts)} parts, CRC-64 {result.crc64} verified")

        # 2. A request body streamed to COS (parts of growing size for long streams; none of it on disk).
        uploader = AsyncUploader(client, UploadConfig(part_size=MB, concurrency=4))
        answer = await handle_upload(uploader, "uploads/body.bin", fake_request_body(6 * MB + 123))
        print(f"stream: {answer}")

        # 3. Cancelling the task stops the upload at once and keeps it for a resume.
        task = asyncio.ensure_future(
            async_upload_file(client, path, "videos/again.bin", part_size=MB, concurrency=2, checkpoint_dir=directory / "cp")
        )
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError as error:
            kept = kept_upload_of(error)
            print(f"cancel: {kept.describe() if kept else 'nothing was kept (it had not started a multipart upload)'}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch, LocalCOS() as server:
        asyncio.run(main(server, Path(scratch)))
