"""Where a measurement's clients and server meet: loopback, or a link shaped by the kernel (or by the server).

:class:`Network` owns the run's :class:`bench.netshape.KernelLink` (made on first use, deleted at the end) and
starts servers for a :class:`bench.netshape.LinkShape`: on loopback the server listens on 127.0.0.1 and the
clients run as usual; on a shaped link the server listens on the host end of the veth pair and the clients run
inside the namespace, every connection capped by the kernel and the round trip emulated by the server process.
Where no kernel link can be made (not root, a kernel without HTB/cls_bpf) the server's own ``bandwidth`` and
``latency`` options stand in, and :attr:`Network.mode` says so in the results.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from .netshape import KernelLink, LinkShape, try_kernel_link
from .procs import ServerProcess

Log = Callable[[str], None]


@dataclass
class Served:
    """A running server and how a client child reaches it."""

    server: ServerProcess
    shape: LinkShape
    prefix: List[str] = field(default_factory=list)
    #: ``kernel`` (HTB + emulated RTT), ``server`` (the server's own cap and latency), ``loopback``.
    mode: str = "loopback"

    @property
    def domain(self) -> str:
        return f"{self.server.host}:{self.server.port}"


class Network:
    """The run's links. ``kernel=False`` never tries the namespace (the smoke preset, non-root machines)."""

    def __init__(self, log: Log, *, kernel: bool = True) -> None:
        self._log = log
        self._want_kernel = kernel
        self._link: Optional[KernelLink] = None
        self._tried = False
        self.hosts: Dict[str, str] = {}

    def link(self) -> Optional[KernelLink]:
        """The kernel link, made on the first call (``None`` when it cannot be made)."""
        if not self._tried:
            self._tried = True
            if self._want_kernel:
                self._link = try_kernel_link(self._log)
                if self._link is not None:
                    self._log(f"[shape] clients in namespace {self._link.namespace}, server on {self._link.host_address}")
        return self._link

    @property
    def mode(self) -> str:
        """``kernel`` when shaped links are made by the kernel, else ``server``."""
        return "kernel" if self.link() is not None else "server"

    def close(self) -> None:
        if self._link is not None:
            self._link.stop()
            self._link = None

    @contextmanager
    def serve(
        self, shape: LinkShape, data_dir: Path, *, tls: bool = False, unshaped_in_namespace: bool = False,
        dialect: Optional[str] = None,
    ) -> Iterator[Served]:  # fmt: skip
        """A server for ``shape`` (HTTPS with ``tls``), removed (with ``data_dir``) at the end.

        ``unshaped_in_namespace``: clients in the namespace but no cap or RTT (for clients that need the
        namespace's own ``/etc/hosts``, e.g. ``coscmd``). ``dialect="oss"``: the server's OSS mode.
        """
        link = self.link() if (shape.shaped or unshaped_in_namespace) else None
        if link is not None:
            link.set_cap(shape.cap if shape.cap is not None else 10 * 1024**3)
            with ServerProcess(data_dir, host=link.host_address, tls=tls, rtt=shape.rtt, dialect=dialect) as server:
                yield Served(server, shape, link.prefix(), "kernel")
        elif shape.shaped:
            with ServerProcess(data_dir, bandwidth=shape.cap, latency=shape.rtt, tls=tls, dialect=dialect) as server:
                yield Served(server, shape, [], "server")
        else:
            with ServerProcess(data_dir, tls=tls, dialect=dialect) as server:
                yield Served(server, shape, [], "loopback")


def shape_names(shapes: Sequence[LinkShape]) -> List[str]:
    return [shape.name for shape in shapes]


__all__ = ["Network", "Served", "shape_names"]
