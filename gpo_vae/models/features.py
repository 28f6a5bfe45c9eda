"""Latent effect rows predicted from gene features: what lets the model speak about a
treatment gene it has few or no cells for.

Row t of the latent effect matrix is ``h(f_t) + free_t``: ``h`` a map from the gene's
features ``f_t`` (:mod:`gpo_vae.data.gene_features`), learned from every condition with
cells, and ``free_t = M_t * E_t`` the GRN part, which only a gene with training cells has.
A gene never seen in training is predicted by ``h`` alone; a gene without features gets
``h(0)``, the map's intercept: the average gene's effect, never a silent zero.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FeatureEffects(nn.Module):
    """``h(f) = f W + b`` for every treatment row (a linear map, like the linear
    baseline's, so it extrapolates no further than the features do).

    Parameters
    ----------
    features
        (T, K) feature rows of the treatment genes (K may be 0: then every row is the
        intercept).
    has_data
        (T,) whether a treatment has training cells (it then gets its free GRN part).
    n_effects
        Width of a latent effect row.
    """

    def __init__(self, features: Tensor, has_data: Tensor, n_effects: int):
        super().__init__()
        features = torch.as_tensor(features, dtype=torch.float32)
        self.register_buffer("features", features)
        self.register_buffer("has_data", torch.as_tensor(has_data, dtype=torch.bool))
        self.map = nn.Linear(features.shape[1], n_effects)
        nn.init.zeros_(self.map.bias)
        if features.shape[1]:
            nn.init.normal_(self.map.weight, std=0.01)

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    def forward(self) -> Tensor:
        """The feature-predicted rows, (T, n_effects)."""
        return self.map(self.features)


class OwnGeneEffect(nn.Module):
    """A perturbation acts on its own target first, and through it on the genes that move
    with the target: one learned shift ``w`` of the target gene's decoder logit per unit
    dosage, shared by every measured treatment gene, plus ``w * alpha * s_g`` on the
    genes downstream of target g (``s_g`` its co-expression slopes,
    :func:`gpo_vae.data.gene_features.coexpression_slopes`; ``alpha`` one learned scale).

    Learned from the perturbations with cells, it gives a gene never seen perturbed its
    most certain effect, its own knockdown (or activation), and what that knockdown
    implies for the genes that follow it across the training cells; the shared values
    are the screen's average, and the latent rows carry each seen gene's own deviation.

    Parameters
    ----------
    own_columns
        (T,) gene column of each treatment gene, -1 where it is not measured.
    init
        The starting shift (default 0); :func:`gpo_vae.models.builder.build_for_prepared`
        starts at the training data's median own-gene shift, which a scalar otherwise
        takes more steps than a demo run has to reach.
    downstream
        (index, values), each (T_measured, k): the k genes that move with each measured
        treatment gene and their slopes (None or k = 0: the own gene alone).
    alpha_init
        The starting scale of the downstream shifts (the builder fits it to the training
        shifts by least squares).
    """

    def __init__(self, own_columns: Tensor, init: float = 0.0,
                 downstream: tuple[Tensor, Tensor] | None = None, alpha_init: float = 0.0):
        super().__init__()
        columns = torch.as_tensor(own_columns, dtype=torch.int64)
        measured = columns >= 0
        self.register_buffer("treatments", measured.nonzero(as_tuple=True)[0], persistent=False)
        self.register_buffer("columns", columns[measured], persistent=False)
        self.weight = nn.Parameter(torch.tensor(float(init)))
        self.alpha = None
        if downstream is not None and downstream[0].shape[-1]:
            index, values = downstream
            self.register_buffer("downstream_index", torch.as_tensor(index, dtype=torch.int64))
            self.register_buffer("downstream_values",
                                 torch.as_tensor(values, dtype=torch.float32))
            self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))

    @property
    def n_downstream(self) -> int:
        return 0 if self.alpha is None else int(self.downstream_index.shape[-1])

    def forward(self, dosages: Tensor, n_genes: int) -> Tensor:
        """Logit shifts (N, G) of the dosage rows (N, T)."""
        measured = dosages[:, self.treatments]
        out = dosages.new_zeros((dosages.shape[0], n_genes))
        out = out.index_add(-1, self.columns, measured * self.weight)
        if self.alpha is None:
            return out
        # only the few non-zero dosages spread: a dense (N, T, k) product would not fit
        cells, rows = measured.nonzero(as_tuple=True)
        scale = measured[cells, rows] * self.weight * self.alpha
        shifts = scale[:, None] * self.downstream_values[rows]
        flat = (cells[:, None] * n_genes + self.downstream_index[rows]).reshape(-1)
        return out.reshape(-1).index_add(0, flat, shifts.reshape(-1)).reshape(out.shape)
