"""The learned gene regulatory network outside the model: export to files other tools read
(:mod:`~gpo_vae.grn.export`) and bootstrap stability of its edges
(:mod:`~gpo_vae.grn.stability`). The posterior over edges itself, q(M), is read from the
module by :func:`gpo_vae.models.grn.learned_grn`, which the evaluation uses too."""

from gpo_vae.grn.export import export_grn, grn_heatmap_figure
from gpo_vae.grn.stability import GrnStability, bootstrap_training_cells, grn_stability
from gpo_vae.models.grn import LearnedGrn, learned_grn

__all__ = ["GrnStability", "LearnedGrn", "bootstrap_training_cells", "export_grn",
           "grn_heatmap_figure", "grn_stability", "learned_grn"]
