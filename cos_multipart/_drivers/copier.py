"""Server-side copy of any size, verified and resumable: :func:`copy_object` (threads) and
:func:`async_copy_object` (asyncio).

Up to ``threshold`` one PUT Object - Copy; above it Initiate, Upload Part - Copy in parallel and Complete. Every
request names the source pinned to the ETag its HEAD answered (``x-cos-copy-source-if-match``), so a source
replaced mid-copy fails cleanly (:class:`~cos_multipart._protocol.errors.SourceChangedError`, the upload aborted);
the parts' CRC-64 values are combined and compared with the source's before Complete, and the destination's
size and CRC-64 with the source's after it. Everything given is validated before any request.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple, Union

from .._core._config import DEFAULT_CONCURRENCY
from .._core._copyvalues import DEFAULT_COPY_THRESHOLD, CopyConfig, CopyResult
from .._core._decisions import check_progress, check_store
from .._core.progress import ProgressCallback
from .._io.checkpoint import CheckpointStore
from .._io.client import CosClient
from .._protocol.copy_ops import CopySource, MetadataDirective
from .._protocol.endpoint import validate_key
from .._protocol.errors import CosValidationError
from .._protocol.options import Acl, ObjectOptions, StorageClass, Tagging, resolve
from .._protocol.sse import EncryptionLike
from .copying import Copy, source_client_of

__all__ = ["CopyConfig", "CopyResult", "CopySource", "copy_object", "prepare_copy"]


def prepare_copy(client: Any, source: Union[CopySource, str], key: str, given: Mapping[str, Any]) -> Tuple[CopyConfig, CopySource, CheckpointStore]:
    """The configuration, the resolved source and the checkpoint store of a copy (``given``: the public
    function's arguments), all validated before any request.

    Raises:
        CosValidationError: Any argument that cannot work, naming it.
    """
    validate_key(key, max_bytes=client.dialect.max_key_bytes)
    if isinstance(source, str):
        source = CopySource(source)
    if not isinstance(source, CopySource):
        raise CosValidationError("source", type(source).__name__, "a CopySource or a key in the client's bucket")
    if source.version_id is not None:
        raise CosValidationError("source", str(source), "the current version (copy_object pins the source by the ETag its HEAD answers; "
                                 "copy one version with client.copy_object / upload_part_copy)")  # fmt: skip
    resolved = source.resolved(client.bucket, client.region)
    options = resolve(given.get("options"), given)
    config = CopyConfig(
        part_size=given["part_size"], concurrency=given["concurrency"], threshold=given["threshold"],
        metadata_directive=given["metadata_directive"], options=options, source_sse_c=given["source_sse_c"],
        traffic_limit=given["traffic_limit"], forbid_overwrite=given["forbid_overwrite"], resume=given["resume"],
        checkpoint_dir=given["checkpoint_dir"], abort_on_failure=given["abort_on_failure"],
    )  # fmt: skip
    dialect = client.dialect
    if not dialect.supports_sse_c and (config.source_sse_c is not None or config.sse_c is not None):
        raise CosValidationError("source_sse_c" if config.source_sse_c is not None else "encryption", "SseC", f"{dialect.service} has no SSE-C")
    if dialect.name != "cos" and resolved.region != client.region:
        raise CosValidationError("source region", resolved.region, f"{client.region}: {dialect.service} copies within a region")
    if (resolved.bucket, resolved.key) == (client.bucket, key) and config.metadata_directive == "Copy":
        raise CosValidationError("metadata_directive", "Copy", "'Replaced' for a copy onto itself (a Copy would change nothing)")
    check_progress(given.get("progress"))
    store = given.get("store")
    check_store(store)
    return config, resolved, store if store is not None else CheckpointStore(config.checkpoint_dir)


def copy_object(
    client: CosClient,
    source: Union[CopySource, str],
    key: str,
    *,
    source_client: Optional[CosClient] = None,
    metadata_directive: MetadataDirective = "Copy",
    options: Optional[ObjectOptions] = None,
    content_type: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    storage_class: Optional[StorageClass] = None,
    acl: Optional[Acl] = None,
    tagging: Tagging = None,
    encryption: EncryptionLike = None,
    source_sse_c: EncryptionLike = None,
    traffic_limit: Optional[int] = None,
    forbid_overwrite: Optional[bool] = None,
    part_size: Optional[int] = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    threshold: int = DEFAULT_COPY_THRESHOLD,
    resume: bool = True,
    checkpoint_dir: Optional[str] = None,
    abort_on_failure: bool = False,
    progress: Optional[ProgressCallback] = None,
    store: Optional[CheckpointStore] = None,
) -> CopyResult:
    """Copy ``source`` to ``key`` in ``client``'s bucket on the service side, any size, verified.

    Args:
        client: The destination's client.
        source: The object copied: a :class:`CopySource` (another bucket, another region on COS) or a key in
            ``client``'s bucket.
        key: The destination key.
        source_client: The client that HEADs the source (default: ``client`` for its own bucket, else one
            like it for the source's bucket and region).
        metadata_directive: ``"Copy"`` keeps the source's content type and metadata; ``"Replaced"`` takes
            the options given.
        options: The destination's options (:class:`ObjectOptions`), or the keyword options below.
        content_type: With ``"Replaced"``.
        metadata: ``x-cos-meta-*``, with ``"Replaced"``.
        storage_class: The destination's storage class (``"Copy"``: STANDARD unless given).
        acl: The destination's ACL.
        tagging: The destination's tags.
        encryption: The destination's encryption (SSE-COS, SSE-KMS, SSE-C).
        source_sse_c: The source's SSE-C key (COS).
        traffic_limit: Server-side cap per copy request, bit/s.
        forbid_overwrite: Refuse to replace an object at ``key`` (:class:`ObjectExistsError`).
        part_size: Bytes per part copy (default 64 MB, grown for 10,000 parts).
        concurrency: Part copies in flight at most.
        threshold: Sources up to this size are copied in one request (at most 5 GB; OSS: 1 GB).
        resume: Keep a checkpoint of a multipart copy; a run after a crash copies only the missing parts.
        checkpoint_dir: Where checkpoints live.
        abort_on_failure: Abort a failed multipart copy instead of keeping it for a resume.
        progress: Called with a :class:`ProgressEvent` as bytes are copied (part by part).
        store: Checkpoint storage (default: one in ``checkpoint_dir``).

    Returns:
        The verified copy (:class:`CopyResult`: size, ETag, CRC-64, whether the CRC-64 was compared with the
        source's: a source without one is said so, not silently trusted).

    Raises:
        CosValidationError: An argument that cannot work (nothing sent).
        SourceChangedError: The source was replaced during the copy (nothing completed, nothing left).
        CosIntegrityError: The destination is not the source (the wrong object deleted).
        ObjectExistsError: ``forbid_overwrite`` and ``key`` holds an object.
    """
    config, resolved, chosen_store = prepare_copy(client, source, key, locals())
    head_client = source_client if source_client is not None else source_client_of(client, resolved, CosClient)
    try:
        return Copy(client, head_client, config, chosen_store, resolved, key, progress).run()
    finally:
        if head_client is not client and source_client is None:
            head_client.close()
