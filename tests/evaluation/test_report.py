import json
import shutil

import anndata as ad
import numpy as np
import pytest

from gpo_vae.cli import main
from gpo_vae.errors import InputFileError
from gpo_vae.evaluation.report import METHODS, EvaluationSettings, evaluate, format_table

FAST = EvaluationSettings(n_samples=40, n_global=4, iwelbo_particles=4, ceiling_repeats=2)
ATE_KEYS = {"pearson_all", "pearson_top20", "r2_all", "r2_top20", "jaccard_top20",
            "jaccard_top50"}


def _strict_json(path):
    def refuse(constant):
        raise AssertionError(f"metrics.json holds {constant}")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def cells_result(cells_run):
    return evaluate(cells_run, settings=FAST)


@pytest.mark.integration
def test_evaluate_writes_every_output_with_the_issue_keys(cells_run, cells_result):
    for name in ("metrics.json", "per_perturbation.csv", "predictions.h5ad",
                 "observed_test.h5ad", "plots/ate_scatter.png", "plots/ate_comparison.png",
                 "plots/grn_wasserstein_vs_k.png", "plots/grn_precision_recall.png"):
        assert (cells_run / name).is_file(), name
    metrics = _strict_json(cells_run / "metrics.json")
    for method in ("model", "baseline_pert_mean", "baseline_global_mean", "baseline_linear",
                   "ceiling_split_half"):
        assert ATE_KEYS <= set(metrics["ate"][method]), method
        assert metrics["ate"][method]["pearson_top20"] is not None
    assert metrics["split"] == "test" and metrics["split_kind"] == "cells"
    assert metrics["n_test_cells"] > 0 and np.isfinite(metrics["iwelbo_test"])
    assert metrics["n_unseen_perturbations"] == 0
    stat = metrics["grn"]["statistical"]
    assert {"threshold", "top_k"} <= set(stat) and "50" in stat["top_k"]
    truth = metrics["grn"]["truth"]
    for key in ("auprc", "auroc", "precision_at_k", "random_auprc",
                "baseline_correlation_auprc", "baseline_mean_shift_auprc",
                "baseline_direct_shift_auprc"):
        assert truth[key] is not None, key
    # direct edges are a subset of the reachable pairs, so reachability's random rate is higher
    reach = truth["reachability"]
    assert reach["random_auprc"] >= truth["random_auprc"]
    assert reach["n_true_pairs"] >= truth["n_true_edges"]
    assert reach["baseline_mean_shift_auprc"] is not None
    assert 0 < metrics["ate"]["ceiling_split_half"]["pearson_all"] < 1
    assert metrics["ate_monte_carlo"]["standard_error_mean"] > 0
    assert any("baseline_pert_mean" in line for line in metrics["verdicts"])
    table = format_table(metrics)
    combination_only = {"baseline_additive", "baseline_additive_fit"}   # no combinations here
    singles_only = [m for m in METHODS if m not in combination_only]
    assert all(method in table for method in singles_only)
    assert not any(m in table for m in combination_only)


@pytest.mark.integration
def test_per_perturbation_table_and_predictions_for_cell_eval(cells_run, cells_result):
    table = cells_result.per_perturbation
    assert set(table["method"]) == set(METHODS) - {"baseline_additive", "baseline_additive_fit"}
    assert table["seen_in_training"].all()
    predicted = ad.read_h5ad(cells_run / "predictions.h5ad")
    observed = ad.read_h5ad(cells_run / "observed_test.h5ad")
    assert predicted.n_obs == observed.n_obs == cells_result.metrics["n_test_cells"]
    assert list(predicted.var_names) == list(observed.var_names)
    assert "non-targeting" in set(predicted.obs["target_gene"])
    assert (predicted.obs["target_gene"].to_numpy() == observed.obs["target_gene"].to_numpy()).all()
    # log1p of counts normalised to 1e4 per cell
    totals = np.expm1(predicted.X.toarray()).sum(axis=1)
    assert np.allclose(totals, 1e4, rtol=1e-3)


@pytest.mark.integration
def test_unseen_perturbations_have_no_per_perturbation_mean(perturbations_run):
    result = evaluate(perturbations_run, settings=FAST)
    metrics = result.metrics
    assert metrics["split_kind"] == "perturbations"
    assert metrics["n_seen_perturbations"] == 0 and metrics["n_unseen_perturbations"] > 0
    assert metrics["ate"]["baseline_pert_mean"]["pearson_top20"] is None
    for method in ("model", "baseline_global_mean", "baseline_linear"):
        assert metrics["ate"][method]["pearson_top20"] is not None


def test_run_folder_without_checkpoints_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(InputFileError, match="no checkpoints"):
        evaluate(tmp_path, settings=FAST)
    assert main(["evaluate", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


@pytest.mark.integration
def test_bad_reference_file_fails_before_writing_anything(cells_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(cells_run / "checkpoints", run / "checkpoints")
    bad = tmp_path / "bad.tsv"
    bad.write_text("just one column\nA\nB\n")
    code = main(["evaluate", str(run), "--quiet", "--reference-network", f"bad={bad}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "\n" not in err
    assert not (run / "metrics.json").exists() and not (run / "plots").exists()
    code = main(["evaluate", str(run), "--quiet", "--reference-network", "no-equals-sign"])
    assert code == 2


@pytest.mark.integration
def test_cli_evaluate_prints_the_table(cells_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(cells_run / "checkpoints", run / "checkpoints")
    ref = tmp_path / "ref.tsv"
    ref.write_text("tf\ttarget\n" + "".join(f"SG{i:05d}\tSG{i + 1:05d}\n" for i in range(300)))
    code = main(["evaluate", str(run), "--quiet", "--n-samples", "40", "--iwelbo-particles",
                 "4", "--reference-network", f"toy={ref}"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err
    assert "baseline_pert_mean" in out and "ceiling_split_half" in out and "GRN vs toy" in out
    metrics = _strict_json(run / "metrics.json")
    assert {"precision", "recall", "f1", "n_edges"} <= set(metrics["grn"]["reference"]["toy"])


@pytest.mark.integration
def test_validation_evaluation_never_overwrites_the_test_evaluation(cells_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cells_run, run)
    evaluate(run, settings=FAST)
    test_metrics = (run / "metrics.json").read_text()
    val = evaluate(run, settings=EvaluationSettings(**{**vars(FAST), "split": "val"}))
    assert val.files["metrics"] == run / "eval_val" / "metrics.json"
    assert (run / "eval_val" / "observed_val.h5ad").is_file()
    assert (run / "eval_val" / "predictions.h5ad").is_file()
    assert (run / "metrics.json").read_text() == test_metrics
    assert json.loads(test_metrics)["split"] == "test"
