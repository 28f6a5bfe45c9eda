"""Predictions of a :class:`~gpo_vae.api.GpoVae`: treatment effects, generated cells,
latent representations, the dosage rows behind them."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae.api._common import as_conditions
from gpo_vae.errors import ConfigError, InputDataError


class PredictionMixin:
    """``predict_ate``, ``sample``, ``get_latent_representation`` and ``dosages``."""

    def predict_ate(self, conditions: str | Sequence[str], *, n_samples: int = 1000,
                    n_global: int = 20, seed: int = 0,
                    globals_: str | None = None) -> pd.DataFrame:
        """Predicted average treatment effects: mean "perturbseq" expression of generated
        perturbed cells minus that of generated control cells (of their decoded
        expression, or of counts sampled from it: the config's ``model.ate_decoding``).

        Parameters
        ----------
        conditions
            Perturbation labels: a treatment gene (``"G1"``) or a combination joined by
            the data's separator, ``+`` by default (``"G2+G3"``); one label or a list.
        n_samples, n_global
            Generated cells per condition and draws of the global variables among them.
        seed
            Random seed (the caller's random state is kept).
        globals_
            ``mean`` or ``sample`` (default: the config's ``model.predict_globals``).

        Returns
        -------
        DataFrame
            Conditions x genes (:meth:`predict_ate_with_error` also gives the Monte Carlo
            standard errors).
        """
        return self.predict_ate_with_error(conditions, n_samples=n_samples,
                                           n_global=n_global, seed=seed,
                                           globals_=globals_)[0]

    def predict_ate_with_error(self, conditions: str | Sequence[str], *,
                               n_samples: int = 1000, n_global: int = 20, seed: int = 0,
                               globals_: str | None = None
                               ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`predict_ate` (same parameters) and the Monte Carlo standard errors of
        its means: two DataFrames, conditions x genes."""
        from gpo_vae.evaluation.predict import model_ates

        conditions = as_conditions(conditions)
        return model_ates(self.module, self.dosages(conditions), conditions,
                          n_samples=n_samples, n_global=n_global, seed=seed,
                          globals_=globals_)

    def sample(self, conditions: str | Sequence[str], n_cells: int = 100, *, seed: int = 0,
               globals_: str | None = None) -> ad.AnnData:
        """Generated cells, ``n_cells`` per condition, in cell-eval's format.

        Returns
        -------
        AnnData
            log1p(1e4-normalised) expression in ``X``, ``obs['target_gene']`` (the
            condition), raw counts in ``layers['counts']``.
        """
        from gpo_vae.evaluation.predict import sample_cells
        from gpo_vae.evaluation.report import cell_eval_anndata

        conditions = as_conditions(conditions)
        if n_cells < 1:
            raise ConfigError(f"n_cells={n_cells} must be at least 1")
        dosages = np.repeat(self.dosages(conditions), n_cells, axis=0)
        counts = sample_cells(self.module, dosages, seed=seed, globals_=globals_)
        cells = cell_eval_anndata(counts, np.repeat(conditions, n_cells),
                            self.data_info.gene_names, "gpo_vae")
        cells.layers["counts"] = counts
        return cells

    def get_latent_representation(self, adata: ad.AnnData | None = None,
                                  batch_size: int = 1024) -> np.ndarray:
        """Mean of q(z_basal | x) for every cell of a prepared AnnData (default: the
        training data), cells x n_latent."""
        import torch

        from gpo_vae.data.dataset import PerturbationDataset

        adata = self.adata if adata is None else adata
        if adata is None:
            raise InputDataError("give the prepared AnnData: get_latent_representation(adata)")
        self._check_same_genes(adata)
        dataset = PerturbationDataset(adata)
        device = next(self.module.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                batch = dataset[list(range(start, min(start + batch_size, len(dataset))))]
                out.append(self.module.latent_mean(
                    {k: v.to(device) for k, v in batch.items()}).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.module.n_latent), np.float32)

    def dosages(self, conditions: str | Sequence[str]) -> np.ndarray:
        """Dosage rows (conditions x treatment genes) of perturbation labels (one label or
        a list of them)."""
        from gpo_vae.data.treatments import targets_of

        conditions = as_conditions(conditions)
        info = self.data_info
        column = {name: j for j, name in enumerate(info.treatment_names)}
        separator = info.combination_separator or "+"
        out = np.zeros((len(conditions), info.n_treatments), dtype=np.float32)
        for i, label in enumerate(conditions):
            for gene in targets_of(str(label), info.control_label, separator):
                if gene not in column:
                    shown = ", ".join(info.treatment_names[:8])
                    raise ConfigError(
                        f"{gene!r} is not a treatment gene of this model (it knows "
                        f"{info.n_treatments}: {shown}, ...); check the name, or label "
                        f"controls {info.control_label!r}")
                out[i, column[gene]] = 1.0
        return out

