"""A swept parameter and W&B's distributions for it.

Shared by the sweep file (:mod:`gpo_vae.sweep.spec` checks each key with a value it can
take) and the local controller (:mod:`gpo_vae.sweep.search` draws trials), so neither
imports the other. W&B's samplers live on its server, so the distributions are written
here from its documented definitions (numpy draws, W&B's parameterisation:
``log_uniform`` takes bounds in log space, ``*_values`` in value space, ``q_*`` round to
multiples of ``q``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpo_vae.errors import ConfigError

__all__ = ["Parameter", "representative_value", "sample_value"]


@dataclass(frozen=True)
class Parameter:
    """One swept config key and how its values are chosen (W&B semantics)."""

    key: str
    distribution: str
    bounds: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> list | None:
        """The finite list of values (constant and categorical), else None."""
        if self.distribution == "constant":
            return [self.bounds["value"]]
        if self.distribution == "categorical":
            return list(self.bounds["values"])
        return None

    def as_wandb(self) -> dict:
        """The parameter as W&B's sweep config writes it."""
        if self.distribution == "constant":
            return {"value": self.bounds["value"]}
        if self.distribution == "categorical":
            out = {"values": list(self.bounds["values"])}
            if "probabilities" in self.bounds:
                out["probabilities"] = list(self.bounds["probabilities"])
            return out
        return {"distribution": self.distribution, **self.bounds}



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
