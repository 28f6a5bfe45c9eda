"""Which learned edges to trust: how often each edge recurs when the model is trained again
on bootstrap resamples of its training cells.

Each of N runs resamples the training cells with replacement within each perturbation (so
every perturbation keeps its cell count; validation and test cells are untouched), trains
the run's configuration with its own seed, and records q(M). An edge's *stability* is the
fraction of runs in which its probability reaches the threshold: an edge that only one
resample finds is a product of which cells happened to be sampled.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae.config import Config, check_seed, config_from_dict
from gpo_vae.constants import (
    OBS_PERTURBATION,
    OBS_QC,
    OBS_SPLIT,
    OBSM_DELTA_X,
    SPLITS,
    UNS_TRAIN_CELLS_PER_QC,
)
from gpo_vae.errors import ConfigError
from gpo_vae.models.grn import check_threshold, learned_grn
from gpo_vae.progress import quiet_steps

logger = logging.getLogger(__name__)

TRAIN = SPLITS[0]


@dataclass
class GrnStability:
    """Edge recurrence over ``n_runs`` bootstrap runs (T x T frames over the treatment
    genes, rows regulate columns): ``frequency`` is the fraction of runs in which
    q(M) >= ``threshold``, ``mean_probability`` q(M) averaged over the runs."""

    frequency: pd.DataFrame         # fraction of runs with q(M) >= threshold
    mean_probability: pd.DataFrame  # q(M) averaged over the runs
    n_runs: int
    threshold: float
    seed: int


def bootstrap_training_cells(adata: ad.AnnData, rng: np.random.Generator) -> ad.AnnData:
    """A bootstrap copy of a prepared screen's training cells.

    Parameters
    ----------
    adata
        A prepared AnnData (not modified).
    rng
        The resampling's random generator.

    Returns
    -------
    AnnData
        A copy whose training cells are drawn with replacement within each perturbation
        label (so each keeps its count), with unique cell names, the other splits' cells
        as they are, and ``uns['train_cells_per_qc']`` counted again on the resample.
        The encoder's gene statistics, the counterfactual profiles and each cell's
        deltaX (stored in ``obsm['delta_x']``) stay those of the original training cells
        and pairing: they standardise inputs and pair cells, they are not what the
        bootstrap asks about.
    """
    from gpo_vae.data.pairing import paired_delta_x

    split = adata.obs[OBS_SPLIT].astype(str).to_numpy()
    labels = adata.obs[OBS_PERTURBATION].astype(str).to_numpy()
    rows = [np.flatnonzero(split != TRAIN)]
    for label in pd.unique(labels[split == TRAIN]):
        group = np.flatnonzero((split == TRAIN) & (labels == label))
        rows.append(rng.choice(group, size=group.size, replace=True))
    with warnings.catch_warnings():   # the repeated names are made unique right after
        warnings.filterwarnings("ignore", "Observation names are not unique")
        chosen = np.sort(np.concatenate(rows))
        sample = adata[chosen].copy()
    # a resampled cell's matched control may not be drawn: its deltaX travels with it
    sample.obsm[OBSM_DELTA_X] = paired_delta_x(adata)[chosen]
    sample.obs_names_make_unique()
    train = sample.obs[OBS_SPLIT].astype(str).to_numpy() == TRAIN
    low_quality = sample.obs[OBS_QC].to_numpy().astype(bool)[train]
    sample.uns[UNS_TRAIN_CELLS_PER_QC] = np.array([(~low_quality).sum(), low_quality.sum()])
    return sample


def grn_stability(config, adata: ad.AnnData, n_runs: int, *, threshold: float = 0.5,
                  max_epochs: int | None = None, seed: int = 0,
                  workers: int = 1) -> GrnStability:
    """Train ``config`` on ``n_runs`` bootstrap resamples of ``adata``'s training cells.

    Parameters
    ----------
    config
        The run's :class:`~gpo_vae.config.Config` (its data settings must match ``adata``).
    adata
        The prepared AnnData the run trained on.
    n_runs
        Bootstrap runs (each is a full training: N times the run's training time).
    threshold
        q(M) at or above which an edge counts as found in a run.
    max_epochs
        Epochs of each run (default: the config's).
    seed
        Run i resamples with ``default_rng([seed, i])`` and trains with seed ``seed + i``,
        so the same call gives the same frequencies.
    workers
        Runs at once (:func:`gpo_vae.jobs.run_jobs`; each in its own process with its
        share of the cores when more than 1).

    Returns
    -------
    GrnStability

    Examples
    --------
    >>> from gpo_vae.grn import grn_stability                # doctest: +SKIP
    >>> stability = grn_stability(model.config, prepared, 5)       # doctest: +SKIP
    >>> stability.frequency.loc["GATA1", "TAL1"]                    # doctest: +SKIP
    """
    import tempfile

    from gpo_vae.jobs import run_jobs

    check_seed(seed, "seed")
    if int(n_runs) < 2:
        raise ConfigError(f"n_runs={n_runs}: give at least 2 bootstrap runs")
    threshold = check_threshold(threshold)
    jobs = [{"config": _with_training(config, max_epochs, seed + i), "adata": adata,
             "rng_seed": [seed, i], "label": f"{i + 1}/{n_runs}"} for i in range(int(n_runs))]
    with tempfile.TemporaryDirectory(prefix="gpo_vae_stability_") as scratch:
        grns = run_jobs("gpo_vae.grn.stability:bootstrap_run", jobs, folder=scratch,
                        workers=workers)
    names = grns[0].genes["name"].tolist()
    found = sum((grn.probabilities >= threshold).astype(float) for grn in grns)
    probability = sum(grn.probabilities for grn in grns)
    frame = lambda values: pd.DataFrame(values / n_runs, index=names, columns=names)  # noqa: E731
    return GrnStability(frame(found), frame(probability), int(n_runs), float(threshold), seed)


def bootstrap_run(config: Config, adata: ad.AnnData, rng_seed: list[int], label: str):
    """One bootstrap run (a job of :func:`grn_stability`): resample the training cells,
    train, return the learned GRN."""
    from gpo_vae.evaluation.diagnostics import diagnostics_callback
    from gpo_vae.training.train import fit_best

    logger.info(f"stability run {label}: bootstrap of the training cells, seed "
                f"{config.training.seed}")
    sample = bootstrap_training_cells(adata, np.random.default_rng(rng_seed))
    with quiet_steps("gpo_vae.training", "gpo_vae.data"):
        module, _ = fit_best(config, sample, diagnostics=diagnostics_callback)
    return learned_grn(module)


def _with_training(config: Config, max_epochs: int | None, seed: int) -> Config:
    """``config`` with one bootstrap run's seed (and epochs, when given)."""
    values = config.to_dict()
    values["training"]["seed"] = int(seed)
    if max_epochs is not None:
        values["training"]["max_epochs"] = int(max_epochs)
    return config_from_dict(values)

