"""The API's functions: simulate a screen, prepare one in memory, evaluate a model."""

from __future__ import annotations

import os
from collections.abc import Sequence

import anndata as ad

from gpo_vae.api._model import GpoVae
from gpo_vae.config import DataConfig, config_from_dict
from gpo_vae.errors import ConfigError, InputDataError, InputTypeError
from gpo_vae.io import require_input_file


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
    if cache_dir is not None:
        return prepare_cached(config).adata
    return run_preparation(config, raw=adata if in_memory else None)


def evaluate(model: GpoVae, adata: ad.AnnData | None = None, split: str = "test", *,
             references: Sequence = (), out: str | os.PathLike | None = None,
             globals_: str | None = None, force: bool = False, **settings):
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
    # the output's subject: the model's run folder, or the report folder itself for a model
    # that has none (trained in memory)
    subject = model.run_dir if model.run_dir is not None else out
    if out is not None:
        check_output_folder(out, "run", subject, what="the evaluation folder", force=force)
    result = evaluate_model(model.module, adata, chosen, networks=networks, globals_=globals_)
    if out is not None:
        mark_output_folder(out, "run", subject)
        write_report(result, model.module, adata, out, globals_=globals_)
    return result


