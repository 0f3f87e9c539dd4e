"""The local COS server as a process of its own: ``python -m bench._server_main '<json options>'``.

Prints one JSON line ``{"port": N}`` once it listens, then serves until SIGTERM. Started by
:class:`bench.procs.ServerProcess`; it does not go through the ``cos-multipart serve`` command so that the
benchmark only depends on :class:`cos_multipart.testing.LocalCOS`.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any, Dict


def main(argv: list[str]) -> int:
    options: Dict[str, Any] = json.loads(argv[0]) if argv else {}
    from cos_multipart.testing import LocalCOS

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with LocalCOS(
        port=0,
        data_dir=options.get("data_dir"),
        bandwidth=options.get("bandwidth"),
        latency=float(options.get("latency") or 0.0),
    ) as server:
        print(json.dumps({"port": server.port, "data_dir": str(server.data_dir)}), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
