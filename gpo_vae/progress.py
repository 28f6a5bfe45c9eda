"""Progress of long steps: a tqdm bar on a terminal, a few plain lines anywhere else.

A tqdm bar redraws itself with carriage returns, which a log file (``train.log``, a
cluster job's output) keeps as one long line of frames. :func:`progress` is the one place
that decides: on a terminal (or in a Jupyter kernel) it returns a tqdm bar; otherwise an
object with the same use (iterate, ``update``, ``close``, ``with``) that logs a start
line, a line at each quarter of the way (on steps that take a while) and a done line
through :mod:`logging` (logger ``gpo_vae.progress``; ``gpo-vae`` sends it to stderr, see
:func:`log_to_stderr`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

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
             unit: str = "steps", enabled: bool = True, stream: IO | None = None):
    """A progress report over ``iterable`` (or ``total`` steps counted with ``update``).

    Parameters
    ----------
    iterable
        What to iterate over; None for a bar advanced by ``update(n)``.
    desc, total, unit
        The label, the number of steps (default: ``len(iterable)`` when it has one) and
        what the steps are (plural: ``"chunks"``).
    enabled
        False: no output at all (``--quiet``).
    stream
        Where a bar would draw (default: stderr); it decides between bar and lines.

    Returns
    -------
    tqdm or PlainProgress
        Iterate over it, or call ``update`` / ``close`` (both are context managers).
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if enabled and interactive(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, file=stream)
    return PlainProgress(iterable, desc=desc, total=total, unit=unit, enabled=enabled)


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


class _CurrentStderr(logging.Handler):
    """Writes each record to the stderr of the moment (tests swap sys.stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def log_to_stderr(level: int = logging.INFO) -> None:
    """Send the package's log records (progress lines, warnings) to stderr as bare
    lines; what the command line does. Idempotent; leaves a configured root logger be."""
    package = logging.getLogger("gpo_vae")
    if logging.getLogger().handlers or \
            any(isinstance(h, _CurrentStderr) for h in package.handlers):
        return
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    package.addHandler(handler)
    package.setLevel(level)
