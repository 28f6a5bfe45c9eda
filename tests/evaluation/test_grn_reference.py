"""Reference-network evaluation: the real shared files load right, hand-computed
precision / recall / F1, gene restriction, specs from the command line and YAML, and
clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gpo_vae.errors import ConfigError, InputFileError
from gpo_vae.evaluation.grn_reference import (
    ReferenceNetwork,
    ReferenceSpec,
    load_reference_network,
    parse_reference_argument,
    read_reference_specs,
    reference_metrics,
)

NETWORKS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "networks"


def _network_file(name: str) -> Path:
    """A real reference file under ../shared/data/networks; skips when it is absent."""
    path = NETWORKS / name
    if not path.is_file():
        pytest.skip(f"real network file not found at {path}; see ../shared/data/README.md")
    return path


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _edges(*pairs) -> pd.DataFrame:
    return pd.DataFrame(list(pairs), columns=["source", "target"])


# ---------------------------------------------------------------- the real files

# file, directed, plausible edge-count range, an edge it must contain (stored form)
REAL = [
    ("trrust_human.tsv", True, (8_000, 9_400), ("AATF", "BAX")),
    ("dorothea_hs_ABC.tsv", True, (13_000, 13_223), ("AHR", "CYP1A1")),
    ("regnetwork_kegg_direction_human.tsv", True, (3_800, 3_954), ("AHR", "CDKN1B")),
    ("regnetwork_encode_human_symbols.tsv", True, (150_000, 160_000), ("ZBTB33", "LINC00476")),
    ("corum_complex_pairs_undirected.tsv", False, (45_000, 46_067), ("A2M", "BCHE")),
    # BEELINE's STRING subset lists each pair in both directions: ~81k distinct pairs
    ("beeline_string_human_tf_subset.tsv", False, (75_000, 100_000), ("ARF5", "CDC5L")),
]


@pytest.mark.parametrize(("name", "directed", "count", "edge"), REAL,
                         ids=[r[0].split(".")[0] for r in REAL])
def test_real_reference_files_load(name, directed, count, edge):
    network = load_reference_network(ReferenceSpec(name.split(".")[0], _network_file(name)))
    edges = network.edges
    assert network.directed is directed
    assert list(edges.columns) == ["source", "target"]
    assert count[0] <= len(edges) <= count[1]
    assert edge in set(zip(edges.source, edges.target, strict=True))
    assert not edges.duplicated().any()
    assert not (edges.source == edges.target).any()
    assert (edges.source == edges.source.str.upper()).all()
    # symbol columns, never the numeric id columns (RegNetwork has both; its ENCODE file
    # has a few hundred rows whose symbol is an Entrez id, e.g. 2623 = GATA1)
    assert edges.source.str.fullmatch(r"\d+").mean() < 0.01
    assert edges.target.str.fullmatch(r"\d+").mean() < 0.01
    if not directed:
        assert (edges.source < edges.target).all()  # canonical pairs
    assert len(network.genes) > 500


# ---------------------------------------------------------------- metrics by hand


def test_directed_precision_recall_f1_by_hand():
    reference = ReferenceNetwork("toy", _edges(("A", "B"), ("B", "C"), ("C", "D"),
                                               ("X", "A")), directed=True)
    predicted = _edges(("A", "B"),   # true positive
                       ("C", "B"),   # wrong direction
                       ("A", "D"),   # false positive
                       ("E", "A"),   # E unknown to the reference: ignored
                       ("A", "A"),   # self-loop: ignored
                       ("a", "b"))   # the first edge again, other case: counted once
    m = reference_metrics(predicted, ["A", "B", "C", "D", "E"], reference)
    # shared genes A B C D (E not in the reference, X not in the model)
    assert m["n_shared_genes"] == 4
    assert m["n_edges"] == 3 and m["n_predicted"] == 3 and m["n_true_positives"] == 1
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(1 / 3)
    assert m["random_precision"] == pytest.approx(3 / (4 * 3))
    assert m["directed"] is True


def test_undirected_matches_either_direction_once(tmp_path):
    path = _write(tmp_path, "toy.tsv", "gene_a\tgene_b\nA\tB\nC\tB\nC\tD\nB\tA\n")
    reference = load_reference_network(ReferenceSpec("toy", path))
    assert reference.directed is False and len(reference.edges) == 3
    predicted = _edges(("A", "B"), ("B", "A"),  # one pair, both directions: counted once
                       ("B", "C"),               # matches C-B
                       ("A", "C"))               # false positive
    m = reference_metrics(predicted, ["a", "b", "c", "d"], reference)
    assert m["n_predicted"] == 3 and m["n_true_positives"] == 2 and m["n_edges"] == 3
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["random_precision"] == pytest.approx(3 / 6)


def test_restriction_to_shared_genes_and_undefined_ratios():
    reference = ReferenceNetwork("toy", _edges(("A", "B"), ("C", "D")), directed=True)
    # model knows only A and B: C -> D is outside, so recall is over A -> B only
    m = reference_metrics(_edges(("A", "B")), ["A", "B"], reference)
    assert m["n_edges"] == 1 and m["recall"] == 1.0 and m["precision"] == 1.0
    assert m["f1"] == 1.0
    empty = reference_metrics(_edges(), ["A", "B"], reference)
    assert empty["precision"] is None and empty["recall"] == 0.0 and empty["f1"] is None
    wrong = reference_metrics(_edges(("B", "A")), ["A", "B"], reference)
    assert wrong["precision"] == 0.0 and wrong["f1"] == 0.0
    disjoint = reference_metrics(_edges(("P", "Q")), ["P", "Q"], reference)
    assert disjoint["n_shared_genes"] == 0 and disjoint["n_edges"] == 0
    assert disjoint["recall"] is None and disjoint["random_precision"] is None


# ---------------------------------------------------------------- specs


def test_parse_reference_argument_forms():
    assert parse_reference_argument("trrust=data/trrust.tsv") == ReferenceSpec(
        "trrust", Path("data/trrust.tsv"))
    spec = parse_reference_argument("corum = c.tsv, source=Gene_A ,target=gene_b,undirected")
    assert spec == ReferenceSpec("corum", Path("c.tsv"), "Gene_A", "gene_b", False)
    assert parse_reference_argument("x=f.tsv,directed").directed is True
    assert parse_reference_argument("x=f.tsv,target=dst").source is None


@pytest.mark.parametrize("text", ["trrust.tsv", "=f.tsv", "x=", "x=f.tsv,foo=bar",
                                  "x=f.tsv,directed,undirected", "x=f.tsv,source=",
                                  "x=f.tsv,source=a,source=b", "x=f.tsv,directed=yes"])
def test_parse_reference_argument_rejects_bad_forms(text):
    with pytest.raises(ConfigError, match="NAME=FILE") as info:
        parse_reference_argument(text)
    assert "\n" not in str(info.value)


def test_yaml_spec_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec_file = _write(tmp_path, "refs.yaml", """
networks:
  trrust: {path: nets/trrust.tsv}
  corum: {path: /abs/corum.tsv, source: gene_a, target: gene_b, directed: false}
  short: short.tsv
""")
    specs = read_reference_specs(spec_file)
    assert [s.name for s in specs] == ["trrust", "corum", "short"]
    assert specs[0] == ReferenceSpec("trrust", tmp_path / "nets" / "trrust.tsv")
    assert specs[1] == ReferenceSpec("corum", Path("/abs/corum.tsv"), "gene_a", "gene_b",
                                     False)
    assert specs[2].path == tmp_path / "short.tsv"


@pytest.mark.parametrize(("text", "match"), [
    ("networks:\n  a: {path: a.tsv, sauce: tf}\n", "sauce"),
    ("networks:\n  a: {path: a.tsv}\nextra: 1\n", "extra"),
    ("networks:\n  a: {source: tf}\n", "path"),
    ("networks:\n  a: {path: a.tsv, directed: maybe}\n", "directed"),
    ("networks: {}\n", "networks"),
    ("- a\n- b\n", "networks"),
    ("networks: [unclosed\n", "YAML"),
])
def test_yaml_spec_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as info:
        read_reference_specs(_write(tmp_path, "refs.yaml", text))
    assert "\n" not in str(info.value)


def test_yaml_spec_file_missing(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_reference_specs(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- columns and direction


def test_named_columns_are_case_insensitive(tmp_path):
    path = _write(tmp_path, "x.tsv", "x\tY\tz\n1\tA\tB\n2\tc\tA\n3\tA\tA\n")
    network = load_reference_network(ReferenceSpec("x", path, source="y", target="Z"))
    assert network.directed is True
    assert list(zip(network.edges.source, network.edges.target, strict=True)) == [
        ("A", "B"), ("C", "A")]


def test_symbol_columns_are_preferred_over_ids(tmp_path):
    omnipath = _write(tmp_path, "omni.tsv", "source\ttarget\tsource_genesymbol\t"
                      "target_genesymbol\nP1\tP2\tTP53\tMDM2\n")
    edges = load_reference_network(ReferenceSpec("o", omnipath)).edges
    assert edges.values.tolist() == [["TP53", "MDM2"]]
    ids_first = _write(tmp_path, "ids.tsv", "tf_id\ttarget_id\ttf\ttarget\n1\t2\tMYC\tCDK4\n")
    assert load_reference_network(ReferenceSpec("i", ids_first)).edges.values.tolist() == [
        ["MYC", "CDK4"]]


def test_directedness_detection_and_override(tmp_path):
    pairs = _write(tmp_path, "pairs.tsv", "Gene1\tGene2\nB\tA\nA\tB\n")
    assert load_reference_network(ReferenceSpec("p", pairs)).directed is False
    assert len(load_reference_network(ReferenceSpec("p", pairs)).edges) == 1
    forced = load_reference_network(ReferenceSpec("p", pairs, directed=True))
    assert forced.directed is True and len(forced.edges) == 2
    named = _write(tmp_path, "ppi_undirected.tsv", "source\ttarget\nB\tA\n")
    network = load_reference_network(ReferenceSpec("n", named))
    assert network.directed is False and network.edges.values.tolist() == [["A", "B"]]


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize(("content", "spec_columns", "match"), [
    (None, {}, "not found"),
    (b"", {}, "empty"),
    (b"tf\ttarget\n", {}, "no usable gene pair"),
    (b"tf\ttarget\nA\tA\n\t\n", {}, "no usable gene pair"),
    (b"tf\ttarget\nA\tB\n", {"source": "regulator"}, r"no column 'regulator'.*'tf', 'target'"),
    (b"genes\nA\nB\n", {}, "1 column"),
    (b"foo\tbar\nA\tB\n", {}, "cannot tell"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", {}, "binary"),
    (b"\xff\xfe\xfa\xd0\x80tf\x81\ttarget\n\xc3\x28\t\xa0\xa1\n", {}, "could not be read"),
])
def test_bad_files_raise_one_line_input_file_errors(tmp_path, content, spec_columns, match):
    path = tmp_path / "ref.tsv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError, match=match) as info:
        load_reference_network(ReferenceSpec("bad", path, **spec_columns))
    message = str(info.value)
    assert "\n" not in message and "ref.tsv" in message
