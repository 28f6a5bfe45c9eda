import math

import numpy as np
import pytest

from gpo_vae.errors import InputFileError
from gpo_vae.models.prior_network import prior_mask_logits, read_edge_list

NAMES = ["GATA1", "TAL1", "SPI1", "MYB"]


@pytest.mark.parametrize("text", [
    "tf\ttarget\nGATA1\tTAL1\nspi1\tmyb\nGATA1\tNOTHERE\n",    # header, tab, lower case
    "GATA1,TAL1\nSPI1,MYB\n",                                   # no header, comma
])
def test_listed_edges_get_the_prior_probability(tmp_path, text):
    path = tmp_path / "prior.txt"
    path.write_text(text)
    logits, n_edges = prior_mask_logits(path, NAMES, base_logit=-1.0, edge_probability=0.9)
    assert n_edges == 2
    assert logits[0, 1] == pytest.approx(math.log(9)) and logits[2, 3] == pytest.approx(math.log(9))
    assert np.count_nonzero(logits == -1.0) == 14


def test_named_columns_are_found_after_other_columns(tmp_path):
    path = tmp_path / "dorothea.tsv"
    path.write_text("tf\tconfidence\ttarget\tmor\nGATA1\tA\tTAL1\t1\n")
    assert read_edge_list(path).iloc[0].tolist() == ["GATA1", "TAL1"]


def test_prior_network_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        prior_mask_logits(tmp_path / "none.tsv", NAMES, base_logit=0, edge_probability=0.9)
    path = tmp_path / "other.tsv"
    path.write_text("A\tB\nC\tD\n")
    with pytest.raises(InputFileError, match="gene symbols"):
        prior_mask_logits(path, NAMES, base_logit=0, edge_probability=0.9)
