"""Train / validation / test splits.

``cells``: every perturbation is cut 64/16/20 (stratified), so each appears in every
split. ``perturbations``: whole perturbations are held out for testing (their cells are
in test only), the rest and the controls are cut like ``cells``, so the test set
measures prediction of perturbations the model never saw. ``combinations``: the same,
but only combinations (``A+B``) whose single perturbations are all in the data are held
out, so the test set measures the prediction of unseen combinations of seen singles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpo_vae.constants import SPLITS  # noqa: F401  (re-exported)
from gpo_vae.errors import InputDataError


def _stratified(groups: np.ndarray, fractions, rng: np.random.Generator) -> np.ndarray:
    """Cut every group by ``fractions`` after a seeded shuffle (vectorised, no cell loop)."""
    n = groups.size
    order = rng.permutation(n)
    frame = pd.DataFrame({"group": groups[order]})
    rank = frame.groupby("group", sort=False).cumcount().to_numpy()
    size = frame.groupby("group", sort=False)["group"].transform("size").to_numpy()
    position = (rank + 0.5) / size
    edges = np.cumsum(fractions)[:-1]
    out = np.empty(n, dtype=object)
    out[order] = np.array(SPLITS)[np.searchsorted(edges, position, side="right")]
    return out


def _held_out_candidates(groups: np.ndarray, control_label: str, kind: str,
                         separator: str | None) -> np.ndarray:
    """The labels a ``perturbations`` or ``combinations`` split may hold out."""
    perts = np.array(sorted(set(groups) - {control_label}))
    if kind == "perturbations":
        return perts
    if not separator:
        raise InputDataError("split=combinations needs the combination separator of the "
                             "labels: set data.combination_separator (e.g. '+')")
    singles = {p for p in perts if separator not in p}
    combos = [p for p in perts if separator in p
              and all(g in singles for g in p.split(separator) if g)]
    if not combos:
        raise InputDataError("split=combinations: no combination label whose single "
                             "perturbations are all in the data; use split=perturbations "
                             "or split=cells")
    return np.array(combos)


def assign_splits(labels: pd.Series, control_label: str, kind: str,
                  fractions=(0.64, 0.16, 0.20), seed: int = 0,
                  separator: str | None = None) -> np.ndarray:
    """Split name (``train``/``val``/``test``) per cell; ``separator`` joins the genes of
    combination labels (needed by ``combinations``)."""
    groups = labels.astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    fractions = np.asarray(fractions, dtype=float)
    if kind == "cells":
        split = _stratified(groups, fractions, rng)
    elif kind in ("perturbations", "combinations"):
        perts = _held_out_candidates(groups, control_label, kind, separator)
        n_test = int(round(fractions[2] * perts.size))
        if fractions[2] > 0:
            n_test = min(max(n_test, 1), perts.size - 1)
        held_out = set(rng.permutation(perts)[:n_test])
        test_cells = np.isin(groups, list(held_out))
        split = np.empty(groups.size, dtype=object)
        split[test_cells] = "test"
        control = groups == control_label
        split[control] = _stratified(groups[control], fractions, rng)
        seen = ~test_cells & ~control
        train_val = fractions[:2] / fractions[:2].sum()
        split[seen] = _stratified(groups[seen], [train_val[0], train_val[1], 0.0], rng)
    else:
        raise InputDataError(f"unknown split kind {kind!r}; use 'cells', 'perturbations' or "
                             "'combinations'")
    check_splits(split, groups, control_label, kind)
    return split.astype(str)


def check_splits(split: np.ndarray, groups: np.ndarray, control_label: str, kind: str) -> None:
    """Every split needs perturbed cells and control cells (pairing is within a split)."""
    control = groups == control_label
    for name in SPLITS:
        in_split = split == name
        if not (in_split & ~control).any() or not (in_split & control).any():
            what = "perturbed" if not (in_split & ~control).any() else "control"
            raise InputDataError(
                f"the {name!r} split has no {what} cells (split={kind!r}); use more cells or "
                "perturbations, lower data.min_cells, or change data.split_fractions"
            )


def subsample_training(split: np.ndarray, labels: np.ndarray, control_label: str,
                       n_cells: int, seed: int) -> np.ndarray:
    """Which cells to keep so that every perturbation (each condition label, controls
    apart) has at most ``n_cells`` training cells; validation and test cells all stay, so a
    learning curve over ``n_cells`` scores every point on the same held-out cells."""
    rng = np.random.default_rng([seed, n_cells])
    order = rng.permutation(split.size)
    train = order[(split[order] == "train") & (labels[order] != control_label)]
    rank = pd.Series(labels[train]).groupby(labels[train]).cumcount().to_numpy()
    keep = np.ones(split.size, dtype=bool)
    keep[train[rank >= n_cells]] = False
    return keep
