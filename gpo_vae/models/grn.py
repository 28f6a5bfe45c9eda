"""The learned GRN of a trained model: q(M) edge probabilities and edge weights over the
treatment genes, as arrays and as an edge table."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpo_vae.errors import ConfigError


def check_top_k(top_k, name: str = "top_k", every: str = "None") -> int | None:
    """``top_k`` as an edge count: None (every edge) or a positive whole number.

    The one rule behind :meth:`LearnedGrn.edges`, ``GpoVae.get_grn`` and ``gpo-vae
    export-grn --top-k`` (a negative count sliced edges off the end, silently). ``every``
    is how the caller asks for every edge (a command-line flag is left out instead).

    Raises
    ------
    ConfigError
        For anything else (0, negatives, fractions, booleans, strings).
    """
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1:
        raise ConfigError(f"{name}={top_k!r} is not a number of edges; give a positive "
                          f"whole number, or {every} for every edge")
    return int(top_k)


def check_threshold(threshold, name: str = "threshold") -> float:
    """``threshold`` as an edge probability in [0, 1] (above 1 no edge passes, silently)."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or not 0 <= threshold <= 1:
        raise ConfigError(f"{name}={threshold!r} is not an edge probability; give a number "
                          "between 0 and 1")
    return float(threshold)


@dataclass
class LearnedGrn:
    """q(M) probabilities and mean edge weights over the treatment genes."""

    genes: pd.DataFrame           # name, kind, measured, train_cells (model order)
    probabilities: np.ndarray     # (T, T)
    mean_weights: np.ndarray      # (T, T), E[E | M = 1] under the guide

    def edges(self, threshold: float = 0.5, top_k: int | None = None) -> pd.DataFrame:
        """Off-diagonal edges with probability >= threshold (at most ``top_k``), best first."""
        top_k = check_top_k(top_k)
        prob = self.probabilities.copy()
        np.fill_diagonal(prob, -1.0)
        rows, cols = np.nonzero(prob >= threshold)
        order = np.argsort(-prob[rows, cols], kind="stable")
        if top_k is not None:
            order = order[:top_k]
        rows, cols = rows[order], cols[order]
        names, kinds = self.genes["name"].to_numpy(), self.genes["kind"].to_numpy()
        weights = self.mean_weights[rows, cols]
        return pd.DataFrame({
            "source": names[rows], "target": names[cols],
            "probability": prob[rows, cols].round(6), "mean_weight": weights.round(6),
            "sign": np.sign(weights).astype(int),
            "source_kind": kinds[rows], "target_kind": kinds[cols],
        })


def learned_grn(module, n_samples: int = 32, seed: int = 0) -> LearnedGrn:
    """The GRN of a trained :class:`~gpo_vae.models.module.GpoVaeModule`.

    Parameters
    ----------
    module
        The trained module.
    n_samples
        Draws of M behind the mean edge weights E[E | M = 1].
    seed
        Seed of those draws (the caller's random state is restored).
    """
    from gpo_vae.config import check_count
    from gpo_vae.stats import seeded_torch

    n_samples = check_count(n_samples, "n_samples")  # 0 gave NaN weights, -1 all zero
    if not module.has_grn:
        raise ConfigError("this run is SAMS-VAE (model.variant=sams_vae), whose mask is over "
                          "latent dimensions, not genes: it has no GRN; train GPO-VAE "
                          "(model.variant=anchored or authors) for one")
    info = module.data_info
    with seeded_torch(seed):
        probs, mean = module.grn(n_samples)
    genes = pd.DataFrame({"name": info.treatment_names, "kind": info.treatment_kinds,
                          "measured": info.treatment_measured,
                          "train_cells": info.train_cells_per_treatment})
    return LearnedGrn(genes, probs.cpu().numpy(), mean.cpu().numpy())
