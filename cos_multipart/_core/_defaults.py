"""The uploader's default sizes and counts, in a module that imports nothing.

The command line builds its parser (``cos-multipart --help`` included) from these without importing the
uploader; :mod:`cos_multipart._core.planner` and :mod:`cos_multipart._core._config` re-export them.
"""

from __future__ import annotations

MB = 1024 * 1024

#: Bytes per part unless the object needs more than 10,000 such parts (``_protocol.limits.MAX_PART_NUMBER``).
DEFAULT_PART_SIZE = 8 * MB
#: Files of at least this size get :data:`LARGE_FILE_PART_SIZE` parts by default: an HTTP/1.1 connection idles
#: one round trip per part (waiting for its answer), so larger parts keep more of a long link busy. On 20 MiB/s
#: per connection + 30 ms, 8 MiB parts reach 84-89 % of 8 connections, 16 MiB 92-93 % (docs/benchmarks.md).
#: Memory is unchanged for files (a part is read and sent 1 MiB at a time); the bound stays concurrency x part
#: size, 8 x 16 MiB = 128 MiB, for what is buffered (a stream's parts keep their own schedule).
LARGE_FILE_SIZE = 1024 * MB
LARGE_FILE_PART_SIZE = 16 * MB
#: Parts (or files) in flight at once.
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
#: Objects smaller than this go up in one PUT Object request, with Content-MD5 (the same verification).
DEFAULT_MULTIPART_THRESHOLD: int = DEFAULT_PART_SIZE
#: Files compared at once by ``check_directory`` (and the ``check`` command).
DEFAULT_CHECK_CONCURRENCY = 8
#: A copy at most this large is one PUT Object - Copy; larger ones are copied in parts, in parallel.
DEFAULT_COPY_THRESHOLD = 64 * MB
MAX_CHECK_CONCURRENCY = 256
