"""The local controller: grid and random search as W&B defines them, with no server.

Bayesian search needs a model of past results, which W&B's server keeps; it runs through
``--controller wandb`` only. Random search is seeded (the sweep file's ``seed``), so a
rerun proposes the same trials and finds them in redun's cache.

W&B's samplers live on its server, so the distributions are written here from its
documented definitions (numpy draws, W&B's parameterisation: ``log_uniform`` takes
bounds in log space, ``*_values`` in value space, ``q_*`` round to multiples of ``q``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from gpo_vae.errors import ConfigError
from gpo_vae.sweep.spec import Parameter, SweepSpec


def _quantize(value: float, q: float) -> float:
    return round(value / q) * q


def sample_value(p: Parameter, rng: np.random.Generator):
    """One draw of ``p`` by W&B's definition of its distribution."""
    b, d = p.bounds, p.distribution
    if d == "constant":
        return b["value"]
    if d == "categorical":
        probs = b.get("probabilities")
        if probs is not None:  # checked to sum to 1 within 1e-6; numpy wants it closer
            probs = np.asarray(probs, dtype=float) / np.sum(probs)
        index = rng.choice(len(b["values"]), p=probs)
        return b["values"][int(index)]
    if d == "int_uniform":
        return int(rng.integers(b["min"], b["max"], endpoint=True))
    if d in ("uniform", "q_uniform"):
        value = rng.uniform(b["min"], b["max"])
    elif d in ("log_uniform", "q_log_uniform"):
        value = math.exp(rng.uniform(b["min"], b["max"]))
    elif d in ("log_uniform_values", "q_log_uniform_values"):
        value = math.exp(rng.uniform(math.log(b["min"]), math.log(b["max"])))
    elif d == "inv_log_uniform":
        value = math.exp(-rng.uniform(b["min"], b["max"]))
    elif d == "inv_log_uniform_values":
        value = 1 / math.exp(rng.uniform(math.log(1 / b["max"]), math.log(1 / b["min"])))
    elif d in ("normal", "q_normal"):
        value = rng.normal(b["mu"], b["sigma"])
    elif d in ("log_normal", "q_log_normal"):
        value = math.exp(rng.normal(b["mu"], b["sigma"]))
    elif d in ("beta", "q_beta"):
        value = rng.beta(b["a"], b["b"])
    else:  # pragma: no cover - spec.parse_parameter rejects anything else
        raise ConfigError(f"unknown distribution {d!r}")
    if d.startswith("q_"):
        value = _quantize(value, b["q"])
        if isinstance(b["q"], int):  # as W&B does: an integer step gives integers
            return int(round(value))
    return float(value)


def representative_value(p: Parameter):
    """A value ``p`` can take (for checking the key before any trial runs)."""
    return sample_value(p, np.random.default_rng(0))


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
        raise ConfigError(f"--max-trials={max_trials} must be at least 1")
    if spec.method == "grid":
        trials = grid_trials(spec)
        return trials[:cap] if cap else trials
    if spec.method == "random":
        if not cap:
            raise ConfigError(f"sweep {spec.name!r} uses random search, which never ends on "
                              "its own; give --max-trials N (or run_cap: N in the sweep file)")
        return random_trials(spec, cap)
    raise ConfigError(f"sweep {spec.name!r} uses method: bayes, which needs the W&B server's "
                      "model of past trials; run it with --controller wandb (after wandb "
                      "login), or use method: random or grid for a local sweep")
