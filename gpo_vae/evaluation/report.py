"""``gpo-vae evaluate``: score a trained run on held-out cells, beside baselines and the
split-half ceiling, and write the report into the run folder.

The scoring itself is :func:`gpo_vae.evaluation.result.evaluate_model` (typed steps in
:mod:`gpo_vae.evaluation.evaluate`); this module finds the run and its data and writes
the files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.constants import (
    DEFAULT_CONTROL_LABEL,
    OBS_PERTURBATION,
    OBS_SPLIT,
    OBSM_DOSAGES,
    UNS_SCHEMA,
    UNS_TREATMENTS,
    VAR_GENE_SYMBOL,
)
from gpo_vae.errors import InputDataError
from gpo_vae.evaluation.evaluate import METHODS, condition_dosages, split_ates  # noqa: F401
from gpo_vae.evaluation.result import EvaluationResult, evaluate_model, format_table  # noqa: F401
from gpo_vae.evaluation.settings import EvaluationSettings, default_global_draws  # noqa: F401
from gpo_vae.io import (
    atomic_path,
    json_safe,
    require_writable_folder,
    staged_folder,
    write_h5ad_atomic,
    write_json_atomic,
)
from gpo_vae.outputs import check_output_folder, mark_output_folder
from gpo_vae.stats import log_normalize

logger = logging.getLogger(__name__)


def prepared_data_of(module, *, python_instead: str = "gv.evaluate(gv.GpoVae.load(RUN, "
                                                      "prepared), prepared)",
                     data_path: str | os.PathLike | None = None):
    """The prepared data a trained module was trained on, from the cache or prepared
    again from its config's ``data.path`` (or from ``data_path`` when the file moved).

    Parameters
    ----------
    module
        A trained :class:`~gpo_vae.models.module.GpoVaeModule` (its ``config``).
    python_instead
        The Python call the error suggests when the run was trained on an AnnData in
        memory (nothing to read back from disk).
    data_path
        The run's input file at a new location (``--data``); default: the stored
        ``data.path``.

    Returns
    -------
    AnnData
        The prepared screen, checked to have the module's genes and treatment genes.
    """
    from gpo_vae.data.prepare import prepare

    config = _with_data_path(module.config, data_path, python_instead)
    info = module.data_info
    adata = prepare(config).adata
    genes = adata.var[VAR_GENE_SYMBOL].astype(str).tolist()
    treatments = adata.uns[UNS_TREATMENTS]["name"].astype(str).tolist()
    if genes != list(info.gene_names) or treatments != list(info.treatment_names):
        raise InputDataError(
            "the prepared data no longer matches the trained model (genes or treatment genes "
            "differ); the input file or the preparation settings changed since training: "
            "evaluate with the data the run was trained on, or train again")
    return adata


def _with_data_path(config, data_path, python_instead: str = ""):
    """The run's config reading its input from ``data_path`` (when given); a one-line
    error when the input is not there, naming the stored path and ``data_path``."""
    import dataclasses

    from gpo_vae.config import absolute_path
    from gpo_vae.errors import InputFileError

    if data_path is not None:
        if not Path(data_path).is_file():
            raise InputFileError(f"data_path={str(data_path)!r} does not exist; give the "
                                 ".h5ad file the run was trained on")
        data = dataclasses.replace(config.data, path=absolute_path(str(data_path)))
        return dataclasses.replace(config, data=data)
    if not config.data.path:
        raise InputDataError(
            "this run was trained on an AnnData in memory (its config has no data.path); "
            f"do this from Python: {python_instead}")
    if not Path(config.data.path).is_file():
        raise InputFileError(
            f"the run's input file {config.data.path!r} (data.path in its config.yaml) does "
            "not exist; if it moved, give its new location with data_path=NEW_PATH")
    return config


def cell_eval_anndata(counts, target_gene: np.ndarray, gene_names: Sequence[str],
                      source: str):
    """Cells in cell-eval's format: log1p(1e4-normalised) counts in ``X`` and
    ``obs['target_gene']`` (controls labelled ``non-targeting``)."""
    import anndata as ad

    obs = pd.DataFrame({"target_gene": pd.Categorical(target_gene)},
                       index=[f"{source}_{i}" for i in range(len(target_gene))])
    out = ad.AnnData(X=log_normalize(counts), obs=obs, var=pd.DataFrame(index=list(gene_names)))
    out.uns["description"] = {"source": source, "X": "log1p(1e4-normalised counts)",
                              "control": DEFAULT_CONTROL_LABEL}
    return out




def predicted_and_observed_cells(module, adata, split: str, *, seed: int = 0,
                                 globals_: str | None = None):
    """Sampled cells for every perturbed and control cell of ``split`` (same labels, same
    order) and those observed cells, both in cell-eval's format."""
    from gpo_vae.evaluation.predict import sample_cells

    labels = adata.obs[OBS_PERTURBATION].astype(str).to_numpy()
    in_split = adata.obs[OBS_SPLIT].astype(str).to_numpy() == split
    control = str(adata.uns[UNS_SCHEMA]["control_label"])
    rows = np.concatenate([np.flatnonzero(in_split & (labels != control)),
                           np.flatnonzero(in_split & (labels == control))])
    target = np.where(labels[rows] == control, DEFAULT_CONTROL_LABEL, labels[rows])
    sampled = sample_cells(module, adata.obsm[OBSM_DOSAGES][rows].toarray(), seed=seed,
                           globals_=globals_)
    genes = list(module.data_info.gene_names)
    return (cell_eval_anndata(sampled, target, genes, "gpo_vae"),
            cell_eval_anndata(adata.X[rows], target, genes, "observed"))


def write_report(result: EvaluationResult, module, adata, out: str | os.PathLike, *,
                 globals_: str | None = None) -> dict[str, Path]:
    """Write ``metrics.json``, ``per_perturbation.csv``, ``predictions.h5ad``,
    ``observed_<split>.h5ad`` and ``plots/`` into ``out``: staged and moved into place at
    the end (``metrics.json`` last), so a killed evaluation leaves no half-filled results.
    Returns the written files by name (also set on ``result.files``)."""
    from gpo_vae.evaluation import plots

    out = Path(out)
    require_writable_folder(out, "the evaluation folder")
    metrics, ate, grn = result.metrics, result.ate, result.grn
    split, seed = metrics["split"], metrics["settings"]["seed"]
    logger.info("  sampling predicted cells for predictions.h5ad")
    predicted, observed = predicted_and_observed_cells(module, adata, split, seed=seed,
                                                       globals_=globals_)
    with staged_folder(out, last=("metrics.json",)) as staging:
        files = {"predictions": write_h5ad_atomic(predicted, staging / "predictions.h5ad"),
                 "observed": write_h5ad_atomic(observed, staging / f"observed_{split}.h5ad")}
        plot_dir = staging / "plots"
        by_cells = ate.split_cells.reindex(ate.names).sort_values(ascending=False,
                                                                  kind="stable")
        files["ate_scatter"] = plots.plot_ate_scatter(ate.model_ate, ate.observed,
                                                      plot_dir / "ate_scatter.png",
                                                      list(by_cells.index[:4]))
        files["ate_comparison"] = plots.plot_method_comparison(metrics["ate"],
                                                               plot_dir / "ate_comparison.png")
        if grn is not None:
            files["grn_wasserstein_vs_k"] = plots.plot_wasserstein_vs_k(
                grn.statistical, plot_dir / "grn_wasserstein_vs_k.png")
        if grn is not None and grn.pr_curves:
            files["grn_precision_recall"] = plots.plot_precision_recall(
                grn.pr_curves, grn.truth["random_auprc"], plot_dir / "grn_precision_recall.png")
        with atomic_path(staging / "per_perturbation.csv") as tmp:
            result.per_perturbation.to_csv(tmp, index=False)
        files["per_perturbation"] = staging / "per_perturbation.csv"
        files["metrics"] = write_json_atomic(staging / "metrics.json", json_safe(metrics))
    result.files = {k: out / Path(v).relative_to(staging) for k, v in files.items() if v}
    return result.files


def evaluate(run: str | os.PathLike, *, settings: EvaluationSettings | None = None,
             references: Sequence = (), out_dir: str | os.PathLike | None = None,
             globals_: str | None = None, force: bool = False,
             data_path: str | os.PathLike | None = None) -> EvaluationResult:
    """Evaluate a trained run folder (or checkpoint) on held-out cells and write the report.

    The report goes into ``out_dir`` (default: the run folder for the test split,
    ``<run>/eval_<split>/`` for another split, so one never overwrites the other); see
    :func:`write_report`. The data must hold the cells the run was trained with
    (``split.json``). ``globals_`` (``mean`` or ``sample``) overrides the run's
    ``model.predict_globals``. ``references`` are
    :class:`~gpo_vae.evaluation.grn_reference.ReferenceSpec` entries. An ``out_dir``
    holding anything but this run's own output is refused unless ``force``
    (:mod:`gpo_vae.outputs`). ``data_path`` is the run's input file when it moved from
    the stored ``data.path``.
    """
    from gpo_vae.evaluation import grn_reference
    from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint, run_folder_of
    from gpo_vae.training.run_folder import check_split

    s = (settings or EvaluationSettings()).validate()
    start = time.perf_counter()
    run = Path(run)
    checkpoint = resolve_checkpoint(run)
    run_dir = run_folder_of(checkpoint)
    out = Path(out_dir) if out_dir is not None else \
        run_dir if s.split == "test" else run_dir / f"eval_{s.split}"
    check_output_folder(out, "run", run_dir, what="the evaluation folder", force=force)
    # load references first: a bad reference file fails before minutes of work
    networks = [grn_reference.load_reference_network(spec) for spec in references]
    module = load_trained(checkpoint)
    logger.info(f"evaluating {checkpoint} on the {s.split} split")
    adata = prepared_data_of(module, data_path=data_path)
    check_split(run_dir, adata, "evaluate")
    result = evaluate_model(module, adata, s, networks=networks, globals_=globals_)
    result.metrics = {"run": str(run_dir), "checkpoint": str(checkpoint), **result.metrics}
    mark_output_folder(out, "run", run_dir)
    files = write_report(result, module, adata, out, globals_=globals_)
    # the whole evaluation's time, written into the finished metrics.json as well
    result.metrics["seconds"] = round(time.perf_counter() - start, 1)
    write_json_atomic(files["metrics"], json_safe(result.metrics))
    return result
