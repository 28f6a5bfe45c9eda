"""In-silico intervention design: the interventions whose predicted ATE is closest to a
target, by gradient descent on relaxed dosages and by exhaustive search.

1. **Relax.** The dosage of every allowed treatment gene becomes a continuous value in
   [0, 1] (``signed``: [-1, 1], for activation and knockdown), several restarts at once.
   A smooth surrogate of the model's ATE (expected log expression of decoded proportions,
   globals at their posterior mean, a fixed set of z_basal draws) is differentiable in
   the dosages, so Adam minimises distance-to-target + ``sparsity`` x sum |d| + a penalty
   beyond ``max_perturbations`` of total dosage (the way optax fits the inputs of an ODE
   model through its solver).
2. **Round.** The genes with the largest relaxed dosages, and those whose single
   perturbation the surrogate puts closest to the target (one batched pass over the
   allowed genes), span every intervention of at most ``max_perturbations`` genes (full
   dosage, the relaxed sign); the surrogate ranks them and the best ``budget`` are
   scored exactly.
3. **Score exactly.** The model's ATE (generated negative-binomial cells, the same
   transform as the data) under ``n_draws`` draws of the global variables, with common
   random numbers across candidates; each candidate's distance is averaged over the
   draws and its spread reported; ranking uses mean + ``risk`` x sd, preferring designs
   that work whatever the network draw, plus ``sparsity`` per perturbed gene (the relaxed
   objective's cost, so a bigger intervention must be better by more than that).
4. **Baseline.** Every single perturbation (and every pair when there are few) scored
   exactly the same way: the optimiser must match it, faster, or beat it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from gpo_vae.config import MAX_SEED, Settings, check_seed
from gpo_vae.design.distance import get_distance
from gpo_vae.design.targets import DesignTarget
from gpo_vae.errors import ConfigError
from gpo_vae.evaluation.predict import ate_draws
from gpo_vae.stats import perturbseq_expected_torch, seeded_torch

logger = logging.getLogger(__name__)

_TOP_GENES = 5


@dataclass
class DesignSettings(Settings):
    """How hard a design searches; every field has a sensible default."""

    max_perturbations: int = 1      # K: genes per intervention
    budget: int = 50                # candidates scored exactly
    metric: str = "mix"             # see gpo_vae.design.distance.DISTANCES
    signed: bool = False            # dosages in [-1, 1] (activation and knockdown)
    steps: int = 200                # Adam steps on the relaxed dosages
    lr: float = 0.1
    restarts: int = 8
    sparsity: float = 0.01          # weight of sum |d| in the relaxed objective
    surrogate_cells: int = 64       # z_basal draws of the surrogate
    n_draws: int = 8                # draws of the globals in the exact scoring
    cells_per_draw: int = 128
    risk: float = 1.0               # rank by mean + risk x sd of the distance
    exhaustive_pairs_limit: int = 300   # baseline tries all pairs up to this many
    seed: int = 0

    def __post_init__(self):
        self.coerce_fields("design setting ")     # the run config's type rule
        checks = {"max_perturbations": self.max_perturbations >= 1, "budget": self.budget >= 1,
                  "steps": self.steps >= 0, "restarts": self.restarts >= 1,
                  "n_draws": self.n_draws >= 2, "cells_per_draw": self.cells_per_draw >= 1,
                  "surrogate_cells": self.surrogate_cells >= 1, "lr": self.lr > 0,
                  "sparsity": self.sparsity >= 0, "risk": self.risk >= 0}
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"design setting {name}={getattr(self, name)!r} is out of "
                                  "range; see gpo_vae.design.DesignSettings")
        check_seed(self.seed, "--seed")
        get_distance(self.metric)


@dataclass
class DesignResult:
    """A ranked table of designs, the exhaustive baseline, the optimisation curve, and
    the mean predicted profiles (on the target's genes) of every scored candidate."""

    designs: pd.DataFrame
    baseline: pd.DataFrame
    curve: pd.DataFrame
    target: DesignTarget
    settings: DesignSettings
    seconds: dict
    predicted: pd.DataFrame = field(repr=False)
    interventions: list = field(default_factory=list, repr=False)   # (gene, dose) tuples
    baseline_interventions: list = field(default_factory=list, repr=False)
    validation: tuple | None = field(default=None, repr=False)   # (table, summary)
    files: dict = field(default_factory=dict, repr=False)

    @property
    def no_intervention_distance(self) -> float:
        """The distance of doing nothing (a predicted ATE of zero): designs must beat it."""
        values = torch.as_tensor(self.target.values.to_numpy(dtype=np.float64))
        return float(get_distance(self.settings.metric)(torch.zeros_like(values), values))

    @property
    def best(self) -> str:
        return str(self.designs["intervention"].iloc[0])

    def summary(self) -> dict:
        """What ``design.json`` holds: the target, settings, best designs, timing and the
        optimiser against the exhaustive baseline."""
        best, base = self.designs.iloc[0], self.baseline.iloc[0]
        return {
            "target": {"label": self.target.label, "kind": self.target.kind,
                       "n_genes": int(self.target.values.size)},
            "settings": asdict(self.settings),
            "best": {"intervention": best["intervention"],
                     "predicted_distance": float(best["predicted_distance"]),
                     "distance_sd": float(best["distance_sd"])},
            "top": self.designs["intervention"].head(10).tolist(),
            "baseline": {"searched": base["searched"], "n_scored": int(len(self.baseline)),
                         "best": base["intervention"],
                         "predicted_distance": float(base["predicted_distance"])},
            "no_intervention_distance": self.no_intervention_distance,
            "beats_no_intervention": bool(best["predicted_distance"]
                                          < self.no_intervention_distance),
            "optimiser_matches_baseline": bool(
                best["score"] <= base["score"] + 1e-9
                or best["intervention"] == base["intervention"]),
            "seconds": self.seconds,
        }


class _Problem:
    """The model, the target on its genes and the allowed treatment columns."""

    def __init__(self, module, target: DesignTarget, allowed: Sequence[str] | None,
                 settings: DesignSettings):
        info = module.data_info
        self.module, self.settings = module, settings
        self.device = next(module.parameters()).device
        genes, values = target.aligned(info.gene_names)
        self.genes = torch.as_tensor(genes, device=self.device)
        self.target = torch.as_tensor(values, dtype=torch.float32, device=self.device)
        self.distance = get_distance(settings.metric)
        names = list(info.treatment_names)
        if allowed is None:
            allowed = [n for n, k in zip(names, info.treatment_kinds, strict=True)
                       if k == "perturbed"]
        column = {n: j for j, n in enumerate(names)}
        unknown = [g for g in allowed if g not in column]
        if unknown:
            raise ConfigError(f"allowed gene {unknown[0]!r} is not a treatment gene of the "
                              f"model ({len(names)} of them, e.g. {', '.join(names[:4])})")
        if not allowed:
            raise ConfigError("no gene is allowed to be perturbed; list at least one")
        self.allowed = list(dict.fromkeys(allowed))
        self.columns = torch.as_tensor([column[g] for g in self.allowed], device=self.device)
        self.names = names

    def dosages(self, relaxed: torch.Tensor) -> torch.Tensor:
        """Full (C, T) dosage rows from (C, A) values on the allowed genes."""
        out = relaxed.new_zeros((relaxed.shape[0], len(self.names)))
        return out.index_copy(1, self.columns, relaxed)

    def rows(self, interventions: Sequence[tuple[tuple[str, float], ...]]) -> np.ndarray:
        column = {n: j for j, n in enumerate(self.names)}
        out = np.zeros((len(interventions), len(self.names)), dtype=np.float32)
        for i, intervention in enumerate(interventions):
            for gene, dose in intervention:
                out[i, column[gene]] = dose
        return out


class _Surrogate:
    """Differentiable expected ATE on the target's genes: mean over fixed z_basal of
    log2(1 + 1e4 p(perturbed)) - log2(1 + 1e4 p(control)), globals at their mean."""

    def __init__(self, problem: _Problem, n_cells: int):
        module = problem.module
        self.problem = problem
        with torch.no_grad():
            self.globals_ = module.prediction_globals("mean")
            self.z = torch.randn((1, n_cells, module.n_latent), device=problem.device)
            control = module.decode_conditions(self.globals_, self.z,
                                               self.z.new_zeros((1, module.n_treatments)))
            self.control = self._expression(control)

    def _expression(self, proportions: torch.Tensor) -> torch.Tensor:
        chosen = proportions[..., self.problem.genes]
        return perturbseq_expected_torch(chosen).mean(1)

    def __call__(self, dosages: torch.Tensor) -> torch.Tensor:
        module = self.problem.module
        return self._expression(module.decode_conditions(self.globals_, self.z, dosages)) \
            - self.control

    @torch.no_grad()
    def distances(self, dosages: np.ndarray, chunk: int = 256) -> np.ndarray:
        d = torch.as_tensor(dosages, device=self.problem.device)
        return torch.cat([self.problem.distance(self(d[s:s + chunk]), self.problem.target)
                          for s in range(0, d.shape[0], chunk)]).cpu().numpy()


def _relax(problem: _Problem, surrogate: _Surrogate) -> tuple[np.ndarray, pd.DataFrame]:
    """Adam on the relaxed dosages of every restart; their final values (R, A) and the
    curve (best and mean objective per step)."""
    s = problem.settings
    n_allowed = len(problem.allowed)
    start = torch.full((s.restarts, n_allowed), -3.0, device=problem.device)
    logits = (start + 0.75 * torch.randn_like(start)).requires_grad_(True)
    squash = torch.tanh if s.signed else torch.sigmoid
    optimizer = torch.optim.Adam([logits], lr=s.lr)
    curve = []
    for step in range(s.steps + 1):
        relaxed = squash(logits)
        total = relaxed.abs().sum(-1)
        distance = problem.distance(surrogate(problem.dosages(relaxed)), problem.target)
        objective = distance + s.sparsity * total \
            + 10.0 * torch.relu(total - s.max_perturbations) ** 2
        curve.append({"step": step, "best_objective": float(objective.detach().min()),
                      "mean_objective": float(objective.detach().mean()),
                      "best_distance": float(distance.detach().min())})
        if step == s.steps:
            break
        optimizer.zero_grad()
        objective.sum().backward()
        optimizer.step()
    return squash(logits).detach().cpu().numpy(), pd.DataFrame(curve)


def _screened_singles(problem: _Problem, surrogate: _Surrogate, n: int) -> dict[int, float]:
    """The ``n`` single perturbations the surrogate puts closest to the target, as
    {allowed-gene index: sign}: one batched pass, so a gene the relaxation passed by
    (flat or noisy landscapes) still reaches the exact scoring."""
    signs = (1.0, -1.0) if problem.settings.signed else (1.0,)
    singles = [(j, d) for j in range(len(problem.allowed)) for d in signs]
    rows = problem.rows([((problem.allowed[j], d),) for j, d in singles])
    order = np.argsort(surrogate.distances(rows), kind="stable")
    out: dict[int, float] = {}
    for i in order:
        j, d = singles[i]
        out.setdefault(j, d)
        if len(out) == n:
            break
    return out


def _candidates(problem: _Problem, relaxed: np.ndarray,
                screened: dict[int, float]) -> list[tuple[tuple[str, float], ...]]:
    """Every intervention of at most K of the most used genes (full dosage, the relaxed
    sign) and of the best screened singles, and each restart's own top-K rounding."""
    k = problem.settings.max_perturbations
    strength = np.abs(relaxed).max(0)
    sign = np.sign(relaxed[np.abs(relaxed).argmax(0), np.arange(relaxed.shape[1])])
    sign[sign == 0] = 1.0
    n_top = min(len(problem.allowed), 2 * k + 6)
    top = np.argsort(-strength, kind="stable")[:n_top].tolist()
    for j, d in screened.items():
        if j not in top:
            sign[j] = d
            top.append(j)
    out = {tuple(sorted(c)) for size in range(1, k + 1)
           for c in itertools.combinations(top, size)}
    for row in relaxed:
        out.add(tuple(sorted(np.argsort(-np.abs(row), kind="stable")[:k].tolist())))
    return [tuple((problem.allowed[j], float(sign[j])) for j in c) for c in sorted(out)]


def _label(intervention: tuple[tuple[str, float], ...], signed: bool) -> str:
    if not signed:
        return "+".join(g for g, _ in intervention)
    return "+".join(f"{g}({'+' if d > 0 else '-'})" for g, d in intervention)


def _score(problem: _Problem, interventions, searched: str):
    """Exact scores of ``interventions``: distances under each draw of the globals (same
    seed, so every call shares its draws), their mean, sd and the ranking score."""
    s = problem.settings
    rows = problem.rows(interventions)
    distances, mean_ate = [], np.zeros((len(rows), len(problem.genes)))
    for draw in range(s.n_draws):
        # one seed per draw: every call sees the same globals, z_basal and control cells
        with seeded_torch((s.seed + 1 + draw) % (MAX_SEED + 1)):  # a valid seed
            ate = next(ate_draws(problem.module, rows, n_draws=1,
                                 cells_per_draw=s.cells_per_draw, globals_="sample"))
            chosen = ate[:, problem.genes].float()
            distances.append(problem.distance(chosen, problem.target).cpu().numpy())
            mean_ate += chosen.cpu().numpy() / s.n_draws
    distances = np.stack(distances)                                       # (draws, C)
    genes = np.array(problem.module.data_info.gene_names)[problem.genes.cpu().numpy()]
    table = pd.DataFrame({
        "intervention": [_label(i, s.signed) for i in interventions],
        "n_perturbed": [len(i) for i in interventions],
        "predicted_distance": distances.mean(0),
        "distance_sd": distances.std(0, ddof=1),
        "top_genes": [",".join(f"{genes[j]}{'+' if a[j] > 0 else '-'}"
                               for j in np.argsort(-np.abs(a))[:_TOP_GENES]) for a in mean_ate],
        "searched": searched,
    })
    # the relaxed objective's sparsity cost again: a bigger intervention has to earn it
    table["score"] = table["predicted_distance"] + s.risk * table["distance_sd"] \
        + s.sparsity * table["n_perturbed"]
    order = np.argsort(table["score"].to_numpy(), kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table, mean_ate[order], [interventions[i] for i in order]


def _exhaustive(problem: _Problem) -> tuple[list, str]:
    """Every single of the allowed genes, and every pair when K >= 2 and they are few."""
    s = problem.settings
    signs = (1.0, -1.0) if s.signed else (1.0,)
    singles = [((g, d),) for g in problem.allowed for d in signs]
    n_pairs = len(problem.allowed) * (len(problem.allowed) - 1) // 2 * len(signs) ** 2
    if s.max_perturbations >= 2 and n_pairs <= s.exhaustive_pairs_limit:
        pairs = [((a, da), (b, db)) for a, b in itertools.combinations(problem.allowed, 2)
                 for da in signs for db in signs]
        return singles + pairs, "all singles and pairs"
    return singles, "all singles"


@contextlib.contextmanager
def _frozen(module):
    """The module's parameters out of autograd while dosages are optimised through it."""
    flags = [p.requires_grad for p in module.parameters()]
    try:
        for p in module.parameters():
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def design_interventions(module, target: DesignTarget, allowed: Sequence[str] | None = None,
                         settings: DesignSettings | None = None) -> DesignResult:
    """Rank interventions of at most ``settings.max_perturbations`` allowed genes by how
    close the model predicts they bring the cells to ``target``.

    Parameters
    ----------
    module
        A trained :class:`~gpo_vae.models.module.GpoVaeModule`.
    target
        A :class:`~gpo_vae.design.targets.DesignTarget`.
    allowed
        Treatment genes that may be perturbed (default: the screen's perturbed genes).
    settings
        :class:`DesignSettings` (default: one gene, 50 candidates scored exactly).

    Returns
    -------
    DesignResult

    Examples
    --------
    >>> target = target_from_perturbation(prepared, "G0012")             # doctest: +SKIP
    >>> design_interventions(model.module, target).designs.head(3)       # doctest: +SKIP
    """
    settings = settings or DesignSettings()
    module.eval()
    problem = _Problem(module, target, allowed, settings)
    seconds = {}
    start = time.perf_counter()
    with seeded_torch(settings.seed), _frozen(module):
        surrogate = _Surrogate(problem, settings.surrogate_cells)
        relaxed, curve = _relax(problem, surrogate)
        screened = _screened_singles(problem, surrogate, 2 * settings.max_perturbations + 6)
        candidates = _candidates(problem, relaxed, screened)
        order = np.argsort(surrogate.distances(problem.rows(candidates)), kind="stable")
    chosen = [candidates[i] for i in order[:settings.budget]]
    designs, predicted, chosen = _score(problem, chosen, "optimiser")
    seconds["optimiser"] = round(time.perf_counter() - start, 2)
    logger.info(f"optimiser: {settings.steps} steps x {settings.restarts} restarts, "
        f"{len(candidates)} candidates, {len(chosen)} scored exactly, best "
        f"{designs['intervention'].iloc[0]} in {seconds['optimiser']} s")
    start = time.perf_counter()
    everything, searched = _exhaustive(problem)
    baseline, _, everything = _score(problem, everything, searched)
    seconds["baseline"] = round(time.perf_counter() - start, 2)
    logger.info(f"baseline ({searched}, {len(everything)} scored): best "
        f"{baseline['intervention'].iloc[0]} in {seconds['baseline']} s")
    result_genes = np.array(module.data_info.gene_names)[problem.genes.cpu().numpy()]
    profiles = pd.DataFrame(predicted, index=designs["intervention"], columns=result_genes)
    result = DesignResult(designs, baseline, curve, target, settings, seconds, profiles, chosen,
                          everything)
    if designs["predicted_distance"].iloc[0] >= result.no_intervention_distance:
        logger.warning(
            "no intervention is predicted to come closer to the target than doing "
            f"nothing (distance {result.no_intervention_distance:.3f}); the target may be out "
            "of reach of these genes")
    return result
