"""What a trained model remembers about its data (saved in every checkpoint)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from gpo_vae.constants import (
    DEFAULT_CONTROL_LABEL,
    UNS_TRAIN_CELLS_PER_QC,
    UNS_TREATMENTS,
    VAR_GENE_SYMBOL,
)


@dataclass
class DataInfo:
    """What a trained model must remember about its data (saved in every checkpoint)."""

    gene_names: list[str]
    treatment_names: list[str]
    treatment_kinds: list[str]          # "perturbed" or "extra"
    treatment_measured: list[bool]      # is the treatment gene among the measured genes
    train_cells_per_treatment: list[int]
    train_cells_per_qc: list[int]       # [good, low quality]
    n_train_cells: int = 0
    extra: dict = field(default_factory=dict)
    control_label: str = DEFAULT_CONTROL_LABEL
    combination_separator: str = ""     # "" = no combinations

    @property
    def n_genes(self) -> int:
        return len(self.gene_names)

    @property
    def n_treatments(self) -> int:
        return len(self.treatment_names)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_prepared(cls, adata) -> DataInfo:
        """The information of a prepared AnnData (:func:`gpo_vae.prepare`)."""
        treatments = adata.uns[UNS_TREATMENTS]
        per_qc = [int(v) for v in np.asarray(adata.uns[UNS_TRAIN_CELLS_PER_QC])]
        schema = adata.uns.get("schema", {})
        return cls(
            gene_names=adata.var[VAR_GENE_SYMBOL].astype(str).tolist(),
            treatment_names=treatments["name"].astype(str).tolist(),
            treatment_kinds=treatments["kind"].astype(str).tolist(),
            treatment_measured=[bool(v) for v in treatments["measured"]],
            train_cells_per_treatment=[int(v) for v in treatments["train_cells"]],
            train_cells_per_qc=per_qc,
            n_train_cells=sum(per_qc),
            control_label=str(schema.get("control_label", DEFAULT_CONTROL_LABEL)),
            combination_separator=str(schema.get("combination_separator") or ""),
        )

    @property
    def own_columns(self) -> np.ndarray:
        """Gene column of each treatment gene (-1: not measured)."""
        column = {g: i for i, g in enumerate(self.gene_names)}
        return np.array([column.get(t, -1) for t in self.treatment_names], dtype=np.int64)
