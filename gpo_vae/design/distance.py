"""Distances between a predicted ATE profile and a design target (0 is a perfect match).

A registry in cell-eval's style: each entry carries a description; all are "lower is
better", work on torch tensors of shape (..., genes) against a (genes,) target, and are
differentiable, so the optimiser and the exact scoring use the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from gpo_vae.errors import ConfigError


@dataclass(frozen=True)
class Distance:
    """A registered distance: its name, what it measures, and the function."""

    name: str
    description: str
    fn: Callable[[Tensor, Tensor], Tensor]

    def __call__(self, predicted: Tensor, target: Tensor) -> Tensor:
        return self.fn(predicted, target)


def normalised_mse(predicted: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over the target's mean square: 1 for a prediction of no
    effect, 0 for a perfect one, so targets of any scale compare."""
    scale = (target * target).mean().clamp_min(1e-12)
    return ((predicted - target) ** 2).mean(-1) / scale


def pearson_distance(predicted: Tensor, target: Tensor) -> Tensor:
    """1 - Pearson correlation over the target's genes (1 for a flat prediction)."""
    p = predicted - predicted.mean(-1, keepdim=True)
    t = target - target.mean()
    denominator = (p.norm(dim=-1) * t.norm()).clamp_min(1e-12)
    return 1.0 - (p * t).sum(-1) / denominator


def mixed_distance(predicted: Tensor, target: Tensor) -> Tensor:
    """The mean of the Pearson distance (direction) and the normalised MSE (size)."""
    return 0.5 * (pearson_distance(predicted, target) + normalised_mse(predicted, target))


DISTANCES: dict[str, Distance] = {d.name: d for d in (
    Distance("mix", "mean of 1 - Pearson r and the normalised MSE: right genes, right "
             "direction and right size", mixed_distance),
    Distance("pearson", "1 - Pearson r over the target's genes: the shape of the response, "
             "whatever its size", pearson_distance),
    Distance("mse", "MSE over the target's mean square (1 = no effect): the size of the "
             "response gene by gene", normalised_mse),
)}


def get_distance(name: str) -> Distance:
    """The registered distance ``name`` (a one-line error lists the names)."""
    if name not in DISTANCES:
        raise ConfigError(f"unknown distance {name!r}; choose one of {', '.join(DISTANCES)}")
    return DISTANCES[name]
