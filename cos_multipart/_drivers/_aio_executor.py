"""The asyncio executor: runs any machine's actions, each part action as a task.

:class:`AsyncExecutor` asks a :class:`~cos_multipart._core._machine.Machine` what to do, awaits each action where
it loops (:meth:`AsyncExecutor.perform`), starts each part action as a task (:meth:`AsyncExecutor.request`), and
hands every outcome back. It decides nothing; what an action means is the subclass's
(:class:`~cos_multipart._drivers.aio.AsyncUpload` for an upload).

Cancelling the awaiting task interrupts the machine: :attr:`AsyncExecutor.stop` is set (work running in a thread
gives up), the machine stops its parts (their tasks are cancelled, their connections close) and keeps or aborts,
and the loop goes on until the machine ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Dict

from .._core._actions import StopParts
from .._core._machine import Machine

logger = logging.getLogger(__name__)

__all__ = ["AsyncExecutor"]


class AsyncExecutor:
    """Runs machines on the event loop (see the module docstring)."""

    def __init__(self) -> None:
        #: Set when the operation stops: work still running in a thread gives up.
        self.stop = threading.Event()
        self._parts: Dict["asyncio.Task[object]", Any] = {}

    # -- what a subclass writes --

    async def perform(self, action: Any) -> object:
        """Do ``action`` where the executor loops (a local step or a single request); its outcome (may raise)."""
        raise NotImplementedError

    async def request(self, action: Any) -> object:
        """Do the part action ``action`` (in its own task); its outcome (may raise)."""
        raise NotImplementedError

    def prepare_part(self) -> None:
        """Called before each part task starts (a client sizes its connection pool)."""

    # -- the loop --

    async def execute(self, machine: Machine) -> None:
        """Run ``machine`` until it ends (its result or failure is then the machine's to give)."""
        while machine.end is None:
            try:
                await self._turn(machine)
            except BaseException as error:  # the awaiting task was cancelled: the machine stops, keeps or aborts
                self.stop.set()
                machine.interrupt(error)

    async def _turn(self, machine: Machine) -> None:
        """Do what the machine asks, start its parts as tasks, hand back the parts that finished."""
        for action in machine.steps():
            self._start(machine)  # parts handed out go first: a local step (a stream's next read) takes a while
            machine.receive(action, await self._outcome(action))
        self._start(machine)
        if not self._parts:
            return
        finished, _ = await asyncio.wait(self._parts, return_when=asyncio.FIRST_COMPLETED)
        for task in sorted(finished, key=lambda t: t.cancelled() or t.exception() is None):  # failures first
            action = self._parts.pop(task)
            if task.cancelled():
                machine.receive(action, asyncio.CancelledError())
            else:
                error = task.exception()
                machine.receive(action, error if error is not None else task.result())

    def _start(self, machine: Machine) -> None:
        for part in machine.parts_to_start():
            self.prepare_part()
            self._parts[asyncio.ensure_future(self.request(part))] = part

    async def _outcome(self, action: Any) -> object:
        try:
            if isinstance(action, StopParts):
                self.stop_parts()
                return None
            return await self.perform(action)
        except BaseException as error:  # the machine decides what it means, a cancellation included
            if isinstance(error, asyncio.CancelledError):
                self.stop.set()  # work still running in a thread gives up
            return error

    def stop_parts(self) -> None:
        """Stop the part tasks (:class:`StopParts`): their connections close; their outcomes still count."""
        self.stop.set()
        for task in self._parts:
            task.cancel()
