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
    :func:`gpo_vae.data.gene_features.coexpression_slopes`; ``alpha`` one scale).

    Learned from the perturbations with cells, it gives a gene never seen perturbed its
    most certain effect, its own knockdown (or activation), and what that knockdown
    implies for the genes that follow it across the training cells; the shared values
    are the screen's average, and the latent rows carry each seen gene's own deviation.

    ``alpha`` is fitted to the training shifts when the model is built and then kept:
    trained by gradient with the rest, the latent rows of the seen genes explain their
    shifts and the shared scale drifted to nothing (0.52 to 0.03 on the demo, and the
    unseen perturbations' Pearson top-20 from 0.78 to 0.69; docs/results.md). The spread
    acts on the treatments without training cells only (``spread_to``): a gene with
    cells has its latent row anchored to its own shifts, and a fixed spread there only
    had to be undone (it cost 0.017 against the group mean on the Papalexi screen).

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
        The scale of the downstream shifts (the builder fits it to the training shifts by
        least squares).
    spread_to
        (T,) bool: the treatments whose shift spreads downstream (default all; the
        builder gives those without training cells).
    """

    def __init__(self, own_columns: Tensor, init: float = 0.0,
                 downstream: tuple[Tensor, Tensor] | None = None, alpha_init: float = 0.0,
                 spread_to: Tensor | None = None):
        super().__init__()
        columns = torch.as_tensor(own_columns, dtype=torch.int64)
        measured = columns >= 0
        self.register_buffer("treatments", measured.nonzero(as_tuple=True)[0], persistent=False)
        self.register_buffer("columns", columns[measured], persistent=False)
        self.weight = nn.Parameter(torch.tensor(float(init)))
        if downstream is not None and downstream[0].shape[-1]:
            index, values = downstream
            self.register_buffer("downstream_index", torch.as_tensor(index, dtype=torch.int64))
            self.register_buffer("downstream_values",
                                 torch.as_tensor(values, dtype=torch.float32))
            # fitted, not learned: see the class docstring
            self.register_buffer("alpha", torch.tensor(float(alpha_init)))
            spread = torch.ones(columns.shape[0]) if spread_to is None \
                else torch.as_tensor(spread_to, dtype=torch.float32)
            self.register_buffer("spread", spread[measured], persistent=False)
        else:
            self.alpha = None

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
        spreading = measured * self.spread
        cells, rows = spreading.nonzero(as_tuple=True)
        scale = spreading[cells, rows] * self.weight * self.alpha
        shifts = scale[:, None] * self.downstream_values[rows]
        flat = (cells[:, None] * n_genes + self.downstream_index[rows]).reshape(-1)
        return out.reshape(-1).index_add(0, flat, shifts.reshape(-1)).reshape(out.shape)


class LinearResponse(nn.Module):
    """The linear baseline inside the decoder: a treatment shifts the logits by
    ``b + G W p_t`` per unit dosage, with ``G`` (genes x K) the genes' co-expression
    embedding, ``p_t`` its target gene's row of ``G`` and ``W`` (K x K) and ``b`` the
    ridge fit to the training shifts, kept fixed as ``alpha`` of :class:`OwnGeneEffect`
    is (trained with the rest they drift the same way). Like that spread it acts on the
    treatments without training cells only (``applies_to``).

    This is the model of Ahlmann-Eltze, Huber & Anders (2025), which no deep model beat on
    unseen perturbations there; here the latent pathway and the own-gene effect add to
    it, and the free latent rows of seen genes correct it. A treatment gene that is not
    measured has ``p_t = 0`` and gets ``b``, the average effect.

    Parameters
    ----------
    gene_embedding
        (G, K) embedding of the measured genes.
    treatment_embedding
        (T, K) embedding of each treatment's target gene (zeros where not measured).
    weights, offset
        ``W`` (K, K) and ``b`` (G,): the ridge fit to the training shifts
        (:func:`gpo_vae.models.treatment_shifts.linear_response_init`).
    applies_to
        (T,) bool: the treatments it acts on (default all; the builder gives those
        without training cells).
    """

    def __init__(self, gene_embedding: Tensor, treatment_embedding: Tensor,
                 weights: Tensor, offset: Tensor, applies_to: Tensor | None = None):
        super().__init__()
        applies = torch.ones(treatment_embedding.shape[0]) if applies_to is None \
            else torch.as_tensor(applies_to, dtype=torch.float32)
        self.register_buffer("applies", applies, persistent=False)
        self.register_buffer("gene_embedding", torch.as_tensor(gene_embedding,
                                                               dtype=torch.float32))
        self.register_buffer("treatment_embedding", torch.as_tensor(treatment_embedding,
                                                                    dtype=torch.float32))
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))

    def forward(self, dosages: Tensor, n_genes: int) -> Tensor:
        """Logit shifts (N, G) of the dosage rows (N, T)."""
        dosages = dosages * self.applies
        embedded = dosages @ self.treatment_embedding                    # (N, K)
        return (embedded @ self.weights.T) @ self.gene_embedding.T + \
            dosages.sum(-1, keepdim=True) * self.offset

