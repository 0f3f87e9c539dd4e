"""cos-multipart: fast, verified, resumable multipart uploads to Tencent Cloud COS.

The public API is what ``__all__`` lists; everything else may change without notice.
"""

from __future__ import annotations

import importlib

__version__ = "0.8.0"

#: typing.TYPE_CHECKING without importing typing, which the command line's start-up (``--help``) does not need:
#: type checkers take any name ``TYPE_CHECKING`` as true.
TYPE_CHECKING = False
if TYPE_CHECKING:  # type checkers and IDEs see every name; at run time __getattr__ imports on first use
    from typing import Any, Dict, List

    from ._io.checkpoint import Checkpoint, CheckpointStore, VerifiedPart
    from ._protocol.checksum import crc64, crc64_combine
    from ._io.client import CosClient
    from ._io._streams import ObjectStream
    from ._io._transports import HttpTransport
    from ._io._sources import open_source
    from ._io.transport import Transport
    from ._protocol.endpoint import oss_endpoint
    from ._protocol.credentials import Credentials, RefreshingCredentials
    from ._protocol.errors import (
        CosCancelledError,
        CosCredentialsError,
        CosError,
        CosIntegrityError,
        CosResponseError,
        CosServiceError,
        CosTLSError,
        CosTransportError,
        CosValidationError,
        FailureKind,
        KeptUpload,
        ObjectExistsError,
        ResumeError,
        SourceChangedError,
        SourceNotFoundError,
        UploadGoneError,
        UploadLockedError,
        kept_upload_of,
    )
    from ._protocol.models import (
        CompletedPart,
        CompleteResult,
        InitiateResult,
        ObjectResult,
        PartInfo,
        PartResult,
        ResponseInfo,
        UploadInfo,
    )
    from ._protocol.options import ObjectOptions
    from ._core.parts import Completion
    from ._drivers._steps import complete, upload_part
    from ._core.planner import PartPlan, StreamPlan, plan_parts, stream_plan
    from ._core.progress import ProgressEvent
    from ._protocol.retry import RetryPolicy
    from ._io._requests_auth import CosAuth
    from ._core.session import FileIdentity, PartReceipt, UploadSession
    from ._protocol.signer import SignWindow, presign_url, select_headers, sign
    from ._protocol.sse import SseC, SseCos, SseKms
    from ._drivers.uploader import UploadConfig, Uploader, UploadResult, upload_file
    from ._drivers.directory import DirectoryReport, sync_directory, upload_directory
    from ._drivers.verify import VerifyOutcome, VerifyResult, verify
    from ._drivers.check import CheckedPath, CheckReport, CheckStatus, ClassUsage, UsageReport, check_directory, disk_usage
    from ._drivers.copier import CopyResult, CopySource, copy_object
    from ._core._download import DownloadResult
    from ._drivers.download import download_file, download_stream
    from ._protocol.errors import DownloadLockedError, ObjectChangedError, PresignedPartsError
    from ._drivers.presigned import PresignedUploads
    from ._core.presigned import PresignedUpload
    from ._core._presigned_start import PartUrl
    from ._core._presigned_checks import ReportedPart
    from ._core._presigned_flow import PresignedResult

__all__ = [
    "__version__",
    # uploading
    "upload_file",
    "Uploader",
    "UploadConfig",
    "UploadResult",
    "ProgressEvent",
    # downloading
    "download_file",
    "download_stream",
    "DownloadResult",
    "ObjectChangedError",
    "DownloadLockedError",
    # directories
    "upload_directory",
    "sync_directory",
    "DirectoryReport",
    # comparing a file with an object
    "verify",
    "VerifyResult",
    "VerifyOutcome",
    # comparing a directory with a prefix, and what a prefix holds
    "check_directory",
    "CheckReport",
    "CheckedPath",
    "CheckStatus",
    "disk_usage",
    "UsageReport",
    "ClassUsage",
    "PartPlan",
    "plan_parts",
    "StreamPlan",
    "stream_plan",
    "Checkpoint",
    "CheckpointStore",
    "VerifiedPart",
    # the session core (engine-neutral steps any driver runs)
    "UploadSession",
    "PartReceipt",
    "FileIdentity",
    "upload_part",
    "open_source",
    "complete",
    "Completion",
    # client
    "CosClient",
    "HttpTransport",
    "ObjectStream",
    "Transport",
    "oss_endpoint",
    "ObjectOptions",
    "RetryPolicy",
    "SseCos",
    "SseKms",
    "SseC",
    # credentials and signing
    "Credentials",
    "RefreshingCredentials",
    "CosAuth",
    "SignWindow",
    "sign",
    "presign_url",
    "select_headers",
    # checksums
    "crc64",
    "crc64_combine",
    # results
    "CompletedPart",
    "CompleteResult",
    "InitiateResult",
    "ObjectResult",
    "PartInfo",
    "PartResult",
    "ResponseInfo",
    "UploadInfo",
    # errors
    "CosError",
    "CosValidationError",
    "CosCredentialsError",
    "CosTransportError",
    "CosTLSError",
    "CosServiceError",
    "CosResponseError",
    "CosIntegrityError",
    "CosCancelledError",
    "SourceChangedError",
    "SourceNotFoundError",
    "UploadGoneError",
    "FailureKind",
    "UploadLockedError",
    "ObjectExistsError",
    "ResumeError",
    "KeptUpload",
    "kept_upload_of",
    # server-side copy
    "copy_object",
    "CopySource",
    "CopyResult",
    # presigned multipart uploads (issue 26)
    "PresignedUploads",
    "PresignedUpload",
    "PartUrl",
    "ReportedPart",
    "PresignedResult",
    "PresignedPartsError",
]

#: Each public name and the module that defines it: ``import cos_multipart`` loads none of them (the command
#: line's start-up, and applications that use one function, pay only for what they touch; PEP 562).
_LAZY: Dict[str, str] = {
    "Checkpoint": "._io.checkpoint",
    "CheckpointStore": "._io.checkpoint",
    "VerifiedPart": "._io.checkpoint",
    "crc64": "._protocol.checksum",
    "crc64_combine": "._protocol.checksum",
    "CosClient": "._io.client",
    "ObjectStream": "._io._streams",
    "HttpTransport": "._io._transports",
    "open_source": "._io._sources",
    "Transport": "._io.transport",
    "oss_endpoint": "._protocol.endpoint",
    "Credentials": "._protocol.credentials",
    "RefreshingCredentials": "._protocol.credentials",
    "CosCancelledError": "._protocol.errors",
    "CosCredentialsError": "._protocol.errors",
    "CosError": "._protocol.errors",
    "CosIntegrityError": "._protocol.errors",
    "CosResponseError": "._protocol.errors",
    "CosServiceError": "._protocol.errors",
    "CosTLSError": "._protocol.errors",
    "CosTransportError": "._protocol.errors",
    "CosValidationError": "._protocol.errors",
    "FailureKind": "._protocol.errors",
    "KeptUpload": "._protocol.errors",
    "ObjectExistsError": "._protocol.errors",
    "ResumeError": "._protocol.errors",
    "SourceChangedError": "._protocol.errors",
    "SourceNotFoundError": "._protocol.errors",
    "UploadGoneError": "._protocol.errors",
    "UploadLockedError": "._protocol.errors",
    "kept_upload_of": "._protocol.errors",
    "CompletedPart": "._protocol.models",
    "CompleteResult": "._protocol.models",
    "InitiateResult": "._protocol.models",
    "ObjectResult": "._protocol.models",
    "PartInfo": "._protocol.models",
    "PartResult": "._protocol.models",
    "ResponseInfo": "._protocol.models",
    "UploadInfo": "._protocol.models",
    "ObjectOptions": "._protocol.options",
    "Completion": "._core.parts",
    "complete": "._drivers._steps",
    "upload_part": "._drivers._steps",
    "PartPlan": "._core.planner",
    "StreamPlan": "._core.planner",
    "plan_parts": "._core.planner",
    "stream_plan": "._core.planner",
    "ProgressEvent": "._core.progress",
    "RetryPolicy": "._protocol.retry",
    "CosAuth": "._io._requests_auth",
    "FileIdentity": "._core.session",
    "PartReceipt": "._core.session",
    "UploadSession": "._core.session",
    "SignWindow": "._protocol.signer",
    "presign_url": "._protocol.signer",
    "select_headers": "._protocol.signer",
    "sign": "._protocol.signer",
    "SseC": "._protocol.sse",
    "SseCos": "._protocol.sse",
    "SseKms": "._protocol.sse",
    "UploadConfig": "._drivers.uploader",
    "Uploader": "._drivers.uploader",
    "UploadResult": "._drivers.uploader",
    "upload_file": "._drivers.uploader",
    "DirectoryReport": "._drivers.directory",
    "sync_directory": "._drivers.directory",
    "upload_directory": "._drivers.directory",
    "VerifyOutcome": "._drivers.verify",
    "VerifyResult": "._drivers.verify",
    "verify": "._drivers.verify",
    "CheckedPath": "._drivers.check",
    "CheckReport": "._drivers.check",
    "CheckStatus": "._drivers.check",
    "ClassUsage": "._drivers.check",
    "UsageReport": "._drivers.check",
    "check_directory": "._drivers.check",
    "disk_usage": "._drivers.check",
    "CopyResult": "._drivers.copier",
    "CopySource": "._drivers.copier",
    "copy_object": "._drivers.copier",
    "DownloadResult": "._core._download",
    "download_file": "._drivers.download",
    "download_stream": "._drivers.download",
    "ObjectChangedError": "._protocol.errors",
    "DownloadLockedError": "._protocol.errors",
    "PresignedUploads": "._drivers.presigned",
    "PresignedUpload": "._core.presigned",
    "PartUrl": "._core._presigned_start",
    "ReportedPart": "._core._presigned_checks",
    "PresignedResult": "._core._presigned_flow",
    "PresignedPartsError": "._protocol.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
