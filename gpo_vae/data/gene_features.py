"""Features of genes that let a model speak about genes it has few or no cells for.

A perturbation model that only has one free parameter per perturbed gene can say nothing
about a gene it never saw perturbed. Features shared across genes can:

- ``pca``: the recipe of Ahlmann-Eltze, Huber & Anders (Nature Methods 2025): the top
  principal components of the training pseudobulk expression matrix (genes x training
  conditions, each condition centred over genes, not scaled). A gene's row says how it
  moves across the training conditions, which is measured for every gene in the data,
  perturbed or not; beside it the loadings of a PCA of the training cells (co-expression,
  the linear baseline's gene embedding);
- a user table of gene embeddings (CSV, TSV or parquet; genes x dimensions): a
  foundation model's gene embeddings, or perturbation profiles from another screen;
- a prior network (any edge list the evaluation reads): the mean feature row of each
  gene's neighbours, so a gene without features of its own borrows its neighbours'.

Every block is scaled to unit variance per column over the genes it covers, so no source
dominates by its units. Genes a source does not cover get zeros there (the blocks' mean).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gpo_vae.errors import InputFileError

logger = logging.getLogger(__name__)


def pca_gene_embedding(means: np.ndarray, gene_names: Sequence[str],
                       n_components: int = 10) -> pd.DataFrame:
    """Genes x ``n_components`` PCA embedding of a conditions x genes pseudobulk matrix.

    The matrix is taken as genes (observations) x conditions (variables), each condition
    centred over genes and not scaled, as Ahlmann-Eltze et al. do; the embedding is the
    genes' principal-component scores. Fewer components are returned when the matrix has
    fewer conditions.
    """
    matrix = np.asarray(means, dtype=np.float64).T                     # genes x conditions
    matrix = matrix - matrix.mean(axis=0, keepdims=True)
    k = int(max(0, min(n_components, matrix.shape[1] - 1, matrix.shape[0] - 1)))
    if k == 0:
        return pd.DataFrame(index=list(gene_names))
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)               # scipy-free, small
    scores = u[:, :k] * s[:k]
    return pd.DataFrame(scores, index=list(gene_names),
                        columns=[f"pca_{i}" for i in range(k)])


def cell_pca_embedding(expression, gene_names: Sequence[str], n_components: int = 10,
                       seed: int = 0) -> pd.DataFrame:
    """Genes x ``n_components`` loadings of a PCA of single cells (cells x genes,
    log-normalised; sparse stays sparse: scanpy centres implicitly). Co-expression across
    cells, natural variation included, says which genes move together, so a gene's
    loadings hint at what it regulates even if it was never perturbed (the gene embedding
    of the linear baseline, :class:`gpo_vae.evaluation.baselines.LinearBaseline`)."""
    import anndata as ad
    import scanpy as sc

    k = int(max(0, min(n_components, min(expression.shape) - 1)))
    if k == 0:
        return pd.DataFrame(index=list(gene_names))
    cells = ad.AnnData(X=expression.astype(np.float32))
    sc.pp.pca(cells, n_comps=k, random_state=seed)
    return pd.DataFrame(np.asarray(cells.varm["PCs"]), index=list(gene_names),
                        columns=[f"cell_pca_{i}" for i in range(k)])


def read_gene_table(path: str | Path) -> pd.DataFrame:
    """A genes x dimensions table: the first column (or the index of a parquet file)
    names the genes, the other columns are numbers."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"gene embedding file {path} does not exist; pass an existing CSV, "
                        "TSV or parquet file of genes x dimensions")
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
            if isinstance(table.index, pd.RangeIndex):
                table = table.set_index(table.columns[0])
        else:
            sep = "\t" if path.suffix in (".tsv", ".txt") else ","
            table = pd.read_csv(path, sep=sep, index_col=0)
    except (ValueError, OSError, ImportError) as exc:
        raise InputFileError(f"cannot read gene embedding file {path}: {exc}") from None
    table.index = table.index.astype(str)
    numeric = table.apply(pd.to_numeric, errors="coerce")
    if table.shape[1] == 0 or numeric.isna().to_numpy().any():
        raise InputFileError(f"gene embedding file {path} must hold a gene column followed by "
                        "numeric columns only, with no missing values")
    if table.index.duplicated().any():
        dup = table.index[table.index.duplicated()][0]
        raise InputFileError(f"gene embedding file {path} lists gene {dup!r} twice; keep one row "
                        "per gene")
    return numeric.astype(np.float64)


def neighbour_features(features: pd.DataFrame, edges: pd.DataFrame,
                       genes: Sequence[str]) -> pd.DataFrame:
    """Per gene of ``genes``, the mean feature row of its neighbours in ``edges`` (columns
    ``source``, ``target``; taken as undirected), over the neighbours that have one."""
    known = set(features.index)
    pairs = pd.concat([edges[["source", "target"]],
                       edges[["target", "source"]].set_axis(["source", "target"], axis=1)])
    pairs = pairs[pairs["target"].isin(known) & pairs["source"].isin(set(genes))]
    pairs = pairs.drop_duplicates()
    out = pd.DataFrame(0.0, index=list(genes),
                       columns=[f"net_{c}" for c in features.columns])
    if len(pairs):
        rows = features.loc[pairs["target"]].to_numpy()
        means = pd.DataFrame(rows, index=pairs["source"].to_numpy()).groupby(level=0).mean()
        out.loc[means.index] = means.to_numpy()
    return out


def standardised(block: pd.DataFrame) -> pd.DataFrame:
    """Columns centred and scaled to unit variance over the genes the block covers."""
    sd = block.std(axis=0, ddof=0).replace(0.0, 1.0)
    return (block - block.mean(axis=0)) / sd


def treatment_features(treatments: Sequence[str],
                       blocks: Sequence[pd.DataFrame]) -> tuple[np.ndarray, list[str]]:
    """The feature matrix (T x K, float32) of the treatment genes from ``blocks`` (each a
    genes x dims table) and the treatment genes no block covers.

    Each block is standardised over the genes it covers, then restricted to the treatment
    genes; genes a block misses get zeros there, the block's mean, so a model's map
    predicts its average for them rather than an arbitrary value.
    """
    treatments = [str(t) for t in treatments]
    parts, covered = [], np.zeros(len(treatments), dtype=bool)
    for block in blocks:
        if block.shape[1] == 0:
            continue
        block = standardised(block)
        hit = block.index.get_indexer(treatments)
        values = np.zeros((len(treatments), block.shape[1]))
        values[hit >= 0] = block.to_numpy()[hit[hit >= 0]]
        covered |= hit >= 0
        parts.append(values)
    matrix = np.hstack(parts) if parts else np.zeros((len(treatments), 0))
    missing = [t for t, c in zip(treatments, covered, strict=True) if not c]
    return matrix.astype(np.float32), missing


def warn_missing(missing: Sequence[str], n_total: int) -> None:
    """One log line naming the treatment genes without features."""
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        logger.warning("%d of %d treatment genes have no gene features (%s): their effects "
                       "are predicted as the average gene's where they have no cells",
                       len(missing), n_total, shown)


def coexpression_slopes(expression, own_columns: np.ndarray,
                        top_k: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The genes that move with each treatment gene across training cells, and how much.

    For each measured treatment gene g (``own_columns >= 0``, in that order) the slope of
    every other gene on g across the cells, ``cov(x_j, x_g) / var(x_g)`` (log1p scale), and
    the ``top_k`` largest in magnitude. The cells hold natural variation and the other
    perturbations' knock-on effects, so these slopes estimate what lowering g does
    downstream: the part of an unseen gene's effect its own knockdown implies
    (:class:`gpo_vae.models.features.OwnGeneEffect`). Written here because no library
    gives the slopes of a sparse matrix on chosen columns without densifying it.

    Parameters
    ----------
    expression
        Cells x genes, log1p-normalised (sparse or dense).
    own_columns
        (T,) gene column of each treatment gene, -1 where it is not measured.
    top_k
        Genes kept per treatment gene (at most the number of genes but one).

    Returns
    -------
    index, values
        (T_measured, k) gene columns and slopes; a gene's own column is never among them.
    """
    import scipy.sparse as sp

    columns = np.asarray(own_columns)[np.asarray(own_columns) >= 0]
    n_cells, n_genes = expression.shape
    k = int(max(0, min(top_k, n_genes - 1)))
    if columns.size == 0 or k == 0 or n_cells < 2:
        return np.zeros((columns.size, k), np.int64), np.zeros((columns.size, k), np.float32)
    mean = np.asarray(expression.mean(axis=0), dtype=np.float64).ravel()
    chosen = expression[:, columns]
    cross = expression.T @ chosen                                        # genes x T
    cross = np.asarray(cross.toarray() if sp.issparse(cross) else cross, dtype=np.float64)
    cov = cross / n_cells - np.outer(mean, mean[columns])
    var = cov[columns, np.arange(columns.size)]
    slopes = np.where(var > 0, cov / np.where(var > 0, var, 1.0), 0.0).T   # T x genes
    slopes[np.arange(columns.size), columns] = 0.0
    index = np.argpartition(-np.abs(slopes), k - 1, axis=1)[:, :k]
    values = np.take_along_axis(slopes, index, axis=1)
    return index.astype(np.int64), values.astype(np.float32)
