"""The ``gpo-vae benchmark`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse

from gpo_vae.evaluation.settings import EvaluationSettings
from gpo_vae.io import require_writable_folder
from gpo_vae.outputs import FORCE_HELP


def run(args: argparse.Namespace) -> int:
    """Every method on the same data and splits, with seeds, intervals and verdicts."""
    from gpo_vae.benchmarking import plan_benchmark, run_benchmark
    from gpo_vae.evaluation.settings import default_global_draws

    settings = EvaluationSettings(n_samples=args.n_samples,
                                  n_global=default_global_draws(args.n_samples),
                                  iwelbo_particles=args.iwelbo_particles, seed=args.seed)
    plan_args = dict(method_names=args.methods, n_seeds=args.seeds, split=args.split,
                     n_splits=args.splits, jobs=args.jobs, settings=settings,
                     executor=args.executor, redun_config=args.redun_config)
    if args.cells_per_perturbation:
        return _learning_curve(args, plan_args)
    plan = plan_benchmark(args.config, out=args.out, overrides=args.set, **plan_args)
    if args.out:
        require_writable_folder(plan.out, "--out")
    result = run_benchmark(plan, force=args.force)
    print(result.markdown)
    print(f"wrote benchmark.csv, benchmark.md, per_perturbation.csv, commands.txt and plots/ "
          f"to {plan.out}/ in {result.seconds / 60:.1f} min")
    return 0


def _learning_curve(args: argparse.Namespace, plan_args: dict) -> int:
    """``--cells-per-perturbation``: one benchmark per number of training cells."""
    from gpo_vae.benchmarking.learning_curve import plan_learning_curve, run_learning_curve

    plans = plan_learning_curve(args.config, args.cells_per_perturbation, out=args.out,
                                overrides=args.set, **plan_args)
    if args.out:
        require_writable_folder(plans[0].out.parent, "--out")
    curve = run_learning_curve(plans, force=args.force)
    print(curve.markdown)
    print(f"wrote learning_curve.csv, learning_curve.md, learning_curve.png and one "
          f"benchmark folder per point (cells_N/) to {curve.out}/")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``benchmark`` to the ``gpo-vae`` subcommands."""
    bm = sub.add_parser(
        "benchmark",
        help="GPO-VAE against peer models and baselines: seeds, intervals, verdicts",
        description="Train or fit every method on the same prepared data and split, score "
        "each on the held-out test cells (ATE metrics, DE-aware scores, rank, test IWELBO), "
        "and compare the first trained method with every other one, paired over "
        "perturbations. Writes benchmark.csv (one row per method x seed x metric), "
        "benchmark.md, per_perturbation.csv, commands.txt and plots/; a rerun reuses "
        "finished runs.",
    )
    bm.add_argument("config", metavar="CONFIG.yaml",
                    help="the config every method uses (data, layers, training budget)")
    bm.add_argument("--methods", nargs="+", default=None, metavar="NAME",
                    help="methods to run [default: gpo_vae gpo_vae_authors sams_vae "
                    "sams_vae_anchored pert_mean global_mean ridge additive]")
    bm.add_argument("--seeds", type=int, default=3, metavar="N",
                    help="model seeds per trained method (the data split stays fixed) "
                    "[default: 3]")
    bm.add_argument("--split", choices=["cells", "perturbations", "combinations"],
                    default=None, help="what the test split holds out [default: the config's]")
    bm.add_argument("--splits", type=int, default=1, metavar="K",
                    help="also repeat over K data splits (data.seed + 0..K-1) [default: 1]")
    bm.add_argument("--out", metavar="DIR", default=None,
                    help="benchmark folder [default: <output_dir>/benchmark_<name>]")
    bm.add_argument("--jobs", type=int, default=None, metavar="N",
                    help="trained runs at once, each in its own process with its share of "
                    "the cores; 1 = all in this process [default: CPU count, at most 4]")
    bm.add_argument("--executor", default="local", metavar="NAME",
                    help="redun executor of the trained runs: local (a pool of --jobs "
                    "processes) or one defined in --redun-config [default: local]")
    bm.add_argument("--redun-config", default=None, metavar="FILE",
                    help="a redun config file with [executors.NAME] sections (clusters: "
                    "aws_batch, k8s, ...)")
    bm.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config value for every method, e.g. "
                    "--set training.max_epochs=10")
    bm.add_argument("--cells-per-perturbation", type=int, nargs="+", default=None,
                    metavar="N", help="a learning curve: the benchmark once per N, with at "
                    "most N training cells per perturbation (the same test cells), e.g. "
                    "--cells-per-perturbation 5 10 20 50")
    bm.add_argument("--n-samples", type=int, default=1000,
                    help="generated cells per perturbation for model ATEs [default: 1000]")
    bm.add_argument("--iwelbo-particles", type=int, default=20,
                    help="importance samples per cell for the test IWELBO [default: 20]")
    bm.add_argument("--seed", type=int, default=0,
                    help="seed of the sampling and the bootstrap [default: 0]")
    bm.add_argument("--force", action="store_true", help=FORCE_HELP)
    bm.add_argument("--quiet", action="store_true", help="no progress bars")
    bm.set_defaults(func=run)

    return bm
