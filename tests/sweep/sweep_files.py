"""Writing small sweep files and base configs for the sweep tests."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_base_config(path: Path, screen: Path, output_dir: Path) -> Path:
    """A base config that trains in a few seconds on the small simulated screen."""
    config = {
        "name": "tiny_sweep", "output_dir": str(output_dir),
        "data": {"preset": "simulated", "path": str(screen), "batch_size": 256},
        "model": {"n_latent": 6, "decoder_n_hidden": 32},
        "guide": {"basal_encoder_n_hidden": 32, "embedding_encoder_n_hidden": 32,
                  "embedding_encoder_n_layers": 1},
        "training": {"max_steps": 6, "n_particles": 2, "lr": 3e-3},
        "logging": {"progress_bar": False},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def write_sweep(path: Path, base: Path, output_dir: Path, **overrides) -> Path:
    """A two-trial grid sweep over the GRN-alignment weight (fields replaceable)."""
    sweep = {
        "name": "tiny", "method": "grid",
        "metric": {"name": "ate.model.pearson_top20", "goal": "maximize"},
        "base_config": str(base) if base is not None else None,
        "output_dir": str(output_dir),
        "evaluation": {"n_samples": 40, "n_global": 4, "iwelbo_particles": 2,
                       "ceiling_repeats": 2, "grn_top_k": [5]},
        "parameters": {"loss.gloss_coeff": {"values": [1, 100]}},
    }
    sweep.update(overrides)
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path
