"""A config that trains in seconds on the small simulated screen (shared by tests)."""

from __future__ import annotations

from pathlib import Path


def tiny_settings(screen: Path, cache: Path, output_dir: Path, **training) -> dict:
    """A config dict that trains in seconds on the small screen."""
    return {
        "name": "tiny", "output_dir": str(output_dir),
        "data": {"preset": "simulated", "path": str(screen), "batch_size": 128,
                 "cache_dir": str(cache)},
        "model": {"n_latent": 8, "decoder_n_hidden": 32},
        "guide": {"basal_encoder_n_hidden": 32, "embedding_encoder_n_hidden": 32,
                  "embedding_encoder_n_layers": 2},
        "training": {"max_epochs": 2, "n_particles": 2, "lr": 3e-3, **training},
        "logging": {"progress_bar": False},
    }
