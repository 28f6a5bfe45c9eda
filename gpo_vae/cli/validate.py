"""The ``gpo-vae validate`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse

from gpo_vae.constants import DEFAULT_CONTROL_LABEL


def run(args: argparse.Namespace) -> int:
    """Check a user's AnnData against the schema and print what was found."""
    import dataclasses

    from gpo_vae.data.schema import PerturbationSchema
    from gpo_vae.data.validation import FLAG_NAMES, validate_anndata
    from gpo_vae.io import read_h5ad

    adata = read_h5ad(args.path)
    flags = {"perturbation_key": args.perturbation_key, "control_label": args.control_label,
             "counts_layer": args.counts_layer, "gene_symbol_key": args.gene_symbol_key,
             "combination_separator": args.combination_separator}
    names = dict(FLAG_NAMES)
    if args.config:  # the config's data section, as prepare would read it; flags win
        from gpo_vae.config import load_config
        from gpo_vae.data.presets import resolve_schema

        given = {k: v for k, v in flags.items() if v is not None}
        data = dataclasses.replace(load_config(args.config).data, **given)
        schema = resolve_schema(data, adata).schema
        names.update({k: f"data.{k} (in {args.config})" for k in flags if k not in given})
    else:
        schema = PerturbationSchema(**{
            **flags, "perturbation_key": args.perturbation_key or "gene",
            "control_label": args.control_label or DEFAULT_CONTROL_LABEL})
    report = validate_anndata(adata, schema, names=names)
    smallest = min(report.cells_per_perturbation.items(), key=lambda kv: kv[1])
    print(f"ok: {report.n_cells:,} cells x {report.n_genes:,} genes, "
          f"{report.n_perturbations} perturbations ({report.n_singles} single-gene, "
          f"{report.n_combinations} combinations), {report.n_control_cells:,} control cells "
          f"(fewest cells: {smallest[0]} with {smallest[1]})")
    for warning in report.warnings:
        print(f"warning: {warning}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``gpo-vae validate`` to the subcommands ``sub``."""
    val = sub.add_parser(
        "validate",
        help="check that an AnnData file is a usable Perturb-seq screen",
        description="Check raw counts, the perturbation column, control cells and gene "
        "names of an h5ad file; print a one-line summary or a one-line error.",
    )
    val.add_argument("path", help="input .h5ad file")
    val.add_argument("--perturbation-key", default=None,
                     help="obs column with the perturbed gene [default: gene, or the config's]")
    val.add_argument("--control-label", default=None,
                     help=f"label of control cells [default: {DEFAULT_CONTROL_LABEL}, or the "
                     "config's]")
    val.add_argument("--combination-separator", default=None, metavar="SEP",
                     help="separator of multi-gene labels such as A+B [default: none]")
    val.add_argument("--config", default=None, metavar="YAML",
                     help="read the schema from this config's data section (flags win)")
    val.add_argument("--counts-layer", default=None,
                     help="layer with raw counts [default: X]")
    val.add_argument("--gene-symbol-key", default=None,
                     help="var column with gene symbols [default: var_names]")
    val.set_defaults(func=run)
    return val
