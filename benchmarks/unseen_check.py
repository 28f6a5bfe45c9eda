"""What predicts a perturbation the screen never measured? A model-free check.

    gpo-vae prepare --config demo/gpo_vae_demo.yaml --set data.split=perturbations
    python benchmarks/unseen_check.py results/demo/cache/prepared_*.h5ad \
        [--model RUN_EVALUATIONS/*/per_perturbation.csv]

Scores simple estimators of held-out perturbations' effects on their test cells (Pearson
top-20, paired verdict against the linear baseline, the reference an unseen-perturbation
model has to beat). Everything is fitted on training cells:

- ``ridge``: the evaluation's linear baseline (ridge on PCA gene embeddings);
- ``own``: the target gene's own shift, the median over the training perturbations, and
  nothing else;
- ``own + downstream``: ``own`` spread to the genes that follow the target across the
  training cells (co-expression slopes, :func:`gpo_vae.data.gene_features.
  coexpression_slopes`, scaled by their least-squares fit to the training shifts): what
  GPO-VAE's own-gene effect does for a gene it never saw (``model.downstream_genes``);
- ``ridge + own`` and ``ridge + own + downstream``: the two added to ridge (its own-gene
  entry replaced).

It shows where the model's advantage over ridge on unseen perturbations comes from, and
what a model that adds nothing else would score (docs/results.md).
"""

from __future__ import annotations

import argparse
import sys

import anndata as ad
import numpy as np
import pandas as pd

from gpo_vae.data.gene_features import coexpression_slopes
from gpo_vae.data.treatments import targets_of
from gpo_vae.evaluation.baselines import LinearBaseline
from gpo_vae.evaluation.compare import paired_comparison
from gpo_vae.evaluation.evaluate import SplitCells
from gpo_vae.evaluation.metrics import pearson_top20


def own_and_downstream(cells: SplitCells, train, names: list[str],
                       top_k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``own`` and ``own + downstream`` predictions of the held-out ``names``."""
    genes = list(train.values.columns)
    position = {g: i for i, g in enumerate(genes)}
    shifts = train.values.to_numpy()
    singles = [(row, position[t[0]]) for row, label in enumerate(train.values.index)
               if len(t := targets_of(label, cells.control, cells.separator)) == 1
               and t[0] in position]
    own = float(np.median([shifts[row, column] for row, column in singles]))
    targets = [targets_of(n, cells.control, cells.separator) for n in names]
    columns = np.array([position.get(t[0], -1) if len(t) == 1 else -1 for t in targets])
    # slopes do not depend on the logarithm's base: the evaluation's log2 scale will do
    expression = cells.expression[cells.in_train]
    train_columns = np.array([column for _, column in singles])
    index, values = coexpression_slopes(expression, np.concatenate([columns, train_columns]),
                                        top_k)
    measured = int((columns >= 0).sum())
    # the scale: least squares of own x slopes for the training shifts (own gene left out)
    spread = own * values[measured:]
    observed = np.take_along_axis(shifts[[row for row, _ in singles]], index[measured:], 1)
    alpha = float((spread * observed).sum() / max((spread ** 2).sum(), 1e-12))
    alone = pd.DataFrame(0.0, index=names, columns=genes)
    spread_out = alone.copy()
    for row, column in enumerate(columns):
        if column < 0:
            continue
        k = int((columns[:row] >= 0).sum())            # the row of ``index`` and ``values``
        alone.iloc[row, column] = own
        spread_out.iloc[row, column] = own
        spread_out.iloc[row, index[k]] += own * alpha * values[k]
    return alone, spread_out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", help="a prepared file with data.split=perturbations")
    parser.add_argument("--downstream-genes", type=int, default=200)
    parser.add_argument("--min-test-cells", type=int, default=10)
    parser.add_argument("--model", nargs="+", default=[], metavar="CSV",
                        help="per_perturbation.csv of GPO-VAE evaluations (one per seed) to "
                             "score beside the estimators, seed-averaged")
    args = parser.parse_args(argv)
    adata = ad.read_h5ad(args.prepared)
    cells = SplitCells.from_prepared(adata, "test")
    held_out, train = cells.ates("test"), cells.ates("train")
    names = [p for p, n in held_out.n_cells.items()
             if n >= args.min_test_cells and p not in train.values.index]
    observed = held_out.rows(names)
    linear = LinearBaseline.fit(cells.expression[cells.in_train], train,
                                lambda label: targets_of(label, cells.control, cells.separator))
    ridge = linear.predict(names)
    alone, spread = own_and_downstream(cells, train, names, args.downstream_genes)
    without_own = ridge.where(alone == 0, 0.0)
    predictions = {"ridge": ridge, "own": alone, "own + downstream": spread,
                   "ridge + own": without_own + alone,
                   "ridge + own + downstream": without_own + spread}
    scores = {m: np.array([pearson_top20(p.loc[n].to_numpy(), observed.loc[n].to_numpy())
                           for n in names]) for m, p in predictions.items()}
    if args.model:
        frames = pd.concat(pd.read_csv(path) for path in args.model)
        model = frames[frames["method"] == "model"].groupby("perturbation")["pearson_top20"]
        scores["GPO-VAE"] = model.mean().reindex(names).to_numpy()
    print(f"{len(names)} held-out perturbations of {args.prepared}")
    print("| estimator | pearson_top20 | against ridge |\n|---|---|---|")
    for method, values in scores.items():
        c = paired_comparison(values, scores["ridge"], names=(method, "ridge"))
        verdict = "-" if method == "ridge" else (
            f"{c.mean_difference:+.3f}, [{c.ci_low:+.3f}, {c.ci_high:+.3f}], p = {c.p_value:.2g}")
        print(f"| {method} | {np.nanmean(values):.3f} | {verdict} |")
    if args.model:
        best = "ridge + own + downstream"
        c = paired_comparison(scores["GPO-VAE"], scores[best], names=("GPO-VAE", best))
        print(f"\nGPO-VAE against {best}: {c.mean_difference:+.3f}, "
              f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}], p = {c.p_value:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
