"""The command line's progress bars (tqdm, the ``cli`` extra): acknowledged bytes, in binary units.

The bar is what COS has acknowledged (``bytes_confirmed``): a byte handed to the socket may still wait for
its answer behind a slow server, or be sent again after a retry. What was sent beyond that is shown beside
it (``sent 5.0 MiB`` for a file, ``3.0 MiB in flight`` for a directory), with the parts or files done. Sizes
and speeds are binary and labelled so (KiB, MiB, GiB, as in the summary line): tqdm's own scaling would print
1024-based values as ``M`` and ``MB/s``.

A bar is redrawn a few times a second even when no event comes (tqdm draws only on updates): the last
event before a long wait for an answer is shown, and the clock keeps moving. When a command is interrupted
the bar is left where it was: the library does not count an upload it stopped as done (see
:class:`~cos_multipart._drivers.directory.DirectoryProgress`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, Optional

if TYPE_CHECKING:  # annotations only: building the parser (every command, --help) does not import them
    from .._core._dirreport import DirectoryProgress
    from .._core.progress import ProgressEvent

#: Left: name and percentage; the bar; right: acknowledged of total, time, speed, then the rest.
_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {postfix[0][done]} [{elapsed}<{remaining}, {postfix[0][rate]}]{postfix[0][more]}"
_FORMAT_NO_NAME = "{percentage:3.0f}%|{bar}| {postfix[0][done]} [{elapsed}<{remaining}, {postfix[0][rate]}]{postfix[0][more]}"
#: How often a bar is drawn again when no event comes.
_REDRAW_SECONDS = 0.25


def human(count: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover


class _Bar:
    """One tqdm bar whose numbers are ours: ``n`` is acknowledged bytes, the text beside it is formatted here."""

    def __init__(self, tqdm: Any, label: str) -> None:
        self.fields: Dict[str, str] = {"done": "0 B", "rate": "? B/s", "more": ""}
        # A postfix given as a list is kept as it is (tqdm's documented way to fill a bar_format's own fields).
        self.bar = tqdm(
            total=None, desc=label or None, bar_format=_FORMAT if label else _FORMAT_NO_NAME, postfix=[self.fields],
            file=sys.stderr,
        )  # fmt: skip
        self.started = time.monotonic()
        self.first: Optional[int] = None
        self._closed = threading.Event()
        self._redraw = threading.Thread(target=self._redraw_while_open, name="cos-multipart-bar", daemon=True)
        self._redraw.start()

    def _redraw_while_open(self) -> None:
        while not self._closed.wait(_REDRAW_SECONDS):
            self.bar.refresh()  # tqdm's own lock orders it with the updates of the worker threads

    def show(self, confirmed: int, total: Optional[int], more: str) -> None:
        """Move the bar to ``confirmed`` bytes of ``total``, with ``more`` after the speed."""
        bar = self.bar
        if total is not None and bar.total != total:
            bar.total = total
        if self.first is None:
            self.first = confirmed  # reused parts are not this run's speed
        now = time.monotonic()
        rate = bar.format_dict.get("rate") or (confirmed - self.first) / max(now - self.started, 1e-3)
        self.fields["rate"] = f"{human(rate)}/s" if rate else "? B/s"
        self.fields["done"] = f"{human(confirmed)}/{human(total)}" if total is not None else human(confirmed)
        self.fields["more"] = f" {more}" if more else ""
        if confirmed != bar.n:
            bar.update(confirmed - bar.n)  # drawn at most every bar.mininterval; the text alone by the redraw thread

    def close(self) -> None:
        self._closed.set()
        self._redraw.join()
        self.bar.close()


def _tqdm(enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is optional (pip install cos-multipart[cli])
        return None
    return tqdm


@contextmanager
def file_bar(label: str, *, enabled: bool, moved: str = "sent") -> Iterator[Optional[Callable[[ProgressEvent], None]]]:
    """A bar for one upload, labelled with the local file's name; yields its progress callback (or ``None``).
    ``moved`` names the bytes in flight (``"received"`` for a download)."""
    tqdm = _tqdm(enabled)
    if tqdm is None:
        yield None
        return
    bar = _Bar(tqdm, os.path.basename(label))

    def update(event: ProgressEvent) -> None:
        more = []
        if event.bytes_done > event.bytes_confirmed:
            more.append(f"{moved} {human(event.bytes_done)}")
        if event.parts_total is not None and event.parts_total > 1:
            more.append(f"{event.parts_done}/{event.parts_total} parts")
        if event.parts_reused:
            more.append(f"{event.parts_reused} reused")
        bar.show(event.bytes_confirmed, event.total_bytes, ", ".join(more))

    try:
        yield update
        if bar.bar.total == 0:  # tqdm draws no percentage for a total of 0: say it is done
            bar.bar.bar_format = "{desc}: 100% 0 B (empty file)"
    finally:
        bar.close()


@contextmanager
def tree_bar(label: str, *, enabled: bool) -> Iterator[Optional[Callable[[DirectoryProgress], None]]]:
    """One bar for a directory: acknowledged bytes of all its files, files handled beside them."""
    tqdm = _tqdm(enabled)
    if tqdm is None:
        yield None
        return
    bar = _Bar(tqdm, label)

    def update(event: DirectoryProgress) -> None:
        more = [f"{event.files_done}/{event.files_total} files"]
        if event.files_failed:
            more.append(f"{event.files_failed} failed")
        if event.bytes_done > event.bytes_confirmed:
            more.append(f"{human(event.bytes_done - event.bytes_confirmed)} in flight")
        bar.show(event.bytes_confirmed, event.bytes_total, ", ".join(more))

    try:
        yield update
    finally:
        bar.close()
