"""The registry's entries have the form downloads need, and user-facing files read
datasets/ (never ../shared) and name the command that fetches a missing input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpo_vae.download.convert import CONVERTERS
from gpo_vae.download.registry import DATASETS, download_hint

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"adamson", "replogle_k562", "rpe1", "summary_stats", "papalexi", "networks"}


def test_every_required_name_is_registered():
    assert REQUIRED <= set(DATASETS)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_entry_form(name):
    entry = DATASETS[name]
    assert entry.description and entry.licence and entry.citation and entry.page
    for output in entry.outputs:
        source = output.source
        assert re.match(r"https://\S+$", source.url), source.url
        assert source.filename and "/" not in source.filename
        assert source.size is None or (isinstance(source.size, int) and source.size > 0)
        if source.checksum is None:  # unpublished: the entry must say so
            assert source.checksum_note
        else:
            assert re.fullmatch(r"(md5:[0-9a-f]{32}|sha256:[0-9a-f]{64})", source.checksum)
        if output.step:
            kind, _, what = output.step.partition(":")
            assert kind in {"extract", "convert"} and what
            assert kind == "extract" or what in CONVERTERS


def test_replogle_files_carry_figshare_sizes_and_md5():
    for name in ("rpe1", "replogle_k562"):
        source = DATASETS[name].outputs[0].source
        assert source.size > 8e9 and source.checksum.startswith("md5:")


def test_download_hint_names_the_command():
    assert download_hint("datasets/rpe1_raw_singlecell_01.h5ad") == "gpo-vae download rpe1"
    assert download_hint("data/summary_stats.xlsx") == \
        "gpo-vae download summary_stats --dir data"
    assert download_hint("my_screen.h5ad") is None
    absolute = Path("datasets/rpe1_raw_singlecell_01.h5ad").resolve()  # as runs store it
    assert download_hint(absolute) == "gpo-vae download rpe1"


def test_missing_benchmark_input_names_its_download(tmp_path, capsys):
    from gpo_vae.cli import main

    config = ROOT / "demo" / "gpo_vae_rpe1.yaml"
    code = main(["prepare", "--config", str(config),
                 "--set", f"data.path={tmp_path}/datasets/rpe1_raw_singlecell_01.h5ad",
                 "--set", f"output_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code != 0 and "gpo-vae download rpe1 --dir" in err and "Traceback" not in err


def _user_facing() -> list[Path]:
    files = [*ROOT.glob("demo/*.yaml"), *ROOT.glob("sweeps/*.yaml"), *ROOT.glob("*.py"),
             *ROOT.glob("*.sh"), *ROOT.glob("docs/**/*"), ROOT / "README.md"]
    built = ("_build", "generated", "jupyter_execute")   # the docs build's own output
    return [f for f in files if f.is_file() and not set(built) & set(f.parts)]


def test_no_user_facing_file_names_shared():
    """../shared is the developers' data folder: only lines about the tests name it."""
    offenders = [f"{f.relative_to(ROOT)}: {line.strip()}" for f in _user_facing()
                 for line in f.read_text(errors="ignore").splitlines()
                 if "../shared" in line and "test" not in line]
    assert offenders == []
