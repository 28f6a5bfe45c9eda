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
                           anchored_conditions=lambda: consistency.dosages,
                           parameters=lambda: iter([torch.zeros(1)]))


def test_observed_matches_sets_of_treatments_whatever_the_dose(consistency):
    rows = _rows({0: 1}, {0: 0.5, 1: 2}, {0: 1, 2: 1}, {3: 1}, {})
    assert consistency.observed(torch.as_tensor(rows)).tolist() == [True, True, False,
                                                                     False, False]


def test_additive_splits_only_the_unseen_combinations(consistency):
    rows = _rows({0: 1}, {0: 1, 1: 1}, {0: 0.5, 2: 2}, {})
    decoded, combine = composition(_module(consistency, "additive"), rows)
    # the unseen double (0, 2): its singles, and the anchored double (0, 1) that shares
    # treatment 0, with treatment 1's single, fitted jointly; the rest stay as they are
    assert decoded.tolist() == _rows({0: 1}, {0: 1, 1: 1}, {}, {0: 1}, {1: 1}, {2: 1},
                                     {0: 1, 1: 1}).tolist()
    assert combine[[0, 1, 3]].tolist() == [[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0],
                                           [0, 0, 1, 0, 0, 0, 0]]
    # an additive world: every decoded row's ATE is its doses times the effects
    effects = np.random.default_rng(0).normal(size=(N_TREATMENTS, 3))
    ates = decoded @ effects
    assert np.allclose(combine @ ates, rows @ effects)


def test_an_additive_fit_pools_a_treatment_over_singles_and_doubles():
    from gpo_vae.evaluation.predict import additive_fit

    anchored = _rows({0: 1}, {1: 1}, {0: 1, 1: 1}, {2: 1}, {3: 1})
    rows, weights = additive_fit(anchored, _rows({0: 1, 2: 1}))
    assert rows.tolist() == _rows({0: 1}, {1: 1}, {2: 1}, {0: 1, 1: 1}).tolist()
    # singles A, B and the double A+B measure (A, B) three times: A's effect is
    # (2 A + (A+B) - B) / 3, so a noisy single A is pulled toward what the double says
    a, b, ab, c = np.array([1.0]), np.array([0.0]), np.array([1.3]), np.array([5.0])
    assert np.allclose(weights @ np.stack([a, b, c, ab]), (2 * a + ab - b) / 3 + c)
    # with singles alone it is the sum of the singles
    rows, weights = additive_fit(_rows({0: 1}, {2: 1}), _rows({0: 0.5, 2: 2}))
    assert rows.tolist() == _rows({0: 1}, {2: 1}).tolist()
    assert np.allclose(weights, [[0.5, 2.0]])


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
