"""The uploader's default sizes and counts, in a module that imports nothing.

The command line builds its parser (``cos-multipart --help`` included) from these without importing the
uploader; :mod:`cos_multipart._core.planner` and :mod:`cos_multipart._core._config` re-export them.
"""

from __future__ import annotations

MB = 1024 * 1024

#: Bytes per part unless the object needs more than 10,000 such parts (``_protocol.limits.MAX_PART_NUMBER``).
DEFAULT_PART_SIZE = 8 * MB
#: Parts (or files) in flight at once.
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
#: Objects smaller than this go up in one PUT Object request, with Content-MD5 (the same verification).
DEFAULT_MULTIPART_THRESHOLD: int = DEFAULT_PART_SIZE
#: Files compared at once by ``check_directory`` (and the ``check`` command).
DEFAULT_CHECK_CONCURRENCY = 8
MAX_CHECK_CONCURRENCY = 256
