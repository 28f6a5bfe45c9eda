"""The end of a sweep: ``sweep_results.csv``, a plot of the metric against each parameter,
and the best trial beside the baselines on the test split.

Trials are compared on the validation split only; the chosen trial is then scored once on
the test split, next to the per-perturbation mean, the linear baseline and the
split-half ceiling, and the report says where the model loses.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from gpo_vae.figures import subplots
from gpo_vae.io import atomic_path, save_figure_atomic, write_json_atomic

RESULTS_CSV = "sweep_results.csv"
RESULTS_PLOT = "sweep_results.png"
BEST_JSON = "best_trial.json"
COMPARED = ("model", "baseline_pert_mean", "baseline_global_mean", "baseline_linear",
            "ceiling_split_half")


def _value(record: dict, metric: str) -> float:
    value = record.get("metrics", {}).get(metric)
    return float("nan") if value is None else float(value)


def best_record(records: list[dict], metric: str, maximize: bool) -> dict | None:
    """The finished trial with the best validation ``metric`` (None if none has it)."""
    scored = [r for r in records if r.get("status") == "ok" and math.isfinite(_value(r, metric))]
    if not scored:
        return None
    return (max if maximize else min)(scored, key=lambda r: _value(r, metric))


def results_table(records: list[dict], metric: str, maximize: bool) -> pd.DataFrame:
    """One row per trial, best first: id, status, parameters, the metric, then the rest."""
    params = list(dict.fromkeys(k for r in records for k in r["params"]))
    rows = []
    for r in records:
        row = {"trial_id": r["trial_id"], "status": r["status"]}
        row.update({k: r["params"].get(k) for k in params})
        row[metric] = _value(r, metric)
        row.update({k: v for k, v in sorted(r.get("metrics", {}).items()) if k != metric})
        row.update({"seconds": r.get("seconds"), "error": r.get("error"),
                    "run_dir": r["run_dir"]})
        rows.append(row)
    table = pd.DataFrame(rows, columns=None if rows else
                         ["trial_id", "status", metric, "seconds", "error", "run_dir"])
    table = table.sort_values(metric, ascending=not maximize, na_position="last",
                              kind="stable").reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def _format_params(params: dict) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _test_lines(test_metrics: dict, metric: str) -> list[str]:
    """The chosen trial's test numbers beside the baselines and the ceiling."""
    ate = test_metrics.get("ate", {})
    name = metric.split(".")[-1] if metric.startswith("ate.") else "pearson_top20"
    cells = [f"{method} {ate[method][name]:.3f}" for method in COMPARED
             if ate.get(method, {}).get(name) is not None]
    lines = [f"  test split, {name}: " + ", ".join(cells)]
    lines += [f"  {verdict}" for verdict in test_metrics.get("verdicts", [])]
    return lines


def plot_sweep(table: pd.DataFrame, params: list[str], metric: str, path: Path,
               reference: dict[str, float]) -> Path:
    """The validation metric against each parameter, with baselines as lines."""
    ok = table[table["status"] == "ok"]
    fig, axes = subplots(1, len(params), figsize=(3.6 * len(params), 3.2), squeeze=False,
                         sharey=True)
    for ax, param in zip(axes[0], params, strict=True):
        values = ok[param]
        numeric = pd.api.types.is_numeric_dtype(values)
        if numeric:
            x = values.astype(float)
        else:
            levels = sorted(values.astype(str).unique())
            x = values.astype(str).map({v: i for i, v in enumerate(levels)})
            ax.set_xticks(range(len(levels)), levels, rotation=30)
        ax.scatter(x, ok[metric], color="tab:red", label="trials (GPO-VAE)", zorder=3)
        if numeric and x.min() > 0 and x.max() / x.min() >= 20:
            ax.set_xscale("log")
        for (label, value), color in zip(reference.items(), ("tab:blue", "tab:green", "black"),
                                          strict=False):
            ax.axhline(value, color=color, linestyle="--", linewidth=1, label=label)
        ax.set_xlabel(param)
    axes[0][0].set_ylabel(f"{metric} (validation)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure_atomic(fig, path, dpi=120)
    return path


def _reference_lines(records: list[dict], metric: str) -> dict[str, float]:
    """Validation values of the baselines for an ATE metric (same data for every trial)."""
    if not metric.startswith("ate.model."):
        return {}
    name = metric.split(".")[-1]
    out = {}
    for method, label in (("baseline_pert_mean", "per-perturbation mean"),
                          ("baseline_linear", "linear baseline"),
                          ("ceiling_split_half", "split-half ceiling")):
        values = [_value(r, f"ate.{method}.{name}") for r in records if r["status"] == "ok"]
        values = [v for v in values if math.isfinite(v)]
        if values:
            out[label] = sum(values) / len(values)
    return out


def write_sweep_report(records: list[dict], sweep: dict, test: dict | None,
                       echo=print) -> dict:
    """Write the table, the plot and ``best_trial.json``; print a summary and the best
    trial. Returns the summary (what ``gpo-vae sweep`` reports)."""
    out = Path(sweep["output_dir"])
    metric, maximize = sweep["metric_name"], sweep["maximize"]
    table = results_table(records, metric, maximize)
    csv_path = out / RESULTS_CSV
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    params = list(dict.fromkeys(k for r in records for k in r["params"]))
    n_ok = int((table["status"] == "ok").sum())
    if n_ok and params:
        plot_sweep(table, params, metric, out / RESULTS_PLOT, _reference_lines(records, metric))

    goal = "higher" if maximize else "lower"
    echo(f"sweep {sweep['name']}: {len(records)} trials ({n_ok} ok, {len(records) - n_ok} "
         f"failed), compared on {metric} on the validation split ({goal} is better)")
    shown = table.head(10)
    echo(shown[["rank", "trial_id", "status", *params, metric]]
         .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(table) > 10:
        echo(f"  ... {len(table) - 10} more in {csv_path}")
    best = best_record(records, metric, maximize)
    summary = {"name": sweep["name"], "metric": metric, "goal": sweep["metric_goal"],
               "n_trials": len(records), "n_ok": n_ok, "results_csv": str(csv_path),
               "best": None}
    if best is None:
        missing = n_ok > 0
        echo(f"no best trial: {'no trial reported ' + metric if missing else 'every trial failed'}"
             f"; see the error column of {csv_path}")
    else:
        summary["best"] = {"trial_id": best["trial_id"], "params": best["params"],
                           "run_dir": best["run_dir"], "validation": _value(best, metric),
                           "test": (test or {}).get("metrics")}
        echo(f"best trial {best['trial_id']} ({_format_params(best['params'])}): {metric} = "
             f"{_value(best, metric):.4f} on the validation split; run folder {best['run_dir']}")
        if test is not None:
            for line in _test_lines(test["metrics"], metric):
                echo(line)
        write_json_atomic(out / BEST_JSON, summary["best"])
    echo(f"wrote {csv_path}" + (f" and {out / RESULTS_PLOT}" if n_ok and params else ""))
    return summary
