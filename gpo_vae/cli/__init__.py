"""The ``gpo-vae`` command line: one module per command, each with ``add_parser`` (its
options, defaults read from the settings classes) and ``run`` (its body).

User errors (:class:`~gpo_vae.errors.GpoVaeError`) print ``error: <what and how to fix>``
on stderr and exit non-zero without a traceback. The library's messages name Python
parameters (``top_k=-1``); here they name the command's flags (``--top-k -1``). Heavy
libraries are imported inside the commands so ``gpo-vae --help`` stays fast.
"""

from __future__ import annotations

import argparse
import re
import sys

from gpo_vae._settings import settings
from gpo_vae._version import __version__
from gpo_vae.cli import (
    benchmark,
    design,
    download,
    evaluate,
    export_grn,
    prepare,
    simulate,
    sweep,
    train,
    validate,
)
from gpo_vae.errors import GpoVaeError
from gpo_vae.progress import console_logging

#: The commands in the order ``gpo-vae --help`` lists them.
COMMANDS = (simulate, prepare, train, export_grn, evaluate, benchmark, design, download,
            sweep, validate)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="gpo-vae",
        description="GPO-VAE for Perturb-seq: predict perturbation responses and infer a GRN.",
    )
    parser.add_argument("--version", action="version", version=f"gpo-vae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command_parser = command.add_parser(sub)
        command_parser.set_defaults(flag_of=_flags(command_parser))
    return parser


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's parameter name and its long flag (``top_k`` -> ``--top-k``); a switch
    (``store_true``) maps ``force=True`` as a whole to ``--force``."""
    flags = {}
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            switch = isinstance(action, argparse._StoreTrueAction)
            flags[f"{action.dest}=True" if switch else action.dest] = action.option_strings[-1]
    return flags


def in_flags(message: str, flag_of: dict[str, str]) -> str:
    """``message`` with each ``parameter=value`` of a command's option written as the
    flag (``--top-k -1``); config keys (``data.seed=1``) and other words stay."""
    if not flag_of:
        return message
    switches = {name: flag for name, flag in flag_of.items() if name.endswith("=True")}
    for name, flag in switches.items():
        message = re.sub(rf"(?<![\w.\-]){re.escape(name)}(?!\w)", flag, message)
    names = "|".join(map(re.escape, sorted(set(flag_of) - set(switches), key=len,
                                           reverse=True)))
    return re.sub(rf"(?<![\w.\-])({names})=", lambda m: f"{flag_of[m.group(1)]} ", message)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpo-vae`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        # messages on stdout, progress lines and warnings on stderr; --quiet: no bars
        with console_logging(), settings.override(
                progress_bar=settings.progress_bar and not getattr(args, "quiet", False)):
            return int(args.func(args) or 0)
    except GpoVaeError as exc:
        print(f"error: {in_flags(str(exc), getattr(args, 'flag_of', {}))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller preset or data set", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
