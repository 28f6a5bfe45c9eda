import pandas as pd
import pytest

from gpo_vae.benchmarking.registry import METHODS, MethodOutput, methods, register_method
from gpo_vae.benchmarking.runner import DEFAULT_METHODS
from gpo_vae.errors import ConfigError


def test_the_built_in_methods_are_registered_with_a_label_and_description():
    names = [m.name for m in methods()]
    assert set(DEFAULT_METHODS) <= set(names)
    for method in methods():
        assert method.label and method.description
    assert {m.name for m in methods() if m.trains} >= {"gpo_vae", "gpo_vae_authors",
                                                      "sams_vae"}
    assert not any(METHODS[n].trains for n in ("pert_mean", "global_mean", "ridge",
                                               "additive"))


def test_unknown_and_duplicate_methods_are_refused():
    with pytest.raises(ConfigError, match="unknown method 'nope'.*pert_mean"):
        methods(["pert_mean", "nope"])
    with pytest.raises(ValueError, match="already registered"):
        register_method("pert_mean", "again", "a duplicate")(lambda job: None)


def test_a_method_registers_in_one_call_and_applies_where_it_says():
    @register_method("zero_test", "zero", "predicts no change",
                     applies=lambda data: None if data == "ok" else "not here")
    def zero(job):
        return MethodOutput(pd.DataFrame(0.0, index=job.names, columns=["g"]))
    try:
        method = methods(["zero_test"])[0]
        assert method.applies("ok") is None and method.applies("other") == "not here"
    finally:
        METHODS.pop("zero_test")
