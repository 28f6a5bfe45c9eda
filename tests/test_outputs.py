"""One write rule: a target that holds something not ours is refused before any work, unless
--force; a rerun into its own output is allowed."""

from __future__ import annotations

import pytest
import yaml

from gpo_vae.cli import main
from gpo_vae.errors import ConfigError
from gpo_vae.outputs import (
    MARKER,
    check_output_file,
    check_output_folder,
    folder_owner,
    mark_output_folder,
)


def _clean_error(argv, capsys, match: str) -> str:
    code = main(argv)
    _, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if line]
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert match in lines[0], lines[0]
    return lines[0]


# --- the rule --------------------------------------------------------------------------
def test_new_empty_and_own_folders_are_accepted(tmp_path):
    assert check_output_folder(tmp_path / "new", "run", tmp_path / "run") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty", "run", tmp_path / "run")
    own = tmp_path / "own"
    mark_output_folder(own, "run", tmp_path / "run")
    (own / "metrics.json").write_text("{}")
    check_output_folder(own, "run", tmp_path / "run")
    assert folder_owner(own) == ("run", (tmp_path / "run").resolve())


def test_foreign_files_and_other_subjects_are_refused(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "config.yaml").write_text("my notes")
    with pytest.raises(ConfigError, match=r"holds files gpo-vae did not write there "
                                          r"\(config.yaml\).*force=True"):
        check_output_folder(foreign, "run", foreign)
    assert check_output_folder(foreign, "run", foreign, force=True) == foreign
    other = tmp_path / "other"
    mark_output_folder(other, "run", tmp_path / "run_a")
    (other / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds the run output of .*run_a"):
        check_output_folder(other, "run", tmp_path / "run_b")
    with pytest.raises(ConfigError, match="holds the run output"):
        check_output_folder(other, "design", other)


def test_a_run_folder_is_its_own_subject_and_stays_so_when_moved(tmp_path):
    run = tmp_path / "run"
    mark_output_folder(run, "run", run)
    (run / "config.yaml").write_text("name: x")
    assert "subject" in (run / MARKER).read_text()
    moved = tmp_path / "moved"
    run.rename(moved)
    check_output_folder(moved, "run", moved)
    with pytest.raises(ConfigError, match="holds another run"):
        check_output_folder(moved, "run", tmp_path / "elsewhere")


def test_a_run_folder_trained_before_markers_is_recognised(tmp_path):
    run = tmp_path / "old_run"
    (run / "checkpoints").mkdir(parents=True)
    assert folder_owner(run) == ("run", run)
    check_output_folder(run, "run", run)


def test_an_existing_file_is_refused_unless_forced(tmp_path):
    path = tmp_path / "screen.h5ad"
    check_output_file(path)
    path.write_text("x")
    with pytest.raises(ConfigError, match="already exists.*force=True"):
        check_output_file(path)
    check_output_file(path, force=True)
    with pytest.raises(ConfigError, match="is a folder"):
        check_output_file(tmp_path)


def test_an_empty_run_name_is_refused():
    from gpo_vae.config import config_from_dict

    for name in ("", ".", ".."):
        with pytest.raises(ConfigError, match="must name a run folder inside output_dir"):
            config_from_dict({"name": name})


# --- the commands ------------------------------------------------------------------------
def test_simulate_refuses_to_replace_a_file_or_a_foreign_report(tmp_path, capsys):
    out = tmp_path / "screen.h5ad"
    out.write_text("an earlier screen")
    _clean_error(["simulate", "--preset", "small", "--out", str(out), "--quiet"], capsys,
                 "already exists")
    assert out.read_text() == "an earlier screen"
    report = tmp_path / "report"
    report.mkdir()
    (report / "notes.txt").write_text("mine")
    _clean_error(["simulate", "--preset", "small", "--out", str(tmp_path / "new.h5ad"),
                  "--report", str(report), "--quiet"], capsys, "--report")
    assert not (tmp_path / "new.h5ad").exists()


def test_train_refuses_a_folder_of_someone_elses_files(tmp_path, capsys, tiny_settings,
                                                       small_screen_path, shared_cache):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_settings(tmp_path / "results", small_screen_path,
                                                   shared_cache)))
    target = tmp_path / "mine"
    target.mkdir()
    (target / "config.yaml").write_text("the user's own config")
    _clean_error(["train", "--config", str(config), "--out", str(target), "--quiet"], capsys,
                 "--out")
    assert (target / "config.yaml").read_text() == "the user's own config"
    assert sorted(p.name for p in target.iterdir()) == ["config.yaml"]


@pytest.fixture(scope="module")
def two_runs(tiny_config, small_screen_path, shared_cache, tmp_path_factory):
    from gpo_vae.training.train import train

    out = tmp_path_factory.mktemp("two_runs")
    runs = []
    for name in ("run_a", "run_b"):
        config = tiny_config(out, small_screen_path, shared_cache, name=name,
                             model={"n_latent": 4}, training={"max_steps": 4})
        runs.append(train(config).run_dir)
    return runs


@pytest.mark.integration
def test_evaluate_export_and_design_refuse_another_runs_folder(two_runs, tmp_path, capsys):
    run_a, run_b = two_runs
    before = sorted(p.name for p in run_b.iterdir())
    _clean_error(["evaluate", str(run_a), "--out", str(run_b), "--quiet"], capsys,
                 "the evaluation folder")
    grn = tmp_path / "grn"
    assert main(["export-grn", str(run_a), "--out", str(grn)]) == 0
    assert main(["export-grn", str(run_a), "--out", str(grn)]) == 0   # a rerun: its own
    capsys.readouterr()
    _clean_error(["export-grn", str(run_b), "--out", str(grn)], capsys, "the GRN folder")
    _clean_error(["design", str(run_a), "--target", "perturbation:x", "--out", str(run_b),
                  "--quiet"], capsys, "the design folder")
    assert sorted(p.name for p in run_b.iterdir()) == before
    assert main(["export-grn", str(run_b), "--out", str(grn), "--force"]) == 0


# --- sweep and benchmark folders -------------------------------------------------------
def test_sweep_and_benchmark_folders_from_before_markers_are_recognised(tmp_path):
    sweep, bench = tmp_path / "sweep", tmp_path / "bench"
    (sweep / ".redun").mkdir(parents=True)
    (sweep / "sweep.yaml").write_text("name: tiny")
    (bench / "runs").mkdir(parents=True)
    (bench / "benchmark.lock").write_text("")
    assert folder_owner(sweep) == ("sweep", sweep)
    assert folder_owner(bench) == ("benchmark", bench)
    check_output_folder(sweep, "sweep", sweep)
    check_output_folder(bench, "benchmark", bench)
    with pytest.raises(ConfigError, match=r"'.*sweep' already holds a sweep; .*force=True"):
        check_output_folder(sweep, "benchmark", sweep)


def test_benchmark_refuses_a_folder_of_someone_elses_files(tmp_path, capsys,
                                                           small_screen_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "benchmark.md").write_text("my notes")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"name": "b", "data": {"path": str(small_screen_path)}}))
    line = _clean_error(["benchmark", str(config), "--methods", "pert_mean", "--out",
                         str(mine)], capsys, "the benchmark folder")
    assert "benchmark.md" in line and "--force" in line
    _clean_error(["benchmark", str(config), "--methods", "pert_mean", "--out", str(mine),
                  "--cells-per-perturbation", "5"], capsys, "the benchmark folder")
    assert (mine / "benchmark.md").read_text() == "my notes"
    assert sorted(p.name for p in mine.iterdir()) == ["benchmark.md"]
