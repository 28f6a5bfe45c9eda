"""Settings of the Perturb-seq simulator and its three size presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from gpo_vae.config import Settings
from gpo_vae.errors import ConfigError


@dataclass(frozen=True)
class SimulationConfig(Settings):
    """Parameters of a simulated CRISPRi Perturb-seq screen with a known GRN.

    Sizes: ``n_genes`` measured genes (mitochondrial, ribosomal and hemoglobin genes
    included), ``n_perturbations`` targeted genes (a few unmeasured, a few without any
    downstream effect), ``n_extra_regulators`` regulators that are not perturbed.
    """

    n_cells: int = 10_000
    n_genes: int = 1_500
    n_perturbations: int = 50
    n_extra_regulators: int = 40
    control_fraction: float = 0.12
    # network
    regulator_in_degree: float = 1.5
    target_in_degree: float = 1.5
    n_feedback_edges: int = 4
    activating_fraction: float = 0.6
    weight_min: float = 0.7
    weight_max: float = 2.0
    feedback_weight_max: float = 0.8
    hill_coefficient: float = 2.0
    unmeasured_perturbed_fraction: float = 0.06
    no_effect_perturbed_fraction: float = 0.06
    # cell-to-cell variation (log scale)
    n_programs: int = 6
    program_gene_fraction: float = 0.15
    program_loading_sd: float = 0.35
    intrinsic_noise_sd: float = 0.15
    baseline_log_sd: float = 1.6
    # CRISPRi
    guides_per_perturbation: int = 3
    n_control_guides: int = 5
    knockdown_min: float = 0.6
    knockdown_max: float = 0.95
    knockdown_cell_sd: float = 0.05
    escape_fraction: float = 0.05
    # sequencing
    library_size_median: float = 4_000.0
    library_size_log_sd: float = 0.35
    dispersion_median: float = 6.0
    dispersion_log_sd: float = 0.7
    fraction_mitochondrial: float = 0.05
    fraction_ribosomal: float = 0.2
    fraction_hemoglobin: float = 0.005
    # double perturbations: this share of the cells carries guides against a pair of
    # perturbed genes, drawn from n_double_pairs pairs (0: singles only)
    double_fraction: float = 0.0
    n_double_pairs: int = 0
    # partial combinatorial design (as real CRISPRa screens are): this share of the
    # perturbed genes that appear in pairs is perturbed only in pairs, never alone
    pair_only_fraction: float = 0.0
    # artefacts
    low_quality_fraction: float = 0.08
    doublet_fraction: float = 0.04
    # work is done in cell chunks of about this many matrix entries (memory bound)
    chunk_entries: int = 8_000_000

    def __post_init__(self):
        self.coerce_fields("simulation setting ")  # the run config's type rule
        checks = {
            "n_cells": self.n_cells >= 50,
            "n_genes": self.n_genes >= 60,
            "n_perturbations": self.n_perturbations >= 2,
            "n_extra_regulators": self.n_extra_regulators >= 0,
            "control_fraction": 0 < self.control_fraction < 0.9,
            "knockdown_min": 0 <= self.knockdown_min <= self.knockdown_max < 1,
            "low_quality_fraction": 0 <= self.low_quality_fraction < 0.5,
            "doublet_fraction": 0 <= self.doublet_fraction < 0.5,
            "guides_per_perturbation": self.guides_per_perturbation >= 1,
            "library_size_median": self.library_size_median > 0,
            "double_fraction": 0 <= self.double_fraction < 0.9,
            "n_double_pairs": 0 <= self.n_double_pairs
            <= self.n_perturbations * (self.n_perturbations - 1) // 2
            and (self.n_double_pairs > 0 or self.double_fraction == 0),
            "pair_only_fraction": 0 <= self.pair_only_fraction < 1
            and (self.pair_only_fraction == 0 or self.double_fraction > 0),
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(
                    f"simulation setting {name}={getattr(self, name)!r} is out of range; "
                    "see gpo_vae.simulation.SimulationConfig for valid values"
                )
        network_genes = self.n_genes - 40  # generous room for housekeeping genes
        if self.n_perturbations + self.n_extra_regulators >= network_genes:
            raise ConfigError(
                f"{self.n_perturbations} perturbations + {self.n_extra_regulators} extra "
                f"regulators do not fit in {self.n_genes} genes; raise n_genes"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **overrides) -> SimulationConfig:
        """Return a copy with some fields changed (unknown names raise ConfigError)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"unknown simulation setting(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(known))}"
            )
        return replace(self, **overrides)


PRESETS: dict[str, SimulationConfig] = {
    # tests: about 1.5k cells, a second or two
    "small": SimulationConfig(
        n_cells=1_500,
        n_genes=200,
        n_perturbations=10,
        n_extra_regulators=10,
        regulator_in_degree=2.0,
        n_feedback_edges=2,
        guides_per_perturbation=2,
        library_size_median=2_000.0,
    ),
    # the embedded default data set: the demo and the README's results
    "default": SimulationConfig(),
    # singles plus 64 doubles, whose non-additive effects the network's saturating
    # regulation creates (the truth is in uns['combinations']); a partial design: a
    # fifth of the genes in pairs are never perturbed alone
    "combinations": SimulationConfig(
        n_cells=12_000,
        n_genes=600,
        n_perturbations=20,
        n_extra_regulators=20,
        double_fraction=0.5,
        n_double_pairs=64,
        pair_only_fraction=0.2,
    ),
    # K562 essential scale, for memory and speed benchmarks
    "large": SimulationConfig(
        n_cells=130_000,
        n_genes=8_000,
        n_perturbations=600,
        n_extra_regulators=300,
        n_feedback_edges=30,
        library_size_median=11_000.0,
    ),
    # genome-wide scale (1M cells), for out-of-core preparation and training; shallower
    # sequencing than `large` keeps the file at about 14 GB
    "xlarge": SimulationConfig(
        n_cells=1_000_000,
        n_genes=8_000,
        n_perturbations=600,
        n_extra_regulators=300,
        n_feedback_edges=30,
        library_size_median=5_000.0,
    ),
}


def preset_config(name: str) -> SimulationConfig:
    """The :class:`SimulationConfig` of a named preset (``small``, ``default``,
    ``combinations``, ``large``, ``xlarge``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown simulation preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None
