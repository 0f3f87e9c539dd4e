"""Helpers of the download tests (imported as ``downloads``): one entry point for both drivers, objects, leftovers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, List

from cos_multipart import download_file
from cos_multipart._core._download import DownloadResult
from cos_multipart._io.client import CosClient
from cos_multipart.aio import async_download_file

from uploads import async_client_like

PART = 64 * 1024
KEY_32 = b"0123456789ABCDEF0123456789ABCDEF"
DRIVERS = ("threads", "asyncio")


def fetch(driver: str, client: CosClient, key: str, path: Path, **options: Any) -> DownloadResult:
    options.setdefault("part_size", PART)
    options.setdefault("concurrency", 3)
    if driver == "threads":
        return download_file(client, key, path, **options)

    async def run() -> DownloadResult:
        async with async_client_like(client) as aclient:
            done: DownloadResult = await async_download_file(aclient, key, path, **options)
            return done

    return asyncio.run(run())


def put(client: CosClient, key: str, size: int) -> bytes:
    data = os.urandom(size)
    client.put_object(key, data)
    return data


def leftovers(folder: Path) -> List[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))
