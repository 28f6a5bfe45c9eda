"""PerturbationDataset (gpo_vae/data/dataset.py) on a small hand-made prepared screen:
batch keys and dtypes, densified rows equal to the sparse matrix, split selection."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from gpo_vae.data.dataset import PerturbationDataset
from gpo_vae.errors import InputDataError

N_CELLS, N_GENES, N_TREATMENTS = 12, 7, 3
KEYS = {"counts", "dosages", "qc", "counterfactual", "has_counterfactual", "delta_x",
        "library_size", "cell_index"}
SPLIT = np.array(["train", "val", "test", "train"] * 3)


def _prepared(dense: bool = False) -> ad.AnnData:
    """What prepare() leaves for the dataset: counts, dosages, per-cell obs (each cell
    paired with the first control of its split, controls with themselves) and the
    counterfactual profiles (two of them; -1 = no counterfactual). The treatments are
    genes g1, g4 and an unmeasured gene C."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (N_CELLS, N_GENES)).astype(np.float64)
    counts[5] = 0.0                                            # an all-zero row
    dosages = np.zeros((N_CELLS, N_TREATMENTS))
    dosages[np.arange(N_CELLS), np.arange(N_CELLS) % N_TREATMENTS] = 1.0
    dosages[:4] = 0.0                           # controls: one or two in every split
    adata = ad.AnnData(counts if dense else sp.csr_matrix(counts))
    adata.obs_names = [f"c{i}" for i in range(N_CELLS)]
    adata.var_names = [f"g{i}" for i in range(N_GENES)]
    control = dosages.sum(1) == 0
    matched = np.array([i if control[i] else np.flatnonzero(control & (SPLIT == SPLIT[i]))[0]
                        for i in range(N_CELLS)])
    adata.obs = pd.DataFrame({
        "split": pd.Categorical(SPLIT),
        "qc": np.arange(N_CELLS) % 5 == 0,
        "library_size": counts.sum(1),
        "counterfactual_index": np.where(np.arange(N_CELLS) % 3 == 0, -1,
                                         np.arange(N_CELLS) % 2),
        "cell_id": [f"input_{i}" for i in range(N_CELLS)],
        "matched_control": matched,
    }, index=adata.obs_names)
    adata.obsm["dosages"] = sp.csr_matrix(dosages)
    adata.uns["treatments"] = pd.DataFrame({"name": ["g1", "g4", "C"],
                                            "measured": [True, True, False]})
    adata.uns["counterfactual_profiles"] = rng.poisson(3.0, (2, N_GENES)).astype(np.float64)
    return adata


@pytest.fixture(scope="module")
def prepared() -> ad.AnnData:
    return _prepared()


def test_a_batch_has_the_documented_keys_shapes_and_dtypes(prepared):
    dataset = PerturbationDataset(prepared, "train")
    batch = dataset[[0, 1, 2]]
    assert set(batch) == KEYS
    for key in ("counts", "counterfactual"):
        assert batch[key].shape == (3, N_GENES) and batch[key].dtype == torch.float32, key
    for key in ("dosages", "delta_x"):
        assert batch[key].shape == (3, N_TREATMENTS) and batch[key].dtype == torch.float32
    for key in ("qc", "library_size"):
        assert batch[key].shape == (3,) and batch[key].dtype == torch.float32, key
    assert batch["has_counterfactual"].dtype == torch.bool
    assert batch["cell_index"].dtype == torch.int64


@pytest.mark.parametrize("dense", [False, True])
def test_densified_batch_equals_the_rows_of_the_prepared_screen(dense):
    prepared = _prepared(dense)
    dataset = PerturbationDataset(prepared, None)
    order = [7, 0, 5, 11, 3]
    batch = dataset[order]
    X = prepared.X.toarray() if sp.issparse(prepared.X) else prepared.X
    np.testing.assert_array_equal(batch["counts"].numpy(), X[order])
    np.testing.assert_array_equal(batch["dosages"].numpy(),
                                  prepared.obsm["dosages"].toarray()[order])
    lognorm = np.log1p(1e4 * X / np.maximum(X.sum(1, keepdims=True), 1))
    treatment = np.column_stack([lognorm[:, 1], lognorm[:, 4], np.zeros(N_CELLS)])
    matched = prepared.obs["matched_control"].to_numpy()
    np.testing.assert_allclose(batch["delta_x"].numpy(),
                               np.abs(treatment[order] - treatment[matched[order]]), atol=1e-5)
    assert (batch["delta_x"].numpy()[[order.index(0), order.index(3)]] == 0).all()  # controls
    np.testing.assert_array_equal(batch["qc"].numpy(), prepared.obs["qc"].to_numpy()[order])
    np.testing.assert_array_equal(batch["library_size"].numpy(), X[order].sum(1))
    assert batch["cell_index"].tolist() == order
    cf = prepared.obs["counterfactual_index"].to_numpy()[order]
    assert batch["has_counterfactual"].tolist() == (cf >= 0).tolist()
    profiles = prepared.uns["counterfactual_profiles"]
    for row, index in enumerate(cf):
        want = profiles[index] if index >= 0 else np.zeros(N_GENES)
        np.testing.assert_array_equal(batch["counterfactual"][row].numpy(), want)


def test_a_split_holds_only_its_cells_in_order(prepared):
    for split in ("train", "val", "test"):
        dataset = PerturbationDataset(prepared, split)
        rows = np.flatnonzero(SPLIT == split)
        assert len(dataset) == rows.size
        batch = dataset[list(range(len(dataset)))]
        assert batch["cell_index"].tolist() == rows.tolist()
        assert list(dataset.cell_ids) == [f"input_{i}" for i in rows]
        np.testing.assert_array_equal(batch["counts"].numpy(), prepared.X.toarray()[rows])
    assert len(PerturbationDataset(prepared, None)) == N_CELLS


def test_a_single_index_is_a_batch_of_one(prepared):
    dataset = PerturbationDataset(prepared, "val")
    one = dataset[1]
    assert one["counts"].shape == (1, N_GENES)
    assert one["cell_index"].tolist() == [np.flatnonzero(SPLIT == "val")[1]]


def test_an_empty_split_is_an_empty_dataset(prepared):
    dataset = PerturbationDataset(prepared, "holdout")
    assert len(dataset) == 0
    batch = dataset[[]]
    assert batch["counts"].shape == (0, N_GENES) and batch["dosages"].shape == (0, N_TREATMENTS)


def test_an_unprepared_anndata_is_refused():
    raw = ad.AnnData(np.ones((3, 2)))
    with pytest.raises(InputDataError, match="gpo-vae prepare"):
        PerturbationDataset(raw, "train")
