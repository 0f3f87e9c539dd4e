"""Kernel-shaped links for the benchmark: a network namespace for the clients, a per-connection cap in the kernel.

The clients run in a namespace of their own (``ip netns exec``), joined to the host by a veth pair made for the
run; the server listens on the host side of the pair only. Upload bytes leave the namespace through its end of
the pair, where an HTB qdisc gives every TCP connection a class of its own with ``rate = ceil = cap``: the kernel
paces each connection and no process spends CPU on it. Nothing is changed outside the namespace but the host
end of the pair (an address, no qdisc): ``lo`` and the host's own interfaces are never touched.

Connections are told apart by their source port. The namespace's ephemeral range is narrowed to
:data:`PORTS` ports (``ip_local_port_range`` is per namespace) and a classic-BPF classifier maps port
``BASE_PORT + i`` to class ``1:(i + 2)``: an exact mapping, no hash collisions. TIME_WAIT ports are reused
(``tcp_tw_reuse=1`` in the namespace) so the range does not run out over a run of many short uploads.

Latency: this machine's kernel has neither ``netem`` nor ``fq`` (checked by :func:`kernel_support`), so the
round trip is emulated by the benchmark's server process (:mod:`bench._server_main`): each answer is held one
RTT after its request body was read, each new connection one RTT before it is served (two with TLS: the TCP
and the TLS 1.3 handshakes). TCP's own reaction to a long RTT (slow start, window growth) is not reproduced.

The cap is a TCP payload rate: HTB counts whole Ethernet frames, so the class rate is the cap scaled by
``frame / payload`` (1514 / 1448 bytes: 1500-byte MTU, IPv4, TCP with timestamps).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Callable, Dict, List, Optional, Sequence, Union

logger = logging.getLogger(__name__)

#: First ephemeral port of the namespace, and how many ports (so connections, so HTB classes) it has.
BASE_PORT = 20000
PORTS = 1024
#: Ethernet frame bytes per TCP payload byte at a 1500-byte MTU with TCP timestamps (14 + 1500 over 1448).
FRAME_OVERHEAD = 1514 / 1448
#: Names are short: interface names have at most 15 characters.
PREFIX = "cosbench"


@dataclass(frozen=True)
class LinkShape:
    """One network the clients upload over.

    Attributes:
        name: Label in the report (``loopback``, ``20MiB/s 30ms``, ...).
        cap: Per-connection TCP payload rate in bytes/s; ``None`` for loopback (no namespace, no cap).
        rtt: Round-trip time in seconds (0 for loopback).
    """

    name: str
    cap: Optional[float]
    rtt: float

    @property
    def shaped(self) -> bool:
        return self.cap is not None


def _run(command: Sequence[str], *, check: bool = True, stdin: Optional[str] = None) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(list(command), check=check, capture_output=True, text=True, input=stdin)


def kernel_support() -> Dict[str, bool]:
    """Which qdiscs and features this kernel has (from ``/proc/config.gz`` when readable; else probed)."""
    wanted = {"netem": "CONFIG_NET_SCH_NETEM", "fq": "CONFIG_NET_SCH_FQ", "htb": "CONFIG_NET_SCH_HTB",
              "cls_bpf": "CONFIG_NET_CLS_BPF", "veth": "CONFIG_VETH", "netns": "CONFIG_NET_NS"}  # fmt: skip
    try:
        import gzip

        text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode("ascii", "replace")
    except OSError:
        return {name: False for name in wanted}
    enabled = {line.split("=", 1)[0] for line in text.splitlines() if line.endswith(("=y", "=m"))}
    return {name: option in enabled for name, option in wanted.items()}


def classifier_bytecode(base: int, count: int) -> str:
    """Classic BPF (``tc filter ... bpf bytecode``): IPv4 TCP from source port ``base + i`` -> class ``1:(i+2)``.

    cls_bpf reads a classic program's return value as the class id (0: no match, so HTB's default class).
    The packet starts at the Ethernet header (veth egress).
    """
    program = [
        (0x28, 0, 0, 12),  # ldh [12]              ethertype
        (0x15, 0, 8, 0x0800),  # jeq #IPv4, next, nomatch
        (0x30, 0, 0, 23),  # ldb [23]              IP protocol
        (0x15, 0, 6, 6),  # jeq #TCP, next, nomatch
        (0xB1, 0, 0, 14),  # ldxb 4*([14]&0xf)     IP header length
        (0x48, 0, 0, 14),  # ldh [x+14]            TCP source port
        (0x14, 0, 0, base),  # sub #base           (wraps to a large number below base)
        (0x35, 2, 0, count),  # jge #count, nomatch, next
        (0x04, 0, 0, 0x10002),  # add #0x10002     class 1:2 onwards
        (0x16, 0, 0, 0),  # ret a
        (0x06, 0, 0, 0),  # nomatch: ret #0
    ]
    return ",".join([str(len(program))] + [f"{code} {jt} {jf} {k}" for code, jt, jf, k in program])


class KernelLink:
    """A namespace for the clients and a shaped veth pair to the host; use as a context manager.

    Args:
        index: Picks the /30 subnet ``10.213.<index>.0`` and the names (several runs at once stay apart).

    Raises:
        RuntimeError: The namespace, the pair or the qdisc could not be made (not root, no ``ip``/``tc``, a
            kernel without veth, HTB or cls_bpf); nothing is left behind.
    """

    def __init__(self, index: Optional[int] = None) -> None:
        self.index = (os.getpid() % 200) + 20 if index is None else index
        self.namespace = f"{PREFIX}-{self.index}"
        self.host_if = f"cbh{self.index}"
        self.client_if = f"cbc{self.index}"
        self.host_address = f"10.213.{self.index}.1"
        self.client_address = f"10.213.{self.index}.2"
        self.cap: Optional[float] = None
        self._up = False
        self._previous: Dict[int, Union[Callable[[int, Optional[FrameType]], object], int, None]] = {}
        self._lock = threading.Lock()

    # --- life cycle -----------------------------------------------------------------------------------

    def __enter__(self) -> "KernelLink":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Make the namespace, the pair and the qdisc (no cap yet: :meth:`set_cap`)."""
        self._remove_leftovers()
        ns = ["ip", "netns", "exec", self.namespace]
        try:
            self._up = True
            self._install_cleanup()
            _run(["ip", "netns", "add", self.namespace])
            _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.client_if])
            _run(["ip", "link", "set", self.client_if, "netns", self.namespace])
            _run(["ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_if])
            _run(["ip", "link", "set", self.host_if, "up"])
            _run(ns + ["ip", "addr", "add", f"{self.client_address}/30", "dev", self.client_if])
            _run(ns + ["ip", "link", "set", self.client_if, "up"])
            _run(ns + ["ip", "link", "set", "lo", "up"])
            _run(ns + ["sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={BASE_PORT} {BASE_PORT + PORTS - 1}"])
            _run(ns + ["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"])
            _run(ns + ["tc", "qdisc", "add", "dev", self.client_if, "root", "handle", "1:", "htb", "default", "1"])
            _run(ns + ["tc", "class", "add", "dev", self.client_if, "parent", "1:", "classid", "1:1", "htb",
                       "rate", "10gbit", "quantum", "65536"])  # fmt: skip
            self._classes("add", 10 * 1024**3)
            _run(ns + ["tc", "filter", "add", "dev", self.client_if, "parent", "1:", "bpf", "bytecode",
                       classifier_bytecode(BASE_PORT, PORTS)])  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            self.stop()
            raise RuntimeError(f"cannot make the kernel-shaped link: {detail.strip()}") from error

    def stop(self) -> None:
        """Delete the namespace (which deletes the pair and its qdisc); idempotent."""
        with self._lock:
            if not self._up:
                return
            self._up = False
        _run(["ip", "netns", "del", self.namespace], check=False)
        _run(["ip", "link", "del", self.host_if], check=False)  # normally gone with the namespace
        shutil.rmtree(Path("/etc/netns") / self.namespace, ignore_errors=True)
        try:
            Path("/etc/netns").rmdir()  # only when empty: it may hold other namespaces' files
        except OSError:
            pass
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _install_cleanup(self) -> None:
        atexit.register(self.stop)
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(number)
            self._previous[number] = previous

            def handler(signum: int, frame: Optional[FrameType], previous: object = previous) -> None:
                self.stop()
                if callable(previous):
                    previous(signum, frame)
                raise KeyboardInterrupt

            signal.signal(number, handler)

    def _remove_leftovers(self) -> None:
        """A namespace of this name left by a run that was killed (SIGKILL skips every cleanup)."""
        listed = _run(["ip", "netns", "list"], check=False).stdout.split()
        if self.namespace in listed:
            _run(["ip", "netns", "del", self.namespace], check=False)
        _run(["ip", "link", "del", self.host_if], check=False)

    # --- shape ----------------------------------------------------------------------------------------

    def set_cap(self, cap: float) -> None:
        """Every connection's TCP payload rate to ``cap`` bytes/s (all :data:`PORTS` classes)."""
        self._classes("change", cap)
        self.cap = cap

    def _classes(self, verb: str, cap: float) -> None:
        bits = int(cap * 8 * FRAME_OVERHEAD)
        # Bursts of at least a few GSO frames (veth sends up to 64 KiB at once) and ~4 ms of the rate.
        burst = max(256 * 1024, int(cap * 0.004))
        lines = [
            f"class {verb} dev {self.client_if} parent 1: classid 1:{i + 2:x} htb rate {bits}bit ceil {bits}bit "
            f"burst {burst} cburst {burst} quantum 65536"
            for i in range(PORTS)
        ]
        with tempfile.NamedTemporaryFile("w", suffix=".tc", delete=False) as batch:
            batch.write("\n".join(lines) + "\n")
        try:
            _run(["ip", "netns", "exec", self.namespace, "tc", "-batch", batch.name])
        finally:
            os.unlink(batch.name)

    def set_hosts(self, names: Dict[str, str]) -> None:
        """``/etc/hosts`` of processes in the namespace: the host's file plus ``name -> address`` lines
        (``ip netns exec`` bind-mounts ``/etc/netns/<namespace>/hosts`` over it; removed by :meth:`stop`)."""
        directory = Path("/etc/netns") / self.namespace
        directory.mkdir(parents=True, exist_ok=True)
        base = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
        extra = "".join(f"{address} {name}\n" for name, address in names.items())
        (directory / "hosts").write_text(base.rstrip("\n") + "\n" + extra)

    def prefix(self) -> List[str]:
        """The command prefix that runs a process inside the namespace."""
        return ["ip", "netns", "exec", self.namespace]


def try_kernel_link(log: Callable[[str], None]) -> Optional[KernelLink]:
    """A started :class:`KernelLink`, or ``None`` (logged) when this machine cannot make one."""
    if os.geteuid() != 0:
        log("[shape] not root: the server's own bandwidth/latency options shape the links")
        return None
    link = KernelLink()
    try:
        link.start()
    except RuntimeError as error:
        log(f"[shape] {error}; the server's own bandwidth/latency options shape the links")
        return None
    return link


__all__ = ["LinkShape", "KernelLink", "kernel_support", "classifier_bytecode", "try_kernel_link", "BASE_PORT", "PORTS"]
