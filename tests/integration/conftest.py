"""Fixtures shared by the integration tests: a client of the local COS server and a checkpoint store; for
the cluster tests, a Dask LocalCluster per module and a server that knows the cluster's credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from cos_multipart._cli.target import Target
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.dialect import DIALECTS
from cos_multipart.testing import Fault, LocalCOS

from uploads import DRIVERS, Driver
import cluster_helpers


#: The services the local server speaks; tests marked ``both_dialects`` run against each.
DIALECT_NAMES = ("cos", "oss")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialect" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_dialects"):
        metafunc.parametrize("dialect", DIALECT_NAMES, indirect=True)


@pytest.fixture()
def dialect(request: pytest.FixtureRequest) -> str:
    """The service the ``local_cos`` server speaks: COS, or each of COS and OSS for tests marked
    ``both_dialects`` (one suite, both services)."""
    return str(getattr(request, "param", "cos"))


@pytest.fixture()
def local_cos(local_cos_factory: Callable[..., LocalCOS], dialect: str) -> LocalCOS:
    """A running local server speaking ``dialect``, with the test credentials and a fresh data directory."""
    return local_cos_factory(dialect=dialect)


@pytest.fixture()
def cli_env(local_cos: LocalCOS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalCOS:
    """Environment for in-process CLI runs against the server (checkpoints under ``tmp_path/cache``), in
    the server's service's own variables (``OSS_*`` for an OSS server: its targets are ``oss://``)."""
    for dialect in DIALECTS.values():  # the variables each service's targets read (_cli_target, Dialect)
        place = Target(dialect, "", "")
        (ids, keys, tokens), spoken = dialect.credential_env, dialect.name == local_cos.dialect
        for name in (*ids, *keys, *tokens, place.endpoint_env, place.region_env):
            monkeypatch.delenv(name, raising=False)
        if spoken:
            monkeypatch.setenv(ids[0], local_cos.credentials.secret_id)
            monkeypatch.setenv(keys[0], local_cos.credentials.secret_key)
            monkeypatch.setenv(place.endpoint_env, local_cos.endpoint)
            monkeypatch.setenv(place.region_env, local_cos.region)  # OSS signatures name it, also with an endpoint
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return local_cos


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
@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real LocalCluster of 2 worker processes (2 threads each) with the test credentials in their
    environment, and its client; closed after the module. Its HTTP server takes a free port (``":0"``): test
    workers run clusters side by side, and ``None`` still means the default 8787."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0", env=cluster_helpers.WORKER_ENV,
    )  # fmt: skip
    client = distributed.Client(cluster)
    try:
        client.run(cluster_helpers.capture_logs)
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture()
def cluster(dask_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's cluster with both workers up, and the caller's environment holding the credentials too."""
    for name, value in cluster_helpers.WORKER_ENV.items():
        monkeypatch.setenv(name, value)
    dask_client.wait_for_workers(2, timeout=30)  # a worker killed by an earlier test is back
    return dask_client


@pytest.fixture()
def cos(local_cos_factory: Callable[..., LocalCOS], dialect: str) -> LocalCOS:
    """A local server speaking ``dialect`` that accepts the cluster's environment and plugin credentials."""
    return local_cos_factory(
        credentials=[cluster_helpers.ENV_CREDENTIALS, cluster_helpers.PLUGIN_CREDENTIALS], dialect=dialect
    )


#: Longer than any test: the parts' answers never come while the command runs (the server's stop ends it).
INTERRUPT_HELD = 600.0


@pytest.fixture()
def child_env(cli_env: LocalCOS, tmp_path: Path) -> Iterator[LocalCOS]:
    """For the Ctrl-C tests (``test_cli_interrupt*.py``): the server, the CLI's environment (inherited by the
    child), Upload Part answers held back."""
    cli_env.faults.add(Fault.delay(INTERRUPT_HELD, "UploadPart", count=None))
    yield cli_env
    cli_env.faults.clear()
