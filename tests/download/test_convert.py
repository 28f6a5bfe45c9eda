"""The Papalexi conversion on a tiny synthetic sceptredata-like .rda (written without R:
rdata writes it, with a small unparser extension for the Matrix package's S4 dgCMatrix),
and the TRRUST conversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

rdata = pytest.importorskip("rdata")

from gpo_vae.download.convert import convert_papalexi, convert_trrust  # noqa: E402


class _DgC(sp.csc_matrix):
    """A csc matrix that rdata writes as an R dgCMatrix (rows = genes or guides)."""

    rows: list[str]
    cols: list[str]


def _dgc_to_r(matrix, converter):
    from rdata.conversion.to_r import build_r_object
    from rdata.parser import RObjectType

    attrs = {"i": matrix.indices.astype(np.int32), "p": matrix.indptr.astype(np.int32),
             "Dim": np.array(matrix.shape, dtype=np.int32),
             "Dimnames": [np.array(matrix.rows), np.array(matrix.cols)],
             "x": matrix.data.astype(float), "factors": [], "class": np.array(["dgCMatrix"])}
    return build_r_object(RObjectType.S4, is_object=True,
                          attributes=converter.convert_to_r_attributes(attrs))


def _s4_unparser(monkeypatch):
    """rdata cannot write S4 objects; an S4SXP is its header and its attributes."""
    import rdata.unparser as unparser
    from rdata.parser import RObjectType
    from rdata.unparser._unparser import pack_r_object_info

    class S4Unparser(unparser.UnparserXDR):
        def unparse_r_object(self, obj):
            if obj.info.type == RObjectType.S4:
                self.unparse_int(pack_r_object_info(obj.info))
                self.unparse_r_object(obj.attributes)
                return
            super().unparse_r_object(obj)

    monkeypatch.setattr(unparser, "UnparserXDR", S4Unparser)


def _matrix(values, rows, cols) -> _DgC:
    m = _DgC(np.array(values, dtype=float))
    m.rows, m.cols = rows, cols
    return m


def test_papalexi_conversion_matches_the_shared_layout(tmp_path, monkeypatch):
    import anndata as ad
    from rdata.conversion.to_r import DEFAULT_CLASS_MAP

    _s4_unparser(monkeypatch)
    cells = ["AAAC-1", "AAAG-1", "AACC-1", "AACG-1"]
    guides = ["STAT1g1", "STAT1g2", "NTg10", "NTg2"]
    data = {"lowmoi_example_data": {
        "response_matrix": _matrix([[1, 0, 3, 0], [0, 2, 0, 5], [4, 4, 0, 1]],
                                   ["STAT1", "GENE2", "GENE3"], cells),
        "grna_matrix": _matrix([[9, 0, 0, 1], [1, 0, 0, 0], [0, 7, 1, 0], [0, 1, 8, 3]],
                               guides, cells),
        "grna_target_data_frame": pd.DataFrame(
            {"grna_id": guides, "grna_target": ["STAT1", "STAT1", "non-targeting",
                                                "non-targeting"]}),
        "extra_covariates": pd.DataFrame(
            {"bio_rep": pd.Categorical(["rep_1", "rep_2", "rep_1", "rep_3"])}),
    }}
    rda = tmp_path / "lowmoi_example_data.rda"
    rdata.write_rda(rda, data, constructor_dict={**DEFAULT_CLASS_MAP, _DgC: _dgc_to_r})
    out = convert_papalexi(rda, tmp_path / "papalexi2021" / "p.h5ad")
    adata = ad.read_h5ad(out)
    assert adata.shape == (4, 3) and list(adata.var_names) == ["STAT1", "GENE2", "GENE3"]
    assert sp.issparse(adata.X) and adata.X.dtype == np.float32 and adata.X.format == "csr"
    np.testing.assert_array_equal(adata.X.toarray()[:, 0], [1, 0, 3, 0])
    assert list(adata.obs.columns) == ["grna", "grna_umi_max", "grna_umi_total", "frac_max",
                                       "target", "bio_rep"]
    assert list(adata.obs_names) == ["cell_0", "cell_1", "cell_2", "cell_3"]
    assert list(adata.obs["grna"]) == ["STAT1g1", "NTg10", "NTg2", "NTg2"]
    assert list(adata.obs["grna"].cat.categories) == ["NTg2", "NTg10", "STAT1g1"]
    assert list(adata.obs["target"]) == ["STAT1", "non-targeting", "non-targeting",
                                         "non-targeting"]
    np.testing.assert_allclose(adata.obs["grna_umi_total"], [10, 8, 9, 4])
    np.testing.assert_allclose(adata.obs["frac_max"], [0.9, 7 / 8, 8 / 9, 3 / 4])
    assert list(adata.obs["bio_rep"]) == ["rep_1", "rep_2", "rep_1", "rep_3"]
    assert adata.obsm["grna_counts"].shape == (4, 4)
    assert list(adata.uns["grna_names"]) == guides


def test_trrust_gets_a_header_and_three_columns(tmp_path):
    raw = tmp_path / "trrust_rawdata.human.tsv"
    raw.write_text("AATF\tBAX\tRepression\t22909821\nABL1\tBAX\tActivation\t11753601\n")
    out = convert_trrust(raw, tmp_path / "networks" / "trrust_human.tsv")
    frame = pd.read_csv(out, sep="\t")
    assert list(frame.columns) == ["tf", "target", "mode"] and len(frame) == 2
