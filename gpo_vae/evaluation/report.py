"""``gpo-vae evaluate``: score a trained run on held-out cells, beside baselines and the
split-half ceiling, and write the report into the run folder.

Honest by construction: data ATEs come from the cells of the evaluated split only
(``test`` by default); the baselines are fitted on training cells only; the statistical
GRN test uses the evaluated split's cells; the GRN truth baselines use training cells.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.constants import DEFAULT_CONTROL_LABEL
from gpo_vae.errors import InputDataError
from gpo_vae.evaluation import baselines
from gpo_vae.evaluation.ate import AteTable, ate_from_cells, perturbseq_transform
from gpo_vae.evaluation.metrics import ATE_METRICS, aggregate_scores, score_ates
from gpo_vae.evaluation.settings import EvaluationSettings, default_global_draws  # noqa: F401
from gpo_vae.io import (
    atomic_path,
    json_safe,
    require_writable_folder,
    staged_folder,
    write_h5ad_atomic,
    write_json_atomic,
)
from gpo_vae.stats import log_normalize

METHODS = ("model", "baseline_pert_mean", "baseline_global_mean", "baseline_linear",
           "ceiling_split_half", "ceiling_noise_free")


@dataclass
class EvaluationResult:
    """What ``evaluate`` measured and where it wrote it."""

    metrics: dict
    per_perturbation: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def _run_dir_of(checkpoint: Path, run: Path) -> Path:
    if run.is_dir():
        return run
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" \
        else checkpoint.parent


def _prepared_for(module, progress: bool, log: Callable[[str], None]):
    """The prepared data the run trained on (from the cache, or prepared again)."""
    from gpo_vae.data.prepare import prepare

    adata = prepare(module.config, progress=progress, log=log).adata
    genes = adata.var["gene_symbol"].astype(str).tolist()
    treatments = adata.uns["treatments"]["name"].astype(str).tolist()
    info = module.data_info
    if genes != list(info.gene_names) or treatments != list(info.treatment_names):
        raise InputDataError(
            "the prepared data no longer matches the trained model (genes or treatment genes "
            "differ); the input file or the preparation settings changed since training: "
            "evaluate with the data the run was trained on, or train again")
    return adata


def split_ates(expression, labels: np.ndarray, split: np.ndarray, name: str,
               control_label: str, gene_names: Sequence[str]) -> AteTable:
    """Data ATEs from the cells of split ``name`` only (test ATEs never see a training
    cell, training ATEs never see a test cell)."""
    cells = np.asarray(split) == name
    return ate_from_cells(expression[cells], np.asarray(labels)[cells], control_label,
                          gene_names)


def _scored_perturbations(test: AteTable, min_cells: int) -> list[str]:
    return [p for p, n in test.n_cells.items() if n >= min_cells]


def condition_dosages(adata, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """One dosage row per perturbation label (the row of its first cell)."""
    first = pd.Series(np.arange(labels.size)).groupby(labels).first()
    rows = first.reindex(list(names)).to_numpy()
    return adata.obsm["dosages"][rows].toarray()


def _cells_h5ad(counts, target_gene: np.ndarray, gene_names: Sequence[str], source: str):
    import anndata as ad

    obs = pd.DataFrame({"target_gene": pd.Categorical(target_gene)},
                       index=[f"{source}_{i}" for i in range(len(target_gene))])
    out = ad.AnnData(X=log_normalize(counts), obs=obs, var=pd.DataFrame(index=list(gene_names)))
    out.uns["description"] = {"source": source, "X": "log1p(1e4-normalised counts)",
                              "control": DEFAULT_CONTROL_LABEL}
    return out


def _verdicts(ate: dict, truth: dict | None) -> list[str]:
    """Plain sentences saying where the model loses to (or beats) a baseline."""
    lines = []
    model = ate["model"]
    for baseline in ("baseline_pert_mean", "baseline_global_mean", "baseline_linear"):
        for metric in ("pearson_top20", "pearson_all"):
            m, b = model.get(metric), ate.get(baseline, {}).get(metric)
            if m is None or b is None:
                continue
            # a gap that does not show at three decimals is no result either way
            word = "ties" if abs(m - b) < 0.0005 else "beats" if m > b else "LOSES TO"
            lines.append(f"model {word} {baseline} on {metric} ({m:.3f} vs {b:.3f})")
    if truth and truth.get("auprc") is not None:
        for key in ("baseline_correlation_auprc", "baseline_mean_shift_auprc"):
            b = truth.get(key)
            if b is None:
                continue
            word = "beats" if truth["auprc"] > b else "LOSES TO"
            lines.append(f"q(M) {word} the {key.removeprefix('baseline_').removesuffix('_auprc')}"
                         f" GRN baseline on AUPRC ({truth['auprc']:.3f} vs {b:.3f})")
    return lines


def format_table(metrics: dict) -> str:
    """The short table ``gpo-vae evaluate`` prints."""
    cols = list(ATE_METRICS)
    lines = [f"ATE prediction on {metrics['n_test_cells']:,} {metrics['split']} cells, "
             f"{metrics['n_perturbations_scored']} perturbations (split kind "
             f"{metrics['split_kind']}):",
             f"  {'method':<22}" + "".join(f"{c:>15}" for c in cols)]
    for method in METHODS:
        values = metrics["ate"].get(method, {})
        cells = "".join(f"{'-' if values.get(c) is None else format(values[c], '.3f'):>15}"
                        for c in cols)
        lines.append(f"  {method:<22}{cells}")
    split = metrics["split"]
    lines.append(f"  {split} IWELBO per cell: {metrics['iwelbo_' + split]:.2f}")
    truth = metrics["grn"].get("truth")
    if truth and truth.get("auprc") is not None:
        lines.append(f"GRN vs truth: AUPRC {truth['auprc']:.3f} (random "
                     f"{truth['random_auprc']:.3f}, correlation "
                     f"{truth['baseline_correlation_auprc']:.3f}, mean shift "
                     f"{truth['baseline_mean_shift_auprc']:.3f}), AUROC {truth['auroc']:.3f}")
    stat = metrics["grn"]["statistical"]["threshold"]
    if stat.get("precision") is None:
        lines.append(f"GRN statistical (q(M) > {stat.get('threshold', 0.5)}): none of "
                     f"{stat.get('n_edges', 0):,} edges testable on these cells (a regulator "
                     "needs perturbed cells in the split, a target must be measured)")
    else:
        lines.append(f"GRN statistical (q(M) > {stat.get('threshold', 0.5)}): "
                     f"{stat['n_edges']:,} edges, precision {stat['precision']:.3f} "
                     f"(random pairs {stat.get('base_rate') or float('nan'):.3f}), mean "
                     f"Wasserstein {stat['mean_wasserstein']:.3f}")
    for name, ref in metrics["grn"].get("reference", {}).items():
        if ref.get("precision") is not None:
            lines.append(f"GRN vs {name}: precision {ref['precision']:.3f}, recall "
                         f"{ref['recall']:.3f}, F1 {ref['f1']:.3f} ({ref['n_edges']} reference "
                         "edges on shared genes)")
        else:
            lines.append(f"GRN vs {name}: no predicted edge between genes it covers "
                         f"({ref['n_edges']} reference edges on shared genes)")
    lines += [f"  * {v}" for v in metrics["verdicts"]]
    return "\n".join(lines)


def evaluate(run: str | os.PathLike, *, settings: EvaluationSettings | None = None,
             references: Sequence = (), progress: bool = True,
             log: Callable[[str], None] = print,
             out_dir: str | os.PathLike | None = None,
             globals_: str | None = None) -> EvaluationResult:
    """Evaluate a trained run folder (or checkpoint) on held-out cells.

    Writes ``metrics.json``, ``per_perturbation.csv``, ``predictions.h5ad`` (sampled
    cells in cell-eval's format), ``observed_<split>.h5ad`` (the held-out cells in the
    same format) and ``plots/`` into ``out_dir`` (default: the run folder for the test
    split, ``<run>/eval_<split>/`` for another split, so one never overwrites the other).
    The data must hold the cells the run was trained with (``split.json``). ``globals_``
    (``mean`` or ``sample``) overrides the run's ``model.predict_globals``. ``references`` are
    :class:`~gpo_vae.evaluation.grn_reference.ReferenceSpec` entries.
    """
    from gpo_vae.evaluation import grn_reference, grn_statistical, grn_truth, plots
    from gpo_vae.evaluation.likelihood import split_iwelbo
    from gpo_vae.evaluation.predict import model_ates, sample_cells
    from gpo_vae.models.grn import learned_grn
    from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint
    from gpo_vae.training.run_folder import check_split

    s = (settings or EvaluationSettings()).validate()
    start = time.perf_counter()
    run = Path(run)
    checkpoint = resolve_checkpoint(run)
    run_dir = _run_dir_of(checkpoint, run)
    # the test evaluation goes into the run folder, any other split into its own folder
    out = Path(out_dir) if out_dir is not None else \
        run_dir if s.split == "test" else run_dir / f"eval_{s.split}"
    require_writable_folder(out, "the evaluation folder")
    # load references first: a bad reference file fails before minutes of work
    networks = [grn_reference.load_reference_network(spec) for spec in references]
    module = load_trained(checkpoint)
    log(f"evaluating {checkpoint} on the {s.split} split")
    adata = _prepared_for(module, progress, log)
    check_split(run_dir, adata, "evaluate")
    info = module.data_info
    gene_names = list(info.gene_names)
    control = str(adata.uns["schema"]["control_label"])
    separator = adata.uns["schema"].get("combination_separator") or None
    split = adata.obs["split"].astype(str).to_numpy()
    labels = adata.obs["perturbation"].astype(str).to_numpy()
    in_split, in_train = split == s.split, split == "train"
    if not (in_split & (labels != control)).any() or not (in_split & (labels == control)).any():
        raise InputDataError(f"the {s.split} split needs perturbed and control cells to score "
                             "ATEs; prepare the data with a larger share for it "
                             "(data.split_fractions)")
    expression = perturbseq_transform(adata.X, adata.obs["library_size"].to_numpy())

    # --- ATEs: data (held-out cells only), baselines (training cells only), model
    test = split_ates(expression, labels, split, s.split, control, gene_names)
    names = _scored_perturbations(test, s.min_test_cells)
    if not names:
        raise InputDataError(f"no perturbation has {s.min_test_cells} or more cells in the "
                             f"{s.split} split; use more cells or a larger split share")
    observed = test.rows(names)
    train = split_ates(expression, labels, split, "train", control, gene_names)
    from gpo_vae.data.treatments import targets_of

    linear = baselines.LinearBaseline.fit(
        expression[in_train], train, lambda label: targets_of(label, control, separator),
        n_components=s.linear_components, ridge=s.linear_ridge, seed=s.seed)
    log(f"  sampling {s.n_samples:,} cells per perturbation for model ATEs")
    model_ate, model_se = model_ates(
        module, condition_dosages(adata, labels, names), names, n_samples=s.n_samples,
        n_global=s.n_global, seed=s.seed, progress=progress, globals_=globals_)
    predictions = {
        "model": model_ate,
        "baseline_pert_mean": baselines.pert_mean_baseline(train, names),
        "baseline_global_mean": baselines.global_mean_baseline(train, names),
        "baseline_linear": linear.predict(names),
    }
    scores = {m: score_ates(p, observed) for m, p in predictions.items()}
    scores["ceiling_split_half"] = baselines.split_half_ceiling(
        expression[in_split], labels[in_split], control, gene_names, names,
        n_repeats=s.ceiling_repeats, seed=s.seed)
    scores["ceiling_noise_free"] = baselines.noise_free_pearson(scores["ceiling_split_half"])
    ate = {m: {**aggregate_scores(v), "n_scored": int(v.dropna(how="all").shape[0])}
           for m, v in scores.items()}
    seen = pd.Series(train.n_cells.reindex(names).fillna(0).astype(int).to_numpy(), index=names)

    # data ATE standard error on the held-out cells, for the size of the MC error
    test_cells = test.n_cells.reindex(names).to_numpy()
    data_se = float(np.sqrt(observed.var(axis=1).mean() / max(np.median(test_cells), 1)))

    log(f"  test-set IWELBO ({s.iwelbo_particles} particles)")
    iwelbo = split_iwelbo(module, adata, s.split, n_particles=s.iwelbo_particles,
                          seed=s.seed, progress=progress)

    # --- GRN
    grn = learned_grn(module)
    all_genes = grn.genes["name"].tolist()
    probabilities = pd.DataFrame(grn.probabilities, index=all_genes, columns=all_genes)
    perturbed = grn.genes.loc[grn.genes["kind"] == "perturbed", "name"].tolist()
    block = probabilities.loc[perturbed, perturbed]
    log("  statistical GRN test on held-out cells")
    statistical = grn_statistical.statistical_grn_report(
        block, expression[in_split], gene_names, labels[in_split], control,
        threshold=s.grn_threshold, ks=s.grn_top_k, seed=s.seed)
    predicted_edges = grn_statistical.threshold_edges(probabilities, s.grn_threshold)
    reference = {net.name: grn_reference.reference_metrics(predicted_edges, all_genes, net)
                 for net in networks}
    truth_metrics, pr_curves = None, {}
    truth = grn_truth.truth_block(adata.uns, perturbed)
    if truth is not None:
        corr = grn_truth.correlation_scores(expression[in_train], gene_names, perturbed)
        shift = grn_truth.mean_shift_scores(expression[in_train], gene_names,
                                            labels[in_train], control, perturbed)
        truth_metrics = grn_truth.truth_metrics(block, truth)
        for key, scores_ in (("correlation", corr), ("mean_shift", shift)):
            baseline = grn_truth.truth_metrics(scores_, truth)
            truth_metrics[f"baseline_{key}_auprc"] = baseline["auprc"]
            truth_metrics[f"baseline_{key}_auroc"] = baseline["auroc"]
            truth_metrics[f"baseline_{key}_precision_at_k"] = baseline["precision_at_k"]
        if truth_metrics["auprc"] is not None:
            for label, scores_ in (("GPO-VAE q(M)", block), ("|correlation| (train)", corr),
                                   ("mean shift (train)", shift)):
                precision, recall = grn_truth.pr_curve(scores_, truth)
                pr_curves[label] = (precision, recall,
                                    grn_truth.truth_metrics(scores_, truth)["auprc"])

    metrics = {
        "run": str(run_dir), "checkpoint": str(checkpoint),
        "predict_globals": globals_ or module.config.model.predict_globals,
        "split": s.split, "split_kind": str(adata.uns["schema"].get("split", "")),
        "n_test_cells": int(in_split.sum()),
        "n_perturbations_scored": len(names),
        "n_perturbations_skipped": int(len(test.n_cells) - len(names)),
        "n_seen_perturbations": int((seen > 0).sum()),
        "n_unseen_perturbations": int((seen == 0).sum()),
        "ate": ate,
        "ate_monte_carlo": {
            "n_samples": s.n_samples, "n_global_draws": s.n_global,
            "standard_error_mean": float(model_se.to_numpy().mean()),
            "standard_error_max": float(model_se.to_numpy().max()),
            "data_standard_error_mean": data_se,
            # MC error relative to the spread of the model's ATEs: near 0 = stable
            "relative_to_model_ate_spread": float(model_se.to_numpy().mean()
                                                  / max(model_ate.to_numpy().std(), 1e-12)),
        },
        f"iwelbo_{s.split}": iwelbo["iwelbo"],
        f"iwelbo_{s.split}_standard_error": iwelbo["standard_error"],
        "iwelbo_particles": s.iwelbo_particles,
        "grn": {"n_perturbed_genes": len(perturbed), "n_treatment_genes": len(all_genes),
                "statistical": statistical, "reference": reference,
                **({"truth": truth_metrics} if truth_metrics else {})},
    }
    metrics["verdicts"] = _verdicts(ate, truth_metrics)
    relative = metrics["ate_monte_carlo"]["relative_to_model_ate_spread"]
    if relative > 0.2:
        metrics["verdicts"].append(
            f"the model's ATEs carry a Monte Carlo error of {relative:.0%} of their spread "
            "(the model predicts small effects); raise --n-samples for a steadier estimate")
    metrics["settings"] = {k: v if not isinstance(v, tuple) else list(v)
                           for k, v in vars(s).items()}

    # --- per-perturbation table (long format: one row per perturbation and method)
    frames = []
    for method, table in scores.items():
        frame = table.copy()
        frame.insert(0, "method", method)
        frames.append(frame)
    per_pert = pd.concat(frames).rename_axis("perturbation").reset_index()
    per_pert.insert(1, "n_test_cells", per_pert["perturbation"].map(test.n_cells).astype(int))
    per_pert.insert(2, "n_train_cells", per_pert["perturbation"].map(seen).astype(int))
    per_pert.insert(3, "seen_in_training", per_pert["n_train_cells"] > 0)
    mc = model_se.mean(axis=1)
    per_pert["model_mc_standard_error"] = np.where(
        per_pert["method"] == "model", per_pert["perturbation"].map(mc), np.nan)

    # --- predicted and observed cells for other tools (cell-eval)
    log("  sampling predicted cells for predictions.h5ad")
    pert_cells = in_split & (labels != control)
    control_cells = in_split & (labels == control)
    rows = np.concatenate([np.flatnonzero(pert_cells), np.flatnonzero(control_cells)])
    target = np.where(labels[rows] == control, DEFAULT_CONTROL_LABEL, labels[rows])
    sampled = sample_cells(module, adata.obsm["dosages"][rows].toarray(), seed=s.seed,
                           progress=progress, globals_=globals_)
    # everything is written into a staging folder and moved into place at the end
    # (metrics.json last), so a killed evaluation leaves no half-filled results
    with staged_folder(out, last=("metrics.json",)) as staging:
        files = {}
        files["predictions"] = write_h5ad_atomic(
            _cells_h5ad(sampled, target, gene_names, "gpo_vae"), staging / "predictions.h5ad")
        files["observed"] = write_h5ad_atomic(
            _cells_h5ad(adata.X[rows], target, gene_names, "observed"),
            staging / f"observed_{s.split}.h5ad")

        plot_dir = staging / "plots"
        by_cells = test.n_cells.reindex(names).sort_values(ascending=False, kind="stable")
        files["ate_scatter"] = plots.plot_ate_scatter(model_ate, observed,
                                                      plot_dir / "ate_scatter.png",
                                                      list(by_cells.index[:4]))
        files["ate_comparison"] = plots.plot_method_comparison(ate,
                                                               plot_dir / "ate_comparison.png")
        files["grn_wasserstein_vs_k"] = plots.plot_wasserstein_vs_k(
            statistical, plot_dir / "grn_wasserstein_vs_k.png")
        if pr_curves:
            files["grn_precision_recall"] = plots.plot_precision_recall(
                pr_curves, truth_metrics["random_auprc"],
                plot_dir / "grn_precision_recall.png")
        metrics["seconds"] = round(time.perf_counter() - start, 1)
        metrics = json_safe(metrics)
        with atomic_path(staging / "per_perturbation.csv") as tmp:
            per_pert.to_csv(tmp, index=False)
        files["per_perturbation"] = staging / "per_perturbation.csv"
        files["metrics"] = write_json_atomic(staging / "metrics.json", metrics)
    files = {k: out / Path(v).relative_to(staging) for k, v in files.items() if v}
    return EvaluationResult(metrics, per_pert, files)
