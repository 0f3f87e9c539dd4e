"""Blocking calls made on an event loop's thread, found by what the thread calls rather than by how long a
step takes, so the machine's load cannot decide the verdict.

:func:`run_watched` runs a coroutine on a fresh loop with a profile hook installed on the loop's thread only
(``sys.setprofile`` is per thread: worker threads, the in-process server and other tests are not watched).
Every call the loop's thread makes is checked against the calls that wait for the disk, the network, another
thread or the clock, or that hash bytes (the per-byte work belongs in a worker): each one found is a
:class:`BlockingCall`. The verdict depends only on which calls the code makes on the loop, never on timing.

What it does not see: a contended ``Lock.acquire`` (whether it waits depends on timing, so it is left out)
and plain CPU work in Python or in C that is not one of the listed calls (copying a large buffer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sys
import threading
import types
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, FrozenSet, List, Optional, Tuple, TypeVar

T = TypeVar("T")

#: C functions that wait for the disk or the clock, or that hash: always blocking on the loop's thread.
BLOCKING_C_CALLS: FrozenSet[str] = frozenset(
    {
        # the clock
        "time.sleep",
        # files: opening, reading, writing, syncing, their metadata
        "io.open", "_io.open", "builtins.open", "posix.open", "posix.read", "posix.pread", "posix.readv", "posix.preadv", "posix.write",
        "posix.pwrite", "posix.writev", "posix.fsync", "posix.fdatasync", "posix.sendfile", "posix.stat",
        "posix.fstat", "posix.lstat", "posix.replace", "posix.rename", "posix.truncate", "posix.ftruncate",
        "FileIO.read", "FileIO.readinto", "FileIO.readall", "FileIO.write",
        "BufferedReader.read", "BufferedReader.read1", "BufferedReader.readinto", "BufferedReader.readinto1",
        "BufferedReader.readline", "BufferedReader.peek", "BufferedWriter.write", "BufferedWriter.flush",
        "BufferedRandom.read", "BufferedRandom.readinto", "BufferedRandom.write", "BufferedRandom.flush",
        "TextIOWrapper.read", "TextIOWrapper.readline", "TextIOWrapper.write", "TextIOWrapper.flush",
        "mmap.read", "mmap.readinto",
        # hashing: MD5 (OpenSSL's or the built-in one), CRC-32
        "HASH.update", "md5.update", "zlib.crc32", "binascii.crc32",
        # name lookups
        "_socket.getaddrinfo", "_socket.gethostbyname", "_socket.gethostbyname_ex", "_socket.gethostbyaddr",
    }
)  # fmt: skip

#: Prefixes of C functions that compute a CRC-64 (the checksum backends).
HASHING_PREFIXES = ("fastcrc.", "crcmod.", "_crcfunext.")

#: Socket methods that wait when the socket is in blocking mode (the loop's own sockets are non-blocking).
SOCKET_CALLS: FrozenSet[str] = frozenset(
    {"recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "send", "sendall", "sendto", "sendmsg",
     "connect", "connect_ex", "accept", "_accept"}
)  # fmt: skip


@dataclass(frozen=True)
class BlockingCall:
    """One blocking call made on the loop's thread: what was called and from where."""

    call: str
    where: str
    callers: Tuple[str, ...] = ()  # the names of the calling functions, innermost first

    def __str__(self) -> str:
        return f"{self.call} called from {self.where} (in {' < '.join(self.callers)})"


def _c_name(function: Any) -> str:
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", "?")
    if owner is None or isinstance(owner, types.ModuleType):
        module = getattr(owner, "__name__", None) or getattr(function, "__module__", None) or "?"
        return f"{module}.{name}"
    return f"{type(owner).__name__}.{name}"


def _blocking_socket(function: Any) -> bool:
    owner = getattr(function, "__self__", None)
    import socket

    if not isinstance(owner, socket.socket) or getattr(function, "__name__", "") not in SOCKET_CALLS:
        return False
    try:
        return owner.gettimeout() != 0.0
    except OSError:  # closed: the call fails at once
        return False


def _waits(frame: types.FrameType, check: Callable[[Dict[str, Any]], bool]) -> bool:
    try:
        return check(frame.f_locals)
    except Exception:  # a check that cannot read its arguments errs on "blocking"
        return True


def _no_timeout(arguments: Dict[str, Any]) -> bool:
    return arguments.get("timeout") != 0


#: Python functions that wait for another thread, each with when a call would wait (read from its arguments
#: and its object's state at the call, so a call that returns at once is not counted).
_WAITING_PYTHON: Dict[Any, Tuple[str, Callable[[Dict[str, Any]], bool]]] = {
    threading.Thread.start.__code__: ("Thread.start", lambda a: True),  # waits until the new thread runs
    threading.Thread.join.__code__: ("Thread.join", lambda a: a["self"].is_alive() and _no_timeout(a)),
    threading.Event.wait.__code__: ("Event.wait", lambda a: not a["self"].is_set() and _no_timeout(a)),
    threading.Condition.wait.__code__: ("Condition.wait", _no_timeout),
    threading.Barrier.wait.__code__: ("Barrier.wait", lambda a: True),
    threading.Semaphore.acquire.__code__: ("Semaphore.acquire", lambda a: a.get("blocking", True) and _no_timeout(a)),
    queue.Queue.get.__code__: ("Queue.get", lambda a: a.get("block", True) and _no_timeout(a) and a["self"].empty()),
    queue.Queue.put.__code__: ("Queue.put", lambda a: a.get("block", True) and _no_timeout(a) and a["self"].full()),
    concurrent.futures.Future.result.__code__: ("Future.result", lambda a: not a["self"].done() and _no_timeout(a)),
    concurrent.futures.Future.exception.__code__: ("Future.exception", lambda a: not a["self"].done() and _no_timeout(a)),
    concurrent.futures.wait.__code__: ("futures.wait", lambda a: _no_timeout(a) and not all(f.done() for f in a["fs"])),
    concurrent.futures.ThreadPoolExecutor.shutdown.__code__: ("ThreadPoolExecutor.shutdown", lambda a: a.get("wait", True)),
}


class LoopGuard:
    """The profile hook: records each blocking call the thread it is installed on makes."""

    def __init__(self) -> None:
        self.found: List[BlockingCall] = []
        self.calls = 0  # calls seen: proof that the hook ran

    def __call__(self, frame: types.FrameType, event: str, argument: Any) -> None:
        if event == "c_call":
            self.calls += 1
            name = _c_name(argument)
            if name in BLOCKING_C_CALLS or name.startswith(HASHING_PREFIXES) or _blocking_socket(argument):
                self._found(name, frame)
        elif event == "call":
            self.calls += 1
            waiting = _WAITING_PYTHON.get(frame.f_code)
            if waiting is not None and _waits(frame, waiting[1]):
                self._found(waiting[0], frame.f_back)

    def _found(self, name: str, frame: Optional[types.FrameType]) -> None:
        where = "?"
        callers: List[str] = []
        if frame is not None:
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        while frame is not None and len(callers) < 12:
            callers.append(frame.f_code.co_name)
            frame = frame.f_back
        self.found.append(BlockingCall(name, where, tuple(callers)))


def run_watched(scenario: Callable[[], Awaitable[T]]) -> Tuple[T, LoopGuard]:
    """Run ``scenario()`` on a fresh event loop with a :class:`LoopGuard` on the loop's thread; returns the
    scenario's result and the guard. The hook is installed once the loop runs and removed before
    ``asyncio.run`` tears the loop down (its own executor shutdown starts and joins a thread, by design)."""
    guard = LoopGuard()

    async def watched() -> T:
        sys.setprofile(guard)
        try:
            return await scenario()
        finally:
            sys.setprofile(None)

    previous = sys.getprofile()
    try:
        result = asyncio.run(watched())
    finally:
        sys.setprofile(previous)
    return result, guard
