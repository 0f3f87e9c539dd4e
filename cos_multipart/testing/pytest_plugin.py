"""pytest fixtures for the local COS server.

Enable them in a ``conftest.py`` with ``pytest_plugins = ["cos_multipart.testing.pytest_plugin"]``:

* ``local_cos``: a running :class:`LocalCOS` with a fresh data directory, stopped after the test.
* ``local_cos_factory``: ``local_cos_factory(**options)`` starts a server with any :class:`LocalCOS`
  options (faults, credentials, a shared ``data_dir`` to test restarts, ``dialect="oss"``...); all are
  stopped after the test.
* ``local_service``: ``local_service("oss", **options)`` starts a server playing that dialect and returns it
  with a matching :class:`~cos_multipart._io.client.CosClient` (closed after the test): what a suite
  parametrised by dialect needs.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from .server import LocalCOS

LocalCOSFactory = Callable[..., LocalCOS]
#: ``(dialect, client_options=None, **server_options) -> (server, client)``.
LocalServiceFactory = Callable[..., Tuple[LocalCOS, Any]]


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


@pytest.fixture
def local_service(local_cos_factory: LocalCOSFactory) -> Iterator[LocalServiceFactory]:
    """Start a server playing a dialect (``"cos"`` or ``"oss"``) and make a client that speaks it."""
    clients: List[Any] = []

    def start(dialect: str = "cos", client_options: Optional[Any] = None, **server_options: Any) -> Tuple[LocalCOS, Any]:
        server = local_cos_factory(dialect=dialect, **server_options)
        client = server.client(**(client_options or {}))
        clients.append(client)
        return server, client

    yield start
    for client in reversed(clients):
        client.close()
