"""A damaged run folder (split.json, config.yaml) gives one error line on evaluate and
--resume, before any evaluation or training (issue 31, class 4)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from gpo_vae.cli import main

pytestmark = pytest.mark.integration  # a run trained by the cells_run fixture


@pytest.fixture()
def run_copy(cells_run, tmp_path):
    return shutil.copytree(cells_run, tmp_path / "eval_cells")


def _one_error_line(code, err, start):
    assert code != 0 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), err


def test_evaluate_with_a_corrupt_split_record(run_copy, capsys):
    (run_copy / "split.json").write_text('{"cells": ')
    code = main(["evaluate", str(run_copy), "--quiet", "--out", str(run_copy / "ev")])
    _one_error_line(code, capsys.readouterr().err, "error: the run's split record")
    assert not (run_copy / "ev").exists()


@pytest.mark.parametrize("damaged, text, start", [
    ("split.json", "not json", "error: the run's split record"),
    ("config.yaml", "training: [\n  lr: :", "error: the run's config file"),
])
def test_resume_with_a_damaged_run_file(run_copy, capsys, damaged, text, start):
    config = yaml.safe_load((run_copy / "config.yaml").read_text())
    config["output_dir"] = str(run_copy.parent)
    config_file = run_copy.parent / "resume.yaml"
    config_file.write_text(yaml.safe_dump(config))
    (run_copy / damaged).write_text(text)
    code = main(["train", "--config", str(config_file), "--resume", "--quiet",
                 "--set", "training.max_steps=40"])
    _one_error_line(code, capsys.readouterr().err, start)
