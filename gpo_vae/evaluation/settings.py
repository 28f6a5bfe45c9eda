"""How much sampling and testing an evaluation does (light: the command line reads its
defaults from here without importing the evaluation code)."""

from __future__ import annotations

from dataclasses import dataclass

from gpo_vae.config import Settings, check_seed
from gpo_vae.constants import ATE_DECODINGS, SPLITS
from gpo_vae.errors import ConfigError

TRAIN_SPLIT = SPLITS[0]
#: The splits an evaluation may score: held-out cells only (the one rule behind
#: ``gpo-vae evaluate --split`` and :func:`gpo_vae.evaluate`).
EVALUATION_SPLITS: tuple[str, ...] = tuple(s for s in SPLITS if s != TRAIN_SPLIT)


@dataclass
class EvaluationSettings(Settings):
    """How much sampling and testing an evaluation does (defaults suit CPUs)."""

    split: str = "test"
    n_samples: int = 2000            # generated cells per perturbation for model ATEs
    n_global: int = 100              # draws of the global variables among them
    # "expected" or "sampled" (gpo_vae.config.ModelConfig.ate_decoding); None: the run's
    ate_decoding: str | None = None
    iwelbo_particles: int = 50
    min_test_cells: int = 4          # fewer held-out cells: no reliable ATE, not scored
    ceiling_repeats: int = 5
    linear_components: int = 10
    linear_ridge: float = 0.1
    grn_threshold: float = 0.5
    grn_top_k: tuple[int, ...] = (50, 100, 500, 1000)
    seed: int = 0

    def validate(self) -> EvaluationSettings:
        """Check the settings before any work (one-line errors)."""
        self.coerce_fields()    # the config's type rule: numbers, finite floats
        check_seed(self.seed)
        if self.split == TRAIN_SPLIT:
            raise ConfigError(f"split {self.split!r} holds the cells the model was trained "
                              "on, so its scores say nothing about prediction; evaluate "
                              f"on one of {', '.join(EVALUATION_SPLITS)}")
        if self.split not in EVALUATION_SPLITS:
            raise ConfigError(f"split {self.split!r} is not a split to evaluate on; use "
                              f"one of {', '.join(EVALUATION_SPLITS)}")
        if self.ate_decoding is not None and self.ate_decoding not in ATE_DECODINGS:
            raise ConfigError(f"ate_decoding={self.ate_decoding!r} must be one of "
                              f"{', '.join(ATE_DECODINGS)} (or None: the run's "
                              "model.ate_decoding)")
        if self.n_samples < 2 or self.n_global < 2 or self.n_samples < self.n_global:
            raise ConfigError(f"n_samples={self.n_samples} must be at least 2 and at least "
                              f"the number of global draws (n_global={self.n_global})")
        for name in ("iwelbo_particles", "min_test_cells", "ceiling_repeats",
                     "linear_components"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        if self.linear_ridge < 0 or not 0 <= self.grn_threshold <= 1 or \
                any(k < 1 for k in self.grn_top_k):
            raise ConfigError("linear_ridge must be >= 0, grn_threshold between 0 and 1 and "
                              "every grn_top_k at least 1")
        return self


def default_global_draws(n_samples: int) -> int:
    """Draws of the global variables for ``n_samples`` cells: 20 cells per draw, 2 to 100."""
    return min(100, max(2, n_samples // 20))


