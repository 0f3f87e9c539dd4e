"""The machines: every decision of an operation, with no client, clock, file handle, thread or event loop.

In the manner of a sans-I/O protocol object: an executor asks :meth:`Machine.next_actions` what to do (frozen
values of :mod:`cos_multipart._core._actions`), does it, and gives back what happened with
:meth:`Machine.receive` (a typed outcome, or the exception the action raised). Several part actions may be
outstanding at once and their outcomes may come back in any order; every other action is asked for alone. The
operation ends with a :class:`~cos_multipart._core._actions.Done` or :class:`~cos_multipart._core._actions.Failed`
action.

A :class:`Machine` runs any sequence written as a generator that yields either one action (its outcome is sent
back in, an exception thrown in) or a :class:`Window`: the parallel phase, which hands out part actions (any of
:data:`~cos_multipart._core._actions.PART_ACTIONS`) and judges their outcomes; when it is finished the sequence
goes on (its error thrown in, if it failed). The executors (threads, asyncio, Dask) run every machine the same
way. :class:`UploadMachine` is the upload's: its sequence is :mod:`cos_multipart._core._flow`, its parts phase
:mod:`cos_multipart._core._window`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Generator, Iterator, List, Optional, Protocol, cast, runtime_checkable

from ._actions import PART_ACTIONS, Done, Failed
from ._config import UploadResult
from ._flow import UploadStart, single_put_flow, upload_flow
from ._partvalues import StreamPart

__all__ = ["Machine", "UploadMachine", "UploadStart", "Window", "is_window"]


@runtime_checkable
class Window(Protocol):
    """The parallel phase of a sequence (:class:`~cos_multipart._core._window.PartWindow` is the upload's).

    It hands out actions with :meth:`take` (part actions, and the local steps that follow them), is given each
    one's outcome with :meth:`receive`, stops at :meth:`fail`, and is :attr:`finished` when nothing is in flight
    and nothing is left to do; :attr:`error` is then the first failure, if any.
    """

    error: Optional[BaseException]

    @property
    def finished(self) -> bool: ...  # noqa: D102

    def take(self) -> List[Any]: ...  # noqa: D102

    def owns(self, action: object) -> bool: ...  # noqa: D102

    def receive(self, action: Any, outcome: object) -> None: ...  # noqa: D102

    def fail(self, error: BaseException) -> None: ...  # noqa: D102

    def sending(self) -> bool: ...  # noqa: D102

    def sends_in_flight(self) -> List[Any]: ...  # noqa: D102


#: Whether each type of step seen is a :class:`Window`. ``isinstance`` against a runtime-checkable protocol
#: looks up every member each time (~10 us); the flow yields a few types (whose instances all have, or all lack,
#: the members), each once per step of every upload.
_WINDOW_TYPES: Dict[type, bool] = {}


def is_window(step: object) -> bool:
    """Whether ``step`` (something a sequence yielded) is its parts phase, a :class:`Window`."""
    kind = type(step)
    known = _WINDOW_TYPES.get(kind)
    if known is None:
        known = _WINDOW_TYPES[kind] = isinstance(step, Window)
    return known


class Machine:
    """One operation as a state machine, running the sequence ``flow`` (see the module docstring)."""

    def __init__(self, flow: Generator[Any, Any, Any]) -> None:
        self._flow = flow
        self._ready: List[Any] = []
        self._waiting: Optional[object] = None
        self._window: Optional[Window] = None
        self._ended = False
        self._to_start: List[Any] = []
        #: The last action (:class:`Done` or :class:`Failed`) once :meth:`steps` met it.
        self.end: Optional[Any] = None
        self._advance(None, None)

    @property
    def ended(self) -> bool:
        """Whether :class:`Done` or :class:`Failed` was handed out."""
        return self._ended and not self._ready

    def next_actions(self) -> List[Any]:
        """The actions to start now (each is handed out once; its outcome is due to :meth:`receive`)."""
        if self._window is not None:
            self._ready.extend(self._window.take())
            self._close_window()
        ready, self._ready = self._ready, []
        return ready

    def steps(self) -> Iterator[Any]:
        """The actions to do one by one where the executor loops, until the machine asks for nothing more
        (an outcome given meanwhile may free a part's slot: asked again at once); part sends are kept for
        :meth:`parts_to_start`, the last action for :attr:`end`.

        Raises:
            RuntimeError: The machine asks for nothing while nothing is in flight (a defect, never a wait).
        """
        asked = False
        while self.end is None:
            actions = self.next_actions()
            if not actions:
                break
            asked = True
            for action in actions:
                if isinstance(action, (Done, Failed)):
                    self.end = action
                    return
                if isinstance(action, PART_ACTIONS):
                    self._to_start.append(action)
                else:
                    yield action
        if not asked and not self._to_start and not self.parts_in_flight():
            raise RuntimeError("the machine asks for nothing while nothing is in flight")

    def parts_to_start(self) -> List[Any]:
        """The part sends :meth:`steps` set aside, to start now (on the executor's workers)."""
        parts, self._to_start = self._to_start, []
        return parts

    def parts_in_flight(self) -> bool:
        """Whether a part send was handed out and not answered yet."""
        return self._window is not None and self._window.sending()

    def value(self) -> object:
        """What the sequence returned; or its failure, raised."""
        if isinstance(self.end, Failed):
            raise self.end.error
        if not isinstance(self.end, Done):
            raise RuntimeError("the machine has not ended")
        return self.end.result

    def receive(self, action: object, outcome: object) -> None:
        """What ``action`` (an action handed out and not answered yet) came to: its value, or its exception."""
        window = self._window
        if window is not None and window.owns(action):
            window.receive(action, outcome)
            self._close_window()
            return
        if action is not self._waiting:
            raise ValueError(f"{action!r} is not an action waiting for its outcome")
        self._waiting = None
        if isinstance(outcome, BaseException):
            self._advance(None, outcome)
        else:
            self._advance(outcome, None)

    def interrupt(self, error: BaseException) -> None:
        """Stop because of ``error`` from outside the actions (Ctrl-C while waiting for parts): the parts in
        flight are stopped and awaited, then the upload is kept or aborted as for any failure."""
        if self._window is not None:
            self._window.fail(error)
        elif not self._ended:
            self._waiting = None
            self._advance(None, error)

    def forget_parts(self, error: BaseException) -> None:
        """The executor lost the outcomes of the part sends still handed out (an interrupt came between a
        send's end and its outcome reaching the machine): each counts as failed with ``error``. Such a part is
        not recorded, so a resume sends it again (List Parts shows it; the new answer replaces it)."""
        window = self._window
        if window is None:
            return
        for action in window.sends_in_flight():
            window.receive(action, error)
        self._close_window()

    # --- the sequence -------------------------------------------------------------------------------------

    def _close_window(self) -> None:
        window = self._window
        if window is None or not window.finished:
            return
        self._window = None
        self._advance(None, window.error)

    def _advance(self, value: object, error: Optional[BaseException]) -> None:
        """Run the sequence to its next step with ``value`` (or ``error`` thrown in)."""
        try:
            step = self._flow.throw(error) if error is not None else self._flow.send(value)
        except StopIteration as stop:
            self._end(Done(stop.value))
            return
        except BaseException as failure:  # the operation's failure, whatever it is: the executor raises it
            self._end(Failed(failure))
            return
        if is_window(step):
            self._window = cast(Window, step)
            self._close_window()  # nothing to send: the sequence goes on at once
        else:
            self._waiting = step
            self._ready.append(step)

    def _end(self, last: object) -> None:
        self._ended = True
        self._ready.append(last)


class UploadMachine(Machine):
    """One upload as a state machine.

    Build it with :meth:`upload` or :meth:`single_put` (or :meth:`piece`: a piece of the sequence alone).
    """

    @classmethod
    def upload(cls, start: UploadStart) -> "UploadMachine":
        """A whole upload: path, resume or initiate, parts, Complete (or keep-or-abort)."""
        return cls(upload_flow(start))

    @classmethod
    def single_put(cls, start: UploadStart, part: StreamPart) -> "UploadMachine":
        """The single verified PUT of ``part``, already read."""
        return cls(single_put_flow(start, part))

    @classmethod
    def piece(cls, flow: Generator[Any, Any, Any]) -> "UploadMachine":
        """A piece of the sequence run on its own (:func:`~cos_multipart._core._flow.complete_flow`,
        :func:`~cos_multipart._core._flow.part_flow`: the public session steps); :meth:`value` is what it returns."""
        return cls(flow)

    def result(self, elapsed: float) -> UploadResult:
        """The verified result, timed ``elapsed`` seconds by the executor; or the failure, raised."""
        if isinstance(self.end, Failed):
            raise self.end.error
        if not isinstance(self.end, Done):
            raise RuntimeError("the upload has not ended")
        result = self.end.result
        if not isinstance(result, UploadResult):
            raise TypeError(f"the machine ran a piece, not an upload: it returned {type(result).__name__}")
        return dataclasses.replace(result, elapsed=elapsed)
