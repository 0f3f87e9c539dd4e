"""Server-side copy: this package's ``copy_object`` against the official COS SDK's ``copy()`` on the local server.

Usage::

    python -m bench.copy [--size 256MB] [--part-size 16MB] [--concurrency 8] [--repeat 3]

The local server runs in its own process (``cos-multipart serve``); each copy runs in a child process of its
own, so that the numbers are the client's alone: wall time, CPU (user + system, from ``wait4``), peak RSS, and
the bytes the child sent and received through its sockets during the copy (counted in ``socket.socket``),
which is what passes through the client: requests and answers, no object bytes. Both clients copy the same source with the same part size and
threads, on their multipart paths (the official SDK's threshold lowered, and the source named in another
region, which makes it copy by parts as ``test_official_sdk_copy.py`` shows). Prints a Markdown table and the
ratio. A benchmark, not a test: nothing here decides pass or fail.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from cos_multipart.testing.server import DEFAULT_BUCKET, DEFAULT_REGION, TEST_CREDENTIALS

MB = 1024 * 1024
GB = 1024 * MB
BUCKET = DEFAULT_BUCKET
REGION = DEFAULT_REGION
SECRET_ID, SECRET_KEY = TEST_CREDENTIALS.secret_id, TEST_CREDENTIALS.secret_key


#: Bytes this process sent and received through its sockets (counted by :func:`_count_socket_bytes`).
_SOCKET_BYTES = {"sent": 0, "received": 0}


def _count_socket_bytes() -> None:
    """Count every byte sent and received through Python sockets in this process (both SDKs speak HTTP through
    ``http.client`` over ``socket.socket``: send/sendall and recv/recv_into)."""
    import _socket
    import socket

    def sendall(self: Any, data: Any, *rest: Any) -> Any:
        _SOCKET_BYTES["sent"] += memoryview(data).nbytes
        return _socket.socket.sendall(self, data, *rest)

    def send(self: Any, data: Any, *rest: Any) -> Any:
        sent = _socket.socket.send(self, data, *rest)
        _SOCKET_BYTES["sent"] += sent
        return sent

    def recv(self: Any, *args: Any) -> Any:
        data = _socket.socket.recv(self, *args)
        _SOCKET_BYTES["received"] += len(data)
        return data

    def recv_into(self: Any, buffer: Any, *args: Any) -> Any:
        got = _socket.socket.recv_into(self, buffer, *args)
        _SOCKET_BYTES["received"] += got
        return got

    socket.socket.sendall = sendall  # type: ignore[method-assign]
    socket.socket.send = send  # type: ignore[method-assign]
    socket.socket.recv = recv  # type: ignore[method-assign]
    socket.socket.recv_into = recv_into  # type: ignore[method-assign, assignment]


def _peak_rss_mib() -> float:
    """This process's peak resident memory since its exec (``VmHWM``: not the parent's, as ``wait4``'s is)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _io() -> Dict[str, int]:
    return dict(_SOCKET_BYTES)


def child(argv: List[str]) -> None:
    """One copy in this process; prints ``{"seconds", "sent", "received"}`` (the copy's socket bytes)."""
    kind, endpoint, key, part_size, concurrency = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4])
    _count_socket_bytes()
    if kind.startswith("ours"):
        from cos_multipart import CosClient, Credentials, copy_object

        client = CosClient(BUCKET, REGION, Credentials(SECRET_ID, SECRET_KEY), endpoint=endpoint, pool_size=max(concurrency, 10))
        before, started, cpu = _io(), time.perf_counter(), time.process_time()
        if kind == "ours-default":
            copy_object(client, "source.bin", key)
        else:
            copy_object(client, "source.bin", key, part_size=part_size, threshold=0, concurrency=concurrency, resume=False)
    else:
        import qcloud_cos  # type: ignore[import-untyped]

        config = qcloud_cos.CosConfig(Region=REGION, SecretId=SECRET_ID, SecretKey=SECRET_KEY, Scheme="http", Proxies={"http": endpoint})
        client = qcloud_cos.CosS3Client(config)
        if kind == "official-default":  # same region: its copy() sends one PUT Object - Copy up to 5 GB
            source = {"Bucket": BUCKET, "Key": "source.bin", "Region": REGION}
            before, started, cpu = _io(), time.perf_counter(), time.process_time()
            client.copy(Bucket=BUCKET, Key=key, CopySource=source)
        else:
            client._conf.set_copy_part_threshold_size(MB)  # its multipart path, as ours
            source = {"Bucket": BUCKET, "Key": "source.bin", "Region": "ap-shanghai"}
            before, started, cpu = _io(), time.perf_counter(), time.process_time()
            client.copy(Bucket=BUCKET, Key=key, CopySource=source, PartSize=part_size // MB, MAXThread=concurrency)
    cpu = time.process_time() - cpu
    seconds = time.perf_counter() - started
    after = _io()
    print(json.dumps({"seconds": seconds, "copy_cpu": cpu, "rss_mib": _peak_rss_mib(), "sent": after["sent"] - before["sent"], "received": after["received"] - before["received"]}))


def _run_child(kind: str, endpoint: str, key: str, args: argparse.Namespace) -> Dict[str, Any]:
    command = [sys.executable, "-m", "bench.copy", "--child", kind, endpoint, key, str(args.part_size), str(args.concurrency)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{kind} child failed ({status}): {err.decode(errors='replace')[-2000:]}")
    result: Dict[str, Any] = json.loads(out)
    result["cpu"] = usage.ru_utime + usage.ru_stime  # the whole child: imports included (the same for both)
    return result


def _start_server(data_dir: str) -> "tuple[subprocess.Popen[bytes], str]":
    command = [sys.executable, "-m", "cos_multipart", "serve", "--json", "--port", "0", "--data-dir", data_dir,
               "--bucket", BUCKET, "--region", REGION, "--secret-id", SECRET_ID, "--secret-key", SECRET_KEY]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert server.stdout is not None
    line = json.loads(server.stdout.readline())
    return server, str(line["endpoint"])


def main(argv: List[str]) -> int:
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.copy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=lambda t: int(float(t.rstrip("MB")) * MB) if t.endswith("MB") else int(t), default=256 * MB)
    parser.add_argument("--part-size", type=lambda t: int(t.rstrip("MB")) * MB, default=16 * MB)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    # The server's store in memory where there is a tmpfs (as `bench run` does): on a disk, the write-back of one
    # copy's 512 MiB lands on whichever copy runs next and swings the seconds by 3x.
    data_dir = tempfile.mkdtemp(prefix="bench-copy-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    server, endpoint = _start_server(data_dir)
    try:
        from cos_multipart import CosClient, Credentials

        with CosClient(BUCKET, REGION, Credentials(SECRET_ID, SECRET_KEY), endpoint=endpoint) as client:
            block = os.urandom(MB)
            source = b"".join(block for _ in range(args.size // MB)) + os.urandom(args.size % MB)
            client.put_object("source.bin", source)
            del source
            kinds = ("ours", "official", "ours-default", "official-default")
            results: Dict[str, List[Dict[str, Any]]] = {kind: [] for kind in kinds}
            for round_ in range(args.repeat):
                # The order rotates each round, and the server's earlier writes reach the disk before each copy:
                # otherwise the copy run first in a round always pays for the write-back of the one before it.
                for kind in kinds[round_ % len(kinds):] + kinds[: round_ % len(kinds)]:
                    key = f"copy-{kind}-{round_}.bin"
                    os.sync()
                    results[kind].append(_run_child(kind, endpoint, key, args))
                    head = client.head_object(key)
                    assert head.size == args.size, (kind, head.size)
                    client.delete_object(key)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    _report(results, args)
    return 0


_NAMES = {
    "ours": "this package `copy_object`, multipart",
    "official": "official SDK `copy()`, multipart",
    "ours-default": "this package `copy_object`, defaults",
    "official-default": "official SDK `copy()`, defaults",
}


def _report(results: Dict[str, List[Dict[str, Any]]], args: argparse.Namespace) -> None:
    gib = args.size / GB
    print(f"copy of {args.size / MB:.0f} MiB (multipart rows: parts of {args.part_size / MB:.0f} MiB, {args.concurrency} "
          f"threads), median of {args.repeat}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")  # fmt: skip
    print("| client | seconds | MiB/s | client CPU during the copy, s (per GiB) | whole child CPU s | bytes through the client (per GiB) | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    medians: Dict[str, float] = {}
    for kind, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["copy_cpu"] for r in runs)
        whole = statistics.median(r["cpu"] for r in runs)
        moved = statistics.median(r["sent"] + r["received"] for r in runs)
        rss = max(r["rss_mib"] for r in runs)
        medians[kind] = seconds
        print(f"| {_NAMES[kind]} | {seconds:.2f} | {args.size / MB / seconds:.0f} | {cpu:.3f} ({cpu / gib:.3f}) | {whole:.2f} | "
              f"{moved / 1024:.0f} KiB ({moved / gib / 1024:.0f} KiB) | {rss:.0f} |")  # fmt: skip
    print(f"\nofficial / ours, seconds: multipart {medians['official'] / medians['ours']:.2f}x, "
          f"defaults {medians['official-default'] / medians['ours-default']:.2f}x")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
