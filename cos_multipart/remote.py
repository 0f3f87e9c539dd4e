"""What another machine needs to send parts of an upload: a picklable client configuration and the worker step.

The session core is engine-neutral (:class:`~cos_multipart._core.session.UploadSession` pickles, holds no secret);
what a worker on another machine still needs is a client, and a client holds credentials. This module keeps
the two apart:

* :class:`ClientConfig` says how to build a :class:`~cos_multipart._io.client.CosClient` (bucket, region,
  endpoint, TLS, timeouts, retries) and where its credentials come FROM, never what they are: an
  :class:`EnvCredentials` names environment variables read on each machine, a :class:`FactoryCredentials`
  names a function each machine calls to build its own provider (an STS provider that refreshes itself on
  every worker). Its ``repr`` is what a scheduler, a dashboard or a log shows: no secret can be in it.
* :func:`send_parts` is what a worker runs: open the shared file itself, check it is the file the upload
  started from, send a run of parts, each a run of :func:`~cos_multipart.upload_part` (the upload machine's
  own attempt-and-verify rules), and return their receipts. :func:`worker_client` keeps one client per configuration in each process.
* :func:`upload_files` is a worker's share of a directory upload: a batch of files, each decided (sync)
  and uploaded by the same code as a local directory run, through request slots shared by every task of
  the process (at most ``concurrency`` requests at once per process); one result per file, never raising
  for a file's own failure.

The Dask driver (:mod:`cos_multipart.cluster`) is built on these; so can a Ray task or a ``torch.distributed``
rank (see docs/cluster.md). Nothing here imports an engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle  # nosec B403: only pickles our own configuration values, to key a per-process cache and to check them
import pickletools
import sys
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Protocol, Sequence, Tuple, Union, runtime_checkable

from ._core._config import UploadConfig
from ._drivers._dirrun import FileResult, FileSender, FileTask
from ._io._slots import RequestSlots
from ._core._partvalues import PartDigest
from ._io._sources import BodyOptions, FileSource, open_source
from ._io.client import CosClient
from ._protocol.credentials import COS_ENV, Credentials, CredentialsLike, CredentialsProvider, as_provider
from ._protocol.dialect import dialect_of
from ._protocol.endpoint import Endpoint
from ._protocol.errors import CosCredentialsError, CosValidationError, SourceChangedError
from ._core._decisions import client_dialect, worker_file_change
from ._core._actions import SendPart
from ._drivers.threads import client_call
from ._core._outcomes import Sent
from ._drivers._steps import part_step
from ._core.parts import DEFAULT_PART_ATTEMPTS, Answer
from ._protocol.retry import RetryPolicy, policy_with
from ._core.session import FileIdentity, PartReceipt, UploadSession
from ._io.transport import DEFAULT_ANSWER_DEADLINE, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, Timeout, validate_timeout

if TYPE_CHECKING:
    from ._protocol.copy_ops import CopySource

logger = logging.getLogger(__name__)

__all__ = [
    "ClientConfig",
    "CredentialSource",
    "EnvCredentials",
    "FactoryCredentials",
    "FilesJob",
    "PartJob",
    "PartAttempt",
    "PartAttempts",
    "SentPart",
    "send_part_attempts",
    "send_parts",
    "upload_files",
    "worker_client",
]


@runtime_checkable
class CredentialSource(Protocol):
    """Where a machine gets its credentials: a value that names the source and never holds the secret."""

    def provider(self) -> CredentialsProvider:
        """Build this machine's credentials provider (called once per process and configuration)."""


@dataclass(frozen=True)
class EnvCredentials:
    """Credentials read from environment variables of the machine that builds the client.

    Each worker reads its own environment (set it in the worker's service unit, container spec, or
    ``LocalCluster(env=...)``); the task carries only the variable names.

    Attributes:
        secret_id: Name of the variable holding the SecretId.
        secret_key: Name of the variable holding the SecretKey.
        token: Name of the variable holding the STS session token (optional; unset means none).
    """

    # Names of variables, not secrets.
    secret_id: str = "COS_SECRET_ID"  # noqa: S105
    secret_key: str = "COS_SECRET_KEY"  # noqa: S105
    token: Optional[str] = "COS_SECURITY_TOKEN"  # noqa: S105

    def __post_init__(self) -> None:
        for field_name in ("secret_id", "secret_key", "token"):
            value = getattr(self, field_name)
            if value is None and field_name == "token":
                continue
            if not isinstance(value, str) or not value or "=" in value or "\0" in value:
                raise CosValidationError(f"EnvCredentials.{field_name}", value, "the name of an environment variable")

    def provider(self) -> CredentialsProvider:
        """Static credentials read from this process's environment now.

        Raises:
            CosCredentialsError: A variable is not set (the message names it, never a value).
        """
        secret_id = os.environ.get(self.secret_id, "")
        secret_key = os.environ.get(self.secret_key, "")
        if not secret_id or not secret_key:
            missing = [name for name, value in ((self.secret_id, secret_id), (self.secret_key, secret_key)) if not value]
            raise CosCredentialsError(f"no credentials on this machine: {' and '.join(missing)} not set")
        token = os.environ.get(self.token, "") if self.token is not None else ""
        return as_provider(Credentials(secret_id, secret_key, token or None))


@dataclass(frozen=True)
class FactoryCredentials:
    """Credentials built on each machine by calling ``factory()``: the way to give workers STS credentials.

    ``factory`` travels with every task, so it must carry nothing but its name: a function (or class) defined
    at the top level of an importable module (not ``__main__``, which Dask pickles by value with the globals
    it uses), which pickles as ``module.qualified_name`` and nothing else. Refused: :func:`functools.partial`
    (its arguments travel), lambdas and nested functions (closures and defaults travel by value), bound
    methods (their object travels), callable instances (their state travels). A factory that needs settings
    reads them on the machine it runs on (environment variables, a file). It returns what
    :class:`~cos_multipart._io.client.CosClient` accepts as credentials; return a
    :class:`~cos_multipart._protocol.credentials.RefreshingCredentials` that fetches temporary credentials (from an
    instance role, a vault, a file an agent rotates) and each worker refreshes its own before they expire.

    Attributes:
        factory: Called once per process to build the provider.

    Raises:
        CosValidationError: ``factory`` is not referenced by name alone (the message says what would travel).
    """

    factory: Callable[[], CredentialsLike]

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise CosValidationError("FactoryCredentials.factory", type(self.factory).__name__, "a callable")
        if isinstance(self.factory, Credentials):
            raise CosValidationError("FactoryCredentials.factory", "Credentials", "a callable that builds credentials")
        _check_named_only(self.factory)

    def provider(self) -> CredentialsProvider:
        """The provider ``factory`` builds on this machine."""
        return as_provider(self.factory())

    def __repr__(self) -> str:
        return f"FactoryCredentials({_callable_name(self.factory)})"


@dataclass(frozen=True)
class ClientConfig:
    """How each machine builds its own :class:`~cos_multipart._io.client.CosClient`: a picklable value, no secret.

    Attributes:
        bucket: ``<BucketName>-<APPID>``.
        region: e.g. ``"ap-guangzhou"``.
        credentials: Where each machine gets credentials (:class:`EnvCredentials`, :class:`FactoryCredentials`,
            or :func:`cos_multipart.cluster.install_credentials`'s value); never a
            :class:`~cos_multipart._protocol.credentials.Credentials` (it would travel in every task).
        endpoint: A base URL (the local server, a custom domain), or ``None`` for the bucket's COS endpoint.
        verify: TLS verification: ``True``, ``False`` or a CA bundle path that exists on every machine.
        timeout: Seconds, or ``(connect, read)``.
        retry: The client's retry policy (``None``: the default).
        retry_time: Seconds each request may go on retrying after its first failure (``None``: ``retry``'s).
        max_attempts: Tries per request in all (``None``: ``retry``'s).
        dialect: ``"cos"`` (Tencent COS) or ``"oss"`` (Aliyun OSS). With ``"oss"`` and the default
            :class:`EnvCredentials`, each machine reads OSS's variables (``OSS_ACCESS_KEY_ID``,
            ``OSS_ACCESS_KEY_SECRET``, ``OSS_SESSION_TOKEN``) instead of COS's.
        answer_deadline: Seconds an attempt may take to deliver its whole answer once its request is written
            (``None``: no limit), as :class:`~cos_multipart._io.client.CosClient`'s: an answer trickled byte by
            byte resets the read timeout, this ends it (a timeout the retry policy retries).
    """

    bucket: str
    region: str
    credentials: CredentialSource = EnvCredentials()
    endpoint: Optional[str] = None
    verify: Union[bool, str] = True
    timeout: Optional[Timeout] = DEFAULT_TIMEOUT
    retry: Optional[RetryPolicy] = None
    dialect: str = "cos"
    answer_deadline: Optional[float] = DEFAULT_ANSWER_DEADLINE
    retry_time: Optional[float] = None
    max_attempts: Optional[int] = None

    def __post_init__(self) -> None:
        spoken = dialect_of(self.dialect)  # a name travels in tasks; the Dialect holds a signer function
        object.__setattr__(self, "dialect", spoken.name)
        if self.credentials == EnvCredentials() and spoken.credential_env != COS_ENV:
            (secret_id, *_), (secret_key, *_), (token, *_) = spoken.credential_env
            object.__setattr__(self, "credentials", EnvCredentials(secret_id, secret_key, token))
        if isinstance(self.credentials, Credentials) or not isinstance(self.credentials, CredentialSource):
            raise CosValidationError(
                "credentials",
                type(self.credentials).__name__,
                "a credential source (EnvCredentials, FactoryCredentials, or install_credentials(...)), "
                "never the credentials themselves: they would travel in every task",
            )
        if type(self.credentials) not in _NAMING_SOURCES:
            # Another source class may hold anything in its state, and that state travels with every task.
            raise CosValidationError(
                "credentials",
                type(self.credentials).__name__,
                "EnvCredentials, FactoryCredentials or install_credentials(...)'s value: sources that only name "
                "where credentials come from (another source's state would travel in every task)",
            )
        Endpoint.build(self.bucket, self.region, self.endpoint, dialect=spoken)  # validates bucket, region, endpoint
        validate_timeout(self.timeout)
        if not isinstance(self.verify, (bool, str)):
            raise CosValidationError("verify", type(self.verify).__name__, "True, False or a CA bundle path")
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise CosValidationError("retry", type(self.retry).__name__, "a RetryPolicy or None")
        object.__setattr__(self, "answer_deadline", validate_timeout(self.answer_deadline, "answer_deadline"))
        policy_with(self.retry, retry_time=self.retry_time, max_attempts=self.max_attempts)  # validates them

    def client(self, *, pool_size: int = DEFAULT_POOL_SIZE) -> CosClient:
        """A new client on this machine, with credentials from :attr:`credentials`.

        Raises:
            CosCredentialsError: This machine has no credentials from that source.
        """
        return CosClient(
            self.bucket, self.region, self.credentials.provider(), endpoint=self.endpoint, retry=self.retry,
            timeout=self.timeout, pool_size=pool_size, verify=self.verify, dialect=self.dialect,
            answer_deadline=self.answer_deadline,
            retry_time=self.retry_time, max_attempts=self.max_attempts,
        )  # fmt: skip

    def __repr__(self) -> str:
        endpoint = f", endpoint={self.endpoint!r}" if self.endpoint is not None else ""
        dialect = f", dialect={self.dialect!r}" if self.dialect != "cos" else ""
        return f"ClientConfig(bucket={self.bucket!r}, region={self.region!r}, credentials={self.credentials!r}{endpoint}{dialect})"


#: The credential sources a :class:`ClientConfig` takes: each holds only where credentials come from.
#: (``cos_multipart.cluster`` adds its ``PluginCredentials``: this module imports no engine.)
_NAMING_SOURCES: List[type] = [EnvCredentials, FactoryCredentials]


def _accept_source(kind: type) -> None:
    """Let :class:`ClientConfig` take ``kind`` as a credential source (one that holds no secret)."""
    if kind not in _NAMING_SOURCES:
        _NAMING_SOURCES.append(kind)


@dataclass(frozen=True)
class PartJob:
    """How a worker sends parts: the transfer settings of :class:`~cos_multipart.UploadConfig` that apply there.

    Attributes:
        traffic_limit: ``x-cos-traffic-limit`` per part request, bit/s.
        verify_md5: Also check ETags against the MD5 of the bytes sent (where the ETag is an MD5).
        part_attempts: Sends of a part whose checksums disagree (:func:`send_parts`; the cluster's
            :func:`send_part_attempts` sends once: the caller's upload machine judges and asks again).
        pool_size: Connections the worker's client keeps (its threads share it).
    """

    traffic_limit: Optional[int] = None
    verify_md5: bool = True
    part_attempts: int = DEFAULT_PART_ATTEMPTS
    pool_size: int = DEFAULT_POOL_SIZE


@dataclass(frozen=True)
class SentPart:
    """A part a worker sent and verified: its receipt and the request ids that made it.

    Attributes:
        receipt: Number, ETag, size and CRC-64, to record in the caller's checkpoint.
        request_ids: ``x-cos-request-id`` of every attempt.
    """

    receipt: PartReceipt
    request_ids: Tuple[str, ...]


@dataclass(frozen=True)
class PartAttempt:
    """ONE attempt at a part on a worker: the digest of the bytes it sent and the service's answer (the caller's
    upload machine judges them, and asks again on a mismatch).

    Attributes:
        number: The part number.
        digest: CRC-64 (and MD5 when asked) of the bytes sent.
        answer: ETag, CRC-64 and request id the service answered.
    """

    number: int
    digest: PartDigest
    answer: Answer


@dataclass(frozen=True)
class PartAttempts:
    """What one task did: the file's identity on this worker (the caller checks it is the file the upload
    started from) and one :class:`PartAttempt` per part, in order."""

    identity: FileIdentity
    parts: Tuple[PartAttempt, ...]


@dataclass(frozen=True)
class FilesJob:
    """How a worker uploads a batch of files of a directory upload.

    Attributes:
        upload_config: Every file's upload settings; ``concurrency`` bounds the requests in flight in the
            worker process across all its tasks, ``checkpoint_dir`` is where the large files' checkpoints
            are (as the worker sees the path).
        sync: Skip files the object already holds (same size and CRC-64).
        dry_run: Decide, send nothing.
        lanes: Small files one task uploads at once (default ``upload_config.concurrency``); the process's
            request slots bound the requests whatever the number of tasks.
    """

    upload_config: UploadConfig = UploadConfig()
    sync: bool = False
    dry_run: bool = False
    lanes: Optional[int] = None


_clients: Dict[bytes, CosClient] = {}
_slots: Dict[bytes, RequestSlots] = {}
_clients_lock = threading.Lock()


def worker_client(config: ClientConfig, *, pool_size: int = DEFAULT_POOL_SIZE) -> CosClient:
    """This process's client for ``config``, built on first use (so credentials are resolved here, once).

    A refreshing provider built by a :class:`FactoryCredentials` therefore lives as long as the process and
    refreshes on it. Threads of the process share the client.
    """
    # Keyed by the pickled value: equal configurations that arrive in separate tasks are separate objects,
    # and a factory (a partial) may not hash by value.
    token = pickle.dumps((config, pool_size))
    with _clients_lock:
        client = _clients.get(token)
        if client is None:
            client = config.client(pool_size=pool_size)
            _clients[token] = client
        return client


def worker_slots(config: ClientConfig, limit: int) -> RequestSlots:
    """This process's request slots for ``config``: every directory task of the process sends through them."""
    token = pickle.dumps((config, limit))
    with _clients_lock:
        slots = _slots.get(token)
        if slots is None:
            slots = _slots[token] = RequestSlots(limit)
        return slots


def upload_files(config: ClientConfig, tasks: Sequence[FileTask], job: Optional[FilesJob] = None) -> List[FileResult]:
    """Upload (or, for a sync, decide and upload) the files of ``tasks``, as a worker does.

    Each file is opened here under the caller's tree (a shared file system), one name at a time without
    following a link the caller's walk did not follow, and must be the file that walk saw (its inode; a file
    written since is read afresh, one written while read twice fails); it is uploaded with
    :class:`~cos_multipart._drivers.uploader.Uploader`: small files in one verified PUT, large ones in verified parts
    with a checkpoint in ``job.upload_config.checkpoint_dir``, resumed when one is there. A file that fails
    is a :class:`~cos_multipart._drivers.directory.FailedFile` result; the others go on.

    Args:
        config: How to build this machine's client.
        tasks: The files, with their keys (and, for a sync, what the listing said).
        job: Upload settings.

    Returns:
        One result per task, in the order of ``tasks``.

    Raises:
        CosCredentialsError: This machine has no credentials from ``config``'s source.
    """
    settings = job if job is not None else FilesJob()
    limit = settings.upload_config.concurrency
    client = worker_client(config, pool_size=limit)
    sender = FileSender(
        client, settings.upload_config, sync=settings.sync, dry_run=settings.dry_run, slots=worker_slots(config, limit),
        owns_slots=False,
    )  # fmt: skip
    results: Dict[int, FileResult] = {}
    position = {id(task): index for index, task in enumerate(tasks)}

    def finished(task: FileTask, result: Optional[FileResult]) -> None:
        if result is not None:
            results[position[id(task)]] = result

    logger.debug("handling %d files with %r", len(tasks), config)
    sender.run(tasks, finished, small_lanes=settings.lanes)
    return [results[index] for index in range(len(tasks))]


def send_parts(
    config: ClientConfig, session: UploadSession, numbers: Sequence[int], job: Optional[PartJob] = None
) -> List[SentPart]:
    """Send parts ``numbers`` of ``session`` from the file at ``session.source``, as a worker does.

    The file is opened here (it must be at the same path on every machine: a shared file system), and it must
    still be the file the upload started from (size and modification time; device numbers differ between
    machines mounting the same share, so they are not compared).

    Args:
        config: How to build this machine's client.
        session: The upload (its receipts are not needed: pass it without them to keep tasks small).
        numbers: Part numbers to send, in order.
        job: Transfer settings.

    Returns:
        One :class:`SentPart` per number, in order.

    Raises:
        SourceChangedError: The file here is not the one the upload started from.
        CosIntegrityError: A part's checksums disagreed on every attempt.
        CosServiceError / CosTransportError: A request failed after the client's retries.
    """
    settings = job if job is not None else PartJob()
    with _shared_file(config, session, settings, numbers) as (client, source):
        changed = worker_file_change(session, source.identity)  # the rule the upload machine applies too
        if changed is not None:
            raise changed
        request_config = UploadConfig(traffic_limit=settings.traffic_limit)
        sent: List[SentPart] = []
        for number in numbers:
            receipt, request_ids = part_step(
                client, session, number, source, request_config, verify_md5=settings.verify_md5,
                attempts=settings.part_attempts,
            )  # fmt: skip
            sent.append(SentPart(receipt, tuple(request_ids)))
        return sent


@contextlib.contextmanager
def _shared_file(
    config: ClientConfig, session: UploadSession, settings: PartJob, numbers: Sequence[int]
) -> Iterator[Tuple[CosClient, FileSource]]:
    """This worker's client and the upload's file opened at its path here (closed after)."""
    if session.source is None or session.identity is None:
        raise CosValidationError("session.source", session.source, "the path of a file, recorded with its identity")
    client = worker_client(config, pool_size=settings.pool_size)
    source = open_source(session.source)
    try:
        if not isinstance(source, FileSource):
            raise SourceChangedError(f"{session.source} is no longer a regular file", path=session.source)
        logger.debug("sending parts %s of upload %s with %r", _span(numbers), session.upload_id, config)
        yield client, source
    finally:
        source.close()


def send_part_attempts(
    config: ClientConfig, session: UploadSession, parts: Sequence[Tuple[int, int, int]], job: Optional[PartJob] = None
) -> PartAttempts:
    """Send once each part ``(number, offset, length)`` of ``session`` from the file at ``session.source``.

    The file is opened here (it must be at the same path on every machine: a shared file system); its identity
    here is reported with the answers, and the caller decides whether it is still the file the upload started
    from. Nothing is judged here: a part whose checksums disagree is asked for again by the caller.

    Args:
        config: How to build this machine's client.
        session: The upload (its receipts are not needed: pass it without them to keep tasks small).
        parts: ``(number, offset, length)`` of the parts to send, in order.
        job: Transfer settings.

    Raises:
        SourceChangedError: The path is no longer a regular file.
        CosServiceError / CosTransportError: A request failed after the client's retries.
    """
    settings = job if job is not None else PartJob()
    with _shared_file(config, session, settings, [part[0] for part in parts]) as (client, source):
        md5 = settings.verify_md5 and session.etag_is_md5
        request_config = UploadConfig(traffic_limit=settings.traffic_limit)
        sent: List[PartAttempt] = []
        for number, offset, length in parts:
            # The threaded executor's own request: one attempt, judged by the caller's machine.
            part = SendPart(session.upload_id, number, offset, length, md5)
            options = BodyOptions(integrity=client_dialect(client).integrity)
            outcome = client_call(client, session.key, request_config, part, source=source, options=options)
            if not isinstance(outcome, Sent):  # pragma: no cover - a SendPart is answered with Sent
                raise TypeError(f"SendPart answered {type(outcome).__name__}")
            sent.append(PartAttempt(number, outcome.digest, outcome.answer))
        return PartAttempts(source.identity, tuple(sent))


def without_parts(session: UploadSession) -> UploadSession:
    """``session`` without its receipts: what a worker needs, O(1) in size instead of O(parts) per task."""
    return replace(session, parts=())


def _span(numbers: Sequence[int]) -> str:
    if not numbers:
        return "none"
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}..{numbers[-1]}"


def _callable_name(function: Callable[..., object]) -> str:
    inner = getattr(function, "func", function)  # functools.partial
    if not hasattr(inner, "__qualname__"):
        inner = type(inner)  # a callable instance: its class, never its state
    module = getattr(inner, "__module__", None)
    name = getattr(inner, "__qualname__", None) or type(inner).__name__
    return f"{module}.{name}" if module else name


# What a factory may pickle to: a reference by name (the module and qualified name, as strings, then a global
# lookup) and pickle's framing. Anything else (REDUCE, BUILD, tuples, numbers...) is a value travelling along.
_NAME_ONLY_OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "GLOBAL", "STACK_GLOBAL",
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
})  # fmt: skip
_FACTORY_RULE = (
    "a function or class defined at the top level of an importable module (not __main__), referenced by name "
    "alone: partials, lambdas, nested functions, bound methods and callable instances would carry their "
    "arguments, closures, defaults or state into every task; read settings on the worker instead"
)


def _check_named_only(factory: Callable[..., object]) -> None:
    """Refuse a factory whose pickled form carries anything besides its name (it would travel in every task).

    The standard pickler is the judge: Dask uses it first, and falls back to cloudpickle (which pickles
    functions by value, closures, defaults and referenced globals included) for what it cannot pickle and for
    ``__main__``. So a factory is accepted only when the standard pickler writes a bare global reference to a
    module other than ``__main__`` that cloudpickle is not told to pickle by value.
    """
    field = "FactoryCredentials.factory"
    shape = _factory_shape(factory)
    try:
        pickled = pickle.dumps(factory, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any refusal of the pickler: not importable by name
        raise CosValidationError(field, shape, _FACTORY_RULE) from None
    names: List[str] = []
    for opcode, argument, _ in pickletools.genops(pickled):
        if opcode.name not in _NAME_ONLY_OPCODES:
            raise CosValidationError(field, shape, _FACTORY_RULE)
        if isinstance(argument, str):
            names.append(argument)
    module = names[0].split(" ")[0] if names else ""
    by_value = ("__main__", *_pickled_by_value())  # a registered package covers its submodules too
    if any(module == name or module.startswith(name + ".") for name in by_value):
        raise CosValidationError(field, shape, _FACTORY_RULE)


def _pickled_by_value() -> Tuple[str, ...]:
    """Modules cloudpickle was told to pickle by value (``register_pickle_by_value``), if it is loaded."""
    cloudpickle = sys.modules.get("cloudpickle")
    listing = getattr(cloudpickle, "list_registry_pickle_by_value", None)
    return tuple(listing()) if callable(listing) else ()


def _factory_shape(factory: Callable[..., object]) -> str:
    """What ``factory`` is, in words that name no argument, default or state (an error text may show it)."""
    inner = getattr(factory, "func", None)
    if inner is not None and callable(inner):
        return f"functools.partial of {_callable_name(inner)}"
    bound_to = getattr(factory, "__self__", None)
    if bound_to is not None and not isinstance(bound_to, type) and type(bound_to).__name__ != "module":
        return f"method {_callable_name(factory)} bound to a {type(bound_to).__name__}"
    name = _callable_name(factory)
    if not hasattr(factory, "__qualname__"):
        return f"an instance of {name}"
    return name


# --- server-side copy: the worker step of copy_object_on_cluster ---------------------------------------------


@dataclass(frozen=True)
class CopiedPart:
    """ONE Upload Part - Copy a worker sent: the part's number, ETag, CRC-64 (``None``: not answered) and request
    id, for the caller's copy machine to record and judge."""

    number: int
    etag: str
    crc64: Optional[int]
    request_id: str


def copy_part_attempts(
    config: ClientConfig,
    key: str,
    source: "CopySource",
    parts: Sequence[Tuple[str, int, int, int, str]],
    traffic_limit: Optional[int] = None,
) -> Tuple[CopiedPart, ...]:
    """Copy once each part ``(upload_id, number, offset, length, source ETag)`` of the source (bucket and region
    resolved) into ``key``: the threaded copy executor's own request (:func:`~cos_multipart._drivers.copying.copy_call`),
    pinned to the ETag; nothing is judged here. No secret travels: SSE-C is refused on a cluster.

    Raises:
        CosServiceError / CosTransportError: A request failed after the client's retries (412: the source changed).
    """
    from ._core._copyvalues import CopyConfig, CopyPart
    from ._drivers.copying import copy_call
    from ._protocol.models import PartResult

    client = worker_client(config)
    settings = CopyConfig(traffic_limit=traffic_limit)
    copied: List[CopiedPart] = []
    for upload_id, number, offset, length, etag in parts:
        outcome = copy_call(client, client, key, source, settings, CopyPart(upload_id, number, offset, length, etag), None)
        if not isinstance(outcome, PartResult):  # pragma: no cover - a CopyPart is answered with PartResult
            raise TypeError(f"CopyPart answered {type(outcome).__name__}")
        copied.append(CopiedPart(number, outcome.etag, outcome.crc64, outcome.request_id))
    return tuple(copied)
