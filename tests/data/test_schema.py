"""Validation must accept good screens and reject each kind of broken input clearly."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gpo_vae.data.schema import PerturbationSchema
from gpo_vae.data.validation import validate_anndata
from gpo_vae.errors import GpoVaeError, InputDataError
from gpo_vae.simulation import SIMULATED_SCHEMA


def _tiny(X=None, labels=("non-targeting", "A", "A", "B"), genes=("g1", "g2", "g3")):
    X = np.array([[1, 0, 3], [0, 2, 1], [5, 0, 0], [1, 1, 1]], dtype=np.float32) if X is None else X
    return ad.AnnData(
        X=sp.csr_matrix(X) if not sp.issparse(X) and isinstance(X, np.ndarray) else X,
        obs=pd.DataFrame({"gene": list(labels)}, index=[f"c{i}" for i in range(len(labels))]),
        var=pd.DataFrame(index=list(genes)),
    )


def _message(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text, "error messages must be one line"
    return text


def test_simulated_screen_is_valid(small_screen):
    report = validate_anndata(small_screen, SIMULATED_SCHEMA)
    assert report.n_cells == small_screen.n_obs
    assert report.n_perturbations == len(small_screen.uns["perturbations"])
    assert report.n_control_cells == int((small_screen.obs["gene"] == "non-targeting").sum())
    assert sum(report.cells_per_perturbation.values()) + report.n_control_cells == report.n_cells


def test_dense_and_integer_matrices_are_accepted():
    dense = _tiny(X=np.array([[1, 0, 3], [0, 2, 1], [5, 0, 0], [1, 1, 1]], dtype=np.int64))
    dense.X = np.asarray(dense.X.toarray())
    assert validate_anndata(dense).n_perturbations == 2


def test_missing_perturbation_column():
    adata = _tiny()
    adata.obs["condition"] = adata.obs.pop("gene")
    with pytest.raises(InputDataError) as exc:
        validate_anndata(adata)
    msg = _message(exc)
    assert "'gene'" in msg and "data.perturbation_key" in msg and "'condition'" in msg


def test_no_control_cells():
    with pytest.raises(InputDataError) as exc:
        validate_anndata(_tiny(labels=("ctrl", "A", "A", "B")))
    msg = _message(exc)
    assert "no control cells" in msg and "'ctrl'" in msg and "data.control_label" in msg


def test_only_control_cells():
    with pytest.raises(InputDataError, match="every cell is a control"):
        validate_anndata(_tiny(labels=("non-targeting",) * 4))


def test_missing_labels():
    adata = _tiny()
    adata.obs["gene"] = pd.Series(["non-targeting", None, "A", "B"], index=adata.obs_names)
    with pytest.raises(InputDataError, match="1 cells have no label"):
        validate_anndata(adata)


@pytest.mark.parametrize(
    "value, expected",
    [(-1.0, "negative values"), (0.5, "non-integer values"), (np.nan, "NaN or infinite"),
     (np.inf, "NaN or infinite")],
)
def test_bad_count_values(value, expected):
    X = np.array([[1, 0, 3], [0, 2, 1], [5, 0, 0], [1, 1, 1]], dtype=np.float32)
    X[1, 2] = value
    for matrix in (sp.csr_matrix(X), X):
        adata = _tiny(X=matrix)
        with pytest.raises(InputDataError) as exc:
            validate_anndata(adata)
        assert expected in _message(exc)


def test_log_normalised_data_is_named_as_such(small_copy):
    import scanpy as sc

    sc.pp.normalize_total(small_copy, target_sum=1e4)
    sc.pp.log1p(small_copy)
    with pytest.raises(InputDataError) as exc:
        validate_anndata(small_copy, SIMULATED_SCHEMA)
    assert "it looks log1p-normalised" in _message(exc)


def test_counts_in_a_named_layer(small_copy):
    small_copy.layers["counts"] = small_copy.X.copy()
    small_copy.X = small_copy.X.multiply(0.5).tocsr()  # X no longer holds counts
    schema = PerturbationSchema(gene_symbol_key="gene_name", counts_layer="counts")
    assert validate_anndata(small_copy, schema).n_cells == small_copy.n_obs
    with pytest.raises(InputDataError, match="non-integer"):
        validate_anndata(small_copy, SIMULATED_SCHEMA)
    with pytest.raises(InputDataError) as exc:
        validate_anndata(small_copy, PerturbationSchema(counts_layer="raw"))
    assert "'raw' not found" in _message(exc) and "'counts'" in _message(exc)


def test_duplicate_gene_names():
    with pytest.raises(InputDataError) as exc:
        validate_anndata(_tiny(genes=("g1", "g2", "g1")))
    assert "duplicated (g1)" in _message(exc) and "var_names_make_unique" in _message(exc)


def test_duplicate_symbols_in_a_column(small_copy):
    small_copy.var.loc[small_copy.var_names[:2], "gene_name"] = "SAME"
    with pytest.raises(InputDataError, match="duplicated"):
        validate_anndata(small_copy, SIMULATED_SCHEMA)
    with pytest.raises(InputDataError, match="no column 'symbol'"):
        validate_anndata(small_copy, PerturbationSchema(gene_symbol_key="symbol"))


def test_empty_anndata():
    adata = _tiny()[:0].copy()
    with pytest.raises(InputDataError, match="empty"):
        validate_anndata(adata)


def test_errors_share_one_family():
    assert issubclass(InputDataError, GpoVaeError)


def test_bare_number_gene_names_and_unmeasured_targets_are_warned_about(small_copy):
    from gpo_vae.data.schema import PerturbationSchema
    from gpo_vae.data.validation import validate_anndata

    small_copy.var_names = [str(i) for i in range(small_copy.n_vars)]
    report = validate_anndata(small_copy, PerturbationSchema())
    assert any("bare numbers" in w for w in report.warnings)
    assert any("no perturbed gene is among the measured genes" in w for w in report.warnings)


def _log1p_normalised(counts, total=1e4):
    rows = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    return np.log1p(np.asarray(counts, dtype=np.float64) * (total / rows)[:, None])


def test_expression_scale_tells_counts_log1p_normalised_and_other_apart():
    from gpo_vae.data.schema import COUNTS, LOG1P_NORMALISED, OTHER_SCALE, expression_scale

    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(300, 50)).astype(np.float32) + np.eye(300, 50)
    assert expression_scale(counts) == COUNTS
    assert expression_scale(sp.csr_matrix(counts)) == COUNTS
    logged = _log1p_normalised(counts).astype(np.float32)
    assert expression_scale(logged) == LOG1P_NORMALISED
    assert expression_scale(sp.csr_matrix(logged)) == LOG1P_NORMALISED
    assert expression_scale(_log1p_normalised(counts, 1e6)) == LOG1P_NORMALISED
    assert expression_scale(logged[:, :40]) == OTHER_SCALE      # normalised over other genes
    assert expression_scale(counts / counts.sum(1, keepdims=True) * 1e4) == OTHER_SCALE
    assert expression_scale(logged - logged.mean(0)) == OTHER_SCALE   # centred: negatives
    assert expression_scale(np.full((3, 4), np.nan)) == OTHER_SCALE


def test_as_count_scale_undoes_log1p_up_to_a_factor_per_cell():
    from gpo_vae.data.schema import as_count_scale

    rng = np.random.default_rng(1)
    counts = rng.poisson(3.0, size=(40, 30)).astype(np.float64) + 1
    back, scale = as_count_scale(sp.csr_matrix(_log1p_normalised(counts)))
    assert scale == "log1p_normalised"
    ratio = back.toarray() / counts
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-9)
    same, scale = as_count_scale(counts)
    assert scale == "counts" and same is counts
    with pytest.raises(InputDataError, match="^the cells' X holds neither raw counts"):
        as_count_scale(-counts, "the cells' X")
