"""Simulate a CRISPRi Perturb-seq screen with a known gene regulatory network.

The output uses the GPO-VAE authors' file schema (raw counts in a CSR ``X``,
``obs['gene']`` with ``non-targeting`` controls, ``obs['gene_id']``, a guide column,
``var`` with symbols and ids) and stores the truth in ``uns``:

- ``uns['true_grn']``: edge table over all simulated genes (source, target, sign, weight);
- ``uns['true_grn_perturbed']``: signed adjacency among the perturbed genes (rows regulate
  columns);
- ``uns['perturbations']``, ``uns['guides']``: per-target and per-guide truth;
- ``uns['simulation']``: every parameter and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData
from scipy.special import logsumexp

from gpo_vae.config import check_seed
from gpo_vae.constants import DEFAULT_CONTROL_LABEL
from gpo_vae.data.schema import PerturbationSchema
from gpo_vae.progress import progress as progress_bar
from gpo_vae.simulation.annotations import assemble, combination_truth
from gpo_vae.simulation.cells import design_cells
from gpo_vae.simulation.config import SimulationConfig, preset_config
from gpo_vae.simulation.counts import CsrRowBuilder, sample_chunk
from gpo_vae.simulation.dynamics import SteadyState
from gpo_vae.simulation.genes import (
    CATEGORY_HB,
    CATEGORY_MT,
    CATEGORY_NETWORK,
    CATEGORY_RIBO,
    GeneTable,
    make_gene_table,
)
from gpo_vae.simulation.network import KIND_UNMEASURED, GeneNetwork, sample_network

CONTROL_LABEL = DEFAULT_CONTROL_LABEL
#: How to read a simulated file: symbols live in ``var['gene_name']``, ids in var_names.
SIMULATED_SCHEMA = PerturbationSchema(
    perturbation_key="gene", control_label=CONTROL_LABEL, gene_symbol_key="gene_name"
)


def _baseline_log_levels(rng, cfg: SimulationConfig, genes: GeneTable,
                         perturbed: np.ndarray) -> np.ndarray:
    """Control-cell log proportions: each category gets its share of the transcriptome."""
    fractions = {
        CATEGORY_MT: cfg.fraction_mitochondrial,
        CATEGORY_RIBO: cfg.fraction_ribosomal,
        CATEGORY_HB: cfg.fraction_hemoglobin,
    }
    fractions[CATEGORY_NETWORK] = 1.0 - sum(fractions.values())
    raw = rng.normal(0.0, cfg.baseline_log_sd, size=genes.symbols.size)
    # Perturbed genes are well expressed (as in screens of essential genes), so their
    # knockdown is visible in the counts.
    network = genes.network_index
    high = np.quantile(raw[network], [0.6, 0.95])
    raw[perturbed] = rng.uniform(high[0], high[1], size=perturbed.size)
    mu = np.empty_like(raw)
    for category, share in fractions.items():
        idx = np.flatnonzero(genes.categories == category)
        mu[idx] = np.log(share) + raw[idx] - logsumexp(raw[idx])
    return mu


def _program_loadings(rng, cfg: SimulationConfig, genes: GeneTable) -> np.ndarray:
    """Shared expression programs (programs x genes); sparse gene membership."""
    loadings = np.zeros((cfg.n_programs, genes.symbols.size))
    eligible = np.flatnonzero(genes.categories != CATEGORY_MT)
    n_members = max(1, round(cfg.program_gene_fraction * eligible.size))
    for k in range(cfg.n_programs):
        members = rng.choice(eligible, size=n_members, replace=False)
        loadings[k, members] = rng.normal(0.0, cfg.program_loading_sd, size=n_members)
    return loadings



@dataclass
class ScreenStructure:
    """What a seed fixes before any cell is drawn: genes, network, baseline levels,
    expression programs, dispersions and the steady-state solver (shared by the screen
    and by new cells simulated under chosen interventions)."""

    cfg: SimulationConfig
    genes: GeneTable
    network: GeneNetwork
    measured: np.ndarray
    mu: np.ndarray
    loadings: np.ndarray
    theta: np.ndarray
    solver: SteadyState
    design_seq: np.random.SeedSequence
    cells_seq: np.random.SeedSequence

    @property
    def mt_index(self) -> np.ndarray:
        return np.flatnonzero(self.genes.categories == CATEGORY_MT)

    def sample_counts(self, rng, cells: pd.DataFrame) -> sp.csr_matrix:
        """Counts of ``cells`` (the design table of :func:`design_cells`)."""
        return sample_chunk(rng, cells, cfg=self.cfg, network=self.network,
                             solver=self.solver, mu=self.mu, loadings=self.loadings,
                             theta=self.theta, mt_index=self.mt_index, measured=self.measured)


def screen_structure(cfg: SimulationConfig, seed: int) -> ScreenStructure:
    """The :class:`ScreenStructure` of the screen ``(cfg, seed)``."""
    root = np.random.SeedSequence(check_seed(seed))
    structure_seq, design_seq, cells_seq = root.spawn(3)
    rng = np.random.default_rng(structure_seq)

    n_no_effect = max(1, round(cfg.no_effect_perturbed_fraction * cfg.n_perturbations))
    n_unmeasured = min(cfg.n_perturbations - n_no_effect,
                       max(1, round(cfg.unmeasured_perturbed_fraction * cfg.n_perturbations)))
    genes = make_gene_table(cfg.n_genes + n_unmeasured)
    network = sample_network(rng, cfg, genes.network_index, genes.symbols.size)
    measured = np.ones(genes.symbols.size, dtype=bool)
    measured[network.perturbed[network.perturbed_kind == KIND_UNMEASURED]] = False

    mu = _baseline_log_levels(rng, cfg, genes, network.perturbed)
    loadings = _program_loadings(rng, cfg, genes)
    theta = rng.lognormal(np.log(cfg.dispersion_median), cfg.dispersion_log_sd,
                          size=int(measured.sum()))
    solver = SteadyState(network, cfg.hill_coefficient)
    return ScreenStructure(cfg, genes, network, measured, mu, loadings, theta, solver,
                           design_seq, cells_seq)


def _screen(cfg: SimulationConfig, seed: int):
    """The simulated screen without its counts (an AnnData of annotations and truth), a
    function yielding the counts in CSR blocks of cells, and the number of genes."""
    structure = screen_structure(cfg, seed)
    genes, network, measured = structure.genes, structure.network, structure.measured
    theta, cells_seq = structure.theta, structure.cells_seq
    guides, cells = design_cells(np.random.default_rng(structure.design_seq), cfg, network,
                                  genes)

    chunk = max(64, cfg.chunk_entries // genes.symbols.size)
    starts = range(0, cfg.n_cells, chunk)
    chunk_seqs = cells_seq.spawn(len(starts))

    def count_blocks():
        for start, seq in progress_bar(list(zip(starts, chunk_seqs, strict=True)),
                                       desc="simulating cells", unit="chunks"):
            yield structure.sample_counts(np.random.default_rng(seq),
                                          cells.iloc[start : start + chunk])

    shell = assemble(cfg, seed, genes, network, measured, guides, cells, theta)
    if cfg.double_fraction > 0:
        shell.uns["combinations"] = combination_truth(cells, guides, network, genes,
                                                       structure.solver,
                                                       measured)
    return shell, count_blocks, int(measured.sum())


def _resolve(preset: str, config: SimulationConfig | None) -> SimulationConfig:
    return config if config is not None else preset_config(preset)


def simulate_perturbseq(
    preset: str = "default",
    seed: int = 0,
    config: SimulationConfig | None = None,
) -> AnnData:
    """Simulate a Perturb-seq screen with a known GRN and return it as an AnnData.

    Parameters
    ----------
    preset
        ``small`` (~1.5k cells, 200 genes, 10 perturbations; for tests), ``default``
        (~10k cells, 1.5k genes, 50 perturbations; the demo data set), ``combinations``,
        ``large`` (K562 essential scale: 130k cells, 8k genes, 600 perturbations) or
        ``xlarge`` (genome-wide scale, 1M cells: use :func:`simulate_to_h5ad`, which
        writes it a block of cells at a time).
    seed
        Random seed; the same seed and settings give the same data.
    config
        Full settings; overrides ``preset`` when given.

    Examples
    --------
    >>> adata = simulate_perturbseq("small", seed=0)
    >>> adata.uns["true_grn_perturbed"].shape
    (10, 10)
    """
    cfg = _resolve(preset, config)
    adata, count_blocks, n_genes = _screen(cfg, seed)
    builder = CsrRowBuilder(cfg.n_cells, n_genes)
    for block in count_blocks():
        builder.append(block)
    adata.X = builder.finish()
    return adata


def simulate_to_h5ad(path, preset: str = "default", seed: int = 0,
                     config: SimulationConfig | None = None) -> Path:
    """Simulate a screen straight into an h5ad file, one block of cells at a time.

    The file equals ``simulate_perturbseq(preset, seed, config).write_h5ad(path)``, but
    only one block of counts is in memory at once, so screens larger than memory (the
    ``xlarge`` preset) can be made. The file appears only when complete.

    Examples
    --------
    >>> simulate_to_h5ad("screen.h5ad", "xlarge", seed=0)  # doctest: +SKIP
    """
    from gpo_vae.io import write_h5ad_in_blocks

    cfg = _resolve(preset, config)
    adata, count_blocks, n_genes = _screen(cfg, seed)
    return write_h5ad_in_blocks(adata, count_blocks(), n_genes, path)


