"""Gene features feeding the latent effect rows (gpo_vae.models.features)."""

import numpy as np
import pytest
import torch
from tiny_model import N_PERTURBED, N_TREATMENTS, tiny_info

from gpo_vae.models import build_gpo_vae


@pytest.fixture
def featured(tiny_model_config):
    """The latent feature pathway: built when the linear response is off."""
    config = tiny_model_config(model={"variant": "anchored", "gene_features": "pca",
                                      "linear_response": False})
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


def test_the_linear_response_replaces_the_latent_feature_pathway(tiny_model_config):
    config = tiny_model_config(model={"variant": "anchored"})
    assert config.model.linear_response and config.model.gene_features == "pca"
    module = build_gpo_vae(config, tiny_info())
    assert module.guide.feature_effects is None
    assert module.model.linear_response is not None


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
    # a treatment with training cells keeps its own shift alone (its latent row does the
    # rest): here treatment 0 has cells, treatment 2 not
    seen = OwnGeneEffect(torch.tensor([2, -1, 0]), init=-2.0, downstream=(index, values),
                         alpha_init=0.5, spread_to=torch.tensor([False, True, True]))
    expected = torch.tensor([[0.0, 0.0, -2.0, 0.0],       # treatment 0: own gene only
                             [0.0, 0.0, 0.0, 0.0],        # not measured
                             # own genes of both (dose 0.5 for treatment 2), and treatment
                             # 2's spread -2 * 0.5 * 0.5 * (2.0, 0.25) on genes 2 and 3
                             [-1.0, 0.0, -2.0 - 1.0, -0.125],
                             [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(seen(dosages, n_genes=4), expected)
    # the scale is fitted when the model is built and kept: a buffer, saved with it
    assert "alpha" in dict(own.named_buffers()) and "alpha" not in dict(own.named_parameters())
    # no downstream genes: no scale to learn, the own gene alone (checkpoints before it)
    alone = OwnGeneEffect(torch.tensor([2, -1, 0]), downstream=(index[:, :0], values[:, :0]))
    assert alone.alpha is None and alone.n_downstream == 0
    assert "alpha" not in dict(alone.named_buffers())


def test_the_downstream_scale_starts_at_its_least_squares_fit():
    from types import SimpleNamespace

    from gpo_vae.models.treatment_shifts import downstream_scale_init

    # two single conditions (treatments 0 and 1, gene columns 0 and 1) and a double
    info = SimpleNamespace(own_columns=np.array([0, 1]))
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


def test_the_linear_response_starts_at_the_ridge_fit_of_the_training_shifts():
    from gpo_vae.models.features import LinearResponse
    from gpo_vae.models.treatment_shifts import linear_response_init

    rng = np.random.default_rng(0)
    genes = rng.normal(size=(50, 3))                     # genes x K
    treatments = genes[:10] - genes[:10].mean(0)         # centred: the offset is the mean
    true_weights, true_offset = rng.normal(size=(3, 3)), rng.normal(size=50)
    singles = np.eye(10)
    shifts = true_offset + (genes @ true_weights @ treatments.T).T
    weights, offset = linear_response_init(genes, treatments, singles, shifts, ridge=1e-8)
    response = LinearResponse(*(torch.as_tensor(a) for a in (genes, treatments, weights,
                                                             offset)))
    # the ridge fit reproduces shifts the linear model explains (the linear baseline's
    # estimator), and a double is the sum of its parts
    fitted = response(torch.as_tensor(singles, dtype=torch.float32), n_genes=50)
    torch.testing.assert_close(fitted, torch.as_tensor(shifts, dtype=torch.float32),
                               atol=1e-3, rtol=1e-3)
    double = torch.zeros(1, 10)
    double[0, :2] = 1.0
    torch.testing.assert_close(response(double, n_genes=50)[0], fitted[0] + fitted[1])
    assert float(response(torch.zeros(1, 10), n_genes=50).abs().max()) == 0.0  # controls
    # restricted to treatments without training cells, the others get nothing from it
    unseen = LinearResponse(*(torch.as_tensor(a) for a in (genes, treatments, weights,
                                                           offset)),
                            applies_to=torch.arange(10) >= 5)
    restricted = unseen(torch.as_tensor(singles, dtype=torch.float32), n_genes=50)
    assert float(restricted[:5].abs().max()) == 0.0
    torch.testing.assert_close(restricted[5:], fitted[5:])
    # no training conditions: nothing to start from
    weights, offset = linear_response_init(genes, treatments, np.zeros((0, 10)), None)
    assert not weights.any() and not offset.any()


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
    n_plain = plain.data_info.extra["n_gene_features"]
    extra = module.data_info.extra["n_gene_features"] - n_plain
    # two embedding columns, and the network's neighbour mean of every own column
    assert extra == 2 + n_plain + 2
    # the linear response gets the same extra columns beside the cells' PCA loadings
    width = module.model.linear_response.gene_embedding.shape[1]
    assert width - plain.model.linear_response.gene_embedding.shape[1] == extra
    assert module.data_info.extra["n_linear"] == width
    treatments = module.model.linear_response.treatment_embedding
    assert treatments.shape == (len(names), width)


def test_gene_embedding_without_gene_features_is_a_config_error(tiny_model_config):
    from gpo_vae.errors import ConfigError

    with pytest.raises(ConfigError, match="gene_features=pca"):
        tiny_model_config(model={"gene_features": "none", "gene_embedding": "x.csv"})


def test_knockdown_shrinkage_pulls_the_single_conditions_targets(small_prepared,
                                                                 tiny_model_config):
    from gpo_vae.models.builder import build_for_prepared

    shrunk = build_for_prepared(tiny_model_config(), small_prepared).loss_fn.consistency
    raw = build_for_prepared(tiny_model_config(loss={"knockdown_shrinkage": False}),
                             small_prepared).loss_fn.consistency
    assert shrunk.shifts.shape == raw.shifts.shape
    moved = (shrunk.shifts - raw.shifts).abs().amax(1) > 1e-6
    # singles move toward their prior; combinations (none here) and unmeasured targets do not
    assert moved.any()
    # the pull only shrinks departures: never further from the prior than the raw shift
    assert float(shrunk.shifts.abs().sum()) <= float(raw.shifts.abs().sum()) * 1.001
