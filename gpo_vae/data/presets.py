"""Data presets: the schema of the authors' benchmark files, the simulator, or any file.

A preset fills in the schema keys a config leaves empty. ``adamson``, ``replogle_k562``
and ``rpe1`` follow the GPO-VAE authors' CausalBench-style files (``obs['gene']`` symbol,
``obs['gene_id']`` Ensembl id, ``non-targeting`` controls, ``var`` indexed by Ensembl id
with a ``gene_name`` column, or by symbols); ``simulated`` is ``gpo-vae simulate``'s
output; ``generic`` needs the perturbation column and control label spelled out.
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad

from gpo_vae.config import DataConfig
from gpo_vae.constants import SUMMARY_STATS_PRESETS
from gpo_vae.data.schema import PerturbationSchema
from gpo_vae.errors import ConfigError, InputDataError

#: Presets whose strong-perturbation filter reads published summary statistics.

_AUTHORS = dict(perturbation_key="gene", control_label="non-targeting", gene_id_key="gene_id")
_DEFAULTS = {
    "adamson": _AUTHORS,
    "replogle_k562": _AUTHORS,
    "rpe1": _AUTHORS,
    # the simulator labels double perturbations "A+B"
    "simulated": {**_AUTHORS, "gene_symbol_key": "gene_name", "combination_separator": "+"},
    "generic": {},
}


@dataclass(frozen=True)
class ResolvedSchema:
    """The schema to read a file with, after preset defaults and auto-detection."""

    schema: PerturbationSchema
    gene_id_key: str | None


def resolve_schema(cfg: DataConfig, adata: ad.AnnData | None = None) -> ResolvedSchema:
    """Fill unset schema keys from the preset; detect ``var['gene_name']`` in authors' files."""
    defaults = _DEFAULTS[cfg.preset]
    pick = lambda key: getattr(cfg, key) if getattr(cfg, key) is not None else defaults.get(key)  # noqa: E731
    perturbation_key = pick("perturbation_key")
    control_label = pick("control_label")
    if perturbation_key is None or control_label is None:
        missing = "data.perturbation_key" if perturbation_key is None else "data.control_label"
        raise ConfigError(
            f"{missing} must be set for preset {cfg.preset!r} (e.g. --set "
            f"{missing}={'target' if perturbation_key is None else 'non-targeting'})"
        )
    symbol_key = pick("gene_symbol_key")
    if symbol_key is None and cfg.preset in SUMMARY_STATS_PRESETS and adata is not None \
            and "gene_name" in adata.var.columns:
        symbol_key = "gene_name"  # authors' files: var indexed by Ensembl id
    gene_id_key = pick("gene_id_key")
    if gene_id_key is not None and adata is not None and gene_id_key not in adata.obs.columns:
        if cfg.gene_id_key is not None:  # asked for explicitly
            raise InputDataError(
                f"obs has no gene-id column {gene_id_key!r}; set data.gene_id_key to the right "
                "column or leave it empty"
            )
        gene_id_key = None
    return ResolvedSchema(
        schema=PerturbationSchema(
            perturbation_key=perturbation_key,
            control_label=control_label,
            counts_layer=cfg.counts_layer,
            gene_symbol_key=symbol_key,
            combination_separator=pick("combination_separator"),
        ),
        gene_id_key=gene_id_key,
    )
