"""Data: validation of Perturb-seq AnnData files (and, later, preprocessing and loading)."""

from gpo_vae.data.schema import PerturbationSchema, ValidationReport, validate_anndata

__all__ = ["PerturbationSchema", "ValidationReport", "validate_anndata"]
