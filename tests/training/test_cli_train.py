"""``gpo-vae train`` / ``export-grn`` from the command line, and the train_*.py wrappers."""

import runpy
import sys

import networkx as nx
import pandas as pd
import pytest
import yaml

from gpo_vae.cli import main
from gpo_vae.errors import InputDataError

pytestmark = pytest.mark.integration  # gpo-vae train / the train_*.py wrappers

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_run(tiny_settings, small_screen_path, shared_cache, tmp_path_factory):
    """``gpo-vae train`` on the small screen, then ``export-grn`` of the run."""
    out = tmp_path_factory.mktemp("cli")
    config = out / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_settings(out, small_screen_path, shared_cache,
                                                          training={"max_epochs": 2})))
    assert main(["train", "--config", str(config), "--quiet",
                 "--set", "training.max_epochs=3"]) == 0
    run = out / "tiny"
    assert main(["export-grn", str(run), "--out", str(out / "grn"), "--threshold", "0.5"]) == 0
    return run, out / "grn"


def test_export_writes_matrix_edges_graphml_and_heatmap(cli_run):
    run, grn = cli_run
    matrix = pd.read_csv(grn / "probabilities.csv", index_col=0)
    genes = pd.read_csv(grn / "treatment_genes.csv")
    assert list(matrix.columns[1:]) == list(matrix.index) == genes["name"].tolist()
    assert set(matrix["kind"]) == {"perturbed", "extra"}
    probs = matrix.drop(columns="kind").to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    edges = pd.read_csv(grn / "edges.csv")
    assert list(edges.columns[:5]) == ["source", "target", "probability", "mean_weight", "sign"]
    assert (edges["probability"] >= 0.5).all() and edges["probability"].is_monotonic_decreasing
    assert (edges["source"] != edges["target"]).all()
    assert set(edges["sign"]) <= {-1, 0, 1}
    # the edge list agrees with the matrix
    off_diagonal = (probs >= 0.5).sum() - (probs.diagonal() >= 0.5).sum()
    assert len(edges) == off_diagonal
    first = edges.iloc[0]
    assert matrix.loc[first["source"], first["target"]] == pytest.approx(first["probability"])
    graph = nx.read_graphml(grn / "grn.graphml")
    assert graph.number_of_nodes() == len(genes) and graph.number_of_edges() == len(edges)
    assert (grn / "heatmap.png").stat().st_size > 1000


def test_export_top_k_and_from_a_checkpoint_file(cli_run, tmp_path):
    run, _ = cli_run
    assert main(["export-grn", str(run / "checkpoints" / "last.ckpt"), "--out", str(tmp_path),
                 "--threshold", "0", "--top-k", "7"]) == 0
    assert len(pd.read_csv(tmp_path / "edges.csv")) == 7


@pytest.mark.parametrize("make_target,expected", [
    (lambda d: d, "holds no checkpoints"),
    (lambda d: d / "missing.ckpt", "not found"),
    (lambda d: (d / "broken.ckpt").write_bytes(b"not a checkpoint") and d / "broken.ckpt",
     "corrupt or not a gpo-vae checkpoint"),
])
def test_export_errors_are_one_line(tmp_path, capsys, make_target, expected):
    target = make_target(tmp_path)
    assert main(["export-grn", str(target), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "edges.csv").exists()


def test_export_rejects_a_bad_threshold(cli_run, tmp_path, capsys):
    run, _ = cli_run
    assert main(["export-grn", str(run), "--out", str(tmp_path), "--threshold", "2"]) == 2
    assert "--threshold" in capsys.readouterr().err


@pytest.mark.parametrize("top_k", ["-1", "0"])
def test_export_rejects_a_top_k_that_is_not_a_positive_count(tmp_path, capsys, top_k):
    # refused before the run is read
    assert main(["export-grn", str(tmp_path / "run"), "--out", str(tmp_path / "out"),
                 "--top-k", top_k]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --top-k {top_k} is not a number of edges")
    assert "leave it out" in err and "None" not in err     # a flag cannot take None
    assert len(err.strip().splitlines()) == 1


def test_train_errors_are_one_line(tmp_path, capsys, cli_run):
    run, _ = cli_run
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    config = run.parent / "tiny.yaml"
    assert main(["train", "--config", str(config), "--quiet"]) == 2   # run exists
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--config", str(config), "--set", "model.n_latnt=3"]) == 2
    assert "model.n_latnt" in capsys.readouterr().err


# the authors' flat format, as their train_*.py scripts read it
AUTHORS_FLAT = """
name: {name}
seed: 0
max_epochs: 1
data_module: {module}
data_module_kwargs.batch_size: 128
data_module_kwargs.data_path: {path}
data_module_kwargs.get_pair_mode: ot
model: gpo_vae_Model
model_kwargs.n_latent: 8
model_kwargs.decoder_n_hidden: 32
guide: gpo_vae_CorrelatedNormalGuide
guide_kwargs.basal_encoder_n_hidden: 32
guide_kwargs.embedding_encoder_n_layers: 1
guide_kwargs.embedding_encoder_n_hidden: 32
loss_module: gpo_vae_ELBOLossModule
loss_module_kwargs.penaly_coeff: 1
lightning_module_kwargs.lr: 0.001
lightning_module_kwargs.n_particles: 2
predictor: gpo_vae_Predictor
"""


@pytest.mark.parametrize("script,module", [("train_adamson.py", "AdamsonDataModule"),
                                           ("train_replogle.py", "ReplogleDataModule"),
                                           ("train_rpe1.py", "RPE1DataModule")])
def test_training_scripts_run_one_step_on_an_authors_schema_fixture(
        script, module, small_screen_path, shared_cache, tmp_path, monkeypatch):
    # the simulated screen is in the authors' schema: obs['gene'] / obs['gene_id'],
    # non-targeting controls, var indexed by gene id with a gene_name column
    config = tmp_path / "authors.yaml"
    config.write_text(AUTHORS_FLAT.format(name=script[:-3], module=module,
                                          path=small_screen_path))
    monkeypatch.setattr(sys, "argv", [script, "--config", str(config), "--quiet",
                                      "--out", str(tmp_path / "run"),
                                      "--set", "training.max_steps=1",
                                      "--set", f"data.cache_dir={shared_cache}"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / script), run_name="__main__")
    assert exit_info.value.code == 0
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    summary = yaml.safe_load((tmp_path / "run" / "training_summary.json").read_text())
    assert summary["steps"] == 1


def test_outputs_that_cannot_be_written_fail_before_any_work(cli_run, tmp_path, capsys):
    run, _ = cli_run
    config = run.parent / "tiny.yaml"
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for argv in (["train", "--config", str(config), "--out", str(blocker)],
                 ["train", "--config", str(config), "--out", str(blocker / "run")],
                 ["export-grn", str(run), "--out", str(blocker)],
                 ["simulate", "--preset", "small", "--out", str(blocker / "s.h5ad")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err


def test_export_stability_adds_recurrence_and_is_reproducible(cli_run, tmp_path, capsys):
    run, _ = cli_run
    args = ["export-grn", str(run), "--out", None, "--threshold", "0.3", "--stability", "2",
            "--stability-epochs", "1", "--seed", "4"]
    tables = []
    for name in ("a", "b"):
        args[3] = str(tmp_path / name)
        assert main(args) == 0
        tables.append(pd.read_csv(tmp_path / name / "stability.csv", index_col=0))
    assert "recur in every run" in capsys.readouterr().out
    frequency = tables[0].to_numpy()
    assert set(frequency.ravel()) <= {0.0, 0.5, 1.0}          # 2 runs: 0, 1 or 2 of them
    pd.testing.assert_frame_equal(tables[0], tables[1])       # same seed, same answer
    edges = pd.read_csv(tmp_path / "a" / "edges.csv")
    assert "stability" in edges.columns and len(edges) > 0
    first = edges.iloc[0]
    assert tables[0].loc[first["source"], first["target"]] == first["stability"]
    graph = nx.read_graphml(tmp_path / "a" / "grn.graphml")
    assert graph.number_of_edges() == len(edges)
    assert all("stability" in data for *_, data in graph.edges(data=True))
    # exporting again without --stability leaves no stale recurrence beside the new edges
    assert main(["export-grn", str(run), "--out", str(tmp_path / "a")]) == 0
    assert not (tmp_path / "a" / "stability.csv").exists()


def test_export_stability_needs_two_runs(cli_run, tmp_path, capsys):
    run, _ = cli_run
    assert main(["export-grn", str(run), "--out", str(tmp_path / "x"), "--stability", "1"]) == 2
    assert "--stability" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_failing_stability_run_writes_nothing(cli_run, tmp_path, monkeypatch, capsys):
    import gpo_vae.grn.stability

    def fail(*args, **kwargs):
        raise InputDataError("bootstrap run 2 failed")

    monkeypatch.setattr(gpo_vae.grn.stability, "grn_stability", fail)
    run, _ = cli_run
    assert main(["export-grn", str(run), "--out", str(tmp_path / "x"), "--stability", "2"]) == 2
    assert "bootstrap run 2 failed" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
