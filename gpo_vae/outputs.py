"""One rule for every command that writes: never replace what is not ours.

A command writes into a target that is new, empty, or already holds output about the
same thing (a rerun replaces its own files). Anything else is refused with a one-line
error before any work is done, unless the user says ``--force``:

- a folder holding files gpo-vae did not write there (the user's ``config.yaml``);
- a folder holding output about another subject (``evaluate RUN_A --out RUN_B``, the GRN
  of another run, another simulation's report);
- an existing file (``simulate --out screen.h5ad`` over an earlier screen).

Ownership is recorded in a small hidden file, :data:`MARKER`, written into every output
folder: the kind of output (``run``, ``simulation``, ``sweep``, ``benchmark``) and its
subject (the run folder, the simulated file, or the sweep or benchmark folder itself). A
folder without a marker (written before markers existed, or copied) is recognised by what
only that kind of output holds (:data:`_SIGNATURES`: a run's ``checkpoints/``, a sweep's
``.redun/``, a benchmark's ``benchmark.lock``); its subject is the folder itself. Files
themselves appear under their final names only when complete (:mod:`gpo_vae.io`'s atomic
writes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gpo_vae.errors import ConfigError
from gpo_vae.io import is_temporary, require_writable_folder, write_json_atomic

MARKER = ".gpo-vae-output.json"
# how to write anyway: every writing command has --force, every writing API call force=
HOW_TO_FORCE = "pass force=True"
FORCE_HELP = ("write even when the output holds files that are not this command's own "
              "output for this input (they may be replaced)")
# entries that do not make a folder someone else's: our marker and a run's lock
_HOUSEKEEPING = {MARKER, ".lock"}
# what marks a folder written before markers existed as one kind of output about itself
_SIGNATURES = (("checkpoints", "run"), (".redun", "sweep"), ("benchmark.lock", "benchmark"),
               ("learning_curve.csv", "benchmark"))


def _same(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def folder_owner(folder: str | os.PathLike) -> tuple[str, Path] | None:
    """The kind and subject of the gpo-vae output ``folder`` holds, or None when nothing
    marks it as ours."""
    folder = Path(folder)
    try:
        record = json.loads((folder / MARKER).read_text())
        kind, subject = str(record["kind"]), str(record["subject"])
    except (OSError, ValueError, KeyError, TypeError):
        for entry, kind in _SIGNATURES:  # written (or copied) before markers existed
            if (folder / entry).exists():
                return kind, folder
        return None
    return kind, folder if subject == "." else Path(subject)


def _contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()
                  if p.name not in _HOUSEKEEPING and not is_temporary(p.name))


def check_output_folder(folder: str | os.PathLike, kind: str, subject: str | os.PathLike,
                        *, what: str = "--out", force: bool = False) -> Path:
    """``folder`` when it may take output of ``kind`` about ``subject`` (see the module
    docstring); a :class:`~gpo_vae.errors.ConfigError` naming what it holds otherwise,
    and how to write anyway (:data:`HOW_TO_FORCE`). Nothing is written."""
    folder = require_writable_folder(folder, what)
    if force or not folder.is_dir():
        return folder
    contents = _contents(folder)
    if not contents:
        return folder
    owner = folder_owner(folder)
    if owner is not None and owner[0] == kind and _same(owner[1], subject):
        return folder
    if owner is None:
        shown = ", ".join(contents[:3]) + (", ..." if len(contents) > 3 else "")
        holds = f"files gpo-vae did not write there ({shown})"
    elif _same(owner[1], folder):
        holds = "another run" if owner[0] == "run" else f"a {owner[0]}"
    else:
        holds = f"the {owner[0]} output of {str(owner[1])!r}"
    raise ConfigError(f"{what} {str(folder)!r} already holds {holds}; give a new or empty "
                      f"folder, or {HOW_TO_FORCE} to write into it anyway")


def mark_output_folder(folder: str | os.PathLike, kind: str,
                       subject: str | os.PathLike) -> Path:
    """Record in ``folder`` that it holds output of ``kind`` about ``subject`` (a subject
    that is the folder itself is stored as ``.``, so a moved run folder stays ours)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    owner = folder_owner(folder)
    if owner is not None and (folder / MARKER).is_file() and owner[0] == kind \
            and _same(owner[1], subject):
        return folder / MARKER
    stored = "." if _same(subject, folder) else str(Path(subject).resolve())
    return write_json_atomic(folder / MARKER, {"kind": kind, "subject": stored})


def check_output_file(path: str | os.PathLike, *, what: str = "--out",
                      force: bool = False) -> Path:
    """``path`` when no file is there yet (or ``force``); a one-line error otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder; give a file name")
    require_writable_folder(path.parent, f"the folder of {what}")
    if path.exists() and not force:
        raise ConfigError(f"{what} {str(path)!r} already exists; give another file name, "
                          f"or {HOW_TO_FORCE} to replace it")
    return path
