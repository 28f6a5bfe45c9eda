"""A benchmark's numbers: one row per method x seed x metric (``benchmark.csv``), the
table a paper would print (mean +- sd over seeds, 95% bootstrap interval over
perturbations), and paired comparisons of the reference method with every other one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gpo_vae.benchmarking.runner import CEILINGS
from gpo_vae.evaluation.metrics import ATE_METRICS

#: The metrics of the printed table (``benchmark.csv`` has every registered one).
TABLE_METRICS = ("pearson_all", "pearson_top20", "r2_top20", "pearson_specific_all",
                 "mse_all", "rank", "de_overlap", "de_pr_auc", "de_direction_match")
#: The metrics whose paired comparisons become sentences.
VERDICT_METRICS = ("pearson_top20", "pearson_specific_all", "mse_all", "rank", "de_overlap")


def mean_interval(values, confidence: float = 0.95, n_resamples: int = 2000,
                  seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval (``scipy.stats.bootstrap``) over the finite
    values; NaN where there are fewer than two."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if values.size < 2 or np.ptp(values) == 0:
        return mean, (mean if values.size >= 2 else float("nan")), \
            (mean if values.size >= 2 else float("nan"))
    interval = bootstrap((values,), np.mean, n_resamples=n_resamples,
                         confidence_level=confidence, method="percentile",
                         random_state=np.random.default_rng(seed)).confidence_interval
    return mean, float(interval.low), float(interval.high)


def long_table(results, labels: dict[str, str]) -> pd.DataFrame:
    """``benchmark.csv``: one row per split x method x seed x metric, with the mean over
    perturbations, its 95% bootstrap interval, the status and the error of failed runs;
    the test IWELBO (interval +- 1.96 standard errors over cells) where a method has one."""
    rows = []
    for r in results:
        base = {"split": r.split, "method": r.method, "label": labels.get(r.method, r.method),
                "seed": r.seed, "status": r.status, "error": r.error}
        if r.scores is None:
            rows += [{**base, "metric": m, "value": np.nan, "ci_low": np.nan,
                      "ci_high": np.nan, "n_perturbations": 0} for m in ATE_METRICS]
            continue
        for metric in r.scores.columns:
            values = r.scores[metric].to_numpy(float)
            mean, low, high = mean_interval(values, seed=r.seed)
            rows.append({**base, "metric": metric, "value": mean, "ci_low": low,
                         "ci_high": high, "n_perturbations": int(np.isfinite(values).sum())})
        if "iwelbo_test" in r.extras:
            value, se = r.extras["iwelbo_test"], r.extras.get("iwelbo_test_standard_error", 0)
            rows.append({**base, "metric": "iwelbo_test", "value": value,
                         "ci_low": value - 1.96 * se, "ci_high": value + 1.96 * se,
                         "n_perturbations": np.nan})
    return pd.DataFrame(rows)


def per_perturbation(results) -> pd.DataFrame:
    """Every scored perturbation of every finished job (long format)."""
    frames = []
    for r in results:
        if r.scores is None:
            continue
        frame = r.scores.copy()
        frame.insert(0, "seed", r.seed)
        frame.insert(0, "method", r.method)
        frame.insert(0, "split", r.split)
        frames.append(frame.rename_axis("perturbation").reset_index())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def seed_averaged(scores: pd.DataFrame, method: str, metric: str) -> pd.Series:
    """A method's per-perturbation values averaged over its seeds, indexed by (split,
    perturbation) so methods pair up on the same units."""
    rows = scores[scores["method"] == method]
    return rows.groupby(["split", "perturbation"])[metric].mean()


@dataclass
class MethodSummary:
    """One method on one metric across seeds and splits."""

    mean: float
    sd: float | None                 # over seeds (None: a deterministic method)
    ci_low: float
    ci_high: float
    n_runs: int
    n_failed: int


@dataclass
class BenchmarkSummary:
    """Summaries by method and metric, and the reference method's paired comparisons."""

    methods: list[str]
    labels: dict[str, str]
    by_method: dict[str, dict[str, MethodSummary]]
    comparisons: dict[str, dict[str, dict]] = field(default_factory=dict)
    reference: str | None = None
    iwelbo: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def summarize(results, labels: dict[str, str], trained: set[str],
              reference: str | None) -> BenchmarkSummary:
    """Mean +- sd over seeds of each method's per-seed means, the 95% bootstrap interval
    of its seed-averaged per-perturbation values, and paired comparisons (bootstrap and
    signed-rank, :func:`gpo_vae.evaluation.compare.paired_comparison`) of ``reference``
    with every other method on the same perturbations."""
    from gpo_vae.evaluation.compare import paired_comparison

    scores = per_perturbation(results)
    order = list(dict.fromkeys(r.method for r in results if r.method not in CEILINGS))
    order += list(CEILINGS)
    summary = BenchmarkSummary([], labels, {}, reference=reference)
    for r in results:
        if r.status == "failed":
            summary.failures.append(f"{labels.get(r.method, r.method)} seed {r.seed} "
                                    f"(split {r.split}) failed: {r.error}")
        elif r.status == "skipped":
            summary.skipped.append(f"{labels.get(r.method, r.method)}: {r.error}")
    for method in order:
        runs = [r for r in results if r.method == method and r.status != "skipped"]
        finished = [r for r in runs if r.scores is not None]
        if not finished:
            continue
        if all(r.scores.isna().all().all() for r in finished):
            summary.skipped.append(f"{labels.get(method, method)}: predicts none of the "
                                   "scored perturbations (unseen in training?)")
            continue
        summary.methods.append(method)
        summary.by_method[method] = {}
        for metric in ATE_METRICS:
            per_run = [float(r.scores[metric].mean()) for r in finished
                       if r.scores[metric].notna().any()]
            if not per_run:
                continue
            _, low, high = mean_interval(seed_averaged(scores, method, metric).to_numpy())
            sd = float(np.std(per_run, ddof=1)) if method in trained and len(per_run) > 1 \
                else None
            summary.by_method[method][metric] = MethodSummary(
                float(np.mean(per_run)), sd, low, high, len(finished),
                len(runs) - len(finished))
        values = [r.extras["iwelbo_test"] for r in finished if "iwelbo_test" in r.extras]
        if values:
            summary.iwelbo[method] = (float(np.mean(values)), float(np.std(values, ddof=1))
                                      if len(values) > 1 else None)
    if reference in summary.by_method:
        for other in summary.methods:
            if other == reference or other in CEILINGS:
                continue
            summary.comparisons[other] = {}
            for metric in ATE_METRICS:
                a = seed_averaged(scores, reference, metric)
                b = seed_averaged(scores, other, metric).reindex(a.index)
                if a.notna().sum() < 2 or b.notna().sum() < 2:
                    continue
                summary.comparisons[other][metric] = paired_comparison(
                    a.to_numpy(), b.to_numpy(), metric=metric,
                    names=(labels.get(reference, reference), labels.get(other, other)),
                    best=ATE_METRICS[metric].best).to_dict()
    return summary


def _cell(s: MethodSummary | None) -> str:
    if s is None:
        return "-"
    sd = f" ± {s.sd:.3f}" if s.sd is not None else ""
    interval = f" [{s.ci_low:.3f}, {s.ci_high:.3f}]" if np.isfinite(s.ci_low) else ""
    return f"{s.mean:.3f}{sd}{interval}"


def verdicts(summary: BenchmarkSummary) -> list[str]:
    """The reference method against each other method, in words (only differences
    beyond noise count: interval excludes zero and the signed-rank test agrees)."""
    lines = []
    for by_metric in summary.comparisons.values():
        for metric in VERDICT_METRICS:
            if metric in by_metric:
                lines.append(by_metric[metric]["verdict"])
    return lines


def markdown(summary: BenchmarkSummary, header: list[str], commands: list[str]) -> str:
    """``benchmark.md``: the table, the verdicts, failures and the commands."""
    metrics = [m for m in TABLE_METRICS
               if any(m in summary.by_method[x] for x in summary.methods)]
    arrows = {m: "↑" if ATE_METRICS[m].best == "higher" else "↓" for m in metrics}
    lines = [*header, "",
             "Each cell: mean over seeds ± sd over seeds (model-free methods are "
             "deterministic: no sd) [95% bootstrap interval over perturbations of the "
             "seed-averaged values]. ↑ higher is better, ↓ lower is better.", "",
             "| method | runs | " + " | ".join(f"{m} {arrows[m]}" for m in metrics)
             + " | test IWELBO |",
             "|---|---|" + "---|" * len(metrics) + "---|"]
    for method in summary.methods:
        values = summary.by_method[method]
        first = next(iter(values.values()))
        runs = f"{first.n_runs}" + (f" ({first.n_failed} failed)" if first.n_failed else "")
        iw = summary.iwelbo.get(method)
        iw_text = "-" if iw is None else f"{iw[0]:.1f}" + (f" ± {iw[1]:.1f}" if iw[1] else "")
        lines.append(f"| {summary.labels.get(method, method)} | {runs} | "
                     + " | ".join(_cell(values.get(m)) for m in metrics) + f" | {iw_text} |")
    said = verdicts(summary)
    if said:
        lines += ["", f"Paired comparisons of {summary.labels.get(summary.reference)} with "
                  "each method over the same perturbations (seed-averaged; bootstrap "
                  "interval of the mean difference and Wilcoxon signed-rank p):", ""]
        lines += [f"- {v}" for v in said]
    if summary.failures or summary.skipped:
        lines += ["", "Not scored:", ""] + [f"- {f}" for f in summary.failures + summary.skipped]
    lines += ["", "Commands that reproduce these numbers:", "", "```"] + commands + ["```"]
    return "\n".join(lines) + "\n"


def to_dict(summary: BenchmarkSummary) -> dict:
    """The summary as plain data (``benchmark.json``)."""
    return {"methods": summary.methods, "labels": summary.labels,
            "reference": summary.reference,
            "by_method": {m: {k: vars(v) for k, v in d.items()}
                          for m, d in summary.by_method.items()},
            "iwelbo_test": summary.iwelbo, "comparisons": summary.comparisons,
            "verdicts": verdicts(summary), "failures": summary.failures,
            "skipped": summary.skipped}
