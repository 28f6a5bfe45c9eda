"""The ``gpo-vae sweep`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse

from gpo_vae.errors import GpoVaeError
from gpo_vae.outputs import FORCE_HELP


def run(args: argparse.Namespace) -> int:
    """Run a hyperparameter sweep (W&B sweep file) as a redun workflow."""
    from gpo_vae.sweep import (
        check_sweep_folder,
        describe_plan,
        load_sweep,
        plan_sweep,
        run_sweep,
    )

    spec = load_sweep(args.sweep_file, output_dir=args.out, overrides=args.set)
    plan = plan_sweep(spec, controller=args.controller, executor=args.executor,
                      workers=args.workers, max_trials=args.max_trials)
    check_sweep_folder(plan, args.force)  # a dry run says so too
    if args.dry_run:
        if args.controller == "wandb":
            from gpo_vae.sweep.wandb_controller import check_wandb_server

            check_wandb_server()
        print(describe_plan(plan))
        print("dry run: nothing trained")
        return 0
    try:
        summary = run_sweep(plan, redun_config_path=args.redun_config, quiet=args.quiet,
                            retry_failed=args.retry_failed, force=args.force)
    except KeyboardInterrupt:
        error = GpoVaeError("sweep interrupted; finished trials are in redun's cache and an "
                            "interrupted trial keeps its last checkpoint: run the same "
                            "command again to resume")
        error.exit_code = 130
        raise error from None
    if summary["best"] is None:
        raise GpoVaeError(f"no trial of sweep {summary['name']} finished with "
                          f"{summary['metric']}; see {summary['results_csv']}")
    return 0


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpo-vae sweep`` (shared with sweep_rpe1.sh and friends)."""
    parser.add_argument("sweep_file", metavar="SWEEP.yaml",
                        help="W&B sweep file with base_config (see sweeps/)")
    parser.add_argument("--executor", default="local", metavar="NAME",
                        help="redun executor for the trials: local (a process pool here) or "
                        "one defined in --redun-config, e.g. an aws_batch or k8s executor "
                        "[default: local]")
    parser.add_argument("--redun-config", metavar="INI",
                        help="a redun config file whose [executors.NAME] sections add "
                        "cluster executors")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="trials run at once by the local executor [default: the number "
                        "of trials, at most the CPU count and 4]")
    parser.add_argument("--max-trials", type=int, default=None, metavar="N",
                        help="run at most N trials (needed for random search without run_cap)")
    parser.add_argument("--controller", choices=["local", "wandb"], default="local",
                        help="who proposes trials: local (grid, random; no server) or wandb "
                        "(a real W&B sweep; needed for bayes) [default: local]")
    parser.add_argument("--out", metavar="DIR",
                        help="sweep folder [default: output_dir of the sweep file, else "
                        "results/sweeps/<name>]")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a value of the base config, e.g. "
                        "--set training.max_epochs=5")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the sweep file and list the trials; train nothing")
    parser.add_argument("--retry-failed", action="store_true",
                        help="run trials that failed in an earlier run again (redun caches "
                        "failures too; finished trials are reused)")
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    parser.add_argument("--quiet", action="store_true", help="less output from redun")


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``gpo-vae sweep`` to the subcommands ``sub``."""
    sw = sub.add_parser(
        "sweep",
        help="hyperparameter sweep: trials as cached redun tasks, results table at the end",
        description="Run a Weights & Biases sweep file as a redun workflow: every trial "
        "trains and is scored on the validation split; a rerun reuses finished trials. "
        "Writes sweep_results.csv and sweep_results.png to the sweep folder, and scores the "
        "best trial once on the test split beside the baselines.",
    )
    add_sweep_arguments(sw)
    sw.set_defaults(func=run)
    return sw
