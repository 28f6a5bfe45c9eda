"""The user-facing model class, composed of small mixins (scvi-tools' layout): training,
prediction, GRN, design, save / load; the pure-torch module is in :mod:`gpo_vae.models`."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd

from gpo_vae.api._common import data_settings, resolve_config
from gpo_vae.api._design import DesignMixin
from gpo_vae.api._grn import GrnMixin
from gpo_vae.api._prediction import PredictionMixin
from gpo_vae.api._save_load import SaveLoadMixin
from gpo_vae.api._training import TrainingMixin
from gpo_vae.config import Config, config_from_dict, section_settings
from gpo_vae.constants import VAR_GENE_SYMBOL
from gpo_vae.errors import InputDataError
from gpo_vae.stats import seeded_torch

_MODEL_SECTIONS = ("model", "guide", "loss")


class GpoVae(TrainingMixin, PredictionMixin, GrnMixin, DesignMixin, SaveLoadMixin):
    """GPO-VAE on a prepared screen: a VAE whose latent perturbation effects form a gene
    regulatory network among the perturbed genes.

    Parameters
    ----------
    adata
        A prepared screen (:func:`prepare`).
    config
        A :class:`~gpo_vae.config.Config`, a nested dict or a YAML file (the ``gpo-vae
        train`` format) to start from; default: the package defaults (the ``anchored``
        variant).
    **settings
        Model, guide and loss settings by name, e.g. ``n_latent=32``, ``variant="authors"``,
        ``beta=0.1`` (a name two sections share is written ``"loss.beta"`` in ``config``).

    Attributes
    ----------
    module
        The :class:`~gpo_vae.models.module.GpoVaeModule` (generative model, guide, loss).
    history
        Per-epoch training and validation metrics after :meth:`train` (a DataFrame).
    run_dir
        The run folder of the last :meth:`train` / :meth:`save` / :meth:`load`, if any.

    Examples
    --------
    >>> model = gv.GpoVae(prepared, n_latent=32)                 # doctest: +SKIP
    >>> model.train(max_epochs=5)                                # doctest: +SKIP
    >>> model.predict_ate(["G1", "G2+G3"])                       # doctest: +SKIP
    """

    def __init__(self, adata: ad.AnnData | None, config=None, *, module=None, **settings):
        """``module``: a trained :class:`~gpo_vae.models.module.GpoVaeModule` to wrap
        (what :meth:`load` passes); ``config`` and ``settings`` then do not apply."""
        from gpo_vae.data.prepare import require_prepared
        from gpo_vae.models.builder import build_for_prepared

        if module is not None:           # a trained module (what load() passes)
            self.config: Config = module.config
        else:
            values = resolve_config(config)
            if adata is not None:
                require_prepared(adata, "GpoVae's adata")
                values = {**values, "data": {**values.get("data", {}),
                                             **data_settings(adata)}}
            for section, given in section_settings(settings, _MODEL_SECTIONS).items():
                values[section] = {**values.get(section, {}), **given}
            self.config = config_from_dict(values)
        # the first train() of a new model builds the module again after seeding
        # everything, exactly as `gpo-vae train` does, so the API and the command line
        # give the same model
        self._untrained = module is None
        if module is None and adata is not None:
            with seeded_torch(self.config.training.seed):
                module = build_for_prepared(self.config, adata)
        self.adata, self.module = adata, module
        self.history: pd.DataFrame | None = None
        self.run_dir: Path | None = None
        self._training_log: pd.DataFrame | None = None   # step-level metrics of train()
        if adata is not None and not self._untrained:
            self._check_same_genes(adata)

    def __repr__(self) -> str:
        if self.module is None:
            return "GpoVae(untrained, no data)"
        info = self.module.data_info
        return (f"GpoVae(variant={self.config.model.variant}, {info.n_genes} genes, "
                f"{info.n_treatments} treatment genes, n_latent={self.config.model.n_latent}, "
                f"trained={self.history is not None or self.run_dir is not None})")

    @property
    def data_info(self):
        return self.module.data_info

    def _check_same_genes(self, adata: ad.AnnData) -> None:
        from gpo_vae.data.prepare import require_prepared

        genes = require_prepared(adata).var[VAR_GENE_SYMBOL].astype(str).tolist()
        if genes != list(self.data_info.gene_names):
            raise InputDataError("this AnnData's genes differ from the model's; use data "
                                 "prepared like the training data")

