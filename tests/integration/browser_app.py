"""The presigned example application run in a thread of the test (its own event loop), and a headless Chromium
from the system packages driven by Selenium (told where both binaries are: nothing is downloaded)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import threading
from typing import Any, Iterator, Optional

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Flags that work in the project's containers (no sandbox as root, no GPU, no network of the browser's own).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AppThread:
    """``examples.presigned_app`` serving on ``port`` with an async client of ``server`` (part URLs on a host
    naming the bucket, which a browser reaches without a Host header of its own)."""

    def __init__(self, server: Any, *, part_size: Optional[int]) -> None:
        self.server = server
        self.part_size = part_size
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Event] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="presigned-app", daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "AppThread":
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - given to the test
            self._error = error
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        from cos_multipart.aio import AsyncCosClient, AsyncPresignedUploads
        from examples.presigned_app.app import make_app

        server = self.server
        self._stop = asyncio.Event()
        async with AsyncCosClient(server.bucket, server.region, server.credentials, endpoint=server.endpoint, dialect=server.dialect) as client:
            uploads = AsyncPresignedUploads(client, part_endpoint=f"http://{server.bucket}.localhost:{server.port}")
            runner = web.AppRunner(make_app(uploads, part_size=self.part_size))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()


def chromium() -> Iterator[Any]:
    """A headless Chromium (a fresh profile, removed after), or the test is skipped when it is not installed."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="presigned-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
