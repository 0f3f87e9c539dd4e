"""``python signal_at_lock.py ARGS...`` runs ``cos-multipart ARGS...`` with SIGINT delivered at the worst point
for it: right after the main thread has taken a lock inside a Python-level ``__enter__``.

A signal's Python handler runs in the main thread at the next check between bytecodes, wherever that thread is.
``threading.Condition.__enter__`` (every ``with condition:``, so ``Event.wait``, ``Future.result``, a
``Semaphore``, the waits of ``concurrent.futures``) is Python code that takes the lock and then returns: a
``KeyboardInterrupt`` raised between the two leaves the lock held for good, since ``__exit__`` only runs once
``__enter__`` has returned. This child makes that happen on purpose, once: the first time the main thread
takes a condition's lock after the test has created the file named by ``$COS_MULTIPART_TEST_ARM`` (the test
does so once the server has seen the parts arrive), it says so on stderr and raises SIGINT before returning.
A loop that waits on its :class:`~cos_multipart._drivers._interrupts.Bell` instead (no condition at all) gets
the signal as it starts waiting there, whichever of the two comes first. With ``$COS_MULTIPART_TEST_AT`` set to
a function's name, only a lock taken while that function is on the main thread's stack counts (``submit``: while
a pool is handed its work), and ``$COS_MULTIPART_TEST_SKIP`` such locks are let pass first.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, List

#: What the child prints on stderr when the signal is raised (the test checks that it landed there).
FIRED = "signal_at_lock: SIGINT raised"


def install(arm: str) -> None:
    """Make the first ``Condition.__enter__`` (or ``Bell.wait``) of the main thread after ``arm`` exists raise
    SIGINT inside it."""
    fired: List[bool] = []
    main = threading.main_thread().ident

    inside = os.environ.get("COS_MULTIPART_TEST_AT")
    skip = [int(os.environ.get("COS_MULTIPART_TEST_SKIP", "0"))]

    def within() -> bool:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_name != inside:
            frame = frame.f_back  # type: ignore[assignment]
        return frame is not None

    def fire(where: str) -> None:
        # (get_ident: current_thread() in a thread still starting would register a dummy thread in its place.)
        if not fired and threading.get_ident() == main and os.path.exists(arm) and (inside is None or within()):
            if skip[0] > 0:
                skip[0] -= 1
                return
            fired.append(True)
            print(f"{FIRED} {where}", file=sys.stderr, flush=True)
            signal.raise_signal(signal.SIGINT)  # its handler runs here, before this returns

    enter = threading.Condition.__enter__

    def entered(self: threading.Condition) -> Any:
        taken = enter(self)
        fire("with a condition's lock just taken")
        return taken

    threading.Condition.__enter__ = entered  # type: ignore[method-assign]
    try:
        from cos_multipart._drivers._interrupts import Bell
    except ImportError:  # (the loops waited on conditions only)
        return
    wait = Bell.wait

    def waiting(self: Bell, timeout: float) -> bool:
        fire("as the loop starts waiting on its bell")
        return wait(self, timeout)

    Bell.wait = waiting  # type: ignore[method-assign]


if __name__ == "__main__":
    install(os.environ["COS_MULTIPART_TEST_ARM"])
    from cos_multipart._cli.main import main

    sys.exit(main(sys.argv[1:]))
