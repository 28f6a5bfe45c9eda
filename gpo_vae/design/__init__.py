"""In-silico intervention design: which perturbations move cells toward a target."""

from gpo_vae.design.distance import DISTANCES, get_distance
from gpo_vae.design.search import DesignResult, DesignSettings, design_interventions
from gpo_vae.design.targets import (
    DesignTarget,
    TargetOptions,
    observed_ates,
    read_target_table,
    resolve_target,
    target_from_cells,
    target_from_gene_set,
    target_from_perturbation,
)

__all__ = [
    "DISTANCES",
    "DesignResult",
    "DesignSettings",
    "DesignTarget",
    "TargetOptions",
    "design_interventions",
    "get_distance",
    "observed_ates",
    "read_target_table",
    "resolve_target",
    "target_from_cells",
    "target_from_gene_set",
    "target_from_perturbation",
]
