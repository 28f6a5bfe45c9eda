"""``gpo-vae design`` end to end on a tiny run of the small simulated screen."""

import json

import pandas as pd
import pytest
import yaml

from gpo_vae.cli import main

pytestmark = pytest.mark.integration  # trains a tiny run first


@pytest.fixture(scope="module")
def run(tiny_settings, small_screen_path, shared_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("design_cli")
    config = out / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_settings(out, small_screen_path, shared_cache,
                                                   training={"max_epochs": 3})))
    assert main(["train", "--config", str(config), "--quiet"]) == 0
    return out / "tiny"


FAST = ["--steps", "40", "--n-draws", "3", "--budget", "10", "--quiet"]


@pytest.fixture(scope="module")
def perturbed_genes(run):
    from gpo_vae.training.checkpoint import load_trained, resolve_checkpoint

    info = load_trained(resolve_checkpoint(run)).data_info
    return [n for n, k in zip(info.treatment_names, info.treatment_kinds, strict=True)
            if k == "perturbed"][:2]


def test_design_writes_ranked_designs_plots_and_a_closed_loop(run, perturbed_genes, tmp_path):
    out = tmp_path / "design"
    assert main(["design", str(run), "--target", f"perturbation:{perturbed_genes[0]}",
                 "--validate-with-simulator", "--out", str(out), *FAST]) == 0
    designs = pd.read_csv(out / "designs.csv")
    assert 1 <= len(designs) <= 10 and designs["score"].is_monotonic_increasing
    assert (designs["n_perturbed"] == 1).all()
    baseline = pd.read_csv(out / "baseline.csv")
    assert baseline["intervention"].is_unique
    loop = pd.read_csv(out / "closed_loop.csv")
    assert set(loop["kind"]) == {"design", "random", "exhaustive baseline"}
    assert (loop["simulated_distance"] >= 0).all()
    summary = json.loads((out / "design.json").read_text())
    assert summary["best"]["intervention"] == designs["intervention"].iloc[0]
    for name in ("profiles.png", "optimisation.png"):
        assert (out / name).stat().st_size > 1000
    # the same seed gives the same designs and the same simulated cells
    again = tmp_path / "again"
    assert main(["design", str(run), "--target", f"perturbation:{perturbed_genes[0]}",
                 "--validate-with-simulator", "--out", str(again), *FAST]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again / "closed_loop.csv"), loop)


def test_gene_set_target_and_allowed_genes(run, perturbed_genes, tmp_path):
    table = tmp_path / "signature.csv"
    first, second = perturbed_genes
    pd.DataFrame({"gene": [first, second], "direction": ["down", "up"]}).to_csv(
        table, index=False)
    allowed = tmp_path / "allowed.txt"
    allowed.write_text(f"# two genes\n{first}\n{second}\n")
    out = tmp_path / "d"
    assert main(["design", str(run), "--target", str(table), "--genes-allowed", str(allowed),
                 "--max-perturbations", "2", "--out", str(out), *FAST]) == 0
    designs = pd.read_csv(out / "designs.csv")
    used = {g for i in designs["intervention"] for g in i.split("+")}
    assert used <= set(perturbed_genes)
    assert json.loads((out / "design.json").read_text())["target"]["n_genes"] == 2
    spared = tmp_path / "spared"
    assert main(["design", str(run), "--target", str(table), "--spare-others",
                 "--out", str(spared), *FAST]) == 0
    # every gene but the perturbable ones it does not list
    assert json.loads((spared / "design.json").read_text())["target"]["n_genes"] > 2


def test_the_runs_own_log_normalised_cells_rank_as_their_counts_do(run, perturbed_genes,
                                                                   tmp_path, capsys):
    """observed_<split>.h5ad / predictions.h5ad hold log1p-normalised cells; read as counts
    they gave another target and another ranking, without a word."""
    import anndata as ad
    import numpy as np

    from gpo_vae.evaluation.report import predicted_and_observed_cells, prepared_data_of
    from gpo_vae.training.checkpoint import load_trained

    module = load_trained(run)
    prepared = prepared_data_of(module)
    _, observed = predicted_and_observed_cells(module, prepared, "test")
    gene = perturbed_genes[0]
    mine = (observed.obs["target_gene"] == gene).to_numpy()
    rows = np.flatnonzero((prepared.obs["split"] == "test").to_numpy()
                          & (prepared.obs["perturbation"].astype(str) == gene).to_numpy())
    counts = ad.AnnData(X=prepared.X[rows], var=observed.var.copy())
    garbage = ad.AnnData(X=observed[mine].to_df().to_numpy() - 1.0, var=observed.var.copy())
    files = {"logn": observed[mine].copy(), "counts": counts, "garbage": garbage}
    for name, cells in files.items():
        cells.write_h5ad(tmp_path / f"{name}.h5ad")
    ranked = {}
    for name in ("logn", "counts"):
        out = tmp_path / name
        assert main(["design", str(run), "--target", str(tmp_path / f"{name}.h5ad"),
                     "--out", str(out), *FAST]) == 0
        ranked[name] = pd.read_csv(out / "baseline.csv")["intervention"].tolist()
    assert ranked["logn"] == ranked["counts"]
    capsys.readouterr()
    assert main(["design", str(run), "--target", str(tmp_path / "garbage.h5ad"),
                 "--out", str(tmp_path / "g"), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the target cells' X holds neither raw counts nor "
                          "log1p-normalised expression") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("target, expected", [
    ("perturbation:NOT_A_GENE", "NOT_A_GENE"),
    ("missing.csv", "existing file"),
])
def test_bad_targets_are_one_line_errors(run, tmp_path, capsys, target, expected):
    out = tmp_path / "bad"
    assert main(["design", str(run), "--target", target, "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and expected in err and len(err.strip().splitlines()) == 1
    assert not (out / "design.json").exists()


def test_an_existing_design_is_never_overwritten(run, perturbed_genes, tmp_path, capsys):
    out = tmp_path / "once"
    args = ["design", str(run), "--target", f"perturbation:{perturbed_genes[0]}", "--out", str(out),
            *FAST]
    assert main(args) == 0
    before = (out / "design.json").read_bytes()
    assert main(args) == 2
    assert "already" in capsys.readouterr().err
    assert (out / "design.json").read_bytes() == before
