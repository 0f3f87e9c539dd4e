"""A local COS-compatible server for tests, demos and offline development.

It speaks the COS XML API over real HTTP on loopback: it verifies request signatures as COS does, stores
parts and objects on disk, answers ETags and CRC-64 like COS (including under SSE), and can inject faults
and slow networks. See ``docs/local-server.md``.

::

    from cos_multipart.testing import LocalCOS

    with LocalCOS() as cos:
        print(cos.endpoint, cos.bucket, cos.credentials)

The pytest fixtures ``local_cos`` and ``local_cos_factory`` come with ``pytest_plugins =
["cos_multipart.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from ._cors import CorsRule
from .faults import API_NAMES, Fault, FaultController, FaultPlan, FiredFault
from .server import (
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    OSS_DEFAULT_BUCKET,
    OSS_DEFAULT_REGION,
    TEST_CREDENTIALS,
    AccessLogEntry,
    LocalCOS,
)

__all__ = [
    "LocalCOS",
    "CorsRule",
    "Fault",
    "FaultController",
    "FaultPlan",
    "FiredFault",
    "AccessLogEntry",
    "API_NAMES",
    "TEST_CREDENTIALS",
    "DEFAULT_BUCKET",
    "DEFAULT_REGION",
    "OSS_DEFAULT_BUCKET",
    "OSS_DEFAULT_REGION",
]
