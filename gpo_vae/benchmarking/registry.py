"""A registry of benchmark methods, like the metric registry: each entry says what it is
and how it predicts, so adding a method is one file in :mod:`gpo_vae.benchmarking.methods`
(or one :func:`register_method` call in a notebook before :func:`run_benchmark`).

A method turns a :class:`MethodJob` (the data, the perturbations to predict, a seed and a
folder of its own) into a :class:`MethodOutput` (predicted ATEs, perturbations x genes,
on the "perturbseq" scale of :mod:`gpo_vae.evaluation.ate`). Methods that train a model
(``trains=True``) run once per seed, each in a worker process; the others are
deterministic given the training cells and run once, in this process, for every seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gpo_vae.errors import ConfigError


@dataclass
class MethodJob:
    """What a method is asked to do: predict ``names`` on the data of ``config_path``
    with ``overrides``, with model seed ``seed``, writing anything it keeps in
    ``folder``. ``data`` (:class:`gpo_vae.benchmarking.data.BenchmarkData`) is there for
    methods that run in this process; a worker process gets ``None`` and prepares (or
    reads from the cache) what it needs."""

    config_path: str
    overrides: list[str]
    seed: int
    folder: Path
    names: list[str]
    settings: object                 # EvaluationSettings
    data: object | None = None

    def config(self, extra: list[str] = ()):
        """The run's config: the benchmark's, then ``extra`` (a method's own settings)."""
        from gpo_vae.config import load_config

        return load_config(self.config_path, [*self.overrides, *extra])


@dataclass
class MethodOutput:
    """Predicted ATEs (``names`` x genes; NaN rows where the method cannot predict) and
    anything else worth reporting (``iwelbo_test``, ``train_seconds``, ``run_dir``)."""

    ates: pd.DataFrame
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """A registered method."""

    name: str
    label: str                       # how tables name it
    description: str
    run: Callable[[MethodJob], MethodOutput]
    trains: bool = False             # trained per seed in a worker process
    # why the method does not apply to this data (None: it does)
    applies: Callable[[object], str | None] = field(default=lambda data: None)
    # the gpo-vae command lines behind its numbers, for commands.txt
    commands: Callable[[MethodJob], list[str]] | None = None


METHODS: dict[str, Method] = {}


def register_method(name: str, label: str, description: str, *, trains: bool = False,
                    applies: Callable[[object], str | None] | None = None,
                    commands: Callable[[MethodJob], list[str]] | None = None
                    ) -> Callable[[Callable], Callable]:
    """Add a method ``run(job) -> MethodOutput`` to :data:`METHODS`.

    Parameters
    ----------
    name
        Its key (``--methods name``; the ``method`` column of ``benchmark.csv``).
    label
        Its name in tables and plots.
    description
        One line saying what it predicts.
    trains
        Whether it trains a model: then it runs once per seed, in a worker process,
        and must not rely on ``job.data``.
    applies
        ``applies(data)`` returns why the method cannot be scored on this data, or None.
    commands
        ``commands(job)`` returns the command lines that reproduce its run.

    Examples
    --------
    >>> @register_method("zero", "no effect", "predicts no change")  # doctest: +SKIP
    ... def zero(job):
    ...     genes = job.data.observed.columns
    ...     return MethodOutput(pd.DataFrame(0.0, index=job.names, columns=genes))
    """
    def add(run: Callable[[MethodJob], MethodOutput]) -> Callable:
        if name in METHODS:
            raise ValueError(f"method {name!r} is already registered")
        METHODS[name] = Method(name, label, description, run, trains,
                               applies or (lambda data: None), commands)
        return run
    return add


def methods(names: list[str] | None = None) -> list[Method]:
    """The registered methods called ``names`` (default: all), built-in ones loaded; an
    unknown name is a one-line error listing the known ones."""
    import gpo_vae.benchmarking.methods  # noqa: F401  (registers the built-in methods)

    if not names:
        return list(METHODS.values())
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method {', '.join(map(repr, unknown))}; choose from "
                          f"{', '.join(METHODS)}")
    return [METHODS[n] for n in dict.fromkeys(names)]
