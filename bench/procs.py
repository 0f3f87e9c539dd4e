"""Processes: the local COS server in a process of its own, and measured jobs in fresh child processes.

A child's CPU time and peak RSS come from ``os.wait4`` (the kernel's accounting of that process alone);
the server's CPU time is read from ``/proc/<pid>/stat`` before and after each job, so the share of the two
cores the server took is visible next to the client's.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from cos_multipart.testing.server import DEFAULT_BUCKET, DEFAULT_REGION, TEST_CREDENTIALS

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: Children that run longer than this are killed (a benchmark must stop by itself).
DEFAULT_CHILD_TIMEOUT = 900.0


def child_env() -> Dict[str, str]:
    """The environment of children and the server: the local server's documented test key, nothing else."""
    env = dict(os.environ)
    env["COS_SECRET_ID"] = TEST_CREDENTIALS.secret_id
    env["COS_SECRET_KEY"] = TEST_CREDENTIALS.secret_key
    env.pop("COS_SECURITY_TOKEN", None)
    env.setdefault("PYTHONHASHSEED", "0")
    # The children import ``bench`` whatever the current directory is.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


#: Environment variables Dask workers (and this process) read the local server's test key from.
CLUSTER_ENV = ("BENCH_COS_SECRET_ID", "BENCH_COS_SECRET_KEY")


@contextmanager
def cluster_credentials() -> Iterator[Dict[str, str]]:
    """The local server's test key in :data:`CLUSTER_ENV` of this process for the block (restored after);
    yields the variables, to pass to ``LocalCluster(env=...)``."""
    env = dict(zip(CLUSTER_ENV, (TEST_CREDENTIALS.secret_id, TEST_CREDENTIALS.secret_key)))
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pick_data_dir(needed: int, prefer_memory: bool) -> Path:
    """A fresh directory for server data: on ``/dev/shm`` when asked and it has room, else the temp dir.

    A tmpfs keeps disk write-back out of the measurement; the caller removes the directory.
    """
    shm = Path("/dev/shm")
    if prefer_memory and shm.is_dir():
        try:
            free = shutil.disk_usage(shm).free
        except OSError:
            free = 0
        if free > needed + (2 << 30):
            return Path(tempfile.mkdtemp(prefix="cos-bench-server-", dir=shm))
    return Path(tempfile.mkdtemp(prefix="cos-bench-server-"))


class ServerProcess:
    """``bench._server_main`` in its own process; use as a context manager.

    Args:
        data_dir: Where the server keeps parts and objects (removed on exit).
        bandwidth: Per-connection body transfer cap of the server itself, bytes/s.
        latency: Seconds the server adds before serving every request.
        host: Address to listen on (the host end of a :class:`bench.netshape.KernelLink`, or loopback).
        tls: Serve HTTPS (a CA made for the run: :attr:`ca_path`).
        rtt: Round-trip time emulated by the server process (see :mod:`bench._server_main`).
        dialect: ``"oss"`` for the server's OSS mode (its bucket and region are then read from the server).
        launcher: The command the JSON options are appended to (default ``python -m bench._server_main``).
        env: The server's environment (default :func:`child_env`).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        bandwidth: Optional[float] = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        tls: bool = False,
        rtt: float = 0.0,
        dialect: Optional[str] = None,
        launcher: Optional[Sequence[str]] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.data_dir = data_dir
        self.launcher = list(launcher) if launcher is not None else [sys.executable, "-m", "bench._server_main"]
        self.env = env
        self.dialect = dialect
        self.bucket = DEFAULT_BUCKET
        self.region = DEFAULT_REGION
        self.bandwidth = bandwidth
        self.latency = latency
        self.host = host
        self.tls = tls
        self.rtt = rtt
        self.port = 0
        self.ca_path: Optional[str] = None
        self._process: Optional["subprocess.Popen[str]"] = None
        self._stderr = tempfile.TemporaryFile(mode="w+")

    def __enter__(self) -> "ServerProcess":
        options = {"data_dir": str(self.data_dir), "bandwidth": self.bandwidth, "latency": self.latency,
                   "host": self.host, "tls": self.tls, "rtt": self.rtt, "dialect": self.dialect}  # fmt: skip
        self._process = subprocess.Popen(
            [*self.launcher, json.dumps(options)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=self.env if self.env is not None else child_env(),
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(10)
            self._stderr.seek(0)
            raise RuntimeError(f"the local COS server did not start: {self._stderr.read()[-2000:]}")
        started = json.loads(line)
        self.port = int(started["port"])
        self.ca_path = started.get("ca_path")
        self.bucket = started.get("bucket", self.bucket)
        self.region = started.get("region", self.region)
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._stderr.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.data_dir / "access.log"

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used by the server so far (Linux ``/proc``; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def log_offset(self) -> int:
        """The access log's current size: pass to :meth:`log_entries` to see what came after."""
        try:
            return self.access_log.stat().st_size
        except FileNotFoundError:
            return 0

    def log_entries(self, since: int = 0) -> List["LogEntry"]:
        """Access log entries written after byte offset ``since``."""
        try:
            with open(self.access_log, "rb") as handle:
                handle.seek(since)
                data = handle.read()
        except FileNotFoundError:
            return []
        entries = []
        for raw in data.decode("utf-8", "replace").splitlines():
            entry = LogEntry.parse(raw)
            if entry is not None:
                entries.append(entry)
        return entries

    def client(self) -> Any:
        """A :class:`cos_multipart._io.client.CosClient` for checks made outside the measurement."""
        from cos_multipart._io.client import CosClient

        dialect: Dict[str, Any] = {"dialect": self.dialect} if self.dialect else {}
        return CosClient(
            bucket=self.bucket, region=self.region, credentials=TEST_CREDENTIALS, endpoint=self.endpoint,
            verify=self.ca_path or True, **dialect,
        )  # fmt: skip


@dataclass(frozen=True)
class LogEntry:
    """The fields of one access log line the benchmark needs."""

    arrived: float
    method: str
    status: str
    bytes_in: int
    seconds: float
    api: str

    @property
    def finished(self) -> float:
        return self.arrived + self.seconds

    @classmethod
    def parse(cls, line: str) -> Optional["LogEntry"]:
        # time client method path query status bytes_in bytes_out millis api request_id code
        fields = line.split()
        if len(fields) < 10 or not fields[6].isdigit() or not fields[8].endswith("ms"):
            return None
        try:
            moment = datetime.datetime.strptime(fields[0], "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            return None
        arrived = moment.replace(tzinfo=datetime.timezone.utc).timestamp()
        return cls(
            arrived=arrived,
            method=fields[2],
            status=fields[5],
            bytes_in=int(fields[6]),
            seconds=float(fields[8][:-2]) / 1000.0,
            api=fields[9],
        )


@dataclass
class ChildResult:
    """A finished child: what it printed and what the kernel accounted for it.

    Attributes:
        output: The job's JSON result (empty when the child was killed or failed).
        returncode: Exit status (negative: killed by that signal).
        process_wall: Seconds from start to exit, interpreter start-up included.
        process_cpu: User + system seconds of the whole process (``os.wait4``).
        maxrss_mib: Peak resident set size of the process, MiB.
        stderr: The end of what it wrote to stderr.
    """

    output: Dict[str, Any]
    returncode: int
    process_wall: float
    process_cpu: float
    maxrss_mib: float
    stderr: str = ""
    killed: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    def check(self) -> "ChildResult":
        """Raise when the child failed (and was not killed on purpose)."""
        if self.returncode != 0 and not self.killed:
            raise RuntimeError(f"benchmark child failed with status {self.returncode}: {self.stderr[-3000:]}")
        return self


def run_child(
    spec: Dict[str, Any],
    *,
    timeout: float = DEFAULT_CHILD_TIMEOUT,
    kill_when: Optional[Callable[[], bool]] = None,
    poll: float = 0.01,
    prefix: Sequence[str] = (),
    command: Optional[Sequence[str]] = None,
    env: Optional[Dict[str, str]] = None,
    stdin: Optional[int] = None,
) -> ChildResult:
    """Run ``bench._child`` with ``spec`` in a fresh process and wait for it with ``os.wait4``.

    Args:
        spec: The job (see :mod:`bench._child`).
        timeout: Kill the child after this many seconds.
        kill_when: Polled every ``poll`` seconds while the child runs; SIGKILL the child when it returns
            True (a crash in the middle of an upload).
        prefix: A command the child runs under, e.g. ``ip netns exec <ns>``; it execs the child, so the pid
            waited for (and killed) is the child's own.
        command: The program the JSON spec is appended to (default ``python -m bench._child``).
        env: The child's environment (default :func:`child_env`).
        stdin: A file descriptor the child reads as its standard input (default: this process's).
    """
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*prefix, *(command if command is not None else (sys.executable, "-m", "bench._child")), json.dumps(spec)],
            stdin=stdin,
            stdout=out,
            stderr=err,
            text=True,
            env=env if env is not None else child_env(),
        )
        killed = threading.Event()
        done = threading.Event()

        def watch() -> None:
            deadline = started + timeout
            while not done.wait(poll):
                if time.perf_counter() > deadline or (kill_when is not None and kill_when()):
                    killed.set()
                    try:
                        os.kill(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        watcher.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = [line for line in out.read().splitlines() if line.strip()]
        output: Dict[str, Any] = {}
        if lines and not killed.is_set():
            try:
                output = json.loads(lines[-1])
            except ValueError:
                output = {}
        return ChildResult(
            output=output,
            returncode=process.returncode,
            process_wall=wall,
            process_cpu=usage.ru_utime + usage.ru_stime,
            maxrss_mib=usage.ru_maxrss / 1024.0,
            stderr=err.read()[-5000:],
            killed=killed.is_set(),
        )


def server_cpu_during(server: ServerProcess, work: Callable[[], ChildResult]) -> Tuple[ChildResult, float]:
    """Run ``work`` and return its result with the server's CPU seconds spent meanwhile."""
    before = server.cpu_seconds()
    result = work()
    return result, server.cpu_seconds() - before


def iter_alternating(clients: List[str], runs: int) -> Iterator[Tuple[int, str]]:
    """``(run, client)`` pairs: every client once per run, the order rotated each run."""
    for run in range(runs):
        shift = run % len(clients) if clients else 0
        for client in clients[shift:] + clients[:shift]:
            yield run, client
