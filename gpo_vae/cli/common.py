"""Options several commands share."""

from __future__ import annotations

import argparse


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """``--data``: a trained run's input file at a new location (the run folder stores the
    absolute ``data.path`` it was trained on)."""
    parser.add_argument("--data", dest="data_path", metavar="H5AD", default=None,
                        help="the run's input file, when it moved from the data.path stored "
                        "in the run's config.yaml [default: that path]")
