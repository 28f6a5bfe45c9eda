import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from gpo_vae.data.pseudobulk import treatment_pseudobulk_shifts


def _prepared():
    counts = np.array([[4, 0, 6], [2, 2, 6], [0, 8, 2], [10, 0, 0], [1, 1, 8], [3, 3, 4]],
                      dtype=np.float32)
    # cells 0-1 control, 2 treatment 0, 3 treatments 0+1 (a combination), 4 treatment 1
    # in the test split, 5 treatment 1
    dosages = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0]])
    obs = pd.DataFrame({"split": ["train", "train", "train", "train", "test", "train"],
                        "library_size": counts.sum(1)}, index=[f"c{i}" for i in range(6)])
    adata = ad.AnnData(X=sp.csr_matrix(counts), obs=obs)
    adata.obsm["dosages"] = sp.csr_matrix(dosages.astype(np.float32))
    return adata, counts


def test_shifts_are_single_treatment_means_minus_control_means_of_the_split():
    adata, counts = _prepared()
    shifts, n_cells = treatment_pseudobulk_shifts(adata, "train")
    logged = np.log1p(1e4 * counts / counts.sum(1, keepdims=True))
    control = logged[[0, 1]].mean(0)
    np.testing.assert_array_equal(n_cells, [1, 1, 0])   # the combination counts for neither
    np.testing.assert_allclose(shifts[0], logged[2] - control, rtol=1e-5)
    np.testing.assert_allclose(shifts[1], logged[5] - control, rtol=1e-5)  # test cell unused
    np.testing.assert_array_equal(shifts[2], 0.0)       # a row no training cell has alone


def test_backed_screen_gives_the_same_shifts_a_block_at_a_time(tmp_path, monkeypatch):
    import gpo_vae.data.rows as rows

    adata, _ = _prepared()
    expected = treatment_pseudobulk_shifts(adata, "train")
    adata.write_h5ad(tmp_path / "prepared.h5ad")
    monkeypatch.setattr(rows, "BLOCK_ROWS", 2)  # several blocks over five training cells
    backed = ad.read_h5ad(tmp_path / "prepared.h5ad", backed="r")
    shifts, n_cells = treatment_pseudobulk_shifts(backed, "train")
    np.testing.assert_array_equal(n_cells, expected[1])
    np.testing.assert_allclose(shifts, expected[0], rtol=1e-6, atol=1e-7)
