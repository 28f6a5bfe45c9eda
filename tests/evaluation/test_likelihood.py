import pytest
import torch

from gpo_vae.evaluation.likelihood import split_iwelbo
from gpo_vae.training.train import train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tiny_config, small_screen_path, shared_cache, tmp_path_factory):
    config = tiny_config(
        tmp_path_factory.mktemp("iwelbo"), small_screen_path, shared_cache, name="iw",
        model={"n_latent": 6}, guide={"embedding_encoder_n_layers": 1},
        training={"max_steps": 30})
    return train(config)


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
