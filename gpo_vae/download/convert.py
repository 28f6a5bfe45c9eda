"""Turning a downloaded file into the file the configs read: one member of an archive,
or a conversion (the Papalexi screen from R's .rda to h5ad, the networks to the
tab-separated edge lists the GRN evaluation reads). Every output is written atomically.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gpo_vae.errors import InputFileError
from gpo_vae.io import atomic_path, write_h5ad_atomic

#: The Papalexi screen's label of control cells, as the configs expect it.
CONTROL = "non-targeting"


def extract_member(archive: Path, member: str, out: Path) -> Path:
    """Copy the archive member whose file name is ``member`` (in any folder of a .tar.gz
    or .zip) to ``out``, atomically."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            names = [n for n in handle.namelist() if Path(n).name == member]
            if names:
                with handle.open(names[0]) as src, atomic_path(out) as tmp, \
                        open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return out
    else:
        with tarfile.open(archive) as handle:
            for info in handle:
                if info.isfile() and Path(info.name).name == member:
                    src = handle.extractfile(info)
                    with atomic_path(out) as tmp, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    return out
    raise InputFileError(f"{archive.name} holds no file {member!r}; the source changed: "
                         f"fetch {member} by hand and put it at {out}")


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _matrix(value, what: str) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """An R matrix as read by ``rdata`` (a Matrix-package dgC/dgT/dgR S4 object, or a
    dense matrix) as (CSR rows x columns, row names, column names)."""
    if hasattr(value, "Dim"):  # S4 object of the Matrix package
        shape = tuple(int(d) for d in np.asarray(value.Dim))
        data = np.asarray(getattr(value, "x", None) if hasattr(value, "x") else [])
        if hasattr(value, "p") and hasattr(value, "i"):
            data = data if data.size else np.ones(len(value.i))
            m = sp.csc_matrix((data, np.asarray(value.i), np.asarray(value.p)), shape=shape)
        elif hasattr(value, "p") and hasattr(value, "j"):
            data = data if data.size else np.ones(len(value.j))
            m = sp.csr_matrix((data, np.asarray(value.j), np.asarray(value.p)), shape=shape)
        elif hasattr(value, "i") and hasattr(value, "j"):
            data = data if data.size else np.ones(len(value.i))
            m = sp.coo_matrix((data, (np.asarray(value.i), np.asarray(value.j))), shape=shape)
        else:
            raise InputFileError(f"{what} is an R matrix class this converter does not know "
                                 "(expected dgCMatrix, dgRMatrix or dgTMatrix)")
        rows, cols = (list(value.Dimnames) + [None, None])[:2]
    else:  # dense: an xarray.DataArray with dimnames, or a plain array
        m = sp.csr_matrix(np.asarray(value))
        coords = list(getattr(value, "coords", {}).values())
        rows, cols = (coords[0].values, coords[1].values) if len(coords) >= 2 else (None, None)
    rows = np.asarray(rows if rows is not None else [f"row_{i}" for i in range(m.shape[0])])
    cols = np.asarray(cols if cols is not None else [f"col_{i}" for i in range(m.shape[1])])
    return sp.csr_matrix(m), rows.astype(str), cols.astype(str)


def papalexi_obs(grna: sp.csr_matrix, guides: np.ndarray, guide_target: dict,
                 bio_rep) -> pd.DataFrame:
    """Per-cell guide calls of a low-MOI screen: the guide with most UMIs, its target,
    and the counts the call rests on (cells x guides counts in ``grna``)."""
    umi_max = np.asarray(grna.max(axis=1).todense()).ravel().astype("float64")
    umi_total = np.asarray(grna.sum(axis=1)).ravel().astype("float64")
    best = guides[np.asarray(grna.argmax(axis=1)).ravel()]
    target = [guide_target.get(g, CONTROL) for g in best]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(umi_total > 0, umi_max / umi_total, 0.0)
    categorical = lambda v: pd.Categorical(v, categories=sorted(set(v), key=_natural_key))  # noqa: E731
    return pd.DataFrame({
        "grna": categorical(list(best)), "grna_umi_max": umi_max,
        "grna_umi_total": umi_total, "frac_max": frac,
        "target": categorical(target), "bio_rep": categorical([str(r) for r in bio_rep]),
    }, index=[f"cell_{i}" for i in range(grna.shape[0])])


def _target_map(frame: pd.DataFrame) -> dict:
    ids, targets = frame["grna_id"].astype(str), frame["grna_target"]
    out = {}
    for guide, target in zip(ids, targets, strict=True):
        label = str(target) if isinstance(target, str) else ""
        out[guide] = CONTROL if label.lower() in {"", "non-targeting", "nt", "nan"} else label
    return out


def convert_papalexi(rda: Path, out: Path) -> Path:
    """sceptredata's ``lowmoi_example_data`` (Papalexi 2021) as the h5ad the Papalexi
    configs read: raw counts (cells x genes, CSR float32) in X, gene symbols as
    ``var_names``, ``obs['target']`` (``non-targeting`` for control cells), ``grna``,
    ``bio_rep`` and the guide-call counts, ``obsm['grna_counts']`` (cells x guides).

    Examples
    --------
    >>> convert_papalexi(Path("lowmoi_example_data.rda"),
    ...                  Path("datasets/papalexi2021/x.h5ad"))  # doctest: +SKIP
    """
    import anndata as ad
    import rdata

    try:
        with warnings.catch_warnings():  # the Matrix package's S4 classes: read below
            warnings.filterwarnings("ignore", message="Missing constructor for R class")
            data = rdata.read_rda(str(rda))["lowmoi_example_data"]
        response, genes, cells = _matrix(data["response_matrix"], "response_matrix")
        grna, guides, _ = _matrix(data["grna_matrix"], "grna_matrix")
        targets = _target_map(data["grna_target_data_frame"])
        bio_rep = np.asarray(data["extra_covariates"]["bio_rep"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputFileError(f"{rda.name} is not sceptredata's lowmoi_example_data as "
                             f"expected ({type(exc).__name__}: {str(exc)[:80]}); the "
                             "package changed: convert it by hand (docs/data.md)") from None
    if grna.shape[1] != response.shape[1] or len(bio_rep) != response.shape[1]:
        raise InputFileError(f"{rda.name}: the response, gRNA and covariate tables disagree "
                             "on the number of cells; convert it by hand (docs/data.md)")
    grna_counts = sp.csr_matrix(grna.T, dtype=np.float32)
    obs = papalexi_obs(grna_counts, guides, targets, bio_rep)
    adata = ad.AnnData(X=sp.csr_matrix(response.T, dtype=np.float32), obs=obs,
                       var=pd.DataFrame(index=pd.Index(genes)))
    adata.obsm["grna_counts"] = grna_counts
    adata.uns["grna_names"] = np.asarray(guides, dtype=object)
    del cells  # sceptredata's cell barcodes are not kept (cells are cell_0, cell_1, ...)
    return write_h5ad_atomic(adata, out)


def _write_tsv(frame: pd.DataFrame, out: Path) -> Path:
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)
    return out


def convert_trrust(raw: Path, out: Path) -> Path:
    """TRRUST's header-less raw table (TF, target, mode, PubMed ids) as ``tf``,
    ``target``, ``mode``."""
    frame = pd.read_csv(raw, sep="\t", header=None, usecols=[0, 1, 2],
                        names=["tf", "target", "mode"], dtype=str)
    return _write_tsv(frame, out)


def convert_dorothea(rda: Path, out: Path) -> Path:
    """DoRothEA's human regulons (``dorothea_hs``), confidence A to C, as ``tf``,
    ``confidence``, ``target``, ``mor``."""
    import rdata

    frame = pd.DataFrame(rdata.read_rda(str(rda))["dorothea_hs"])
    frame = frame[frame["confidence"].astype(str).isin(["A", "B", "C"])]
    return _write_tsv(frame[["tf", "confidence", "target", "mor"]], out)


def convert_beeline_string(archive: Path, out: Path) -> Path:
    """BEELINE's human STRING network (``Networks/human/STRING-network.csv`` in
    BEELINE-Networks.zip) as a tab-separated ``Gene1``, ``Gene2`` list."""
    with zipfile.ZipFile(archive) as handle:
        names = [n for n in handle.namelist()
                 if n.endswith("STRING-network.csv") and "/human/" in n]
        if not names:
            raise InputFileError(f"{archive.name} holds no human STRING-network.csv; fetch "
                                 "it by hand (docs/data.md)")
        with handle.open(names[0]) as src:
            frame = pd.read_csv(src)
    return _write_tsv(frame[["Gene1", "Gene2"]], out)


CONVERTERS = {"papalexi": convert_papalexi, "trrust": convert_trrust,
              "dorothea": convert_dorothea, "beeline_string": convert_beeline_string}
