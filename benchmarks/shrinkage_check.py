"""Can any simple pooling of perturbations beat the per-perturbation mean? A model-free check.

    gpo-vae prepare demo/gpo_vae_demo.yaml        # writes OUTPUT_DIR/cache/prepared_*.h5ad
    python benchmarks/shrinkage_check.py results/demo/cache/prepared_*.h5ad
    python benchmarks/shrinkage_check.py PREPARED.h5ad --check combinations   # doubles

For seen perturbations a model can only beat the group mean by borrowing from the other
perturbations. This script tries the textbook ways on the training pseudobulk shifts
(perturbations x genes, the "perturbseq" scale of the evaluation) and scores each on the
test cells (Pearson top-20, paired verdict against the per-perturbation mean):

- ``low rank k``: the rank-k reconstruction R of the shift matrix (effects of related
  perturbations share programs);
- ``shrink to rank k``: each entry pulled toward R by its Wiener weight
  ``max(0, 1 - noise / (shift - R)^2)`` (noise: the variance of a mean shift);
- ``cross-validated``: rank and strength chosen on the training cells alone (two halves
  predicting each other, by Pearson top-20), including "no shrinkage", so the rule can
  switch itself off where it does not help.

- ``toward the knockdown``: each entry pulled toward what the perturbation's knockdown
  implies (its own gene's shift, and its shift projected onto the co-expression slopes
  of that gene's followers, :func:`gpo_vae.data.gene_features.coexpression_slopes`) by
  the positive-part James-Stein weight ``max(0, 1 - noise / (shift - prior)^2)``; what
  GPO-VAE's ``loss.knockdown_shrinkage`` does to its pseudobulk targets. Perturbations
  of unmeasured genes keep their mean.

With ``--check combinations``, on a screen with combinations: each condition's own mean,
the additive model of every condition (each treatment's effect fitted by least squares
over singles and combinations, :mod:`gpo_vae.stats.additive`) and the own mean pulled
toward it by the same James-Stein weight, what ``loss.additive_shrinkage`` does.

The pooling rules that beat nothing are the evidence that a seen perturbation's group
mean is hard to beat; the knockdown prior is the one that does (docs/results.md).
"""

from __future__ import annotations

import argparse
import sys

import anndata as ad
import numpy as np
import scipy.sparse as sp

from gpo_vae.data.gene_features import coexpression_slopes
from gpo_vae.evaluation.compare import paired_comparison
from gpo_vae.evaluation.evaluate import SplitCells
from gpo_vae.evaluation.metrics import pearson_top20
from gpo_vae.stats.shrinkage import knockdown_prior, shrink_toward

RANKS = (2, 5, 8, 12)
STRENGTHS = (0.25, 0.5, 1.0, 2.0)


class Shifts:
    """Mean shifts of the perturbations from a subset of their cells, with their noise."""

    def __init__(self, expression: np.ndarray, groups: list[np.ndarray], control: np.ndarray):
        centre = expression[control].mean(0)
        rows, sizes, squares, dof = [], [], np.zeros(expression.shape[1]), 0
        for cells in [*groups, control]:
            block = expression[cells]
            squares += ((block - block.mean(0)) ** 2).sum(0)
            dof += len(block) - 1
            rows.append(block.mean(0) - centre)
            sizes.append(len(block))
        self.values = np.asarray(rows[:-1])
        within = squares / max(dof, 1)
        self.noise = within[None] * (1 / np.asarray(sizes[:-1])[:, None] + 1 / sizes[-1])

    def shrunk(self, rank: int, strength: float) -> np.ndarray:
        """Entries pulled toward the rank-``rank`` reconstruction (strength 0: unchanged)."""
        if strength == 0:
            return self.values
        u, s, vt = np.linalg.svd(self.values, full_matrices=False)
        low = (u[:, :rank] * s[:rank]) @ vt[:rank]
        gap = np.maximum((self.values - low) ** 2, 1e-12)
        weight = np.clip(1 - strength * self.noise / gap, 0, 1)
        return weight * self.values + (1 - weight) * low

    def low_rank(self, rank: int) -> np.ndarray:
        u, s, vt = np.linalg.svd(self.values, full_matrices=False)
        return (u[:, :rank] * s[:rank]) @ vt[:rank]


def toward_knockdown(shifts: Shifts, expression: np.ndarray, columns: np.ndarray,
                     top_k: int = 200) -> np.ndarray:
    """The shifts pulled toward their knockdown prior (rows whose ``columns`` entry, the
    target gene's column, is -1 keep their shift)."""
    measured = np.flatnonzero(columns >= 0)
    index, slopes = coexpression_slopes(expression, columns[measured], top_k)
    out = shifts.values.copy()
    prior = knockdown_prior(out[measured], columns[measured], index, slopes)
    out[measured] = shrink_toward(out[measured], prior, shifts.noise[measured])
    return out


def scores(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    return np.array([pearson_top20(p, o) for p, o in zip(predicted, observed, strict=True)])


def _verdict(value: np.ndarray, base: np.ndarray) -> str:
    """The paired verdict in a few words: beats / LOSES / tie, difference and interval."""
    c = paired_comparison(value, base, metric="pearson_top20", names=("a", "b"))
    word = "beats" if " beats " in c.verdict else "LOSES" if "LOSES" in c.verdict else "tie"
    return (f"{word} ({c.mean_difference:+.3f}, [{c.ci_low:+.3f}, {c.ci_high:+.3f}], "
            f"p = {c.p_value:.2g})")


def check(path: str, seed: int = 0) -> list[str]:
    """Markdown rows of the check on one prepared screen."""
    cells = SplitCells.from_prepared(ad.read_h5ad(path), "test")
    expression = cells.expression
    expression = expression.toarray() if sp.issparse(expression) else np.asarray(expression)
    train = cells.split == "train"
    test = cells.ates("test")
    singles = [p for p in test.values.index
               if (cells.separator is None or cells.separator not in p)
               and ((cells.labels == p) & train).sum() >= 4]
    observed = test.rows(singles).to_numpy()
    half = np.random.default_rng(seed).random(cells.labels.size) < 0.5

    def shifts(keep: np.ndarray) -> Shifts:
        return Shifts(expression, [(cells.labels == p) & keep for p in singles],
                      (cells.labels == cells.control) & keep)

    full, first, second = shifts(train), shifts(train & half), shifts(train & ~half)
    grid = [(0, 0.0)] + [(k, s) for k in RANKS if k < len(singles) for s in STRENGTHS]
    # the choice made on training cells only: each half predicts the other
    chosen = max(grid, key=lambda g: np.nanmean(np.r_[
        scores(first.shrunk(*g), second.values), scores(second.shrunk(*g), first.values)]))
    base = scores(full.values, observed)
    methods = {"per-perturbation mean": full.values,
               **{f"low rank {k}": full.low_rank(k) for k in RANKS if k < len(singles)},
               **{f"shrink to rank {k}": full.shrunk(k, 1.0) for k in RANKS if k < len(singles)},
               f"cross-validated (rank {chosen[0]}, strength {chosen[1]})": full.shrunk(*chosen)}
    position = {gene: i for i, gene in enumerate(cells.gene_names)}
    columns = np.array([position.get(p, -1) for p in singles])
    methods["toward the knockdown"] = toward_knockdown(full, expression[train], columns)
    median = int(np.median([((cells.labels == p) & train).sum() for p in singles]))
    rows = [f"\n{path}: {len(singles)} perturbations, median {median} training cells\n",
            "| method | Pearson top-20 | against the per-perturbation mean |", "|---|---|---|"]
    for name, predicted in methods.items():
        value = scores(predicted, observed)
        rows.append(f"| {name} | {np.nanmean(value):.3f} | "
                    f"{'-' if predicted is full.values else _verdict(value, base)} |")
    return rows


def check_combinations(path: str) -> list[str]:
    """Markdown rows on a screen with combinations: each condition's own mean, the additive
    model of every condition (least squares over singles and combinations), and the own
    mean pulled toward it by the James-Stein weight (``loss.additive_shrinkage``), by
    kind of condition, scored on the test cells."""
    import pandas as pd

    from gpo_vae.stats.additive import additive_weights

    cells = SplitCells.from_prepared(ad.read_h5ad(path), "test")
    expression = cells.expression
    expression = expression.toarray() if sp.issparse(expression) else np.asarray(expression)
    train, test = cells.split == "train", cells.ates("test").values
    sep = cells.separator or "+"
    labels = sorted({p for p in cells.labels[train] if p != cells.control})
    full = Shifts(expression, [(cells.labels == p) & train for p in labels],
                  (cells.labels == cells.control) & train)
    treatments = sorted({t for p in labels for t in p.split(sep)})
    design = np.array([[float(t in p.split(sep)) for t in treatments] for p in labels])
    fitted = additive_weights(design, design) @ full.values
    methods = {"own mean": full.values, "additive fit": fitted,
               "pulled toward the fit": shrink_toward(full.values, fitted, full.noise)}
    scored = [i for i, p in enumerate(labels) if p in test.index]
    kinds = pd.Series(["combination" if sep in labels[i] else "single" for i in scored])
    observed = test.loc[[labels[i] for i in scored]].to_numpy()
    value = {name: scores(m[scored], observed) for name, m in methods.items()}
    rows = [f"\n{path}: combinations\n", "| kind | method | Pearson top-20 | against the "
            "own mean |", "|---|---|---|---|"]
    for kind in ("single", "combination"):
        keep = (kinds == kind).to_numpy()
        for name, v in value.items():
            against = "-" if name == "own mean" else _verdict(v[keep], value["own mean"][keep])
            rows.append(f"| {kind} ({keep.sum()}) | {name} | {np.nanmean(v[keep]):.3f} | "
                        f"{against} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", nargs="+", help="prepared .h5ad files (gpo-vae prepare)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the half split")
    parser.add_argument("--check", nargs="+", choices=["singles", "combinations"],
                        default=["singles"], help="what to check [default: singles]")
    args = parser.parse_args(argv)
    for path in args.prepared:
        if "singles" in args.check:
            print("\n".join(check(path, args.seed)), flush=True)
        if "combinations" in args.check:
            print("\n".join(check_combinations(path)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
