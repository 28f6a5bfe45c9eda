"""Training curves from the CSV logs of a run (all resumed sessions together)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gpo_vae.constants import DIAGNOSTICS_PREFIX as DIAG
from gpo_vae.errors import InputFileError
from gpo_vae.figures import subplots
from gpo_vae.io import save_figure_atomic
from gpo_vae.models.loss import LOSS_TERMS


def read_metrics(run_dir: Path) -> pd.DataFrame:
    """Every ``logs/version_*/metrics.csv`` of a run, in step order (empty if none)."""
    files = sorted(Path(run_dir).glob("logs/version_*/metrics.csv"),
                   key=lambda p: int(p.parent.name.split("_")[-1]))
    frames = [pd.read_csv(f) for f in files if f.stat().st_size > 0]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).sort_values("step", kind="stable")


def read_log(run_dir: Path) -> pd.DataFrame | None:
    """Every logged metric of a run folder, in step order (None when it has none)."""
    try:
        return read_metrics(run_dir)
    except (FileNotFoundError, InputFileError, ValueError):
        return None


def per_epoch(metrics: pd.DataFrame | None) -> pd.DataFrame | None:
    """The last logged value of every metric per epoch (``GpoVae.history``)."""
    if metrics is None or "epoch" not in metrics:
        return metrics
    return metrics.groupby("epoch").last().reset_index()


def plot_training_curves(run_dir: Path, out: Path | None = None) -> Path | None:
    """Save :func:`training_curves_figure` as ``plots/training_curves.png`` (or ``out``).
    Returns the path, or None without logs."""
    fig = training_curves_figure(read_metrics(run_dir))
    if fig is None:
        return None
    out = Path(out) if out else Path(run_dir) / "plots" / "training_curves.png"
    save_figure_atomic(fig, out)
    return out


def training_curves_figure(metrics: pd.DataFrame):
    """Loss per step and per epoch, validation loss and IWELBO, each loss term and, when
    logged, the learning diagnostics (validation ATE Pearson beside the per-perturbation
    mean, q(E) against its prior, z_basal's label share), from a run's
    :func:`read_metrics`: a matplotlib Figure, or None when nothing was logged yet."""
    # short runs may log no step value (fewer steps than log_every_n_steps): use epochs
    loss_key = "train/loss_step" if "train/loss_step" in metrics else "train/loss_epoch"
    if metrics.empty or loss_key not in metrics:
        return None
    diagnostics = f"{DIAG}val_ate_pearson_top20" in metrics
    fig, axes = subplots(1, 5 if diagnostics else 3, figsize=(25 if diagnostics else 15, 4))
    steps = metrics.dropna(subset=[loss_key])
    few = len(steps) < 10  # a faint line of a few points would be invisible: mark them
    axes[0].plot(steps["step"], steps[loss_key], "o-" if few else "-", ms=3,
                 lw=1.5 if few else 0.5, alpha=1.0 if few else 0.4,
                 label="train" if few else "train (step)")
    if len(steps) >= 10:
        smooth = steps[loss_key].rolling(max(len(steps) // 50, 5), min_periods=1).mean()
        axes[0].plot(steps["step"], smooth, lw=1.5, label="train (smoothed)")
    if "val/loss" in metrics:
        val = metrics.dropna(subset=["val/loss"])
        axes[0].plot(val["step"], val["val/loss"], "o-", ms=3, label="validation")
    positive = (steps[loss_key] > 0).all()
    axes[0].set(xlabel="step", ylabel="loss", title="loss", yscale="log" if positive else "linear")
    axes[0].legend()
    epochs = metrics.dropna(subset=["train/loss_epoch"]) if "train/loss_epoch" in metrics \
        else pd.DataFrame()
    for term in LOSS_TERMS:
        column = f"train/{term}_epoch"
        if column in epochs and epochs[column].abs().sum() > 0:
            axes[1].plot(epochs["epoch"], epochs[column].abs(), label=term)
    axes[1].set(xlabel="epoch", ylabel="|term| (train, epoch mean)", title="loss terms",
                yscale="log")
    axes[1].legend(fontsize=8)
    for stage, style in (("train", "-"), ("val", "o-")):
        column = f"{stage}/iwelbo_epoch" if stage == "train" else "val/iwelbo"
        if column in metrics:
            rows = metrics.dropna(subset=[column])
            axes[2].plot(rows["epoch"], rows[column], style, ms=3, label=stage)
    axes[2].set(xlabel="epoch", ylabel="IWELBO per cell", title="IWELBO (higher is better)")
    axes[2].legend()
    if diagnostics:
        _plot_diagnostics(metrics, axes[3], axes[4])
    fig.tight_layout()
    return fig


def _plot_diagnostics(metrics: pd.DataFrame, ate_axis, latent_axis) -> None:
    rows = metrics.dropna(subset=[f"{DIAG}val_ate_pearson_top20"])
    ate_axis.plot(rows["epoch"], rows[f"{DIAG}val_ate_pearson_top20"], "o-", ms=3,
                  label="model")
    ate_axis.plot(rows["epoch"], rows[f"{DIAG}val_ate_pearson_top20_pert_mean"], "--",
                  label="per-perturbation mean (train)")
    ate_axis.set(xlabel="epoch", ylabel="Pearson top-20 (validation ATEs)",
                 title="is the model learning effects?")
    ate_axis.legend(fontsize=8)
    for key, label in (("edge_mean_abs", "mean |E|"), ("edge_scale_mean", "mean scale of q(E)"),
                       ("edge_kl_from_prior", "KL q(E) || prior per entry"),
                       ("z_basal_label_share", "z_basal variance share of the label")):
        if f"{DIAG}{key}" in rows:
            latent_axis.plot(rows["epoch"], rows[f"{DIAG}{key}"], "o-", ms=3, label=label)
    latent_axis.set(xlabel="epoch", title="latent diagnostics")
    latent_axis.legend(fontsize=8)
