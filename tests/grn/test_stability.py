import numpy as np
import pandas as pd

from gpo_vae.grn.stability import bootstrap_training_cells


def test_bootstrap_resamples_training_cells_within_perturbations(small_prepared):
    sample = bootstrap_training_cells(small_prepared, np.random.default_rng(0))
    assert sample.obs_names.is_unique and sample.n_obs == small_prepared.n_obs

    def counts(adata, split):
        obs = adata.obs[adata.obs["split"].astype(str) == split]
        return obs["perturbation"].astype(str).value_counts().sort_index()

    pd.testing.assert_series_equal(counts(sample, "train"), counts(small_prepared, "train"))
    for split in ("val", "test"):                           # held-out cells stay as they are
        pd.testing.assert_series_equal(counts(sample, split), counts(small_prepared, split))
    train = sample.obs["split"].astype(str) == "train"
    assert sample.obs_names[train].str.contains("-").any()   # some cells drawn twice
    assert sample.uns["train_cells_per_qc"].sum() == train.sum()    # counted again
    again = bootstrap_training_cells(small_prepared, np.random.default_rng(0))
    assert (again.obs_names == sample.obs_names).all()
    assert small_prepared.obs_names.is_unique                # the input is untouched
