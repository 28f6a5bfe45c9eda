"""One exception family for everything a user can get wrong.

Every error a user can cause (bad input file, bad config, bad command-line value) is a
:class:`GpoVaeError` whose message is a single line naming the problem and the fix. The
command line prints it as ``error: <message>`` and exits non-zero without a traceback;
anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations


class GpoVaeError(Exception):
    """Base class of all user-facing gpo-vae errors (one-line message: problem and fix)."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep messages on one line so the CLI output stays a single `error: ...` line.
        super().__init__(" ".join(str(message).split()))


class InputDataError(GpoVaeError):
    """The AnnData (or another input file) does not meet the expected schema."""


class InputFileError(GpoVaeError):
    """An input file is missing, unreadable or truncated."""


class ConfigError(GpoVaeError):
    """A configuration key or value is unknown or invalid."""


class InputTypeError(GpoVaeError, TypeError):
    """A Python API argument has the wrong type (a path where an AnnData or a model is
    expected, ...); also a :class:`TypeError`, so ``except TypeError`` still catches it."""
