"""cos-multipart: fast, verified, resumable multipart uploads to Tencent Cloud COS.

The public API is what ``__all__`` lists; everything else may change without notice.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .checkpoint import Checkpoint, CheckpointStore, VerifiedPart
from .checksum import crc64, crc64_combine
from .client import CosClient
from .credentials import Credentials, RefreshingCredentials
from .errors import (
    CosCancelledError,
    CosCredentialsError,
    CosError,
    CosIntegrityError,
    CosResponseError,
    CosServiceError,
    CosTLSError,
    CosTransportError,
    CosValidationError,
    SourceChangedError,
)
from .models import (
    CompletedPart,
    CompleteResult,
    InitiateResult,
    ObjectResult,
    PartInfo,
    PartResult,
    ResponseInfo,
    UploadInfo,
)
from .planner import PartPlan, plan_parts
from .progress import ProgressEvent
from .retry import RetryPolicy
from .signer import CosAuth, SignWindow, presign_url, sign
from .sse import SseC, SseCos, SseKms
from .uploader import UploadConfig, Uploader, UploadResult, upload_file

__all__ = [
    "__version__",
    # uploading
    "upload_file",
    "Uploader",
    "UploadConfig",
    "UploadResult",
    "ProgressEvent",
    "PartPlan",
    "plan_parts",
    "Checkpoint",
    "CheckpointStore",
    "VerifiedPart",
    # client
    "CosClient",
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
]
