"""Predictions of a trained model: ATEs and sampled cells.

Cells are drawn from the generative model with the global variables (M, E, E_qc) from
the guide (at their posterior mean, or sampled: ``model.predict_globals``), z_basal from
its N(0, I) prior, a good-quality cell (q = 0) and library size
1e4; counts are negative binomial. Model ATEs use the same "perturbseq" transform as the
data ATEs, applied (``model.ate_decoding``) to the decoded proportions themselves
(``expected``: what the anchored model's pseudobulk term fits to the training cells) or
to sampled counts (``sampled``: the authors'). For ATEs, control and perturbed cells share
each draw of the globals, of z_basal and of the over-dispersion noise (common random
numbers), so their difference carries less Monte Carlo noise; each set of cells on its
own is still an exact sample. The ATE of a combination never seen in training is, by
default, the sum of its treatments' ATEs (``model.unseen_combinations``); sampled cells
and :func:`ate_draws` (intervention design) always compose in the latent space.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from gpo_vae.config import check_count
from gpo_vae.constants import ATE_DECODINGS, TARGET_SUM
from gpo_vae.errors import ConfigError
from gpo_vae.progress import progress as progress_bar
from gpo_vae.stats import perturbseq_expected_torch, perturbseq_transform_torch, seeded_torch
from gpo_vae.stats.additive import additive_weights


def _nb_counts(module, proportions: torch.Tensor, library_size: float,
               gamma: torch.Tensor | None = None) -> torch.Tensor:
    """NB counts of the decoded ``proportions``: NB = Poisson(mean x gamma / theta) with
    gamma ~ Gamma(theta, 1); passing the same ``gamma`` to several calls couples their
    over-dispersion noise while each call's counts stay exactly NB."""
    theta = module.model.inverse_dispersion
    if gamma is None:
        gamma = torch.distributions.Gamma(theta, torch.ones_like(theta)).sample(
            proportions.shape[:-1])
    return torch.poisson(library_size * proportions * gamma / theta)


def _globals_mode(module, how: str | None) -> str:
    how = how or getattr(module.config.model, "predict_globals", None) or "sample"
    if how not in ("mean", "sample"):
        raise ConfigError(f"globals_={how!r} must be 'mean' or 'sample'")
    return how


def composition(module, dosages: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The dosage rows to decode for ``dosages`` (C, T), and the (C, R) matrix that turns
    their ATEs into one per condition (None: the rows themselves).

    With ``model.unseen_combinations=additive`` a combination the model was not anchored
    to in training is predicted additively: the sum, at its doses, of its treatments'
    effects, each fitted by least squares over every anchored condition that holds it
    (singles and combinations, through :func:`additive_fit` and
    :mod:`gpo_vae.stats.additive`), so a treatment measured
    in doubles as well as alone is estimated from all of them. Conditions seen in
    training (and every single) keep the model's own composition. A model that keeps
    no list of its training conditions composes in the latent space throughout.
    """
    dosages = np.asarray(dosages, dtype=np.float32)
    config = getattr(getattr(module, "config", None), "model", None)
    combination = (dosages != 0).sum(1) > 1
    if getattr(config, "unseen_combinations", None) != "additive" or not combination.any():
        return dosages, None
    observed = module.observed_conditions(torch.as_tensor(dosages, device=_device(module)))
    if observed is None:
        return dosages, None
    split = combination & ~observed.cpu().numpy()
    if not split.any():
        return dosages, None
    anchored = module.anchored_conditions().cpu().numpy()
    fit_rows, coefficients = additive_fit(anchored, dosages[split])
    kept = np.flatnonzero(~split)
    combine = np.zeros((len(dosages), kept.size + len(fit_rows)))
    combine[kept, np.arange(kept.size)] = 1.0
    combine[np.flatnonzero(split), kept.size:] = coefficients
    return np.concatenate([dosages[kept], fit_rows]), combine


def additive_fit(anchored: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray,
                                                                        np.ndarray]:
    """Rows to decode and the (Q, R) weights that give each query row's additive effect.

    The treatments' effects are the least-squares fit of an additive model, ATE(row) =
    row @ effects, to the decoded ATEs of the rows: every ``anchored`` condition (R0, T)
    connected to a query's treatments through shared treatments, and each of those
    treatments alone (so a treatment seen only inside combinations, or nowhere, still
    has its own decoded single). With singles alone this is the sum of the singles.
    """
    columns = np.flatnonzero((queries != 0).any(0))
    anchored = anchored[(anchored != 0).sum(1) > 1]      # the singles are added below
    while True:   # the treatments connected to the queries' through anchored conditions
        touching = (anchored[:, columns] != 0).any(1)
        grown = np.union1d(columns, np.flatnonzero((anchored[touching] != 0).any(0)))
        if grown.size == columns.size:
            break
        columns = grown
    singles = np.zeros((columns.size, queries.shape[1]), dtype=np.float32)
    singles[np.arange(columns.size), columns] = 1.0
    rows = np.concatenate([singles, anchored[touching]])
    return rows, additive_weights(rows, queries)


def _device(module) -> torch.device:
    return next(module.parameters()).device


def _decoding_mode(module, how: str | None) -> str:
    how = how or getattr(module.config.model, "ate_decoding", None) or "sampled"
    if how not in ATE_DECODINGS:
        raise ConfigError(f"ate_decoding={how!r} must be one of {', '.join(ATE_DECODINGS)}")
    return how


class _ControlDraw:
    """One draw's shared randomness (globals, z_basal, over-dispersion noise) and its
    control cells' mean expression; :meth:`ate` of dosage rows against them."""

    def __init__(self, module, how: str, decoding: str, cells: int, library_size: float):
        self.module, self.decoding, self.library_size = module, decoding, library_size
        self.sample = module.prediction_globals(how)
        self.z = torch.randn((1, cells, module.n_latent), device=_device(module))
        theta = module.model.inverse_dispersion
        self.gamma = None if decoding == "expected" else \
            torch.distributions.Gamma(theta, torch.ones_like(theta)).sample((1, cells))
        self.control = self._expression(self.z.new_zeros((1, module.n_treatments)))

    def _expression(self, dosages: torch.Tensor) -> torch.Tensor:
        """Mean transformed expression (C, G) of the draw's cells under each row."""
        proportions = self.module.decode_conditions(self.sample, self.z, dosages)
        if self.decoding == "expected":
            return perturbseq_expected_torch(proportions).mean(1)
        counts = _nb_counts(self.module, proportions, self.library_size, self.gamma)
        return perturbseq_transform_torch(counts).mean(1)

    def ate(self, dosages: torch.Tensor) -> torch.Tensor:
        return (self._expression(dosages) - self.control).double()


@torch.no_grad()
def ate_draws(module, dosages: np.ndarray, *, n_draws: int, cells_per_draw: int,
              library_size: float = TARGET_SUM, max_elements: int = 20_000_000,
              globals_: str | None = None, decoding: str | None = None):
    """Model ATEs (C x G tensors) of the dosage rows ``dosages`` (C x T), one per draw
    of the global variables (or their mean) and of ``cells_per_draw`` z_basal cells, as
    a generator; the caller seeds torch. Within a draw every row shares the globals,
    z_basal and over-dispersion noise of its control cells (common random numbers).
    ``decoding`` is ``expected`` or ``sampled`` (default: the run's
    ``model.ate_decoding``). Every row is decoded as it is (combinations in the latent
    space); :func:`model_ates` applies :func:`composition`."""
    how, decoding = _globals_mode(module, globals_), _decoding_mode(module, decoding)
    n_genes = module.data_info.n_genes
    d = torch.as_tensor(np.asarray(dosages, dtype=np.float32), device=_device(module))
    chunk = max(1, max_elements // (cells_per_draw * n_genes))
    for _ in progress_bar(range(n_draws), desc="model ATEs"):
        draw = _ControlDraw(module, how, decoding, cells_per_draw, library_size)
        ates = [draw.ate(d[start:start + chunk]) for start in range(0, d.shape[0], chunk)]
        yield torch.cat(ates) if ates else draw.control.new_zeros((0, n_genes)).double()


def model_ates(module, dosages: np.ndarray, names: list[str], *, n_samples: int = 1000,
               n_global: int = 20, library_size: float = TARGET_SUM, seed: int = 0,
               max_elements: int = 20_000_000, globals_: str | None = None,
               decoding: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model ATEs (conditions x genes) for the dosage rows ``dosages`` (C x T), and their
    Monte Carlo standard errors from the spread between the ``n_global`` draws (of the
    global variables, when sampled, and of z_basal; each with ``n_samples / n_global``
    cells). ``globals_`` is ``mean`` or ``sample`` (default: the run's
    ``model.predict_globals``), ``decoding`` ``expected`` or ``sampled`` (default: its
    ``model.ate_decoding``). Combinations never seen in training are composed as
    :func:`composition` says."""
    n_samples, n_global = check_count(n_samples, "n_samples"), check_count(n_global, "n_global")
    n_genes = module.data_info.n_genes
    total = torch.zeros((len(dosages), n_genes), dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    rows, combine = composition(module, dosages)
    combine = None if combine is None else torch.as_tensor(combine)
    with seeded_torch(seed):
        for ate in ate_draws(module, rows, n_draws=n_global,
                             cells_per_draw=max(1, n_samples // n_global),
                             library_size=library_size, max_elements=max_elements,
                             globals_=globals_, decoding=decoding):
            ate = ate.cpu() if combine is None else combine @ ate.cpu()
            total += ate
            total_sq += ate * ate
    mean = total / n_global
    var = (total_sq / n_global - mean * mean).clamp_min(0) * n_global / max(n_global - 1, 1)
    se = (var / n_global).sqrt()
    columns = module.data_info.gene_names
    index = pd.Index(names, name="perturbation")
    return (pd.DataFrame(mean.numpy(), index=index, columns=columns),
            pd.DataFrame(se.numpy(), index=index, columns=columns))


@torch.no_grad()
def sample_cells(module, dosages: np.ndarray, *, library_size: float = TARGET_SUM,
                 cells_per_draw: int = 256, seed: int = 0,
                 globals_: str | None = None) -> sp.csr_matrix:
    """Sampled counts (cells x genes, sparse) for one cell per dosage row (N x T); each
    block of ``cells_per_draw`` cells shares one draw of the global variables (or their
    posterior mean; ``globals_`` as in :func:`model_ates`)."""
    cells_per_draw = check_count(cells_per_draw, "cells_per_draw")
    how = _globals_mode(module, globals_)
    device = _device(module)
    d = torch.as_tensor(np.asarray(dosages, dtype=np.float32), device=device)
    blocks = []
    with seeded_torch(seed):
        starts = range(0, d.shape[0], cells_per_draw)
        for start in progress_bar(starts, desc="sampling cells"):
            rows = d[start:start + cells_per_draw]
            sample = module.prediction_globals(how)
            z = torch.randn((1, rows.shape[0], module.n_latent), device=device)
            counts = _nb_counts(module, module.decode_cells(sample, z, rows), library_size)[0]
            blocks.append(sp.csr_matrix(counts.cpu().numpy().astype(np.float32)))
    if not blocks:
        return sp.csr_matrix((0, module.data_info.n_genes), dtype=np.float32)
    return sp.vstack(blocks).tocsr()
