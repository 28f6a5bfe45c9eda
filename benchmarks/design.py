"""Intervention design (``gpo-vae design``) measured on simulated screens, several seeds.

    python benchmarks/design.py --seeds 0 1 2            # train, then all three tasks
    python benchmarks/design.py --tasks identification --seeds 0 --n-targets 10
    python benchmarks/design.py --table-only             # rebuild the table from results

Tasks (each seed trains its own model with ``gpo-vae train``; the data split is fixed):

- ``identification`` (demo model, default preset): each perturbation's held-out test
  profile (on the 20 genes those cells change most, the design default) is the target,
  K = 1; is the true perturbation ranked first / in the top 3?
  Beside it, the per-perturbation mean: every perturbation's *training*-cell ATE ranked
  by the same distance to the target (model-free profile matching).
- ``pairs`` (``combinations`` preset, ``data.split=combinations``: the doubles are held
  out of training): each double's test profile is the target, K = 2; is the true pair
  among the top 5 designs? Beside it, the sum of the two singles' training ATEs
  (additive profile matching) over every pair.
- ``closed_loop`` (demo model): 10 signed gene-set targets, each the 10 genes (besides
  the perturbed ones) that a hidden random pair of perturbations moves most in the
  simulator, up or down, at the size it moves them (the mean |ATE| of those genes; a
  "reachable" signature; matched on those genes); K = 2 designs are applied in the
  simulator (new cells) beside 20 random pairs; the ratio of the random pairs' median
  simulated distance to the best design's, and the hidden pair's own distance (ceiling).

Runs go to ``results/design_bench/<data>/seed<k>/`` and results are kept in
``result_<task>.json`` there, so the script resumes. Prints and writes
``results/design_bench/design_bench.md`` (mean +- sd over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "design_bench"
DATA = {
    "demo": {"preset": "default", "path": "results/demo/data/simulated_default.h5ad",
             "overrides": []},
    "combinations": {"preset": "combinations",
                     "path": "results/demo/data/simulated_combinations.h5ad",
                     "overrides": ["data.split=combinations", "name=gpo_vae_combinations"]},
}
TASK_DATA = {"identification": "demo", "closed_loop": "demo", "pairs": "combinations"}
FAST = {"steps": 200, "n_draws": 8}


def trained_run(data: str, seed: int, epochs: int) -> Path:
    """The run of ``data`` and ``seed``, trained (on one CPU thread) if missing."""
    spec = DATA[data]
    folder = OUT / data / f"seed{seed}"
    done = folder / "trained.json"
    if done.is_file():
        return Path(json.loads(done.read_text())["run"])
    exe = [sys.executable, "-m", "gpo_vae"]
    if not (ROOT / spec["path"]).is_file():
        subprocess.run([*exe, "simulate", "--preset", spec["preset"], "--seed", "0", "--out",
                        spec["path"], "--quiet"], cwd=ROOT, check=True)
    out = folder / "run"
    if out.exists():   # an interrupted training: start again
        import shutil
        shutil.rmtree(out)
    cmd = [*exe, "train", "--config", "demo/gpo_vae_demo.yaml", "--out", str(out), "--quiet",
           "--set", f"data.path={spec['path']}", "--set", f"training.seed={seed}",
           "--set", f"training.max_epochs={epochs}"]
    for item in spec["overrides"]:
        cmd += ["--set", item]
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one core each
    with open(folder / "train_log.txt", "w") as log:
        subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True, env=env)
    done.write_text(json.dumps({"run": str(out), "train_seconds":
                                round(time.perf_counter() - start, 1)}))
    return out


def _load(run: Path):
    import gpo_vae as gv
    from gpo_vae.evaluation.report import prepared_data_of

    model = gv.GpoVae.load(run)
    model.adata = prepared_data_of(model.module)
    return model


def _rank(values, truth) -> int:
    """1-based rank of ``truth`` in a list of interventions (inf when absent)."""
    return values.index(truth) + 1 if truth in values else np.inf


def _profile_ranks(targets, candidates, metric: str) -> list[int]:
    """For each target (Series) the rank of its own row among ``candidates`` (DataFrame
    of profiles, one row per intervention) by the design distance."""
    import torch

    from gpo_vae.design import get_distance

    distance = get_distance(metric)
    ranks = []
    for name, target in targets.items():
        d = distance(torch.as_tensor(candidates[target.index].to_numpy()),
                     torch.as_tensor(target.to_numpy())).numpy()
        order = list(candidates.index[np.argsort(d, kind="stable")])
        ranks.append(_rank(order, name))
    return ranks


def _targets(model, names) -> dict:
    """Each name's design target (its test cells, on the genes they change most), which
    the model-free baselines match too."""
    from gpo_vae.design import target_from_perturbation

    return {n: target_from_perturbation(model.adata, n).values for n in names}


def identification(model, n_targets: int | None, seed: int) -> dict:
    from gpo_vae.design import observed_ates

    info = model.data_info
    names = [n for n, k in zip(info.treatment_names, info.treatment_kinds, strict=True)
             if k == "perturbed"]
    names = names[:n_targets] if n_targets else names
    targets = _targets(model, names)
    ranks, seconds = [], []
    for name in names:
        result = model.design(f"perturbation:{name}", seed=seed, **FAST)
        ranks.append(_rank(list(result.designs["intervention"]), name))
        seconds.append(sum(result.seconds.values()))
    every = [n for n, k in zip(info.treatment_names, info.treatment_kinds, strict=True)
             if k == "perturbed"]
    train = observed_ates(model.adata, every, "train")
    baseline = _profile_ranks(targets, train, "mix")
    return {"n_targets": len(names), "design_top1": float(np.mean(np.array(ranks) <= 1)),
            "design_top3": float(np.mean(np.array(ranks) <= 3)),
            "mean_top1": float(np.mean(np.array(baseline) <= 1)),
            "mean_top3": float(np.mean(np.array(baseline) <= 3)),
            "seconds_per_design": float(np.median(seconds)),
            "ranks": [float(r) for r in ranks], "baseline_ranks": [float(r) for r in baseline]}


def pairs(model, n_targets: int | None, seed: int) -> dict:
    import itertools

    import pandas as pd

    from gpo_vae.design import observed_ates

    labels = model.adata.obs["perturbation"].astype(str)
    test = model.adata.obs["split"].astype(str) == "test"
    doubles = sorted({label for label in labels[test] if "+" in label})
    doubles = doubles[:n_targets] if n_targets else doubles
    targets = _targets(model, doubles)
    ranks, seconds = [], []
    for name in doubles:
        result = model.design(f"perturbation:{name}", max_perturbations=2, seed=seed, **FAST)
        found = ["+".join(sorted(i.split("+"))) for i in result.designs["intervention"]]
        ranks.append(_rank(found, "+".join(sorted(name.split("+")))))
        seconds.append(sum(result.seconds.values()))
    info = model.data_info
    singles = [n for n, k in zip(info.treatment_names, info.treatment_kinds, strict=True)
               if k == "perturbed" and n in set(labels[~test])]
    train = observed_ates(model.adata, singles, "train")
    additive = pd.DataFrame({f"{a}+{b}": train.loc[a] + train.loc[b]
                             for a, b in itertools.combinations(sorted(singles), 2)}).T
    baseline = _profile_ranks({"+".join(sorted(n.split("+"))): targets[n] for n in doubles},
                              additive, "mix")
    return {"n_targets": len(doubles), "design_top5": float(np.mean(np.array(ranks) <= 5)),
            "design_top1": float(np.mean(np.array(ranks) <= 1)),
            "additive_top5": float(np.mean(np.array(baseline) <= 5)),
            "seconds_per_design": float(np.median(seconds)),
            "ranks": [float(r) for r in ranks], "baseline_ranks": [float(r) for r in baseline]}


def closed_loop(model, n_targets: int, seed: int) -> dict:
    from gpo_vae.design.closed_loop import simulated_distances, simulation_settings
    from gpo_vae.simulation.intervene import InterventionSimulator

    simulator = InterventionSimulator(simulation_settings(model.adata))
    rng = np.random.default_rng(1000 + seed)
    genes = set(model.data_info.gene_names)
    rows = []
    for k in range(n_targets):
        hidden = tuple(sorted(rng.choice(simulator.perturbable, 2, replace=False).tolist()))
        effect = simulator.ates([hidden], n_cells=1000, seed=500 + k).iloc[0]
        effect = effect[[g for g in effect.index if g in genes and g not in hidden]]
        top = effect.abs().sort_values(ascending=False).index[:10]
        up = [g for g in top if effect[g] > 0]
        down = [g for g in top if effect[g] < 0]
        # the size a pair can reach: a gene set asks for +-strength on its genes
        strength = round(float(effect[top].abs().mean()), 2)
        result = model.design({"up": up, "down": down}, max_perturbations=2, seed=seed,
                              strength=strength, validate_with_simulator=True, **FAST)
        summary = result.validation[1]
        # the ceiling: the hidden pair itself, in the closed loop's own new cells
        oracle = float(simulated_distances(simulator, [hidden], result.target, "mix",
                                           n_cells=summary["n_cells"], seed=seed)[0])
        rows.append({"hidden": "+".join(hidden), "up": up, "down": down, "strength": strength,
                     "best_design": summary["best_design"],
                     "design": summary["best_design_simulated_distance"],
                     "random_median": summary["random_median_simulated_distance"],
                     "ratio": summary["random_to_design_ratio"],
                     "exhaustive": summary["exhaustive_best_simulated_distance"],
                     "hidden_pair": oracle,
                     "found_hidden": set(summary["best_design"].split("+")) == set(hidden),
                     "seconds": sum(result.seconds.values())})
    ratios = [r["ratio"] for r in rows]
    return {"n_targets": n_targets, "median_ratio": float(np.median(ratios)),
            "targets_at_2x": int(sum(r >= 2 for r in ratios)),
            "mean_design_distance": float(np.mean([r["design"] for r in rows])),
            "mean_random_distance": float(np.mean([r["random_median"] for r in rows])),
            "mean_exhaustive_distance": float(np.mean([r["exhaustive"] for r in rows])),
            "mean_hidden_pair_distance": float(np.mean([r["hidden_pair"] for r in rows])),
            "hidden_pair_found": float(np.mean([r["found_hidden"] for r in rows])),
            "seconds_per_design": float(np.median([r["seconds"] for r in rows])),
            "targets": rows}


TASKS = {"identification": identification, "pairs": pairs, "closed_loop": closed_loop}


def _mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    sd = values.std(ddof=1) if values.size > 1 else float("nan")
    return f"{values.mean():.2f} ± {sd:.2f}" if values.size > 1 else f"{values.mean():.2f}"


SECONDS = ("seconds_per_design", "seconds per design, optimiser + exhaustive baseline (median)")


def table() -> str:
    lines = ["| task | measure | mean ± sd over seeds | seeds |", "|---|---|---|---|"]
    measures = {
        "identification": [("design_top1", "design: true perturbation ranked 1st"),
                           ("design_top3", "design: in the top 3"),
                           ("mean_top1", "per-perturbation mean (train cells): 1st"),
                           ("mean_top3", "per-perturbation mean: top 3"),
                           SECONDS],
        "pairs": [("design_top5", "design: true pair in the top 5"),
                  ("design_top1", "design: true pair 1st"),
                  ("additive_top5", "sum of single-perturbation means: top 5"),
                  SECONDS],
        "closed_loop": [("median_ratio", "random / design simulated distance (median of "
                                         "10 targets)"),
                        ("targets_at_2x", "targets with ratio >= 2 (of 10)"),
                        ("mean_design_distance", "best design's simulated distance"),
                        ("mean_exhaustive_distance", "exhaustive baseline's best"),
                        ("mean_random_distance", "random pairs (median)"),
                        ("mean_hidden_pair_distance", "the hidden pair itself (ceiling)"),
                        ("hidden_pair_found", "best design is the hidden pair"),
                        SECONDS],
    }
    for task, rows in measures.items():
        files = sorted((OUT / TASK_DATA[task]).glob(f"seed*/result_{task}.json"))
        results = [json.loads(f.read_text()) for f in files]
        if not results:
            continue
        for key, label in rows:
            lines.append(f"| {task} | {label} | {_mean_sd([r[key] for r in results])} | "
                         f"{len(results)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--n-targets", type=int, default=None,
                        help="targets per task (default: every perturbation; 10 gene sets)")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.table_only:
        import torch

        torch.set_num_threads(1)   # the other core trains or runs the next job
        for seed in args.seeds:
            for task in args.tasks:
                data = TASK_DATA[task]
                path = OUT / data / f"seed{seed}" / f"result_{task}.json"
                if path.is_file():
                    continue
                model = _load(trained_run(data, seed, args.epochs))
                n = args.n_targets or (10 if task == "closed_loop" else None)
                start = time.perf_counter()
                result = TASKS[task](model, n, seed)
                result["seconds"] = round(time.perf_counter() - start, 1)
                path.write_text(json.dumps(result, indent=1))
                print(f"{task} seed {seed}: " + ", ".join(
                    f"{k} {v:.2f}" for k, v in result.items() if isinstance(v, float)),
                    flush=True)
    text = table()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "design_bench.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
