import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gpo_vae.data.pseudobulk import ConditionPseudobulk, condition_pseudobulk


def _prepared():
    counts = np.array([[4, 0, 6], [2, 2, 6], [0, 8, 2], [10, 0, 0], [1, 1, 8], [3, 3, 4],
                       [9, 1, 0]], dtype=np.float32)
    # cells 0-1 control, 2 treatment 0, 3 and 6 treatments 0+1 (a combination), 4
    # treatment 1 in the test split, 5 treatment 1
    dosages = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0],
                        [1, 1, 0]])
    obs = pd.DataFrame({"split": ["train", "train", "train", "train", "test", "train", "train"],
                        "library_size": counts.sum(1)}, index=[f"c{i}" for i in range(7)])
    adata = ad.AnnData(X=sp.csr_matrix(counts), obs=obs)
    adata.obsm["dosages"] = sp.csr_matrix(dosages.astype(np.float32))
    return adata, counts


def _row(pseudobulk: ConditionPseudobulk, dosage) -> int:
    return int(np.flatnonzero((pseudobulk.dosages == np.asarray(dosage)).all(1))[0])


def test_every_condition_of_the_split_gets_its_mean_minus_the_control_mean():
    adata, counts = _prepared()
    pb = condition_pseudobulk(adata, "train")
    logged = np.log1p(1e4 * counts / counts.sum(1, keepdims=True))
    control = logged[[0, 1]].mean(0)
    assert pb.dosages.shape == (3, 3) and pb.n_control == 2
    single0, single1, double = (_row(pb, d) for d in ([1, 0, 0], [0, 1, 0], [1, 1, 0]))
    np.testing.assert_array_equal(pb.n_cells[[single0, single1, double]], [1, 1, 2])
    np.testing.assert_allclose(pb.shifts[single0], logged[2] - control, rtol=1e-5)
    np.testing.assert_allclose(pb.shifts[single1], logged[5] - control, rtol=1e-5)  # no test cell
    np.testing.assert_allclose(pb.shifts[double], logged[[3, 6]].mean(0) - control, rtol=1e-5)
    # pooled within-condition variance: only the control and the double have 2 cells
    within = ((logged[[0, 1]] - control) ** 2).sum(0) + \
        ((logged[[3, 6]] - logged[[3, 6]].mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(pb.within_var, within / (6 - 4), rtol=1e-5)


def test_reliability_trusts_large_shifts_of_many_cells_and_not_shifts_within_noise():
    shifts = np.array([[1.0, 0.01], [-1.0, -0.01], [0.5, 0.0], [-0.5, 0.02]])
    pb = ConditionPseudobulk(dosages=np.eye(4, dtype=np.float32), means=shifts.astype(np.float32),
                             n_cells=np.array([100, 100, 2, 2]),
                             control_mean=np.zeros(2, np.float32), n_control=500,
                             within_var=np.array([0.5, 0.5], np.float32))
    weight = pb.reliability()
    assert weight.shape == (4, 2) and ((weight >= 0) & (weight <= 1)).all()
    assert weight[0, 0] > 0.9 > weight[2, 0]          # few cells: trusted less
    assert (weight[:, 1] < 0.05).all()                # shifts within their noise
    # noise 0.5 (1/2 + 1/500) = 0.251 against a shift of 0.25 -> 1 - 0.251 / 0.25 < 0 -> 0
    np.testing.assert_allclose(weight[2, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(weight[0, 0], 1 - 0.5 * (1 / 100 + 1 / 500), rtol=1e-5)


def test_backed_screen_gives_the_same_pseudobulk_a_block_at_a_time(tmp_path, monkeypatch):
    import gpo_vae.data.rows as rows

    adata, _ = _prepared()
    expected = condition_pseudobulk(adata, "train")
    adata.write_h5ad(tmp_path / "prepared.h5ad")
    monkeypatch.setattr(rows, "BLOCK_ROWS", 2)  # several blocks over six training cells
    backed = ad.read_h5ad(tmp_path / "prepared.h5ad", backed="r")
    pb = condition_pseudobulk(backed, "train")
    np.testing.assert_array_equal(pb.n_cells, expected.n_cells)
    np.testing.assert_allclose(pb.shifts, expected.shifts, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pb.within_var, expected.within_var, rtol=1e-5, atol=1e-7)


def test_projected_shifts_keep_own_targets_and_project_the_rest_onto_the_span():
    shifts = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0]], np.float32)
    pb = ConditionPseudobulk(dosages=np.array([[1, 0], [0, 1]], np.float32), means=shifts,
                             n_cells=np.array([5, 5]), control_mean=np.zeros(4, np.float32),
                             n_control=10, within_var=np.ones(4, np.float32))
    basis = np.array([[1.0], [1.0], [0.0], [0.0]])            # span of genes 0 and 1 together
    out = pb.projected_shifts(basis, own_columns=np.array([3, -1]))
    # condition 0: its own target (gene 3) kept; genes 0-1 averaged; gene 2 off the span
    np.testing.assert_allclose(out[0], [1.5, 1.5, 0.0, 4.0], rtol=1e-6)
    # condition 1's target is unmeasured: everything projected
    np.testing.assert_allclose(out[1], [-0.25, -0.25, 0.0, 0.0], rtol=1e-6, atol=1e-7)


def test_shifts_shrunk_toward_a_prior_drop_departures_within_their_noise():
    shifts = np.array([[1.0, 0.05, 0.3], [1.0, 0.05, 0.2]], np.float32)
    pb = ConditionPseudobulk(dosages=np.eye(2, dtype=np.float32), means=shifts,
                             n_cells=np.array([1000, 2]), control_mean=np.zeros(3, np.float32),
                             n_control=1000, within_var=np.array([0.1, 0.1, 0.1], np.float32))
    prior = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.0]], np.float32)
    shrunk = pb.shrunk_toward(prior)
    noise = pb.noise()
    np.testing.assert_allclose(noise[1], 0.1 * (1 / 2 + 1 / 1000), rtol=1e-6)
    # where the prior is the shift nothing moves; a departure within its noise is dropped
    assert shrunk[0, 0] == pytest.approx(1.0)
    assert shrunk[1, 1] == pytest.approx(0.0) and shrunk[1, 2] == pytest.approx(0.0)
    # many cells: a departure well above its noise is kept almost whole, by 1 - noise/gap^2
    gap = 0.3
    assert shrunk[0, 2] == pytest.approx(gap * (1 - noise[0, 2] / gap ** 2), rel=1e-5)
    # few cells, a large departure: partly kept
    assert 0.5 < shrunk[1, 0] < 1.0
    np.testing.assert_allclose(pb.shrunk_toward(pb.shifts), pb.shifts)
