"""Typed, validated run configuration loaded from YAML.

A config has a few top-level keys (``name``, ``output_dir``) and the sections ``data``,
``model``, ``guide``, ``loss``, ``training`` and ``logging``. Unknown keys and values of
the wrong type are errors that name the key. ``--set section.key=value`` overrides any
key. Flat dotted keys (``data.split: cells`` at top level) load, and so do the GPO-VAE
authors' own files (``model_kwargs.n_latent: 200``; see :mod:`gpo_vae.authors_config`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gpo_vae.constants import DATA_PRESETS  # noqa: F401  (re-exported)
from gpo_vae.errors import ConfigError

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


@dataclass
class DataConfig:
    """Where the screen is and how to prepare it (``gpo-vae prepare``: QC, cell and
    perturbation filters, extra DE genes, splits and control pairing)."""

    preset: Literal["generic", "adamson", "replogle_k562", "rpe1", "simulated"] = "generic"
    path: str | None = None
    # schema; None means "the preset's default"
    perturbation_key: str | None = None
    control_label: str | None = None
    counts_layer: str | None = None
    gene_symbol_key: str | None = None
    gene_id_key: str | None = None
    combination_separator: str | None = None
    # strong-perturbation filter (Replogle / Adamson summary statistics)
    summary_stats: str | None = None
    min_degs: int = 50
    max_knockdown_pct: float = -30.0
    min_cells_filtered: int = 25
    # cell QC and filters
    qc_threshold: float = 3.0
    doublets: bool = True
    knockdown_filter: bool = True
    knockdown_quantile: float = 0.10
    # which way the screen moves its targets: the knockdown filter keeps cells whose target
    # fell (knockdown, knockout) or rose (activation, CRISPRa) past the controls' quantile
    perturbation_type: Literal["knockdown", "knockout", "activation"] = "knockdown"
    min_cells: int = 20
    # extra DE genes (zero-dosage treatment columns)
    extra_genes: bool = True
    de_lfc_threshold: float = 1.0
    de_pval_threshold: float = 0.01
    max_extra_genes: int | None = None
    # splits, pairing, counterfactuals
    split: Literal["cells", "perturbations", "combinations"] = "cells"
    split_fractions: list[float] = field(default_factory=lambda: [0.64, 0.16, 0.20])
    # at most this many training cells per perturbation (a random subset; validation and
    # test cells are unchanged): the few-cells regime and learning curves
    train_cells_per_perturbation: int | None = None
    pairing: Literal["ot", "wd", "hungarian"] = "ot"
    counterfactual_cells: int = 50
    # loading
    batch_size: int = 512
    num_workers: int = 0
    # read training batches from the prepared file on disk instead of memory (screens
    # larger than memory); batches are densified one at a time either way
    backed: bool = False
    # page-locked batches for a faster copy to a GPU (ignored without one)
    pin_memory: bool = True
    seed: int = 0
    backend: Literal["auto", "cpu", "gpu"] = "auto"
    cache_dir: str | None = None

    def validate(self) -> None:
        if len(self.split_fractions) != 3 or any(f < 0 for f in self.split_fractions) or \
                abs(sum(self.split_fractions) - 1) > 1e-6:
            raise ConfigError(
                f"data.split_fractions={self.split_fractions} must be three non-negative "
                "numbers (train, val, test) summing to 1, e.g. [0.64, 0.16, 0.2]"
            )
        positive = {"batch_size": self.batch_size, "min_cells": self.min_cells,
                    "counterfactual_cells": self.counterfactual_cells,
                    "qc_threshold": self.qc_threshold}
        for key, value in positive.items():
            if value <= 0:
                raise ConfigError(f"data.{key}={value} must be positive")
        if not 0 < self.knockdown_quantile < 1:
            raise ConfigError(
                f"data.knockdown_quantile={self.knockdown_quantile} must be between 0 and 1")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers={self.num_workers} must be >= 0")
        check_seed(self.seed, "data.seed")
        if self.train_cells_per_perturbation is not None and self.train_cells_per_perturbation < 1:
            raise ConfigError(f"data.train_cells_per_perturbation="
                              f"{self.train_cells_per_perturbation} must be >= 1 (or empty)")


@dataclass
class ModelConfig:
    """The generative model (defaults: the authors' RPE1 run)."""

    # anchored: GPO-VAE whose decoded effects are anchored to the training cells
    # pseudobulk shifts (learns effects on CPU budgets; the default). authors: the
    # published objective and architecture, as the authors' code computes them.
    # sams_vae: GPO-VAE's parent (Bereket & Karaletsos 2023), sparse additive mechanisms:
    # each treatment gets an n_latent embedding E_t with a Bernoulli mask M_t added to
    # z_basal, so M and E are T x n_latent, with no GRN and no alignment (a peer model
    # for benchmarks; it has no GRN to export).
    variant: Literal["anchored", "authors", "sams_vae"] = "anchored"
    n_latent: int = 200                # L, size of z_basal (sum mode: must equal T)
    mask_prior: float = 0.3            # Bernoulli prior probability of a GRN edge
    mask_mode: Literal["logits", "probs"] = "logits"  # what the GRN alignment propagates
    prior_scale: float = 1.0           # s, prior scale of the edge weights E and E_qc
    likelihood: Literal["library_nb"] = "library_nb"
    decoder_n_layers: int = 1
    decoder_n_hidden: int = 400
    # concat(z_basal, D(M*E), ...) or z_basal + D(M*E); None = the variant's default
    # (GPO-VAE: concat, sams_vae: sum)
    latent_mode: Literal["concat", "sum"] | None = None
    # how predictions treat the global variables M, E, E_qc: at their posterior mean
    # (M = q(M) probabilities, E = its mean) or sampled; None = the variant's default
    # (anchored: mean, authors: sample)
    predict_globals: Literal["mean", "sample"] | None = None
    # how predictions compose a combination never seen in training: "additive" = the sum
    # of its treatments' predicted effects (the model's interactions fit the training
    # doubles but did not carry to held-out ones: docs/results.md), "latent" = decode the
    # sum of their latent rows (GPO-VAE's own composition). None = the variant's default
    # (anchored: additive, others: latent)
    unseen_combinations: Literal["additive", "latent"] | None = None
    # gene features feeding each treatment row's effect (gpo_vae.models.features), so
    # unseen genes, genes with few cells and genes seen only in combinations get
    # predictions: "pca" = the top gene_feature_components principal components of the
    # training pseudobulk (plus gene_embedding / gene_network when given); "none" = one
    # free row per gene. None = the variant's default (anchored: pca, others: none)
    gene_features: Literal["pca", "none"] | None = None
    gene_feature_components: int = 10
    gene_embedding: str | None = None  # CSV / TSV / parquet, genes x dims (extra features)
    gene_network: str | None = None    # edge list: neighbours' mean features (extra)

    def validate(self) -> None:
        if self.gene_feature_components < 0:
            raise ConfigError(f"model.gene_feature_components={self.gene_feature_components} "
                              "must be >= 0")
        if not 0 < self.mask_prior < 1:
            raise ConfigError(f"model.mask_prior={self.mask_prior} must be between 0 and 1")
        _positive("model", n_latent=self.n_latent, prior_scale=self.prior_scale,
                  decoder_n_layers=self.decoder_n_layers, decoder_n_hidden=self.decoder_n_hidden)


@dataclass
class GuideConfig:
    """The variational distributions (the inference network)."""

    # q(z_basal | x) ("mean_field") or q(z_basal | x, D(M*E), q E_qc) ("correlated");
    # None = the variant's default (anchored: mean_field, authors: correlated)
    encoder: Literal["correlated", "mean_field"] | None = None
    basal_encoder_n_layers: int = 1
    basal_encoder_n_hidden: int = 400
    embedding_encoder_n_layers: int = 4
    embedding_encoder_n_hidden: int = 400
    input_normalization: Literal["log_standardize"] = "log_standardize"
    mask_init: float = 0.0             # initial q(M) logit (probability in probs mode)
    prior_network: str | None = None   # file of (regulator, target) gene pairs
    prior_network_init: float = 0.9    # initial q(M) probability of a listed edge
    temperature: float = 1.0           # Gumbel-softmax temperature of q(M)
    # how training draws M for the latent offset: hard straight-through Gumbel samples
    # (the authors'), or M at its q(M) probabilities ("expected": less noise in the
    # offsets, and the same M that posterior-mean predictions use)
    mask_sampling: Literal["hard", "expected"] = "hard"

    def validate(self) -> None:
        _positive("guide", basal_encoder_n_layers=self.basal_encoder_n_layers,
                  basal_encoder_n_hidden=self.basal_encoder_n_hidden,
                  embedding_encoder_n_layers=self.embedding_encoder_n_layers,
                  embedding_encoder_n_hidden=self.embedding_encoder_n_hidden,
                  temperature=self.temperature)
        if not 0 < self.prior_network_init < 1:
            raise ConfigError(
                f"guide.prior_network_init={self.prior_network_init} must be between 0 and 1")


@dataclass
class LossConfig:
    """Weights of the loss terms."""

    beta: float = 0.1                  # counterfactual KL weight
    alpha: float | None = None         # good-cell weight; None = fraction of QC-failing cells
    hop: int = 5                       # K, extra hops of the GRN alignment
    fc_criteria: float = 0.5           # deltaX threshold of the GRN alignment
    gloss_coeff: float = 100.0         # GRN-alignment weight
    # what q(M) is aligned to: "authors" = the multi-hop propagation of the logits against
    # each cell's |deltaX| - fc_criteria; "direct" = per-pair probabilities of a direct
    # edge from the training cells' signed mean shifts with two-step paths explained away;
    # "none" = no alignment term; None = the variant's default (anchored: direct, authors:
    # authors, sams_vae: none)
    alignment: Literal["authors", "direct", "none"] | None = None
    # direct alignment: a direct shift of direct_threshold control sds is probability 0.5,
    # and direct_width sets how fast it rises (a logistic fit to the simulator's truth)
    direct_threshold: float = 0.55
    direct_width: float = 0.08
    # sparsity weight; None = the variant's default (GPO-VAE 10, sams_vae 0: its
    # Bernoulli prior is its only sparsity pressure)
    penalty_coeff: float | None = None
    # pseudobulk consistency: each perturbation's decoded mean shift should match the
    # pseudobulk shift of its training cells; None = the variant's default (anchored 10,
    # authors 0). Up to pseudobulk_perturbations of the batch's perturbations per step,
    # each decoded on pseudobulk_cells of the batch's z_basal samples.
    pseudobulk_coeff: float | None = None
    pseudobulk_perturbations: int = 64
    pseudobulk_cells: int = 8
    # which z_basal draws the term decodes: the batch's posterior draws, or the N(0, I)
    # prior that predictions use
    pseudobulk_basal: Literal["batch", "prior"] = "batch"
    # with gene features: pull each condition's pseudobulk target toward the features'
    # prediction by its reliability (few cells -> more pull). Off by default: it tied the
    # per-perturbation mean with few cells and lost to it on the real Papalexi screen
    shrinkage: bool = False

    def validate(self) -> None:
        if self.pseudobulk_perturbations < 1 or self.pseudobulk_cells < 1:
            raise ConfigError("loss.pseudobulk_perturbations and loss.pseudobulk_cells must "
                              "be at least 1")
        if self.alpha is not None and not 0 <= self.alpha <= 1:
            raise ConfigError(f"loss.alpha={self.alpha} must be between 0 and 1 (or empty)")
        if self.direct_width <= 0:
            raise ConfigError(f"loss.direct_width={self.direct_width} must be positive")
        if self.hop < 0:
            raise ConfigError(f"loss.hop={self.hop} must be >= 0")
        for key in ("beta", "gloss_coeff", "penalty_coeff", "pseudobulk_coeff"):
            if (getattr(self, key) or 0) < 0:
                raise ConfigError(f"loss.{key}={getattr(self, key)} must be >= 0")


@dataclass
class TrainingConfig:
    """Optimisation, stopping and hardware."""

    max_epochs: int = 2000
    max_steps: int = -1                # -1: no step limit
    lr: float = 3e-4
    mask_lr: float | None = None       # learning rate of the q(M) logits; None = lr
    n_particles: int = 5
    gradient_clip: float = 100.0       # gradient norm clip; 0 turns it off
    early_stopping_patience: int = 30  # validation checks without improvement
    accelerator: str = "auto"          # auto, cpu, gpu, cuda, mps
    devices: int | list[int] | str = "auto"
    # Lightning's strategy (auto, ddp, ddp_spawn, ddp_find_unused_parameters_true, fsdp,
    # ...) and nodes: data parallelism over devices x nodes, each rank a share of every
    # epoch's batches (data.batch_size per rank)
    strategy: str = "auto"
    num_nodes: int = 1
    # float precision of training: 32, or mixed precision on GPUs (bf16-mixed, 16-mixed;
    # the negative binomial log-likelihood stays in float32)
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    # compile the loss with torch.compile (a minute or so of compiling first; pays on
    # long runs, mostly on GPUs)
    compile: bool = False
    seed: int = 0
    log_every_n_steps: int = 10
    # learning diagnostics (validation ATE Pearson beside the per-perturbation mean, mean
    # |E|, KL of q(E) from its prior, share of z_basal explained by the label) every N
    # epochs; 0 turns them off
    diagnostics_every_n_epochs: int = 5
    # which checkpoint is best.ckpt: lowest validation loss, or highest validation ATE
    # Pearson top-20 (needs diagnostics)
    checkpoint_monitor: Literal["val_loss", "val_ate"] = "val_loss"

    def validate(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise ConfigError(f"training.accelerator={self.accelerator!r} is not supported; "
                              f"use one of {', '.join(ACCELERATORS)}")
        devices = self.devices
        if isinstance(devices, str) and devices != "auto" or \
                isinstance(devices, int) and devices < 1 or \
                isinstance(devices, list) and any(d < 0 for d in devices):
            raise ConfigError(f"training.devices={devices!r} must be auto, a positive number "
                              "of devices, or a list of device ids such as [0, 1]")
        check_seed(self.seed, "training.seed")
        _check_strategy(self.strategy)
        if self.num_nodes < 1:
            raise ConfigError(f"training.num_nodes={self.num_nodes} must be at least 1")
        if self.diagnostics_every_n_epochs < 0:
            raise ConfigError("training.diagnostics_every_n_epochs must be >= 0 (0 = off)")
        if self.checkpoint_monitor == "val_ate" and self.diagnostics_every_n_epochs == 0:
            raise ConfigError("training.checkpoint_monitor=val_ate needs the diagnostics; set "
                              "training.diagnostics_every_n_epochs to 1 or more")
        _positive("training", max_epochs=self.max_epochs, lr=self.lr,
                  n_particles=self.n_particles, log_every_n_steps=self.log_every_n_steps)
        if self.mask_lr is not None and self.mask_lr <= 0:
            raise ConfigError(f"training.mask_lr={self.mask_lr} must be positive (or empty)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"training.max_steps={self.max_steps} must be positive or -1")
        if self.gradient_clip < 0 or self.early_stopping_patience < 0:
            raise ConfigError("training.gradient_clip and training.early_stopping_patience "
                              "must be >= 0")


@dataclass
class LoggingConfig:
    """Where metrics go: CSV always, Weights & Biases on request."""

    wandb: bool = False                # WANDB_MODE=offline works without a network
    wandb_project: str = "gpo_vae"
    wandb_name: str | None = None      # default: the run name
    wandb_group: str | None = None
    progress_bar: bool = True


MAX_SEED = 2**32 - 1


def check_seed(seed: Any, where: str = "--seed") -> int:
    """``seed`` as an int when numpy can seed with it (0 to 2**32 - 1); otherwise a
    one-line :class:`ConfigError` naming ``where``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or \
            not 0 <= seed <= MAX_SEED:
        sep = " " if where.startswith("-") else "="
        raise ConfigError(f"{where}{sep}{seed!r} must be >= 0 and at most {MAX_SEED} (a whole "
                          f"number used as a random seed), e.g. {where}{sep}0")
    return int(seed)


def check_count(value: Any, where: str, minimum: int = 1) -> int:
    """``value`` as an int when it is a whole number of at least ``minimum`` (numpy
    integers count, booleans and fractions do not); otherwise a one-line
    :class:`ConfigError` naming ``where``. The rule of every count a Python call takes
    (samples, draws, particles): a zero or negative count gave empty or silently
    meaningless results (NaN or all-zero edge weights) instead of an error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{where}={value!r} must be a whole number of at least {minimum}")
    return int(value)


def _check_strategy(strategy: str) -> None:
    """Refuse a name Lightning's strategy registry does not know (Lightning is imported
    only for a name other than ``auto``, so loading a default config stays fast)."""
    if strategy == "auto":
        return
    known: list[str] = []
    if strategy:
        from lightning.pytorch.strategies import StrategyRegistry

        known = StrategyRegistry.available_strategies()
    if strategy not in known:
        raise ConfigError(f"training.strategy={strategy!r} is not a Lightning strategy; use "
                          "auto (the default) or a registered name such as ddp, ddp_spawn, "
                          "fsdp")


def _positive(section: str, **values) -> None:
    for key, value in values.items():
        if value <= 0:
            raise ConfigError(f"{section}.{key}={value} must be positive")


@dataclass
class Config:
    """A whole run: name, output folder and sections."""

    name: str = "gpo_vae"
    output_dir: str = "results"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    guide: GuideConfig = field(default_factory=GuideConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def validate(self) -> Config:
        if self.name.strip() in ("", ".", "..") or Path(self.name).is_absolute():
            # the run folder is output_dir/name: an empty name would write the run
            # straight into output_dir, beside other runs and the prepared-data cache
            raise ConfigError(f"name={self.name!r} must name a run folder inside output_dir; "
                              "give a name such as 'gpo_vae_demo'")
        for section in (self.data, self.model, self.guide, self.loss, self.training):
            section.validate()
        self._variant_defaults()
        return self

    def _variant_defaults(self) -> None:
        """Fill the settings left empty with the model variant's choice."""
        variant = self.model.variant
        anchored = variant == "anchored"
        sams = variant == "sams_vae"
        if self.guide.encoder is None:
            self.guide.encoder = "mean_field" if anchored else "correlated"
        if self.loss.pseudobulk_coeff is None:
            self.loss.pseudobulk_coeff = 10.0 if anchored else 0.0
        if self.loss.alignment is None:
            self.loss.alignment = {"anchored": "direct", "authors": "authors"}.get(variant,
                                                                                  "none")
        if self.loss.penalty_coeff is None:
            self.loss.penalty_coeff = 0.0 if sams else 10.0
        if self.model.latent_mode is None:
            self.model.latent_mode = "sum" if sams else "concat"
        if self.model.predict_globals is None:
            self.model.predict_globals = "mean" if anchored else "sample"
        if self.model.gene_features is None:
            self.model.gene_features = "pca" if anchored else "none"
        if self.model.unseen_combinations is None:
            self.model.unseen_combinations = "additive" if anchored else "latent"
        if self.loss.shrinkage and self.model.gene_features == "none":
            raise ConfigError("loss.shrinkage pulls targets toward what gene features "
                              "predict, which model.gene_features=none turns off; set "
                              "model.gene_features=pca or loss.shrinkage=false")
        if self.model.gene_features == "none" and (self.model.gene_embedding
                                                   or self.model.gene_network):
            raise ConfigError("model.gene_embedding and model.gene_network add gene features, "
                              "which model.gene_features=none turns off; set "
                              "model.gene_features=pca")
        if sams and self.loss.alignment != "none":
            raise ConfigError(f"loss.alignment={self.loss.alignment} aligns a GRN, and "
                              "model.variant=sams_vae has none; use loss.alignment=none")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


#: Settings that name input files (a run reads them again when it resumes, evaluates or
#: designs); a run folder stores them as absolute paths.
INPUT_PATH_KEYS: tuple[str, ...] = ("data.path", "data.summary_stats", "model.gene_embedding",
                                    "model.gene_network", "guide.prior_network")


def absolute_path(path: str | None) -> str | None:
    """``path`` made absolute against the working directory (None stays None)."""
    return None if not path else os.path.abspath(os.path.expanduser(path))


def with_absolute_inputs(config: Config) -> Config:
    """A copy of ``config`` whose input files (:data:`INPUT_PATH_KEYS`) are absolute paths.

    A run folder's ``config.yaml`` and checkpoints hold this copy, so the run can be
    evaluated, resumed or used for design from any working directory.
    """
    out = dataclasses.replace(config)
    for key in INPUT_PATH_KEYS:
        section, name = key.split(".")
        values = dataclasses.replace(getattr(out, section))
        setattr(values, name, absolute_path(getattr(values, name)))
        setattr(out, section, values)
    return out


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce_setting(value: Any, tp, where: str) -> Any:
    """Check ``value`` against a simple annotation, converting int -> float where natural
    and numeric strings to floats; NaN and infinity are refused. The one type rule of
    every settings dataclass (run config and simulation); errors name ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce_setting(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in allowed:
            value = str(value)      # precision: 32 in YAML is the choice "32"
        if value not in allowed:
            raise ConfigError(
                f"{where}={value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")
        return value
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}={value!r} must be a list")
        return [coerce_setting(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} must be true or false")
        return value
    if tp is int:  # numpy integers count (numbers.Integral), booleans do not
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}={value!r} must be an integer")
        return int(value)
    if tp is float:
        return _coerce_float(value, where)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} must be a string")
        return str(value)
    raise ConfigError(f"{where}: unsupported setting type {_type_name(tp)}")  # pragma: no cover


def _coerce_float(value: Any, where: str) -> float:
    """A finite float from a number or a numeric string: PyYAML reads ``1e-3`` (no dot)
    as a string, and learning rates are written that way. NaN and infinity are refused
    for every float setting (they would pass ``<= 0`` checks and ruin training)."""
    number = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None:
        raise ConfigError(f"{where}={value!r} must be a number, such as 0.001 or 1e-3")
    if not math.isfinite(number):
        raise ConfigError(f"{where}={value!r} must be a finite number (not nan or inf), "
                          "such as 0.001 or 1e-3")
    return number


def _build(cls, values: dict, where: str):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; valid keys"
            f"{' in ' + where if where else ''}: "
            f"{', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in values.items():
        tp = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config section {key!r} must be a mapping of keys to values")
            kwargs[name] = _build(tp, value, key)
        else:
            kwargs[name] = coerce_setting(value, tp, key)
    return cls(**kwargs)


def _nest(flat: dict) -> dict:
    """Turn dotted keys (``data.split``) into nested sections; nested input passes through."""
    nested: dict = {}
    for key, value in flat.items():
        parts = str(key).split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {key!r} conflicts with a value set for {part!r}")
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return nested


def parse_overrides(pairs: list[str] | None) -> dict:
    """``["data.split=cells", ...]`` to a nested dict; values parsed as YAML scalars."""
    flat = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects section.key=value, got {pair!r}")
        try:
            flat[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {pair!r}: the value is not valid YAML; quote it or "
                              "fix its brackets, e.g. data.split_fractions=[0.6,0.2,0.2]") from None
    return _nest(flat)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def config_from_dict(values: dict, overrides: list[str] | None = None) -> Config:
    """Build and validate a :class:`Config` from a (nested or flat dotted) mapping; the
    authors' flat files are translated first."""
    from gpo_vae.authors_config import is_authors_config, translate_authors_config

    values = values or {}
    if is_authors_config(values):
        values = translate_authors_config(values)
    merged = _merge(_nest(values), parse_overrides(overrides))
    return _build(Config, merged, "").validate()


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config file (or defaults when ``path`` is None) and apply ``--set``s."""
    values: dict = {}
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"config file {str(p)!r} is a folder; give the YAML file "
                              "inside it (e.g. its config.yaml)")
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} not found; check the --config path")
        values = read_yaml(p, "config file") or {}
        if not isinstance(values, dict):
            raise ConfigError(f"config file {str(p)!r} must hold a mapping of keys to values")
    return config_from_dict(values, overrides)


def read_yaml(path: Path, what: str):
    """Parse a YAML file; a syntax error is a one-line error naming the file and line."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not a text file (binary content); give "
                          "a YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML{line}; fix its syntax") \
            from None


def dump_config(config: Config) -> str:
    """The resolved config as YAML (what a run folder's ``config.yaml`` holds)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "guide": GuideConfig,
             "loss": LossConfig, "training": TrainingConfig, "logging": LoggingConfig}


def section_settings(settings: dict, sections: tuple[str, ...]) -> dict:
    """Keyword settings to a nested mapping: a bare name (``n_latent=32``) goes to the one
    section among ``sections`` that has it, a dotted one (``"loss.beta"``) where it says.
    An unknown or ambiguous name is a one-line error listing where to look."""
    nested: dict = {}
    for key, value in settings.items():
        if "." in key:
            section, name = key.split(".", 1)
        else:
            owners = [s for s in sections
                      if key in {f.name for f in dataclasses.fields(_SECTIONS[s])}]
            if len(owners) != 1:
                where = "no section" if not owners else f"sections {', '.join(owners)}"
                raise ConfigError(
                    f"setting {key!r} is in {where} of {', '.join(sections)}; check the name, "
                    "or write it as 'section.name' in a config dict")
            section, name = owners[0], key
        nested.setdefault(section, {})[name] = value
    return nested
