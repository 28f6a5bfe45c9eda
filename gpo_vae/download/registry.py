"""Where the benchmark data come from: one registry of every file ``gpo-vae download``
fetches, with its address, size, checksum, licence and citation.

Sizes and checksums are the ones the sources publish (Figshare's API lists an MD5 and a
byte count for every file of the Replogle 2022 record). Where a source publishes neither,
the entry says so in ``checksum_note`` and the download is checked for size only, or not
at all; nothing here was measured by this project and passed off as published.

The layout under ``--dir`` (default ``datasets/``) follows the GPO-VAE authors'
(``datasets/summary_stats.xlsx``, ``datasets/<screen>.h5ad``), with the Papalexi screen
and the reference networks in subfolders, as the repository's configs expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The folder the configs and the README read from, relative to the repository root.
DEFAULT_DIR = "datasets"

_FIGSHARE = "https://ndownloader.figshare.com/files/{}"
_REPLOGLE_PAGE = ("https://plus.figshare.com/articles/dataset/_Mapping_information-rich_"
                  "genotype-phenotype_landscapes_with_genome-scale_Perturb-seq_Replogle_et_al_"
                  "2022_processed_Perturb-seq_datasets/20029387")
_REPLOGLE_CITATION = ("Replogle et al. (2022) Mapping information-rich genotype-phenotype "
                      "landscapes with genome-scale Perturb-seq. Cell 185:2559-2575. "
                      "doi:10.1016/j.cell.2022.05.013")
_FIGSHARE_NOTE = ("size and MD5 as Figshare's API lists them for article 20029387 (file "
                  "{}); the same values are recorded by independent projects that download it")
_AUTHORS_PAGE = "https://github.com/dmis-lab/GPO-VAE#download-datasets"
_AUTHORS_CITATION = ("Baek, Park, Chok, Gim, Kang (2025) GPO-VAE: Modeling explainable gene "
                     "perturbation responses utilizing GRN-aligned parameter optimization. "
                     "Bioinformatics. (the authors' preprocessed files)")
_NO_CHECKSUM_DRIVE = ("the GPO-VAE authors publish only the Google Drive id, no size or "
                      "checksum; the download is not verified")


@dataclass(frozen=True)
class Source:
    """One remote file.

    ``checksum`` is ``"md5:<hex>"`` or ``"sha256:<hex>"`` (pooch's notation) when the
    source publishes one, else None with the reason in ``checksum_note``; ``size`` in
    bytes, or None when unpublished. ``google_drive_id`` marks a Google Drive file
    (fetched with gdown). ``filename`` is the name the download is kept under.
    """

    url: str
    filename: str
    size: int | None
    checksum: str | None
    checksum_note: str = ""
    google_drive_id: str | None = None


@dataclass(frozen=True)
class Output:
    """A file ``gpo-vae download`` writes under ``--dir``: the ``source`` as it is
    (``step`` None), one member of it (``step="extract:<member name>"``) or a conversion
    of it (``step="convert:<converter>"``, see :mod:`gpo_vae.download.convert`)."""

    path: str
    source: Source
    step: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A name ``gpo-vae download`` accepts and the files it writes."""

    name: str
    description: str
    outputs: tuple[Output, ...]
    licence: str
    citation: str
    page: str
    alternative: str = ""


_AUTHORS_TARBALL = Source(
    url="https://drive.google.com/uc?id=1gpnjtKYLAsyGrPqGT8NbTcvx2tiLowXN",
    filename="datasets.tar.gz", size=None, checksum=None,
    checksum_note=_NO_CHECKSUM_DRIVE + " (about 11 GB: the three preprocessed screens)",
    google_drive_id="1gpnjtKYLAsyGrPqGT8NbTcvx2tiLowXN")
_AUTHORS_STATS = Source(
    url="https://drive.google.com/uc?id=1C7vGxYqT-UvN1o_aYpVOcJXTDuJmH-lg",
    filename="summary_stats.tar.gz", size=None, checksum=None,
    checksum_note=_NO_CHECKSUM_DRIVE, google_drive_id="1C7vGxYqT-UvN1o_aYpVOcJXTDuJmH-lg")
_CELL_TABLE_S2 = Source(
    url="https://ars.els-cdn.com/content/image/1-s2.0-S0092867422005979-mmc2.xlsx",
    filename="summary_stats.xlsx", size=None, checksum=None,
    checksum_note="Cell's supplementary Table S2 (the address CausalBench downloads); the "
    "journal publishes no size or checksum, so the download is not verified")
_SCEPTREDATA = Source(
    url="https://github.com/Katsevich-Lab/sceptredata/raw/main/data/lowmoi_example_data.rda",
    filename="lowmoi_example_data.rda", size=None, checksum=None,
    checksum_note="the R package sceptredata (MIT) publishes no checksum of its data files; "
    "the conversion checks that its tables agree on the cells")
_TRRUST = Source(
    url="https://www.grnpedia.org/trrust/data/trrust_rawdata.human.tsv",
    filename="trrust_rawdata.human.tsv", size=None, checksum=None,
    checksum_note="TRRUST publishes no size or checksum; the file is not verified")
_DOROTHEA = Source(
    url="https://github.com/saezlab/dorothea/raw/master/data/dorothea_hs.rda",
    filename="dorothea_hs.rda", size=None, checksum=None,
    checksum_note="the R package dorothea publishes no checksum of its data files")
_BEELINE = Source(
    url="https://zenodo.org/records/3701939/files/BEELINE-Networks.zip?download=1",
    filename="BEELINE-Networks.zip", size=None, checksum=None,
    checksum_note="Zenodo shows an MD5 on the record page (record 3701939), not found in a "
    "source this project could read; the file is not verified")

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset(
        name="rpe1",
        description="Replogle 2022 RPE1 essential-gene CRISPRi screen, raw UMI counts per "
        "cell (about 8.7 GB)",
        outputs=(Output("rpe1_raw_singlecell_01.h5ad", Source(
            url=_FIGSHARE.format(35775606), filename="rpe1_raw_singlecell_01.h5ad",
            size=8_700_873_216, checksum="md5:6a2a9d0d2bf4ec147f4d1104043b268c",
            checksum_note=_FIGSHARE_NOTE.format(35775606))),),
        licence="CC BY 4.0", citation=_REPLOGLE_CITATION, page=_REPLOGLE_PAGE,
        alternative="the GPO-VAE authors' preprocessed rpe1_qc_deg_matched_ctrl_idx_all_ot"
        f".h5ad in their datasets.tar.gz ({_AUTHORS_PAGE})"),
    Dataset(
        name="replogle_k562",
        description="Replogle 2022 K562 essential-gene CRISPRi screen (day 6), raw UMI "
        "counts per cell (about 10.7 GB)",
        outputs=(Output("K562_essential_raw_singlecell_01.h5ad", Source(
            url=_FIGSHARE.format(35773219), filename="K562_essential_raw_singlecell_01.h5ad",
            size=10_661_879_995, checksum="md5:4f1122ce1c7f13299a68df6459a266d3",
            checksum_note=_FIGSHARE_NOTE.format(35773219))),),
        licence="CC BY 4.0", citation=_REPLOGLE_CITATION, page=_REPLOGLE_PAGE,
        alternative="the GPO-VAE authors' preprocessed k562_qc_deg_matched_ctrl_idx_all_ot"
        f".h5ad in their datasets.tar.gz ({_AUTHORS_PAGE})"),
    Dataset(
        name="adamson",
        description="Adamson 2016 UPR Perturb-seq screen (K562), the GPO-VAE authors' "
        "annotated file, from their datasets.tar.gz (about 11 GB with the other two "
        "screens; the archive is kept in .downloads/)",
        outputs=(Output("adamson_qc_deg_matched_ctrl_idx_all_ot.h5ad", _AUTHORS_TARBALL,
                        "extract:adamson_qc_deg_matched_ctrl_idx_all_ot.h5ad"),),
        licence="public data (GEO GSE90546); redistributed by the GPO-VAE authors",
        citation="Adamson et al. (2016) A multiplexed single-cell CRISPR screening platform "
        "enables systematic dissection of the unfolded protein response. Cell 167:1867-1882. "
        "doi:10.1016/j.cell.2016.11.048; " + _AUTHORS_CITATION,
        page=_AUTHORS_PAGE,
        alternative="the raw counts of GEO GSM2406681 (GSE90546), or scPerturb's "
        "AdamsonWeissman2016_GSM2406681_10X010.h5ad (Zenodo), after renaming its columns "
        "to obs['gene'] / obs['gene_id']"),
    Dataset(
        name="summary_stats",
        description="per-perturbation summary statistics for the strong-perturbation "
        "filter: Replogle 2022 Table S2 (summary_stats.xlsx) and the Adamson 2016 table "
        "(summary_stats_adamson.csv, from the GPO-VAE authors' summary_stats.tar.gz)",
        outputs=(Output("summary_stats.xlsx", _CELL_TABLE_S2),
                 Output("summary_stats_adamson.csv", _AUTHORS_STATS,
                        "extract:summary_stats_adamson.csv")),
        licence="Replogle 2022 supplementary material (Cell, open access); Adamson table "
        "redistributed by the GPO-VAE authors",
        citation=_REPLOGLE_CITATION + "; " + _AUTHORS_CITATION,
        page="https://doi.org/10.1016/j.cell.2022.05.013",
        alternative=f"both files are in the GPO-VAE authors' summary_stats.tar.gz "
        f"({_AUTHORS_PAGE})"),
    Dataset(
        name="papalexi",
        description="Papalexi 2021 ECCITE-seq CRISPRko screen (THP-1, 20,729 cells x 299 "
        "genes) as distributed in the R data package sceptredata, converted to h5ad",
        outputs=(Output("papalexi2021/papalexi2021_thp1_eccite_299genes.h5ad", _SCEPTREDATA,
                        "convert:papalexi"),),
        licence="MIT (sceptredata); data from GEO GSE153056",
        citation="Papalexi et al. (2021) Characterizing the molecular regulation of "
        "inhibitory immune checkpoints with multimodal single-cell screens. Nat Genet "
        "53:322-331. doi:10.1038/s41588-021-00778-2",
        page="https://github.com/Katsevich-Lab/sceptredata",
        alternative="install sceptredata in R and save lowmoi_example_data with save()"),
    Dataset(
        name="networks",
        description="reference networks for the GRN evaluation: TRRUST v2 human, DoRothEA "
        "human (confidence A-C) and the BEELINE STRING human subset",
        outputs=(
            Output("networks/trrust_human.tsv", _TRRUST, "convert:trrust"),
            Output("networks/dorothea_hs_ABC.tsv", _DOROTHEA, "convert:dorothea"),
            Output("networks/beeline_string_human_tf_subset.tsv", _BEELINE,
                   "convert:beeline_string"),
        ),
        licence="each source's own terms (TRRUST site, the dorothea R package, Zenodo "
        "record 3701939); not restated here",
        citation="Han et al. (2018) TRRUST v2, Nucleic Acids Res 46:D380; Garcia-Alonso et "
        "al. (2019) DoRothEA, Genome Res 29:1363; Pratapa et al. (2020) BEELINE, Nat "
        "Methods 17:147",
        page="https://www.grnpedia.org/trrust/",
        alternative="RegNetwork (regnetworkweb.org) and CORUM (mips.helmholtz-muenchen.de/"
        "corum) have no stable download address: fetch them by hand (docs/data.md)"),
)}


def dataset(name: str) -> Dataset:
    """The registry entry called ``name``; a one-line error lists the names otherwise."""
    from gpo_vae.errors import ConfigError

    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def download_hint(path: str | Path) -> str | None:
    """The ``gpo-vae download`` command that writes a file named like ``path`` (None when
    no registry entry does), e.g. for a config's missing ``data.path``."""
    path = Path(path)
    for entry in DATASETS.values():
        for output in entry.outputs:
            if path.as_posix().endswith(output.path):
                root = path.as_posix()[:-len(output.path)].rstrip("/") or "."
                default = Path(root).resolve() == Path(DEFAULT_DIR).resolve()
                where = "" if default else f" --dir {root}"
                return f"gpo-vae download {entry.name}{where}"
    return None
