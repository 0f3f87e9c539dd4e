"""Helpers of the Ctrl-C/SIGTERM tests of the transfer commands (``test_cli_interrupt*.py``): the command in a
child process with stderr on a pseudo-terminal, waits on conditions (never a sleep), the bar as it was left."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from cos_multipart._io.checkpoint import CheckpointStore


MB = 1024 * 1024
#: Upper bound of a wait for the server or the child (a failure, not a timing decision).
PATIENCE = 60.0
#: The documented exit codes (docs/cli.md): 130 for Ctrl-C, 143 (128 + 15) for SIGTERM.
SIGNALS = [pytest.param(signal.SIGINT, 130, id="SIGINT"), pytest.param(signal.SIGTERM, 143, id="SIGTERM")]


class Child:
    """The command in a child process: stdout on a pipe, stderr on a pseudo-terminal read by a thread."""

    def __init__(self, argv: List[str], *, runner: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> None:
        """``runner``: what runs the command line instead of ``python -m cos_multipart`` (a script taking the
        command's arguments); ``env``: variables added to the inherited environment."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))  # a size: tqdm draws a bar
        # faulthandler on: a child that hangs is sent SIGABRT (see finish), which prints every thread's stack on
        # the terminal read here, so one occurrence in CI names where it hung. Unused, it costs nothing.
        self.process = subprocess.Popen(
            [sys.executable, *(runner or ["-m", "cos_multipart"]), *argv], stdout=subprocess.PIPE, stderr=slave,
            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {}), "PYTHONFAULTHANDLER": "1"},
        )  # fmt: skip
        os.close(slave)
        self._master = master
        self._chunks: List[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            self._chunks.append(chunk)

    @property
    def terminal(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def finish(self) -> Tuple[int, str, str]:
        """Exit code, stdout, and what the terminal showed."""
        try:
            out, _ = self.process.communicate(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            # A command that never ends must not outlive its test (one spun for 42 minutes after a CI run); its
            # threads' stacks first (faulthandler answers SIGABRT with them, then the child dies).
            self.process.send_signal(signal.SIGABRT)
            try:
                self.process.communicate(timeout=PATIENCE / 6)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
            self._reader.join(PATIENCE / 6)
            os.close(self._master)
            shown = self.terminal
            stacks = shown.find("Fatal Python error")
            if stacks > 2000:  # the bar redrawn for a minute: its last lines are enough
                shown = f"...{shown[stacks - 2000:]}"
            pytest.fail(f"the command did not end within {PATIENCE:g} s; what its terminal showed, its threads' "
                        f"stacks last:\n{shown}")  # fmt: skip
        self._reader.join(PATIENCE)
        os.close(self._master)
        return self.process.returncode, out.decode(), self.terminal.replace("\r\n", "\n")


def wait_for(condition: Callable[[], bool], child: Child, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if child.process.poll() is not None:
            pytest.fail(f"the command ended before {what}: {child.finish()}")
        if time.monotonic() > deadline:
            # Its threads' stacks on the terminal (faulthandler), then it dies.
            child.process.send_signal(signal.SIGABRT)
            pytest.fail(f"never saw {what}: {child.finish()}")
        time.sleep(0.02)  # polling only: the condition decides


def checkpoints(tmp_path: Path) -> Dict[str, str]:
    """Key -> upload id of every checkpoint in the CLI's (XDG) checkpoint directory."""
    return {c.key: c.upload_id for _, c in CheckpointStore(tmp_path / "cache" / "cos-multipart")}


def last_bar(terminal: str) -> str:
    """The bar as it was left: the last drawing before the first line the command printed after it."""
    drawn = terminal.split("cos-multipart:", 1)[0]
    frames = [frame for frame in re.split(r"[\r\n]", drawn) if "%|" in frame]
    assert frames, terminal
    return frames[-1]
