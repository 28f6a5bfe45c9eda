"""The command line: simulate end to end, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pytest

from gpo_vae.cli import main
from gpo_vae.simulation import SIMULATED_SCHEMA


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean_error(code, err):
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


def test_console_script_simulate_small(tmp_path):
    """`gpo-vae simulate --preset small --out x.h5ad` through the installed entry point."""
    exe = shutil.which("gpo-vae") or str(Path(sys.executable).parent / "gpo-vae")
    out = tmp_path / "x.h5ad"
    result = subprocess.run([exe, "simulate", "--preset", "small", "--out", str(out), "--quiet"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    adata = ad.read_h5ad(out)
    assert adata.n_obs > 1000 and adata.n_vars == 200
    assert "true_grn" in adata.uns
    assert f"wrote {out}" in result.stdout


def test_simulate_with_report(tmp_path, capsys):
    out = tmp_path / "sim.h5ad"
    code, stdout, _ = _run(["simulate", "--preset", "small", "--seed", "2", "--out", str(out),
                            "--report", str(tmp_path / "report"), "--quiet"], capsys)
    assert code == 0
    summary = json.loads((tmp_path / "report" / "simulation_summary.json").read_text())
    adata = ad.read_h5ad(out)
    assert summary["n_cells"] == adata.n_obs
    assert summary["n_perturbations"] == 10
    assert summary["n_qc_failing_cells"] == int(adata.obs["sim_low_quality"].sum())
    assert summary["n_true_edges"] == len(adata.uns["true_grn"])
    assert summary["median_abs_lfc_direct_targets"] > 2 * summary["median_abs_lfc_unreached_genes"]
    assert summary["median_target_lfc"] < -0.3
    png = tmp_path / "report" / "plots" / "simulation_overview.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "n true edges" in stdout
    assert not list(tmp_path.rglob(".*tmp*")) and not list(tmp_path.rglob(".sim.h5ad*"))


def test_simulate_set_overrides(tmp_path, capsys):
    out = tmp_path / "s.h5ad"
    code, _, _ = _run(["simulate", "--preset", "small", "--set", "n_cells=300", "--out",
                       str(out), "--quiet"], capsys)
    assert code == 0 and ad.read_h5ad(out).n_obs == 300


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--set", "n_cellz=3"], "unknown simulation setting"),
        (["--set", "n_cells"], "--set expects"),
        (["--set", "knockdown_min=2"], "out of range"),
    ],
)
def test_simulate_bad_settings_write_nothing(tmp_path, capsys, extra, expected):
    out = tmp_path / "s.h5ad"
    code, _, err = _run(["simulate", "--preset", "small", "--out", str(out), *extra], capsys)
    _assert_clean_error(code, err)
    assert expected in err
    assert not any(tmp_path.iterdir())


def test_simulate_requires_h5ad_suffix(tmp_path, capsys):
    code, _, err = _run(["simulate", "--preset", "small", "--out", str(tmp_path / "x.csv")],
                        capsys)
    _assert_clean_error(code, err)
    assert "must end in .h5ad" in err


def test_validate_accepts_a_good_file(capsys, small_screen_path):
    path = small_screen_path
    code, out, _ = _run(["validate", str(path), "--gene-symbol-key",
                         SIMULATED_SCHEMA.gene_symbol_key], capsys)
    assert code == 0 and out.startswith("ok: ") and "10 perturbations" in out


def test_validate_error_paths(tmp_path, capsys, small_copy):
    path = tmp_path / "data.h5ad"
    small_copy.write_h5ad(path)
    cases = [
        (["--perturbation-key", "target"], "no perturbation column 'target'"),
        (["--control-label", "ctrl"], "no control cells"),
        (["--counts-layer", "counts"], "counts layer 'counts' not found"),
        (["--gene-symbol-key", "symbol"], "var has no column 'symbol'"),
    ]
    for extra, expected in cases:
        code, _, err = _run(["validate", str(path), *extra], capsys)
        _assert_clean_error(code, err)
        assert expected in err


def test_validate_rejects_normalised_counts(tmp_path, capsys, small_copy):
    small_copy.X = small_copy.X.multiply(0.37).tocsr()
    path = tmp_path / "norm.h5ad"
    small_copy.write_h5ad(path)
    code, _, err = _run(["validate", str(path)], capsys)
    _assert_clean_error(code, err)
    assert "non-integer" in err


def test_missing_truncated_and_non_h5ad_files(tmp_path, capsys, small_screen_path):
    code, _, err = _run(["validate", str(tmp_path / "absent.h5ad")], capsys)
    _assert_clean_error(code, err)
    assert "does not exist" in err

    good = small_screen_path
    truncated = tmp_path / "truncated.h5ad"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    code, _, err = _run(["validate", str(truncated)], capsys)
    _assert_clean_error(code, err)
    assert "cannot read" in err and "truncated" in err

    text = tmp_path / "notes.h5ad"
    text.write_text("not an h5ad file\n")
    code, _, err = _run(["validate", str(text)], capsys)
    _assert_clean_error(code, err)

    code, _, err = _run(["validate", str(tmp_path)], capsys)
    _assert_clean_error(code, err)
    assert "is a folder" in err


def test_command_line_errors_have_no_traceback_in_a_subprocess(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gpo_vae", "validate", str(tmp_path / "nothing.h5ad")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_validate_messages_name_its_own_flags(tmp_path, capsys, small_copy):
    path = tmp_path / "data.h5ad"
    small_copy.write_h5ad(path)
    code, _, err = _run(["validate", str(path), "--perturbation-key", "target"], capsys)
    _assert_clean_error(code, err)
    assert "set --perturbation-key" in err and "data.perturbation_key" not in err
    code, _, err = _run(["validate", str(path), "--control-label", "ctrl"], capsys)
    assert "set --control-label" in err


def test_validate_warns_about_unsplit_combinations_and_counts_them(tmp_path, capsys,
                                                                   small_copy):
    genes = small_copy.obs["gene"].astype(str).to_numpy().copy()
    a, b = sorted(set(genes) - {"non-targeting"})[:2]
    genes[genes == a] = f"{a}+{b}"
    small_copy.obs["gene"] = genes
    path = tmp_path / "combos.h5ad"
    small_copy.write_h5ad(path)
    symbols = ["--gene-symbol-key", "gene_name"]
    code, out, _ = _run(["validate", str(path), *symbols], capsys)
    assert code == 0 and "warning: 1 labels look like combinations" in out
    assert "--combination-separator='+'" in out
    code, out, _ = _run(["validate", str(path), "--combination-separator", "+", *symbols],
                        capsys)
    assert code == 0 and "(9 single-gene, 1 combinations)" in out and "warning" not in out


def test_validate_reads_the_schema_from_a_config(tmp_path, capsys, small_copy):
    small_copy.obs["target"] = small_copy.obs["gene"]
    path = tmp_path / "data.h5ad"
    small_copy.write_h5ad(path)
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  preset: generic\n  perturbation_key: target\n"
                      "  control_label: non-targeting\n"
                      "  gene_symbol_key: gene_name\n")
    code, out, _ = _run(["validate", str(path), "--config", str(config)], capsys)
    assert code == 0 and out.startswith("ok: ")
    code, _, err = _run(["validate", str(path), "--config", str(config), "--control-label",
                         "ctrl"], capsys)
    _assert_clean_error(code, err)
    assert "--control-label" in err


def test_library_errors_name_parameters_and_the_cli_says_flags():
    """One rule: the library says ``top_k=-1`` (what a Python caller passes); the command
    line says its flag; config keys and words that are not the command's options stay."""
    from gpo_vae.cli import build_parser, in_flags

    args = build_parser().parse_args(["export-grn", "run", "--out", "o"])
    message = "top_k=-1 is not a number of edges; data.seed=1 and seed=-1, also stability=1"
    assert in_flags(message, args.flag_of) == ("--top-k -1 is not a number of edges; "
                                               "data.seed=1 and --seed -1, also --stability 1")
    assert in_flags(message, {}) == message


def test_a_switch_given_as_true_is_the_flag_alone():
    from gpo_vae.cli import build_parser, in_flags

    args = build_parser().parse_args(["export-grn", "run", "--out", "o"])
    assert in_flags("'o' holds other files; pass force=True to write anyway",
                    args.flag_of) == "'o' holds other files; pass --force to write anyway"
