"""The learned gene regulatory network of a :class:`~gpo_vae.api.GpoVae`: edges, heatmap,
bootstrap stability."""

from __future__ import annotations

import pandas as pd

from gpo_vae.errors import InputDataError


class GrnMixin:
    """``get_grn``, ``plot_grn`` and ``grn_stability``."""

    def get_grn(self, threshold: float = 0.0, top_k: int | None = None,
                n_samples: int = 32, seed: int = 0) -> pd.DataFrame:
        """The learned GRN as an edge table, most probable first.

        Parameters
        ----------
        threshold
            Keep edges with q(M) probability at least this (default: every pair).
        top_k
            Keep at most this many edges (a positive whole number; None: all of them).
        n_samples, seed
            Draws of M behind the mean edge weights, and their seed.

        Returns
        -------
        DataFrame
            ``source``, ``target``, ``probability``, ``mean_weight`` (E[E | M = 1]),
            ``sign``, ``source_kind``, ``target_kind``.
        """
        from gpo_vae.models.grn import check_threshold, check_top_k, learned_grn

        top_k, threshold = check_top_k(top_k), check_threshold(threshold)  # before draws
        return learned_grn(self.module, n_samples=n_samples, seed=seed).edges(threshold, top_k)

    def plot_grn(self, threshold: float = 0.5, n_samples: int = 32, seed: int = 0):
        """The q(M) heatmap beside the histogram of edge probabilities (a matplotlib
        Figure; ``gpo-vae export-grn`` saves the same plot as ``heatmap.png``)."""
        from gpo_vae.grn.export import grn_heatmap_figure
        from gpo_vae.models.grn import learned_grn

        return grn_heatmap_figure(learned_grn(self.module, n_samples=n_samples, seed=seed),
                                  threshold)

    def grn_stability(self, n_runs: int = 5, *, threshold: float = 0.5,
                      max_epochs: int | None = None, seed: int = 0, workers: int = 1):
        """How often each edge recurs over ``n_runs`` trainings on bootstrap resamples of
        the training cells (what ``gpo-vae export-grn --stability N`` writes).

        Parameters
        ----------
        n_runs
            Bootstrap runs; each is a full training of this model's configuration.
        threshold
            q(M) at or above which an edge counts as found in a run.
        max_epochs
            Epochs of each run (default: the config's).
        seed
            Seed of the resamples and their training (same seed, same answer).
        workers
            Runs at once, each in its own process (:mod:`gpo_vae.jobs`).

        Returns
        -------
        GrnStability
            ``frequency`` and ``mean_probability`` (T x T DataFrames), ``n_runs``.

        Examples
        --------
        >>> stability = model.grn_stability(5)                         # doctest: +SKIP
        >>> stability.frequency.loc["GATA1", "TAL1"]                    # doctest: +SKIP
        """
        from gpo_vae.grn.stability import grn_stability

        if self.adata is None:
            raise InputDataError("this model has no data to resample; create it with "
                                 "GpoVae(prepared) or load it with GpoVae.load(run, adata)")
        return grn_stability(self.config, self.adata, n_runs, threshold=threshold,
                             max_epochs=max_epochs, seed=seed,
                             workers=workers)

