"""Progress of long steps: a tqdm bar on a terminal, a few plain lines anywhere else.

A tqdm bar redraws itself with carriage returns, which a log file (``train.log``, a
cluster job's output) keeps as one long line of frames. :func:`progress` is the one place
that decides: on a terminal (or in a Jupyter kernel) it returns a tqdm bar; otherwise an
object with the same use (iterate, ``update``, ``close``, ``with``) that logs a start
line, a line at each quarter of the way (on steps that take a while) and a done line
through :mod:`logging` (logger ``gpo_vae.progress``; ``gpo-vae`` sends it to stderr, see
:func:`log_to_console`). Whether anything is shown at all is ``gv.settings.progress_bar``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from gpo_vae._settings import HANDLER_NAME, settings

logger = logging.getLogger("gpo_vae.progress")

#: Intermediate lines of a plain progress report (at 25, 50 and 75 %) ...
QUARTERS = 4
#: ... each only when this many seconds passed since the previous line.
MIN_SECONDS_BETWEEN_LINES = 5.0


def interactive(stream: IO | None = None) -> bool:
    """True when ``stream`` (default: stderr, where tqdm draws) can show a redrawn bar: a
    terminal, or stderr inside a Jupyter kernel (tqdm draws a widget there)."""
    stream = sys.stderr if stream is None else stream
    if stream is sys.stderr and "ipykernel" in sys.modules:
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or odd stream
        return False


def progress(iterable: Iterable | None = None, *, desc: str, total: int | None = None,
             unit: str = "steps", enabled: bool | None = None, stream: IO | None = None):
    """A progress report over ``iterable`` (or ``total`` steps counted with ``update``).

    Parameters
    ----------
    iterable
        What to iterate over; None for a bar advanced by ``update(n)``.
    desc, total, unit
        The label, the number of steps (default: ``len(iterable)`` when it has one) and
        what the steps are (plural: ``"chunks"``).
    enabled
        False: no output at all; default: ``gv.settings.progress_bar`` (``--quiet`` turns
        it off).
    stream
        Where a bar would draw (default: stderr); it decides between bar and lines.

    Returns
    -------
    tqdm or PlainProgress
        Iterate over it, or call ``update`` / ``close`` (both are context managers).
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    enabled = (enabled is None or enabled) and showing_progress()
    if enabled and interactive(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, file=stream)
    return PlainProgress(iterable, desc=desc, total=total, unit=unit, enabled=enabled)


def showing_progress() -> bool:
    """Whether long steps show progress here: ``gv.settings.progress_bar``, and not inside
    a :func:`no_progress` block of this thread (a job's :func:`job_log` is one)."""
    return settings.progress_bar and not _QUIET.get(threading.get_ident())


@contextlib.contextmanager
def no_progress() -> Iterator[None]:
    """No progress from this thread while the block runs: the inner steps of a larger one
    (the learning diagnostics inside training, the scoring inside a design)."""
    ident = threading.get_ident()
    _QUIET[ident] = _QUIET.get(ident, 0) + 1
    try:
        yield
    finally:
        _QUIET[ident] -= 1


class PlainProgress:
    """Progress as a few whole log lines (start, each quarter, done): no carriage returns."""

    def __init__(self, iterable: Iterable | None, *, desc: str, total: int | None,
                 unit: str = "steps", enabled: bool = True):
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.enabled, self.n, self._closed = enabled, 0, False
        self._next_quarter = 1
        self._start = self._last_line = time.perf_counter()
        self._log(f"{desc}: started" + (f" ({total:,} {unit})" if total else ""))

    def _log(self, message: str) -> None:
        if self.enabled:
            logger.info(message)

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable if self.iterable is not None else ():
                yield item
                self.update()
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` finished steps; log a line when a quarter of ``total`` is passed."""
        self.n += n
        if not self.total:
            return
        quarter = self.n * QUARTERS // self.total
        now = time.perf_counter()
        if self._next_quarter <= quarter < QUARTERS and \
                now - self._last_line >= MIN_SECONDS_BETWEEN_LINES:
            self._next_quarter, self._last_line = quarter + 1, now
            self._log(f"{self.desc}: {self.n:,}/{self.total:,} {self.unit} "
                      f"({100 * self.n // self.total}%)")

    def close(self) -> None:
        """Log the done line (once)."""
        if self._closed:
            return
        self._closed = True
        seconds = time.perf_counter() - self._start
        self._log(f"{self.desc}: done, {self.n:,} {self.unit} in {seconds:.1f} s")

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Console(logging.Handler):
    """Writes each record to the streams of the moment (tests swap them): messages on
    stdout, progress lines and warnings on stderr (``warning: `` before a warning)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.thread in _JOB_THREADS:
                return                    # a job's lines go to its own log file
            to_stderr = record.levelno >= logging.WARNING or record.name == logger.name
            prefix = "warning: " if record.levelno == logging.WARNING else ""
            print(prefix + self.format(record), file=sys.stderr if to_stderr else sys.stdout,
                  flush=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def console_logging(level: int = logging.INFO) -> Iterator[None]:
    """Show the package's log records as bare lines while the block runs (what the
    command line does): messages on stdout, progress lines and warnings on stderr. The
    logger's level and handlers are put back after, so a Python session that called the
    command line in-process is left as it was."""
    package = logging.getLogger("gpo_vae")
    handler = _Console()
    handler.setFormatter(logging.Formatter("%(message)s"))
    before = package.level
    # a notebook's plain handler (gv.settings.verbosity) would print every line twice
    aside = [h for h in package.handlers if h.get_name() == HANDLER_NAME]
    for other in aside:
        package.removeHandler(other)
    package.addHandler(handler)
    package.setLevel(level)
    try:
        yield
    finally:
        package.removeHandler(handler)
        for other in aside:
            package.addHandler(other)
        package.setLevel(before)


#: Threads inside :func:`no_progress` blocks (how deep).
_QUIET: dict[int, int] = {}
#: Threads running a job (a benchmark job, a sweep trial): their records go to the job's
#: log file only (and, inside its no_progress block, they draw no progress).
_JOB_THREADS: set[int] = set()
_JOB_LOCK = threading.Lock()
_JOB_LEVEL: list = []          # the package level before the first job, while jobs run


@contextlib.contextmanager
def job_log(path: str | Path) -> Iterator[None]:
    """Send what this thread logs (the package's messages) to ``path`` while the block
    runs, as timestamped lines appended to the file, and draw no progress: parallel jobs
    would interleave on one terminal. Thread-safe (a sweep's trials may run in threads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ident = threading.get_ident()
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(lambda record: record.thread == ident)
    package = logging.getLogger("gpo_vae")
    with _JOB_LOCK:
        if not _JOB_THREADS:
            _JOB_LEVEL.append(package.level)
            package.setLevel(min(package.getEffectiveLevel(), logging.INFO))
        _JOB_THREADS.add(ident)
        package.addHandler(handler)
    try:
        with no_progress():
            yield
    finally:
        with _JOB_LOCK:
            package.removeHandler(handler)
            handler.close()
            _JOB_THREADS.discard(ident)
            if not _JOB_THREADS:
                package.setLevel(_JOB_LEVEL.pop())


@contextlib.contextmanager
def quiet_steps(*names: str) -> Iterator[None]:
    """Only warnings from the loggers ``names`` (e.g. ``gpo_vae.training``) and no
    progress from this thread while the block runs: the inner trainings of a larger step
    (bootstrap runs) say what they do in one line each, not in every detail."""
    loggers = [logging.getLogger(name) for name in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with no_progress():
            yield
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.setLevel(level)
