"""Mechanistic Perturb-seq simulator with a known gene regulatory network."""

from gpo_vae.simulation.config import PRESETS, SimulationConfig, preset_config
from gpo_vae.simulation.simulator import (
    CONTROL_LABEL,
    SIMULATED_SCHEMA,
    simulate_perturbseq,
    simulate_to_h5ad,
)

__all__ = [
    "CONTROL_LABEL",
    "PRESETS",
    "SIMULATED_SCHEMA",
    "SimulationConfig",
    "preset_config",
    "simulate_perturbseq",
    "simulate_to_h5ad",
]
