"""Fixtures of the issue-8 regression tests: a client with a fast retry policy, corrupting proxies."""

from __future__ import annotations

from typing import Any, Iterator, List

import pytest

from cos_multipart._io.client import CosClient
from cos_multipart.testing import LocalCOS

from hostile import CorruptingProxy

from holes.hole_helpers import FAST_RETRY


@pytest.fixture()
def client(local_cos: LocalCOS) -> Iterator[CosClient]:
    with local_cos.client(retry=FAST_RETRY, timeout=(5, 10)) as made:
        yield made


@pytest.fixture()
def proxy_factory(local_cos: LocalCOS) -> Iterator[Any]:
    made: List[CorruptingProxy] = []

    def make(**options: Any) -> CorruptingProxy:
        proxy = CorruptingProxy(local_cos.port, **options)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()
