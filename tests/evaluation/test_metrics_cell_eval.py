"""Our DE-aware metrics against Arc Institute's cell-eval, where it is installed
(``pip install -c constraints.txt -e .[celleval]``; skipped otherwise).

A prediction of mean effects has no p-values: it calls every gene (FDR 0) for the
overlap, direction and Spearman metrics, and ranks genes by |ATE| for the PR AUC
(FDR = 10^-|ATE|, so cell-eval's -log10 FDR score is |ATE|)."""

import numpy as np
import pytest

from gpo_vae.evaluation.metrics import (
    de_direction_match,
    de_overlap,
    de_pr_auc,
    de_spearman_lfc,
)

cell_eval = pytest.importorskip("cell_eval")


def _frame(pl, values: dict[str, np.ndarray], fdr: dict[str, np.ndarray]):
    rows = [{"target": t, "feature": f"g{i}", "log2_fold_change": float(v[i]),
             "p_value": float(fdr[t][i]), "fdr": float(fdr[t][i])}
            for t, v in values.items() for i in range(v.size)]
    return pl.DataFrame(rows)


def test_our_de_metrics_equal_cell_evals_on_mean_predictions():
    import polars as pl
    from cell_eval._types import DEComparison, DEResults
    from cell_eval.metrics import DEDirectionMatch, DESpearmanLFC, compute_pr_auc

    rng = np.random.default_rng(0)
    perts = ["A", "B", "C"]
    observed = {p: rng.normal(size=40) for p in perts}
    predicted = {p: observed[p] * rng.uniform(0.2, 1.5, 40) + rng.normal(0, 0.6, 40)
                 for p in perts}
    is_de = {p: np.abs(observed[p]) > 0.8 for p in perts}
    real = DEResults(_frame(pl, observed, {p: np.where(is_de[p], 0.001, 0.5) for p in perts}))
    called = DEResults(_frame(pl, predicted, {p: np.zeros(40) for p in perts}))
    ranked = DEResults(_frame(pl, predicted, {p: 10.0 ** -np.abs(predicted[p]) for p in perts}))
    overlap = DEComparison(real, called).compute_overlap(k=None, metric="overlap",
                                                         fdr_threshold=0.05)
    direction = DEDirectionMatch()(DEComparison(real, called))
    spearman = DESpearmanLFC()(DEComparison(real, called))
    pr_auc = compute_pr_auc(DEComparison(real, ranked))
    for p in perts:
        args = (predicted[p], observed[p], is_de[p])
        assert de_overlap(*args) == pytest.approx(overlap[p])
        assert de_direction_match(*args) == pytest.approx(direction[p])
        assert de_spearman_lfc(*args) == pytest.approx(spearman[p], abs=1e-6)
        assert de_pr_auc(*args) == pytest.approx(pr_auc[p], abs=1e-3)
