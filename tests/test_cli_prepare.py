"""`gpo-vae prepare`: each kind of bad input gives one `error:` line, a non-zero exit,
no traceback and no cache entry; a second run with the same settings reuses the cache."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import yaml

from gpo_vae.cli import main


@pytest.fixture(scope="module")
def base_screen(small_screen):
    """The shared small screen (seed 0); tests break copies of it, never it."""
    return small_screen


def _write_config(tmp_path, **data):
    settings = {"preset": "simulated", "doublets": False, **data}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "output_dir": str(tmp_path / "out"),
                                    "data": settings}))
    return path


def _prepare(tmp_path, capsys, config, *extra):
    code = main(["prepare", "--config", str(config), "--quiet", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _no_cache_left(tmp_path):
    cache = tmp_path / "out" / "cache"
    return not cache.exists() or not any(cache.iterdir())


@pytest.mark.integration   # the whole preparation, written to disk
def test_prepare_then_cached(tmp_path, capsys, small_screen_path):
    path = small_screen_path
    config = _write_config(tmp_path, path=str(path))
    code, out, _ = _prepare(tmp_path, capsys, config)
    assert code == 0 and "wrote" in out and "control pairing (ot)" in out
    code, out, _ = _prepare(tmp_path, capsys, config)
    assert code == 0 and "using cached prepared data" in out
    code, out, _ = _prepare(tmp_path, capsys, config, "--set", "data.pairing=hungarian")
    assert code == 0 and "control pairing (hungarian)" in out


def _broken(kind, adata):
    adata = adata.copy()
    X = sp.csr_matrix(adata.X)
    if kind == "negative":
        X.data[0] = -1
    elif kind == "non_integer":
        X.data[:10] = 0.5
    elif kind == "nan":
        X.data[3] = np.nan
    adata.X = X
    if kind == "duplicate_genes":
        adata.var["gene_name"] = adata.var["gene_name"].astype(str).to_numpy()
        adata.var.iloc[1, adata.var.columns.get_loc("gene_name")] = adata.var["gene_name"].iloc[0]
    if kind == "no_perturbation_column":
        adata.obs = adata.obs.rename(columns={"gene": "target"})
    if kind == "no_controls":
        adata.obs["gene"] = adata.obs["gene"].astype(str).replace("non-targeting", "ctrl")
    return adata


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("negative", "negative values"),
        ("non_integer", "non-integer values"),
        ("nan", "NaN or infinite"),
        ("duplicate_genes", "duplicated"),
        ("no_perturbation_column", "no perturbation column 'gene'"),
        ("no_controls", "no control cells"),
    ],
)
def test_bad_input_files(tmp_path, capsys, base_screen, kind, expected):
    path = tmp_path / "bad.h5ad"
    _broken(kind, base_screen).write_h5ad(path)
    code, _, err = _prepare(tmp_path, capsys, _write_config(tmp_path, path=str(path)))
    assert code != 0 and err.startswith("error: ") and expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _no_cache_left(tmp_path)


@pytest.mark.parametrize(
    "settings, expected",
    [
        ({"min_cells": 100000}, "every cell was filtered away"),
        ({"split_fractions": [0.9, 0.1, 0.0]}, "'test' split has no"),
        ({"preset": "k562"}, "data.preset='k562' is not allowed"),
        ({"colour": "red"}, "unknown config key data.colour"),
        ({"preset": "adamson", "summary_stats": "missing.csv"}, "does not exist"),
    ],
)
def test_bad_settings(tmp_path, capsys, small_screen_path, settings, expected):
    path = small_screen_path
    code, _, err = _prepare(tmp_path, capsys, _write_config(tmp_path, path=str(path), **settings))
    assert code != 0 and err.startswith("error: ") and expected in err, err
    assert "Traceback" not in err
    assert _no_cache_left(tmp_path)


def test_unreadable_and_missing_files(tmp_path, capsys, small_screen_path):
    good = small_screen_path
    truncated = tmp_path / "truncated.h5ad"
    truncated.write_bytes(good.read_bytes()[:5000])
    for path, expected in [(truncated, "cannot read"), (tmp_path / "none.h5ad", "does not exist")]:
        code, _, err = _prepare(tmp_path, capsys, _write_config(tmp_path, path=str(path)))
        assert code != 0 and expected in err and "Traceback" not in err
        assert _no_cache_left(tmp_path)


def test_missing_path_and_missing_config(tmp_path, capsys):
    code, _, err = _prepare(tmp_path, capsys, _write_config(tmp_path))
    assert code != 0 and "data.path is not set" in err
    code, _, err = _prepare(tmp_path, capsys, tmp_path / "nope.yaml")
    assert code != 0 and "not found" in err


@pytest.mark.integration   # the whole preparation, written to disk
def test_a_truncated_cache_says_to_prepare_again_with_force(tmp_path, capsys, small_screen_path):
    path = small_screen_path
    config = _write_config(tmp_path, path=str(path))
    assert _prepare(tmp_path, capsys, config)[0] == 0
    cached = next((tmp_path / "out" / "cache").glob("prepared_*.h5ad"))
    cached.write_bytes(cached.read_bytes()[:2000])
    code, _, err = _prepare(tmp_path, capsys, config)
    assert code != 0 and "--force" in err and "re-download" not in err
    assert len(err.strip().splitlines()) == 1
    assert _prepare(tmp_path, capsys, config, "--force")[0] == 0


def test_a_cache_folder_inside_a_file_fails_before_any_work(tmp_path, capsys, small_screen_path):
    path = small_screen_path
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    config = _write_config(tmp_path, path=str(path), cache_dir=str(blocker / "cache"))
    code, out, err = _prepare(tmp_path, capsys, config)
    assert code != 0 and "lies inside the file" in err and "preparing" not in out
