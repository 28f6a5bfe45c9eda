"""The data every method of a benchmark is scored on: one prepared screen and its split,
the held-out test ATEs, the data's DE genes and the split-half ceiling, computed once.

Honest by construction, as in :mod:`gpo_vae.evaluation.evaluate`: observed ATEs and DE
genes come from test cells only, and methods see training cells only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from gpo_vae.errors import InputDataError
from gpo_vae.evaluation.ate import AteTable
from gpo_vae.evaluation.evaluate import SplitCells
from gpo_vae.evaluation.settings import EvaluationSettings


@dataclass
class BenchmarkData:
    """A prepared screen's test perturbations and what scoring them needs."""

    adata: object                    # the prepared AnnData
    cells: SplitCells                # expression and labels; ``cells.name`` = "test"
    settings: EvaluationSettings
    data_key: str                    # the prepared data's cache key

    @classmethod
    def from_config(cls, config, settings: EvaluationSettings) -> BenchmarkData:
        """Prepare (or read from the cache) the data of ``config``."""
        from gpo_vae.data.prepare import prepare

        prepared = prepare(config)
        return cls(prepared.adata, SplitCells.from_prepared(prepared.adata, settings.split),
                   settings, str(prepared.manifest["key"]))

    @cached_property
    def held_out(self) -> AteTable:
        return self.cells.ates(self.cells.name)

    @cached_property
    def train(self) -> AteTable:
        """Training ATEs (what the model-free methods fit)."""
        return self.cells.ates("train")

    @cached_property
    def names(self) -> list[str]:
        """The scored perturbations: those with ``min_test_cells`` held-out cells."""
        s = self.settings
        names = [p for p, n in self.held_out.n_cells.items() if n >= s.min_test_cells]
        if not names:
            raise InputDataError(f"no perturbation has {s.min_test_cells} or more cells in "
                                 f"the {self.cells.name} split; use more cells or a larger "
                                 "split share (data.split_fractions)")
        return names

    @cached_property
    def observed(self) -> pd.DataFrame:
        return self.held_out.rows(self.names)

    @cached_property
    def de(self) -> pd.DataFrame:
        """The data's DE genes of each scored perturbation, from test cells."""
        return self.cells.de_genes(self.names)

    @property
    def separator(self) -> str | None:
        return self.cells.separator

    @property
    def has_combinations(self) -> bool:
        return bool(self.separator) and any(self.separator in n for n in self.names)

    @cached_property
    def ceiling(self) -> pd.DataFrame:
        """Per-perturbation split-half ceiling of the test cells (every metric)."""
        from gpo_vae.evaluation.baselines import split_half_ceiling

        c, s = self.cells, self.settings
        cells = c.in_split
        return split_half_ceiling(c.expression[cells], c.labels[cells], c.control,
                                  c.gene_names, self.names, n_repeats=s.ceiling_repeats,
                                  seed=s.seed, de=self.de)

    def seen_in_training(self) -> pd.Series:
        """Training cells of each scored perturbation."""
        return self.train.n_cells.reindex(self.names).fillna(0).astype(int)
