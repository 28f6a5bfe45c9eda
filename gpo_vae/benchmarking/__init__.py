"""``gpo-vae benchmark``: GPO-VAE against peer models and baselines on the same data and
splits, with seeds, intervals and paired comparisons.

>>> from gpo_vae.benchmarking import plan_benchmark, run_benchmark      # doctest: +SKIP
>>> plan = plan_benchmark("demo/gpo_vae_demo.yaml", n_seeds=3)      # doctest: +SKIP
>>> result = run_benchmark(plan)                                    # doctest: +SKIP
>>> print(result.markdown)                                          # doctest: +SKIP
"""

from gpo_vae.benchmarking.learning_curve import (
    LearningCurve,
    plan_learning_curve,
    run_learning_curve,
)
from gpo_vae.benchmarking.registry import METHODS, Method, MethodJob, MethodOutput, register_method
from gpo_vae.benchmarking.report import BenchmarkResult, benchmark, run_benchmark
from gpo_vae.benchmarking.runner import DEFAULT_METHODS, BenchmarkPlan, plan_benchmark

__all__ = ["DEFAULT_METHODS", "METHODS", "BenchmarkPlan", "BenchmarkResult", "LearningCurve",
           "Method", "MethodJob", "MethodOutput", "benchmark", "plan_benchmark",
           "plan_learning_curve", "register_method", "run_benchmark", "run_learning_curve"]
