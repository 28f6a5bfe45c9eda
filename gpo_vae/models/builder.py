"""Build GPO-VAE (generative model, guide and loss in one module) from a config and the
data's shape."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from gpo_vae.config import Config
from gpo_vae.constants import (
    OBS_LIBRARY_SIZE,
    OBS_PERTURBATION,
    OBS_SPLIT,
    UNS_SCHEMA,
    UNS_TREATMENTS,
    VAR_GENE_SYMBOL,
)
from gpo_vae.data.pseudobulk import ConditionPseudobulk, condition_pseudobulk
from gpo_vae.errors import ConfigError
from gpo_vae.models.consistency import PseudobulkConsistency
from gpo_vae.models.data_info import DataInfo
from gpo_vae.models.features import FeatureEffects
from gpo_vae.models.generative import GpoVaeModel
from gpo_vae.models.guide import GpoVaeGuide
from gpo_vae.models.loss import GpoVaeLoss
from gpo_vae.models.module import GpoVaeModule
from gpo_vae.models.treatment_shifts import (
    build_linear_response,
    build_own_effect,
    knockdown_prior,
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
                  downstream: tuple[np.ndarray, np.ndarray] | None = None,
                  gene_embedding: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> GpoVaeModule:
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
    gene_embedding
        With gene features: the linear response's embedding of the measured genes and of
        the treatment genes (genes x K, T x K; default zeros of ``info.extra['n_linear']``
        columns).
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
                        own_effect=build_own_effect(config, info, pseudobulk, downstream),
                        linear_response=build_linear_response(config, info, pseudobulk,
                                                              gene_embedding))
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
        consistency = _consistency(config, pseudobulk, info, downstream,
                                   features=guide.feature_effects is not None)
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
    """The latent feature pathway of the guide, or None with ``model.gene_features=none``
    and with the linear response, which replaces it (it learned nothing for unseen genes
    that the linear response does not, and with it added noise: docs/results.md)."""
    if config.model.gene_features == "none" or config.model.linear_response:
        return None
    if features is None:
        features = np.zeros((info.n_treatments, int(info.extra.get("n_gene_features", 0))))
    has_data = np.asarray(info.train_cells_per_treatment) > 0
    return FeatureEffects(torch.as_tensor(features), torch.as_tensor(has_data), n_effects)


def _consistency(config: Config, pseudobulk: ConditionPseudobulk | None, info: DataInfo,
                 downstream: tuple[np.ndarray, np.ndarray] | None,
                 features: bool) -> PseudobulkConsistency:
    """The pseudobulk term; its targets are the training shifts, the singles' pulled
    toward what each knockdown implies with ``loss.knockdown_shrinkage`` (and gene
    features, which give the co-expression slopes), the combinations' toward the additive
    model of every condition with ``loss.additive_shrinkage``."""
    lo = config.loss
    if pseudobulk is None:  # a checkpoint restores them
        n_conditions = int(info.extra.get("n_conditions", 0))
        dosages = np.zeros((n_conditions, info.n_treatments))
        shifts, reliability = np.zeros((n_conditions, info.n_genes)), None
    else:
        dosages, shifts = pseudobulk.dosages, pseudobulk.shifts
        prior = None
        if lo.knockdown_shrinkage and downstream is not None:
            prior = knockdown_prior(info, pseudobulk, downstream)
        if lo.additive_shrinkage:
            prior = pseudobulk.additive_prior(prior)
        if prior is not None:
            shifts = pseudobulk.shrunk_toward(prior)
        reliability = pseudobulk.reliability() if features and lo.shrinkage else None
    feature_shifts = None if pseudobulk is None else pseudobulk.feature_shifts
    return PseudobulkConsistency(dosages, shifts, reliability=reliability, features=features,
                                 feature_shifts=feature_shifts,
                                 n_perturbations=lo.pseudobulk_perturbations,
                                 n_basal=lo.pseudobulk_cells, basal=lo.pseudobulk_basal)


def prepared_gene_features(config: Config, adata, pseudobulk: ConditionPseudobulk,
                           expression=None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The treatment genes' features (T x K) from a prepared AnnData's training cells and
    the optional embedding table and network of ``config.model``; genes no source covers
    are named in one warning (they get the average gene's prediction). Also the linear
    response's embedding of the measured genes and of the treatment genes (genes x K',
    T x K': the training cells' PCA loadings, the linear baseline's gene embedding, and
    the table and network), and sets the feature pathway's denoised targets on
    ``pseudobulk`` (the shifts projected onto the training cells' co-expression span)."""
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
    linear = [cells, gf.read_gene_table(m.gene_embedding)] if m.gene_embedding else [cells]
    blocks = [gf.pca_gene_embedding(means, genes, m.gene_feature_components), *linear]
    if m.gene_network:
        own = pd.concat([gf.standardised(b) for b in blocks if b.shape[1]], axis=1) \
            .fillna(0.0)
        linear.append(gf.neighbour_features(own, read_edge_list(m.gene_network),
                                            list(dict.fromkeys(names + genes))))
        blocks.append(linear[-1])
    features, missing = gf.treatment_features(names, blocks)
    gf.warn_missing(missing, len(names))
    if cells.shape[1] and not m.linear_response:   # the latent feature pathway's targets
        pseudobulk.feature_shifts = pseudobulk.projected_shifts(
            cells.to_numpy(), DataInfo.from_prepared(adata).own_columns)
    return features, (gf.treatment_features(genes, linear)[0],
                      gf.treatment_features(names, linear)[0])


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
    features = downstream = embedding = None
    if with_features:
        from gpo_vae.data.gene_features import coexpression_slopes

        expression = training_expression(adata, config.training.seed)
        features, embedding = prepared_gene_features(config, adata, pseudobulk, expression)
        downstream = coexpression_slopes(expression, info.own_columns,
                                         config.model.downstream_genes)
        info.extra["n_gene_features"] = int(features.shape[1])
        info.extra["n_downstream"] = int(downstream[0].shape[1])
        info.extra["n_linear"] = int(embedding[0].shape[1])
    direct = direct_edge_targets(adata, lo.direct_threshold, lo.direct_width) \
        if lo.alignment == "direct" else None
    if pseudobulk is not None:
        info.extra["n_conditions"] = int(pseudobulk.dosages.shape[0])
    return build_gpo_vae(config, info, adata.var[VAR_LOG1P_MEAN].to_numpy(),
                         adata.var[VAR_LOG1P_STD].to_numpy(), pseudobulk, direct, features,
                         downstream, embedding)


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
