"""Score a trained model on held-out cells, in typed steps: ATEs beside the baselines and
the split-half ceiling, the held-out IWELBO, and the GRN (statistical test, reference
networks, simulated truth). Nothing here writes files (:mod:`gpo_vae.evaluation.report`
does).

Honest by construction: data ATEs come from the cells of the evaluated split only; the
baselines are fitted on training cells only; the statistical GRN test uses the evaluated
split's cells; the GRN truth baselines use training cells.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gpo_vae.constants import (
    OBS_LIBRARY_SIZE,
    OBS_PERTURBATION,
    OBS_SPLIT,
    OBSM_DOSAGES,
    UNS_SCHEMA,
    VAR_GENE_SYMBOL,
)
from gpo_vae.errors import InputDataError
from gpo_vae.evaluation import baselines
from gpo_vae.evaluation.ate import AteTable, ate_from_cells, perturbseq_transform
from gpo_vae.evaluation.metrics import ATE_METRICS, aggregate_scores, score_ates
from gpo_vae.evaluation.settings import EvaluationSettings

logger = logging.getLogger(__name__)

METHODS = ("model", "baseline_pert_mean", "baseline_additive", "baseline_additive_fit",
           "baseline_global_mean", "baseline_linear", "ceiling_split_half",
           "ceiling_noise_free")
#: The baselines the model is compared with, paired over perturbations.
COMPARED_BASELINES = ("baseline_pert_mean", "baseline_additive", "baseline_additive_fit",
                      "baseline_global_mean", "baseline_linear")


@dataclass
class SplitCells:
    """The cells an evaluation reads: expression on the "perturbseq" scale and labels."""

    expression: object          # cells x genes (sparse or dense)
    labels: np.ndarray
    split: np.ndarray
    name: str                   # the evaluated split
    control: str
    separator: str | None
    gene_names: list[str]

    @classmethod
    def from_prepared(cls, adata, split: str) -> SplitCells:
        schema = adata.uns[UNS_SCHEMA]
        cells = cls(perturbseq_transform(adata.X, adata.obs[OBS_LIBRARY_SIZE].to_numpy()),
                    adata.obs[OBS_PERTURBATION].astype(str).to_numpy(),
                    adata.obs[OBS_SPLIT].astype(str).to_numpy(), split,
                    str(schema["control_label"]), schema.get("combination_separator") or None,
                    adata.var[VAR_GENE_SYMBOL].astype(str).tolist())
        is_control = cells.labels == cells.control
        if not (cells.in_split & ~is_control).any() or not (cells.in_split & is_control).any():
            raise InputDataError(f"the {split} split needs perturbed and control cells to score "
                                 "ATEs; prepare the data with a larger share for it "
                                 "(data.split_fractions)")
        return cells

    @property
    def in_split(self) -> np.ndarray:
        return self.split == self.name

    @property
    def in_train(self) -> np.ndarray:
        return self.split == "train"

    def ates(self, split: str) -> AteTable:
        """Data ATEs from the cells of ``split`` only."""
        return split_ates(self.expression, self.labels, self.split, split, self.control,
                          self.gene_names)

    def de_genes(self, perturbations: Sequence[str]) -> pd.DataFrame:
        """The data's DE genes of ``perturbations`` (perturbations x genes, bool), from
        the evaluated split's cells only."""
        from gpo_vae.evaluation.de import de_genes

        cells = self.in_split
        return de_genes(self.expression[cells], self.labels[cells], self.control,
                        self.gene_names, perturbations)


def split_ates(expression, labels: np.ndarray, split: np.ndarray, name: str,
               control_label: str, gene_names: Sequence[str]) -> AteTable:
    """Data ATEs from the cells of split ``name`` only (test ATEs never see a training
    cell, training ATEs never see a test cell)."""
    cells = np.asarray(split) == name
    return ate_from_cells(expression[cells], np.asarray(labels)[cells], control_label,
                          gene_names)


def condition_dosages(adata, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """One dosage row per perturbation label (the row of its first cell)."""
    first = pd.Series(np.arange(labels.size)).groupby(labels).first()
    rows = first.reindex(list(names)).to_numpy()
    return adata.obsm[OBSM_DOSAGES][rows].toarray()


@dataclass
class AteEvaluation:
    """ATE scores of the model, the baselines and the ceilings on one split."""

    names: list[str]                        # the scored perturbations
    observed: pd.DataFrame                  # data ATEs (perturbations x genes)
    model_ate: pd.DataFrame
    model_standard_error: pd.DataFrame      # Monte Carlo error of the model's ATEs
    scores: dict[str, pd.DataFrame]         # method -> per-perturbation metrics
    summary: dict[str, dict]                # method -> mean of each metric, n_scored
    split_cells: pd.Series                  # cells per perturbation in the split
    train_cells: pd.Series                  # training cells per scored perturbation
    data_standard_error: float
    settings: EvaluationSettings

    def monte_carlo(self) -> dict:
        se = self.model_standard_error.to_numpy()
        return {
            "n_samples": self.settings.n_samples, "n_global_draws": self.settings.n_global,
            "standard_error_mean": float(se.mean()), "standard_error_max": float(se.max()),
            "data_standard_error_mean": self.data_standard_error,
            # MC error relative to the spread of the model's ATEs: near 0 = stable
            "relative_to_model_ate_spread": float(se.mean()
                                                  / max(self.model_ate.to_numpy().std(), 1e-12)),
        }

    def comparisons(self) -> dict[str, dict[str, dict]]:
        """The model against each baseline on each headline metric, paired over the
        scored perturbations (:func:`gpo_vae.evaluation.compare.paired_comparison`):
        ``{baseline: {metric: {...}}}``."""
        from gpo_vae.evaluation.compare import paired_comparison

        out: dict[str, dict[str, dict]] = {}
        model = self.scores["model"]
        for baseline in COMPARED_BASELINES:
            if baseline not in self.scores:
                continue
            out[baseline] = {
                m.name: paired_comparison(
                    model[m.name].to_numpy(), self.scores[baseline][m.name].to_numpy(),
                    metric=m.name, names=("model", baseline), best=m.best,
                    seed=self.settings.seed).to_dict()
                for m in ATE_METRICS.values() if m.headline}
        return out

    def per_perturbation(self) -> pd.DataFrame:
        """One row per perturbation and method (long format, ``per_perturbation.csv``)."""
        frames = []
        for method, table in self.scores.items():
            frame = table.copy()
            frame.insert(0, "method", method)
            frames.append(frame)
        out = pd.concat(frames).rename_axis("perturbation").reset_index()
        out.insert(1, "n_test_cells", out["perturbation"].map(self.split_cells).astype(int))
        out.insert(2, "n_train_cells", out["perturbation"].map(self.train_cells).astype(int))
        out.insert(3, "seen_in_training", out["n_train_cells"] > 0)
        mc = self.model_standard_error.mean(axis=1)
        out["model_mc_standard_error"] = np.where(out["method"] == "model",
                                                  out["perturbation"].map(mc), np.nan)
        return out


def evaluate_ates(module, adata, cells: SplitCells, settings: EvaluationSettings, *,
                  globals_: str | None = None) -> AteEvaluation:
    """The model's ATEs (sampled) and the baselines' (fitted on training cells) against the
    data ATEs of ``cells.name``, with the split-half ceiling of those cells."""
    from gpo_vae.data.treatments import targets_of
    from gpo_vae.evaluation.predict import model_ates

    s = settings
    held_out = cells.ates(cells.name)
    names = [p for p, n in held_out.n_cells.items() if n >= s.min_test_cells]
    if not names:
        raise InputDataError(f"no perturbation has {s.min_test_cells} or more cells in the "
                             f"{cells.name} split; use more cells or a larger split share")
    observed = held_out.rows(names)
    train = cells.ates("train")
    linear = baselines.LinearBaseline.fit(
        cells.expression[cells.in_train], train,
        lambda label: targets_of(label, cells.control, cells.separator),
        n_components=s.linear_components, ridge=s.linear_ridge, seed=s.seed)
    logger.info(f"  sampling {s.n_samples:,} cells per perturbation for model ATEs")
    model_ate, model_se = model_ates(
        module, condition_dosages(adata, cells.labels, names), names, n_samples=s.n_samples,
        n_global=s.n_global, seed=s.seed, globals_=globals_, decoding=s.ate_decoding)
    predictions = {
        "model": model_ate,
        "baseline_pert_mean": baselines.pert_mean_baseline(train, names),
        "baseline_global_mean": baselines.global_mean_baseline(train, names),
        "baseline_linear": linear.predict(names),
    }
    if cells.separator and any(cells.separator in n for n in names):
        # combinations scored: the sum of their singles' training ATEs
        predictions["baseline_additive"] = baselines.additive_baseline(train, names,
                                                                       cells.separator)
        predictions["baseline_additive_fit"] = baselines.additive_fit_baseline(
            train, names, cells.separator)
    de = cells.de_genes(names)
    scores = {m: score_ates(p, observed, de=de) for m, p in predictions.items()}
    in_split = cells.in_split
    scores["ceiling_split_half"] = baselines.split_half_ceiling(
        cells.expression[in_split], cells.labels[in_split], cells.control, cells.gene_names,
        names, n_repeats=s.ceiling_repeats, seed=s.seed, de=de)
    scores["ceiling_noise_free"] = baselines.noise_free_pearson(scores["ceiling_split_half"])
    summary = {m: {**aggregate_scores(v), "n_scored": int(v.dropna(how="all").shape[0])}
               for m, v in scores.items()}
    seen = pd.Series(train.n_cells.reindex(names).fillna(0).astype(int).to_numpy(), index=names)
    # data ATE standard error on the held-out cells, for the size of the MC error
    n_held_out = held_out.n_cells.reindex(names).to_numpy()
    data_se = float(np.sqrt(observed.var(axis=1).mean() / max(np.median(n_held_out), 1)))
    return AteEvaluation(names, observed, model_ate, model_se, scores, summary,
                         held_out.n_cells, seen, data_se, s)


@dataclass
class GrnEvaluation:
    """The learned GRN scored by a statistical test on held-out cells, against reference
    networks and (simulated data) against the true network beside simple baselines."""

    n_perturbed_genes: int
    n_treatment_genes: int
    statistical: dict
    reference: dict
    truth: dict | None = None
    pr_curves: dict = field(default_factory=dict)   # label -> (precision, recall, auprc)

    def to_dict(self) -> dict:
        return {"n_perturbed_genes": self.n_perturbed_genes,
                "n_treatment_genes": self.n_treatment_genes, "statistical": self.statistical,
                "reference": self.reference, **({"truth": self.truth} if self.truth else {})}


GRN_BASELINES = {
    "correlation": "|correlation| (train)",
    "mean_shift": "mean shift (train)",
    "direct_shift": "direct shift (train)",
    "interventional_regression": "interventional lasso (train)",
}


def evaluate_grn(module, adata, cells: SplitCells, settings: EvaluationSettings,
                 networks: Sequence = ()) -> GrnEvaluation:
    """Score q(M) of ``module``; ``networks`` are loaded reference networks.

    The model-free GRN baselines (:data:`GRN_BASELINES`) come from training cells only;
    the mean and direct shifts' top-K edges are also put through the statistical test on
    held-out cells, so q(M) is compared with them at matched K on any data.
    """
    from gpo_vae.evaluation import grn_reference, grn_statistical, grn_truth
    from gpo_vae.models.grn import learned_grn
    from gpo_vae.stats import grn as grn_baselines

    s = settings
    grn = learned_grn(module)
    all_genes = grn.genes["name"].tolist()
    probabilities = pd.DataFrame(grn.probabilities, index=all_genes, columns=all_genes)
    perturbed = grn.genes.loc[grn.genes["kind"] == "perturbed", "name"].tolist()
    block = probabilities.loc[perturbed, perturbed]
    in_split, in_train = cells.in_split, cells.in_train
    train = (cells.expression[in_train], cells.gene_names, cells.labels[in_train])
    signed, direct = grn_baselines.direct_shifts_from_cells(*train, cells.control, perturbed)
    shift = signed.abs()
    logger.info("  statistical GRN test on held-out cells")
    held_out = (cells.expression[in_split], cells.gene_names, cells.labels[in_split],
                cells.control)
    statistical = grn_statistical.statistical_grn_report(
        block, *held_out, threshold=s.grn_threshold, ks=s.grn_top_k, seed=s.seed)
    statistical["baselines"] = {
        key: grn_statistical.statistical_grn_report(
            scores, *held_out, threshold=None, ks=s.grn_top_k, seed=s.seed)["top_k"]
        for key, scores in (("mean_shift", shift), ("direct_shift", direct))}
    predicted_edges = grn_statistical.threshold_edges(probabilities, s.grn_threshold)
    reference = {net.name: grn_reference.reference_metrics(predicted_edges, all_genes, net)
                 for net in networks}
    result = GrnEvaluation(len(perturbed), len(all_genes), statistical, reference)
    truth = grn_truth.truth_block(adata.uns, perturbed)
    if truth is None:
        return result
    baselines_ = {
        "correlation": grn_baselines.correlation_scores(*train[:2], perturbed),
        "mean_shift": shift, "direct_shift": direct,
        "interventional_regression": grn_baselines.interventional_regression_scores(
            *train, perturbed)}
    # direct edges (the keys without a prefix) and, separately, reachability
    metrics = grn_truth.against_baselines(block, truth, baselines_, seed=s.seed)
    result.truth = metrics
    if metrics["auprc"] is not None:
        for label, scores in (("GPO-VAE q(M)", block),
                              *((GRN_BASELINES[k], v) for k, v in baselines_.items())):
            precision, recall = grn_truth.pr_curve(scores, truth)
            result.pr_curves[label] = (precision, recall,
                                       grn_truth.truth_metrics(scores, truth)["auprc"])
    return result


def verdicts(ate: dict, truth: dict | None, statistical: dict | None = None,
             comparisons: dict | None = None) -> list[str]:
    """Plain sentences saying where the model loses to (or beats) a baseline, on each
    headline metric of the registry (its ``best`` says which way is better). With
    ``comparisons`` (:meth:`AteEvaluation.comparisons`) a difference counts only when its
    paired bootstrap interval over perturbations excludes zero and the signed-rank test
    agrees; otherwise the sentence says it is no result."""
    lines = []
    model = ate["model"]
    headline = [m for m in ATE_METRICS.values() if m.headline]
    for baseline in COMPARED_BASELINES:
        for metric in headline:
            m, b = model.get(metric.name), ate.get(baseline, {}).get(metric.name)
            if m is None or b is None:
                continue
            paired = ((comparisons or {}).get(baseline) or {}).get(metric.name)
            if paired and paired.get("n", 0) >= 2:
                if paired["verdict"].startswith("no difference"):
                    word = "ties (no difference beyond noise)"
                else:
                    word = "beats" if " beats " in paired["verdict"] else "LOSES TO"
                lines.append(f"model {word} {baseline} on {metric.name} ({m:.3f} vs {b:.3f}; "
                             f"paired difference {paired['mean_difference']:+.3f}, 95% "
                             f"interval [{paired['ci_low']:+.3f}, {paired['ci_high']:+.3f}], "
                             f"p = {paired['p_value']:.2g})")
                continue
            word = _unpaired_word(m, b, metric.better(m, b))
            lines.append(f"model {word} {baseline} on {metric.name} ({m:.3f} vs {b:.3f}"
                         f"{UNPAIRED})")
    if truth and truth.get("auprc") is not None:
        lines += _truth_lines(truth)
    for key, top in ((statistical or {}).get("baselines") or {}).items():
        for k, entry in top.items():
            m = statistical["top_k"].get(k, {}).get("precision")
            b = entry.get("precision")
            if m is None or b is None or k != "50":
                continue
            lines.append(f"q(M) {_unpaired_word(m, b, m > b)} the "
                         f"{key.replace('_', ' ')} GRN baseline on held-out statistical "
                         f"precision of the top {k} edges ({m:.3f} vs {b:.3f}{UNPAIRED})")
    return lines


def _truth_lines(truth: dict) -> list[str]:
    """The GRN against each model-free baseline on the true network: AUPRC with its
    paired bootstrap verdict over regulators, precision at K as two single values."""
    lines = []
    for key in GRN_BASELINES:
        baseline = f"the {key.replace('_', ' ')} GRN baseline"
        for name, label in (("auprc", "AUPRC"),
                            ("precision_at_k", f"precision at K={truth['k']}")):
            m, b = truth.get(name), truth.get(f"baseline_{key}_{name}")
            if m is None or b is None:
                continue
            paired = truth.get(f"paired_{key}_{name}")
            if paired:
                word = {"ties": "ties (no difference beyond noise)"}.get(paired["verdict"],
                                                                         paired["verdict"])
                lines.append(f"q(M) {word} {baseline} on {label} ({m:.3f} vs {b:.3f}; "
                             f"paired difference {paired['mean_difference']:+.3f}, 95% "
                             f"interval [{paired['ci_low']:+.3f}, {paired['ci_high']:+.3f}], "
                             f"p = {paired['p_value']:.2g}, bootstrap over the "
                             f"{paired['n']} regulators)")
                continue
            lines.append(f"q(M) {_unpaired_word(m, b, m > b)} {baseline} on {label} "
                         f"({m:.3f} vs {b:.3f}{UNPAIRED})")
    return lines


#: What a comparison of two single values says about itself: no interval, so no verdict.
UNPAIRED = "; one value each, no interval: compare over seeds"


def _unpaired_word(model: float, baseline: float, better: bool) -> str:
    """``ties`` / ``is above`` / ``is below``: two single values, not a paired verdict (a
    gap that does not show at three decimals is no difference either way)."""
    if abs(model - baseline) < 0.0005:
        return "ties"
    return "is above" if better else "is below"
