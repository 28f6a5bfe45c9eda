"""One design from start to end, shared by ``gpo-vae design`` and ``GpoVae.design``:
resolve the target, search, optionally validate on the simulator, write the files."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from gpo_vae.design.search import DesignResult, DesignSettings, design_interventions
from gpo_vae.design.targets import TargetOptions, as_target
from gpo_vae.errors import InputFileError

logger = logging.getLogger(__name__)


def read_gene_list(path: str | os.PathLike) -> list[str]:
    """Gene symbols, one per line (blank lines and ``#`` comments skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read the gene list {str(path)!r}: {exc}") from None
    genes = [line.split("#", 1)[0].strip() for line in lines]
    genes = [g for g in genes if g]
    if not genes:
        raise InputFileError(f"the gene list {str(path)!r} names no gene")
    return genes


def run_design(module, target, *, prepared=None, allowed: Sequence[str] | None = None,
               settings: DesignSettings | None = None,
               target_options: TargetOptions | None = None, validate: bool = False,
               n_random: int = 20, out: str | os.PathLike | None = None,
               force: bool = False) -> DesignResult:
    """Design interventions toward ``target`` (any form :func:`as_target` takes); with
    ``validate``, simulate the best ones (``result.validation``); with ``out``, write the
    files (``result.files``). ``target_options``: how the target is read
    (:class:`~gpo_vae.design.targets.TargetOptions`); ``force``: write into an ``out``
    that holds other files."""
    from gpo_vae.design.report import check_design_folder, write_design

    if out is not None:
        check_design_folder(out, force)
    info = module.data_info
    target = as_target(target, info.gene_names, prepared, target_options,
                       treatments=info.treatment_names)
    result = design_interventions(module, target, allowed, settings)
    if validate:
        from gpo_vae.design.closed_loop import simulation_settings, validate_designs

        simulation = simulation_settings(prepared, module.config)
        result.validation = validate_designs(result, simulation, n_random=n_random,
                                             seed=result.settings.seed)
        summary = result.validation[1]
        logger.info(f"closed loop: {summary['best_design']} reaches simulated distance "
            f"{summary['best_design_simulated_distance']:.3f}; random interventions of its "
            f"size {summary['random_median_simulated_distance']:.3f} (median of {n_random})")
    result.files = write_design(result, out, result.validation, force) \
        if out is not None else {}
    return result
