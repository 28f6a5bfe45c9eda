"""The optimiser and the exhaustive baseline on a tiny model with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from gpo_vae.design import DesignSettings, DesignTarget, design_interventions
from gpo_vae.errors import ConfigError
from gpo_vae.evaluation.predict import model_ates

FAST = {"steps": 60, "restarts": 4, "n_draws": 4, "cells_per_draw": 64, "surrogate_cells": 32}


def planted_target(module, label: str) -> DesignTarget:
    """The model's own predicted ATE of ``label``: the right design is ``label`` itself."""
    genes = list(module.data_info.treatment_names)
    dosages = [[1.0 if g in label.split("+") else 0.0 for g in genes]]
    mean, _ = model_ates(module, dosages, [label], n_samples=4000, n_global=40, seed=5,
                         globals_="sample")
    return DesignTarget(mean.loc[label], f"planted {label}", "lfc")


@pytest.mark.parametrize("planted", ["G2", "G4"])
def test_optimiser_recovers_a_planted_single(tiny_module, planted):
    result = design_interventions(tiny_module, planted_target(tiny_module, planted),
                                  settings=DesignSettings(**FAST))
    assert result.best == planted
    assert result.baseline["intervention"].iloc[0] == planted
    assert result.summary()["optimiser_matches_baseline"]
    assert result.summary()["beats_no_intervention"]


def test_rounding_respects_size_and_budget(tiny_module):
    settings = DesignSettings(max_perturbations=2, budget=7, **FAST)
    result = design_interventions(tiny_module, planted_target(tiny_module, "G1+G3"),
                                  settings=settings)
    assert len(result.designs) <= 7
    assert result.best == "G1+G3"                 # the planted pair, not one of its halves
    assert result.designs["n_perturbed"].between(1, 2).all()
    assert all(1 <= len(i) <= 2 and all(d == 1.0 for _, d in i) for i in result.interventions)
    # the baseline tries every single and pair of the 6 genes, each exactly once
    assert len(result.baseline) == 6 + 15
    assert result.baseline["intervention"].is_unique


def test_designs_are_ranked_and_deterministic(tiny_module):
    target = planted_target(tiny_module, "G0")
    run = [design_interventions(tiny_module, target, settings=DesignSettings(**FAST))
           for _ in range(2)]
    pd.testing.assert_frame_equal(run[0].designs, run[1].designs)
    assert run[0].designs["score"].is_monotonic_increasing
    assert (run[0].designs["distance_sd"] > 0).all()       # spread over the globals' draws


def test_allowed_genes_limit_the_search(tiny_module):
    target = planted_target(tiny_module, "G2")
    result = design_interventions(tiny_module, target, allowed=["G0", "G1", "G5"],
                                  settings=DesignSettings(**FAST))
    assert set(result.designs["intervention"]) <= {"G0", "G1", "G5"}
    with pytest.raises(ConfigError, match="'G9' is not a treatment gene"):
        design_interventions(tiny_module, target, allowed=["G9"])


def test_signed_designs_can_activate(tiny_module):
    target = planted_target(tiny_module, "G3")
    flipped = DesignTarget(-target.values, "reverse G3", "lfc")
    result = design_interventions(tiny_module, flipped,
                                  settings=DesignSettings(signed=True, **FAST))
    assert result.designs["intervention"].str.contains(r"\((?:\+|-)\)").all()
    assert len(result.baseline) == 2 * 6


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="budget"):
        DesignSettings(budget=0)
    with pytest.raises(ConfigError, match="unknown distance 'cosine'"):
        DesignSettings(metric="cosine")


def test_the_surrogate_screen_puts_a_planted_single_first(tiny_module):
    from gpo_vae.design.search import _Problem, _screened_singles, _Surrogate

    settings = DesignSettings(**FAST)
    problem = _Problem(tiny_module, planted_target(tiny_module, "G4"), None, settings)
    screened = _screened_singles(problem, _Surrogate(problem, 64), 2)
    assert len(screened) == 2 and problem.allowed[next(iter(screened))] == "G4"


def test_a_negative_design_seed_is_a_one_line_error():
    from gpo_vae.design.search import DesignSettings
    from gpo_vae.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--seed -1 must be >= 0"):
        DesignSettings(seed=-1)
