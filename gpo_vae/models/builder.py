"""Build GPO-VAE (generative model, guide and loss in one module) from a config and the
data's shape."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from gpo_vae.config import Config
from gpo_vae.constants import (
    DEFAULT_CONTROL_LABEL,
    OBS_LIBRARY_SIZE,
    OBS_PERTURBATION,
    OBS_SPLIT,
    UNS_SCHEMA,
    UNS_TRAIN_CELLS_PER_QC,
    UNS_TREATMENTS,
    VAR_GENE_SYMBOL,
)
from gpo_vae.data.pseudobulk import ConditionPseudobulk, condition_pseudobulk
from gpo_vae.errors import ConfigError
from gpo_vae.models.consistency import PseudobulkConsistency
from gpo_vae.models.features import FeatureEffects, OwnGeneEffect
from gpo_vae.models.generative import GpoVaeModel
from gpo_vae.models.guide import GpoVaeGuide
from gpo_vae.models.loss import GpoVaeLoss
from gpo_vae.models.module import GpoVaeModule


@dataclass
class DataInfo:
    """What a trained model must remember about its data (saved in every checkpoint)."""

    gene_names: list[str]
    treatment_names: list[str]
    treatment_kinds: list[str]          # "perturbed" or "extra"
    treatment_measured: list[bool]      # is the treatment gene among the measured genes
    train_cells_per_treatment: list[int]
    train_cells_per_qc: list[int]       # [good, low quality]
    n_train_cells: int = 0
    extra: dict = field(default_factory=dict)
    control_label: str = DEFAULT_CONTROL_LABEL
    combination_separator: str = ""     # "" = no combinations

    @property
    def n_genes(self) -> int:
        return len(self.gene_names)

    @property
    def n_treatments(self) -> int:
        return len(self.treatment_names)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_prepared(cls, adata) -> DataInfo:
        """The information of a prepared AnnData (:func:`gpo_vae.prepare`)."""
        treatments = adata.uns[UNS_TREATMENTS]
        per_qc = [int(v) for v in np.asarray(adata.uns[UNS_TRAIN_CELLS_PER_QC])]
        schema = adata.uns.get("schema", {})
        return cls(
            gene_names=adata.var[VAR_GENE_SYMBOL].astype(str).tolist(),
            treatment_names=treatments["name"].astype(str).tolist(),
            treatment_kinds=treatments["kind"].astype(str).tolist(),
            treatment_measured=[bool(v) for v in treatments["measured"]],
            train_cells_per_treatment=[int(v) for v in treatments["train_cells"]],
            train_cells_per_qc=per_qc,
            n_train_cells=sum(per_qc),
            control_label=str(schema.get("control_label", DEFAULT_CONTROL_LABEL)),
            combination_separator=str(schema.get("combination_separator") or ""),
        )


def mask_init_logit(config: Config) -> float:
    """``guide.mask_init`` as a logit: it is a logit in logits mode, a probability in
    probs mode (the authors' two conventions)."""
    value = config.guide.mask_init
    if config.model.mask_mode == "probs":
        if not 0 < value < 1:
            raise ConfigError(f"guide.mask_init={value} must be a probability in (0, 1) "
                              "when model.mask_mode is probs")
        return math.log(value / (1 - value))
    return value


def _mask_init(config: Config, n_treatments: int,
               direct_targets: tuple[np.ndarray, np.ndarray] | None) -> torch.Tensor | float:
    """The q(M) logits to start from: ``guide.mask_init`` everywhere, except that with
    ``loss.alignment=direct`` every aligned (off-diagonal) pair starts at its target's
    logit (the data's probability, or the base rate where the data says nothing).
    The alignment pulls the logits there anyway; without the warm start a logit needs
    more steps than a demo run has to travel from 0 to a confident +-5 at Adam's learning
    rate, so the ranking stays compressed and noisy."""
    base = mask_init_logit(config)
    if config.loss.alignment != "direct" or direct_targets is None:
        return base
    target, weight = (torch.as_tensor(np.asarray(a), dtype=torch.float32)
                      for a in direct_targets)
    start = torch.logit(target.clamp(1e-4, 1 - 1e-4))
    return torch.where(weight > 0, start, torch.full((n_treatments,) * 2, base))


def build_gpo_vae(config: Config, info: DataInfo, log1p_mean: np.ndarray | None = None,
                  log1p_std: np.ndarray | None = None,
                  pseudobulk: ConditionPseudobulk | None = None,
                  direct_targets: tuple[np.ndarray, np.ndarray] | None = None,
                  gene_features: np.ndarray | None = None,
                  downstream: tuple[np.ndarray, np.ndarray] | None = None) -> GpoVaeModule:
    """GPO-VAE for ``config`` on data shaped like ``info``.

    Parameters
    ----------
    config
        The run's settings (``model``, ``guide`` and ``loss`` sections are read).
    info
        Genes, treatment genes and training-cell counts of the data.
    log1p_mean, log1p_std
        The encoder's per-gene standardisation (default mean 0 / std 1).
    pseudobulk
        The training conditions' pseudobulk, the targets of the pseudobulk term (default:
        zeros for ``info.extra['n_conditions']`` conditions, which a checkpoint restores).
    direct_targets
        With ``loss.alignment=direct``: target probabilities and weights (T x T) of the
        alignment (default zero; see :func:`direct_edge_targets`).
    gene_features
        With ``model.gene_features``: the treatment genes' features (T x K; default zeros
        of ``info.extra['n_gene_features']`` columns, which a checkpoint then restores).
    downstream
        With gene features: each measured treatment gene's co-expressed genes and slopes
        (see :func:`gpo_vae.data.gene_features.coexpression_slopes`; default zeros of
        ``info.extra['n_downstream']`` genes, which a checkpoint restores).
    """
    m, g, lo = config.model, config.guide, config.loss
    authors = m.variant == "authors"
    n_genes, n_treatments = info.n_genes, info.n_treatments
    # columns of M and E: a GRN among the treatment genes, or SAMS-VAE's embeddings
    n_effects = m.n_latent if m.variant == "sams_vae" else n_treatments
    if m.latent_mode == "sum" and m.n_latent != n_effects:
        raise ConfigError(
            f"model.latent_mode=sum adds D(M*E) to z_basal, so model.n_latent must equal the "
            f"number of treatment dimensions T={n_treatments}; set --set model.n_latent="
            f"{n_treatments} or use latent_mode=concat")
    model = GpoVaeModel(n_genes, n_treatments, m.n_latent, mask_prior=m.mask_prior,
                        prior_scale=m.prior_scale, decoder_n_hidden=m.decoder_n_hidden,
                        decoder_n_layers=m.decoder_n_layers, latent_mode=m.latent_mode,
                        authors_decoder=authors, n_effects=n_effects,
                        own_effect=_own_effect(config, info, pseudobulk, downstream))
    mask_init = _mask_init(config, n_treatments, direct_targets) if n_effects == n_treatments \
        else mask_init_logit(config)
    guide = GpoVaeGuide(
        n_genes, n_treatments, m.n_latent, model.n_qc_latent,
        log1p_mean=np.zeros(n_genes) if log1p_mean is None else log1p_mean,
        log1p_std=np.ones(n_genes) if log1p_std is None else log1p_std,
        mask_init=mask_init, encoder=g.encoder,
        basal_encoder_n_hidden=g.basal_encoder_n_hidden,
        basal_encoder_n_layers=g.basal_encoder_n_layers,
        embedding_encoder_n_hidden=g.embedding_encoder_n_hidden,
        embedding_encoder_n_layers=g.embedding_encoder_n_layers,
        temperature=g.temperature, residual=authors, mask_sampling=g.mask_sampling,
        n_effects=n_effects, feature_effects=_feature_effects(config, info, gene_features,
                                                               n_effects))
    if lo.alignment == "direct" and direct_targets is None:
        direct_targets = (np.zeros((n_treatments,) * 2), np.zeros((n_treatments,) * 2))
    consistency = None
    if lo.pseudobulk_coeff:
        consistency = _consistency(config, pseudobulk, n_treatments, n_genes,
                                   features=guide.feature_effects is not None,
                                   n_conditions=int(info.extra.get("n_conditions", 0)))
    loss = GpoVaeLoss(np.asarray(info.train_cells_per_treatment),
                      np.asarray(info.train_cells_per_qc), beta=lo.beta, alpha=lo.alpha,
                      hop=lo.hop, fc_criteria=lo.fc_criteria,
                      gloss_coeff=0.0 if lo.alignment == "none" else lo.gloss_coeff,
                      penalty_coeff=lo.penalty_coeff, mask_mode=m.mask_mode, authors=authors,
                      pseudobulk_coeff=lo.pseudobulk_coeff or 0.0, consistency=consistency,
                      direct_targets=direct_targets if lo.alignment == "direct" else None)
    return GpoVaeModule(model, guide, loss, config=config, data_info=info)


def _feature_effects(config: Config, info: DataInfo, features: np.ndarray | None,
                     n_effects: int) -> FeatureEffects | None:
    """The feature pathway of the guide, or None with ``model.gene_features=none``."""
    if config.model.gene_features == "none":
        return None
    if features is None:
        features = np.zeros((info.n_treatments, int(info.extra.get("n_gene_features", 0))))
    has_data = np.asarray(info.train_cells_per_treatment) > 0
    return FeatureEffects(torch.as_tensor(features), torch.as_tensor(has_data), n_effects)


def _own_columns(info: DataInfo) -> np.ndarray:
    """Gene column of each treatment gene of ``info`` (-1: not measured)."""
    column = {g: i for i, g in enumerate(info.gene_names)}
    return np.array([column.get(t, -1) for t in info.treatment_names], dtype=np.int64)


def _own_effect(config: Config, info: DataInfo, pseudobulk: ConditionPseudobulk | None,
                downstream: tuple[np.ndarray, np.ndarray] | None) -> OwnGeneEffect | None:
    """The own-gene effect and its downstream spread (None with gene features off)."""
    if config.model.gene_features == "none":
        return None
    columns = _own_columns(info)
    if downstream is None:
        shape = (int((columns >= 0).sum()), int(info.extra.get("n_downstream", 0)))
        downstream = (np.zeros(shape, np.int64), np.zeros(shape, np.float32))
    own = own_shift_init(info, pseudobulk)
    return OwnGeneEffect(torch.as_tensor(columns), own,
                         tuple(torch.as_tensor(a) for a in downstream),
                         downstream_scale_init(info, pseudobulk, downstream, own))


def downstream_scale_init(info: DataInfo, pseudobulk: ConditionPseudobulk | None,
                          downstream: tuple[np.ndarray, np.ndarray], own: float) -> float:
    """Least-squares scale of ``own x slopes`` for the training shifts of the
    single-treatment conditions whose target is measured (its own gene left out): where
    the downstream spread starts, so a demo run need not learn it from 0; 0 without any."""
    index, values = downstream
    if pseudobulk is None or pseudobulk.dosages.shape[0] == 0 or not index.shape[-1]:
        return 0.0
    columns = _own_columns(info)
    row_of = np.cumsum(columns >= 0) - 1                 # treatment -> row of ``downstream``
    single = (pseudobulk.dosages != 0).sum(1) == 1
    target = np.abs(pseudobulk.dosages).argmax(1)
    rows = np.flatnonzero(single & (columns[target] >= 0))
    if rows.size == 0:
        return 0.0
    spread = own * values[row_of[target[rows]]]                         # conditions x k
    shifts = np.take_along_axis(pseudobulk.shifts[rows], index[row_of[target[rows]]], axis=1)
    denominator = float((spread ** 2).sum())
    return float((spread * shifts).sum()) / denominator if denominator > 0 else 0.0


def own_shift_init(info: DataInfo, pseudobulk: ConditionPseudobulk | None) -> float:
    """Median training shift of a perturbed gene's own expression (log1p scale) over the
    single-treatment conditions whose target is measured; 0 without any."""
    if pseudobulk is None or pseudobulk.dosages.shape[0] == 0:
        return 0.0
    columns = _own_columns(info)
    single = (pseudobulk.dosages != 0).sum(1) == 1
    target = np.abs(pseudobulk.dosages).argmax(1)
    rows = np.flatnonzero(single & (columns[target] >= 0))
    if rows.size == 0:
        return 0.0
    return float(np.median(pseudobulk.shifts[rows, columns[target[rows]]]))


def _consistency(config: Config, pseudobulk: ConditionPseudobulk | None, n_treatments: int,
                 n_genes: int, features: bool, n_conditions: int) -> PseudobulkConsistency:
    lo = config.loss
    if pseudobulk is None:  # a checkpoint restores them
        dosages, shifts = np.zeros((n_conditions, n_treatments)), np.zeros((n_conditions, n_genes))
        reliability = None
    else:
        dosages, shifts = pseudobulk.dosages, pseudobulk.shifts
        reliability = pseudobulk.reliability() if features and lo.shrinkage else None
    feature_shifts = None if pseudobulk is None else pseudobulk.feature_shifts
    return PseudobulkConsistency(dosages, shifts, reliability=reliability, features=features,
                                 feature_shifts=feature_shifts,
                                 n_perturbations=lo.pseudobulk_perturbations,
                                 n_basal=lo.pseudobulk_cells, basal=lo.pseudobulk_basal)


def prepared_gene_features(config: Config, adata, pseudobulk: ConditionPseudobulk,
                           expression=None) -> np.ndarray:
    """The treatment genes' features (T x K) from a prepared AnnData's training cells and
    the optional embedding table and network of ``config.model``; genes no source covers
    are named in one warning (they get the average gene's prediction). Also sets the
    feature pathway's denoised targets on ``pseudobulk`` (the shifts projected onto the
    training cells' co-expression span)."""
    from gpo_vae.data import gene_features as gf
    from gpo_vae.data.edge_list import read_edge_list

    m = config.model
    genes = adata.var[VAR_GENE_SYMBOL].astype(str).tolist()
    names = adata.uns[UNS_TREATMENTS]["name"].astype(str).tolist()
    means = np.vstack([pseudobulk.control_mean[None], pseudobulk.means])
    if expression is None:
        expression = training_expression(adata, config.training.seed)
    cells = gf.cell_pca_embedding(expression, genes, m.gene_feature_components,
                                  config.training.seed)
    blocks = [gf.pca_gene_embedding(means, genes, m.gene_feature_components), cells]
    if m.gene_embedding:
        blocks.append(gf.read_gene_table(m.gene_embedding))
    if m.gene_network:
        own = pd.concat([gf.standardised(b) for b in blocks if b.shape[1]], axis=1) \
            .fillna(0.0)
        blocks.append(gf.neighbour_features(own, read_edge_list(m.gene_network), names))
    features, missing = gf.treatment_features(names, blocks)
    gf.warn_missing(missing, len(names))
    if cells.shape[1]:
        pseudobulk.feature_shifts = pseudobulk.projected_shifts(
            cells.to_numpy(), _own_columns(DataInfo.from_prepared(adata)))
    return features


def training_expression(adata, seed: int, max_cells: int = 20_000):
    """log1p-normalised counts (sparse) of at most ``max_cells`` random training cells,
    read a block at a time (a backed screen is never read whole)."""
    import scipy.sparse as sp

    from gpo_vae.data.rows import counts_of
    from gpo_vae.stats import log1p_per_library

    train = np.flatnonzero(adata.obs[OBS_SPLIT].astype(str).to_numpy() == "train")
    if train.size > max_cells:
        train = np.sort(np.random.default_rng(seed).choice(train, max_cells, replace=False))
    library = adata.obs[OBS_LIBRARY_SIZE].to_numpy()[train]
    blocks = [log1p_per_library(block, library[start:start + block.shape[0]])
              for start, block in counts_of(adata).subset(train).blocks()]
    return sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, adata.n_vars))


def build_for_prepared(config: Config, adata) -> GpoVaeModule:
    """GPO-VAE for ``config`` sized and standardised from a prepared AnnData: its genes,
    treatment genes, training-cell counts, the encoder's log1p statistics and (when the
    pseudobulk term is on) the training cells' pseudobulk shifts."""
    from gpo_vae.constants import VAR_LOG1P_MEAN, VAR_LOG1P_STD

    lo = config.loss
    info = DataInfo.from_prepared(adata)
    with_features = config.model.gene_features != "none"
    pseudobulk = condition_pseudobulk(adata, "train") \
        if lo.pseudobulk_coeff or with_features else None
    features = downstream = None
    if with_features:
        from gpo_vae.data.gene_features import coexpression_slopes

        expression = training_expression(adata, config.training.seed)
        features = prepared_gene_features(config, adata, pseudobulk, expression)
        downstream = coexpression_slopes(expression, _own_columns(info),
                                         config.model.downstream_genes)
        info.extra["n_gene_features"] = int(features.shape[1])
        info.extra["n_downstream"] = int(downstream[0].shape[1])
    direct = direct_edge_targets(adata, lo.direct_threshold, lo.direct_width) \
        if lo.alignment == "direct" else None
    if pseudobulk is not None:
        info.extra["n_conditions"] = int(pseudobulk.dosages.shape[0])
    return build_gpo_vae(config, info, adata.var[VAR_LOG1P_MEAN].to_numpy(),
                         adata.var[VAR_LOG1P_STD].to_numpy(), pseudobulk, direct, features,
                         downstream)


def direct_edge_targets(adata, threshold: float = 0.55,
                        width: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """Target probabilities and weights (T x T) of ``loss.alignment=direct``, from the
    training cells of a prepared AnnData only.

    For each regulator a with training cells and each measured treatment gene b, the
    direct-shift score D (the mean shift of b in a-perturbed cells, in control standard
    deviations, with the best two-step path through another gene explained away and that
    path's factors shrunk by their standard errors; see
    :func:`gpo_vae.stats.grn.direct_shift_scores`) becomes the probability
    ``sigmoid((D - threshold) / width)``: shifts well above ``threshold`` control sds are
    edges (the defaults are a logistic fit of the simulator's true edges on D, so the
    probabilities are calibrated there). Pairs the data cannot inform (a regulator without
    training cells, an unmeasured target) get the mean probability of the informed pairs,
    the base rate of an edge, rather than a guess; the diagonal (a perturbation's own
    latent dimension, not an edge) gets weight 0.
    """
    from scipy.special import expit

    from gpo_vae.data.rows import counts_of
    from gpo_vae.stats import perturbseq_transform
    from gpo_vae.stats.grn import (
        direct_shift_scores,
        shift_scores_from_blocks,
        shift_standard_errors,
    )

    train = adata.obs[OBS_SPLIT].astype(str).to_numpy() == "train"
    labels = adata.obs[OBS_PERTURBATION].astype(str).to_numpy()[train]
    control = str(adata.uns[UNS_SCHEMA]["control_label"])
    names = adata.uns[UNS_TREATMENTS]["name"].astype(str).tolist()
    genes = adata.var[VAR_GENE_SYMBOL].astype(str).tolist()
    # only the treatment genes' columns are scored: read just those, a block at a time
    measured = [g for g in names if g in set(genes)]
    columns = pd.Index(genes).get_indexer(measured)
    counts = counts_of(adata).subset(np.flatnonzero(train))
    library = adata.obs[OBS_LIBRARY_SIZE].to_numpy()[train]
    blocks = ((perturbseq_transform(block[:, columns], library[start:start + block.shape[0]]),
               labels[start:start + block.shape[0]])
              for start, block in counts.blocks())
    signed = shift_scores_from_blocks(blocks, measured, control, names, signed=True)
    direct = direct_shift_scores(signed, shift_standard_errors(labels, control, names)).to_numpy()
    has_cells = pd.Series(labels).value_counts().reindex(names).fillna(0).to_numpy() > 0
    informed = np.outer(has_cells, np.isin(names, genes))
    np.fill_diagonal(informed, False)
    target = expit((direct - threshold) / width)
    target = np.where(informed, target, target[informed].mean() if informed.any() else 0.0)
    weight = 1.0 - np.eye(len(names), dtype=np.float32)
    return target.astype(np.float32), weight
