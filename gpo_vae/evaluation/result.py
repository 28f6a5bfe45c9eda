"""The typed result of an evaluation, how its steps assemble into it
(:func:`evaluate_model`), and the table ``gpo-vae evaluate`` prints."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gpo_vae.constants import UNS_SCHEMA
from gpo_vae.evaluation.evaluate import (
    METHODS,
    AteEvaluation,
    GrnEvaluation,
    SplitCells,
    evaluate_ates,
    evaluate_grn,
    verdicts,
)
from gpo_vae.evaluation.metrics import ATE_METRICS
from gpo_vae.evaluation.settings import EvaluationSettings
from gpo_vae.io import json_safe

logger = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """What an evaluation measured (and, from the command line, where it wrote it).

    ``metrics`` is what ``metrics.json`` holds; ``per_perturbation`` one row per
    perturbation and method; ``ate`` and ``grn`` the typed steps behind them.
    """

    metrics: dict
    per_perturbation: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    ate: AteEvaluation | None = None
    grn: GrnEvaluation | None = None

    def to_dict(self) -> dict:
        """The metrics as plain JSON-ready values (``metrics.json``)."""
        return self.metrics

    def table(self) -> str:
        """The short text table: methods x ATE metrics, IWELBO, GRN and verdicts."""
        return format_table(self.metrics)

    @property
    def verdicts(self) -> list[str]:
        return list(self.metrics.get("verdicts", []))

    def summary(self) -> pd.DataFrame:
        """Methods x ATE metrics (means over the scored perturbations)."""
        return pd.DataFrame({m: self.metrics["ate"][m] for m in METHODS
                             if m in self.metrics["ate"]}).T \
            .reindex(columns=[*ATE_METRICS, "n_scored"])

    def plot_methods(self):
        """Every method (model, baselines, ceilings) on every ATE metric, as grouped bars:
        a matplotlib Figure (``plots/ate_comparison.png`` of the report folder)."""
        from gpo_vae.evaluation.plots import method_comparison_figure

        return method_comparison_figure(self.metrics["ate"])

    def plot_grn_precision_recall(self):
        """The GRN's precision-recall curves against the true network, beside the
        baselines': a matplotlib Figure, or None when the data hold no true network."""
        from gpo_vae.evaluation.plots import precision_recall_figure

        if self.grn is None or not self.grn.pr_curves:
            return None
        return precision_recall_figure(self.grn.pr_curves, self.grn.truth["random_auprc"])


def evaluate_model(module, adata, settings: EvaluationSettings | None = None, *,
                   networks: Sequence = (), globals_: str | None = None) -> EvaluationResult:
    """Score a trained :class:`~gpo_vae.models.module.GpoVaeModule` on the
    ``settings.split`` cells of the prepared ``adata`` it was trained on.

    Parameters
    ----------
    module
        The trained module.
    adata
        The prepared AnnData (its ``split`` column decides which cells are held out).
    settings
        Sampling and testing effort, and the split (default test).
    networks
        Loaded reference networks (:func:`gpo_vae.evaluation.grn_reference.load_reference_network`).
    globals_
        ``mean`` or ``sample``: how predictions use the global variables (default: the
        run's ``model.predict_globals``).
    """
    from gpo_vae.evaluation.likelihood import split_iwelbo

    s = (settings or EvaluationSettings()).validate()
    start = time.perf_counter()
    cells = SplitCells.from_prepared(adata, s.split)
    ate = evaluate_ates(module, adata, cells, s, globals_=globals_)
    logger.info(f"  {s.split}-set IWELBO ({s.iwelbo_particles} particles)")
    iwelbo = split_iwelbo(module, adata, s.split, n_particles=s.iwelbo_particles,
                          seed=s.seed)
    # SAMS-VAE's mask is over latent dimensions: no GRN to score
    grn = evaluate_grn(module, adata, cells, s, networks) if module.has_grn else None
    seen = ate.train_cells
    metrics = {
        "predict_globals": globals_ or module.config.model.predict_globals,
        "ate_decoding": s.ate_decoding or getattr(module.config.model, "ate_decoding", None)
        or "sampled",
        "split": s.split, "split_kind": str(adata.uns[UNS_SCHEMA].get("split", "")),
        "n_test_cells": int(cells.in_split.sum()),
        "n_perturbations_scored": len(ate.names),
        "n_perturbations_skipped": int(len(ate.split_cells) - len(ate.names)),
        "n_seen_perturbations": int((seen > 0).sum()),
        "n_unseen_perturbations": int((seen == 0).sum()),
        "ate": ate.summary,
        "ate_monte_carlo": ate.monte_carlo(),
        f"iwelbo_{s.split}": iwelbo["iwelbo"],
        f"iwelbo_{s.split}_standard_error": iwelbo["standard_error"],
        "iwelbo_particles": s.iwelbo_particles,
        "grn": grn.to_dict() if grn is not None else None,
    }
    metrics["ate_comparisons"] = ate.comparisons()
    metrics["verdicts"] = verdicts(ate.summary, grn.truth if grn else None,
                                   grn.statistical if grn else None, metrics["ate_comparisons"])
    relative = metrics["ate_monte_carlo"]["relative_to_model_ate_spread"]
    if relative > 0.2:
        metrics["verdicts"].append(
            f"the model's ATEs carry a Monte Carlo error of {relative:.0%} of their spread "
            "(the model predicts small effects); raise --n-samples for a steadier estimate")
    metrics["settings"] = {k: v if not isinstance(v, tuple) else list(v)
                           for k, v in vars(s).items()}
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    return EvaluationResult(json_safe(metrics), ate.per_perturbation(), ate=ate, grn=grn)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _truth_table(truth: dict | None) -> list[str]:
    """q(M) and the GRN baselines against the simulated truth, at matched edge counts."""
    from gpo_vae.evaluation.evaluate import GRN_BASELINES

    if not truth or truth.get("auprc") is None:
        return []
    ks = list(truth.get("precision_at", {}))
    lines = [f"GRN vs the {truth['n_true_edges']} true direct edges (random AUPRC "
             f"{truth['random_auprc']:.3f}; P@K = precision of the top K edges):",
             f"  {'score':<30}{'AUPRC':>8}{'AUROC':>8}" + "".join(f"{'P@' + k:>8}" for k in ks)
             + f"{'reach.':>8}"]
    reach = truth.get("reachability", {})
    rows = [("GPO-VAE q(M)", "", truth, reach.get("auprc"))] + [
        (label, f"baseline_{key}_", truth, reach.get(f"baseline_{key}_auprc"))
        for key, label in GRN_BASELINES.items() if f"baseline_{key}_auprc" in truth]
    for label, prefix, values, reached in rows:
        at = values.get(f"{prefix}precision_at") or {}
        lines.append(f"  {label:<30}{_fmt(values.get(prefix + 'auprc')):>8}"
                     f"{_fmt(values.get(prefix + 'auroc')):>8}"
                     + "".join(f"{_fmt(at.get(k)):>8}" for k in ks) + f"{_fmt(reached):>8}")
    lines.append(f"  reach. = AUPRC against reachability (paths of any length; random "
                 f"{_fmt(reach.get('random_auprc'))})")
    cal = truth.get("calibration")
    if cal:
        lines.append(f"  q(M) calibration: expected calibration error {cal['ece']:.3f}; "
                     f"{cal['n_at_least_half']} edges at q(M) >= 0.5 with mean probability "
                     f"{_fmt(cal['mean_probability_at_least_half'])} are right "
                     f"{_fmt(cal['precision_at_least_half'])} of the time")
    return lines


def format_table(metrics: dict) -> str:
    """The short table ``gpo-vae evaluate`` prints."""
    cols = list(ATE_METRICS)
    width = {c: max(15, len(c) + 2) for c in cols}
    lines = [f"ATE prediction on {metrics['n_test_cells']:,} {metrics['split']} cells, "
             f"{metrics['n_perturbations_scored']} perturbations (split kind "
             f"{metrics['split_kind']}):",
             f"  {'method':<22}" + "".join(f"{c:>{width[c]}}" for c in cols)]
    for method in [m for m in METHODS if m in metrics["ate"]]:
        values = metrics["ate"][method]
        cells = "".join(f"{_fmt(values.get(c)):>{width[c]}}" for c in cols)
        lines.append(f"  {method:<22}{cells}")
    split = metrics["split"]
    lines.append(f"  {split} IWELBO per cell: {metrics['iwelbo_' + split]:.2f}")
    if not metrics.get("grn"):
        lines.append("GRN: none (this model's mask is over latent dimensions, not genes)")
        lines += [f"  * {v}" for v in metrics["verdicts"]]
        return "\n".join(lines)
    lines += _truth_table(metrics["grn"].get("truth"))
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
    baselines = metrics["grn"]["statistical"].get("baselines") or {}
    top = metrics["grn"]["statistical"]["top_k"]
    for k in [k for k in top if all(k in b for b in baselines.values())][:2]:
        cells = [f"q(M) {_fmt(top[k].get('precision'))}"] + \
            [f"{key.replace('_', ' ')} {_fmt(b[k].get('precision'))}"
             for key, b in baselines.items()]
        lines.append(f"GRN statistical precision of the top {k} edges on these cells: "
                     + ", ".join(cells) + f" (random pairs {_fmt(top[k].get('base_rate'))})")
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
