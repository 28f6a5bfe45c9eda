"""Learning diagnostics logged while training: does the model learn perturbation effects?

Every N epochs, on the validation cells: the model's ATE Pearson top-20 beside that of
the per-perturbation mean of the training cells (the model-free baseline it should
reach), the mean |E| and KL from the prior of q(E | M) on the rows training cells use
(does q(E) leave its prior?), and the share of z_basal's variance explained by the
perturbation label (a z_basal that carries the label leaves the offset nothing to do).

Training takes :func:`diagnostics_callback` from its caller
(:func:`gpo_vae.training.train.train`'s ``diagnostics``): scoring lives here, a layer
above training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch

from gpo_vae.constants import DIAGNOSTICS_PREFIX as PREFIX
from gpo_vae.constants import (
    OBS_LIBRARY_SIZE,
    OBS_PERTURBATION,
    OBS_SPLIT,
    UNS_SCHEMA,
    VAR_GENE_SYMBOL,
)
from gpo_vae.evaluation.ate import perturbseq_transform
from gpo_vae.evaluation.baselines import pert_mean_baseline
from gpo_vae.evaluation.evaluate import condition_dosages, split_ates
from gpo_vae.evaluation.metrics import aggregate_scores, score_ates
from gpo_vae.evaluation.predict import model_ates
from gpo_vae.models.distributions import normal_kl
from gpo_vae.progress import no_progress

logger = logging.getLogger(__name__)


@dataclass
class DiagnosticsData:
    """What the diagnostics need from the validation split, computed once."""

    names: list[str]              # scored validation perturbations
    dosages: np.ndarray           # one dosage row per name
    observed: pd.DataFrame        # validation ATEs (names x genes)
    baseline_pearson: float       # per-perturbation training mean (NaN: all unseen)
    counts: torch.Tensor          # up to max_cells validation cells (dense)
    labels: np.ndarray            # their perturbation labels

    @classmethod
    def from_prepared(cls, adata, split: str = "val", min_cells: int = 4,
                      max_cells: int = 2000, max_train_cells: int = 50_000,
                      seed: int = 0) -> DiagnosticsData | None:
        """None when the split has no perturbation with ``min_cells`` cells and controls.
        The baseline uses at most ``max_train_cells`` training cells (a random subset), and
        the z_basal share at most ``max_cells`` cells of the split, so memory stays bounded
        on large screens."""
        from gpo_vae.data.rows import counts_of

        rng = np.random.default_rng(seed)
        control = str(adata.uns[UNS_SCHEMA]["control_label"])
        all_splits = adata.obs[OBS_SPLIT].astype(str).to_numpy()
        train_rows = np.flatnonzero(all_splits == "train")
        if train_rows.size > max_train_cells:
            train_rows = rng.choice(train_rows, max_train_cells, replace=False)
        keep = np.sort(np.concatenate([np.flatnonzero(all_splits == split), train_rows]))
        splits = all_splits[keep]
        all_labels = adata.obs[OBS_PERTURBATION].astype(str).to_numpy()
        labels = all_labels[keep]
        in_split = splits == split
        if not ((labels == control) & in_split).any():
            return None
        genes = adata.var[VAR_GENE_SYMBOL].astype(str).tolist()
        x = counts_of(adata)[keep]
        expression = perturbseq_transform(x, adata.obs[OBS_LIBRARY_SIZE].to_numpy()[keep])
        observed_all = split_ates(expression, labels, splits, split, control, genes)
        names = [p for p, n in observed_all.n_cells.items() if n >= min_cells]
        if not names:
            return None
        train = split_ates(expression, labels, splits, "train", control, genes)
        observed = observed_all.rows(names)
        # unseen perturbations (a perturbations split) have no per-perturbation mean
        seen = [p for p in names if train.n_cells.get(p, 0) > 0]
        baseline = aggregate_scores(score_ates(pert_mean_baseline(train, seen),
                                               observed.loc[seen]))["pearson_top20"] \
            if seen else None
        rows = np.flatnonzero(in_split)
        if rows.size > max_cells:
            rows = np.sort(rng.choice(rows, max_cells, replace=False))
        block = x[rows]
        counts = torch.as_tensor(block.toarray() if hasattr(block, "toarray")
                                 else np.asarray(block), dtype=torch.float32)
        dosages = condition_dosages(adata, all_labels, names)
        return cls(names, dosages, observed, np.nan if baseline is None else float(baseline),
                   counts,
                   labels[rows])


def label_variance_share(z: np.ndarray, labels: np.ndarray) -> float:
    """Share of the total variance of ``z`` (cells x dims) between label groups (R^2 of a
    one-way ANOVA summed over dimensions): 0 = z knows nothing of the label."""
    centred = z - z.mean(0)
    total = float((centred ** 2).sum())
    if total <= 0:
        return 0.0
    frame = pd.DataFrame(centred)
    means = frame.groupby(labels).transform("mean").to_numpy()
    return float((means ** 2).sum() / total)


@torch.no_grad()
def learning_diagnostics(module, data: DiagnosticsData, *, n_samples: int = 400,
                         n_global: int = 20, seed: int = 0) -> dict[str, float]:
    """The diagnostics of ``module`` (a :class:`~gpo_vae.models.module.GpoVaeModule`) on
    ``data``."""
    was_training = module.training
    module.eval()
    try:
        with no_progress():     # inside training: its own bar or epoch lines say it
            predicted, _ = model_ates(module, data.dosages, data.names, n_samples=n_samples,
                                      n_global=n_global, seed=seed)
        pearson = aggregate_scores(score_ates(predicted, data.observed))["pearson_top20"]
        guide, model = module.guide, module.model
        expected = guide.expected_globals()
        used = torch.as_tensor(np.asarray(module.data_info.train_cells_per_treatment) > 0,
                               device=expected.edge_mean.device)
        mean, scale = expected.edge_mean[0, used], expected.edge_scale[0, used]
        counts = data.counts.to(expected.edge_mean.device)
        # no treatment and no QC offset: what z_basal holds of the cell's expression alone
        untreated = {"counts": counts, "qc": counts.new_zeros(counts.shape[0]),
                     "dosages": counts.new_zeros((counts.shape[0], module.n_treatments))}
        z = module.latent_mean(untreated).cpu().numpy()
        return {
            "val_ate_pearson_top20": float(np.nan if pearson is None else pearson),
            "val_ate_pearson_top20_pert_mean": data.baseline_pearson,
            "edge_mean_abs": float(mean.abs().mean()),
            "edge_scale_mean": float(scale.mean()),
            "edge_kl_from_prior": float(normal_kl(mean, scale, model.prior_scale).mean()),
            "mask_probability_mean": float(guide.mask_probabilities().mean()),
            "z_basal_label_share": label_variance_share(z, data.labels),
        }
    finally:
        module.train(was_training)


class LearningDiagnosticsCallback(L.Callback):
    """Log :func:`learning_diagnostics` every ``every_n_epochs`` validation epochs (and at
    the last one) as ``diag/...`` metrics (CSV, W&B)."""

    def __init__(self, data: DiagnosticsData, every_n_epochs: int, seed: int = 0):
        self.data, self.every, self.seed = data, every_n_epochs, seed

    def due(self, trainer) -> bool:
        epoch = trainer.current_epoch + 1
        return epoch % self.every == 0 or epoch >= trainer.max_epochs

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self.due(trainer):
            return
        values = learning_diagnostics(pl_module.module, self.data, seed=self.seed)
        pl_module.log_dict({PREFIX + k: v for k, v in values.items()}, on_epoch=True,
                           on_step=False)


def diagnostics_callback(adata, config) -> LearningDiagnosticsCallback | None:
    """The learning-diagnostics callback of a run on ``adata`` (a prepared AnnData), or
    None when the validation split has nothing to score (logged)."""
    data = DiagnosticsData.from_prepared(adata, "val", seed=config.training.seed)
    if data is None:
        logger.info("learning diagnostics off: the validation split has no scorable "
                    "perturbation")
        return None
    return LearningDiagnosticsCallback(data, config.training.diagnostics_every_n_epochs,
                                       seed=config.training.seed)
