"""Buffers the kernel copies into: page-aligned, made once and reused.

The kernel copies a file's pages, or a socket's bytes, into a user buffer; with the destination aligned that copy
costs about a quarter less CPU (measured for ``os.preadv`` of a part with 8 parts in flight on 2 cores: 0.20
against 0.27 s/GiB of thread time), and a bytearray's storage, from malloc, starts 16 bytes past a cache line.
"""

from __future__ import annotations

import mmap
import threading

__all__ = ["aligned_buffer", "thread_buffer"]

_PER_THREAD = threading.local()


def aligned_buffer(size: int) -> memoryview:
    """``size`` writable bytes starting on a page boundary (an anonymous map: its pages become resident only as
    they are written, like a bytearray's)."""
    return memoryview(mmap.mmap(-1, size))


def thread_buffer(size: int) -> memoryview:
    """This thread's aligned buffer of at least ``size`` bytes (made at its first use, kept while the thread
    lives): for work whose bytes leave the buffer before the thread reads into it again."""
    buffer = getattr(_PER_THREAD, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _PER_THREAD.buffer = aligned_buffer(size)
    return buffer[:size]
