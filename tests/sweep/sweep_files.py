"""Writing small sweep files for the sweep tests (the base config: conftest.py)."""

from __future__ import annotations

from pathlib import Path

import yaml


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
