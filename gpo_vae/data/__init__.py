"""Data: validation, preparation (QC, filters, splits, pairing) and loading of screens."""

from gpo_vae.data.schema import PerturbationSchema
from gpo_vae.data.validation import ValidationReport, validate_anndata

__all__ = ["PerturbationSchema", "ValidationReport", "validate_anndata"]
