"""The ``gpo-vae`` command line.

User errors (:class:`~gpo_vae.errors.GpoVaeError`) print ``error: <what and how to fix>``
on stderr and exit non-zero without a traceback. Heavy libraries are imported inside
the commands so ``gpo-vae --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpo_vae import __version__
from gpo_vae.cli_benchmark import add_benchmark_command
from gpo_vae.cli_design import add_design_command
from gpo_vae.cli_download import add_download_command
from gpo_vae.config import parse_overrides
from gpo_vae.constants import DEFAULT_CONTROL_LABEL, SIMULATION_PRESETS
from gpo_vae.errors import ConfigError, GpoVaeError
from gpo_vae.evaluation.settings import EvaluationSettings
from gpo_vae.io import check_name_length
from gpo_vae.outputs import FORCE_HELP, check_output_file, check_output_folder
from gpo_vae.progress import log_to_stderr

EVALUATION_DEFAULTS = EvaluationSettings()


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


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate a screen, write it atomically, optionally write a summary report."""
    from gpo_vae.io import read_h5ad
    from gpo_vae.outputs import mark_output_folder
    from gpo_vae.simulation import preset_config, simulate_to_h5ad

    out = _check_simulation_targets(args)
    config = preset_config(args.preset).with_overrides(**parse_overrides(args.set))
    # written a block of cells at a time: the xlarge preset does not fit in memory
    simulate_to_h5ad(out, seed=args.seed, config=config, progress=not args.quiet)
    adata = read_h5ad(out, backed=True)
    print(f"wrote {out} ({adata.n_obs:,} cells x {adata.n_vars:,} genes, "
          f"{len(adata.uns['perturbations'])} perturbations, "
          f"{len(adata.uns['true_grn'])} true edges)")
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


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a user's AnnData against the schema and print what was found."""
    import dataclasses

    from gpo_vae.data.schema import FLAG_NAMES, PerturbationSchema, validate_anndata
    from gpo_vae.io import read_h5ad

    adata = read_h5ad(args.path)
    flags = {"perturbation_key": args.perturbation_key, "control_label": args.control_label,
             "counts_layer": args.counts_layer, "gene_symbol_key": args.gene_symbol_key,
             "combination_separator": args.combination_separator}
    names = dict(FLAG_NAMES)
    if args.config:  # the config's data section, as prepare would read it; flags win
        from gpo_vae.config import load_config
        from gpo_vae.data.presets import resolve_schema

        given = {k: v for k, v in flags.items() if v is not None}
        data = dataclasses.replace(load_config(args.config).data, **given)
        schema = resolve_schema(data, adata).schema
        names.update({k: f"data.{k} (in {args.config})" for k in flags if k not in given})
    else:
        schema = PerturbationSchema(**{
            **flags, "perturbation_key": args.perturbation_key or "gene",
            "control_label": args.control_label or DEFAULT_CONTROL_LABEL})
    report = validate_anndata(adata, schema, names=names)
    smallest = min(report.cells_per_perturbation.items(), key=lambda kv: kv[1])
    print(f"ok: {report.n_cells:,} cells x {report.n_genes:,} genes, "
          f"{report.n_perturbations} perturbations ({report.n_singles} single-gene, "
          f"{report.n_combinations} combinations), {report.n_control_cells:,} control cells "
          f"(fewest cells: {smallest[0]} with {smallest[1]})")
    for warning in report.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Prepare a screen for training (or reuse the cached result)."""
    from gpo_vae.config import load_config
    from gpo_vae.data.prepare import prepare

    config = load_config(args.config, args.set)
    result = prepare(config, progress=not args.quiet, force=args.force)
    if result.from_cache:
        m = result.manifest
        print(f"  {m['n_cells']:,} cells x {m['n_genes']:,} genes, "
              f"{m['n_perturbed_genes']} perturbed + {m['n_extra_genes']} extra genes, "
              f"splits {m['cells_per_split']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train GPO-VAE on a prepared (or to-be-prepared) screen."""
    from gpo_vae.config import load_config
    from gpo_vae.evaluation.diagnostics import diagnostics_callback
    from gpo_vae.training.train import train

    config = load_config(args.config, args.set)
    run_dir = Path(args.out) if args.out else config.run_dir
    check_output_folder(run_dir, "run", run_dir, force=args.force,
                        what="--out" if args.out else "the run folder (output_dir/name)")
    train(config, run_dir=args.out, resume=args.resume, progress=not args.quiet,
          diagnostics=diagnostics_callback)
    return 0


def cmd_export_grn(args: argparse.Namespace) -> int:
    """Write the learned GRN as CSV, edge list, GraphML and a heatmap."""
    from gpo_vae.export import export_grn

    check_name_length(args.out, "--out")
    summary = export_grn(args.run, args.out, threshold=args.threshold, top_k=args.top_k,
                         stability=args.stability, stability_epochs=args.stability_epochs,
                         seed=args.seed, force=args.force, data_path=args.data)
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


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a trained run on held-out cells beside baselines and the ceiling."""
    from gpo_vae.evaluation.grn_reference import parse_reference_argument, read_reference_specs
    from gpo_vae.evaluation.report import evaluate
    from gpo_vae.evaluation.settings import default_global_draws

    references = [parse_reference_argument(text) for text in args.reference_network]
    if args.reference_spec:
        references += read_reference_specs(args.reference_spec)
    settings = EvaluationSettings(split=args.split, n_samples=args.n_samples,
                                  n_global=default_global_draws(args.n_samples),
                                  iwelbo_particles=args.iwelbo_particles, seed=args.seed)
    result = evaluate(args.run, settings=settings, references=references,
                      progress=not args.quiet, out_dir=args.out, globals_=args.globals,
                      force=args.force, data_path=args.data)
    print(result.table())
    where = result.files["metrics"].parent
    print(f"wrote metrics.json, per_perturbation.csv, predictions.h5ad and plots/ to "
          f"{where}/ in {result.metrics['seconds']} s")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
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


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """``--data``: a trained run's input file at a new location (the run folder stores the
    absolute ``data.path`` it was trained on)."""
    parser.add_argument("--data", metavar="H5AD", default=None,
                        help="the run's input file, when it moved from the data.path stored "
                        "in the run's config.yaml [default: that path]")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gpo-vae train`` (shared with train_adamson.py and friends)."""
    parser.add_argument("--config", required=True,
                        help="YAML config (ours, or the authors' flat format)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set training.max_epochs=10")
    parser.add_argument("--out", metavar="DIR",
                        help="run folder [default: <output_dir>/<name> from the config]")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run from its checkpoints/last.ckpt")
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpo-vae",
        description="GPO-VAE for Perturb-seq: predict perturbation responses and infer a GRN.",
    )
    parser.add_argument("--version", action="version", version=f"gpo-vae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    sim.set_defaults(func=cmd_simulate)

    prep = sub.add_parser(
        "prepare",
        help="QC, filters, splits and control pairing; cached",
        description="Turn a raw Perturb-seq AnnData into everything GPO-VAE trains on. The "
        "result is cached under <output_dir>/cache keyed by the input file and settings; a "
        "second run with the same ones reuses it.",
    )
    prep.add_argument("--config", help="YAML config (sections: data, ...); defaults if omitted")
    prep.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a config value, e.g. --set data.path=screen.h5ad")
    prep.add_argument("--force", action="store_true", help="prepare again even if cached")
    prep.add_argument("--quiet", action="store_true", help="no progress bars")
    prep.set_defaults(func=cmd_prepare)

    tr = sub.add_parser(
        "train",
        help="train GPO-VAE (prepares the data first, or reuses the cache)",
        description="Train GPO-VAE. The run folder gets config.yaml, checkpoints/ (best by "
        "validation loss, and last), CSV logs, training_summary.json and "
        "plots/training_curves.png.",
    )
    add_train_arguments(tr)
    tr.set_defaults(func=cmd_train)

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
    ex.set_defaults(func=cmd_export_grn)

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
    ev.add_argument("--out", metavar="DIR", default=None,
                    help="write the results here [default: the run folder for --split test, "
                    "RUN/eval_val/ for --split val]")
    add_data_argument(ev)
    ev.add_argument("--seed", type=int, default=EVALUATION_DEFAULTS.seed,
                    help=f"random seed [default: {EVALUATION_DEFAULTS.seed}]")
    ev.add_argument("--force", action="store_true", help=FORCE_HELP)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_evaluate)

    add_benchmark_command(sub)
    add_design_command(sub)
    add_download_command(sub)

    sw = sub.add_parser(
        "sweep",
        help="hyperparameter sweep: trials as cached redun tasks, results table at the end",
        description="Run a Weights & Biases sweep file as a redun workflow: every trial "
        "trains and is scored on the validation split; a rerun reuses finished trials. "
        "Writes sweep_results.csv and sweep_results.png to the sweep folder, and scores the "
        "best trial once on the test split beside the baselines.",
    )
    add_sweep_arguments(sw)
    sw.set_defaults(func=cmd_sweep)

    val = sub.add_parser(
        "validate",
        help="check that an AnnData file is a usable Perturb-seq screen",
        description="Check raw counts, the perturbation column, control cells and gene "
        "names of an h5ad file; print a one-line summary or a one-line error.",
    )
    val.add_argument("path", help="input .h5ad file")
    val.add_argument("--perturbation-key", default=None,
                     help="obs column with the perturbed gene [default: gene, or the config's]")
    val.add_argument("--control-label", default=None,
                     help=f"label of control cells [default: {DEFAULT_CONTROL_LABEL}, or the "
                     "config's]")
    val.add_argument("--combination-separator", default=None, metavar="SEP",
                     help="separator of multi-gene labels such as A+B [default: none]")
    val.add_argument("--config", default=None, metavar="YAML",
                     help="read the schema from this config's data section (flags win)")
    val.add_argument("--counts-layer", default=None,
                     help="layer with raw counts [default: X]")
    val.add_argument("--gene-symbol-key", default=None,
                     help="var column with gene symbols [default: var_names]")
    val.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpo-vae`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    log_to_stderr()  # progress lines of long steps when stderr is not a terminal
    try:
        return int(args.func(args) or 0)
    except GpoVaeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller preset or data set", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
