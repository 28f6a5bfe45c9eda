"""Model-free baselines and the split-half ceiling, scored on the same test cells as the
model.

- per-perturbation training mean: the perturbation's ATE measured on training cells
  (undefined for perturbations without training cells);
- global training mean: the average training ATE over all training perturbations, the
  same prediction for every perturbation;
- additive (combinations only): the sum of the single perturbations' training ATEs;
- linear: ridge regression on gene embeddings from a PCA of the training cells, in the
  style of Ahlmann-Eltze, Huber & Anders (2025); a perturbation is embedded by its
  target genes' embeddings, so unseen perturbations of measured genes get a prediction;
- split-half ceiling: the test cells (and test controls) cut in two random halves, one
  half's ATE scored against the other's: how well any predictor can agree with noisy
  test data of this size. Each half holds half the cells, so this understates what a
  perfect predictor reaches against all test cells; ``noise_free_pearson`` corrects the
  Pearson metrics for that (Spearman-Brown), reported as ``ceiling_noise_free``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpo_vae.evaluation.ate import AteTable, ate_from_cells
from gpo_vae.evaluation.metrics import score_ates
from gpo_vae.stats import bilinear_ridge


def pert_mean_baseline(train: AteTable, perturbations: Sequence[str]) -> pd.DataFrame:
    """Training ATE of each perturbation (NaN rows for perturbations unseen in training)."""
    return train.rows(perturbations)


def global_mean_baseline(train: AteTable, perturbations: Sequence[str]) -> pd.DataFrame:
    """The mean training ATE (perturbations weighted equally), repeated for each row."""
    mean = train.values.mean(axis=0).to_numpy()
    return pd.DataFrame(np.tile(mean, (len(perturbations), 1)), index=list(perturbations),
                        columns=train.values.columns)


@dataclass
class LinearBaseline:
    """ATE = b + G W p: G gene embeddings (genes x K) from a PCA of training cells, p the
    sum of the perturbation's target genes' rows of G (zero for unmeasured targets), b
    the mean training ATE, and W (K x K) from the closed-form ridge solution
    W = (G'G + lam I)^-1 G' (Y - b) P (P'P + lam I)^-1 over the training perturbations."""

    gene_embedding: np.ndarray
    weights: np.ndarray
    offset: np.ndarray
    gene_names: list[str]
    targets_of: Callable[[str], list[str]]

    @classmethod
    def fit(cls, train_expression, train: AteTable, targets_of: Callable[[str], list[str]],
            n_components: int = 10, ridge: float = 0.1, seed: int = 0) -> LinearBaseline:
        """Fit on transformed training cells (sparse is fine) and training ATEs."""
        from gpo_vae.data.gene_features import cell_pca_embedding

        gene_names = list(train.values.columns)
        n_components = int(max(1, min(n_components, min(train_expression.shape) - 1)))
        loadings = cell_pca_embedding(train_expression, gene_names, n_components, seed) \
            .to_numpy(dtype=np.float64)
        # unit variance per component across genes so the ridge penalty is scale-free
        scale = loadings.std(axis=0)
        embedding = loadings / np.where(scale > 0, scale, 1.0)
        model = cls(embedding, np.zeros((n_components, n_components)),
                    train.values.mean(axis=0).to_numpy(), gene_names, targets_of)
        y = (train.values.to_numpy() - model.offset).T                 # genes x n
        p = model.perturbation_embedding(list(train.values.index))      # n x K
        model.weights = bilinear_ridge(embedding, y, p, ridge)
        return model

    def perturbation_embedding(self, perturbations: Sequence[str]) -> np.ndarray:
        position = {g: i for i, g in enumerate(self.gene_names)}
        out = np.zeros((len(perturbations), self.gene_embedding.shape[1]))
        for row, name in enumerate(perturbations):
            for gene in self.targets_of(name):
                if gene in position:
                    out[row] += self.gene_embedding[position[gene]]
        return out

    def predict(self, perturbations: Sequence[str]) -> pd.DataFrame:
        p = self.perturbation_embedding(perturbations)
        values = self.offset + (self.gene_embedding @ self.weights @ p.T).T
        return pd.DataFrame(values, index=list(perturbations), columns=self.gene_names)


def split_half_ceiling(expression, labels: np.ndarray, control_label: str,
                       gene_names: Sequence[str], perturbations: Sequence[str],
                       n_repeats: int = 5, seed: int = 0,
                       de: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-perturbation scores of one random half of the cells against the other half,
    averaged over ``n_repeats`` cuts. Controls are halved too, so the halves share no
    cells. Perturbations with fewer than 2 cells per half get NaN. ``de`` (the DE genes
    of all the cells) gives the DE-aware metrics a ceiling too."""
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(seed)
    perturbations = list(perturbations)
    runs = []
    for _ in range(n_repeats):
        half = np.empty(labels.size, dtype=np.int8)
        # a balanced cut within every label: shuffle, then alternate 0/1 by rank
        order = rng.permutation(labels.size)
        rank = pd.Series(labels[order]).groupby(labels[order]).cumcount().to_numpy()
        half[order] = rank % 2
        tables = [ate_from_cells(expression[half == h], labels[half == h], control_label,
                                 gene_names, perturbations, min_cells=2) for h in (0, 1)]
        runs.append(score_ates(tables[0].rows(perturbations), tables[1].rows(perturbations),
                               de=de))
    return sum(runs) / len(runs)


def noise_free_pearson(split_half: pd.DataFrame) -> pd.DataFrame:
    """Pearson a noise-free predictor would reach against the ATEs of all test cells,
    from the split-half Pearson r: the full set's reliability is the Spearman-Brown
    2r / (1 + r), and the truth correlates with the data by its square root. Only the
    Pearson columns are defined; the others are NaN."""
    out = pd.DataFrame(np.nan, index=split_half.index, columns=split_half.columns)
    for column in [c for c in split_half.columns if c.startswith("pearson")]:
        r = split_half[column].clip(lower=0.0)
        out[column] = np.sqrt(2 * r / (1 + r))
    return out


def additive_baseline(train: AteTable, perturbations: Sequence[str],
                      separator: str = "+") -> pd.DataFrame:
    """The sum of the single perturbations' training ATEs for each combination.

    On double perturbations this simple rule matched or beat every deep model in the
    independent benchmarks (Ahlmann-Eltze, Huber & Anders 2025), so a model's
    combination predictions are only worth their cost where they beat it.

    Parameters
    ----------
    train
        Training ATEs; the singles of each combination are looked up here.
    perturbations
        The perturbations to predict; ``"A+B"`` is the combination of ``A`` and ``B``
        (``separator`` splits the label), a single label is its own training ATE.
    separator
        What joins the genes of a combination label.

    Returns
    -------
    DataFrame
        One row per perturbation; NaN where a single is missing from ``train``.
    """
    values = train.values
    rows = []
    for label in perturbations:
        parts = [p for p in str(label).split(separator) if p]
        if parts and all(p in values.index for p in parts):
            rows.append(values.loc[parts].to_numpy(float).sum(axis=0))
        else:
            rows.append(np.full(values.shape[1], np.nan))
    return pd.DataFrame(np.vstack(rows) if rows else np.empty((0, values.shape[1])),
                        index=list(perturbations), columns=values.columns)


def additive_fit_baseline(train: AteTable, perturbations: Sequence[str],
                          separator: str = "+") -> pd.DataFrame:
    """Each treatment's effect fitted over every training condition that holds it (singles
    and combinations, least squares: :mod:`gpo_vae.stats.additive`), summed for each
    combination.

    The additive rule with all the data: a treatment measured alone and inside doubles
    is read from all of them, where :func:`additive_baseline` reads its single alone. It
    is what GPO-VAE's prediction of an unseen combination does with the model's own
    effects (:func:`gpo_vae.evaluation.predict.composition`), as a model-free baseline.

    Returns
    -------
    DataFrame
        One row per perturbation; NaN where a treatment is in no training condition.
    """
    from gpo_vae.stats.additive import additive_weights

    values = train.values
    treatments = sorted({p for label in values.index for p in str(label).split(separator)
                         if p} | {p for label in perturbations
                                  for p in str(label).split(separator) if p})
    column = {t: j for j, t in enumerate(treatments)}

    def design(labels) -> np.ndarray:
        out = np.zeros((len(labels), len(treatments)))
        for i, label in enumerate(labels):
            out[i, [column[p] for p in str(label).split(separator) if p]] = 1.0
        return out

    measured, queries = design(values.index), design(perturbations)
    predicted = additive_weights(measured, queries) @ values.to_numpy(float)
    unknown = (queries[:, ~(measured != 0).any(0)] != 0).any(1)
    predicted[unknown] = np.nan
    return pd.DataFrame(predicted, index=list(perturbations), columns=values.columns)
