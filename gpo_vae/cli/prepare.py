"""The ``gpo-vae prepare`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    """Prepare a screen for training (or reuse the cached result)."""
    from gpo_vae.config import load_config
    from gpo_vae.data.prepare import prepare

    config = load_config(args.config, args.set)
    result = prepare(config, force=args.force)
    if result.from_cache:
        m = result.manifest
        print(f"  {m['n_cells']:,} cells x {m['n_genes']:,} genes, "
              f"{m['n_perturbed_genes']} perturbed + {m['n_extra_genes']} extra genes, "
              f"splits {m['cells_per_split']}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``gpo-vae prepare`` to the subcommands ``sub``."""
    prep = sub.add_parser(
        "prepare",
        help="QC, filters, splits and control pairing; cached",
        description="Turn a raw Perturb-seq AnnData into everything GPO-VAE trains on. The "
        "result is cached under <output_dir>/cache keyed by the input file and settings; a "
        "second run with the same ones reuses it.",
    )
    prep.add_argument("--config", help="YAML config (sections: data, ...); defaults if omitted")
    prep.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a config value, e.g. --set data.path=screen.h5ad")
    prep.add_argument("--force", action="store_true", help="prepare again even if cached")
    prep.add_argument("--quiet", action="store_true", help="no progress bars")
    prep.set_defaults(func=run)
    return prep
