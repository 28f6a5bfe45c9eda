"""Model-free methods: the per-perturbation and global training means, ridge on PCA gene
embeddings and, for combinations, the additive rule. Each is fitted on training cells
only (:mod:`gpo_vae.evaluation.baselines`, one home for them) and deterministic, so it
runs once and counts for every seed."""

from __future__ import annotations

from gpo_vae.benchmarking.registry import MethodJob, MethodOutput, register_method
from gpo_vae.evaluation import baselines


@register_method("pert_mean", "per-perturbation train mean",
                 "each perturbation's ATE on its training cells (undefined when unseen)")
def pert_mean(job: MethodJob) -> MethodOutput:
    return MethodOutput(baselines.pert_mean_baseline(job.data.train, job.names))


@register_method("global_mean", "global train mean",
                 "the mean training ATE of all perturbations, the same for each")
def global_mean(job: MethodJob) -> MethodOutput:
    return MethodOutput(baselines.global_mean_baseline(job.data.train, job.names))


@register_method("ridge", "ridge on PCA gene embeddings",
                 "ATE = b + G W p with G from a PCA of training cells (Ahlmann-Eltze, "
                 "Huber & Anders 2025); predicts unseen perturbations of measured genes")
def ridge(job: MethodJob) -> MethodOutput:
    from gpo_vae.data.treatments import targets_of

    data, s = job.data, job.settings
    cells = data.cells
    model = baselines.LinearBaseline.fit(
        cells.expression[cells.in_train], data.train,
        lambda label: targets_of(label, cells.control, cells.separator),
        n_components=s.linear_components, ridge=s.linear_ridge, seed=s.seed)
    return MethodOutput(model.predict(job.names))


def _needs_combinations(data) -> str | None:
    return None if data.has_combinations else \
        "no combination among the scored perturbations (try --split combinations)"


@register_method("additive", "additive (sum of singles)",
                 "a combination's ATE is the sum of its singles' training ATEs",
                 applies=_needs_combinations)
def additive(job: MethodJob) -> MethodOutput:
    return MethodOutput(baselines.additive_baseline(job.data.train, job.names,
                                                    job.data.separator))


@register_method("additive_fit", "additive, fitted over every condition",
                 "a combination's ATE is the sum of its treatments' effects, each fitted by "
                 "least squares over every training condition that holds it",
                 applies=_needs_combinations)
def additive_fit(job: MethodJob) -> MethodOutput:
    return MethodOutput(baselines.additive_fit_baseline(job.data.train, job.names,
                                                        job.data.separator))
