import pytest
import torch

from gpo_vae.config import config_from_dict
from gpo_vae.evaluation.likelihood import split_iwelbo
from gpo_vae.training.train import train


@pytest.fixture(scope="module")
def trained(small_screen, tmp_path_factory):
    from gpo_vae.io import write_h5ad_atomic

    out = tmp_path_factory.mktemp("iwelbo")
    write_h5ad_atomic(small_screen, out / "small.h5ad")
    config = config_from_dict({
        "name": "iw", "output_dir": str(out),
        "data": {"preset": "simulated", "path": str(out / "small.h5ad"), "batch_size": 128},
        "model": {"n_latent": 6, "decoder_n_hidden": 32},
        "guide": {"basal_encoder_n_hidden": 32, "embedding_encoder_n_hidden": 32,
                  "embedding_encoder_n_layers": 1},
        "training": {"max_steps": 30, "n_particles": 2, "lr": 3e-3},
        "logging": {"progress_bar": False}})
    return train(config, progress=False, log=lambda m: None)


def test_test_set_iwelbo_is_finite_and_tightens_with_particles(trained):
    adata, trained = trained.adata, trained.module.eval()
    few = split_iwelbo(trained, adata, "test", n_particles=1)
    many = split_iwelbo(trained, adata, "test", n_particles=64)
    assert many["n_cells"] == few["n_cells"] == int((adata.obs["split"] == "test").sum())
    assert torch.isfinite(torch.tensor(many["iwelbo"])) and many["standard_error"] > 0
    assert many["iwelbo"] > few["iwelbo"]
    again = split_iwelbo(trained, adata, "test", n_particles=64)
    assert again["iwelbo"] == many["iwelbo"]          # seeded
    with pytest.raises(ValueError, match="no cells"):
        split_iwelbo(trained, adata[adata.obs["split"] != "test"].copy(), "test")
