"""The command line's log lines: records from the package's loggers printed as ``cos-multipart: warning: ...`` on
stderr, through the progress bar when one is drawn.

Apart from :mod:`.main` so that ``cos-multipart --help`` and ``--version``, which end while the arguments are
parsed, do not import :mod:`logging`.
"""

from __future__ import annotations

import logging
import sys

from .text import shown


class LogHandler(logging.Handler):
    """Log records as the command's own lines on stderr: ``cos-multipart: warning: ...`` (the logger's name
    only with ``--verbose``), written through a progress bar on the screen (cleared, the line printed, the
    bar drawn again) instead of over it. stderr is looked up at each record (tests replace it)."""

    def __init__(self, *, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = shown(" ".join(line.strip() for line in record.getMessage().splitlines())) or record.levelname.lower()
        where = f"{record.name}: " if self.verbose else ""
        line = f"cos-multipart: {record.levelname.lower()}: {where}{text}"
        if self.verbose and record.exc_info:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        return line

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_line(self.format(record))
        except Exception:  # a log line must never break an upload
            self.handleError(record)


def write_line(line: str) -> None:
    """Print ``line`` on stderr, through the progress bar when one is drawn there."""
    tqdm = sys.modules.get("tqdm")  # only loaded when a bar was made: no bar, nothing to clear
    if tqdm is not None:
        tqdm.tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def configure_logging(*, verbose: bool, quiet: bool) -> None:
    """Send the log records at the level the flags ask for (``--verbose``: debug, ``--quiet``: errors only,
    else warnings) to :class:`LogHandler`, replacing the handler of an earlier run in the same process."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, LogHandler)]:
        root.removeHandler(handler)  # an earlier main() of the same process
    root.addHandler(LogHandler(verbose=verbose))
    root.setLevel(level)
