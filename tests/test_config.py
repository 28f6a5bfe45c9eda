"""Config loading: typed, validated, overridable, and the authors' flat format."""

from __future__ import annotations

import pytest

from gpo_vae.config import config_from_dict, dump_config, load_config
from gpo_vae.errors import ConfigError


def test_defaults_and_nested_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: run1\ndata:\n  preset: rpe1\n  split: perturbations\n  batch_size: 128\n")
    config = load_config(path)
    assert config.name == "run1" and config.data.preset == "rpe1"
    assert config.data.split == "perturbations" and config.data.batch_size == 128
    assert config.data.pairing == "ot" and config.data.split_fractions == [0.64, 0.16, 0.20]


def test_overrides_win_and_are_typed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  batch_size: 128\n")
    config = load_config(path, ["data.batch_size=64", "data.qc_threshold=4", "output_dir=out"])
    assert config.data.batch_size == 64
    assert config.data.qc_threshold == 4.0 and isinstance(config.data.qc_threshold, float)
    assert config.output_dir == "out"


def test_authors_flat_dotted_keys_load():
    config = config_from_dict({"data.preset": "adamson", "data.seed": 7, "name": "x"})
    assert config.data.preset == "adamson" and config.data.seed == 7


def test_round_trip_through_yaml(tmp_path):
    config = config_from_dict({"data": {"preset": "simulated", "path": "x.h5ad"}})
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


@pytest.mark.parametrize(
    "values, message",
    [
        ({"data": {"splt": "cells"}}, "unknown config key data.splt"),
        ({"dataa": {}}, "unknown config key dataa"),
        ({"data": {"preset": "k562"}}, "data.preset='k562' is not allowed"),
        ({"data": {"split": "genes"}}, "choose one of cells, perturbations"),
        ({"data": {"batch_size": "big"}}, "data.batch_size='big' must be an integer"),
        ({"data": {"batch_size": 0}}, "data.batch_size=0 must be positive"),
        ({"data": {"doublets": "yes"}}, "must be true or false"),
        ({"data": {"split_fractions": [0.5, 0.6, 0.1]}}, "summing to 1"),
        ({"data": "cells"}, "must be a mapping"),
        ({"training": {"accelerator": "tpu"}}, "training.accelerator='tpu' is not supported"),
        ({"training": {"devices": "foo"}}, "training.devices='foo' must be auto"),
        ({"training": {"devices": 0}}, "training.devices=0 must be auto"),
        ({"training": {"seed": -1}}, "training.seed=-1 must be >= 0"),
        ({"data": {"seed": -3}}, "data.seed=-3 must be >= 0"),
        ({"loss": {"pseudobulk_coeff": -1}}, "loss.pseudobulk_coeff=-1.0 must be >= 0"),
        ({"model": {"variant": "theirs"}}, "choose one of anchored, authors"),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ConfigError) as exc:
        config_from_dict(values)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data:\n  split: [cells\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="--set expects"):
        load_config(None, ["data.split"])


def test_every_settings_dataclass_shares_the_one_type_rule():
    """The run config's sections, the simulation's, the evaluation's and the design's
    settings all coerce through the Settings base: same conversions, same messages."""
    from gpo_vae.config import Settings
    from gpo_vae.config.sections import DataConfig, TrainingConfig
    from gpo_vae.design.search import DesignSettings
    from gpo_vae.evaluation.settings import EvaluationSettings
    from gpo_vae.simulation.config import SimulationConfig

    for cls in (DataConfig, TrainingConfig, DesignSettings, EvaluationSettings,
                SimulationConfig):
        assert issubclass(cls, Settings)
    assert DesignSettings(lr="1e-3").lr == 0.001          # PyYAML's string for 1e-3
    with pytest.raises(ConfigError, match=r"^design setting signed='yes' must be true"):
        DesignSettings(signed="yes")
    with pytest.raises(ConfigError, match=r"^simulation setting n_cells='many' must be an"):
        SimulationConfig(n_cells="many")
    chosen = EvaluationSettings(grn_top_k=[10, 20], linear_ridge="0.5").validate()
    assert chosen.grn_top_k == (10, 20) and chosen.linear_ridge == 0.5
