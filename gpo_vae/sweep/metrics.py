"""Names of the numbers a sweep can optimise, and flattening a trial's results to them.

A trial's metrics are its validation-split evaluation (``metrics.json`` of
``gpo-vae evaluate --split val``) flattened with dots, e.g. ``ate.model.pearson_top20``,
``iwelbo_val``, ``grn.truth.auprc``, plus its training summary under ``train.``
(``train.best_val_loss``). Test cells are never used to choose a trial.
"""

from __future__ import annotations

import math

from gpo_vae.errors import ConfigError

TRAIN_METRICS = ("best_val_loss", "epochs", "steps", "wall_seconds", "train_cells_per_second")
TOP_LEVEL = ("iwelbo_val", "ate", "grn", "train")


def flatten(values: dict, prefix: str = "") -> dict[str, float]:
    """Nested dict -> ``{"a.b.c": number}``, keeping finite numbers only."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            flat[name] = float(value)
    return flat


def trial_metrics(evaluation: dict, training: dict) -> dict[str, float]:
    """One trial's flat metrics: its validation evaluation and its training summary."""
    keep = {k: v for k, v in evaluation.items()
            if k in ("ate", "grn") or k.startswith("iwelbo_val")}
    flat = flatten(keep)
    flat.update(flatten({k: training[k] for k in TRAIN_METRICS if k in training}, "train."))
    return flat


# which way is better for the numbers outside the ATE registry (which says it per metric)
_GOALS = {"iwelbo_val": "maximize", "train.best_val_loss": "minimize",
          "train.wall_seconds": "minimize", "train.train_cells_per_second": "maximize"}
_GRN_BETTER_HIGH = ("auprc", "auroc", "precision", "recall", "f1", "wasserstein")


def metric_goal(name: str) -> str | None:
    """``maximize`` or ``minimize`` for a metric whose better direction is known (from the
    ATE metric registry's ``best``, or for the IWELBO, losses and GRN scores); else None."""
    from gpo_vae.evaluation.metrics import ATE_METRICS

    if name in _GOALS:
        return _GOALS[name]
    head, _, rest = name.partition(".")
    if head == "ate":
        metric = ATE_METRICS.get(rest.partition(".")[2])
        return None if metric is None else \
            "maximize" if metric.best == "higher" else "minimize"
    if head == "grn" and any(word in rest.rsplit(".", 1)[-1] for word in _GRN_BETTER_HIGH):
        return "maximize"
    return None


def check_metric_name(name: str) -> None:
    """Fail early on a metric no trial can report (typos, test-split names)."""
    from gpo_vae.evaluation.evaluate import METHODS
    from gpo_vae.evaluation.metrics import ATE_METRICS

    head, _, rest = name.partition(".")
    hint = ("e.g. ate.model.pearson_top20 (maximize), iwelbo_val (maximize), "
            "train.best_val_loss (minimize) or grn.truth.auprc (maximize)")
    if name.startswith("iwelbo_test") or ".test" in name:
        raise ConfigError(f"metric {name!r} is a test-split number; sweeps choose trials on "
                          f"the validation split only: {hint}")
    if head == "iwelbo_val" and not rest:
        return
    if head == "train" and rest in TRAIN_METRICS:
        return
    if head == "ate":
        method, _, metric = rest.partition(".")
        if method in METHODS and metric in ATE_METRICS:
            return
        raise ConfigError(f"metric {name!r} is not an ATE metric; write ate.<method>.<metric> "
                          f"with method among {', '.join(METHODS)} and metric among "
                          f"{', '.join(ATE_METRICS)}")
    if head == "grn" and rest:
        return  # depends on the data (truth only for simulated screens): checked at the end
    raise ConfigError(f"metric {name!r} is not something a trial reports; {hint}")
