"""In-silico intervention design from a :class:`~gpo_vae.api.GpoVae`."""

from __future__ import annotations

import os
from collections.abc import Sequence

from gpo_vae.constants import DESIGN_TOP_GENES
from gpo_vae.errors import ConfigError


class DesignMixin:
    """``design``."""

    def design(self, target, *, genes_allowed: Sequence[str] | None = None,
               max_perturbations: int = 1, budget: int = 50, metric: str = "mix",
               signed: bool = False, strength: float = 1.0, split: str = "test",
               top_genes: int | None = DESIGN_TOP_GENES, spare_others: bool = False,
               validate_with_simulator: bool = False, out: str | os.PathLike | None = None,
               seed: int = 0, force: bool = False, **settings):
        """In-silico intervention design: the perturbations of at most
        ``max_perturbations`` genes whose predicted effect is closest to ``target``
        (what ``gpo-vae design`` runs; see :mod:`gpo_vae.design.search`).

        Parameters
        ----------
        target
            ``"perturbation:NAME"`` (that perturbation's ``split`` cells), an AnnData of
            cells to reach (raw counts, or log1p-normalised as :meth:`sample` and
            evaluation write them), ``{"up": [...], "down": [...]}`` (a signed gene set), a
            Series of target ATEs by gene, or a target file path.
        genes_allowed
            Treatment genes that may be perturbed (default: the screen's perturbed genes).
        max_perturbations, budget
            Genes per intervention, and candidates scored exactly.
        metric
            ``mix`` (default), ``pearson`` or ``mse`` (:data:`gpo_vae.design.DISTANCES`).
        signed
            Allow activation (negative dosages) as well as knockdown.
        strength
            Target ATE of a gene set's genes (log2 units).
        split
            Cells behind ``perturbation:`` targets and the controls of AnnData targets.
        top_genes
            An observed profile (``perturbation:`` or AnnData) is matched on the genes its
            cells change most significantly (largest Welch |t|); 0 or None: every gene.
        spare_others
            A gene set also asks every other gene to stay unchanged (the perturbable
            genes' own knockdown excepted); off, only the listed genes are matched.
        validate_with_simulator
            Apply the designs in the simulator that made the data (``result.validation``).
        out
            Also write the design's files here (a folder holding anything else, or a
            finished design, is refused unless ``force``).
        seed, **settings
            Random seed and other :class:`~gpo_vae.design.DesignSettings`
            (``steps``, ``n_draws``, ``restarts``, ``risk``, ...).

        Returns
        -------
        DesignResult
            ``.designs`` (ranked), ``.baseline`` (exhaustive search), ``.curve``,
            ``.summary()``.

        Examples
        --------
        >>> result = model.design({"up": ["G0101"], "down": ["G0203"]})  # doctest: +SKIP
        >>> result.designs.head(3)                                      # doctest: +SKIP
        """
        from gpo_vae.design.search import DesignSettings
        from gpo_vae.design.targets import TargetOptions
        from gpo_vae.design.workflow import run_design

        try:
            chosen = DesignSettings(max_perturbations=max_perturbations, budget=budget,
                                    metric=metric, signed=signed, seed=seed, **settings)
        except TypeError:
            raise ConfigError(f"unknown design setting among {sorted(settings)}; see "
                              "gpo_vae.design.DesignSettings") from None
        return run_design(self.module, target, prepared=self.adata, allowed=genes_allowed,
                          settings=chosen, target_options=TargetOptions(
                              split, strength, top_genes, spare_others),
                          validate=validate_with_simulator, out=out, force=force)

