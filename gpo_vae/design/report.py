"""The files of a design: ranked tables, the optimisation curve, plots and a summary.

Written into a staging folder and moved into place with ``design.json`` last, so a
killed design leaves no half-written results; a folder that already holds a design is
refused rather than overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.design.search import DesignResult
from gpo_vae.errors import ConfigError
from gpo_vae.figures import subplots
from gpo_vae.io import (
    atomic_path,
    json_safe,
    save_figure_atomic,
    staged_folder,
    write_json_atomic,
)
from gpo_vae.outputs import HOW_TO_FORCE, check_output_folder, mark_output_folder

SUMMARY_FILE = "design.json"


def check_design_folder(out: str | os.PathLike, force: bool = False) -> Path:
    """``out`` as a folder that can take a new design (before any work is done): new,
    empty, or a design folder without a finished design; anything else only with
    ``force`` (:mod:`gpo_vae.outputs`)."""
    out = check_output_folder(out, "design", out, what="the design folder", force=force)
    if (out / SUMMARY_FILE).exists() and not force:
        raise ConfigError(f"{str(out)!r} already holds a design ({SUMMARY_FILE}); give another "
                          f"--out folder, or {HOW_TO_FORCE} to replace it")
    return out


def plot_profiles(result: DesignResult, path: Path, n_designs: int = 3) -> Path:
    """Predicted against target ATE, gene by gene, for the best designs."""
    target = result.target.values.to_numpy()
    n = min(n_designs, len(result.designs))
    fig, axes = subplots(1, n, figsize=(4.2 * n, 4), squeeze=False)
    for ax, (_, row) in zip(axes[0], result.designs.head(n).iterrows(), strict=False):
        predicted = result.predicted.loc[row["intervention"]].to_numpy()
        ax.scatter(target, predicted, s=6, alpha=0.5)
        low, high = np.nanmin([target.min(), predicted.min()]), \
            np.nanmax([target.max(), predicted.max()])
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
        ax.set_title(f"#{row['rank']} {row['intervention']}\n"
                     f"distance {row['predicted_distance']:.3f} ± {row['distance_sd']:.3f}",
                     fontsize=9)
        ax.set_xlabel(f"target ATE ({result.target.label})", fontsize=8)
        ax.set_ylabel("predicted ATE", fontsize=8)
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=120)


def plot_optimisation(curve: pd.DataFrame, path: Path) -> Path:
    """The relaxed objective and distance over the Adam steps."""
    fig, ax = subplots(figsize=(5, 3.5))
    ax.plot(curve["step"], curve["best_objective"], label="best restart: objective")
    ax.plot(curve["step"], curve["mean_objective"], label="mean over restarts", alpha=0.7)
    ax.plot(curve["step"], curve["best_distance"], label="best restart: distance", ls="--")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("relaxed objective")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure_atomic(fig, path, dpi=120)


def _csv(table: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def write_design(result: DesignResult, out: str | os.PathLike,
                 validation: tuple[pd.DataFrame, dict] | None = None,
                 force: bool = False) -> dict[str, Path]:
    """Write ``designs.csv``, ``baseline.csv``, ``optimisation.csv``, ``profiles.png``,
    ``optimisation.png``, ``closed_loop.csv`` (with ``validation``) and ``design.json``."""
    out = check_design_folder(out, force)
    mark_output_folder(out, "design", out)
    summary = result.summary()
    with staged_folder(out, last=(SUMMARY_FILE,)) as staging:
        files = {"designs": _csv(result.designs, staging / "designs.csv"),
                 "baseline": _csv(result.baseline, staging / "baseline.csv"),
                 "optimisation": _csv(result.curve, staging / "optimisation.csv"),
                 "profiles_plot": plot_profiles(result, staging / "profiles.png"),
                 "optimisation_plot": plot_optimisation(result.curve,
                                                        staging / "optimisation.png")}
        if validation is not None:
            files["closed_loop"] = _csv(validation[0], staging / "closed_loop.csv")
            summary["closed_loop"] = validation[1]
        files["summary"] = write_json_atomic(staging / SUMMARY_FILE, json_safe(summary))
    return {k: out / Path(v).relative_to(staging) for k, v in files.items()}
