"""Memory of the local server under many connections: ``python -m bench.server_connections [N] [options]``.

Starts :class:`cos_multipart.testing.LocalCOS` in a child process (anonymous, so no signing is involved),
opens ``N`` TCP connections to it, sends one small PUT on each (the body goes through the connection's
transfer buffer, as every upload does) and keeps them open; then closes them all. It prints the server
process's resident memory (``VmRSS``) and thread count (``/proc/<pid>/status``) at start, with the ``N``
connections open, and after they closed and the server's connection threads ended. Nothing is timed: the
numbers are counts and sizes. Linux only (``/proc``).

Options after ``N`` go to ``LocalCOS`` as ``name=value`` (e.g. ``max_connections=256``), except
``body=BYTES``, the size of each PUT body (default 4096; 1048576 fills the connection's transfer buffer);
the defaults are the server's own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

_CHILD = """
import json, sys, threading
from cos_multipart.testing import LocalCOS
options = json.loads(sys.argv[1])
cos = LocalCOS(anonymous=True, **options).start()
print(json.dumps({"port": cos.port}), flush=True)
sys.stdin.read()
cos.stop()
"""


def status(pid: int) -> Tuple[int, int]:
    """(VmRSS in KiB, thread count) of process ``pid``."""
    fields: Dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def _request(port: int, index: int, size: int) -> bytes:
    body = b"x" * size
    head = (
        f"PUT /conn-{index % 16} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def _answered(sock: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    return data.startswith(b"HTTP/1.1 200")


def measure(count: int, options: Dict[str, Any], body: int = 4096) -> Dict[str, Any]:
    """Open ``count`` connections to a fresh server started with ``options``; the numbers (see module doc)."""
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _CHILD, json.dumps(options)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        port = int(json.loads(child.stdout.readline())["port"])
        rss_start, threads_start = status(child.pid)
        sockets: List[socket.socket] = []
        answered = 0
        for index in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=120)
            sockets.append(sock)
            sock.sendall(_request(port, index, body))
        for sock in sockets:
            try:
                answered += _answered(sock)
            except OSError:
                pass
        rss_open, threads_open = status(child.pid)
        for sock in sockets:
            sock.close()
        deadline = time.monotonic() + 120
        threads_closed = threads_open
        while time.monotonic() < deadline:  # wait for the connection threads to end (a count, not a timing)
            rss_closed, threads_closed = status(child.pid)
            if threads_closed <= threads_start:
                break
            time.sleep(0.2)
        rss_closed, threads_closed = status(child.pid)
        return {
            "connections": count,
            "body_bytes": body,
            "answered": answered,
            "options": options,
            "rss_start_mib": round(rss_start / 1024, 1),
            "rss_open_mib": round(rss_open / 1024, 1),
            "rss_closed_mib": round(rss_closed / 1024, 1),
            "threads_start": threads_start,
            "threads_open": threads_open,
            "threads_closed": threads_closed,
        }
    finally:
        child.stdin.close()
        child.wait(timeout=60)


def main(argv: List[str]) -> int:
    count = int(argv[0]) if argv else 2000
    options: Dict[str, Any] = {}
    body = 4096
    for item in argv[1:]:
        name, _, value = item.partition("=")
        if name == "body":
            body = int(value)
        else:
            options[name] = json.loads(value)
    print(json.dumps(measure(count, options, body)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
