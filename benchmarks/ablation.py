"""Ablation of the model-learning changes: each on its own and together, several seeds.

    python benchmarks/ablation.py --data demo --seeds 0 1 2 --jobs 2
    python benchmarks/ablation.py --data papalexi --settings authors anchored --seeds 0 1 2
    python benchmarks/ablation.py --table-only            # rebuild the tables from results
    python benchmarks/ablation.py --data demo --results anchored   # every metric, one setting
    python benchmarks/ablation.py --data demo --grn        # the GRN of every setting

The ablation is configuration over the package's runner (:mod:`gpo_vae.jobs`, the one
sweeps, benchmarks and bootstraps use): every (setting, seed) is a job that trains the
data's config plus the setting's overrides (what ``gpo-vae train`` does), then evaluates
``best.ckpt`` and ``last.ckpt`` on the held-out test cells. Runs go in
``results/ablation/<data>/<setting>/seed<k>/`` (with their ``log.txt``) and are skipped
when their ``result.json`` exists, so the script resumes. ``--jobs`` runs that many at
once, each in its own process with its share of the cores (2 on a 2-core machine; more
only slows each). The tables
(``results/ablation/ablation_<data>.md``) give mean +- sd over seeds of the model's ATE
Pearson top-20 beside the per-perturbation mean, ridge and the split-half ceiling.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "ablation"
SHARED_DATA = ROOT.parent / "shared" / "data"
DATA = {
    "demo": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50},
    "papalexi": {"config": "demo/gpo_vae_papalexi.yaml", "epochs": 40},
    # unseen perturbations: whole perturbations held out of training
    "demo_unseen": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                    "overrides": ["data.split=perturbations"]},
    "papalexi_unseen": {"config": "demo/gpo_vae_papalexi.yaml", "epochs": 40,
                        "overrides": ["data.split=perturbations"]},
    # the same model on other simulated screens: another network seed, and the small preset
    "demo_seed1": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                   "simulate": ("default", 1,
                                "results/ablation/data/simulated_default_seed1.h5ad")},
    "demo_seed1_unseen": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                          "overrides": ["data.split=perturbations"],
                          "simulate": ("default", 1,
                                       "results/ablation/data/simulated_default_seed1.h5ad")},
    "small": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
              "simulate": ("small", 0, "results/ablation/data/simulated_small.h5ad")},
    # singles and 64 doubles of a partial design (a fifth of the paired genes never alone):
    # every condition seen in training; then whole doubles of seen singles held out
    "combinations": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                     "simulate": ("combinations", 0,
                                  "results/ablation/data/simulated_combinations.h5ad")},
    "combinations_heldout": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                             "overrides": ["data.split=combinations"],
                             "simulate": ("combinations", 0,
                                          "results/ablation/data/simulated_combinations.h5ad")},
    # few cells per perturbation: the default preset with a quarter of the cells (a median
    # of about 20 training cells per perturbation)
    "demo_fewcells": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                      "simulate": ("default", 0, "results/ablation/data/simulated_2500.h5ad",
                                   ["n_cells=2500"])},
    # the same on screens of other network seeds (a change tuned to one screen shows here)
    "demo_fewcells_seed1": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                            "simulate": ("default", 1,
                                         "results/ablation/data/simulated_2500_seed1.h5ad",
                                         ["n_cells=2500"])},
    "demo_fewcells_seed2": {"config": "demo/gpo_vae_demo.yaml", "epochs": 50,
                            "simulate": ("default", 2,
                                         "results/ablation/data/simulated_2500_seed2.h5ad",
                                         ["n_cells=2500"])},
}
# name: (description, overrides on top of the data's config). The prediction mode needs no
# training of its own: every run's last.ckpt is also scored with the other mode
# (``evaluate --globals``), giving the rows "authors + posterior-mean prediction" and
# "anchored, sampled globals in prediction".
SETTINGS = {
    "authors_training": ("authors' variant and training (batch 512, 5 particles, lr 3e-4)",
                         ["model.variant=authors", "training.lr=0.0003", "data.batch_size=512",
                          "training.n_particles=5"]),
    "authors": ("authors' variant, our training (batch 128, 2 particles, lr 3e-3)",
                ["model.variant=authors"]),
    "authors+mean_field": ("authors + mean-field encoder",
                           ["model.variant=authors", "guide.encoder=mean_field"]),
    "authors+pseudobulk": ("authors + pseudobulk consistency (weight 10)",
                           ["model.variant=authors", "loss.pseudobulk_coeff=10"]),
    "anchored": ("anchored default: pseudobulk term over every condition (single "
                 "perturbations' targets shrunk toward what their knockdown implies, "
                 "combinations' toward the additive model of every condition), "
                 "own-gene effect spread to co-expressed genes, the linear response in the "
                 "decoder, "
                 "mean-field encoder, posterior-mean prediction, q(M) aligned to direct-edge "
                 "probabilities", []),
    "anchored-features": ("anchored without gene features (one free row per gene: the "
                          "model before the prediction issue)",
                          ["model.gene_features=none"]),
    "anchored-knockdown_shrinkage": ("anchored without the knockdown shrinkage (the "
                                     "pseudobulk targets are the raw training shifts)",
                                     ["loss.knockdown_shrinkage=false"]),
    "anchored-additive_shrinkage": ("anchored without the additive shrinkage (each "
                                    "combination's pseudobulk target is its raw shift)",
                                    ["loss.additive_shrinkage=false"]),
    "anchored-downstream": ("anchored without the downstream spread of the own-gene "
                            "effect (a perturbation shifts its own gene alone)",
                            ["model.downstream_genes=0"]),
    "anchored-linear": ("anchored without the linear response (the linear baseline inside "
                        "the decoder)", ["model.linear_response=false"]),
    "anchored-downstream-linear": ("anchored without the downstream spread and the linear "
                                   "response (the model of the first gene-features release)",
                                   ["model.downstream_genes=0",
                                    "model.linear_response=false"]),
    "anchored+shrinkage": ("anchored with shrinkage of each condition's target toward the "
                           "features' prediction by its reliability",
                           ["loss.shrinkage=true", "model.linear_response=false"]),
    "anchored+pseudobulk30": ("anchored with the pseudobulk term weighted 30 (default 10)",
                              ["loss.pseudobulk_coeff=30"]),
    "anchored+authors_alignment": ("anchored with the authors' GRN alignment (the default "
                                   "until the direct alignment)", ["loss.alignment=authors"]),
    # the ATE levers below were measured with the authors' alignment, which they keep
    "anchored-pseudobulk": ("anchored (authors' alignment) without the pseudobulk term",
                            ["loss.alignment=authors", "loss.pseudobulk_coeff=0"]),
    "anchored-mean_field": ("anchored (authors' alignment) with the correlated encoder",
                            ["loss.alignment=authors", "guide.encoder=correlated"]),
    "anchored+prior_basal": ("anchored (authors' alignment), pseudobulk term decodes prior "
                             "z_basal", ["loss.alignment=authors",
                                         "loss.pseudobulk_basal=prior"]),
}
EVALUATION = {"n_samples": 1000, "iwelbo_particles": 10}


def _shared_data(config: str) -> list[str]:
    """``data.path`` in ../shared/data when the config's ``datasets/`` file is absent: the
    developers' copy of the public data (``gpo-vae download`` fills datasets/ elsewhere)."""
    path = str(yaml.safe_load((ROOT / config).read_text())["data"].get("path") or "")
    if not path.startswith("datasets/") or (ROOT / path).exists():
        return []
    shared = SHARED_DATA / path.removeprefix("datasets/")
    return [f"data.path={shared}"] if shared.exists() else []


def _spec(data: str) -> dict:
    """The data's entry, with the simulated file's path among its overrides."""
    spec = DATA[data]
    if "simulate" not in spec and _shared_data(spec["config"]):
        spec = {**spec, "overrides": [*_shared_data(spec["config"]),
                                      *spec.get("overrides", [])]}
    if "simulate" in spec:
        spec = {**spec, "overrides": [*spec.get("overrides", []),
                                      f"data.path={ROOT / spec['simulate'][2]}"]}
    return spec


def _overrides(data: str, setting: str, seed: int, epochs: int | None,
               extra: list[str]) -> list[str]:
    """Every ``--set`` of one run. training.seed only: the data split stays fixed, so
    seeds vary the model alone."""
    spec = _spec(data)
    return [*spec.get("overrides", []), *SETTINGS[setting][1], f"training.seed={seed}",
            f"training.max_epochs={epochs or spec['epochs']}",
            f"training.early_stopping_patience={epochs or spec['epochs']}", *extra]


def _settings_of(overrides: list[str] | None) -> list[str]:
    """The overrides that define a run, without where its input file lies (datasets/ or
    the developers' copy: the same file)."""
    return [item for item in overrides or [] if not item.startswith("data.path=")]


def run_one(data: str, setting: str, seed: int, epochs: int | None, extra: list[str]) -> dict:
    """Train and evaluate one (data, setting, seed): a job of the package's runner
    (:func:`gpo_vae.jobs.run_jobs`); returns and stores its result, or reuses it."""
    from gpo_vae.progress import job_log

    folder = OUT / data / setting / f"seed{seed}"
    result_file = folder / "result.json"
    with job_log(folder / "log.txt"):
        if result_file.is_file():
            return _stored(result_file, data, setting, seed, epochs, extra)
        _simulate_if_missing(_spec(data))
        result = _train_and_evaluate(data, setting, seed, _overrides(data, setting, seed,
                                                                     epochs, extra), folder)
    result_file.write_text(json.dumps(result, indent=1))
    return result


def _stored(result_file: Path, data, setting, seed, epochs, extra) -> dict:
    """A finished run's result; an evaluation added since is scored now."""
    result = json.loads(result_file.read_text())
    expected = _overrides(data, setting, seed, epochs, extra)
    if _settings_of(result.get("overrides")) != _settings_of(expected):
        raise SystemExit(
            f"{result_file.parent} was trained with {result.get('overrides')}, but "
            f"{setting!r} now means {expected}; move that folder away (or delete it) to "
            "train the setting as it is defined now")
    result.setdefault("ate_decoding", _run_decoding(data, result["overrides"]))
    # missing, or scored with another ATE decoding than the evaluation asks for (a run
    # scored before model.ate_decoding existed read sampled counts)
    missing = [e for e in _evaluations(result["predict_globals"], result["ate_decoding"])
               if e[0] not in result or result[e[0]].get("ate_decoding", "sampled")
               != (e[3] or result["ate_decoding"])]
    for which, ckpt, globals_, decoding in missing:
        _evaluate(result, result_file.parent, which, ckpt, globals_, decoding)
    if missing:
        result_file.write_text(json.dumps(result, indent=1))
    return result


def _run_decoding(data: str, overrides: list[str]) -> str:
    """The ATE decoding a run's settings resolve to (stored results before it existed)."""
    from gpo_vae.config import load_config

    return load_config(ROOT / _spec(data)["config"], overrides).model.ate_decoding


def _simulate_if_missing(spec: dict) -> None:
    if "simulate" not in spec:
        return
    from gpo_vae.simulation import preset_config
    from gpo_vae.simulation.simulator import simulate_to_h5ad

    preset, sim_seed, path, *sim_sets = spec["simulate"]
    if not (ROOT / path).is_file():
        settings = dict(item.split("=", 1) for item in (sim_sets[0] if sim_sets else []))
        config = preset_config(preset).with_overrides(
            **{k: yaml.safe_load(v) for k, v in settings.items()})
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        simulate_to_h5ad(ROOT / path, seed=sim_seed, config=config)


def _train_and_evaluate(data: str, setting: str, seed: int, overrides: list[str],
                        folder: Path) -> dict:
    from gpo_vae.config import load_config
    from gpo_vae.evaluation.diagnostics import diagnostics_callback
    from gpo_vae.training.train import train

    run_dir = folder / "run"
    if run_dir.exists():  # an interrupted run: start it again
        shutil.rmtree(run_dir)
    config = load_config(ROOT / _spec(data)["config"], overrides)
    start = time.perf_counter()
    train(config, run_dir=run_dir, diagnostics=diagnostics_callback)
    result = {"data": data, "setting": setting, "seed": seed, "overrides": overrides,
              "train_seconds": round(time.perf_counter() - start, 1),
              "training": json.loads((run_dir / "training_summary.json").read_text()),
              "predict_globals": config.model.predict_globals,
              "ate_decoding": config.model.ate_decoding}
    for which, ckpt, globals_, decoding in _evaluations(result["predict_globals"],
                                                        result["ate_decoding"]):
        _evaluate(result, folder, which, ckpt, globals_, decoding)
    return result


def _evaluations(predict_globals: str, ate_decoding: str
                 ) -> list[tuple[str, str, str | None, str | None]]:
    """(result key, checkpoint, globals, ATE decoding) of every evaluation of a run; None:
    the run's own. last.ckpt is also scored with the other globals and the other
    decoding (the prediction choices need no training of their own)."""
    other = "sample" if predict_globals == "mean" else "mean"
    decoding = "sampled" if ate_decoding == "expected" else "expected"
    return [("best", "best", None, None), ("last", "last", None, None),
            (f"last_{other}", "last", other, None),
            (f"last_{decoding}_ates", "last", None, decoding)]


def _evaluate(result: dict, folder: Path, which: str, ckpt: str, globals_: str | None,
              decoding: str | None = None) -> None:
    from gpo_vae.evaluation.report import evaluate
    from gpo_vae.evaluation.settings import EvaluationSettings, default_global_draws

    settings = EvaluationSettings(**EVALUATION, ate_decoding=decoding,
                                  n_global=default_global_draws(EVALUATION["n_samples"]))
    out = folder / f"eval_{which}"
    metrics = evaluate(folder / "run" / "checkpoints" / f"{ckpt}.ckpt", settings=settings,
                       out_dir=out, globals_=globals_, force=True).metrics
    entry = {m: v.get("pearson_top20") for m, v in metrics["ate"].items()}
    entry["predict_globals"] = metrics.get("predict_globals")
    entry["ate_decoding"] = metrics.get("ate_decoding")
    entry["pearson_all"] = metrics["ate"]["model"].get("pearson_all")
    entry["iwelbo_test"] = metrics.get("iwelbo_test")
    entry["grn_auprc"] = (metrics["grn"].get("truth") or {}).get("auprc")
    result[which] = entry


def _mean_sd(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    sd = np.std(values, ddof=1) if len(values) > 1 else float("nan")
    return f"{np.mean(values):.3f} ± {sd:.3f}" if len(values) > 1 else f"{values[0]:.3f}"


# rows scored from another setting's runs with another prediction choice:
# setting -> [(row, description, result key)]
DERIVED = {"authors": [("authors+mean_prediction", "authors + posterior-mean prediction",
                        "last_mean"),
                       ("authors+expected_ates", "authors, ATEs from the decoded expression "
                        "(no count noise)", "last_expected_ates")],
           "anchored": [("anchored-mean_prediction", "anchored, sampled globals in "
                         "prediction", "last_sample"),
                        ("anchored-expected_ates", "anchored, ATEs from sampled counts (the "
                         "authors' decoding)", "last_sampled_ates")],
           "anchored+authors_alignment": [("anchored+authors_alignment-mean_prediction",
                                           "anchored (authors' alignment), sampled globals "
                                           "in prediction", "last_sample")]}


def _row(setting: str, description: str, results: list[dict], last: str) -> str:
    best = _mean_sd([r["best"]["model"] for r in results]) if last == "last" else "-"
    return "| {} | {} | {} | {} | {} | {} | {:.0f} |".format(
        setting, description, len(results), _mean_sd([r[last]["model"] for r in results]),
        best, _mean_sd([r[last]["grn_auprc"] for r in results]),
        np.mean([r["train_seconds"] for r in results]))


BASELINE_LABELS = {"baseline_pert_mean": "per-perturbation mean",
                   "baseline_additive": "additive",
                   "baseline_additive_fit": "additive fitted over every condition",
                   "baseline_linear": "ridge",
                   "baseline_global_mean": "global mean"}


def _per_perturbation(data: str, setting: str, which: str = "last") -> pd.DataFrame | None:
    """Seed-averaged per-perturbation Pearson top-20 of the model (``which``.ckpt) beside
    the baselines (perturbations x methods), with each perturbation's kind."""
    frames = [pd.read_csv(p) for p in sorted((OUT / data / setting).glob(
        f"seed*/eval_{which}/per_perturbation.csv"))]
    if not frames:
        return None
    wide = pd.concat(frames).groupby(["perturbation", "method"])["pearson_top20"].mean() \
        .unstack("method")
    first = frames[0].drop_duplicates("perturbation").set_index("perturbation")
    # split=combinations holds out only doubles whose singles are all in the data (and so
    # in training: gpo_vae.data.splits); those singles have no test cells, so no row here
    held_out_singles = "data.split=combinations" in _spec(data).get("overrides", [])
    wide["kind"] = [_kind(p, first, held_out_singles) for p in wide.index]
    return wide


def _kind(label: str, rows: pd.DataFrame, singles_in_training: bool = False) -> str:
    """single (seen or unseen), double of seen singles, or double with a gene never seen
    alone in training. ``singles_in_training``: every held-out double's singles were
    trained on (split=combinations), though they have no rows among the test results."""
    seen = rows.loc[label, "n_train_cells"] > 0 if label in rows.index else False
    if "+" not in label:
        return "single" if seen else "unseen single"
    parts_seen = (singles_in_training and not seen) or all(
        p in rows.index and rows.loc[p, "n_train_cells"] > 0 for p in label.split("+"))
    prefix = "double" if seen else "unseen double"
    return f"{prefix} of seen singles" if parts_seen else f"{prefix}, a gene never alone"


def verdicts(data: str, setting: str, which: str = "last") -> list[str]:
    """Paired verdicts of the seed-averaged model (``which``.ckpt) against each baseline,
    per kind of perturbation (bootstrap interval and signed-rank test over perturbations)."""
    wide = _per_perturbation(data, setting, which)
    return [] if wide is None else kind_verdicts(wide)


def kind_verdicts(wide: pd.DataFrame, labels: dict[str, str] | None = None) -> list[str]:
    """The model's paired verdict against each column of ``labels`` (column -> name;
    default the baselines), per kind of perturbation of ``wide``."""
    from gpo_vae.evaluation.compare import paired_comparison

    lines = []
    for kind, group in wide.groupby("kind"):
        for column, label in (labels or BASELINE_LABELS).items():
            if column not in group or group[column].notna().sum() < 2:
                continue
            c = paired_comparison(group["model"].to_numpy(), group[column].to_numpy(),
                                  metric="pearson_top20", names=("GPO-VAE", label))
            lines.append(f"{kind} ({c.n}): {c.verdict}")
    return lines


def derived_verdicts(data: str, setting: str) -> list[str]:
    """Paired verdicts of ``setting``'s own prediction (last.ckpt) against each of its
    derived rows (the same runs scored with another prediction choice)."""
    wide = _per_perturbation(data, setting)
    lines = []
    for name, _, key in DERIVED.get(setting, []):
        other = _per_perturbation(data, setting, key)
        if wide is None or other is None:
            continue
        paired = wide.assign(derived=other["model"])
        lines += [f"- {setting} against {name}, {line}"
                  for line in kind_verdicts(paired, {"derived": name})]
    return lines


def table(data: str) -> str:
    """Markdown table of every finished setting of ``data``."""
    rows = []
    baselines: dict[str, list[float]] = {}
    for setting, (description, _) in SETTINGS.items():
        results = [json.loads(p.read_text())
                   for p in sorted((OUT / data / setting).glob("seed*/result.json"))]
        if not results:
            continue
        for key in ("baseline_pert_mean", "baseline_linear", "ceiling_split_half"):
            baselines.setdefault(key, []).extend(r["last"][key] for r in results
                                                 if r["last"][key] is not None)
        rows.append(_row(setting, description, results, "last"))
        for name, description, key in DERIVED.get(setting, []):
            scored = [r for r in results if key in r]
            if scored:
                rows.append(_row(name, description, scored, key))
    if not rows:
        return f"no finished runs for {data}"
    said = [f"- {setting}, {line}" for setting in SETTINGS for line in verdicts(data, setting)]
    # best.ckpt is what `gpo-vae evaluate RUN` and GpoVae.train give a user by default
    said_best = [f"- {setting}, {line}" for setting in SETTINGS
                 for line in verdicts(data, setting, "best")]
    head = [f"ATE Pearson top-20 on held-out test cells ({data}); mean ± sd over seeds.",
            "Baselines (fitted on training cells, the same for every seed): "
            + ", ".join(f"{k} {np.mean(v):.3f}" if v else f"{k} -"
                        for k, v in baselines.items()), "",
            "| setting | what | seeds | model (last.ckpt) | model (best.ckpt) | "
            "GRN AUPRC (truth) | train s |", "|---|---|---|---|---|---|---|"]
    said += [line for setting in SETTINGS for line in derived_verdicts(data, setting)]
    tail = ["", "Paired verdicts (model averaged over seeds, last.ckpt; per kind of "
            "perturbation):", "", *said] if said else []
    if said_best:
        tail += ["", "The same with best.ckpt (lowest validation loss: what `gpo-vae "
                 "evaluate RUN` and GpoVae.train give by default):", "", *said_best]
    return "\n".join(head + rows + tail)


METHOD_NAMES = {"model": "GPO-VAE", "baseline_pert_mean": "per-perturbation train mean",
                "baseline_global_mean": "global train mean",
                "baseline_linear": "linear (ridge on PCA)",
                "ceiling_split_half": "split-half ceiling",
                "ceiling_noise_free": "noise-free ceiling"}
METRIC_COLUMNS = ("pearson_all", "pearson_top20", "r2_top20", "jaccard_top20", "jaccard_top50")


def results_table(data: str, setting: str = "anchored", which: str = "last") -> str:
    """Every ATE metric of one setting's runs (mean +- sd over seeds) beside the
    baselines and ceilings, read from the runs' ``metrics.json``."""
    files = sorted((OUT / data / setting).glob(f"seed*/eval_{which}/metrics.json"))
    if not files:
        return f"no finished {setting} runs for {data}"
    runs = [json.loads(f.read_text()) for f in files]
    lines = [f"{data}, {setting}, {which}.ckpt, {len(runs)} seeds; "
             f"{runs[0]['n_test_cells']:,} test cells, {runs[0]['n_perturbations_scored']} "
             "perturbations", "",
             "| method | " + " | ".join(METRIC_COLUMNS) + " |",
             "|---|" + "---|" * len(METRIC_COLUMNS)]
    for method, name in METHOD_NAMES.items():
        cells = [_mean_sd([r["ate"].get(method, {}).get(c) for r in runs])
                 if method == "model" else _mean_sd([runs[0]["ate"].get(method, {}).get(c)])
                 for c in METRIC_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    truth = [r["grn"].get("truth") or {} for r in runs]
    if truth[0].get("auprc") is not None:
        lines.append("")
        lines.append(f"GRN vs truth: AUPRC {_mean_sd([t['auprc'] for t in truth])} (random "
                     f"{truth[0]['random_auprc']:.3f}, |correlation| "
                     f"{truth[0]['baseline_correlation_auprc']:.3f}, mean shift "
                     f"{truth[0]['baseline_mean_shift_auprc']:.3f}, direct shift "
                     f"{truth[0].get('baseline_direct_shift_auprc') or float('nan'):.3f}), "
                     f"AUROC {_mean_sd([t['auroc'] for t in truth])}, precision at "
                     f"{truth[0]['k']} {_mean_sd([t['precision_at_k'] for t in truth])} "
                     f"(mean shift {truth[0]['baseline_mean_shift_precision_at_k']:.3f})")
        reach = [t.get("reachability") for t in truth]
        if reach[0]:
            lines.append(f"GRN vs reachability: AUPRC {_mean_sd([r['auprc'] for r in reach])} "
                         f"(random {reach[0]['random_auprc']:.3f}, mean shift "
                         f"{reach[0]['baseline_mean_shift_auprc']:.3f})")
    return "\n".join(lines)


GRN_BASELINE_NAMES = {"correlation": "abs. correlation (train)", "mean_shift": "mean shift (train)",
                      "direct_shift": "direct shift (train)",
                      "interventional_regression": "interventional lasso (train)"}


def _truth_cells(values: list[dict], prefix: str, ks: list[str]) -> list[str]:
    cells = [_mean_sd([v.get(f"{prefix}auprc") for v in values])]
    cells += [_mean_sd([(v.get(f"{prefix}precision_at") or {}).get(k) for v in values])
              for k in ks]
    return cells


def grn_table(data: str, which: str = "last") -> str:
    """The GRN of every finished setting against the simulated truth (direct edges at
    matched K, reachability, calibration) and by the statistical test on held-out cells
    (top 50), beside the model-free baselines (from the newest run's evaluation)."""
    rows, newest = [], None
    for setting in SETTINGS:
        files = sorted((OUT / data / setting).glob(f"seed*/eval_{which}/metrics.json"))
        runs = [json.loads(f.read_text())["grn"] for f in files]
        if not runs:
            continue
        if newest is None or max(f.stat().st_mtime for f in files) > newest[0]:
            newest = (max(f.stat().st_mtime for f in files), runs[-1])
        rows.append((setting, len(runs), [r.get("truth") or {} for r in runs],
                     [r["statistical"]["top_k"].get("50", {}).get("precision") for r in runs]))
    if not rows:
        return f"no finished runs for {data}"
    truth = newest[1].get("truth") or {}
    ks = list(truth.get("precision_at", {}))
    head = ["| score | seeds | " + ("AUPRC | " + " | ".join(f"P@{k}" for k in ks)
                                     + " | reach. AUPRC | ECE | " if truth else "")
            + "stat. P@50 (test) |"]
    head.append("|---|---|" + "---|" * ((len(ks) + 3) if truth else 0) + "---|")
    lines = []
    for setting, n, truths, stat in rows:
        cells = [setting, str(n)]
        if truth:
            cells += _truth_cells(truths, "", ks)
            cells += [_mean_sd([(t.get("reachability") or {}).get("auprc") for t in truths]),
                      _mean_sd([(t.get("calibration") or {}).get("ece") for t in truths])]
        lines.append("| " + " | ".join(cells + [_mean_sd(stat)]) + " |")
    stat_baselines = newest[1]["statistical"].get("baselines") or {}
    for key, name in GRN_BASELINE_NAMES.items():
        if f"baseline_{key}_auprc" not in truth and key not in stat_baselines:
            continue
        cells = [name, "-"]
        if truth:
            cells += _truth_cells([truth], f"baseline_{key}_", ks)
            reach = truth.get("reachability") or {}
            cells += [_mean_sd([reach.get(f"baseline_{key}_auprc")]), "-"]
        stat = (stat_baselines.get(key) or {}).get("50", {}).get("precision")
        lines.append("| " + " | ".join(cells + [_mean_sd([stat])]) + " |")
    title = (f"GRN on {data} ({which}.ckpt): direct-edge AUPRC and precision at K (K = "
             f"{truth['k']} true edges, 50, 100, 500; random AUPRC "
             f"{truth['random_auprc']:.3f}), reachability AUPRC, expected calibration error, "
             "and the held-out statistical precision of the top 50 edges") if truth else \
        f"GRN on {data} ({which}.ckpt): held-out statistical precision of the top 50 edges"
    paired = _paired_grn_lines(rows)
    tail = ["", "q(M)'s AUPRC against each model-free score, paired bootstrap over "
            "regulators, one verdict per seed:", "", *paired] if paired else []
    return "\n".join([title, ""] + head + lines + tail)


def _paired_grn_lines(rows: list) -> list[str]:
    """One line per (setting, baseline): how many seeds' paired bootstrap verdicts say
    beats / ties / loses, with the differences and the largest p-value."""
    lines = []
    for setting, _, truths, _ in rows:
        for key, name in GRN_BASELINE_NAMES.items():
            tests = [t[f"paired_{key}_auprc"] for t in truths if t.get(f"paired_{key}_auprc")]
            if not tests:
                continue
            counts = pd.Series([t["verdict"] for t in tests]).value_counts()
            said = ", ".join(f"{word} in {n} of {len(tests)}" for word, n in counts.items())
            lines.append(f"- {setting} against {name}: {said} (differences "
                         + ", ".join(f"{t['mean_difference']:+.3f}" for t in tests)
                         + f"; largest p = {max(t['p_value'] for t in tests):.2g})")
    return lines


def _run(args) -> None:
    """Every (setting, seed) of the data through the package's runner: ``--jobs`` local
    worker processes, each with its share of the cores (or a cluster: ``--executor``)."""
    from gpo_vae.jobs import run_jobs

    settings = args.settings or list(SETTINGS)
    jobs = [{"data": args.data, "setting": s, "seed": seed, "epochs": args.epochs,
             "extra": args.set} for s in settings for seed in args.seeds]
    results = run_jobs("ablation:run_one", jobs, folder=OUT, workers=args.jobs,
                       executor=args.executor, user_config=args.redun_config)
    for job, r in zip(jobs, results, strict=True):
        pert_mean = r["last"]["baseline_pert_mean"]  # None: unseen
        print(f"{args.data} {job['setting']} seed {job['seed']}: model "
              f"{r['last']['model']:.3f} (last), {r['best']['model']:.3f} (best); pert mean "
              f"{'-' if pert_mean is None else format(pert_mean, '.3f')}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=list(DATA), default="demo")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs [default: the data's ablation budget]")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at once, each in its own process [default: 1]")
    parser.add_argument("--executor", default="local",
                        help="redun executor (local, or one of --redun-config)")
    parser.add_argument("--redun-config", default=None, help="redun config file")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="extra override for every run")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--results", metavar="SETTING",
                        help="print every metric of one setting beside the baselines")
    parser.add_argument("--grn", action="store_true",
                        help="print the GRN table of every finished setting")
    args = parser.parse_args(argv)
    if args.results:
        print(results_table(args.data, args.results))
        return 0
    if args.grn:
        print(grn_table(args.data))
        return 0
    if not args.table_only:
        _run(args)
    text = table(args.data)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"ablation_{args.data}.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
