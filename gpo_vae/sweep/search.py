"""The local controller: grid and random search as W&B defines them, with no server.

Bayesian search needs a model of past results, which W&B's server keeps; it runs through
``--controller wandb`` only. Random search is seeded (the sweep file's ``seed``), so a
rerun proposes the same trials and finds them in redun's cache.

The distributions, written from W&B's documented definitions, are in
:mod:`gpo_vae.sweep.parameter`.
"""

from __future__ import annotations

import itertools

import numpy as np

from gpo_vae.errors import ConfigError
from gpo_vae.sweep.parameter import representative_value, sample_value
from gpo_vae.sweep.spec import SweepSpec

# sample_value and representative_value live in gpo_vae.sweep.parameter (spec needs them
# too); re-exported here for existing importers.
__all__ = ["expand_trials", "grid_trials", "random_trials", "representative_value",
           "sample_value"]


def grid_trials(spec: SweepSpec) -> list[dict]:
    """Every combination of the parameters' values, in the order the file lists them."""
    keys = [p.key for p in spec.parameters]
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(p.values for p in spec.parameters))]


def random_trials(spec: SweepSpec, n: int) -> list[dict]:
    """``n`` independent draws of every parameter, seeded by the sweep's ``seed``."""
    rng = np.random.default_rng(spec.seed)
    return [{p.key: sample_value(p, rng) for p in spec.parameters} for _ in range(n)]


def expand_trials(spec: SweepSpec, max_trials: int | None = None) -> list[dict]:
    """The parameter sets the local controller proposes (grid, or random with a cap)."""
    cap = max_trials or spec.run_cap
    if max_trials is not None and max_trials < 1:
        raise ConfigError(f"max_trials={max_trials} must be at least 1")
    if spec.method == "grid":
        trials = grid_trials(spec)
        return trials[:cap] if cap else trials
    if spec.method == "random":
        if not cap:
            raise ConfigError(f"sweep {spec.name!r} uses random search, which never ends on "
                              "its own; give max_trials=N (or run_cap: N in the sweep file)")
        return random_trials(spec, cap)
    raise ConfigError(f"sweep {spec.name!r} uses method: bayes, which needs the W&B server's "
                      "model of past trials; run it with --controller wandb (after wandb "
                      "login), or use method: random or grid for a local sweep")
