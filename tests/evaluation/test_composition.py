"""How predictions compose combinations never seen in training (model.unseen_combinations)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gpo_vae.config import config_from_dict
from gpo_vae.evaluation.predict import composition
from gpo_vae.models.consistency import PseudobulkConsistency

N_TREATMENTS = 4


def _rows(*conditions):
    out = np.zeros((len(conditions), N_TREATMENTS), dtype=np.float32)
    for i, condition in enumerate(conditions):
        for j, dose in condition.items():
            out[i, j] = dose
    return out


@pytest.fixture
def consistency():
    observed = _rows({0: 1}, {1: 1}, {2: 1}, {0: 1, 1: 1})    # three singles, one double
    return PseudobulkConsistency(observed, np.zeros((4, 3), dtype=np.float32))


def _module(consistency, how):
    model = SimpleNamespace(unseen_combinations=how)
    return SimpleNamespace(config=SimpleNamespace(model=model),
                           observed_conditions=consistency.observed,
                           parameters=lambda: iter([torch.zeros(1)]))


def test_observed_matches_sets_of_treatments_whatever_the_dose(consistency):
    rows = _rows({0: 1}, {0: 0.5, 1: 2}, {0: 1, 2: 1}, {3: 1}, {})
    assert consistency.observed(torch.as_tensor(rows)).tolist() == [True, True, False,
                                                                     False, False]


def test_additive_splits_only_the_unseen_combinations(consistency):
    rows = _rows({0: 1}, {0: 1, 1: 1}, {0: 0.5, 2: 2}, {})
    decoded, combine = composition(_module(consistency, "additive"), rows)
    # the unseen double (0, 2) becomes its two singles at their doses; the rest stay
    assert decoded.tolist() == _rows({0: 1}, {0: 1, 1: 1}, {0: 0.5}, {2: 2}, {}).tolist()
    assert combine.tolist() == [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 0],
                                [0, 0, 0, 0, 1]]
    ates = np.arange(5 * 3, dtype=float).reshape(5, 3)
    assert np.allclose((combine @ ates)[2], ates[2] + ates[3])


def test_latent_composition_and_models_without_a_list_keep_every_row(consistency):
    rows = _rows({0: 1, 2: 1})
    without_list = _module(consistency, "additive")
    without_list.observed_conditions = lambda dosages: None   # no pseudobulk term
    for module in (_module(consistency, "latent"), without_list):
        decoded, combine = composition(module, rows)
        assert combine is None and decoded.tolist() == rows.tolist()


def test_variant_defaults():
    assert config_from_dict({}).model.unseen_combinations == "additive"
    authors = config_from_dict({"model": {"variant": "authors"}})
    assert authors.model.unseen_combinations == "latent"
    assert config_from_dict({"model": {"unseen_combinations": "latent"}}) \
        .model.unseen_combinations == "latent"
