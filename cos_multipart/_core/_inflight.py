"""The bookkeeping every parts window shares: the actions handed out, those that follow them, the first failure.

:class:`ActionsInFlight` is the part of the :class:`~cos_multipart._core._machine.Window` protocol that is the
same for an upload's parts (:mod:`~cos_multipart._core._window`), a copy's parts
(:mod:`~cos_multipart._core._copywindow`) and a download's ranges (:mod:`~cos_multipart._core._rangewindow`):
the queue of actions to hand out, which of them are in flight (by identity: two equal actions are two
actions), the action to queue once another succeeds (a part reported after it is recorded), and stopping on
the first failure (:class:`~cos_multipart._core._actions.StopParts`, once; later failures are only logged).
What a window hands out, how many slots it has and what an outcome means stay the window's own.
"""

from __future__ import annotations

import logging
from typing import Dict, Generic, List, Optional, Type, TypeVar, cast

from ._actions import StopParts

logger = logging.getLogger(__name__)

__all__ = ["ActionsInFlight"]

A = TypeVar("A")
K = TypeVar("K")


class ActionsInFlight(Generic[A]):
    """Actions of one window handed out and not answered yet, and the first failure (see the module docstring).

    A subclass queues its actions in :attr:`_queue`, says in :meth:`_nothing_left` when its work is done, and
    starts :meth:`~cos_multipart._core._machine.Window.receive` with :meth:`_settle`.
    """

    def __init__(self) -> None:
        self.error: Optional[BaseException] = None
        self._queue: List[A] = []
        self._after: Dict[int, A] = {}
        self._outstanding: Dict[int, A] = {}

    def _nothing_left(self) -> bool:
        """Whether no work is left to hand out (the window's own pending parts or ranges)."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """Nothing in flight and nothing more to do (all done, or stopped after a failure)."""
        if self._outstanding or self._queue:
            return False
        return self.error is not None or self._nothing_left()

    def owns(self, action: object) -> bool:
        """Whether ``action`` is one of this window's in flight."""
        return id(action) in self._outstanding

    def fail(self, error: BaseException) -> None:
        """Stop after ``error`` (the first failure is the one raised; later ones are logged)."""
        if self.error is not None:
            logger.debug("while stopping: %s", error)
            return
        self.error = error
        self._queue.append(cast(A, StopParts()))  # every window's actions include StopParts

    def _in_flight(self, kind: Type[K]) -> List[K]:
        """The actions of type ``kind`` handed out and not answered yet."""
        return [action for action in self._outstanding.values() if isinstance(action, kind)]

    def _any_in_flight(self, kind: type) -> bool:
        """Whether an action of type ``kind`` is in flight (stops at the first)."""
        return any(isinstance(action, kind) for action in self._outstanding.values())

    def _hand_out(self) -> List[A]:
        """The queued actions, now in flight."""
        taken, self._queue = self._queue, []
        for action in taken:
            self._outstanding[id(action)] = action
        return taken

    def _settle(self, action: A) -> Optional[A]:
        """``action`` answered: no longer in flight; the action chained after it, if any."""
        self._outstanding.pop(id(action))
        return self._after.pop(id(action), None)

    def _chain(self, first: A, then: A) -> None:
        """Queue ``first``; ``then`` is queued once ``first`` succeeds."""
        self._queue.append(first)
        self._after[id(first)] = then
