"""Hyperparameter sweeps: W&B sweep files, a local grid / random controller, trials as
cached redun tasks, and a results table with the chosen trial scored on the test split."""

from gpo_vae.sweep.runner import (
    SweepPlan,
    check_sweep_folder,
    describe_plan,
    plan_sweep,
    run_sweep,
)
from gpo_vae.sweep.spec import SweepSpec, load_sweep

__all__ = ["SweepPlan", "SweepSpec", "check_sweep_folder", "describe_plan", "load_sweep",
           "plan_sweep", "run_sweep"]
