"""Fixtures for the model tests (helpers live in tiny_model.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_model import random_batch, tiny_info

from gpo_vae.models.builder import DataInfo


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
