"""One home for the package's run-time settings (scvi-tools' ``settings``): how much it
says, whether long steps draw progress bars, and a global seed.

Messages go through the standard :mod:`logging` module (loggers under ``gpo_vae``), so a
notebook, a script or a cluster job routes them as it routes everything else;
``verbosity`` is the level of the ``gpo_vae`` logger. ``gpo-vae`` (the command line)
prints them: messages on stdout, progress lines and warnings on stderr.

Examples
--------
>>> import gpo_vae as gv
>>> gv.settings.verbosity = "info"           # the step-by-step messages  # doctest: +SKIP
>>> gv.settings.progress_bar = False         # no bars, no progress lines  # doctest: +SKIP
>>> with gv.settings.override(progress_bar=False):                        # doctest: +SKIP
...     model.train(max_epochs=5)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from gpo_vae.errors import ConfigError

#: The package's logger: every module logs under it (``gpo_vae.data.prepare``, ...).
LOGGER_NAME = "gpo_vae"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


#: The name of the handler :func:`_show_messages` adds (the command line sets it aside).
HANDLER_NAME = "gpo_vae.settings"


def _show_messages() -> None:
    """A plain stderr handler on the package logger when nothing would show its messages
    (no handler there nor on the root logger): Python's logging drops records below
    warnings otherwise. A configured logging setup is left as it is."""
    package = logging.getLogger(LOGGER_NAME)
    if package.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.set_name(HANDLER_NAME)
    package.addHandler(handler)


class GpoVaeSettings:
    """Package-wide settings; the one instance is :data:`settings` (``gv.settings``).

    Attributes
    ----------
    verbosity
        Level of the ``gpo_vae`` logger: ``"debug"``, ``"info"``, ``"warning"`` (the
        default of Python's logging: messages are not shown) or ``"error"``, or a
        :mod:`logging` level number. Read back as a number.
    progress_bar
        Draw progress bars on long steps (plain lines outside a terminal); default True.
    seed
        None, or a seed applied to Python's, numpy's and torch's global generators when
        set (each run still seeds itself from its config's ``training.seed``).
    """

    def __init__(self) -> None:
        self._progress_bar = True
        self._seed: int | None = None

    @property
    def verbosity(self) -> int:
        return logging.getLogger(LOGGER_NAME).getEffectiveLevel()

    @verbosity.setter
    def verbosity(self, level: int | str) -> None:
        if isinstance(level, str) and level.lower() in _LEVELS:
            level = _LEVELS[level.lower()]
        if isinstance(level, bool) or not isinstance(level, int):
            raise ConfigError(f"verbosity={level!r} is not a level; use one of "
                              f"{', '.join(_LEVELS)} or a logging level number")
        logging.getLogger(LOGGER_NAME).setLevel(level)
        if level < logging.WARNING:
            _show_messages()

    @property
    def progress_bar(self) -> bool:
        return self._progress_bar

    @progress_bar.setter
    def progress_bar(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"progress_bar={value!r} must be True or False")
        self._progress_bar = value

    @property
    def seed(self) -> int | None:
        return self._seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        if value is not None:
            from lightning.fabric.utilities.seed import seed_everything

            from gpo_vae.config import check_seed

            # what training uses too: Python's, numpy's and torch's generators (CUDA too)
            value = seed_everything(check_seed(value, "seed"), verbose=False)
        self._seed = value

    @contextlib.contextmanager
    def override(self, **values) -> Iterator[GpoVaeSettings]:
        """Change settings inside a ``with`` block and put them back after it."""
        unknown = sorted(set(values) - {"verbosity", "progress_bar", "seed"})
        if unknown:
            raise ConfigError(f"{unknown[0]!r} is not a setting; use verbosity, "
                              "progress_bar or seed")
        before = {name: getattr(self, name) for name in values}
        try:
            for name, value in values.items():
                setattr(self, name, value)
            yield self
        finally:
            for name, value in before.items():
                if name == "seed":
                    self._seed = value   # the generators are not wound back
                else:
                    setattr(self, name, value)

    def __repr__(self) -> str:
        return (f"GpoVaeSettings(verbosity={logging.getLevelName(self.verbosity)}, "
                f"progress_bar={self.progress_bar}, seed={self.seed})")


#: The package's settings (``gv.settings``).
settings = GpoVaeSettings()


def numba_threads_follow_omp() -> None:
    """Size numba's thread pool as ``OMP_NUM_THREADS`` says when only that is set.

    Someone who runs two trainings at once sets ``OMP_NUM_THREADS=1`` for each; numba,
    which scanpy's normalisation and kNN start, reads ``NUMBA_NUM_THREADS`` instead and
    resized the OpenMP team torch shares to every core, so the two ran about 10x slower
    on 2 cores. numba reads the variable once, when it is first imported, so this only
    acts before that; a user's own ``NUMBA_NUM_THREADS`` is kept.
    """
    import os
    import sys

    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0 and "NUMBA_NUM_THREADS" not in os.environ \
            and "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = omp
