"""A learning curve: the benchmark repeated with at most N training cells per
perturbation, every point scored on the same held-out test cells.

Where a model should earn its cost over a per-perturbation mean is where that mean is
noisy: few cells per perturbation. The curve shows where an advantage starts and where it
ends (``data.train_cells_per_perturbation``; validation and test cells never change).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gpo_vae.benchmarking.runner import BenchmarkPlan, plan_benchmark
from gpo_vae.errors import ConfigError

logger = logging.getLogger(__name__)

CURVE_METRIC = "pearson_top20"


@dataclass
class LearningCurve:
    """Per number of training cells, each method's summary and the reference's verdicts."""

    table: pd.DataFrame              # cells, method, label, mean, sd, ci_low, ci_high
    verdicts: dict[int, list[str]]
    metric: str
    out: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def markdown(self) -> str:
        """The curve as a table (methods x cells per perturbation) and the verdicts."""
        wide = self.table.assign(cell=[
            f"{m:.3f}" + (f" ± {s:.3f}" if pd.notna(s) else "")
            for m, s in zip(self.table["mean"], self.table["sd"], strict=True)])
        wide = wide.pivot(index="label", columns="cells", values="cell").fillna("-")
        lines = [f"{self.metric} on the same held-out test cells, by training cells per "
                 "perturbation (mean ± sd over seeds)", "",
                 "| method | " + " | ".join(str(c) for c in wide.columns) + " |",
                 "|---|" + "---|" * wide.shape[1]]
        lines += [f"| {label} | " + " | ".join(row) + " |" for label, row in
                  zip(wide.index, wide.to_numpy().tolist(), strict=True)]
        for cells, said in self.verdicts.items():
            lines += ["", f"{cells} cells per perturbation:"] + [f"- {v}" for v in said]
        return "\n".join(lines) + "\n"


def plan_learning_curve(config_path, cells: Sequence[int], *, out=None,
                        overrides: Sequence[str] = (), **plan_args) -> list[BenchmarkPlan]:
    """One benchmark plan per number of training cells, in ``<out>/cells_<N>/``."""
    cells = sorted({int(n) for n in cells})
    if not cells or cells[0] < 1:
        raise ConfigError(f"cells_per_perturbation={cells}: give numbers of cells >= 1")
    base = plan_benchmark(config_path, out=out, overrides=list(overrides), **plan_args)
    return [plan_benchmark(config_path, out=base.out / f"cells_{n}",
                           overrides=[*overrides, f"data.train_cells_per_perturbation={n}"],
                           **plan_args) for n in cells]


def run_learning_curve(plans: Sequence[BenchmarkPlan], *, metric: str = CURVE_METRIC,
                       force: bool = False) -> LearningCurve:
    """Run every plan, then tabulate and plot ``metric`` by cells per perturbation
    (``learning_curve.csv``, ``learning_curve.md``, ``learning_curve.png`` beside the
    per-point benchmark folders). A folder holding anything but benchmark output is refused
    unless ``force`` (:mod:`gpo_vae.outputs`)."""
    from gpo_vae.benchmarking.report import run_benchmark
    from gpo_vae.io import save_figure_atomic, write_text_atomic
    from gpo_vae.outputs import check_output_folder, mark_output_folder

    out = plans[0].out.parent
    check_output_folder(out, "benchmark", out, what="the benchmark folder", force=force)
    for plan in plans:  # every point's folder before any work
        check_output_folder(plan.out, "benchmark", plan.out, what="the benchmark folder",
                            force=force)
    mark_output_folder(out, "benchmark", out)
    rows, verdicts = [], {}
    for plan in plans:
        cells = int(plan.out.name.removeprefix("cells_"))
        logger.info(f"learning curve: {cells} training cells per perturbation")
        summary = run_benchmark(plan, force=force).summary
        for method in summary.methods:
            s = summary.by_method[method].get(metric)
            if s is not None:
                rows.append({"cells": cells, "method": method,
                             "label": summary.labels.get(method, method), "mean": s.mean,
                             "sd": s.sd, "ci_low": s.ci_low, "ci_high": s.ci_high})
        verdicts[cells] = [c[metric]["verdict"] for c in summary.comparisons.values()
                           if metric in c]
    curve = LearningCurve(pd.DataFrame(rows), verdicts, metric, out)
    csv = out / "learning_curve.csv"
    write_text_atomic(csv, curve.table.to_csv(index=False))
    write_text_atomic(out / "learning_curve.md", curve.markdown)
    figure = plot_learning_curve(curve)
    save_figure_atomic(figure, out / "learning_curve.png", dpi=120, bbox_inches="tight")
    curve.files = {"csv": csv, "markdown": out / "learning_curve.md",
                   "plot": out / "learning_curve.png"}
    return curve


def plot_learning_curve(curve: LearningCurve):
    """The metric against training cells per perturbation, one line per method (bands:
    the bootstrap intervals over perturbations); returns the figure."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    ax = figure.subplots()
    for label, group in curve.table.groupby("label", sort=False):
        group = group.sort_values("cells")
        ax.plot(group["cells"], group["mean"], marker="o", label=label)
        ax.fill_between(group["cells"], group["ci_low"], group["ci_high"], alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("training cells per perturbation")
    ax.set_ylabel(f"{curve.metric} (test cells)")
    ax.legend(fontsize=7)
    return figure
