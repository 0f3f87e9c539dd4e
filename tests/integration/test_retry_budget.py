"""Retries wait out a server that restarts or sheds load (issue 19 item 7): the time budget at work against
the local server over real sockets, for the threaded and the asyncio transports, in both dialects.

The budget is counted on an injected clock that moves only when the client sleeps, so a minute of refusals or
503 SlowDown costs no real minute and no assertion depends on how fast the machine is: the fault is lifted
when the client's own clock passes a mark, and the tests count requests in the server's access log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from pathlib import Path
from typing import Any, Callable, List, Tuple

import aiohttp
import pytest

from cos_multipart import CosServiceError, CosTransportError, FailureKind
from cos_multipart.aio import AsyncCosClient, AsyncUploader
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._protocol.limits import MB
from cos_multipart._protocol.retry import RetryPolicy
from cos_multipart.testing import Fault, LocalCOS
from cos_multipart.testing.pytest_plugin import LocalCOSFactory
from cos_multipart._drivers.uploader import UploadConfig, upload_file

from uploads import make_file, stored

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

LOGGER = "cos_multipart._io.transport"
#: The default retry_time (cos_multipart._protocol.retry.DEFAULT_RETRY_TIME), spelled out.
DEFAULT_RETRY_TIME = 60.0
#: What an outage lasts in these tests: longer than the 30 s the issue asks to survive.
OUTAGE = 45.0


class ClientTime:
    """The client's monotonic clock and sleep: time passes only when the client sleeps, and actions run
    when the clock passes their mark (the server comes back, the fault is lifted)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: List[float] = []
        self._lock = threading.Lock()
        self._actions: List[Tuple[float, Callable[[], None]]] = []

    def at(self, mark: float, action: Callable[[], None]) -> None:
        self._actions.append((mark, action))

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.sleeps.append(seconds)
            due = [action for mark, action in self._actions if mark <= self.now]
            self._actions = [(mark, action) for mark, action in self._actions if mark > self.now]
        for action in due:
            action()

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


def async_client(server: LocalCOS, clock: ClientTime, **options: Any) -> AsyncCosClient:
    return AsyncCosClient(
        server.bucket, server.region, server.credentials, endpoint=server.endpoint, dialect=server.dialect,
        sleep=clock.async_sleep, monotonic=clock.monotonic, **options,
    )  # fmt: skip


def upload(transport: str, server: LocalCOS, clock: ClientTime, path: Path, key: str, store: CheckpointStore) -> Any:
    """Upload ``path`` in 1 MiB parts, one at a time, with a client on ``clock``."""
    config = UploadConfig(part_size=MB, multipart_threshold=0, concurrency=1)
    if transport == "threads":
        with server.client(sleep=clock.sleep, monotonic=clock.monotonic) as client:
            return upload_file(client, path, key, part_size=MB, multipart_threshold=0, concurrency=1, store=store)

    async def run() -> Any:
        async with async_client(server, clock) as client:
            return await AsyncUploader(client, config, store=store).upload(path, key)

    return asyncio.run(run())


def waits(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER and record.levelno == logging.WARNING]


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_a_long_slowdown_is_waited_out_and_announced(
    local_cos: LocalCOS, transport: str, tmp_path: Path, store: CheckpointStore, caplog: pytest.LogCaptureFixture
) -> None:
    path, data = make_file(tmp_path, 3 * MB)
    fault = local_cos.faults.add(Fault.error("UploadPart", status=503, nth=2, count=None))  # part 2 on: SlowDown
    clock = ClientTime()
    clock.at(OUTAGE, lambda: local_cos.faults.remove(fault))
    caplog.set_level(logging.WARNING, logger=LOGGER)

    result = upload(transport, local_cos, clock, path, "slow/down.bin", store)

    assert len(result.parts) == 3 and stored(local_cos.client(), "slow/down.bin") == data
    assert clock.now >= OUTAGE  # the client waited the whole outage out on its own clock
    refused = [entry for entry in local_cos.log_entries("UploadPart") if entry.status == 503]
    service = local_cos.dialect.upper()
    lines = waits(caplog)
    assert len(lines) == len(refused) >= 5  # one line per wait, each a retry the server saw
    pattern = re.compile(rf"{service} busy \(503 SlowDown\): retrying part 2 in \d+(\.\d)? s")
    assert all(pattern.fullmatch(line) for line in lines), lines
    assert max(clock.sleeps) <= 10.0  # the back-off cap: a server back sooner is seen within 10 s


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_a_server_restarting_is_waited_out(
    local_cos_factory: LocalCOSFactory, dialect: str, transport: str, tmp_path: Path, store: CheckpointStore,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    server = local_cos_factory(dialect=dialect)
    port, data_dir = server.port, tmp_path / "restarted"
    server.stop()  # the port is closed: every connection is refused until the server is back
    restarted: List[LocalCOS] = []
    clock = ClientTime()
    clock.at(OUTAGE, lambda: restarted.append(local_cos_factory(dialect=dialect, port=port, data_dir=data_dir)))
    path, data = make_file(tmp_path, 2 * MB)
    caplog.set_level(logging.WARNING, logger=LOGGER)

    result = upload(transport, server, clock, path, "restart.bin", store)

    assert len(result.parts) == 2 and stored(restarted[0].client(), "restart.bin") == data
    assert clock.now >= OUTAGE
    lines = waits(caplog)
    assert len(lines) >= 5
    service = dialect.upper()
    pattern = re.compile(
        rf"{service} unreachable \(connection refused by 127\.0\.0\.1:{port}\): retrying starting the upload of "
        r"restart\.bin in \d+(\.\d)? s"
    )
    assert all(pattern.fullmatch(line) for line in lines), lines


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_the_budget_ends_retries_and_the_error_says_so(
    local_cos: LocalCOS, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    local_cos.faults.add(Fault.error("PutObject", status=503, count=None))
    clock = ClientTime()
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with pytest.raises(CosServiceError) as caught:
        if transport == "threads":
            with local_cos.client(sleep=clock.sleep, monotonic=clock.monotonic) as client:
                client.put_object("k", b"x")
        else:

            async def run() -> None:
                async with async_client(local_cos, clock) as client:
                    await client.put_object("k", b"x")

            asyncio.run(run())
    assert caught.value.code == "SlowDown"
    assert clock.now == pytest.approx(DEFAULT_RETRY_TIME)  # the last wait ends with the budget: bounded
    assert len(local_cos.log_entries("PutObject")) == len(waits(caplog)) + 1


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_retry_time_and_max_attempts_are_client_options(local_cos: LocalCOS, transport: str) -> None:
    local_cos.faults.add(Fault.error("PutObject", status=503, count=None))
    clock = ClientTime()
    with pytest.raises(CosServiceError):
        if transport == "threads":
            with local_cos.client(sleep=clock.sleep, monotonic=clock.monotonic, max_attempts=3) as client:
                client.put_object("k", b"x")
        else:

            async def run() -> None:
                async with async_client(local_cos, clock, max_attempts=3) as client:
                    await client.put_object("k", b"x")

            asyncio.run(run())
    assert len(local_cos.log_entries("PutObject")) == 3
    clock = ClientTime()
    with pytest.raises(CosServiceError), local_cos.client(sleep=clock.sleep, monotonic=clock.monotonic, retry_time=5) as client:
        client.put_object("k", b"x")
    assert clock.now == pytest.approx(5.0)


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_refused_for_real_a_short_budget_and_a_plain_error(
    local_cos_factory: LocalCOSFactory, dialect: str, transport: str
) -> None:
    # The one test on the real clock and sleep: a budget of 1 s against a closed port.
    server = local_cos_factory(dialect=dialect)
    port = server.port
    server.stop()
    with pytest.raises(CosTransportError) as caught:
        if transport == "threads":
            with server.client(retry_time=1.0) as client:
                client.put_object("k", b"x")
        else:

            async def run() -> None:
                async with AsyncCosClient(
                    server.bucket, server.region, server.credentials, endpoint=server.endpoint, dialect=dialect,
                    retry_time=1.0,
                ) as client:  # fmt: skip
                    await client.put_object("k", b"x")

            asyncio.run(run())
    error = caught.value
    text = str(error)
    assert error.kind is FailureKind.CONNECTION and error.attempts >= 2
    assert error.elapsed >= 1.0 - 0.01  # no retry was given up before the budget was spent
    where = f"127.0.0.1:{port}"
    assert text.startswith(f"connection refused by {where} (PUT http://{where}/k, {error.attempts} attempts over "), text
    assert "HTTPConnectionPool" not in text and "Max retries" not in text and "Errno" not in text
    # threads: the wire engine's failure, a ConnectionError wrapping the socket's own refusal
    expected = ConnectionError if transport == "threads" else aiohttp.ClientConnectorError
    assert isinstance(error.__cause__, expected)  # the library's own exception, kept for --verbose


def test_cli_retry_flags(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from cos_multipart._cli import main as cli

    from uploads import target

    path, _ = make_file(tmp_path, 1000)
    where = target(cli_env, "flags.bin")
    for flag, value in (("--max-attempts", "0"), ("--retry-time", "-1")):
        assert cli.main(["upload", flag, value, str(path), where]) == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert f"{flag} {value}" in err and "max_attempts" not in err and "retry_time" not in err
    assert cli_env.log_entries() == []  # refused before any request
    cli_env.faults.add(Fault.error("PutObject", status=503, count=None))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert cli.main(["upload", "--max-attempts", "3", str(path), where]) == cli.EXIT_SERVICE
    assert len(cli_env.log_entries("PutObject")) == 3
    # The command shows WARNING records on stderr (its logging handler); here pytest's handler takes them.
    service = cli_env.dialect.upper()
    pattern = re.compile(rf"{service} busy \(503 SlowDown\): retrying PUT flags\.bin in \d+(\.\d)? s")
    assert len([line for line in waits(caplog) if pattern.fullmatch(line)]) == 2


def failure_of(transport: str, server: LocalCOS, **options: Any) -> CosTransportError:
    """The transport error one ``put_object`` gets from ``server`` (or from ``options``' endpoint), tried once."""
    options.setdefault("retry", RetryPolicy.never())
    with pytest.raises(CosTransportError) as caught:
        if transport == "threads":
            with server.client(**options) as client:
                client.put_object("k", b"x" * 1000)
        else:

            async def run() -> None:
                async with AsyncCosClient(
                    server.bucket, server.region, server.credentials, dialect=server.dialect,
                    **{"endpoint": server.endpoint, **options},
                ) as client:  # fmt: skip
                    await client.put_object("k", b"x" * 1000)

            asyncio.run(run())
    return caught.value


@pytest.mark.parametrize("transport", ["threads", "asyncio"])
def test_transport_failures_say_what_failed_in_plain_words(local_cos: LocalCOS, transport: str) -> None:
    where = f"127.0.0.1:{local_cos.port}"
    resets = local_cos.faults.add(Fault.reset("PutObject", count=None))  # aiohttp itself resends once
    reset = failure_of(transport, local_cos)
    assert reset.kind is FailureKind.CONNECTION and reset.__cause__ is not None
    assert re.match(rf"(connection to {where} reset|{where} closed the connection without answering) \(PUT ", str(reset)), str(reset)
    local_cos.faults.remove(resets)
    local_cos.faults.add(Fault.delay(5.0, "PutObject"))
    slow = failure_of(transport, local_cos, timeout=(5.0, 0.2))
    assert slow.kind is FailureKind.TIMEOUT
    assert str(slow).startswith(f"no answer from {where} within the read timeout (PUT "), str(slow)
    unknown = failure_of(transport, local_cos, endpoint="http://no-such-host.invalid:9")
    assert str(unknown).startswith("cannot resolve no-such-host.invalid:9 (name resolution failed: "), str(unknown)
    for error in (reset, slow, unknown):
        assert "Pool" not in str(error) and "Max retries" not in str(error) and error.__cause__ is not None


def test_cli_prints_one_line_per_wait_on_stderr(cli_env: LocalCOS, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from uploads import target

    path, _ = make_file(tmp_path, 1000)
    cli_env.faults.add(Fault.error("PutObject", status=503, nth=1, count=2))  # two SlowDowns, then served
    done = subprocess.run(
        [sys.executable, "-m", "cos_multipart", "upload", str(path), target(cli_env, "waits.bin")],
        capture_output=True, text=True, timeout=120, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    service = cli_env.dialect.upper()
    lines = [line for line in done.stderr.splitlines() if "retrying" in line]
    assert len(lines) == 2 and all(f"{service} busy (503 SlowDown): retrying PUT waits.bin in " in line for line in lines)
    assert len(cli_env.log_entries("PutObject")) == 3
