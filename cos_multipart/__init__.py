"""cos-multipart: fast, verified, resumable multipart uploads to Tencent Cloud COS.

The public API is what ``__all__`` lists; everything else may change without notice.
"""

from __future__ import annotations

__version__ = "0.5.0"

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
# downloading (issue 23)
from ._core._download import DownloadResult
from ._drivers.download import download_file, download_stream
from ._protocol.errors import DownloadLockedError, ObjectChangedError

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
]
