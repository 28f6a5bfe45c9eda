"""The ``gpo-vae evaluate`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse

from gpo_vae.cli.common import add_data_argument
from gpo_vae.constants import ATE_DECODINGS
from gpo_vae.evaluation.settings import EvaluationSettings
from gpo_vae.outputs import FORCE_HELP

EVALUATION_DEFAULTS = EvaluationSettings()


def run(args: argparse.Namespace) -> int:
    """Score a trained run on held-out cells beside baselines and the ceiling."""
    from gpo_vae.evaluation.grn_reference import parse_reference_argument, read_reference_specs
    from gpo_vae.evaluation.report import evaluate
    from gpo_vae.evaluation.settings import default_global_draws

    references = [parse_reference_argument(text) for text in args.reference_network]
    if args.reference_spec:
        references += read_reference_specs(args.reference_spec)
    settings = EvaluationSettings(split=args.split, n_samples=args.n_samples,
                                  n_global=default_global_draws(args.n_samples),
                                  iwelbo_particles=args.iwelbo_particles, seed=args.seed,
                                  ate_decoding=args.ate_decoding)
    result = evaluate(args.run, settings=settings, references=references,
                      out_dir=args.out, globals_=args.globals,
                      force=args.force, data_path=args.data_path)
    print(result.table())
    where = result.files["metrics"].parent
    print(f"wrote metrics.json, per_perturbation.csv, predictions.h5ad and plots/ to "
          f"{where}/ in {result.metrics['seconds']} s")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``gpo-vae evaluate`` to the subcommands ``sub``."""
    ev = sub.add_parser(
        "evaluate",
        help="score a trained run on held-out cells beside baselines and the ceiling",
        description="Score a trained run on the cells of one split (test by default) only: "
        "ATE prediction beside the per-perturbation and global training means, a linear "
        "baseline and the split-half ceiling; test-set IWELBO; the GRN by CausalBench's "
        "statistical test, against reference networks and, for simulated data, against the "
        "truth. Writes metrics.json, per_perturbation.csv, predictions.h5ad and plots/ into "
        "the run folder.",
    )
    ev.add_argument("run", help="run folder (uses checkpoints/best.ckpt) or a .ckpt file")
    # no argparse choices: EvaluationSettings.validate is the one rule (API and CLI)
    ev.add_argument("--split", default="test",
                    help="held-out cells to score on, test or val (never the training "
                    "cells) [default: test]")
    ev.add_argument("--reference-network", action="append", default=[],
                    metavar="NAME=FILE[,source=COL,target=COL][,undirected]",
                    help="a reference edge list (tab-separated, two gene-symbol columns); "
                    "repeat for several")
    ev.add_argument("--reference-spec", metavar="YAML",
                    help="a file naming several reference networks, e.g. "
                    "demo/reference_networks.yaml")
    ev.add_argument("--n-samples", type=int, default=EVALUATION_DEFAULTS.n_samples,
                    help="generated cells per perturbation for model ATEs "
                    f"[default: {EVALUATION_DEFAULTS.n_samples}]")
    ev.add_argument("--iwelbo-particles", type=int, default=EVALUATION_DEFAULTS.iwelbo_particles,
                    help="importance samples per cell for the IWELBO "
                    f"[default: {EVALUATION_DEFAULTS.iwelbo_particles}]")
    ev.add_argument("--globals", choices=["mean", "sample"], default=None,
                    help="predict with the global variables M, E at their posterior mean or "
                    "sampled [default: the run's model.predict_globals]")
    ev.add_argument("--ate-decoding", choices=ATE_DECODINGS, default=None,
                    help="read predicted ATEs from the decoded expression itself (expected) "
                    "or from sampled counts [default: the run's model.ate_decoding]")
    ev.add_argument("--out", metavar="DIR", default=None,
                    help="write the results here [default: the run folder for --split test, "
                    "RUN/eval_val/ for --split val]")
    add_data_argument(ev)
    ev.add_argument("--seed", type=int, default=EVALUATION_DEFAULTS.seed,
                    help=f"random seed [default: {EVALUATION_DEFAULTS.seed}]")
    ev.add_argument("--force", action="store_true", help=FORCE_HELP)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=run)
    return ev
