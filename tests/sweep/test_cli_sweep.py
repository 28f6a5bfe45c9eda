"""``gpo-vae sweep`` and the sweep_*.sh wrappers: dry runs, and errors before any trial."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sweep_files import write_sweep

from gpo_vae.cli import main
from gpo_vae.sweep import load_sweep, plan_sweep
from gpo_vae.sweep.runner import redun_config

REPO = Path(__file__).resolve().parents[2]


def _wrapper(name: str, *args: str) -> subprocess.CompletedProcess:
    if not (REPO / ".venv" / "bin" / "gpo-vae").exists():
        pytest.skip("the sweep_*.sh wrappers run .venv/bin/gpo-vae; run scripts/test.sh")
    return subprocess.run(["bash", str(REPO / name), *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


@pytest.mark.parametrize("name", ["sweep_rpe1.sh", "sweep_replogle.sh", "sweep_adamson.sh"])
def test_wrappers_are_one_line_and_dry_run_without_the_data(name):
    lines = [ln for ln in (REPO / name).read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 1 and f"sweep sweeps/{name[6:-3]}.yaml" in lines[0]
    helped = _wrapper(name, "--help")
    assert helped.returncode == 0 and "usage: gpo-vae sweep" in helped.stdout
    dry = _wrapper(name, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "trials:" in dry.stdout and "dry run: nothing trained" in dry.stdout


def test_every_shipped_sweep_file_loads():
    for path in sorted((REPO / "sweeps").glob("*.yaml")):
        spec = load_sweep(path)
        assert spec.name == path.stem and plan_sweep(spec).trials


def test_dry_run_lists_trials_and_writes_nothing(base_config, tmp_path, capsys):
    out = tmp_path / "out"
    sweep = write_sweep(tmp_path / "s.yaml", base_config, out)
    assert main(["sweep", str(sweep), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "2 trials:" in printed and "loss.gloss_coeff=100" in printed
    assert not out.exists()


def _fails(args, capsys, expected: str, out: Path) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert not out.exists()  # nothing written, no trial started


def test_unknown_key_fails_before_any_trial(base_config, tmp_path, capsys):
    out = tmp_path / "out"
    sweep = write_sweep(tmp_path / "s.yaml", base_config, out,
                        parameters={"model.n_hidden": {"values": [1, 2]}})
    _fails(["sweep", str(sweep)], capsys, "'model.n_hidden' is not a config key", out)


def test_bad_distribution_fails_before_any_trial(base_config, tmp_path, capsys):
    out = tmp_path / "out"
    sweep = write_sweep(tmp_path / "s.yaml", base_config, out, method="random",
                        parameters={"loss.beta": {"distribution": "uniform", "min": 2}})
    _fails(["sweep", str(sweep), "--max-trials", "2"], capsys,
           "distribution uniform needs min and max (missing max)", out)


def test_missing_data_fails_before_any_trial(write_base_config, tmp_path, capsys):
    base = write_base_config(tmp_path / "base.yaml", tmp_path / "absent.h5ad", tmp_path / "r")
    out = tmp_path / "out"
    sweep = write_sweep(tmp_path / "s.yaml", base, out)
    _fails(["sweep", str(sweep)], capsys, "absent.h5ad' (from", out)
    assert main(["sweep", str(sweep), "--dry-run"]) == 0  # a dry run needs no data


def test_random_search_without_a_cap_and_bayes_without_wandb(base_config, tmp_path, capsys):
    out = tmp_path / "out"
    params = {"loss.beta": {"min": 0.0, "max": 1.0}}
    sweep = write_sweep(tmp_path / "r.yaml", base_config, out, method="random",
                        parameters=params)
    _fails(["sweep", str(sweep)], capsys, "give --max-trials N", out)
    sweep = write_sweep(tmp_path / "b.yaml", base_config, out, method="bayes",
                        parameters=params)
    _fails(["sweep", str(sweep), "--max-trials", "2"], capsys, "--controller wandb", out)


def test_wandb_controller_without_a_server_says_so(base_config, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "out"
    sweep = write_sweep(tmp_path / "s.yaml", base_config, out)
    _fails(["sweep", str(sweep), "--controller", "wandb"], capsys,
           "needs a W&B server, but WANDB_MODE=offline", out)
    _fails(["sweep", str(sweep), "--controller", "wandb", "--dry-run"], capsys,
           "needs a W&B server", out)


def test_unknown_executor_names_the_defined_ones(base_config, tmp_path, capsys):
    out = tmp_path / "out"
    sweep = write_sweep(tmp_path / "s.yaml", base_config, out)
    _fails(["sweep", str(sweep), "--executor", "batch"], capsys,
           "--executor 'batch' is not defined; choose one of", out)


def test_cluster_executors_come_from_a_redun_config_file(base_config, tmp_path):
    ini = tmp_path / "redun.ini"
    ini.write_text("[executors.batch]\ntype = local\nmode = thread\nmax_workers = 3\n")
    spec = load_sweep(write_sweep(tmp_path / "s.yaml", base_config, tmp_path / "out"))
    config = redun_config(plan_sweep(spec, executor="batch"), ini)
    assert config["executors"]["batch"]["max_workers"] == "3"
    assert str((tmp_path / "out" / ".redun").resolve()) in config["backend"]["db_uri"]
    with pytest.raises(Exception, match="not found"):
        redun_config(plan_sweep(spec), tmp_path / "absent.ini")


def test_workers_never_exceed_the_trials(base_config, tmp_path):
    spec = load_sweep(write_sweep(tmp_path / "s.yaml", base_config, tmp_path / "out"))
    assert 1 <= plan_sweep(spec).workers <= 2
    assert plan_sweep(spec, workers=1).workers == 1
    with pytest.raises(Exception, match="workers=0 must be at least 1"):
        plan_sweep(spec, workers=0)


def test_a_folder_of_someone_elses_files_is_refused_even_in_a_dry_run(base_config, tmp_path,
                                                                     capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "sweep.yaml").write_text("my own sweep file")
    sweep = write_sweep(tmp_path / "s.yaml", base_config, mine)
    assert main(["sweep", str(sweep), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the sweep folder") and "(sweep.yaml)" in err \
        and "--force" in err and len(err.splitlines()) == 1
    assert (mine / "sweep.yaml").read_text() == "my own sweep file"
    assert main(["sweep", str(sweep), "--dry-run", "--force"]) == 0
