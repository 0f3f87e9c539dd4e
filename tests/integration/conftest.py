"""Fixtures shared by the integration tests: a client of the local COS server and a checkpoint store."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from cos_multipart.checkpoint import CheckpointStore
from cos_multipart.client import CosClient
from cos_multipart.testing import LocalCOS

from uploads import DRIVERS, Driver


@pytest.fixture()
def client(local_cos: LocalCOS) -> Iterator[CosClient]:
    with local_cos.client() as made:
        yield made


@pytest.fixture()
def store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path / "checkpoints")


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> Driver:
    """Each scenario that uses it runs with the threaded driver and with the asyncio driver."""
    return Driver(request.param)
