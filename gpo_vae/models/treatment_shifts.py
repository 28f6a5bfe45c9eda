"""What a treatment does to the decoder's logits directly, built from the training data:
its own gene's shift, spread to the genes that follow it, and the linear response
(:class:`~gpo_vae.models.features.OwnGeneEffect`,
:class:`~gpo_vae.models.features.LinearResponse`). Checkpoints restore them from zeros of
the sizes in ``info.extra``."""

from __future__ import annotations

import numpy as np
import torch

from gpo_vae.config import Config
from gpo_vae.data.pseudobulk import ConditionPseudobulk
from gpo_vae.models.data_info import DataInfo
from gpo_vae.models.features import LinearResponse, OwnGeneEffect
from gpo_vae.stats import bilinear_ridge, shrinkage


def build_own_effect(config: Config, info: DataInfo, pseudobulk: ConditionPseudobulk | None,
                downstream: tuple[np.ndarray, np.ndarray] | None) -> OwnGeneEffect | None:
    """The own-gene effect and its downstream spread (None with gene features off)."""
    if config.model.gene_features == "none":
        return None
    columns = info.own_columns
    if downstream is None:
        shape = (int((columns >= 0).sum()), int(info.extra.get("n_downstream", 0)))
        downstream = (np.zeros(shape, np.int64), np.zeros(shape, np.float32))
    own = own_shift_init(info, pseudobulk)
    return OwnGeneEffect(torch.as_tensor(columns), own,
                         tuple(torch.as_tensor(a) for a in downstream),
                         downstream_scale_init(info, pseudobulk, downstream, own),
                         spread_to=torch.as_tensor(without_cells(info)))


def without_cells(info: DataInfo) -> np.ndarray:
    """(T,) whether each treatment has no training cells: where the fitted direct shifts
    act (a treatment with cells has its own latent row, anchored to its shifts)."""
    return np.asarray(info.train_cells_per_treatment) == 0


def downstream_scale_init(info: DataInfo, pseudobulk: ConditionPseudobulk | None,
                          downstream: tuple[np.ndarray, np.ndarray], own: float) -> float:
    """Least-squares scale of ``own x slopes`` for the training shifts of the
    single-treatment conditions whose target is measured (its own gene left out): where
    the downstream spread starts, so a demo run need not learn it from 0; 0 without any."""
    index, values = downstream
    if pseudobulk is None or pseudobulk.dosages.shape[0] == 0 or not index.shape[-1]:
        return 0.0
    rows, target = _measured_singles(info, pseudobulk)
    if rows.size == 0:
        return 0.0
    row_of = _downstream_rows(info)
    spread = own * values[row_of[target]]                               # conditions x k
    shifts = np.take_along_axis(pseudobulk.shifts[rows], index[row_of[target]], axis=1)
    denominator = float((spread ** 2).sum())
    return float((spread * shifts).sum()) / denominator if denominator > 0 else 0.0


def knockdown_prior(info: DataInfo, pseudobulk: ConditionPseudobulk,
                    downstream: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """What each single perturbation's knockdown implies, (C, G): its own gene's measured
    shift, and on the genes that follow that gene across the training cells (``downstream``,
    :func:`gpo_vae.data.gene_features.coexpression_slopes`) the projection of the measured
    shift onto their slopes (one scale per condition, fitted on its own shift); zero
    elsewhere. Conditions that are combinations or whose target is not measured keep their
    shift (no prior). The target toward which ``loss.knockdown_shrinkage`` pulls a noisy
    shift (:meth:`~gpo_vae.data.pseudobulk.ConditionPseudobulk.shrunk_toward`): the one
    direction the screen's co-expression says a knockdown moves, in place of one free value
    per gene."""
    prior = pseudobulk.shifts.astype(np.float32)
    index, values = downstream
    rows, target = _measured_singles(info, pseudobulk)
    if rows.size == 0 or not index.shape[-1]:
        return prior
    row_of = _downstream_rows(info)
    prior[rows] = shrinkage.knockdown_prior(prior[rows], info.own_columns[target],
                                            index[row_of[target]], values[row_of[target]])
    return prior


def own_shift_init(info: DataInfo, pseudobulk: ConditionPseudobulk | None) -> float:
    """Median training shift of a perturbed gene's own expression (log1p scale) over the
    single-treatment conditions whose target is measured; 0 without any."""
    if pseudobulk is None or pseudobulk.dosages.shape[0] == 0:
        return 0.0
    rows, target = _measured_singles(info, pseudobulk)
    if rows.size == 0:
        return 0.0
    return float(np.median(pseudobulk.shifts[rows, info.own_columns[target]]))


def _downstream_rows(info: DataInfo) -> np.ndarray:
    """(T,) each treatment's row of the ``downstream`` arrays, which hold the measured
    treatment genes only (-1 and below: not measured)."""
    return np.cumsum(info.own_columns >= 0) - 1


def _measured_singles(info: DataInfo,
                      pseudobulk: ConditionPseudobulk) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the single-treatment conditions whose target gene is measured, and each
    one's treatment."""
    columns = info.own_columns
    single = (pseudobulk.dosages != 0).sum(1) == 1
    target = np.abs(pseudobulk.dosages).argmax(1)
    rows = np.flatnonzero(single & (columns[target] >= 0))
    return rows, target[rows]


def linear_response_init(gene_embedding: np.ndarray, treatment_embedding: np.ndarray,
                         dosages: np.ndarray, shifts: np.ndarray | None,
                         ridge: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge ``W`` and offset ``b`` of :class:`LinearResponse` for training
    ``shifts`` (C, G) of conditions with ``dosages`` (C, T): the linear baseline's
    estimator (:class:`gpo_vae.evaluation.baselines.LinearBaseline`) on the model's
    scale. No conditions: zeros."""
    k = gene_embedding.shape[1]
    if dosages.shape[0] == 0 or k == 0:
        return np.zeros((k, k), np.float32), np.zeros(gene_embedding.shape[0], np.float32)
    offset = shifts.mean(axis=0)
    weights = bilinear_ridge(gene_embedding, (shifts - offset).T, dosages @ treatment_embedding,
                             ridge)
    return weights.astype(np.float32), offset.astype(np.float32)


def build_linear_response(config: Config, info: DataInfo,
                          pseudobulk: ConditionPseudobulk | None,
                          embedding: tuple[np.ndarray, np.ndarray] | None
                          ) -> LinearResponse | None:
    """The linear response of ``embedding`` (the measured genes' and the treatment genes'
    rows, genes x K and T x K; None: zeros of ``info.extra['n_linear']`` columns, which a
    checkpoint restores), fitted to the training shifts; None with gene features or
    ``model.linear_response`` off."""
    m = config.model
    if m.gene_features == "none" or not m.linear_response:
        return None
    if embedding is None:
        k = int(info.extra.get("n_linear", 0))
        embedding = (np.zeros((info.n_genes, k)), np.zeros((info.n_treatments, k)))
    genes, treatments = embedding
    if pseudobulk is None:
        weights, offset = linear_response_init(genes, treatments,
                                               np.zeros((0, info.n_treatments)), None)
    else:
        weights, offset = linear_response_init(genes, treatments, pseudobulk.dosages,
                                               pseudobulk.shifts)
    return LinearResponse(*(torch.as_tensor(a) for a in (genes, treatments, weights, offset)),
                          applies_to=torch.as_tensor(without_cells(info)))
