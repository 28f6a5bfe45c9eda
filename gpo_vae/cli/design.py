"""The ``gpo-vae design`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gpo_vae.constants import DESIGN_TOP_GENES as TOP_GENES
from gpo_vae.outputs import FORCE_HELP

DEFAULTS = {"max_perturbations": 1, "budget": 50, "metric": "mix", "steps": 200,
            "n_draws": 8, "seed": 0}


def run(args: argparse.Namespace) -> int:
    """Rank interventions toward a target; optionally check them on the simulator."""
    from gpo_vae.design.report import check_design_folder
    from gpo_vae.design.search import DesignSettings
    from gpo_vae.design.targets import TargetOptions
    from gpo_vae.design.workflow import read_gene_list, run_design
    from gpo_vae.evaluation.report import prepared_data_of
    from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint

    settings = DesignSettings(max_perturbations=args.max_perturbations, budget=args.budget,
                              metric=args.metric, signed=args.signed, steps=args.steps,
                              n_draws=args.n_draws, seed=args.seed)
    if args.quiet:      # design's --quiet: no step-by-step messages either
        logging.getLogger("gpo_vae").setLevel(logging.WARNING)
    checkpoint = resolve_checkpoint(args.run)
    out = Path(args.out) if args.out else \
        (checkpoint.parent.parent if checkpoint.parent.name == "checkpoints"
         else checkpoint.parent) / "design"
    check_design_folder(out, args.force)
    allowed = read_gene_list(args.genes_allowed) if args.genes_allowed else None
    module = load_trained(checkpoint)
    needs_data = args.target.startswith("perturbation:") or args.target.endswith(".h5ad") \
        or args.validate_with_simulator
    prepared = prepared_data_of(module, python_instead="model.design(target)",
                                data_path=args.data_path) if needs_data else None
    result = run_design(module, args.target, prepared=prepared, allowed=allowed,
                        settings=settings, target_options=TargetOptions(
                            args.split, args.strength, args.top_genes, args.spare_others),
                        validate=args.validate_with_simulator, out=out, force=args.force)
    columns = ["rank", "intervention", "predicted_distance", "distance_sd", "top_genes"]
    print(result.designs[columns].head(10).to_string(index=False, float_format="%.3f"))
    print(f"wrote designs.csv, baseline.csv, optimisation.csv, profiles.png, optimisation.png"
          f"{', closed_loop.csv' if result.validation else ''} and design.json to {out}/")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``design`` to the ``gpo-vae`` subcommands."""
    from gpo_vae.cli.common import add_data_argument

    ds = sub.add_parser(
        "design",
        help="in-silico intervention design: perturbations that move cells toward a target",
        description="Search the perturbations (at most K genes) whose predicted effect is "
        "closest to a target: Adam on relaxed dosages through the trained decoder, rounded "
        "to K-sparse interventions scored exactly under several draws of the GRN, beside an "
        "exhaustive search over singles (and pairs when few). Writes designs.csv, "
        "baseline.csv, optimisation.csv, profiles.png, optimisation.png and design.json.",
    )
    ds.add_argument("run", help="run folder (uses checkpoints/best.ckpt) or a .ckpt file")
    ds.add_argument("--target", required=True, metavar="TARGET",
                    help="perturbation:NAME (its held-out cells' profile), an .h5ad of cells "
                    "to reach (raw counts, or log1p-normalised like a run's "
                    "observed_test.h5ad), or a .csv/.tsv with a gene column and a direction "
                    "(up/down) or lfc column")
    ds.add_argument("--genes-allowed", metavar="FILE",
                    help="genes that may be perturbed, one per line [default: the screen's "
                    "perturbed genes]")
    ds.add_argument("--max-perturbations", type=int, default=DEFAULTS["max_perturbations"],
                    metavar="K", help="genes per intervention [default: 1]")
    ds.add_argument("--budget", type=int, default=DEFAULTS["budget"], metavar="B",
                    help="candidate interventions scored exactly [default: 50]")
    ds.add_argument("--metric", default=DEFAULTS["metric"], choices=["mix", "pearson", "mse"],
                    help="distance to the target [default: mix, the mean of 1 - Pearson and "
                    "the normalised MSE]")
    ds.add_argument("--signed", action="store_true",
                    help="allow activation (negative dosage) as well as knockdown")
    ds.add_argument("--strength", type=float, default=1.0,
                    help="target ATE of a gene-set target's genes (log2 units) [default: 1]")
    ds.add_argument("--top-genes", type=int, default=TOP_GENES, metavar="N",
                    help="match an observed profile (perturbation:NAME, .h5ad) on the N genes "
                    "its cells change most significantly, by Welch |t| against the controls; "
                    f"0: every gene [default: {TOP_GENES}]")
    ds.add_argument("--spare-others", action="store_true",
                    help="a gene-set target also asks every other gene to stay unchanged "
                    "(the perturbable genes' own knockdown excepted) [default: only the "
                    "listed genes are matched]")
    ds.add_argument("--split", default="test", choices=["test", "val", "train"],
                    help="cells behind perturbation:NAME targets and the controls of .h5ad "
                    "targets [default: test]")
    ds.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                    help="Adam steps on the relaxed dosages [default: 200]")
    ds.add_argument("--n-draws", type=int, default=DEFAULTS["n_draws"],
                    help="draws of the global variables behind each exact score [default: 8]")
    ds.add_argument("--validate-with-simulator", action="store_true",
                    help="apply the designs in the simulator that made the run's data (new "
                    "cells) and compare with random interventions of the same size")
    add_data_argument(ds)
    ds.add_argument("--out", metavar="DIR", help="output folder [default: RUN/design]")
    ds.add_argument("--force", action="store_true", help=FORCE_HELP)
    ds.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed [default: 0]")
    ds.add_argument("--quiet", action="store_true", help="no progress messages")
    ds.set_defaults(func=run)
    return ds
