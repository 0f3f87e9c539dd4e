"""Small factories for the uploader's integration tests (imported as ``uploads``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Tuple

from cos_multipart.checkpoint import CheckpointStore
from cos_multipart.client import CosClient
from cos_multipart.limits import MB
from cos_multipart.options import ObjectOptions
from cos_multipart.uploader import UploadConfig, Uploader


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
