"""The additive model of combinations: each treatment has an effect, a condition's effect
is the sum of its treatments' at their doses, fitted by least squares over every measured
condition (singles and combinations alike).

One home for the rule that GPO-VAE's predictions of unseen combinations use
(:func:`gpo_vae.evaluation.predict.composition`) and that the ``additive (fitted)``
baseline applies to the training means (:func:`gpo_vae.evaluation.baselines.
additive_fit_baseline`). A treatment measured alone and inside doubles is estimated from
all of them, where the plain additive baseline reads its single alone.
"""

from __future__ import annotations

import numpy as np


def additive_weights(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The (Q, R) weights that turn the effects of the measured ``rows`` (R, T dosage
    rows) into the least-squares additive prediction of each query row (Q, T): the
    treatments' effects are ``pinv(rows) @ values`` and a query's prediction is its doses
    times them. A treatment no row holds gets no effect (zero)."""
    columns = np.flatnonzero((rows != 0).any(0))
    rows = np.asarray(rows, np.float64)[:, columns]
    return np.asarray(queries, np.float64)[:, columns] @ np.linalg.pinv(rows)
