"""What the cluster tests share: the secrets the scans look for, and functions sent to Dask workers
(imported by name there, as ``cluster_helpers``)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

from cos_multipart._protocol.credentials import Credentials, RefreshingCredentials
from cos_multipart.remote import ClientConfig, EnvCredentials
from cos_multipart.testing import LocalCOS

# Made for this run (in the test process): what the scans look for. The workers get them in their
# environment, never in a task.
SECRET_ID = "AKIDcluster" + secrets.token_hex(12)
SECRET_KEY = "cluster-secret-" + secrets.token_hex(16)
TOKEN = "cluster-token-" + secrets.token_hex(16)
ENV_CREDENTIALS = Credentials(SECRET_ID, SECRET_KEY, TOKEN)
ENV_NAMES = EnvCredentials("CLUSTER_TEST_SECRET_ID", "CLUSTER_TEST_SECRET_KEY", "CLUSTER_TEST_TOKEN")
WORKER_ENV = {
    "CLUSTER_TEST_SECRET_ID": SECRET_ID, "CLUSTER_TEST_SECRET_KEY": SECRET_KEY, "CLUSTER_TEST_TOKEN": TOKEN,
    # Settings of the credential factories below: a factory travels by name only, so it reads them here.
    "CLUSTER_TEST_CALLER_PID": str(os.getpid()),
    "CLUSTER_TEST_STS_FILE": os.path.join(tempfile.gettempdir(), f"cluster-test-sts-{os.getpid()}.json"),
}  # fmt: skip
PLUGIN_CREDENTIALS = Credentials("AKIDplugin" + secrets.token_hex(12), "plugin-secret-" + secrets.token_hex(16))
SECRETS = (SECRET_KEY, TOKEN, PLUGIN_CREDENTIALS.secret_key)


def target(cos: LocalCOS, credentials: Any = ENV_NAMES) -> ClientConfig:
    """The client configuration the caller and the workers build their clients of ``cos`` from."""
    return ClientConfig(cos.bucket, cos.region, credentials, endpoint=cos.endpoint, dialect=cos.dialect)


def read_sts_file(path: str) -> Tuple[Credentials, float]:
    """Temporary credentials and their expiry from a JSON file an agent rotates (as a vault agent would)."""
    document = json.loads(Path(path).read_text())
    credentials = Credentials(document["secret_id"], document["secret_key"], document["token"])
    return credentials, float(document["expires_at"])


def sts_provider() -> RefreshingCredentials:
    """A refreshing provider over :func:`read_sts_file` of the file ``CLUSTER_TEST_STS_FILE`` names, built on
    each machine (no margin: refresh at expiry)."""
    path = os.environ["CLUSTER_TEST_STS_FILE"]
    return RefreshingCredentials(lambda: read_sts_file(path), refresh_margin=0.0)


def env_factory() -> Credentials:
    """The cluster's credentials, read from this machine's environment by a factory that travels by name."""
    return Credentials(os.environ["CLUSTER_TEST_SECRET_ID"], os.environ["CLUSTER_TEST_SECRET_KEY"],
                       os.environ["CLUSTER_TEST_TOKEN"])  # fmt: skip


def write_sts_file(path: Path, credentials: Credentials, expires_at: float) -> None:
    document = {
        "secret_id": credentials.secret_id,
        "secret_key": credentials.secret_key,
        "token": credentials.token,
        "expires_at": expires_at,
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document))
    os.replace(temporary, path)


def pid() -> int:
    return os.getpid()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


_capture = _Capture()


def capture_logs() -> None:
    """On a worker: keep every cos_multipart log line, DEBUG included, for the secret scan."""
    logger = logging.getLogger("cos_multipart")
    logger.setLevel(logging.DEBUG)
    if _capture not in logger.handlers:
        logger.addHandler(_capture)


def captured_logs() -> List[str]:
    return list(_capture.lines)


def task_prefixes(dask_scheduler: Any) -> List[str]:
    return list(dask_scheduler.task_prefixes)


def scheduler_state(dask_scheduler: Any, prefix: str = "cos-part") -> Dict[str, Any]:
    """What the scheduler holds about our tasks (names starting with ``prefix``): keys, reprs and the
    pickled task specs."""
    import cloudpickle  # type: ignore[import-untyped]  # distributed's own dependency, without stubs

    keys, texts, pickled = [], [], []
    for key, task in dask_scheduler.tasks.items():
        name = str(key)
        if not name.startswith(prefix):
            continue
        keys.append(name)
        texts.append(repr(task))
        texts.append(repr(task.run_spec))
        texts.append(repr(getattr(task.run_spec, "args", ())))  # what a task's repr would show with its arguments
        texts.append(repr(getattr(task, "exception", None)))
        pickled.append(cloudpickle.dumps(task.run_spec))
    texts.append(repr(dict(dask_scheduler.task_prefixes)))
    texts.append(repr(dask_scheduler.task_groups))
    return {"keys": keys, "text": "\n".join(texts), "pickled": b"".join(pickled)}


def slot_peaks() -> List[int]:
    """On a worker: the most requests each of its directory request pools ever had in flight."""
    from cos_multipart import remote

    return [slots.peak for slots in remote._slots.values()]  # noqa: SLF001 - the test looks inside


def caller_only() -> Credentials:
    """Credentials in the caller's process only (``CLUSTER_TEST_CALLER_PID``): a worker has none."""
    from cos_multipart._protocol.errors import CosCredentialsError

    if os.getpid() != int(os.environ["CLUSTER_TEST_CALLER_PID"]):
        raise CosCredentialsError("no credentials on this worker (test)")
    return ENV_CREDENTIALS


def ignore(_: Any) -> int:
    """A task that takes a value (the scan's control: a task that does carry a secret) and does nothing."""
    return 0


_REAL_READ_ALL: List[Any] = []


def write_during_reads(path: str, times: int) -> None:
    """On a worker: the next ``times`` whole-file reads of the file at ``path`` (by inode) each see a writer
    append to it once its bytes were read (a file written while a small-file PUT reads it)."""
    from cos_multipart._io import _sources

    if not _REAL_READ_ALL:
        _REAL_READ_ALL.append(_sources.read_whole)  # what a directory run's small file is read with
    real, inode, left = _REAL_READ_ALL[0], os.stat(path).st_ino, [times]

    def read_whole(fd: int, *args: Any) -> Any:
        part = real(fd, *args)
        if left[0] and os.fstat(fd).st_ino == inode:
            left[0] -= 1
            with open(path, "ab") as handle:
                handle.write(b"+more")
        return part

    _sources.read_whole = read_whole  # type: ignore[assignment]


def stop_writing_during_reads() -> None:
    """On a worker: undo :func:`write_during_reads`."""
    from cos_multipart._io import _sources

    if _REAL_READ_ALL:
        _sources.read_whole = _REAL_READ_ALL[0]
