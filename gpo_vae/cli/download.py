"""The ``gpo-vae download`` command: its parser (``add_parser``) and its body (``run``).
Light imports only at the top, so ``gpo-vae --help`` stays fast."""

from __future__ import annotations

import argparse

from gpo_vae.download.registry import DATASETS, DEFAULT_DIR


def _describe() -> str:
    lines = []
    for entry in DATASETS.values():
        lines.append(f"{entry.name}: {entry.description}")
        for output in entry.outputs:
            source = output.source
            size = f"{source.size:,} bytes" if source.size else "size unpublished"
            check = source.checksum or "no published checksum"
            lines.append(f"    {output.path}  <- {source.url} ({size}, {check})")
        lines.append(f"    licence: {entry.licence}; cite: {entry.citation}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Fetch benchmark data sets into --dir."""
    if args.list:
        print(_describe())
        return 0
    from gpo_vae.download import download

    for path in download(args.names, args.dir, force=args.force, quiet=args.quiet):
        print(f"ok: {path}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``download`` to the ``gpo-vae`` subcommands."""
    dl = sub.add_parser(
        "download",
        help="fetch the benchmark data sets (Replogle, Adamson, Papalexi, summary "
        "statistics, reference networks) into datasets/",
        description="Fetch benchmark data sets from their public sources into --dir, "
        "where the configs in demo/ read them. Transfers resume after an interruption, "
        "files are verified against the sizes and checksums the sources publish, and a "
        "file already present is not fetched again. --list shows every source.",
    )
    dl.add_argument("names", nargs="*", metavar="NAME",
                    help=f"data sets: {', '.join(DATASETS)}")
    dl.add_argument("--dir", default=DEFAULT_DIR,
                    help=f"data folder [default: {DEFAULT_DIR}, where the configs look]")
    dl.add_argument("--force", action="store_true",
                    help="fetch again even when the files are present and verified")
    dl.add_argument("--list", action="store_true",
                    help="list the data sets with their addresses, sizes and checksums")
    dl.add_argument("--quiet", action="store_true", help="no progress bars")
    dl.set_defaults(func=run)
    return dl
