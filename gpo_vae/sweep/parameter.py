"""A swept parameter, W&B's distributions for it, and the reading of its spec from a
sweep file (:func:`parse_parameter`).

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
from pathlib import Path
from typing import Any

import numpy as np

from gpo_vae.errors import ConfigError

# W&B's distributions and the bounds each needs
# (https://docs.wandb.ai/guides/sweeps/sweep-config-keys#distribution-options-for-random-and-bayesian-search)
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values",),
    "int_uniform": ("min", "max"),
    "uniform": ("min", "max"),
    "q_uniform": ("min", "max"),
    "log_uniform": ("min", "max"),
    "log_uniform_values": ("min", "max"),
    "q_log_uniform": ("min", "max"),
    "q_log_uniform_values": ("min", "max"),
    "inv_log_uniform": ("min", "max"),
    "inv_log_uniform_values": ("min", "max"),
    "normal": (),
    "q_normal": (),
    "log_normal": (),
    "q_log_normal": (),
    "beta": ("a", "b"),
    "q_beta": ("a", "b"),
}
# W&B's defaults for the optional bounds
DEFAULT_BOUNDS = {"mu": 0.0, "sigma": 1.0, "q": 1}
OPTIONAL_BOUNDS = {"normal": ("mu", "sigma"), "q_normal": ("mu", "sigma"),
                   "log_normal": ("mu", "sigma"), "q_log_normal": ("mu", "sigma")}
PARAMETER_KEYS = {"distribution", "value", "values", "probabilities", "min", "max", "mu",
                  "sigma", "a", "b", "q"}
VALUES_DISTRIBUTIONS = ("constant", "categorical")

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


# --- reading a parameter's spec from a sweep file ---------------------------------------
def fail(path: Path, message: str) -> ConfigError:
    """A sweep-file error naming the file."""
    return ConfigError(f"sweep file {str(path)!r}: {message}")


def yaml_number(value):
    """PyYAML reads ``1e-5`` (no dot) as text; read such strings as the numbers meant."""
    if isinstance(value, list):
        return [yaml_number(v) for v in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _number(path: Path, key: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(path, f"parameter {key!r}: {name}={value!r} must be a finite number")
    return value


def parse_parameter(key: str, spec: dict, path: Path) -> Parameter:
    """Check one parameter's W&B spec; infer the distribution as W&B does."""
    unknown = sorted(set(spec) - PARAMETER_KEYS)
    if unknown:
        raise fail(path, f"parameter {key!r} has unknown field {unknown[0]!r}; use value, "
                    "values, or distribution with its bounds (min/max, mu/sigma, a/b, q)")
    distribution = _distribution(key, spec, path)
    bounds = {b: yaml_number(spec[b]) for b in spec if b != "distribution"}
    for b in OPTIONAL_BOUNDS.get(distribution, ()):
        bounds.setdefault(b, DEFAULT_BOUNDS[b])
    if distribution.startswith("q_"):
        bounds.setdefault("q", DEFAULT_BOUNDS["q"])
    if distribution == "categorical":
        _check_categorical(key, bounds, path)
    elif distribution != "constant":
        _check_bounds(key, distribution, bounds, path)
    return Parameter(key, distribution, bounds)


def _distribution(key: str, spec: dict, path: Path) -> str:
    """The parameter's distribution (inferred as W&B does when not given), checked against
    the fields the spec holds."""
    distribution = spec.get("distribution")
    if distribution is None:  # W&B's inference
        if "value" in spec:
            distribution = "constant"
        elif "values" in spec:
            distribution = "categorical"
        elif "min" in spec and "max" in spec:
            both_int = all(isinstance(spec[b], int) and not isinstance(spec[b], bool)
                           for b in ("min", "max"))
            distribution = "int_uniform" if both_int else "uniform"
        else:
            raise fail(path, f"parameter {key!r} needs 'value', 'values', or a "
                        "'distribution' with its bounds (e.g. min and max)")
    if distribution not in DISTRIBUTIONS:
        raise fail(path, f"parameter {key!r}: unknown distribution {distribution!r}; choose "
                    f"one of {', '.join(DISTRIBUTIONS)}")
    needed = DISTRIBUTIONS[distribution]
    missing = [b for b in needed if b not in spec]
    if missing:
        raise fail(path, f"parameter {key!r}: distribution {distribution} needs "
                    f"{' and '.join(needed)} (missing {missing[0]})")
    allowed = set(needed) | set(OPTIONAL_BOUNDS.get(distribution, ())) | {"distribution"}
    if distribution.startswith("q_"):
        allowed.add("q")
    if distribution == "categorical":
        allowed.add("probabilities")
    extra = sorted(set(spec) - allowed)
    if extra:
        raise fail(path, f"parameter {key!r}: {extra[0]!r} does not belong to distribution "
                    f"{distribution} (it takes {', '.join(needed)})")
    return distribution


def _check_categorical(key: str, bounds: dict, path: Path) -> None:
    values = bounds["values"]
    if not isinstance(values, list) or not values:
        raise fail(path, f"parameter {key!r}: values must be a non-empty list")
    if "probabilities" in bounds:
        probs = bounds["probabilities"]
        if not isinstance(probs, list) or len(probs) != len(values) or \
                any(_number(path, key, "probabilities", p) < 0 for p in probs) or \
                abs(sum(probs) - 1) > 1e-6:
            raise fail(path, f"parameter {key!r}: probabilities must be one non-negative "
                        "number per value, summing to 1")


def _check_bounds(key: str, distribution: str, bounds: dict, path: Path) -> None:
    """Numeric, ordered and positive where the distribution needs it; log-scale bounds
    that look like values in value space are refused with the fix."""
    for b in bounds:
        _number(path, key, b, bounds[b])
    if "min" in bounds and bounds["min"] > bounds["max"]:
        raise fail(path, f"parameter {key!r}: min={bounds['min']} is above "
                    f"max={bounds['max']}")
    if distribution == "int_uniform" and not all(
            isinstance(bounds[b], int) and not isinstance(bounds[b], bool)
            for b in ("min", "max")):
        raise fail(path, f"parameter {key!r}: int_uniform needs integer min and max")
    if distribution.endswith("_values") and bounds["min"] <= 0:
        raise fail(path, f"parameter {key!r}: {distribution} needs min > 0 (it samples "
                    "on a log scale)")
    for b in ("sigma", "a", "b", "q"):
        if b in bounds and bounds[b] <= 0:
            raise fail(path, f"parameter {key!r}: {b}={bounds[b]} must be positive")
    if distribution in ("log_uniform", "q_log_uniform", "inv_log_uniform") and \
            max(abs(bounds["min"]), abs(bounds["max"])) > 700:
        raise fail(path, f"parameter {key!r}: {distribution} takes its bounds as "
                    "natural logarithms (min=-9.2 means 1e-4); for bounds in value space "
                    f"use {distribution}_values")
