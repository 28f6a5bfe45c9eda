"""The named steps of :func:`gpo_vae.data.prepare.prepare`, in order, over one shared
state (:class:`Preparation`): read and validate, QC annotation, the strong-perturbation,
knockdown and minimum-cells filters, treatment genes, splits, control pairing and
counterfactual targets, then the annotations the model reads.

Each step logs one line (cells left, seconds, peak memory) and adds it to the report kept
in ``uns['prepare_report']``. Filters narrow the row selection of the counts, which stay
on disk when the input was read from a file.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import time
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae.config import DataConfig
from gpo_vae.constants import (
    OBS_COUNTERFACTUAL_INDEX,
    OBS_LIBRARY_SIZE,
    OBS_MATCHED_CONTROL,
    OBS_PERTURBATION,
    OBS_QC,
    OBS_SPLIT,
    OBS_TARGET_GENE_ID,
    OBSM_DOSAGES,
    UNS_COUNTERFACTUAL_PROFILES,
    UNS_PREPARE_REPORT,
    UNS_PREPARE_SETTINGS,
    UNS_SCHEMA,
    UNS_TRAIN_CELLS_PER_QC,
    UNS_TREATMENTS,
    VAR_GENE_SYMBOL,
    VAR_INPUT_NAME,
    VAR_LOG1P_MEAN,
    VAR_LOG1P_STD,
)
from gpo_vae.data import filters, knockdown, pairing
from gpo_vae.data import qc as qc_mod
from gpo_vae.data.counterfactual import counterfactual_profiles
from gpo_vae.data.presets import SUMMARY_STATS_PRESETS, resolve_schema
from gpo_vae.data.rows import RowMatrix
from gpo_vae.data.schema import (
    PerturbationSchema,
    counts_matrix,
    gene_symbols,
)
from gpo_vae.data.splits import SPLITS, assign_splits, subsample_training
from gpo_vae.data.treatments import dosage_matrix, perturbed_genes, treatment_table
from gpo_vae.data.validation import validate_anndata
from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.io import read_h5ad
from gpo_vae.memory import peak_memory_gb
from gpo_vae.stats import log_normalize

logger = logging.getLogger(__name__)

# what a simulated screen knows of itself; its settings let `design` simulate new cells
TRUTH_KEYS = ("true_grn", "true_grn_perturbed", "simulation")


@dataclass
class Preparation:
    """What the steps pass on: the annotations, the counts they describe, and what the
    earlier steps decided."""

    cfg: DataConfig
    adata: ad.AnnData                 # annotations only (no X)
    counts: RowMatrix                 # the rows of the input's counts that ``adata`` keeps
    schema: PerturbationSchema
    truth: dict
    report: list = field(default_factory=list)
    treatments: pd.DataFrame | None = None
    dosages: object = None            # cells x treatments, sparse
    split: np.ndarray | None = None
    lognorm: RowMatrix | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def control(self) -> str:
        return self.schema.control_label

    @property
    def labels(self) -> pd.Series:
        return self.adata.obs[OBS_PERTURBATION]

    def keep_cells(self, keep: np.ndarray) -> None:
        """Narrow the annotations and the counts (and the per-cell results) to ``keep``."""
        if np.all(keep):
            return
        self.adata, self.counts = filters.subset_cells(self.adata, keep), \
            self.counts.subset(keep)
        if self.split is not None:
            self.split = self.split[keep]
        if self.dosages is not None:
            self.dosages = self.dosages[keep]

    def logged(self, step: str, **extra) -> None:
        """Report the step that just ended (cells, seconds, memory) and start the next."""
        # AnnData objects sit in reference cycles, so a replaced (filtered) copy is only
        # freed by the cyclic collector; collect now so two count matrices never pile up
        gc.collect()
        n = self.adata.n_obs
        entry = {"step": step, "cells": int(n),
                 "seconds": round(time.perf_counter() - self.started, 2),
                 "peak_memory_gb": peak_memory_gb(), **extra}
        self.report.append(entry)
        details = "".join(f", {k.replace('_', ' ')} {v}" for k, v in extra.items()
                          if not isinstance(v, (list, dict)))
        logger.info(f"  {step:<28} {n:>9,} cells ({entry['seconds']:.1f} s, peak "
                    f"{entry['peak_memory_gb']:.1f} GB{details})")
        self.started = time.perf_counter()

    def dropped(self, step: str, names: list[str], why: str) -> None:
        """Name every perturbation a filter removed entirely, and why."""
        if names:
            shown = ", ".join(names[:20]) + \
                (f", ... ({len(names)} in all)" if len(names) > 20 else "")
            logger.info(f"  {step} removed {len(names)} perturbation(s): {shown}: {why}")


def open_input(cfg: DataConfig, layer: str | None) -> tuple[ad.AnnData, RowMatrix]:
    """The input's annotations (backed AnnData) and its counts, left on disk when they
    are stored as CSR (the usual h5ad layout), else read into memory."""
    raw = read_h5ad(cfg.path, backed=True)
    try:
        counts = RowMatrix.from_h5ad(cfg.path, layer)
    except InputDataError as exc:
        logger.info(f"note: reading the counts into memory ({str(exc).split(';')[0]})")
        in_memory = read_h5ad(cfg.path)
        counts = RowMatrix(counts_matrix(in_memory, layer))
        del in_memory
    return raw, counts


def read_and_validate(cfg: DataConfig, raw: ad.AnnData | None) -> Preparation:
    """Validate the input against its schema and start the annotations (cell ids,
    perturbation labels, gene symbols); cells without counts are left out."""
    started = time.perf_counter()
    counts = None
    if raw is None:
        raw, counts = open_input(cfg, cfg.counts_layer)
    schema = (resolved := resolve_schema(cfg, raw)).schema
    if counts is None:
        counts = RowMatrix(counts_matrix(raw, schema.counts_layer))
    for warning in validate_anndata(raw, schema, counts=counts).warnings:
        logger.warning(warning)
    adata = ad.AnnData(
        obs=pd.DataFrame({"cell_id": raw.obs_names.astype(str),
                          "perturbation": raw.obs[schema.perturbation_key].astype(str)
                          .to_numpy()}, index=raw.obs_names.astype(str)),
        var=pd.DataFrame({"gene_symbol": gene_symbols(raw, schema.gene_symbol_key)},
                         index=raw.var_names.astype(str)),
    )
    if resolved.gene_id_key:
        adata.obs[OBS_TARGET_GENE_ID] = raw.obs[resolved.gene_id_key].astype(str).to_numpy()
    truth = {k: raw.uns[k] for k in TRUTH_KEYS if k in raw.uns}
    if raw.isbacked:
        raw.file.close()
    # Downstream code reads symbols from var_names; the input's var index is kept aside.
    adata.var[VAR_INPUT_NAME] = adata.var_names
    adata.var_names = adata.var[VAR_GENE_SYMBOL].to_numpy()
    state = Preparation(cfg, adata, counts, schema, truth, started=started)
    state.keep_cells(np.asarray(counts.sum(axis=1)).ravel() > 0)
    state.logged("read and validate")
    return state


def annotate_qc(state: Preparation) -> None:
    """QC metrics, the low-quality flag and doublets (:mod:`gpo_vae.data.qc`)."""
    cfg = state.cfg
    qc = qc_mod.annotate_qc(state.adata, qc_threshold=cfg.qc_threshold, doublets=cfg.doublets,
                            seed=cfg.seed, backend=cfg.backend, counts=state.counts)
    for column in qc.columns:
        state.adata.obs[column] = qc[column].to_numpy()
    state.logged("QC annotation", qc_failing=int(state.adata.obs[OBS_QC].sum()))


def keep_strong_perturbations(state: Preparation) -> None:
    """With ``data.summary_stats``: keep the perturbations strong in them."""
    cfg = state.cfg
    if not cfg.summary_stats:
        return
    if cfg.preset not in SUMMARY_STATS_PRESETS:
        raise ConfigError(
            f"data.summary_stats is only read for presets {', '.join(SUMMARY_STATS_PRESETS)}"
            f" (preset is {cfg.preset!r}); remove it or change data.preset")
    stats = filters.load_summary_stats(cfg.summary_stats, cfg.preset)
    obs = state.adata.obs
    keep, info = filters.strong_perturbation_mask(
        state.adata, stats, perturbation_key="perturbation", control_label=state.control,
        gene_id_key="target_gene_id" if "target_gene_id" in obs else None,
        min_degs=cfg.min_degs, max_knockdown=cfg.max_knockdown_pct,
        min_cells=cfg.min_cells_filtered)
    state.keep_cells(keep)
    state.logged("strong perturbations", perturbations_kept=info.get("n_kept"))
    state.dropped("strong-perturbation filter", info["dropped"],
                  "not strong in the summary statistics (or absent from them)")


def keep_knocked_down_cells(state: Preparation) -> None:
    """With ``data.knockdown_filter``: keep the cells whose target moved enough."""
    cfg = state.cfg
    if not cfg.knockdown_filter:
        return
    direction = "up" if cfg.perturbation_type == "activation" else "down"
    keep, info = knockdown.knockdown_mask(
        state.adata, perturbation_key="perturbation", control_label=state.control,
        quantile=cfg.knockdown_quantile,
        combination_separator=state.schema.combination_separator, direction=direction,
        counts=state.counts)
    state.keep_cells(keep)
    state.logged("knockdown filter")
    gone = sorted(p for p, v in info["per_perturbation"].items()
                  if v["kept"] == 0 and v["dropped"] > 0)
    state.dropped("knockdown filter", gone,
                  f"no cell's target went {direction} enough vs controls "
                  f"({cfg.perturbation_type} screen; set data.perturbation_type, or "
                  "data.knockdown_filter=false)")


def keep_perturbations_with_cells(state: Preparation) -> None:
    """Drop perturbations with fewer than ``data.min_cells`` cells."""
    cfg = state.cfg
    keep, info = filters.small_perturbation_mask(
        state.adata, perturbation_key="perturbation", control_label=state.control,
        min_cells=cfg.min_cells)
    state.keep_cells(keep)
    labels = state.labels
    state.logged("minimum cells", perturbations=int(labels[labels != state.control].nunique()))
    state.dropped("minimum cells", [f"{k} ({v} cells)" for k, v in info["dropped"].items()],
                  f"fewer than data.min_cells={cfg.min_cells} cells")


def choose_treatments(state: Preparation) -> None:
    """The treatment genes (perturbed, plus extra DE genes) and each cell's dosages."""
    cfg, separator = state.cfg, state.schema.combination_separator
    state.lognorm = state.counts.map_blocks(log_normalize)  # per cell: exact by blocks
    perturbed = perturbed_genes(state.labels, state.control, separator)
    extra: list[str] = []
    if cfg.extra_genes:
        extra = filters.extra_de_genes(
            state.adata, perturbation_key="perturbation", control_label=state.control,
            perturbed_genes=perturbed, lfc_threshold=cfg.de_lfc_threshold,
            pval_threshold=cfg.de_pval_threshold, seed=cfg.seed, expression=state.lognorm)
        if cfg.max_extra_genes is not None:
            extra = extra[: cfg.max_extra_genes]
    state.treatments = treatment_table(perturbed, extra, set(state.adata.var_names))
    state.dosages = dosage_matrix(state.labels, state.control, separator,
                                  state.treatments["name"].tolist())
    state.logged("treatment genes", perturbed=len(perturbed), extra=len(extra))


def split_cells(state: Preparation) -> None:
    """Train / val / test (``data.split``), then at most
    ``data.train_cells_per_perturbation`` training cells of each perturbation."""
    cfg = state.cfg
    state.split = assign_splits(state.labels, state.control, cfg.split, cfg.split_fractions,
                                cfg.seed, state.schema.combination_separator)
    if cfg.train_cells_per_perturbation:
        keep = subsample_training(state.split, state.labels.to_numpy(), state.control,
                                  cfg.train_cells_per_perturbation, cfg.seed)
        if not np.all(keep):
            state.keep_cells(keep)
            state.lognorm = state.counts.map_blocks(log_normalize)
    state.adata.obs[OBS_SPLIT] = pd.Categorical(state.split, categories=list(SPLITS))
    state.logged(f"split ({cfg.split})", **{s: int((state.split == s).sum()) for s in SPLITS})


def pair_controls(state: Preparation) -> None:
    """A matched control cell for every cell, within its split."""
    cfg, split = state.cfg, state.split
    in_treatment_space = pairing.TreatmentExpression(state.adata.var_names, state.treatments)
    labels = state.labels.to_numpy()
    is_control = labels == state.control
    matched = np.arange(state.adata.n_obs)
    for name in SPLITS:  # one split's treatment-gene expression in memory at a time
        rows = np.flatnonzero(split == name)
        expr = in_treatment_space.of_lognorm(state.lognorm.subset(rows))
        local = pairing.pair_all(expr, labels[rows], is_control[rows], cfg.pairing,
                                 seed=cfg.seed)
        matched[rows] = rows[local]
        del expr
    state.adata.obs[OBS_MATCHED_CONTROL] = matched
    state.logged(f"control pairing ({cfg.pairing})")


def add_counterfactuals(state: Preparation) -> None:
    """Counterfactual targets: median profiles of same-perturbation cells of the other
    QC status (:mod:`gpo_vae.data.counterfactual`)."""
    profiles, index = counterfactual_profiles(
        state.counts, state.labels.to_numpy(), state.adata.obs[OBS_QC].to_numpy(), state.split,
        max_cells=state.cfg.counterfactual_cells, seed=state.cfg.seed)
    state.adata.obs[OBS_COUNTERFACTUAL_INDEX] = index
    state.adata.uns[UNS_COUNTERFACTUAL_PROFILES] = profiles
    state.logged("counterfactuals", with_counterfactual=int((index >= 0).sum()))


#: Every step after reading, in order.
STEPS = (annotate_qc, keep_strong_perturbations, keep_knocked_down_cells,
         keep_perturbations_with_cells, choose_treatments, split_cells, pair_controls,
         add_counterfactuals)


def finish(state: Preparation) -> ad.AnnData:
    """The annotations the model reads: library sizes, training statistics, dosages,
    treatments, the report, the schema and the settings (``uns``)."""
    adata, cfg, train = state.adata, state.cfg, state.split == "train"
    adata.obs[OBS_LIBRARY_SIZE] = np.asarray(state.counts.sum(axis=1)).ravel().astype(np.float32)
    adata.var[VAR_LOG1P_MEAN], adata.var[VAR_LOG1P_STD] = \
        train_log1p_stats(state.counts, train)
    treatments = state.treatments
    treatments["train_cells"] = np.asarray((state.dosages[train] > 0).sum(axis=0)).ravel()
    qc_train = adata.obs[OBS_QC].to_numpy()[train]
    adata.obsm[OBSM_DOSAGES] = state.dosages
    adata.uns[UNS_TREATMENTS] = treatments
    adata.uns[UNS_TRAIN_CELLS_PER_QC] = np.array([(~qc_train).sum(), qc_train.sum()])
    adata.uns[UNS_PREPARE_REPORT] = pd.DataFrame(
        [{k: v for k, v in r.items() if not isinstance(v, (list, dict))}
         for r in state.report])
    adata.uns[UNS_SCHEMA] = {"control_label": state.control, "preset": cfg.preset,
                           "split": cfg.split, "pairing": cfg.pairing,
                           "combination_separator": state.schema.combination_separator or ""}
    # the data settings, so a model trained on this AnnData records how it was prepared
    adata.uns[UNS_PREPARE_SETTINGS] = json.dumps(dataclasses.asdict(cfg))
    adata.uns.update(state.truth)
    return adata


def train_log1p_stats(counts: RowMatrix, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and std of log1p(counts) over training cells (a block at a time)."""
    total, squares = np.zeros(counts.shape[1]), np.zeros(counts.shape[1])
    for _, block in counts.subset(np.flatnonzero(train)).blocks():
        block.data = np.log1p(block.data)
        total += np.asarray(block.sum(axis=0)).ravel()
        squares += np.asarray(block.multiply(block).sum(axis=0)).ravel()
    n = max(int(train.sum()), 1)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)
