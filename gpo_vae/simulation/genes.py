"""Gene names of the simulated screen: real housekeeping symbols plus synthetic ones.

Mitochondrial (``MT-``), ribosomal (``RPS``/``RPL``) and hemoglobin (``HB``) genes carry
their real symbols so QC metrics computed by symbol prefix mean something. All other
genes get synthetic symbols (``SG00001``) that cannot be mistaken for real genes in a
reference network, and synthetic Ensembl-shaped ids (``ENSG9`` + 10 digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MITOCHONDRIAL = (
    "MT-ND1 MT-ND2 MT-CO1 MT-CO2 MT-ATP8 MT-ATP6 MT-CO3 MT-ND3 MT-ND4L MT-ND4 MT-ND5 "
    "MT-ND6 MT-CYB"
).split()
RIBOSOMAL = (
    "RPL3 RPL4 RPL5 RPL6 RPL7 RPL7A RPL8 RPL9 RPL10 RPL10A RPL11 RPL12 RPL13 RPL13A RPL14 "
    "RPL15 RPL17 RPL18 RPL18A RPL19 RPL21 RPL22 RPL23 RPL23A RPL24 RPL26 RPL27 RPL27A RPL28 "
    "RPL29 RPL30 RPL31 RPL32 RPL34 RPL35 RPL35A RPL36 RPL37 RPL37A RPL38 RPL39 RPLP0 RPLP1 "
    "RPLP2 RPS2 RPS3 RPS3A RPS4X RPS5 RPS6 RPS7 RPS8 RPS9 RPS10 RPS11 RPS12 RPS13 RPS14 "
    "RPS15 RPS15A RPS16 RPS17 RPS18 RPS19 RPS20 RPS21 RPS23 RPS24 RPS25 RPS26 RPS27 RPS27A "
    "RPS28 RPS29"
).split()
HEMOGLOBIN = "HBA1 HBA2 HBB HBD HBG1 HBG2 HBE1 HBZ HBM HBQ1".split()

CATEGORY_MT = "mitochondrial"
CATEGORY_RIBO = "ribosomal"
CATEGORY_HB = "hemoglobin"
CATEGORY_NETWORK = "network"


@dataclass(frozen=True)
class GeneTable:
    """Symbols, ids and categories of every simulated gene (measured or not)."""

    symbols: np.ndarray
    ids: np.ndarray
    categories: np.ndarray

    @property
    def network_index(self) -> np.ndarray:
        return np.flatnonzero(self.categories == CATEGORY_NETWORK)


def housekeeping_counts(n_genes: int) -> tuple[int, int, int]:
    """How many mitochondrial, ribosomal and hemoglobin genes a screen of this size gets."""
    n_mt = len(MITOCHONDRIAL)
    n_ribo = int(np.clip(round(0.03 * n_genes), 4, len(RIBOSOMAL)))
    n_hb = int(np.clip(round(0.002 * n_genes), 2, len(HEMOGLOBIN)))
    return n_mt, n_ribo, n_hb


def make_gene_table(n_genes_total: int) -> GeneTable:
    """Housekeeping genes first, then synthetic network genes up to ``n_genes_total``."""
    n_mt, n_ribo, n_hb = housekeeping_counts(n_genes_total)
    n_network = n_genes_total - n_mt - n_ribo - n_hb
    symbols = (
        MITOCHONDRIAL[:n_mt]
        + RIBOSOMAL[:n_ribo]
        + HEMOGLOBIN[:n_hb]
        + [f"SG{i:05d}" for i in range(1, n_network + 1)]
    )
    categories = (
        [CATEGORY_MT] * n_mt
        + [CATEGORY_RIBO] * n_ribo
        + [CATEGORY_HB] * n_hb
        + [CATEGORY_NETWORK] * n_network
    )
    ids = [f"ENSG9{i:010d}" for i in range(1, n_genes_total + 1)]
    return GeneTable(np.array(symbols), np.array(ids), np.array(categories))
