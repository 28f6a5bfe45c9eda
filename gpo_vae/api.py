"""The Python API (scvi-tools style): prepare a screen in memory, then train, query, save
and load a :class:`GpoVae` model. The command line is a thin layer over the same code.

Examples
--------
>>> import gpo_vae as gv
>>> adata = gv.simulate("small", seed=0)                        # doctest: +SKIP
>>> prepared = gv.prepare(adata, preset="simulated")            # doctest: +SKIP
>>> model = gv.GpoVae(prepared, n_latent=16).train(max_epochs=5)  # doctest: +SKIP
>>> model.get_grn().head()                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae.config import Config, DataConfig, config_from_dict, load_config, section_settings
from gpo_vae.constants import DEFAULT_CONTROL_LABEL, DESIGN_TOP_GENES, UNS_PREPARE_SETTINGS
from gpo_vae.errors import ConfigError, InputDataError, InputTypeError
from gpo_vae.io import require_input_file
from gpo_vae.stats import seeded_torch

_MODEL_SECTIONS = ("model", "guide", "loss")
_TRAINING_SECTIONS = ("training", "logging")


def _quiet(message: str) -> None:
    """The default ``log`` of the API: notebooks get progress bars, not chatter."""


def simulate(preset: str = "default", seed: int = 0, **settings) -> ad.AnnData:
    """Simulate a CRISPRi Perturb-seq screen with a known gene regulatory network.

    Parameters
    ----------
    preset
        ``small`` (about 1.5k cells, tests), ``default`` (about 10k cells, the demo) or
        ``large`` (about 130k cells).
    seed
        Random seed.
    **settings
        Simulation settings to override, e.g. ``n_cells=3000``.

    Returns
    -------
    AnnData
        Raw counts in ``X``, ``obs['gene']`` (``non-targeting`` for controls) and the true
        network in ``uns['true_grn']``.

    Examples
    --------
    >>> import gpo_vae as gv
    >>> adata = gv.simulate("small", seed=0)                    # doctest: +SKIP
    """
    from gpo_vae.simulation import preset_config, simulate_perturbseq

    return simulate_perturbseq(seed=seed, config=preset_config(preset).with_overrides(**settings))


def prepare(adata: ad.AnnData | str | os.PathLike, *, preset: str = "generic",
            perturbation_key: str | None = None, control_label: str | None = None,
            split: str = "cells", cache_dir: str | os.PathLike | None = None,
            progress: bool = False, log: Callable[[str], None] | None = None,
            **settings) -> ad.AnnData:
    """Prepare a raw Perturb-seq screen for GPO-VAE, in memory.

    QC, perturbation filters, treatment genes, the train / val / test split, control
    pairing and counterfactual targets; the output's keys are listed in
    :mod:`gpo_vae.constants`. Nothing is written unless ``cache_dir`` is given (then the
    result is cached there and reused, as ``gpo-vae prepare`` does).

    Parameters
    ----------
    adata
        The raw screen (counts in ``X`` or a layer), or the path of an ``.h5ad`` file. It is
        not modified.
    preset
        Input layout and filters: ``generic``, ``simulated``, ``adamson``,
        ``replogle_k562`` or ``rpe1``.
    perturbation_key
        ``obs`` column naming each cell's perturbed gene (default: the preset's).
    control_label
        Label of control cells in that column (default: the preset's, usually
        ``non-targeting``).
    split
        ``cells`` (held-out cells of every perturbation) or ``perturbations`` (held-out
        perturbations, for predicting unseen ones).
    cache_dir
        Cache the prepared data here (needs ``adata`` to be a path).
    progress, log
        Progress bars, and a function receiving the step-by-step report (default: none).
    **settings
        Any other data setting (``min_cells=10``, ``split_fractions=[0.7, 0.1, 0.2]``,
        ``knockdown_filter=False``, ...; see ``gpo-vae`` configs' ``data`` section).

    Returns
    -------
    AnnData
        The prepared screen.

    Examples
    --------
    >>> prepared = gv.prepare(adata, preset="simulated", split="cells")  # doctest: +SKIP
    >>> prepared.obs["split"].value_counts()                           # doctest: +SKIP
    """
    from gpo_vae.data.prepare import prepare as prepare_cached
    from gpo_vae.data.prepare import run_preparation

    values = {"preset": preset, "perturbation_key": perturbation_key,
              "control_label": control_label, "split": split, **settings}
    in_memory = isinstance(adata, ad.AnnData)
    if not in_memory:
        values["path"] = str(require_input_file(adata, "gv.prepare's adata"))
    if cache_dir is not None:
        if in_memory:
            raise ConfigError("cache_dir needs the screen as a file path (the cache is keyed "
                              "by the file's bytes); pass the .h5ad path, or no cache_dir")
        values["cache_dir"] = str(cache_dir)
    unknown = sorted(set(values) - set(DataConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a data setting; see the data section of a "
                          "gpo-vae config for the names")
    config = config_from_dict({"data": values})
    log = log or _quiet
    if cache_dir is not None:
        return prepare_cached(config, progress=progress, log=log).adata
    return run_preparation(config, progress=progress, log=log,
                           raw=adata if in_memory else None)


def _data_settings(adata: ad.AnnData) -> dict:
    """The data settings an AnnData was prepared with (empty when it does not say)."""
    raw = adata.uns.get(UNS_PREPARE_SETTINGS)
    return json.loads(raw) if isinstance(raw, str) else {}


def _resolve_config(config: Config | dict | str | os.PathLike | None) -> dict:
    if config is None:
        return {}
    if isinstance(config, Config):
        return config.to_dict()
    if isinstance(config, dict):
        return config
    if not isinstance(config, (str, os.PathLike)):
        raise InputTypeError(f"config must be a Config, a dict or a YAML file path, got "
                             f"{type(config).__name__}")
    return load_config(config).to_dict()


def _as_conditions(conditions) -> list[str]:
    """Perturbation labels as a list: one label (a string) or an iterable of labels.

    A string is one condition (iterating ``"SG00020"`` gave one condition per letter).

    Raises
    ------
    ConfigError
        For anything that is not a label or an iterable of labels, or no label at all.
    """
    if isinstance(conditions, str):
        return [conditions]
    if isinstance(conditions, (bytes, dict)) or not isinstance(conditions, Iterable):
        raise ConfigError(f"conditions {conditions!r} is not a perturbation label; give "
                          "one label such as 'G1' or a list of labels such as ['G1', 'G2+G3']")
    labels = list(conditions)
    wrong = [label for label in labels if not isinstance(label, str)]
    if wrong:
        raise ConfigError(f"condition {wrong[0]!r} is not a perturbation label (a string); "
                          "give labels such as 'G1' or 'G2+G3'")
    if not labels:
        raise ConfigError("no conditions given; give at least one perturbation label")
    return labels


class GpoVae:
    """GPO-VAE on a prepared screen: a VAE whose latent perturbation effects form a gene
    regulatory network among the perturbed genes.

    Parameters
    ----------
    adata
        A prepared screen (:func:`prepare`).
    config
        A :class:`~gpo_vae.config.Config`, a nested dict or a YAML file (the ``gpo-vae
        train`` format) to start from; default: the package defaults (the ``anchored``
        variant).
    **settings
        Model, guide and loss settings by name, e.g. ``n_latent=32``, ``variant="authors"``,
        ``beta=0.1`` (a name two sections share is written ``"loss.beta"`` in ``config``).

    Attributes
    ----------
    module
        The :class:`~gpo_vae.models.module.GpoVaeModule` (generative model, guide, loss).
    history
        Per-epoch training and validation metrics after :meth:`train` (a DataFrame).
    run_dir
        The run folder of the last :meth:`train` / :meth:`save` / :meth:`load`, if any.

    Examples
    --------
    >>> model = gv.GpoVae(prepared, n_latent=32)                 # doctest: +SKIP
    >>> model.train(max_epochs=5)                                # doctest: +SKIP
    >>> model.predict_ate(["G1", "G2+G3"])                       # doctest: +SKIP
    """

    def __init__(self, adata: ad.AnnData | None, config=None, **settings):
        from gpo_vae.data.prepare import require_prepared
        from gpo_vae.models.builder import build_for_prepared

        values = _resolve_config(config)
        if adata is not None:
            require_prepared(adata, "GpoVae's adata")
            values = {**values, "data": {**values.get("data", {}), **_data_settings(adata)}}
        for section, given in section_settings(settings, _MODEL_SECTIONS).items():
            values[section] = {**values.get(section, {}), **given}
        self.config: Config = config_from_dict(values)
        self.adata = adata
        with seeded_torch(self.config.training.seed):
            self.module = build_for_prepared(self.config, adata) if adata is not None else None
        # the first train() builds the module again after seeding everything, exactly as
        # `gpo-vae train` does, so the API and the command line give the same model
        self._untrained = True
        self.history: pd.DataFrame | None = None
        self.run_dir: Path | None = None
        self._training_log: pd.DataFrame | None = None   # step-level metrics of train()

    def __repr__(self) -> str:
        if self.module is None:
            return "GpoVae(untrained, no data)"
        info = self.module.data_info
        return (f"GpoVae(variant={self.config.model.variant}, {info.n_genes} genes, "
                f"{info.n_treatments} treatment genes, n_latent={self.config.model.n_latent}, "
                f"trained={self.history is not None or self.run_dir is not None})")

    @property
    def data_info(self):
        return self.module.data_info

    # --- training ------------------------------------------------------------------
    def train(self, max_epochs: int | None = None, *, accelerator: str | None = None,
              run_dir: str | os.PathLike | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None, force: bool = False,
              **settings) -> GpoVae:
        """Fit the model; afterwards it holds the weights of the best validation epoch.

        Parameters
        ----------
        max_epochs
            Passes over the training cells (default: the config's).
        accelerator
            ``auto``, ``cpu`` or ``gpu``.
        run_dir
            Write the run folder here (checkpoints, logs, plots; what ``gpo-vae train``
            writes and :meth:`load` reads). Default: a temporary folder, removed after.
            A folder holding files gpo-vae did not write is refused unless ``force``.
        progress, log
            Progress bars (plain per-epoch lines outside a terminal) and messages.
        **settings
            Training settings by name: ``lr``, ``n_particles``, ``max_steps``, ``seed``,
            ``batch_size`` (data), ``wandb`` (logging), ...

        Returns
        -------
        GpoVae
            ``self``, so calls chain.
        """
        from gpo_vae.evaluation.diagnostics import diagnostics_callback
        from gpo_vae.outputs import check_output_folder
        from gpo_vae.training.curves import per_epoch
        from gpo_vae.training.train import fit_best

        if self.adata is None:
            raise InputDataError("this model has no data to train on; create it with "
                                 "GpoVae(prepared) or load it with GpoVae.load(run, adata)")
        values = self.config.to_dict()
        given = dict(settings)
        if max_epochs is not None:
            given["max_epochs"] = max_epochs
        if accelerator is not None:
            given["accelerator"] = accelerator
        if "batch_size" in given:
            values["data"]["batch_size"] = given.pop("batch_size")
        for section, entries in section_settings(given, _TRAINING_SECTIONS).items():
            values[section].update(entries)
        self.config = config_from_dict(values)
        if run_dir is not None:
            check_output_folder(run_dir, "run", run_dir, what="run_dir", force=force)
        self.module, self._training_log = fit_best(
            self.config, self.adata, module=None if self._untrained else self.module,
            run_dir=run_dir, progress=progress, log=log or _quiet,
            diagnostics=diagnostics_callback)
        self._untrained = False
        self.history = per_epoch(self._training_log)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        return self

    # --- queries -------------------------------------------------------------------
    def get_grn(self, threshold: float = 0.0, top_k: int | None = None,
                n_samples: int = 32, seed: int = 0) -> pd.DataFrame:
        """The learned GRN as an edge table, most probable first.

        Parameters
        ----------
        threshold
            Keep edges with q(M) probability at least this (default: every pair).
        top_k
            Keep at most this many edges (a positive whole number; None: all of them).
        n_samples, seed
            Draws of M behind the mean edge weights, and their seed.

        Returns
        -------
        DataFrame
            ``source``, ``target``, ``probability``, ``mean_weight`` (E[E | M = 1]),
            ``sign``, ``source_kind``, ``target_kind``.
        """
        from gpo_vae.models.grn import check_threshold, check_top_k, learned_grn

        top_k, threshold = check_top_k(top_k), check_threshold(threshold)  # before draws
        return learned_grn(self.module, n_samples=n_samples, seed=seed).edges(threshold, top_k)

    def plot_grn(self, threshold: float = 0.5, n_samples: int = 32, seed: int = 0):
        """The q(M) heatmap beside the histogram of edge probabilities (a matplotlib
        Figure; ``gpo-vae export-grn`` saves the same plot as ``heatmap.png``)."""
        from gpo_vae.export import grn_heatmap_figure
        from gpo_vae.models.grn import learned_grn

        return grn_heatmap_figure(learned_grn(self.module, n_samples=n_samples, seed=seed),
                                  threshold)

    def plot_training_curves(self):
        """Losses, validation loss and IWELBO over training (and the learning
        diagnostics, when logged): a matplotlib Figure read from the run folder's logs
        (``plots/training_curves.png``), or None when there are none: before training, or
        for a model loaded from a folder written by :meth:`save` (which keeps no logs)."""
        from gpo_vae.training.curves import read_log, training_curves_figure

        log = self._training_log
        if log is None and self.run_dir is not None:
            log = read_log(self.run_dir)
        return None if log is None else training_curves_figure(log)

    def grn_stability(self, n_runs: int = 5, *, threshold: float = 0.5,
                      max_epochs: int | None = None, seed: int = 0):
        """How often each edge recurs over ``n_runs`` trainings on bootstrap resamples of
        the training cells (what ``gpo-vae export-grn --stability N`` writes).

        Parameters
        ----------
        n_runs
            Bootstrap runs; each is a full training of this model's configuration.
        threshold
            q(M) at or above which an edge counts as found in a run.
        max_epochs
            Epochs of each run (default: the config's).
        seed
            Seed of the resamples and their training (same seed, same answer).

        Returns
        -------
        GrnStability
            ``frequency`` and ``mean_probability`` (T x T DataFrames), ``n_runs``.

        Examples
        --------
        >>> stability = model.grn_stability(5)                         # doctest: +SKIP
        >>> stability.frequency.loc["GATA1", "TAL1"]                    # doctest: +SKIP
        """
        from gpo_vae.stability import grn_stability

        if self.adata is None:
            raise InputDataError("this model has no data to resample; create it with "
                                 "GpoVae(prepared) or load it with GpoVae.load(run, adata)")
        return grn_stability(self.config, self.adata, n_runs, threshold=threshold,
                             max_epochs=max_epochs, seed=seed, log=_quiet)

    def predict_ate(self, conditions: str | Sequence[str], *, n_samples: int = 1000,
                    n_global: int = 20, seed: int = 0, globals_: str | None = None,
                    return_standard_error: bool = False):
        """Predicted average treatment effects: mean "perturbseq" expression of generated
        perturbed cells minus that of generated control cells.

        Parameters
        ----------
        conditions
            Perturbation labels: a treatment gene (``"G1"``) or a combination joined by
            the data's separator, ``+`` by default (``"G2+G3"``); one label or a list.
        n_samples, n_global
            Generated cells per condition and draws of the global variables among them.
        seed
            Random seed (the caller's random state is kept).
        globals_
            ``mean`` or ``sample`` (default: the config's ``model.predict_globals``).
        return_standard_error
            Also return the Monte Carlo standard errors.

        Returns
        -------
        DataFrame
            Conditions x genes (and the standard errors, same shape, when asked).
        """
        from gpo_vae.evaluation.predict import model_ates

        conditions = _as_conditions(conditions)
        mean, se = model_ates(self.module, self.dosages(conditions), conditions,
                              n_samples=n_samples, n_global=n_global, seed=seed,
                              globals_=globals_)
        return (mean, se) if return_standard_error else mean

    def sample(self, conditions: str | Sequence[str], n_cells: int = 100, *, seed: int = 0,
               globals_: str | None = None) -> ad.AnnData:
        """Generated cells, ``n_cells`` per condition, in cell-eval's format.

        Returns
        -------
        AnnData
            log1p(1e4-normalised) expression in ``X``, ``obs['target_gene']`` (the
            condition), raw counts in ``layers['counts']``.
        """
        from gpo_vae.evaluation.predict import sample_cells
        from gpo_vae.evaluation.report import cell_eval_anndata

        conditions = _as_conditions(conditions)
        if n_cells < 1:
            raise ConfigError(f"n_cells={n_cells} must be at least 1")
        dosages = np.repeat(self.dosages(conditions), n_cells, axis=0)
        counts = sample_cells(self.module, dosages, seed=seed, globals_=globals_)
        cells = cell_eval_anndata(counts, np.repeat(conditions, n_cells),
                            self.data_info.gene_names, "gpo_vae")
        cells.layers["counts"] = counts
        return cells

    def design(self, target, *, genes_allowed: Sequence[str] | None = None,
               max_perturbations: int = 1, budget: int = 50, metric: str = "mix",
               signed: bool = False, strength: float = 1.0, split: str = "test",
               top_genes: int | None = DESIGN_TOP_GENES, spare_others: bool = False,
               validate_with_simulator: bool = False, out: str | os.PathLike | None = None,
               seed: int = 0, log: Callable[[str], None] | None = None,
               force: bool = False, **settings):
        """In-silico intervention design: the perturbations of at most
        ``max_perturbations`` genes whose predicted effect is closest to ``target``
        (what ``gpo-vae design`` runs; see :mod:`gpo_vae.design.search`).

        Parameters
        ----------
        target
            ``"perturbation:NAME"`` (that perturbation's ``split`` cells), an AnnData of
            cells to reach (raw counts, or log1p-normalised as :meth:`sample` and
            evaluation write them), ``{"up": [...], "down": [...]}`` (a signed gene set), a
            Series of target ATEs by gene, or a target file path.
        genes_allowed
            Treatment genes that may be perturbed (default: the screen's perturbed genes).
        max_perturbations, budget
            Genes per intervention, and candidates scored exactly.
        metric
            ``mix`` (default), ``pearson`` or ``mse`` (:data:`gpo_vae.design.DISTANCES`).
        signed
            Allow activation (negative dosages) as well as knockdown.
        strength
            Target ATE of a gene set's genes (log2 units).
        split
            Cells behind ``perturbation:`` targets and the controls of AnnData targets.
        top_genes
            An observed profile (``perturbation:`` or AnnData) is matched on the genes its
            cells change most significantly (largest Welch |t|); 0 or None: every gene.
        spare_others
            A gene set also asks every other gene to stay unchanged (the perturbable
            genes' own knockdown excepted); off, only the listed genes are matched.
        validate_with_simulator
            Apply the designs in the simulator that made the data (``result.validation``).
        out
            Also write the design's files here (a folder holding anything else, or a
            finished design, is refused unless ``force``).
        seed, log, **settings
            Random seed, a message sink, and other :class:`~gpo_vae.design.DesignSettings`
            (``steps``, ``n_draws``, ``restarts``, ``risk``, ...).

        Returns
        -------
        DesignResult
            ``.designs`` (ranked), ``.baseline`` (exhaustive search), ``.curve``,
            ``.summary()``.

        Examples
        --------
        >>> result = model.design({"up": ["G0101"], "down": ["G0203"]})  # doctest: +SKIP
        >>> result.designs.head(3)                                      # doctest: +SKIP
        """
        from gpo_vae.design.search import DesignSettings
        from gpo_vae.design.targets import TargetOptions
        from gpo_vae.design.workflow import run_design

        try:
            chosen = DesignSettings(max_perturbations=max_perturbations, budget=budget,
                                    metric=metric, signed=signed, seed=seed, **settings)
        except TypeError:
            raise ConfigError(f"unknown design setting among {sorted(settings)}; see "
                              "gpo_vae.design.DesignSettings") from None
        return run_design(self.module, target, prepared=self.adata, allowed=genes_allowed,
                          settings=chosen, target_options=TargetOptions(
                              split, strength, top_genes, spare_others),
                          validate=validate_with_simulator, out=out, log=log or _quiet,
                          force=force)

    def get_latent_representation(self, adata: ad.AnnData | None = None,
                                  batch_size: int = 1024) -> np.ndarray:
        """Mean of q(z_basal | x) for every cell of a prepared AnnData (default: the
        training data), cells x n_latent."""
        import torch

        from gpo_vae.data.dataset import PerturbationDataset

        adata = self.adata if adata is None else adata
        if adata is None:
            raise InputDataError("give the prepared AnnData: get_latent_representation(adata)")
        self._check_same_genes(adata)
        dataset = PerturbationDataset(adata)
        device = next(self.module.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                batch = dataset[list(range(start, min(start + batch_size, len(dataset))))]
                out.append(self.module.latent_mean(
                    {k: v.to(device) for k, v in batch.items()}).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.module.n_latent), np.float32)

    def dosages(self, conditions: str | Sequence[str]) -> np.ndarray:
        """Dosage rows (conditions x treatment genes) of perturbation labels (one label or
        a list of them)."""
        from gpo_vae.data.treatments import targets_of

        conditions = _as_conditions(conditions)
        info = self.data_info
        column = {name: j for j, name in enumerate(info.treatment_names)}
        separator = info.combination_separator or "+"
        out = np.zeros((len(conditions), info.n_treatments), dtype=np.float32)
        for i, label in enumerate(conditions):
            for gene in targets_of(str(label), info.control_label, separator):
                if gene not in column:
                    shown = ", ".join(info.treatment_names[:8])
                    raise ConfigError(
                        f"{gene!r} is not a treatment gene of this model (it knows "
                        f"{info.n_treatments}: {shown}, ...); check the name, or label "
                        f"controls {info.control_label!r}")
                out[i, column[gene]] = 1.0
        return out

    def _check_same_genes(self, adata: ad.AnnData) -> None:
        from gpo_vae.data.prepare import require_prepared

        genes = require_prepared(adata).var["gene_symbol"].astype(str).tolist()
        if genes != list(self.data_info.gene_names):
            raise InputDataError("this AnnData's genes differ from the model's; use data "
                                 "prepared like the training data")

    # --- files ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write a run folder that ``gpo-vae evaluate`` / ``export-grn`` and :meth:`load`
        read: ``config.yaml``, ``checkpoints/best.ckpt`` (the current weights) and, with
        data, ``split.json``. Refuses a folder that already holds a trained run, and one
        holding files gpo-vae did not write unless ``force``."""
        from gpo_vae.training.run_folder import save_run_folder

        self.run_dir = save_run_folder(Path(path), self.module, self.config, self.adata,
                                       force=force)
        return self.run_dir

    @classmethod
    def load(cls, path: str | os.PathLike, adata: ad.AnnData | None = None) -> GpoVae:
        """A model from a run folder (``gpo-vae train``'s or :meth:`save`'s) or a
        checkpoint file; ``adata`` (the prepared data) is needed for training, latent
        representations of the training cells and evaluation."""
        from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint
        from gpo_vae.training.curves import per_epoch, read_log

        checkpoint = resolve_checkpoint(path)
        module = load_trained(checkpoint)
        model = cls.__new__(cls)
        model.config, model.module, model.adata = module.config, module, adata
        model._untrained, model._training_log = False, None
        model.history = per_epoch(read_log(checkpoint.parent.parent)) \
            if checkpoint.parent.name == "checkpoints" else None
        model.run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" \
            else checkpoint.parent
        if adata is not None:
            model._check_same_genes(adata)
        return model


def evaluate(model: GpoVae, adata: ad.AnnData | None = None, split: str = "test", *,
             references: Sequence = (), out: str | os.PathLike | None = None,
             globals_: str | None = None, progress: bool = False,
             log: Callable[[str], None] | None = None, force: bool = False, **settings):
    """Score a model on held-out cells beside the baselines and the split-half ceiling.

    Parameters
    ----------
    model
        A trained :class:`GpoVae`.
    adata
        The prepared data it was trained on (default: the model's).
    split
        ``test`` or ``val`` cells; the training cells are refused (their scores say
        nothing about prediction).
    references
        Reference networks (``ReferenceSpec`` entries, or ``"NAME=FILE"`` strings).
    out
        Also write the report folder (``metrics.json``, plots, predicted cells) here. A
        folder holding anything but this model's own output (someone's files, another
        run) is refused before any work unless ``force`` (:mod:`gpo_vae.outputs`).
    globals_
        ``mean`` or ``sample`` (default: the config's ``model.predict_globals``).
    progress, log
        Progress bars and messages.
    **settings
        Evaluation effort: ``n_samples``, ``n_global``, ``iwelbo_particles``, ``seed``, ...

    Returns
    -------
    EvaluationResult
        ``.to_dict()`` (what ``metrics.json`` holds), ``.table()``, ``.summary()``,
        ``.per_perturbation``, ``.verdicts``.
    """
    from gpo_vae.evaluation.grn_reference import load_reference_network, parse_reference_argument
    from gpo_vae.evaluation.report import write_report
    from gpo_vae.evaluation.result import evaluate_model
    from gpo_vae.evaluation.settings import EvaluationSettings, default_global_draws
    from gpo_vae.outputs import check_output_folder, mark_output_folder

    if not isinstance(model, GpoVae):
        raise InputTypeError(f"gv.evaluate expects a trained GpoVae, got {type(model).__name__} "
                             f"{str(model)[:60]!r}; load a run with gv.GpoVae.load(run_folder)")
    adata = model.adata if adata is None else adata
    if adata is None:
        raise InputDataError("give the prepared AnnData the model was trained on: "
                             "gv.evaluate(model, prepared)")
    model._check_same_genes(adata)
    if "n_samples" in settings and "n_global" not in settings:
        settings["n_global"] = default_global_draws(settings["n_samples"])
    try:
        chosen = EvaluationSettings(split=split, **settings)
    except TypeError:
        raise ConfigError(f"unknown evaluation setting among {sorted(settings)}; see "
                          "EvaluationSettings") from None
    chosen.validate()  # before any work: e.g. the training split is refused
    specs = [parse_reference_argument(r) if isinstance(r, str) else r for r in references]
    networks = [load_reference_network(spec) for spec in specs]
    log = log or _quiet
    # the output's subject: the model's run folder, or the report folder itself for a model
    # that has none (trained in memory)
    subject = model.run_dir if model.run_dir is not None else out
    if out is not None:
        check_output_folder(out, "run", subject, what="the evaluation folder", force=force)
    result = evaluate_model(model.module, adata, chosen, networks=networks, globals_=globals_,
                            progress=progress, log=log)
    if out is not None:
        mark_output_folder(out, "run", subject)
        write_report(result, model.module, adata, out, globals_=globals_, progress=progress,
                     log=log)
    return result


__all__ = ["DEFAULT_CONTROL_LABEL", "GpoVae", "evaluate", "prepare", "simulate"]
