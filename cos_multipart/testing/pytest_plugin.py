"""pytest fixtures for the local COS server.

Enable them in a ``conftest.py`` with ``pytest_plugins = ["cos_multipart.testing.pytest_plugin"]``:

* ``local_cos``: a running :class:`LocalCOS` with a fresh data directory, stopped after the test.
* ``local_cos_factory``: ``local_cos_factory(**options)`` starts a server with any :class:`LocalCOS`
  options (faults, credentials, a shared ``data_dir`` to test restarts...); all are stopped after the test.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from .server import LocalCOS

LocalCOSFactory = Callable[..., LocalCOS]


@pytest.fixture
def local_cos_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCOSFactory]:
    """Start local COS servers on free ports; each gets its own data directory unless one is given."""
    started: List[LocalCOS] = []

    def start(**options: Any) -> LocalCOS:
        options.setdefault("data_dir", tmp_path_factory.mktemp("local-cos"))
        server = LocalCOS(**options).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def local_cos(local_cos_factory: LocalCOSFactory) -> LocalCOS:
    """A running local COS server with the test credentials and a fresh data directory."""
    return local_cos_factory()
