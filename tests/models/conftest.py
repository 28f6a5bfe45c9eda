"""Fixtures for the model tests: model-only tiny configs (smaller networks than the
training tests, no data), a DataInfo and a random batch (helpers in tiny_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_model import random_batch, tiny_info

from gpo_vae.models.builder import DataInfo

#: Overrides of the shared tiny defaults for model unit tests (no data, no training).
MODEL_UNIT = {"model": {"n_latent": 6, "decoder_n_hidden": 16},
              "guide": {"basal_encoder_n_hidden": 16, "embedding_encoder_n_hidden": 16,
                        "embedding_encoder_n_layers": 2},
              "training": {"n_particles": 3}}


@pytest.fixture(scope="session")
def tiny_model_config(tiny_config):
    """``tiny_model_config(**sections)``: a model-only Config; sections update the
    model-unit sizes (L = 6, 16 hidden units, 3 particles)."""
    def make(**sections):
        merged = {name: dict(values) for name, values in MODEL_UNIT.items()}
        for name, values in sections.items():
            merged.setdefault(name, {}).update(values)
        return tiny_config(**merged)
    return make


@pytest.fixture()
def info() -> DataInfo:
    return tiny_info()


@pytest.fixture()
def batch() -> dict:
    return random_batch()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
