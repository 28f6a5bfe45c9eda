"""Bad settings and odd values (issue 31, class 4): each is a one-line package error,
the command line exits non-zero without a traceback, and valid odd values are accepted.
Every case fails before any training or simulation starts."""

from __future__ import annotations

import os

import pytest
import yaml

import gpo_vae as gv
from gpo_vae.cli import main
from gpo_vae.config import config_from_dict, load_config
from gpo_vae.errors import ConfigError, InputDataError, InputFileError, InputTypeError
from gpo_vae.io import atomic_path, read_json, remove_stale_temporaries, write_text_atomic
from gpo_vae.simulation import SimulationConfig
from gpo_vae.training.run_folder import check_resume_settings, check_split

TOO_LONG = "a" * 256          # one byte over the usual 255-byte limit of a file name


@pytest.fixture()
def files(tmp_path):
    """A minimal valid config, a binary 'config', a folder and a long-named folder."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"name": "run", "output_dir": str(tmp_path / "out")}))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    (tmp_path / "folder").mkdir()
    return {"config": str(config), "binary": str(binary), "folder": str(tmp_path / "folder"),
            "tmp": tmp_path}


def _train(*extra):
    return ["train", "--config", "{config}", "--quiet", *extra]


CLI_CASES = {
    "lr nan": (_train("--set", "training.lr=nan"), r"training.lr='nan' must be a finite"),
    "lr inf": (_train("--set", "training.lr=inf"), r"training.lr='inf' must be a finite"),
    "lr .inf": (_train("--set", "training.lr=.inf"), r"training.lr=inf must be a finite"),
    "beta -inf": (_train("--set", "loss.beta=-.inf"), r"loss.beta=-inf must be a finite"),
    "lr word": (_train("--set", "training.lr=fast"), r"training.lr='fast' must be a number"),
    "set not yaml": (_train("--set", "training.lr=[1"), r"--set 'training.lr=\[1'.*not valid"),
    "binary config": (["train", "--config", "{binary}"], r"not a text file"),
    "folder config": (["train", "--config", "{folder}"], r"is a folder; give the YAML file"),
    "strategy": (_train("--set", "training.strategy=nonsense"),
                 r"training.strategy='nonsense' is not a Lightning strategy"),
    "simulate seed": (["simulate", "--seed", "-1", "--out", "{tmp}/s.h5ad", "--quiet"],
                      r"--seed -1 must be >= 0"),
    "simulate nan": (["simulate", "--set", "weight_max=nan", "--out", "{tmp}/s.h5ad"],
                     r"simulation setting weight_max='nan' must be a finite"),
    "evaluate seed": (["evaluate", "{tmp}/run", "--seed", "-1"], r"--seed -1 must be >= 0"),
    "simulate long name": (["simulate", "--out", "{tmp}/" + TOO_LONG + ".h5ad"],
                           r"over the file system's limit"),
    "train long name": (_train("--out", "{tmp}/" + TOO_LONG), r"--out: the name .* over"),
    "train long run name": (_train("--set", "name=" + TOO_LONG),
                            r"run folder \(output_dir/name\): the name .* over"),
    "export long name": (["export-grn", "{tmp}/run", "--out", "{tmp}/" + TOO_LONG],
                         r"--out: the name .* over"),
}


@pytest.mark.parametrize("argv, expected", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_bad_values_are_one_error_line_without_traceback(argv, expected, files, capsys):
    import re

    code = main([arg.format(**files) for arg in argv])
    _, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if line]
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert re.search(expected, lines[0]), lines[0]
    assert not (files["tmp"] / "out").exists()   # nothing trained or written


@pytest.mark.parametrize("written", ["1e-3", "3e-4", "'1e-3'", "0.001", "1.0e-3"])
def test_learning_rates_written_as_exponents_are_accepted(written, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"training:\n  lr: {written}\n  mask_lr: 1e-2\n")
    config = load_config(path)
    assert config.training.lr == pytest.approx(float(written.strip("'")))
    assert config.training.mask_lr == pytest.approx(0.01)
    assert load_config(None, [f"training.lr={written}"]).training.lr == config.training.lr


def test_the_authors_learning_rate_is_accepted():
    config = config_from_dict({"model": "gpo_vae_Model", "lightning_module_kwargs.lr": "1e-3",
                               "loss_module_kwargs.beta": "5e-1"})
    assert config.training.lr == 1e-3 and config.loss.beta == 0.5


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "nan", "-inf"])
def test_every_float_setting_refuses_nan_and_inf(value):
    for section, key in [("training", "lr"), ("loss", "beta"), ("data", "qc_threshold"),
                         ("guide", "temperature"), ("model", "prior_scale")]:
        with pytest.raises(ConfigError, match=rf"{section}.{key}=.* must be a finite number"):
            config_from_dict({section: {key: value}})
    with pytest.raises(ConfigError, match=r"simulation setting weight_max=.* finite"):
        SimulationConfig(weight_max=value)


def test_an_infinite_learning_rate_stops_before_training(small_prepared, tiny_settings):
    model = gv.GpoVae(small_prepared, tiny_settings())
    with pytest.raises(ConfigError, match=r"training.lr=inf must be a finite number"):
        model.train(max_epochs=1, lr=float("inf"))
    assert model.history is None


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0"])
def test_simulator_seeds_outside_numpy_range_are_refused(seed):
    with pytest.raises(ConfigError, match=r"--seed .* must be >= 0 and at most 4294967295"):
        gv.simulate("small", seed=seed)


# --- output names --------------------------------------------------------------------
def test_a_name_near_the_limit_writes_and_its_temporary_is_short(tmp_path):
    target = tmp_path / ("b" * 250 + ".csv")            # 254 bytes: valid
    with atomic_path(target) as tmp:
        assert len(tmp.name) < 40 and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_text("x")
    assert target.read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_name_over_the_limit_is_refused_before_writing(tmp_path):
    with pytest.raises(ConfigError, match=r"256 bytes, over the file system's limit of 255"):
        write_text_atomic(tmp_path / TOO_LONG, "x")
    assert list(tmp_path.iterdir()) == []


def test_stale_short_temporaries_are_removed(tmp_path):
    dead = 2**22 + 12345
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
        except PermissionError:
            dead += 1
    stale = tmp_path / f".gv.tmp{dead}-abcd1234.h5ad"
    stale.write_text("half")
    assert remove_stale_temporaries(tmp_path) == [stale]


# --- corrupt run-folder files --------------------------------------------------------
def test_a_corrupt_split_record_is_one_line(tmp_path, small_prepared):
    (tmp_path / "split.json").write_text('{"broken')
    with pytest.raises(InputFileError, match=r"split record .* cannot be read as JSON"):
        check_split(tmp_path, small_prepared, "evaluate")
    (tmp_path / "split.json").write_text("[1, 2]")
    with pytest.raises(InputFileError, match=r"has no 'cells' mapping"):
        check_split(tmp_path, small_prepared, "evaluate")


def test_read_json_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "x.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputFileError, match=r"x.json' cannot be read as JSON .*; restore it"):
        read_json(tmp_path / "x.json", "the record", "restore it")


@pytest.mark.parametrize("text, expected", [("training: [\n  lr: :", r"is not valid YAML"),
                                            ("- a list", r"must hold a mapping")])
def test_a_corrupt_run_config_on_resume_is_one_line(tmp_path, text, expected):
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConfigError, match=rf"the run's config file .*{expected}"):
        check_resume_settings(tmp_path, {"training": {"lr": 0.1}})


# --- the Python API with wrong types ---------------------------------------------------
def test_api_wrong_types_are_package_errors(small_screen_path, small_copy, small_prepared,
                                            tiny_settings, tmp_path):
    with pytest.raises(InputTypeError, match=r"GpoVae's adata must be a prepared AnnData, "
                       r"got str .*gv.prepare"):
        gv.GpoVae(str(small_screen_path))
    with pytest.raises(TypeError):              # also an ordinary TypeError
        gv.GpoVae(42)
    with pytest.raises(InputDataError, match=r"not made by `gpo-vae prepare`; run gv.prepare"):
        gv.GpoVae(small_copy)
    with pytest.raises(InputTypeError, match=r"gv.evaluate expects a trained GpoVae, got str"):
        gv.evaluate(str(tmp_path), small_prepared)
    model = gv.GpoVae(small_prepared, tiny_settings())
    for call in (lambda: gv.evaluate(model, small_copy),
                 lambda: model.get_latent_representation(small_copy)):
        with pytest.raises(InputDataError, match=r"adata is an AnnData that was not made by"):
            call()
    with pytest.raises(InputTypeError, match=r"adata must be a prepared AnnData, got str"):
        gv.evaluate(model, str(small_screen_path))
    with pytest.raises(InputTypeError, match=r"config must be a Config, a dict or a YAML"):
        gv.GpoVae(None, config=3)


def test_prepare_given_a_folder_says_so(tmp_path):
    with pytest.raises(InputFileError, match=r"is a folder; give the file inside it"):
        gv.prepare(tmp_path, preset="simulated")
    with pytest.raises(InputFileError, match=r"is a folder"):
        gv.prepare(tmp_path, preset="simulated", cache_dir=tmp_path / "cache")
    with pytest.raises(InputTypeError, match=r"must be a file path, got int"):
        gv.prepare(7, preset="simulated")
    with pytest.raises(ConfigError, match=r"is a folder; give the YAML file"):
        load_config(tmp_path)


@pytest.mark.parametrize("setting", [{"linear_ridge": float("nan")},
                                     {"grn_threshold": float("inf")},
                                     {"n_samples": "many"}])
def test_evaluation_settings_follow_the_same_rule(setting):
    from gpo_vae.evaluation.settings import EvaluationSettings

    with pytest.raises(ConfigError, match=rf"{next(iter(setting))}=.* must be a"):
        EvaluationSettings(**setting).validate()


def test_numpy_numbers_are_numbers():
    import numpy as np

    config = config_from_dict({"training": {"lr": np.float32(0.5), "max_epochs": np.int64(3)}})
    assert config.training.lr == 0.5 and type(config.training.max_epochs) is int
