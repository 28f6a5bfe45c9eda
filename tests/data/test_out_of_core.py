"""Out-of-core preparation and loading: counts read from disk a block at a time give
exactly what the in-memory path gives (QC metrics, the whole prepared screen, training
batches), and the prepared file is only read when used."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import gpo_vae.data.rows as rows_mod
from gpo_vae.config import config_from_dict
from gpo_vae.data.datamodule import PerturbationDataModule
from gpo_vae.data.prepare import prepare, run_preparation
from gpo_vae.data.qc import annotate_qc
from gpo_vae.data.rows import RowMatrix
from gpo_vae.simulation import SIMULATED_SCHEMA


@pytest.fixture()
def small_blocks(monkeypatch):
    """Blocks of 256 cells, so the 1.5k-cell screen spans several of them."""
    monkeypatch.setattr(rows_mod, "BLOCK_ROWS", 256)


def _config(tmp_path, path, **data):
    return config_from_dict({"output_dir": str(tmp_path / "out"), "data": {
        "preset": "simulated", "path": str(path), "batch_size": 128, **data}})


def test_chunked_qc_equals_in_memory(small_screen, small_screen_path, small_blocks):
    symbols = SIMULATED_SCHEMA.gene_symbol_key
    in_memory = annotate_qc(small_screen, gene_symbol_key=symbols, backend="cpu")
    backed = ad.read_h5ad(small_screen_path, backed="r")
    chunked = annotate_qc(backed, gene_symbol_key=symbols, backend="cpu",
                          counts=RowMatrix.from_h5ad(small_screen_path))
    pd.testing.assert_frame_equal(chunked, in_memory)
    assert in_memory["qc"].any()


@pytest.mark.integration   # the whole preparation, written to disk
def test_prepared_file_equals_in_memory_preparation(tmp_path, small_screen,
                                                    small_screen_path, small_blocks):
    config = _config(tmp_path, small_screen_path)
    prepared = prepare(config)
    assert prepared._adata is None  # nothing read until it is used
    on_disk = prepared.adata
    in_memory = run_preparation(config, raw=small_screen)
    assert on_disk.shape == in_memory.shape and on_disk.n_obs < small_screen.n_obs
    assert abs(on_disk.X - in_memory.X).max() == 0
    assert np.array_equal(on_disk.obsm["dosages"].toarray(), in_memory.obsm["dosages"].toarray())
    for frame in ("obs", "var"):
        a, b = getattr(on_disk, frame), getattr(in_memory, frame)
        assert list(a.columns) == list(b.columns)
        for column in b.columns:
            assert (a[column].astype(str).to_numpy() == b[column].astype(str).to_numpy()).all()
    assert np.array_equal(on_disk.uns["counterfactual_profiles"],
                          in_memory.uns["counterfactual_profiles"])
    assert prepared.manifest["steps"][-1]["step"] == "write"


def test_dense_input_is_read_into_memory(tmp_path, small_screen, caplog):
    dense = small_screen.copy()
    dense.X = dense.X.toarray()
    path = tmp_path / "dense.h5ad"
    dense.write_h5ad(path)
    caplog.set_level(logging.INFO, logger="gpo_vae")
    prepared = prepare(_config(tmp_path, path))
    assert any("reading the counts into memory" in line for line in caplog.messages)
    assert prepared.adata.n_obs > 0


def test_backed_datamodule_yields_the_same_batches(tmp_path, small_screen_path):
    batches = {}
    for backed in (False, True):
        config = _config(tmp_path, small_screen_path, backed=backed, doublets=False)
        dm = PerturbationDataModule(config)
        dm.prepare_data()
        dm.setup("fit")
        assert dm.adata.isbacked is backed
        counts = dm.datasets["train"].counts
        assert isinstance(counts, RowMatrix) and counts.on_disk is backed
        if not backed:  # the split is a view of the prepared matrix, not a copy of it
            assert np.shares_memory(counts.source.data, dm.adata.X.data)
        batches[backed] = list(dm.train_dataloader()) + list(dm.val_dataloader())
    assert len(batches[True]) == len(batches[False]) > 2
    for memory, disk in zip(batches[False], batches[True], strict=True):
        assert memory.keys() == disk.keys()
        for key in memory:
            torch.testing.assert_close(disk[key], memory[key], rtol=0, atol=0)
