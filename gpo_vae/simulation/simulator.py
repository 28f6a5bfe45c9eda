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

from gpo_vae._version import __version__
from gpo_vae.config import check_seed
from gpo_vae.constants import DEFAULT_CONTROL_LABEL
from gpo_vae.data.schema import PerturbationSchema
from gpo_vae.progress import progress as progress_bar
from gpo_vae.simulation.config import SimulationConfig, preset_config
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


def _design_cells(rng, cfg: SimulationConfig, network: GeneNetwork, genes: GeneTable):
    """Guides and per-cell design: target, guide, knockdown, artefacts, library size."""
    pert_symbols = genes.symbols[network.perturbed]
    guide_rows = [
        (f"non-targeting_{j + 1:05d}", CONTROL_LABEL, -1, 0.0) for j in range(cfg.n_control_guides)
    ]
    for p, symbol in enumerate(pert_symbols):
        efficiency = rng.uniform(cfg.knockdown_min, cfg.knockdown_max,
                                 size=cfg.guides_per_perturbation)
        guide_rows += [(f"{symbol}_g{j + 1}", symbol, p, e) for j, e in enumerate(efficiency)]
    guides = pd.DataFrame(guide_rows, columns=["guide_id", "gene", "perturbation", "efficiency"])

    n = cfg.n_cells
    n_control = max(1, round(cfg.control_fraction * n))
    share = rng.lognormal(0.0, 0.4, size=network.perturbed.size)
    per_pert = rng.multinomial(n - n_control, share / share.sum())
    pert_of_cell = rng.permutation(
        np.concatenate([np.full(n_control, -1), np.repeat(np.arange(per_pert.size), per_pert)])
    )
    guide_of_cell = np.empty(n, dtype=np.int64)
    for p in range(-1, network.perturbed.size):
        cells = np.flatnonzero(pert_of_cell == p)
        options = np.flatnonzero(guides["perturbation"].to_numpy() == p)
        guide_of_cell[cells] = rng.choice(options, size=cells.size)

    efficiency = guides["efficiency"].to_numpy()[guide_of_cell]
    efficiency = efficiency + rng.normal(0.0, cfg.knockdown_cell_sd, size=n) * (pert_of_cell >= 0)
    escaped = (rng.random(n) < cfg.escape_fraction) & (pert_of_cell >= 0)
    efficiency[escaped] = rng.uniform(0.0, 0.2, size=escaped.sum())
    efficiency = np.clip(efficiency, 0.0, 0.99)

    low_quality = rng.random(n) < cfg.low_quality_fraction
    doublet = (rng.random(n) < cfg.doublet_fraction) & ~low_quality
    library = rng.lognormal(np.log(cfg.library_size_median), cfg.library_size_log_sd, size=n)
    library[low_quality] *= rng.uniform(0.15, 0.45, size=low_quality.sum())
    library[doublet] *= rng.uniform(1.6, 2.0, size=doublet.sum())
    # drawn after everything else, so that screens without doubles stay as they were
    second, guide2, efficiency2 = np.full(n, -1), np.full(n, -1), np.zeros(n)
    if cfg.double_fraction > 0:
        pert_of_cell, guide_of_cell, efficiency, escaped, second, guide2, efficiency2 = \
            _design_doubles(rng, cfg, guides, network.perturbed.size, pert_of_cell,
                            guide_of_cell, efficiency, escaped)
    cells = pd.DataFrame(
        {
            "perturbation": pert_of_cell,
            "perturbation2": second,
            "guide": guide_of_cell,
            "guide2": guide2,
            "knockdown2": efficiency2,
            "knockdown": np.where(pert_of_cell >= 0, efficiency, 0.0),
            "escaped": escaped,
            "low_quality": low_quality,
            "doublet": doublet,
            "library_size": library,
        }
    )
    return guides, cells


def _design_doubles(rng, cfg: SimulationConfig, guides: pd.DataFrame, n_perturbed: int,
                    pert_of_cell, guide_of_cell, efficiency, escaped):
    """Turn ``cfg.double_fraction`` of all cells (perturbed ones) into doubles of
    ``cfg.n_double_pairs`` random pairs of perturbed genes: each gets a guide against
    both genes of its pair, with their own knockdown efficiencies."""
    from itertools import combinations

    all_pairs = np.array(list(combinations(range(n_perturbed), 2)))
    pairs = all_pairs[np.sort(rng.choice(len(all_pairs), size=cfg.n_double_pairs,
                                         replace=False))]
    perturbed = np.flatnonzero(pert_of_cell >= 0)
    n_double = min(perturbed.size, round(cfg.double_fraction * pert_of_cell.size))
    chosen = rng.choice(perturbed, size=n_double, replace=False)
    pair_of = rng.integers(0, len(pairs), size=n_double)
    pert, guide, eff, esc = (x.copy() for x in (pert_of_cell, guide_of_cell, efficiency,
                                                escaped))
    n = pert.size
    second, guide2, eff2 = np.full(n, -1), np.full(n, -1), np.zeros(n)
    target, guide_eff = guides["perturbation"].to_numpy(), guides["efficiency"].to_numpy()
    for k, (a, b) in enumerate(pairs):
        cells = chosen[pair_of == k]
        pert[cells], second[cells] = a, b
        guide[cells] = rng.choice(np.flatnonzero(target == a), size=cells.size)
        guide2[cells] = rng.choice(np.flatnonzero(target == b), size=cells.size)
        for out, g in ((eff, guide), (eff2, guide2)):
            noise = rng.normal(0.0, cfg.knockdown_cell_sd, size=cells.size)
            out[cells] = np.clip(guide_eff[g[cells]] + noise, 0.0, 0.99)
    esc[chosen] = False
    if cfg.pair_only_fraction > 0:
        _pair_only(rng, cfg, pairs, target, guide_eff, pert, second, guide, guide2, eff, eff2,
                   esc)
    return pert, guide, eff, esc, second, guide2, eff2


def _pair_only(rng, cfg: SimulationConfig, pairs: np.ndarray, target, guide_eff, pert, second,
               guide, guide2, eff, eff2, esc) -> None:
    """Make ``cfg.pair_only_fraction`` of the genes in pairs never perturbed alone: each of
    their single cells becomes a double of a random pair holding the gene (in place)."""
    in_pairs = np.unique(pairs)
    n_only = int(round(cfg.pair_only_fraction * in_pairs.size))
    for gene in rng.choice(in_pairs, size=n_only, replace=False):
        cells = np.flatnonzero((pert == gene) & (second < 0))
        options = pairs[(pairs == gene).any(1)]
        chosen = options[rng.integers(0, len(options), size=cells.size)]
        pert[cells], second[cells] = chosen[:, 0], chosen[:, 1]
        for out, g, column in ((eff, guide, 0), (eff2, guide2, 1)):
            genes = chosen[:, column]
            g[cells] = [rng.choice(np.flatnonzero(target == x)) for x in genes]
            noise = rng.normal(0.0, cfg.knockdown_cell_sd, size=cells.size)
            out[cells] = np.clip(guide_eff[g[cells]] + noise, 0.0, 0.99)
        esc[cells] = False


def _sample_chunk(rng, cells: pd.DataFrame, *, cfg, network, solver, mu, loadings, theta,
                  mt_index, measured) -> sp.csr_matrix:
    """Counts of one chunk of cells, as float32 CSR over the measured genes."""
    b, g = len(cells), mu.size
    programs = rng.normal(size=(b, cfg.n_programs))
    exogenous = programs @ loadings + rng.normal(0.0, cfg.intrinsic_noise_sd, size=(b, g))
    pert = cells["perturbation"].to_numpy()
    hit = np.flatnonzero(pert >= 0)
    exogenous[hit, network.perturbed[pert[hit]]] += np.log1p(-cells["knockdown"].to_numpy()[hit])
    second = cells["perturbation2"].to_numpy()
    both = np.flatnonzero(second >= 0)
    exogenous[both, network.perturbed[second[both]]] += \
        np.log1p(-cells["knockdown2"].to_numpy()[both])

    log_expr = mu + solver.solve(exogenous)
    # Damaged cells lose cytoplasmic RNA: mitochondrial transcripts dominate what is left.
    low = np.flatnonzero(cells["low_quality"].to_numpy())
    log_expr[np.ix_(low, mt_index)] += np.log(rng.uniform(4.0, 10.0, size=(low.size, 1)))
    log_expr = log_expr[:, measured]
    # softmax by hand: scipy's logsumexp costs several times more on wide chunks
    proportions = np.exp(log_expr - log_expr.max(axis=1, keepdims=True))
    proportions /= proportions.sum(axis=1, keepdims=True)
    # Doublets: two cells captured together (the label is the first cell's guide).
    dbl = np.flatnonzero(cells["doublet"].to_numpy())
    if dbl.size:
        partner = rng.integers(0, b, size=dbl.size)
        proportions[dbl] = 0.5 * (proportions[dbl] + proportions[partner])

    mean = cells["library_size"].to_numpy()[:, None] * proportions
    # negative binomial as a gamma-Poisson mixture (faster than Generator.negative_binomial)
    counts = rng.poisson(rng.gamma(theta, mean / theta))
    return sp.csr_matrix(counts.astype(np.float32))


class _CsrRowBuilder:
    """Append CSR row blocks into one growing buffer.

    Stacking a list of chunks (``sp.vstack``) holds every chunk and the result at once,
    doubling peak memory on large screens; here each chunk is copied in and dropped.
    Capacity is extrapolated from the chunks seen so far and grown rarely.
    """

    def __init__(self, n_rows: int, n_cols: int):
        self.n_rows, self.n_cols = n_rows, n_cols
        self.data = np.empty(0, dtype=np.float32)
        self.indices = np.empty(0, dtype=np.int32)
        self.indptr = np.zeros(n_rows + 1, dtype=np.int64)
        self.nnz = self.row = 0

    def append(self, block: sp.csr_matrix) -> None:
        need = self.nnz + block.nnz
        if need > self.data.size:
            per_row = need / (self.row + block.shape[0])
            capacity = max(need, int(per_row * self.n_rows * 1.02) + 1024)
            self.data = np.resize(self.data, capacity)
            self.indices = np.resize(self.indices, capacity)
        self.data[self.nnz : need] = block.data
        self.indices[self.nnz : need] = block.indices
        rows = block.shape[0]
        self.indptr[self.row + 1 : self.row + 1 + rows] = block.indptr[1:] + self.nnz
        self.nnz, self.row = need, self.row + rows

    def finish(self) -> sp.csr_matrix:
        self.data.resize(self.nnz, refcheck=False)  # shrink in place
        self.indices.resize(self.nnz, refcheck=False)
        indptr = self.indptr
        if self.nnz < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)
        return sp.csr_matrix((self.data, self.indices, indptr), shape=(self.n_rows, self.n_cols))


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
        """Counts of ``cells`` (the design table of :func:`_design_cells`)."""
        return _sample_chunk(rng, cells, cfg=self.cfg, network=self.network,
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
    guides, cells = _design_cells(np.random.default_rng(structure.design_seq), cfg, network,
                                  genes)

    chunk = max(64, cfg.chunk_entries // genes.symbols.size)
    starts = range(0, cfg.n_cells, chunk)
    chunk_seqs = cells_seq.spawn(len(starts))

    def count_blocks(progress: bool = False):
        for start, seq in progress_bar(list(zip(starts, chunk_seqs, strict=True)),
                                       desc="simulating cells", unit="chunks",
                                       enabled=progress):
            yield structure.sample_counts(np.random.default_rng(seq),
                                          cells.iloc[start : start + chunk])

    shell = _assemble(cfg, seed, genes, network, measured, guides, cells, theta)
    if cfg.double_fraction > 0:
        shell.uns["combinations"] = _combination_truth(cells, guides, network, genes,
                                                       structure.solver,
                                                       measured)
    return shell, count_blocks, int(measured.sum())


def _resolve(preset: str, config: SimulationConfig | None) -> SimulationConfig:
    return config if config is not None else preset_config(preset)


def simulate_perturbseq(
    preset: str = "default",
    seed: int = 0,
    config: SimulationConfig | None = None,
    progress: bool = False,
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
    progress
        Show a progress bar over cell chunks.

    Examples
    --------
    >>> adata = simulate_perturbseq("small", seed=0)
    >>> adata.uns["true_grn_perturbed"].shape
    (10, 10)
    """
    cfg = _resolve(preset, config)
    adata, count_blocks, n_genes = _screen(cfg, seed)
    builder = _CsrRowBuilder(cfg.n_cells, n_genes)
    for block in count_blocks(progress):
        builder.append(block)
    adata.X = builder.finish()
    return adata


def simulate_to_h5ad(path, preset: str = "default", seed: int = 0,
                     config: SimulationConfig | None = None, progress: bool = False) -> Path:
    """Simulate a screen straight into an h5ad file, one block of cells at a time.

    The file equals ``simulate_perturbseq(preset, seed, config).write_h5ad(path)``, but
    only one block of counts is in memory at once, so screens larger than memory (the
    ``xlarge`` preset) can be made. The file appears only when complete.

    Examples
    --------
    >>> simulate_to_h5ad("screen.h5ad", "xlarge", seed=0, progress=True)  # doctest: +SKIP
    """
    from gpo_vae.io import write_h5ad_in_blocks

    cfg = _resolve(preset, config)
    adata, count_blocks, n_genes = _screen(cfg, seed)
    return write_h5ad_in_blocks(adata, count_blocks(progress), n_genes, path)


def _combination_truth(cells, guides, network, genes, solver, measured) -> pd.DataFrame:
    """Each simulated pair's noise-free interaction: the steady-state log-expression shift
    of the double knockdown minus the sum of the two single shifts (mean guide
    efficiencies), as its norm over the measured genes and relative to the additive
    prediction's norm (0 = purely additive)."""
    pairs = cells.loc[cells["perturbation2"] >= 0, ["perturbation", "perturbation2"]]
    pairs = pairs.drop_duplicates().sort_values(["perturbation", "perturbation2"])
    mean_eff = guides.groupby("perturbation")["efficiency"].mean()
    symbols = genes.symbols[network.perturbed]

    def shift(*perturbations):
        exogenous = np.zeros((1, genes.symbols.size))
        for p in perturbations:
            exogenous[0, network.perturbed[p]] += np.log1p(-mean_eff[p])
        return solver.solve(exogenous)[0, measured]

    rows = []
    n_cells = cells.groupby(["perturbation", "perturbation2"]).size()
    for a, b in pairs.itertuples(index=False):
        additive = shift(a) + shift(b)
        interaction = shift(a, b) - additive
        norm = float(np.linalg.norm(interaction))
        rows.append({"perturbation": f"{symbols[a]}+{symbols[b]}", "gene_a": symbols[a],
                     "gene_b": symbols[b], "n_cells": int(n_cells[(a, b)]),
                     "interaction_norm": norm,
                     "interaction_relative": norm / max(float(np.linalg.norm(additive)),
                                                        1e-12)})
    return pd.DataFrame(rows).set_index("perturbation")


def _assemble(cfg, seed, genes: GeneTable, network: GeneNetwork, measured, guides,
              cells, theta) -> AnnData:
    """The annotations and truth of a screen in the authors' schema (X left empty)."""
    symbols, ids = genes.symbols, genes.ids
    pert_symbols = symbols[network.perturbed]
    pert = cells["perturbation"].to_numpy()
    second = cells["perturbation2"].to_numpy()
    pert_ids = ids[network.perturbed]
    gene_label = np.where(pert >= 0, pert_symbols[np.maximum(pert, 0)], CONTROL_LABEL)
    gene_id = np.where(pert >= 0, pert_ids[np.maximum(pert, 0)], CONTROL_LABEL)
    guide_label = guides["guide_id"].to_numpy()[cells["guide"].to_numpy()].astype(object)
    both = second >= 0
    if both.any():   # doubles are labelled "A+B" (the schema's combination separator)
        gene_label = gene_label.astype(object)
        gene_id = gene_id.astype(object)
        gene_label[both] = gene_label[both] + "+" + pert_symbols[second[both]]
        gene_id[both] = gene_id[both] + "+" + pert_ids[second[both]]
        guide_label[both] = guide_label[both] + "+" + \
            guides["guide_id"].to_numpy()[cells["guide2"].to_numpy()[both]]
    obs = pd.DataFrame(
        {
            "gene": pd.Categorical(gene_label),
            "gene_id": pd.Categorical(gene_id),
            "guide_id": pd.Categorical(guide_label),
            "sim_knockdown": cells["knockdown"].to_numpy().astype(np.float32),
            "sim_escaped": cells["escaped"].to_numpy(),
            "sim_low_quality": cells["low_quality"].to_numpy(),
            "sim_doublet": cells["doublet"].to_numpy(),
            "sim_library_size": cells["library_size"].to_numpy().astype(np.float32),
        },
        index=[f"simcell_{i:07d}" for i in range(len(cells))],
    )
    role = np.where(np.isin(np.arange(symbols.size), network.regulators), "regulator",
                    genes.categories)
    role = np.where(role == CATEGORY_NETWORK, "target", role)
    var = pd.DataFrame(
        {
            "gene_name": symbols[measured],
            "gene_id": ids[measured],
            "sim_category": genes.categories[measured],
            "sim_role": role[measured],
            "sim_perturbed": np.isin(np.flatnonzero(measured), network.perturbed),
            "sim_dispersion": theta.astype(np.float32),
        },
        index=pd.Index(ids[measured]),
    )

    edges = network.edge_table(symbols, measured)
    adjacency = network.adjacency()[network.perturbed][:, network.perturbed].toarray()
    out_degree = np.bincount(network.source, minlength=symbols.size)[network.perturbed]
    perturbations = pd.DataFrame(
        {
            "gene": pert_symbols,
            "gene_id": ids[network.perturbed],
            "kind": network.perturbed_kind,
            "measured": measured[network.perturbed],
            "n_direct_targets": out_degree,
            "n_cells": np.bincount(np.concatenate([pert[pert >= 0], second[second >= 0]]),
                                   minlength=pert_symbols.size),
        },
        index=pd.Index(pert_symbols, name="perturbation"),
    )
    uns = {
        "true_grn": edges,
        "true_grn_perturbed": pd.DataFrame(adjacency, index=pert_symbols, columns=pert_symbols),
        "perturbations": perturbations,
        "guides": guides.drop(columns="perturbation"),
        "simulation": {**cfg.to_dict(), "seed": int(seed), "gpo_vae_version": __version__,
                       "control_label": CONTROL_LABEL},
    }
    return AnnData(obs=obs, var=var, uns=uns)
