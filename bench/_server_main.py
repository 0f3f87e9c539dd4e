"""The local COS server as a process of its own: ``python -m bench._server_main '<json options>'``.

Prints one JSON line ``{"port": N, "ca_path": ...}`` once it listens, then serves until SIGTERM. Started by
:class:`bench.procs.ServerProcess`; it does not go through the ``cos-multipart serve`` command so that the
benchmark only depends on :class:`cos_multipart.testing.LocalCOS`.

Options: ``data_dir``, ``host``, ``tls``, ``dialect``, ``bandwidth`` and ``latency`` (the server's own, see
LocalCOS), and
``rtt``: a round trip emulated in this process (the kernel here has no ``netem``; see :mod:`bench.netshape`).
With ``rtt`` each answer waits one RTT after its request was served (the body read), where a real link delivers
the last byte half an RTT late and the answer half an RTT later; and each new connection waits one RTT (two
with TLS) before it is served, for the handshakes. The server's ``latency`` option is not used for this: it
waits before the body is read, which a kernel-capped link hides by filling the socket buffers meanwhile.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any, Dict, Tuple


def install_rtt(rtt: float, tls: bool, stopping: threading.Event) -> None:
    """Delay answers and new connections as a link with round-trip time ``rtt`` would (see the module doc)."""
    from cos_multipart.testing import _dispatch, _wire

    handle = _dispatch.Dispatcher.handle
    serve = _wire.WireServer._serve_connection
    handshakes = 2 if tls else 1

    def delayed_handle(self: Any, *args: Any, **kwargs: Any) -> Tuple[str, Any]:
        answer: Tuple[str, Any] = handle(self, *args, **kwargs)
        stopping.wait(rtt)
        return answer

    def delayed_serve(self: Any, *args: Any, **kwargs: Any) -> None:
        stopping.wait(handshakes * rtt)
        serve(self, *args, **kwargs)

    _dispatch.Dispatcher.handle = delayed_handle  # type: ignore[method-assign]
    _wire.WireServer._serve_connection = delayed_serve  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    options: Dict[str, Any] = json.loads(argv[0]) if argv else {}
    from cos_multipart.testing import LocalCOS

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tls = bool(options.get("tls"))
    if float(options.get("rtt") or 0.0) > 0:
        install_rtt(float(options["rtt"]), tls, stop)
    # Only when asked: the keyword exists once the server speaks OSS.
    dialect: Dict[str, Any] = {"dialect": options["dialect"]} if options.get("dialect") else {}
    with LocalCOS(
        host=str(options.get("host") or "127.0.0.1"),
        port=0,
        data_dir=options.get("data_dir"),
        bandwidth=options.get("bandwidth"),
        latency=float(options.get("latency") or 0.0),
        tls=tls,
        **dialect,
    ) as server:
        ca_path = str(server.ca_path) if server.ca_path is not None else None
        started = {"port": server.port, "data_dir": str(server.data_dir), "ca_path": ca_path,
                   "bucket": server.bucket, "region": server.region}  # fmt: skip
        print(json.dumps(started), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
