"""The sections of a run configuration: ``data``, ``model``, ``guide``, ``loss``,
``training`` and ``logging``, each a dataclass with its defaults and range checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gpo_vae.config._types import Settings, check_seed
from gpo_vae.errors import ConfigError

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


@dataclass
class DataConfig(Settings):
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
class ModelConfig(Settings):
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
    # how predicted ATEs read the decoder: "expected" = the mean over z_basal draws of
    # log2(1 + 1e4 p) of the decoded proportions p, the quantity the pseudobulk term
    # anchors to the training cells; "sampled" = negative binomial counts at library
    # 1e4, transformed (the authors'; its count noise bends the shifts of low-expressed
    # genes away from what the term anchored). None = the variant's default (anchored:
    # expected, others: sampled)
    ate_decoding: Literal["expected", "sampled"] | None = None
    # how predictions compose a combination never seen in training: "additive" = the sum
    # of its treatments' effects, each fitted by least squares over the model's
    # predictions of every training condition that holds it, singles and combinations
    # (the model's interactions fit the training doubles but did not carry to held-out
    # ones: docs/results.md), "latent" = decode the sum of their latent rows (GPO-VAE's
    # own composition). None = the variant's default (anchored: additive, others: latent)
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
    # with gene features: a treatment's own-gene shift also moves the genes that follow
    # its target across the training cells (co-expression slopes, the top this many per
    # gene; 0 = the own gene alone): what an unseen gene's knockdown implies downstream
    downstream_genes: int = 200
    # with gene features: the linear baseline inside the decoder (b + G W p_t on the
    # logits, G the training cells' co-expression embedding), which the latent pathway
    # corrects; false = the latent pathway and the own-gene effect alone
    linear_response: bool = True

    def validate(self) -> None:
        if self.downstream_genes < 0:
            raise ConfigError(f"model.downstream_genes={self.downstream_genes} must be >= 0 "
                              "(0: a perturbation shifts its own gene alone)")
        if self.gene_feature_components < 0:
            raise ConfigError(f"model.gene_feature_components={self.gene_feature_components} "
                              "must be >= 0")
        if not 0 < self.mask_prior < 1:
            raise ConfigError(f"model.mask_prior={self.mask_prior} must be between 0 and 1")
        _positive("model", n_latent=self.n_latent, prior_scale=self.prior_scale,
                  decoder_n_layers=self.decoder_n_layers, decoder_n_hidden=self.decoder_n_hidden)


@dataclass
class GuideConfig(Settings):
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
class LossConfig(Settings):
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
    # with gene features: pull each single perturbation's pseudobulk target, entry by
    # entry, toward what its knockdown implies (its own gene's shift spread along the
    # genes that co-vary with it) by the positive-part James-Stein weight; a shift of few
    # cells borrows the screen's co-expression, a well-measured one is kept
    knockdown_shrinkage: bool = True
    # with the pseudobulk term: each combination's target pulled, entry by entry, toward
    # what the additive model of every condition says of it (its treatments' effects
    # fitted by least squares over the singles and combinations that hold them) by the
    # positive-part James-Stein weight; an interaction well above its noise is kept
    additive_shrinkage: bool = True

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
class TrainingConfig(Settings):
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
class LoggingConfig(Settings):
    """Where metrics go: CSV always, Weights & Biases on request."""

    wandb: bool = False                # WANDB_MODE=offline works without a network
    wandb_project: str = "gpo_vae"
    wandb_name: str | None = None      # default: the run name
    wandb_group: str | None = None
    progress_bar: bool = True


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
