"""The ``gpo-vae simulate`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpo_vae.config import parse_overrides
from gpo_vae.constants import SIMULATION_PRESETS, UNS_TRUE_GRN
from gpo_vae.errors import ConfigError
from gpo_vae.io import check_name_length
from gpo_vae.outputs import check_output_file, check_output_folder


def _check_simulation_targets(args: argparse.Namespace) -> Path:
    path = Path(args.out)
    check_name_length(path, "--out")
    if path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a folder; give a file name ending in .h5ad")
    if path.suffix != ".h5ad":
        raise ConfigError(f"--out {str(path)!r} must end in .h5ad")
    check_output_file(path, force=args.force)
    if args.report:
        check_output_folder(args.report, "simulation", path, what="--report", force=args.force)
    return path


def run(args: argparse.Namespace) -> int:
    """Simulate a screen, write it atomically, optionally write a summary report."""
    from gpo_vae.io import read_h5ad
    from gpo_vae.outputs import mark_output_folder
    from gpo_vae.simulation import preset_config, simulate_to_h5ad

    out = _check_simulation_targets(args)
    config = preset_config(args.preset).with_overrides(**parse_overrides(args.set))
    # written a block of cells at a time: the xlarge preset does not fit in memory
    simulate_to_h5ad(out, seed=args.seed, config=config)
    adata = read_h5ad(out, backed=True)
    print(f"wrote {out} ({adata.n_obs:,} cells x {adata.n_vars:,} genes, "
          f"{len(adata.uns['perturbations'])} perturbations, "
          f"{len(adata.uns[UNS_TRUE_GRN])} true edges)")
    if args.report:
        from gpo_vae.simulation.summary import write_simulation_report

        adata.file.close()
        mark_output_folder(args.report, "simulation", out)
        summary = write_simulation_report(read_h5ad(out), args.report)  # reads it all
        print(f"wrote summary and plot to {args.report}/")
        for key in ("n_cells", "n_genes", "n_perturbations", "n_control_cells",
                    "n_qc_failing_cells", "n_doublets", "n_true_edges",
                    "n_true_edges_among_perturbed"):
            print(f"  {key.replace('_', ' '):<30} {summary[key]:>10,}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``gpo-vae simulate`` to the subcommands ``sub``."""
    sim = sub.add_parser(
        "simulate",
        help="simulate a Perturb-seq screen with a known GRN",
        description="Simulate a CRISPRi Perturb-seq screen with a known gene regulatory "
        "network (the embedded default data set) and write it as h5ad.",
    )
    sim.add_argument("--preset", choices=list(SIMULATION_PRESETS), default="default",
                     help="size: small (~1.5k cells, tests), default (~10k cells, demo), "
                     "large (~130k cells, K562 scale), xlarge (1M cells, genome-wide "
                     "scale, about 14 GB on disk) [default: default]")
    sim.add_argument("--seed", type=int, default=0, help="random seed [default: 0]")
    sim.add_argument("--out", required=True, help="output .h5ad file (written atomically)")
    sim.add_argument("--force", action="store_true",
                     help="replace an existing --out file and --report folder")
    sim.add_argument("--report", metavar="DIR",
                     help="also write a summary (json, markdown) and an overview plot here")
    sim.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a simulation setting, e.g. --set n_cells=3000")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=run)
    return sim
