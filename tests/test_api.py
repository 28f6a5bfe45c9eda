"""The Python API end to end on the small simulated screen (the README snippet), the
save / load round trip, and the API's errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import gpo_vae as gv
from gpo_vae.cli import main
from gpo_vae.errors import ConfigError, InputDataError
from gpo_vae.evaluation.plots import METHOD_LABELS

TINY = dict(n_latent=8, decoder_n_hidden=32, basal_encoder_n_hidden=32,
            embedding_encoder_n_hidden=32, embedding_encoder_n_layers=1)


@pytest.fixture(scope="module")
def prepared(small_screen):
    adata = small_screen
    before = adata.X.copy()
    out = gv.prepare(adata, preset="generic", perturbation_key="gene",
                     control_label="non-targeting", split="cells")
    assert (adata.X != before).nnz == 0            # the input is not modified
    return out


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    model = gv.GpoVae(prepared, **TINY)
    run = tmp_path_factory.mktemp("api") / "run"
    assert model.train(max_epochs=3, accelerator="cpu", run_dir=run) is model
    return model


def test_prepare_returns_the_documented_keys_and_writes_nothing(prepared, tmp_path,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert {"split", "perturbation", "qc", "library_size", "matched_control",
            "counterfactual_index"} <= set(prepared.obs)
    assert {"dosages"} <= set(prepared.obsm)
    assert {"treatments", "schema", "prepare_settings"} <= set(prepared.uns)
    assert json.loads(prepared.uns["prepare_settings"])["split"] == "cells"
    assert set(prepared.obs["split"]) == {"train", "val", "test"}
    assert not any(tmp_path.iterdir())


def test_prepare_rejects_an_unknown_setting_and_a_cache_without_a_file(small_screen):
    adata = small_screen
    with pytest.raises(ConfigError, match="min_cellz"):
        gv.prepare(adata, min_cellz=3)
    with pytest.raises(ConfigError, match="file path"):
        gv.prepare(adata, cache_dir="somewhere")


def test_model_settings_go_to_their_section_and_unknown_ones_fail(prepared, small_screen):
    model = gv.GpoVae(prepared, n_latent=12, beta=0.3, variant="authors")
    assert (model.config.model.n_latent, model.config.loss.beta) == (12, 0.3)
    assert model.config.guide.encoder == "correlated"          # the variant's default
    assert model.module.n_latent == 12
    with pytest.raises(ConfigError, match="n_latnet"):
        gv.GpoVae(prepared, n_latnet=3)
    with pytest.raises(InputDataError, match="prepare"):
        gv.GpoVae(small_screen)


def test_simulate_is_the_simulator_with_settings():
    adata = gv.simulate("small", seed=1, n_cells=400)
    assert adata.n_obs <= 400 and "true_grn" in adata.uns


@pytest.mark.integration
def test_the_readme_snippet_runs_end_to_end(trained, prepared, tmp_path):
    model = trained
    assert model.history is not None and len(model.history) == 3
    assert "val/loss" in model.history

    grn = model.get_grn()
    t = model.data_info.n_treatments
    assert len(grn) == t * (t - 1)                              # every off-diagonal pair
    assert {"source", "target", "probability", "mean_weight", "sign"} <= set(grn)
    assert grn["probability"].is_monotonic_decreasing
    assert set(grn["sign"].unique()) <= {-1, 0, 1}
    figure = model.plot_grn(threshold=0.5)
    assert len(figure.axes) >= 2

    genes = model.data_info.treatment_names
    conditions = [genes[0], f"{genes[1]}+{genes[2]}"]
    ate = model.predict_ate(conditions, n_samples=100, n_global=5)
    assert ate.shape == (2, prepared.n_vars) and list(ate.index) == conditions
    assert np.isfinite(ate.to_numpy()).all()
    # the double perturbation's dosage row has both genes
    assert model.dosages(conditions)[1].sum() == 2

    cells = model.sample([genes[0]], n_cells=20)
    assert cells.n_obs == 20 and set(cells.obs["target_gene"]) == {genes[0]}
    assert (cells.layers["counts"].data == np.round(cells.layers["counts"].data)).all()

    z = model.get_latent_representation()
    assert z.shape == (prepared.n_obs, 8) and np.isfinite(z).all()

    result = gv.evaluate(model, prepared, split="test", n_samples=100, iwelbo_particles=4,
                         out=tmp_path / "eval")
    metrics = result.to_dict()
    assert set(metrics["ate"]) >= {"model", "baseline_pert_mean", "ceiling_split_half"}
    assert "iwelbo_test" in metrics and metrics["split"] == "test"
    assert "model" in result.table() and result.verdicts
    assert list(result.summary().index[:2]) == ["model", "baseline_pert_mean"]
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written["ate"]["model"]["pearson_top20"] == pytest.approx(
        metrics["ate"]["model"]["pearson_top20"])
    assert isinstance(result.per_perturbation, pd.DataFrame)
    # figures returned, not saved: the grouped bars name every method the metrics hold
    bars = result.plot_methods()
    labels = {t.get_text() for t in bars.axes[0].get_legend().get_texts()}
    assert len(labels) == sum(m in metrics["ate"] for m in METHOD_LABELS)
    curves = result.plot_grn_precision_recall()
    assert curves is None or curves.axes[0].get_xlabel() == "recall"


def test_plots_are_returned_without_switching_the_backend(trained, prepared, monkeypatch):
    import matplotlib

    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    curves = trained.plot_training_curves()
    assert curves is not None and len(curves.axes) >= 3
    assert trained.plot_grn() is not None and calls == []
    untrained = gv.GpoVae(prepared, **TINY)
    assert untrained.plot_training_curves() is None


def test_design_from_python_takes_every_target_form(trained, prepared, tmp_path):
    genes = [n for n, k in zip(trained.data_info.treatment_names,
                               trained.data_info.treatment_kinds, strict=True)
             if k == "perturbed"]
    fast = {"steps": 30, "n_draws": 3, "budget": 8, "restarts": 2}
    result = trained.design(f"perturbation:{genes[0]}", out=tmp_path / "d", **fast)
    assert result.best == result.designs["intervention"].iloc[0]
    assert (tmp_path / "d" / "design.json").is_file()
    measured = trained.data_info.gene_names
    gene_set = trained.design({"up": measured[:3], "down": measured[3:6]}, max_perturbations=2,
                              genes_allowed=genes[:3], **fast)
    used = {g for i in gene_set.designs["intervention"] for g in i.split("+")}
    assert used <= set(genes[:3]) and gene_set.designs["n_perturbed"].max() <= 2
    with pytest.raises(ConfigError, match="unknown design setting"):
        trained.design(f"perturbation:{genes[0]}", no_such_setting=1)


@pytest.mark.integration
def test_save_and_load_give_identical_predictions_and_the_cli_reads_the_folder(
        trained, prepared, tmp_path, capsys):
    genes = trained.data_info.treatment_names[:3]
    folder = trained.save(tmp_path / "saved")
    loaded = gv.GpoVae.load(folder, prepared)
    for a, b in ((trained, loaded),):
        pa = a.predict_ate(genes, n_samples=60, n_global=3)
        pb = b.predict_ate(genes, n_samples=60, n_global=3)
        assert np.array_equal(pa.to_numpy(), pb.to_numpy())
    # one return type: the means; their Monte Carlo errors come from the sibling call
    mean, error = loaded.predict_ate_with_error(genes, n_samples=60, n_global=3)
    pd.testing.assert_frame_equal(mean, pb)
    assert error.shape == mean.shape and (error.to_numpy() > 0).all()
    assert not loaded._untrained and loaded.config == trained.config
    pd.testing.assert_frame_equal(trained.get_grn(), loaded.get_grn())
    with pytest.raises(ConfigError, match="already holds"):
        trained.save(folder)
    # the command line reads a saved folder ...
    assert main(["export-grn", str(folder), "--out", str(tmp_path / "grn")]) == 0
    assert (tmp_path / "grn" / "edges.csv").is_file()
    # ... but cannot resample an AnnData that only lived in memory, and says what to do
    assert main(["export-grn", str(folder), "--out", str(tmp_path / "stable"),
                 "--stability", "2"]) == 2
    assert "grn_stability(N)" in capsys.readouterr().err
    assert not (tmp_path / "stable").exists()
    # ... and the API reads the folder the training wrote (the command line's format)
    from_training = gv.GpoVae.load(trained.run_dir, prepared)
    assert from_training.history is not None
    np.testing.assert_array_equal(
        from_training.predict_ate(genes, n_samples=60, n_global=3).to_numpy(),
        trained.predict_ate(genes, n_samples=60, n_global=3).to_numpy())


def test_unknown_conditions_and_missing_data_are_clear_errors(prepared):
    model = gv.GpoVae(prepared, **TINY)
    with pytest.raises(ConfigError, match="not a treatment gene"):
        model.predict_ate(["NOT_A_GENE"])
    with pytest.raises(ConfigError, match="n_cells"):
        model.sample([model.data_info.treatment_names[0]], n_cells=0)
    with pytest.raises(ConfigError, match="'train' holds the cells the model was trained"):
        gv.evaluate(model, prepared, split="train")
    model.adata = None
    with pytest.raises(InputDataError, match="prepared AnnData"):
        gv.evaluate(model)
    with pytest.raises(InputDataError, match="no data to train"):
        model.train(max_epochs=1)
    with pytest.raises(InputDataError, match="no data to resample"):
        model.grn_stability(2)


def test_a_single_label_is_one_condition_and_other_types_are_refused(prepared):
    model = gv.GpoVae(prepared, **TINY)
    gene = model.data_info.treatment_names[1]
    # a string used to be iterated letter by letter ("S", "G", ...)
    ate = model.predict_ate(gene, n_samples=20, n_global=2)
    assert ate.index.tolist() == [gene]
    np.testing.assert_array_equal(model.dosages(gene), model.dosages([gene]))
    assert model.sample(gene, n_cells=2).obs["target_gene"].tolist() == [gene, gene]
    with pytest.raises(ConfigError, match="conditions 5 is not a perturbation label"):
        model.predict_ate(5)
    with pytest.raises(ConfigError, match="condition 7 is not a perturbation label"):
        model.dosages([gene, 7])
    with pytest.raises(ConfigError, match="no conditions given"):
        model.dosages([])
    with pytest.raises(ConfigError, match="^'NOT_A_GENE' is not a treatment gene"):
        model.predict_ate("NOT_A_GENE")


def test_get_grn_top_k_is_none_or_a_positive_count(prepared):
    model = gv.GpoVae(prepared, **TINY)
    every = model.get_grn(n_samples=2)
    assert len(model.get_grn(top_k=3, n_samples=2)) == 3
    assert len(model.get_grn(top_k=None, n_samples=2)) == len(every)
    for top_k in (-1, 0, 1.5):        # -1 used to drop the last edge silently
        with pytest.raises(ConfigError, match=f"top_k={top_k} is not a number of edges"):
            model.get_grn(top_k=top_k)


def test_counts_seeds_and_globals_of_queries_are_checked(prepared):
    # n_samples=-1 gave all-zero edge weights and 0 NaN ones, predict_ate(n_samples=0)
    # answered as if 1, n_global=0 divided by zero, seed=-1 passed to torch, globals_
    # and plot_grn's threshold were a ValueError or not checked
    model = gv.GpoVae(prepared, **TINY)
    gene = model.data_info.treatment_names[1]
    for call, match in [
        (lambda: model.get_grn(n_samples=0), r"^n_samples=0 must be a whole number"),
        (lambda: model.get_grn(n_samples=-1), r"^n_samples=-1 must be a whole number"),
        (lambda: model.get_grn(n_samples=2.5), r"^n_samples=2.5 must be a whole number"),
        (lambda: model.get_grn(seed=-1), r"^seed=-1 must be >= 0"),
        (lambda: model.predict_ate(gene, n_samples=0), r"^n_samples=0 must be"),
        (lambda: model.predict_ate(gene, n_samples=10, n_global=0), r"^n_global=0 must be"),
        (lambda: model.predict_ate(gene, n_samples=10, seed=-1), r"^seed=-1 must be >= 0"),
        (lambda: model.predict_ate(gene, n_samples=10, seed=2**40), r"^seed=\d+ must be"),
        (lambda: model.predict_ate(gene, n_samples=10, globals_="foo"),
         r"^globals_='foo' must be 'mean' or 'sample'"),
        (lambda: model.sample(gene, n_cells=2, seed=-1), r"^seed=-1 must be >= 0"),
        (lambda: model.plot_grn(threshold=2), r"^threshold=2 is not an edge probability"),
        (lambda: model.plot_grn(n_samples=-1), r"^n_samples=-1 must be"),
    ]:
        with pytest.raises(ConfigError, match=match):
            call()
    assert model.predict_ate(gene, n_samples=4, n_global=np.int64(2)).shape[0] == 1


def test_writing_calls_refuse_a_folder_of_someone_elses_files(prepared, tmp_path):
    # gv.evaluate(out=) replaced a user's metrics.json and wrote one run's scores into
    # another run's folder; save and train(run_dir=) told the user to add --force
    model = gv.GpoVae(prepared, **TINY)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text("my metrics")
    for call in (lambda **kw: gv.evaluate(model, out=mine, n_samples=4, **kw),
                 lambda **kw: model.save(mine, **kw),
                 lambda **kw: model.train(run_dir=mine, **kw),
                 lambda **kw: model.design(f"perturbation:{model.data_info.treatment_names[1]}",
                                           out=mine, **kw)):
        with pytest.raises(ConfigError, match=r"holds files gpo-vae did not write there "
                                              r"\(metrics.json\).*force=True"):
            call()
    assert (mine / "metrics.json").read_text() == "my metrics"
    assert sorted(p.name for p in mine.iterdir()) == ["metrics.json"]
    saved = model.save(tmp_path / "saved")
    with pytest.raises(ConfigError, match="the evaluation folder .* holds another run"):
        gv.evaluate(gv.GpoVae.load(saved, prepared),
                    out=model.save(tmp_path / "other"), n_samples=4)
    assert model.save(mine, force=True) == mine


@pytest.mark.integration
def test_grn_stability_is_reproducible_and_counts_runs(trained):
    first = trained.grn_stability(2, threshold=0.3, max_epochs=1, seed=3)
    again = trained.grn_stability(2, threshold=0.3, max_epochs=1, seed=3)
    pd.testing.assert_frame_equal(first.frequency, again.frequency)
    assert first.n_runs == 2 and set(np.unique(first.frequency)) <= {0.0, 0.5, 1.0}
    names = trained.data_info.treatment_names
    assert list(first.frequency.index) == list(names)
    assert ((first.mean_probability >= 0) & (first.mean_probability <= 1)).all().all()
    with pytest.raises(ConfigError, match="at least 2"):
        trained.grn_stability(1)


@pytest.mark.integration
def test_held_out_combinations_are_scored_beside_the_additive_baseline():
    from gpo_vae.simulation import SimulationConfig, simulate_perturbseq

    screen = simulate_perturbseq(config=SimulationConfig(
        n_cells=2_000, n_genes=200, n_perturbations=8, n_extra_regulators=8,
        double_fraction=0.4, n_double_pairs=6), seed=3)
    prepared = gv.prepare(screen, preset="simulated", split="combinations",
                          knockdown_filter=False)
    split = prepared.obs["split"].astype(str)
    test = prepared.obs["perturbation"].astype(str)[split == "test"]
    assert set(test) - {"non-targeting"} and all("+" in t for t in set(test) - {"non-targeting"})
    model = gv.GpoVae(prepared, **TINY).train(max_epochs=1)
    result = gv.evaluate(model, prepared, n_samples=50)
    additive = result.to_dict()["ate"]["baseline_additive"]
    assert additive["pearson_top20"] > 0.5            # the sum of the singles predicts well
    fitted = result.to_dict()["ate"]["baseline_additive_fit"]   # every condition read
    assert fitted["pearson_top20"] > 0.5
    assert result.to_dict()["ate"]["baseline_pert_mean"]["pearson_top20"] is None  # unseen
    assert any("baseline_additive" in v for v in result.verdicts)
