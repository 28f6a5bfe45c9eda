"""The ``gpo-vae train`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpo_vae.outputs import FORCE_HELP, check_output_folder


def run(args: argparse.Namespace) -> int:
    """Train GPO-VAE on a prepared (or to-be-prepared) screen."""
    from gpo_vae.config import load_config
    from gpo_vae.evaluation.diagnostics import diagnostics_callback
    from gpo_vae.training.train import train

    config = load_config(args.config, args.set)
    run_dir = Path(args.run_dir) if args.run_dir else config.run_dir
    check_output_folder(run_dir, "run", run_dir, force=args.force,
                        what="--out" if args.run_dir else "the run folder (output_dir/name)")
    train(config, run_dir=args.run_dir, resume=args.resume, diagnostics=diagnostics_callback)
    return 0


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpo-vae train`` (shared with train_adamson.py and friends)."""
    parser.add_argument("--config", required=True,
                        help="YAML config (ours, or the authors' flat format)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set training.max_epochs=10")
    parser.add_argument("--out", dest="run_dir", metavar="DIR",
                        help="run folder [default: <output_dir>/<name> from the config]")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its checkpoints/last.ckpt")
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``gpo-vae train`` to the subcommands ``sub``."""
    tr = sub.add_parser(
        "train",
        help="train GPO-VAE (prepares the data first, or reuses the cache)",
        description="Train GPO-VAE. The run folder gets config.yaml, checkpoints/ (best by "
        "validation loss, and last), CSV logs, training_summary.json and "
        "plots/training_curves.png.",
    )
    add_train_arguments(tr)
    tr.set_defaults(func=run)
    return tr
