import numpy as np
import pytest
import torch

from gpo_vae.evaluation.predict import model_ates, sample_cells
from gpo_vae.training.checkpoint import load_trained

pytestmark = pytest.mark.integration  # a run trained by the cells_run fixture


@pytest.fixture(scope="module")
def module(cells_run):
    return load_trained(cells_run)


def test_model_ates_are_seeded_and_their_error_shrinks_with_samples(module):
    t = module.data_info.n_treatments
    dosages = np.zeros((3, t), dtype=np.float32)
    dosages[1, 0] = dosages[2, 1] = 1.0                      # row 0: a control "perturbation"
    names = ["none", "first", "second"]
    few, few_se = model_ates(module, dosages, names, n_samples=40, n_global=4)
    again, _ = model_ates(module, dosages, names, n_samples=40, n_global=4)
    assert np.array_equal(few.to_numpy(), again.to_numpy())
    many, many_se = model_ates(module, dosages, names, n_samples=400, n_global=8)
    assert many_se.to_numpy().mean() < few_se.to_numpy().mean()
    assert list(many.columns) == module.data_info.gene_names
    # a zero dosage is the control itself: its ATE is zero within Monte Carlo error
    assert np.abs(many.loc["none"]).mean() < 4 * many_se.loc["none"].mean() + 1e-6


def test_sample_cells_one_per_dosage_row(module):
    t = module.data_info.n_treatments
    dosages = np.zeros((70, t), dtype=np.float32)
    dosages[:35, 2] = 1.0
    counts = sample_cells(module, dosages, cells_per_draw=32, library_size=1e4)
    assert counts.shape == (70, module.data_info.n_genes)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    assert 5e3 < np.median(totals) < 2e4                     # library size about 1e4
    assert (counts.data == np.round(counts.data)).all()      # integer counts
    same = sample_cells(module, dosages, cells_per_draw=32)
    assert (counts != same).nnz == 0


def test_a_combination_never_seen_is_the_sum_of_its_singles(module):
    assert module.config.model.unseen_combinations == "additive"
    t = module.data_info.n_treatments
    dosages = np.zeros((3, t), dtype=np.float32)
    dosages[0, 0] = dosages[1, 1] = 1.0
    dosages[2, [0, 1]] = 1.0                                 # never seen in training
    assert not module.observed_conditions(torch.as_tensor(dosages))[2]
    ates, se = model_ates(module, dosages, ["a", "b", "a+b"], n_samples=400, n_global=8)
    gap = ates.loc["a+b"] - ates.loc["a"] - ates.loc["b"]
    assert np.abs(gap).mean() < 4 * se.loc["a+b"].mean() + 1e-6


def test_expected_decoding_reads_the_decoded_expression_without_count_noise(module):
    assert module.config.model.ate_decoding == "expected"    # the anchored default
    t = module.data_info.n_treatments
    dosages = np.zeros((3, t), dtype=np.float32)
    dosages[1, 0] = dosages[2, 1] = 1.0
    names = ["none", "first", "second"]
    expected, expected_se = model_ates(module, dosages, names, n_samples=400, n_global=8,
                                       globals_="mean")
    sampled, sampled_se = model_ates(module, dosages, names, n_samples=400, n_global=8,
                                     globals_="mean", decoding="sampled")
    # the control row shares every z_basal draw: exactly zero, not zero within noise
    assert (expected.loc["none"] == 0).all()
    assert expected_se.to_numpy().mean() < sampled_se.to_numpy().mean()
    # by hand: the mean over z_basal of log2(1 + 1e4 p) under the row, minus control's
    from gpo_vae.stats import seeded_torch
    with seeded_torch(0), torch.no_grad():
        globals_ = module.prediction_globals("mean")
        z = torch.randn((1, 50, module.n_latent))
        rows = torch.as_tensor(dosages)
        log_expr = torch.log2(1 + 1e4 * module.decode_conditions(globals_, z, rows)).mean(1)
    by_hand = (log_expr[1:] - log_expr[:1]).numpy()
    assert np.corrcoef(by_hand.ravel(), expected.iloc[1:].to_numpy().ravel())[0, 1] > 0.95


def test_an_unknown_decoding_is_refused_by_name(module):
    from gpo_vae.errors import ConfigError

    dosages = np.zeros((1, module.data_info.n_treatments), dtype=np.float32)
    with pytest.raises(ConfigError, match="ate_decoding='noisy' must be one of expected"):
        model_ates(module, dosages, ["x"], n_samples=4, n_global=2, decoding="noisy")
