"""The ``gpo-vae export-grn`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse

from gpo_vae.cli.common import add_data_argument
from gpo_vae.io import check_name_length
from gpo_vae.outputs import FORCE_HELP


def run(args: argparse.Namespace) -> int:
    """Write the learned GRN as CSV, edge list, GraphML and a heatmap."""
    from gpo_vae.grn.export import export_grn

    check_name_length(args.out, "--out")
    summary = export_grn(args.run, args.out, threshold=args.threshold, top_k=args.top_k,
                         stability=args.stability, stability_epochs=args.stability_epochs,
                         seed=args.seed, force=args.force, data_path=args.data_path)
    print(f"wrote the GRN of {summary['checkpoint']} to {args.out}/: "
          f"{summary['n_treatment_genes']} treatment genes ({summary['n_perturbed']} "
          f"perturbed), {summary['n_edges']:,} edges with probability >= {args.threshold}"
          + (f" (top {args.top_k})" if args.top_k else ""))
    if "stability" in summary:
        st = summary["stability"]
        print(f"stability over {st['n_runs']} bootstrap runs: {st['n_edges_in_every_run']:,} "
              f"of these edges recur in every run, {st['n_edges_in_at_least_half']:,} in at "
              "least half (stability.csv, and the edge list's stability column)")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``gpo-vae export-grn`` to the subcommands ``sub``."""
    ex = sub.add_parser(
        "export-grn",
        help="export the learned GRN (CSV matrix, edge list, GraphML, heatmap)",
        description="Export q(M) of a trained run: probabilities.csv (T x T), edges.csv "
        "(source, target, probability, mean weight, sign), grn.graphml and heatmap.png.",
    )
    ex.add_argument("run", help="run folder (uses checkpoints/best.ckpt) or a .ckpt file")
    ex.add_argument("--out", required=True, metavar="DIR", help="output folder")
    ex.add_argument("--force", action="store_true", help=FORCE_HELP)
    ex.add_argument("--threshold", type=float, default=0.5,
                    help="keep edges with q(M) probability >= this [default: 0.5]")
    ex.add_argument("--top-k", type=int, default=None, metavar="K",
                    help="keep at most the K most probable edges")
    ex.add_argument("--stability", type=int, default=0, metavar="N",
                    help="also train N models on bootstrap resamples of the training cells "
                    "and report how often each edge recurs (N times the training time)")
    ex.add_argument("--stability-epochs", type=int, default=None, metavar="E",
                    help="epochs of each stability run [default: the run's]")
    ex.add_argument("--seed", type=int, default=0,
                    help="seed of the bootstrap resamples and their training [default: 0]")
    add_data_argument(ex)
    ex.set_defaults(func=run)
    return ex
