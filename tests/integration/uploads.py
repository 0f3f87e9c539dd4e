"""Small factories for the uploader's integration tests (imported as ``uploads``), and :class:`Driver`: the
threaded and the asyncio driver behind one interface, so one suite runs every scenario on both."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any, Optional, Tuple

from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._io.transport import Transport
from cos_multipart._drivers.uploader import UploadConfig, Uploader, UploadResult, upload_file


def make_file(directory: Path, size: int, name: str = "data.bin") -> Tuple[Path, bytes]:
    """A file of ``size`` random bytes; returns its path and its bytes."""
    data = os.urandom(size)
    path = directory / name
    path.write_bytes(data)
    return path, data


def config_of(**options: Any) -> UploadConfig:
    """An UploadConfig from flat keyword arguments: object options go into ``ObjectOptions``."""
    names = {item.name for item in dataclasses.fields(ObjectOptions)}
    object_options = {name: options.pop(name) for name in list(options) if name in names}
    return UploadConfig(**options, options=ObjectOptions(**object_options))


def uploader(client: CosClient, store: CheckpointStore, **options: Any) -> Uploader:
    """An uploader with 1 MB parts, multipart always and 2 workers unless ``options`` say otherwise."""
    options.setdefault("part_size", MB)
    options.setdefault("multipart_threshold", 0)
    options.setdefault("concurrency", 2)
    return Uploader(client, config_of(**options), store=store)


def stored(client: CosClient, key: str, **options: Any) -> bytes:
    """The bytes of the stored object."""
    response = client.get_object(key, **options)
    try:
        return response.content
    finally:
        response.close()


def target(server: Any, key: str) -> str:
    """The command-line target of ``key`` on a local server, in its service's scheme (``cos://`` / ``oss://``)."""
    return f"{server.dialect}://{server.bucket}/{key}"


def supported(client: CosClient, options: ObjectOptions) -> bool:
    """Whether the client's service has every header ``options`` need (OSS has no SSE-C, grants, KMS context)."""
    try:
        client.dialect.to_wire(options.headers())
    except CosValidationError:
        return False
    return True


# --- the two drivers behind one interface ------------------------------------------------------------


def async_client_like(client: CosClient) -> Any:
    """An :class:`AsyncCosClient` with ``client``'s bucket, endpoint, credentials, retry policy and timeout."""
    from cos_multipart.aio import AsyncCosClient

    transport = client.transport
    assert isinstance(transport, Transport)
    return AsyncCosClient(
        client.bucket, client.region, transport.credentials(), endpoint=client.endpoint.base_url,
        retry=transport.retry, timeout=transport.timeout, pool_size=transport.pool_size, dialect=client.dialect,
    )  # fmt: skip


class AsyncioUploader:
    """The asyncio uploader behind the threaded one's interface: each call runs on a new event loop
    (``asyncio.run``, real sockets) with an async client like the given one."""

    def __init__(self, client: CosClient, config: Optional[UploadConfig] = None, *, store: Optional[CheckpointStore] = None) -> None:
        self.client = client
        self.config = config if config is not None else UploadConfig()
        self.store = store

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from cos_multipart.aio import AsyncUploader

        async def run() -> Any:
            async with async_client_like(self.client) as client:
                return await getattr(AsyncUploader(client, self.config, store=self.store), method)(*args, **kwargs)

        return asyncio.run(run())

    def upload(self, source: Any, key: str, *, progress: Any = None) -> UploadResult:
        return self._call("upload", source, key, progress=progress)  # type: ignore[no-any-return]

    def resume(self, path: Any, key: str, *, progress: Any = None) -> UploadResult:
        return self._call("resume", path, key, progress=progress)  # type: ignore[no-any-return]


class Driver:
    """One of the two drivers (``threads``, ``asyncio``) with the threaded driver's entry points."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def Uploader(self, client: CosClient, config: Optional[UploadConfig] = None, *, store: Optional[CheckpointStore] = None) -> Any:  # noqa: N802 - stands for the class
        if self.name == "threads":
            return Uploader(client, config, store=store)
        return AsyncioUploader(client, config, store=store)

    def uploader(self, client: CosClient, store: CheckpointStore, **options: Any) -> Any:
        """:func:`uploader` for this driver."""
        options.setdefault("part_size", MB)
        options.setdefault("multipart_threshold", 0)
        options.setdefault("concurrency", 2)
        return self.Uploader(client, config_of(**options), store=store)

    def upload_file(self, client: CosClient, source: Any, key: str, *, progress: Any = None, store: Optional[CheckpointStore] = None, **options: Any) -> UploadResult:
        """:func:`cos_multipart.upload_file` for this driver (keyword options as ``upload_file`` takes them)."""
        if self.name == "threads":
            return upload_file(client, source, key, progress=progress, store=store, **options)
        return self.Uploader(client, UploadConfig(**options), store=store).upload(source, key, progress=progress)  # type: ignore[no-any-return]


DRIVERS = ("threads", "asyncio")
