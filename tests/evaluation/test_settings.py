"""Evaluation settings: the one rule on which cells an evaluation may score, shared by
``gpo-vae evaluate`` and :func:`gpo_vae.evaluate`."""

from __future__ import annotations

import pytest

from gpo_vae.cli import main
from gpo_vae.errors import ConfigError
from gpo_vae.evaluation.settings import EVALUATION_SPLITS, EvaluationSettings


def test_only_held_out_splits_can_be_evaluated():
    assert EVALUATION_SPLITS == ("val", "test")
    for split in EVALUATION_SPLITS:
        assert EvaluationSettings(split=split).validate().split == split
    with pytest.raises(ConfigError, match="'train' holds the cells the model was trained on"):
        EvaluationSettings(split="train").validate()
    with pytest.raises(ConfigError, match="'tset' is not a split to evaluate on"):
        EvaluationSettings(split="tset").validate()


def test_the_cli_refuses_the_training_split_with_the_same_one_line_error(tmp_path, capsys):
    # refused before the run folder is even read
    code = main(["evaluate", str(tmp_path / "no_run"), "--split", "train", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: split 'train' holds the cells the model was trained on")


def test_the_ate_decoding_override_is_checked_before_any_work(tmp_path, capsys):
    assert EvaluationSettings(ate_decoding="sampled").validate().ate_decoding == "sampled"
    assert EvaluationSettings().validate().ate_decoding is None     # the run's own
    with pytest.raises(ConfigError, match="ate_decoding='noisy' must be one of expected, "
                                          "sampled"):
        EvaluationSettings(ate_decoding="noisy").validate()
    # the command line offers the same choices
    with pytest.raises(SystemExit):
        main(["evaluate", str(tmp_path / "no_run"), "--ate-decoding", "noisy"])
    assert "invalid choice: 'noisy'" in capsys.readouterr().err
