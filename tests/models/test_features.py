"""Gene features feeding the latent effect rows (gpo_vae.models.features)."""

import numpy as np
import pytest
import torch
from tiny_model import N_PERTURBED, N_TREATMENTS, tiny_info

from gpo_vae.models import build_gpo_vae


@pytest.fixture
def featured(tiny_model_config):
    config = tiny_model_config(model={"variant": "anchored", "gene_features": "pca"})
    features = np.random.default_rng(0).normal(size=(N_TREATMENTS, 4)).astype(np.float32)
    return build_gpo_vae(config, tiny_info(), gene_features=features)


def test_rows_without_training_cells_are_predicted_from_their_features_alone(featured):
    guide = featured.guide
    with torch.no_grad():
        guide.feature_effects.map.bias.fill_(0.3)
    for sample in (guide.sample_globals(2), guide.expected_globals()):
        rows = sample.masked_edges
        expected = guide.feature_effects()
        # unseen rows (tiny_info: the last ones have no training cells): h(f) exactly
        torch.testing.assert_close(rows[:, N_PERTURBED:], expected[N_PERTURBED:].expand(
            rows.shape[0], -1, -1))
        # rows with cells: h(f) plus their free GRN part
        free = (sample.mask * sample.edges)[:, :N_PERTURBED]
        torch.testing.assert_close(rows[:, :N_PERTURBED], free + expected[:N_PERTURBED])


def test_a_gene_without_features_gets_the_map_intercept_not_zero(featured):
    effects = featured.guide.feature_effects
    with torch.no_grad():
        effects.features[-1] = 0.0
        effects.map.bias.fill_(0.5)
    torch.testing.assert_close(effects()[-1], effects.map.bias)


def test_feature_map_trains_through_the_loss(featured):
    from tiny_model import random_batch

    featured.loss(random_batch(), 2).loss.backward()
    assert featured.guide.feature_effects.map.weight.grad is not None


def test_features_are_off_for_the_authors_variant(tiny_model_config):
    config = tiny_model_config(model={"variant": "authors"})
    assert config.model.gene_features == "none" and config.loss.shrinkage is False
    assert build_gpo_vae(config, tiny_info()).guide.feature_effects is None


def test_own_gene_effect_shifts_each_targets_own_logit():
    from gpo_vae.models.features import OwnGeneEffect

    own = OwnGeneEffect(torch.tensor([2, -1, 0]))        # treatment 1 is not measured
    with torch.no_grad():
        own.weight.fill_(-1.5)
    shift = own(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]), n_genes=4)
    expected = torch.tensor([[0, 0, -1.5, 0], [0, 0, 0, 0], [-1.5, 0, -1.5, 0]])
    torch.testing.assert_close(shift, expected)


def test_own_gene_effect_spreads_to_the_downstream_genes():
    from gpo_vae.models.features import OwnGeneEffect

    # treatments 0 and 2 are measured (gene columns 2 and 0); two downstream genes each
    index = torch.tensor([[1, 3], [2, 3]])
    values = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    own = OwnGeneEffect(torch.tensor([2, -1, 0]), init=-2.0, downstream=(index, values),
                        alpha_init=0.5)
    dosages = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.5], [0, 0, 0]])
    # the dense reference: w * (one-hot of the own gene + alpha * slopes)
    spread = torch.zeros(3, 4)
    spread[0, 2], spread[2, 0] = 1.0, 1.0
    spread[0, [1, 3]] += 0.5 * values[0]
    spread[2, [2, 3]] += 0.5 * values[1]
    torch.testing.assert_close(own(dosages, n_genes=4), -2.0 * dosages @ spread)
    own(dosages, n_genes=4).sum().backward()
    assert own.alpha.grad is not None and float(own.alpha.grad) != 0.0
    # no downstream genes: no scale to learn, the own gene alone (checkpoints before it)
    alone = OwnGeneEffect(torch.tensor([2, -1, 0]), downstream=(index[:, :0], values[:, :0]))
    assert alone.alpha is None and alone.n_downstream == 0
    assert "alpha" not in dict(alone.named_parameters())


def test_the_downstream_scale_starts_at_its_least_squares_fit():
    from types import SimpleNamespace

    from gpo_vae.models.builder import downstream_scale_init

    # two single conditions (treatments 0 and 1, gene columns 0 and 1) and a double
    info = SimpleNamespace(gene_names=["a", "b", "c", "d"], treatment_names=["a", "b"])
    dosages = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    slopes = np.array([[0.5, 1.0], [-1.0, 2.0]])
    index = np.array([[2, 3], [2, 3]])
    own = -2.0
    shifts = np.zeros((3, 4))
    shifts[0, [2, 3]] = 0.3 * own * slopes[0]            # a true scale of 0.3
    shifts[1, [2, 3]] = 0.3 * own * slopes[1]
    shifts[2] = 99.0                                      # doubles are not used
    pseudobulk = SimpleNamespace(dosages=dosages, shifts=shifts)
    assert downstream_scale_init(info, pseudobulk, (index, slopes), own) == pytest.approx(0.3)
    assert downstream_scale_init(info, None, (index, slopes), own) == 0.0


def test_own_gene_effect_reaches_the_decoded_conditions(featured):
    from tiny_model import N_GENES

    model = featured.model
    with torch.no_grad():
        model.own_effect.weight.fill_(-3.0)
    globals_ = featured.guide.expected_globals()
    z = torch.zeros(1, 4, featured.n_latent)
    dosages = torch.zeros(2, N_TREATMENTS)
    dosages[1, 2] = 1.0                                  # treatment G2 is gene column 2
    props = featured.decode_conditions(globals_, z, dosages)
    assert props.shape == (2, 4, N_GENES)
    assert float(props[1, :, 2].mean()) < 0.2 * float(props[0, :, 2].mean())


def test_an_embedding_table_and_a_network_add_feature_columns(small_prepared,
                                                              tiny_model_config, tmp_path,
                                                              caplog):
    from gpo_vae.models.builder import build_for_prepared

    names = small_prepared.uns["treatments"]["name"].astype(str).tolist()
    table = tmp_path / "embedding.csv"
    rows = "\n".join(f"{g},{i},{i % 3}" for i, g in enumerate(names[:-1]))  # one left out
    table.write_text("gene,d0,d1\n" + rows + "\n")
    network = tmp_path / "net.tsv"
    network.write_text(f"source\ttarget\n{names[0]}\t{names[1]}\n{names[2]}\t{names[-1]}\n")
    plain = build_for_prepared(tiny_model_config(), small_prepared)
    config = tiny_model_config(model={"gene_embedding": str(table),
                                      "gene_network": str(network)})
    module = build_for_prepared(config, small_prepared)
    extra = module.guide.feature_effects.n_features - plain.guide.feature_effects.n_features
    # two embedding columns, and the network's neighbour mean of every own column
    assert extra == 2 + plain.guide.feature_effects.n_features + 2
    assert module.data_info.extra["n_gene_features"] == module.guide.feature_effects.n_features


def test_gene_embedding_without_gene_features_is_a_config_error(tiny_model_config):
    from gpo_vae.errors import ConfigError

    with pytest.raises(ConfigError, match="gene_features=pca"):
        tiny_model_config(model={"gene_features": "none", "gene_embedding": "x.csv"})
