"""Does the model's interaction term help on doubles it never saw? A check on trained runs.

    python benchmarks/ablation.py --data combinations_heldout --settings anchored --seeds 0 1 2
    python benchmarks/interaction_check.py PREPARED.h5ad \\
        results/ablation/combinations_heldout/anchored/seed*/run

A double's prediction is the sum of its singles' effects plus an interaction. This script
splits the model's latent composition the same way, ``I = model(A+B) - model(A) -
model(B)``, and
scores on the held-out doubles of seen singles (Pearson top-20 on test cells):

- ``additive``: the training means of the singles, summed (the baseline);
- ``model (default)``: what ``predict_ate`` gives (``model.unseen_combinations``);
- ``model, latent composition``: GPO-VAE's own composition (latent rows summed, then
  decoded; ``model.unseen_combinations=latent``);
- ``model's singles, summed``: the model's singles without its interaction;
- ``additive + I``: the baseline plus the model's interaction.

It also reports how well ``I`` matches the observed interaction of the training doubles
(which the pseudobulk term anchors): a good fit there and a loss on held-out doubles means
the interaction is memorised, not learned.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import anndata as ad
import numpy as np

from gpo_vae.api import GpoVae
from gpo_vae.evaluation.evaluate import SplitCells
from gpo_vae.evaluation.metrics import pearson_top20


def check_run(run: str, adata: ad.AnnData, cells: SplitCells) -> dict[str, float]:
    """Mean scores of the four predictions on the held-out doubles, and the training fit."""
    sep = cells.separator or "+"
    train, test = cells.ates("train").values, cells.ates("test").values
    singles = [p for p in train.index if sep not in p]
    seen_pairs = [p for p in train.index if sep in p and set(p.split(sep)) <= set(singles)]
    held_out = [p for p in test.index if sep in p and p not in train.index
                and set(p.split(sep)) <= set(singles)]
    if not held_out:
        raise SystemExit(f"{run}: no held-out double of seen singles in the test split "
                         "(prepare with data.split=combinations)")
    model = GpoVae.load(run, adata)
    conditions = singles + seen_pairs + held_out
    default = model.predict_ate(conditions)
    model.module.config.model.unseen_combinations = "latent"
    predicted = model.predict_ate(conditions)

    def interaction(table, pair):
        first, second = pair.split(sep)
        return (table.loc[pair] - table.loc[first] - table.loc[second]).to_numpy()

    fit = np.corrcoef(np.ravel([interaction(predicted, p) for p in seen_pairs]),
                      np.ravel([interaction(train, p) for p in seen_pairs]))[0, 1]
    scores: dict[str, list[float]] = {"additive": [], "model (default)": [],
                                      "model, latent composition": [],
                                      "model's singles, summed": [], "additive + I": []}
    for pair in held_out:
        first, second = pair.split(sep)
        observed = test.loc[pair].to_numpy()
        additive = (train.loc[first] + train.loc[second]).to_numpy()
        for name, values in (("additive", additive), ("model (default)", default.loc[pair]),
                             ("model, latent composition", predicted.loc[pair]),
                             ("model's singles, summed",
                              predicted.loc[first] + predicted.loc[second]),
                             ("additive + I", additive + interaction(predicted, pair))):
            scores[name].append(pearson_top20(np.asarray(values), observed))
    return {"held-out doubles": len(held_out), "I vs observed, training doubles (r)": fit,
            **{name: float(np.nanmean(v)) for name, v in scores.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", help="the prepared .h5ad the runs were trained on")
    parser.add_argument("runs", nargs="+", help="run folders or checkpoints")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    adata = ad.read_h5ad(args.prepared)
    cells = SplitCells.from_prepared(adata, "test")
    rows = [check_run(run, adata, cells) for run in args.runs]
    names = list(rows[0])
    print("| run | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for run, row in zip(args.runs, rows, strict=True):
        print(f"| {run} | " + " | ".join(f"{row[n]:.3f}" if isinstance(row[n], float)
                                        else str(row[n]) for n in names) + " |")
    for name in names[2:]:
        values = np.array([row[name] for row in rows])
        spread = values.std(ddof=1) if values.size > 1 else 0.0
        print(f"{name}: {values.mean():.3f} ± {spread:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
