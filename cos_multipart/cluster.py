"""One object's multipart upload shared by the workers of a Dask cluster.

:func:`upload_file_on_cluster` runs the threaded driver's upload with its part scheduling replaced by Dask
tasks: the caller takes the checkpoint lock, resumes or initiates the upload exactly as
:class:`~cos_multipart._drivers.uploader.Uploader` does (same checkpoint file, same stale / gone / keep-or-abort
decisions), then submits runs of parts as tasks; each worker opens the file itself (a path every worker can
see) and sends each part once (:func:`~cos_multipart.remote.send_part_attempts`); the answers come back as
tasks finish and the caller's upload machine judges them (sending a part again on a mismatch), records the
verified parts in the checkpoint and completes, checking count, order, sizes and the combined CRC-64. An upload interrupted here resumes with the threaded uploader and the other way round.

Secrets: tasks carry a :class:`~cos_multipart.remote.ClientConfig` (where credentials come from, never what
they are), the session (no secret) and part numbers. Task keys are ``cos-part-<hash>-<n>`` (the object key is
hashed out of them). Static credentials that cannot be put in the workers' environment go through a worker
plugin (:func:`install_credentials`), which is not a task argument. See docs/cluster.md.

This is the only module that imports ``dask``/``distributed`` (the ``dask`` extra); ``cos_multipart`` does not
import it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

try:
    import distributed
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("cos_multipart.cluster needs the dask extra: pip install 'cos-multipart[dask]'") from error

from ._core._config import UploadConfig, UploadResult
from ._core._actions import SendPart
from ._core._decisions import check_config, check_plan, check_progress, check_store, check_upload_key, wanted_session
from ._drivers.threads import POLL_SECONDS, Upload, target_of
from ._drivers._executor import ThreadExecutor
from ._drivers._localsteps import facts_of
from ._core._machine import UploadMachine
from ._core._outcomes import Sent
from ._io._sources import FileSource, open_source
from ._io.checkpoint import CheckpointStore
from ._protocol.credentials import Credentials, CredentialsLike, CredentialsProvider, as_provider
from ._protocol.dialect import dialect_of
from ._protocol.endpoint import validate_key
from ._protocol.errors import CosCancelledError, CosCredentialsError, CosValidationError
from ._core.progress import ProgressCallback
from ._io._crccache import CrcCache
from ._core._dirplan import file_batches, files_per_task
from ._core._dirreport import DirectoryReport, FailedFile, ProgressFunction
from ._drivers._dirrun import DirectoryRun, FileResult, FileTask, RunSettings, _one_line, _Progress
from ._drivers.directory import crc_cache, run_settings
from . import remote
from .remote import ClientConfig, FilesJob, PartAttempts, PartJob, send_part_attempts, upload_files, without_parts
from ._core.session import UploadSession
from ._core._copyflow import CopyMachine
from ._core._copyvalues import DEFAULT_COPY_THRESHOLD, CopyResult
from ._drivers.copier import prepare_copy
from ._drivers.copying import Copy, source_client_of
from ._io.client import CosClient
from ._protocol.copy_ops import CopySource, MetadataDirective
from ._protocol.models import PartResult, ResponseInfo
from ._protocol.options import Acl, ObjectOptions, StorageClass, Tagging
from ._protocol.sse import EncryptionLike
from ._core._download import DownloadResult, DownloadStart, FetchRange
from ._core.parts import DEFAULT_PART_ATTEMPTS
from ._core.planner import DEFAULT_PART_SIZE
from ._drivers._downloadsteps import DownloadOptions
from ._drivers.download import Download, check_options, check_start

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "DEFAULT_PARTS_PER_TASK",
    "DEFAULT_TASK_RETRIES",
    "PluginCredentials",
    "copy_object_on_cluster",
    "install_credentials",
    "sync_directory_on_cluster",
    "upload_directory_on_cluster",
    "upload_file_on_cluster",
    "download_file_on_cluster",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Most parts one task sends (fewer when there are few parts for the cluster's threads): task overhead is
#: about a millisecond of scheduler time, a part tens to hundreds of milliseconds of transfer.
DEFAULT_PARTS_PER_TASK = 4
#: Times Dask runs a task again after it raised (a worker lost mid-task is rescheduled anyway).
DEFAULT_TASK_RETRIES = 2
#: Name prefix of the worker plugins that hold installed credentials.
PLUGIN_PREFIX = "cos-multipart-credentials-"

# Providers installed in this process by name: on workers by the plugin, on the caller by install_credentials.
_installed: Dict[str, CredentialsProvider] = {}
_installed_lock = threading.Lock()


class PluginCredentials:
    """Credentials installed on every worker by :func:`install_credentials` (a credential source by name).

    Attributes:
        name: The name they were installed under.
    """

    __slots__ = ("name",)

    def __init__(self, name: str = "default") -> None:
        if not isinstance(name, str) or not name or not name.isprintable():
            raise CosValidationError("name", name, "a non-empty printable name")
        self.name = name

    def provider(self) -> CredentialsProvider:
        """The provider installed under :attr:`name` in this process.

        Raises:
            CosCredentialsError: Nothing is installed under that name here.
        """
        with _installed_lock:
            found = _installed.get(self.name)
        if found is None:
            raise CosCredentialsError(
                f"no credentials named {self.name!r} on this machine: call install_credentials(dask_client, ...) first"
            )
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PluginCredentials) and other.name == self.name

    def __hash__(self) -> int:
        return hash((PluginCredentials, self.name))

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        return PluginCredentials, (self.name,)

    def __repr__(self) -> str:
        return f"PluginCredentials({self.name!r})"


remote._accept_source(PluginCredentials)  # noqa: SLF001 - it names installed credentials, holds no secret


class _CredentialsPlugin(distributed.WorkerPlugin):
    """Holds credentials and installs them in each worker process it is set up on (never a task argument)."""

    def __init__(self, name: str, credentials: CredentialsLike) -> None:
        self.name = name
        self.credentials = credentials

    def setup(self, worker: Any) -> None:
        with _installed_lock:
            _installed[self.name] = as_provider(self.credentials)

    def teardown(self, worker: Any) -> None:
        with _installed_lock:
            _installed.pop(self.name, None)

    def __repr__(self) -> str:
        return f"<cos-multipart credentials {self.name!r}: <redacted>>"


def install_credentials(
    dask_client: "Client", credentials: CredentialsLike, *, name: str = "default"
) -> PluginCredentials:
    """Give every worker (and this process) credentials without putting them in any task.

    They travel once in a Dask worker plugin, which the scheduler keeps to set up workers that join later (a
    restarted worker too) and which appears in no task key, task argument, task state or dashboard page. The
    scheduler process holds the pickled plugin in memory: where that matters, prefer
    :class:`~cos_multipart.remote.EnvCredentials` (each machine's environment) or
    :class:`~cos_multipart.remote.FactoryCredentials` (each machine fetches its own).

    Args:
        dask_client: The cluster's client.
        credentials: :class:`~cos_multipart._protocol.credentials.Credentials`, or a picklable provider.
        name: Several sets can be installed under different names.

    Returns:
        The credential source to put in :class:`~cos_multipart.remote.ClientConfig`.
    """
    source = PluginCredentials(name)
    if not isinstance(credentials, Credentials) and not callable(credentials):
        raise CosValidationError("credentials", type(credentials).__name__, "Credentials or a picklable provider")
    provider = as_provider(credentials)
    dask_client.register_plugin(_CredentialsPlugin(name, credentials), name=PLUGIN_PREFIX + name)
    with _installed_lock:
        _installed[name] = provider
    return source


def upload_file_on_cluster(
    dask_client: "Client",
    config: ClientConfig,
    path: PathLike,
    key: str,
    *,
    upload_config: Optional[UploadConfig] = None,
    parts_per_task: Optional[int] = None,
    task_retries: int = DEFAULT_TASK_RETRIES,
    progress: Optional[ProgressCallback] = None,
    store: Optional[CheckpointStore] = None,
) -> UploadResult:
    """Upload the file at ``path`` to ``key`` with its parts sent by the cluster's workers, verified, resumable.

    Args:
        dask_client: A :class:`distributed.Client` of the cluster.
        config: How this process and every worker build a client (bucket, region, endpoint, credential source).
        path: The file, at a path every worker sees too (a shared file system).
        key: Object key.
        upload_config: Part size, resume, checkpoint directory, attempts, object options... as for the
            threaded uploader; ``concurrency`` is the cluster's threads instead, and ``bandwidth_limit``
            (one process's token bucket) and SSE-C (its key would travel in tasks) are refused.
        parts_per_task: Parts one task sends, in order (default: up to :data:`DEFAULT_PARTS_PER_TASK`, fewer
            so every worker thread gets work).
        task_retries: Dask ``retries=`` of each task (a task raised, e.g. a worker's network failed).
        progress: Called with a :class:`~cos_multipart._core.progress.ProgressEvent` as parts are confirmed; an
            exception from it stops the upload and keeps it for a resume.
        store: Checkpoint storage on this machine (default: in ``upload_config.checkpoint_dir``).

    Returns:
        The verified result; an interrupted upload of the same file to the same key is resumed.

    Raises:
        CosValidationError: Bad key, path or options (nothing sent).
        UploadLockedError: Another upload of this file to this key is running (threaded or on a cluster).
        CosIntegrityError / CosServiceError / CosTransportError / SourceChangedError: as for
            :meth:`~cos_multipart._drivers.uploader.Uploader.upload`; a resumable upload is kept and the exception
            carries :class:`~cos_multipart._protocol.errors.KeptUpload`.
    """
    settings = upload_config if upload_config is not None else UploadConfig()
    _check_settings(settings, parts_per_task, task_retries)
    if not isinstance(dask_client, distributed.Client):  # else it fails only once parts are to be sent
        raise CosValidationError("dask_client", type(dask_client).__name__, "a distributed.Client of the cluster")
    if not isinstance(config, ClientConfig):
        raise CosValidationError("config", type(config).__name__, "a cos_multipart.remote.ClientConfig")
    validate_key(key, max_bytes=dialect_of(config.dialect).max_key_bytes)
    if not isinstance(path, (str, os.PathLike)):
        raise CosValidationError("path", type(path).__name__, "the path of a file every worker can read")
    check_progress(progress)
    check_store(store)
    checkpoints = store if store is not None else CheckpointStore(settings.checkpoint_dir)
    source = open_source(path)
    try:
        if not isinstance(source, FileSource) or source.path is None:
            raise CosValidationError("path", os.fspath(path), "a regular file with a known size")
        with config.client(pool_size=2) as client:
            # Every check before the first request: the service's part-size range and options, the key, the
            # plan of this file (a part size too small for it is refused here, not after Initiate).
            check_config(settings, client)
            check_upload_key(key, client)
            check_plan(client, settings, source, key)
            upload = _ClusterUpload(
                client, settings, checkpoints, source, key, progress, dask_client, config, parts_per_task, task_retries
            )  # fmt: skip
            return upload.run()
    finally:
        source.close()


class _DaskParts(ThreadExecutor):
    """The part plumbing of a threaded executor whose parts run as Dask tasks (upload, copy, download).

    It keeps the map of futures to the part actions each task carries, waits for tasks to finish, turns a
    cancelled or failed task into an outcome for each of its actions, and cancels the unfinished ones when the
    parts are stopped. A subclass (listed before its threaded executor) submits its tasks with :meth:`_submit`
    and says, in :meth:`_task_outcomes`, what a finished task's result means for each of its actions.
    """

    #: What one task runs, in its messages: "the <noun>'s task was cancelled", "waiting for <noun> tasks".
    task_noun = "part"
    dask_client: "Client"
    client_config: ClientConfig
    task_retries: int
    nonce: str
    tasks: Dict[Any, List[Any]]

    def _on_cluster(self, dask_client: "Client", config: ClientConfig, task_retries: int) -> None:
        self.dask_client = dask_client
        self.client_config = config
        self.task_retries = task_retries
        self.nonce = secrets.token_hex(8)
        self.tasks = {}

    def _submit(self, function: Any, *args: Any, key: str, actions: Sequence[Any]) -> None:
        """Run ``function(*args)`` as the task ``key``, which answers for ``actions``."""
        dask: Any = self.dask_client  # distributed's Client and Future are only partly annotated
        future = dask.submit(function, *args, key=key, retries=self.task_retries, pure=False)
        self.tasks[future] = list(actions)

    def _task_outcomes(self, actions: List[Any], result: Any) -> List[Tuple[Any, object]]:
        """Each of ``actions`` with its outcome, from the ``result`` of the task that ran them."""
        raise NotImplementedError

    def parts_running(self) -> bool:
        return bool(self.tasks)

    def finished_parts(self) -> List[Tuple[Any, object]]:
        finished = [future for future in self.tasks if future.done()]
        if not finished:
            wait: Any = distributed.wait
            try:
                wait(list(self.tasks), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except Exception as error:  # noqa: BLE001 - nothing finished yet, or a task was cancelled: looked at below
                logger.debug("waiting for %s tasks: %s", self.task_noun, type(error).__name__)
            finished = [future for future in self.tasks if future.done()]
        outcomes: List[Tuple[Any, object]] = []
        for future in finished:
            actions = self.tasks.pop(future)
            if future.status == "cancelled":
                cancelled = CosCancelledError(f"the {self.task_noun}'s task was cancelled")
                outcomes.extend((action, cancelled) for action in actions)
            elif future.status == "error":
                failure = future.exception()
                outcomes.extend((action, failure) for action in actions)
            else:
                outcomes.extend(self._task_outcomes(actions, future.result()))
            future.release()
        return outcomes

    def stop_parts(self) -> object:
        # Tasks not started never start; a task already running finishes (Dask cannot interrupt its thread): an
        # upload's List Parts finds its parts, a copy's or a download's outcome still reaches the machine.
        dask: Any = self.dask_client
        unfinished = [future for future in self.tasks if not future.done()]
        if unfinished:
            dask.cancel(unfinished)
        return super().stop_parts()


class _ClusterUpload(_DaskParts, Upload):
    """The threaded executor with its parts sent by Dask tasks instead of local threads.

    The machine hands out every pending part at once (``window=0``); they go out in runs of consecutive parts
    (:func:`~cos_multipart.remote.send_part_attempts`, one attempt each), and each answer goes back to the machine,
    which judges it (and asks again on a mismatch, or stops when the worker read another file).
    """

    def __init__(
        self,
        client: Any,
        settings: UploadConfig,
        store: CheckpointStore,
        source: FileSource,
        key: str,
        progress: Optional[ProgressCallback],
        dask_client: "Client",
        config: ClientConfig,
        parts_per_task: Optional[int],
        task_retries: int,
    ) -> None:
        super().__init__(client, settings, store, source, key, progress, resume_only=False)
        self._on_cluster(dask_client, config, task_retries)
        self.parts_per_task = parts_per_task

    def run(self) -> UploadResult:
        return self.run_machine(UploadMachine.upload(self.start(window=0)))

    def start_parts(self, parts: List[SendPart]) -> None:
        threads = _cluster_threads(self.dask_client)
        ordered = sorted(parts, key=lambda action: action.number)
        runs = split_runs(ordered, _run_length(len(ordered), threads, self.parts_per_task))
        job = PartJob(traffic_limit=self.config.traffic_limit, verify_md5=self.config.verify_md5, pool_size=max(2, threads))
        shipped = self._shipped(ordered[0].upload_id)
        prefix = task_prefix(shipped, self.nonce)
        logger.debug("upload %s: %d parts in %d tasks over %d threads", shipped.upload_id, len(ordered), len(runs), threads)
        for run in runs:
            ranges = [(action.number, action.offset, action.length) for action in run]
            self._submit(
                send_part_attempts, self.client_config, shipped, ranges, job,
                key=f"{prefix}-{run[0].number}-{run[0].attempt}", actions=run,
            )  # fmt: skip

    def _task_outcomes(self, actions: List[SendPart], result: PartAttempts) -> List[Tuple[Any, object]]:
        by_number = {part.number: part for part in result.parts}
        return [
            (action, Sent(by_number[action.number].digest, by_number[action.number].answer, result.identity))
            for action in actions
        ]

    def _shipped(self, upload_id: str) -> UploadSession:
        """The session a worker needs (target, upload id, file and its identity, encryption), without parts."""
        facts = facts_of(self.source)
        session = wanted_session(target_of(self.client), self.config, facts, self.key, upload_id, None)
        return without_parts(session)


def upload_directory_on_cluster(
    dask_client: "Client",
    config: ClientConfig,
    local_dir: PathLike,
    prefix: str = "",
    *,
    upload_config: Optional[UploadConfig] = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    hidden: bool = True,
    dry_run: bool = False,
    files_per_task: Optional[int] = None,
    task_retries: int = DEFAULT_TASK_RETRIES,
    progress: Optional[ProgressFunction] = None,
) -> DirectoryReport:
    """Upload every selected file under ``local_dir`` to ``prefix`` + its relative path, files spread over
    the cluster's workers; one report at the end.

    The walk and the plan run here; the files go to the workers as tasks (``cos-files-<hash>-<n>``): small
    files in batches, each large file (``multipart_threshold`` or more) as a task of its own, uploaded there
    in parts with the threaded uploader. Every worker reads the files at the paths this process found them
    at (a shared file system) and builds its own client from ``config``.

    Args:
        dask_client: A :class:`distributed.Client` of the cluster.
        config: How this process (listing, deletions) and every worker build a client.
        local_dir: The directory, at a path every worker sees too.
        prefix: Key prefix; a non-empty prefix without a trailing ``/`` gets one.
        upload_config: Settings of every file; ``concurrency`` bounds the requests in flight **per worker
            process** (across its tasks), ``checkpoint_dir`` is where the large files' checkpoints are as
            each worker sees the path: put it on the shared file system so a rerun resumes wherever its
            task lands. ``bandwidth_limit`` and SSE-C are refused, as for :func:`upload_file_on_cluster`.
        include: Glob patterns on the relative path; a file must match one.
        exclude: Glob patterns; a matching file is left out.
        follow_symlinks: Follow links (loops are reported, never entered).
        hidden: Include dot files and directories.
        dry_run: Report what would be uploaded without sending anything.
        files_per_task: Small files in one task (default: up to
            :data:`~cos_multipart._core._dirplan.DEFAULT_FILES_PER_TASK`, fewer so every worker thread gets work).
        task_retries: Dask ``retries=`` of each task (a task that raised, e.g. a worker without credentials).
        progress: Called with a :class:`~cos_multipart._drivers.directory.DirectoryProgress` as tasks finish.

    Returns:
        The same :class:`~cos_multipart._drivers.directory.DirectoryReport` as
        :func:`~cos_multipart._drivers.directory.upload_directory`; a file that failed (on its own, or with its whole
        task after the retries) is in ``failed`` and did not stop the others.

    Raises:
        CosValidationError: Bad directory, prefix, pattern or settings (nothing sent).
        KeyboardInterrupt: With the report so far as its ``directory_report`` attribute.
    """
    settings = run_settings(include, exclude, follow_symlinks, hidden, sync=False, delete=False, dry_run=dry_run)
    return _run_directory(dask_client, config, local_dir, prefix, upload_config, settings, crc_cache(False, False),
                          files_per_task, task_retries, progress)  # fmt: skip


def sync_directory_on_cluster(
    dask_client: "Client",
    config: ClientConfig,
    local_dir: PathLike,
    prefix: str = "",
    *,
    upload_config: Optional[UploadConfig] = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    hidden: bool = True,
    checksum: bool = False,
    delete: bool = False,
    max_delete: Optional[int] = None,
    delete_bucket_wide: bool = False,
    dry_run: bool = False,
    cache: Union[bool, PathLike] = True,
    files_per_task: Optional[int] = None,
    task_retries: int = DEFAULT_TASK_RETRIES,
    progress: Optional[ProgressFunction] = None,
) -> DirectoryReport:
    """Like :func:`upload_directory_on_cluster`, but skip files the bucket already holds, and optionally delete.

    The listing, the CRC-64 cache and the deletions are this process's (as for
    :func:`~cos_multipart._drivers.directory.sync_directory`); the decisions that need a file's bytes (its CRC-64
    when the sizes are equal and the cache has none) or a HEAD are made on the workers, which send the
    CRC-64 they computed back for this process's cache.

    Args:
        checksum: Re-read every local file instead of trusting the cache.
        delete: Remove objects under ``prefix`` that have no local file, exactly as
            :func:`~cos_multipart._drivers.directory.sync_directory` does (the same kept keys; not when part of
            the tree could not be read).
        max_delete: With ``delete``: the most objects this run may delete (``None``: no limit); a plan with
            more deletes nothing.
        delete_bucket_wide: Required with ``delete`` when ``prefix`` is empty (the whole bucket).
        cache: ``True`` for ``crc64-cache.json`` in ``upload_config.checkpoint_dir`` (else the default
            directory; on this machine), ``False`` for none, or a path.
        Other arguments: as for :func:`upload_directory_on_cluster`.
    """
    settings = run_settings(include, exclude, follow_symlinks, hidden, sync=True, delete=delete, dry_run=dry_run,
                            max_delete=max_delete, delete_bucket_wide=delete_bucket_wide)  # fmt: skip
    directory = upload_config.checkpoint_dir if upload_config is not None else None
    return _run_directory(dask_client, config, local_dir, prefix, upload_config, settings, crc_cache(cache, checksum, directory),
                          files_per_task, task_retries, progress)  # fmt: skip


def _run_directory(
    dask_client: "Client",
    config: ClientConfig,
    local_dir: PathLike,
    prefix: str,
    upload_config: Optional[UploadConfig],
    settings: RunSettings,
    cache: CrcCache,
    files_per_task: Optional[int],
    task_retries: int,
    progress: Optional[ProgressFunction],
) -> DirectoryReport:
    chosen = upload_config if upload_config is not None else UploadConfig()
    _check_settings(chosen, files_per_task, task_retries, per_task_name="files_per_task")
    if not isinstance(config, ClientConfig):
        raise CosValidationError("config", type(config).__name__, "a cos_multipart.remote.ClientConfig")
    with config.client(pool_size=2) as client:
        run = _ClusterDirectoryRun(client, local_dir, prefix, chosen, settings, cache, None)
        run.on_cluster(dask_client, config, files_per_task, task_retries)
        return run.run(progress)


class _ClusterDirectoryRun(DirectoryRun):
    """The directory run with its files handled by Dask tasks instead of local threads.

    Only :meth:`_dispatch` differs: the walk, the listing, the cache, the deletions and the report are the
    local run's, and each worker handles its files with the local run's :class:`~cos_multipart._drivers._dirrun.FileSender`.
    """

    dask_client: Any
    client_config: ClientConfig
    files_per_task: Optional[int]
    task_retries: int

    def on_cluster(self, dask_client: "Client", config: ClientConfig, per_task: Optional[int], retries: int) -> None:
        self.dask_client = dask_client
        self.client_config = config
        self.files_per_task = per_task
        self.task_retries = retries

    def _dispatch(self, tasks: List[FileTask], progress: _Progress) -> None:
        if not tasks:
            return
        threshold = self.config.multipart_threshold
        threads = _cluster_threads(self.dask_client)
        small = sum(1 for task in tasks if task.item.size < threshold)
        batches = file_batches([task.item.size for task in tasks], threshold, files=files_per_task(small, threads, self.files_per_task))
        job = FilesJob(self.config, sync=self.settings.sync, dry_run=self.settings.dry_run, lanes=self._lanes())
        name = files_task_prefix(self.client.endpoint.base_url, self.client.bucket, self.prefix, secrets.token_hex(8))
        logger.debug("%d files in %d tasks over %d threads", len(tasks), len(batches), threads)
        dask: Any = self.dask_client  # distributed's Client and Future are only partly annotated
        as_completed: Any = distributed.as_completed
        futures: Dict[Any, List[FileTask]] = {}
        for number, batch in enumerate(batches):
            chosen = [tasks[index] for index in batch]
            future = dask.submit(upload_files, self.client_config, chosen, job, key=f"{name}-{number}",
                                 retries=self.task_retries, pure=False)  # fmt: skip
            futures[future] = chosen
        try:
            for future in as_completed(list(futures)):
                self._collect(future, futures[future], progress)
        finally:
            # Stopping (Ctrl-C, a progress callback that raised): tasks not started never start; a task
            # already running finishes its files (Dask cannot interrupt a running thread).
            unfinished = [future for future in futures if not future.done()]
            if unfinished:
                dask.cancel(unfinished)
            for future in futures:
                future.release()

    def _collect(self, future: Any, batch: List[FileTask], progress: _Progress) -> None:
        try:
            results: List[FileResult] = future.result()
        except Exception as error:  # the task failed as a whole, after its retries: each of its files did
            reason, kind = _one_line(error), type(error).__name__
            results = [FileResult(FailedFile(task.item.path, task.key, reason, kind)) for task in batch]
        for task, result in zip(batch, results):
            self._finished(task, result, progress)

    def _lanes(self) -> int:
        """Small files one task uploads at once: the worker's ``concurrency`` shared by its threads."""
        client: Any = self.dask_client
        counts: Dict[str, int] = client.nthreads()
        per_worker = max((int(count) for count in counts.values()), default=1)
        return max(1, math.ceil(self.config.concurrency / max(1, per_worker)))


def split_runs(numbers: Sequence[T], length: int) -> List[Tuple[T, ...]]:
    """``numbers`` cut into consecutive runs of at most ``length`` (each run reads one stretch of the file)."""
    if length < 1:
        raise ValueError("length must be at least 1")
    return [tuple(numbers[start : start + length]) for start in range(0, len(numbers), length)]


def task_prefix(session: UploadSession, nonce: str) -> str:
    """``cos-part-<hash>``: the task names of one call (the bucket, key and upload id are hashed out of them)."""
    return _hashed_name("cos-part-", session.endpoint, session.bucket, session.key, session.upload_id, nonce)


def files_task_prefix(endpoint: str, bucket: str, prefix: str, nonce: str) -> str:
    """``cos-files-<hash>``: the task names of one directory call (bucket and key prefix hashed out)."""
    return _hashed_name("cos-files-", endpoint, bucket, prefix, nonce)


def _hashed_name(kind: str, *parts: str) -> str:
    text = "\0".join(parts)
    return kind + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _run_length(pending: int, threads: int, asked: Optional[int]) -> int:
    if asked is not None:
        return asked
    # At least two runs per thread when there are enough parts, so a slow worker does not hold the tail.
    return max(1, min(DEFAULT_PARTS_PER_TASK, math.ceil(pending / (2 * max(1, threads)))))


def _cluster_threads(dask_client: "Client") -> int:
    client: Any = dask_client  # distributed's nthreads() is not annotated
    counts: Dict[str, int] = client.nthreads()
    return max(1, sum(int(count) for count in counts.values()))


def _check_task_retries(task_retries: object) -> None:
    """The one rule of ``task_retries`` for every cluster operation (uploads, copies, downloads)."""
    if isinstance(task_retries, bool) or not isinstance(task_retries, int) or not 0 <= task_retries <= 100:
        raise CosValidationError("task_retries", task_retries, "an integer 0..100")


def _check_settings(
    settings: UploadConfig, parts_per_task: Optional[int], task_retries: int, *, per_task_name: str = "parts_per_task"
) -> None:
    if not isinstance(settings, UploadConfig):
        raise CosValidationError("upload_config", type(settings).__name__, "an UploadConfig")
    if parts_per_task is not None and (
        isinstance(parts_per_task, bool) or not isinstance(parts_per_task, int) or parts_per_task < 1
    ):
        raise CosValidationError(per_task_name, parts_per_task, "None or a positive integer")
    _check_task_retries(task_retries)
    if settings.bandwidth_limit is not None:
        raise CosValidationError(
            "bandwidth_limit", settings.bandwidth_limit, "None on a cluster (use traffic_limit, applied per request)"
        )
    if settings.sse_c is not None:
        raise CosValidationError(
            "options.encryption", "SseC(<redacted>)", "SSE-COS, SSE-KMS or none on a cluster (an SSE-C key would travel in tasks)"
        )


# --- server-side copy on a cluster ---------------------------------------------------------------------------


def copy_object_on_cluster(
    dask_client: "Client",
    config: ClientConfig,
    source: Union[CopySource, str],
    key: str,
    *,
    metadata_directive: MetadataDirective = "Copy",
    options: Optional[ObjectOptions] = None,
    storage_class: Optional[StorageClass] = None,
    acl: Optional[Acl] = None,
    tagging: Tagging = None,
    encryption: EncryptionLike = None,
    traffic_limit: Optional[int] = None,
    forbid_overwrite: Optional[bool] = None,
    part_size: Optional[int] = None,
    threshold: Optional[int] = None,
    resume: bool = True,
    checkpoint_dir: Optional[PathLike] = None,
    abort_on_failure: bool = False,
    parts_per_task: Optional[int] = None,
    task_retries: int = DEFAULT_TASK_RETRIES,
    progress: Optional[ProgressCallback] = None,
    store: Optional[CheckpointStore] = None,
) -> CopyResult:
    """:func:`cos_multipart.copy_object` with the part copies sent by the cluster's workers (the same machine,
    checks, checkpoint and result; the HEADs, Initiate and Complete are sent from here). The destination is
    ``config``'s bucket; SSE-C (source or destination) is refused: its key would travel in tasks.

    Raises:
        CosValidationError: Bad arguments (nothing sent).
        SourceChangedError / CosIntegrityError / ObjectExistsError: as for :func:`cos_multipart.copy_object`.
    """
    if not isinstance(dask_client, distributed.Client):
        raise CosValidationError("dask_client", type(dask_client).__name__, "a distributed.Client of the cluster")
    if not isinstance(config, ClientConfig):
        raise CosValidationError("config", type(config).__name__, "a cos_multipart.remote.ClientConfig")
    _check_settings(UploadConfig(), parts_per_task, task_retries)
    given = {
        "options": options, "storage_class": storage_class, "acl": acl, "tagging": tagging, "encryption": encryption, "part_size": part_size,
        "concurrency": _cluster_threads(dask_client), "threshold": DEFAULT_COPY_THRESHOLD if threshold is None else threshold,
        "metadata_directive": metadata_directive, "source_sse_c": None, "traffic_limit": traffic_limit,
        "forbid_overwrite": forbid_overwrite, "resume": resume, "checkpoint_dir": checkpoint_dir,
        "abort_on_failure": abort_on_failure, "progress": progress, "store": store,
    }  # fmt: skip
    with config.client(pool_size=2) as client:
        settings, resolved, checkpoints = prepare_copy(client, source, key, given)
        if settings.sse_c is not None:
            raise CosValidationError("encryption", "SseC(<redacted>)", "SSE-COS, SSE-KMS or none on a cluster (an SSE-C key would travel in tasks)")
        head_client = source_client_of(client, resolved, CosClient)
        try:
            run = _ClusterCopy(client, head_client, settings, checkpoints, resolved, key, progress)
            run.on_cluster(dask_client, config, parts_per_task, task_retries)
            return run.run()
        finally:
            if head_client is not client:
                head_client.close()


class _ClusterCopy(_DaskParts, Copy):
    """The threaded copy executor with its part copies sent by Dask tasks
    (:func:`~cos_multipart.remote.copy_part_attempts`); every answer goes back to the copy machine."""

    task_noun = "part copy"

    def on_cluster(self, dask_client: "Client", config: ClientConfig, parts_per_task: Optional[int], retries: int) -> None:
        self._on_cluster(dask_client, config, retries)
        self.parts_per_task = parts_per_task

    def run(self) -> CopyResult:
        machine = CopyMachine.copy(self.start(window=0))  # every part at once: the tasks are the bound
        self.execute(machine)
        return machine.result(time.monotonic() - self.started)

    def start_parts(self, parts: List[Any]) -> None:
        ordered = sorted(parts, key=lambda action: action.number)
        runs = split_runs(ordered, _run_length(len(ordered), _cluster_threads(self.dask_client), self.parts_per_task))
        prefix = _hashed_name("cos-copy-", self.client_config.bucket, self.key, ordered[0].upload_id, self.nonce)
        for run in runs:
            copies = tuple((a.upload_id, a.number, a.offset, a.length, a.etag) for a in run)
            self._submit(
                remote.copy_part_attempts, self.client_config, self.key, self.source, copies, self.config.traffic_limit,
                key=f"{prefix}-{run[0].number}", actions=run,
            )  # fmt: skip

    def _task_outcomes(self, actions: List[Any], result: Any) -> List[Tuple[Any, object]]:
        by_number = {part.number: part for part in result}
        outcomes: List[Tuple[Any, object]] = []
        for action in actions:
            part = by_number[action.number]
            outcomes.append((action, PartResult(part.number, part.etag, part.crc64, action.length, ResponseInfo(200, part.request_id))))
        return outcomes


# --- downloads: ranges fetched by the workers into a temporary file on a shared file system -------------------


def download_file_on_cluster(
    dask_client: "Client",
    config: ClientConfig,
    key: str,
    path: PathLike,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    attempts: int = DEFAULT_PART_ATTEMPTS,
    resume: bool = True,
    traffic_limit: Optional[int] = None,
    task_retries: int = DEFAULT_TASK_RETRIES,
    progress: Optional[ProgressCallback] = None,
) -> DownloadResult:
    """Download ``key`` to ``path`` with its ranges fetched by the cluster's workers, verified as by
    :func:`~cos_multipart.download_file`.

    This process does the HEAD, the lock, the temporary file beside ``path``, the checkpoint and the check of the
    object's CRC-64 (the download machine's); each worker opens the temporary file at the same path (a shared file
    system), writes its ranges there with ``pwrite`` and fsyncs them, and returns their lengths and CRC-64s, which
    the machine judges as for threads. At most the cluster's threads ranges are in flight. SSE-C is refused (its
    key would travel in tasks), as is a bandwidth cap (one process's).
    """
    _check_task_retries(task_retries)
    if not isinstance(dask_client, distributed.Client):
        raise CosValidationError("dask_client", type(dask_client).__name__, "a distributed.Client of the cluster")
    if not isinstance(config, ClientConfig):
        raise CosValidationError("config", type(config).__name__, "a cos_multipart.remote.ClientConfig")
    threads = _cluster_threads(dask_client)
    start = check_start(key, path, part_size, max(1, threads), attempts, resume, None)
    options = check_options(None, traffic_limit, None, progress)
    with config.client(pool_size=2) as client:
        return _ClusterDownload(client, start, options, progress, dask_client, config, task_retries).run()


class _ClusterDownload(_DaskParts, Download):
    """The threaded download executor with its ranges fetched by Dask tasks (one range each)."""

    task_noun = "range"

    def __init__(
        self, client: Any, start: DownloadStart, options: DownloadOptions, progress: Optional[ProgressCallback],
        dask_client: "Client", config: ClientConfig, task_retries: int,
    ) -> None:  # fmt: skip
        super().__init__(client, start, options, progress)
        self._on_cluster(dask_client, config, task_retries)

    def start_parts(self, parts: List[FetchRange]) -> None:
        for action in parts:
            self._submit(
                remote.fetch_ranges, self.client_config, self.start.key, self.start.path, [action], self.options.traffic_limit,
                key=f"cos-download-{self.nonce}-{action.index}-{action.attempt}", actions=[action],
            )  # fmt: skip

    def _task_outcomes(self, actions: List[FetchRange], result: Any) -> List[Tuple[Any, object]]:
        return [(actions[0], result[0])]
