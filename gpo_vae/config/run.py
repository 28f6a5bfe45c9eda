"""A whole run's configuration (:class:`Config`: name, output folder, sections, the
variant's defaults) and its input paths made absolute for the run folder."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from gpo_vae.config.sections import (
    DataConfig,
    GuideConfig,
    LoggingConfig,
    LossConfig,
    ModelConfig,
    TrainingConfig,
)
from gpo_vae.errors import ConfigError


@dataclass
class Config:
    """A whole run: name, output folder and sections."""

    name: str = "gpo_vae"
    output_dir: str = "results"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    guide: GuideConfig = field(default_factory=GuideConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def validate(self) -> Config:
        if self.name.strip() in ("", ".", "..") or Path(self.name).is_absolute():
            # the run folder is output_dir/name: an empty name would write the run
            # straight into output_dir, beside other runs and the prepared-data cache
            raise ConfigError(f"name={self.name!r} must name a run folder inside output_dir; "
                              "give a name such as 'gpo_vae_demo'")
        for section in (self.data, self.model, self.guide, self.loss, self.training):
            section.validate()
        self._variant_defaults()
        return self

    def _variant_defaults(self) -> None:
        """Fill the settings left empty with the model variant's choice."""
        variant = self.model.variant
        anchored = variant == "anchored"
        sams = variant == "sams_vae"
        if self.guide.encoder is None:
            self.guide.encoder = "mean_field" if anchored else "correlated"
        if self.loss.pseudobulk_coeff is None:
            self.loss.pseudobulk_coeff = 10.0 if anchored else 0.0
        if self.loss.alignment is None:
            self.loss.alignment = {"anchored": "direct", "authors": "authors"}.get(variant,
                                                                                  "none")
        if self.loss.penalty_coeff is None:
            self.loss.penalty_coeff = 0.0 if sams else 10.0
        if self.model.latent_mode is None:
            self.model.latent_mode = "sum" if sams else "concat"
        if self.model.predict_globals is None:
            self.model.predict_globals = "mean" if anchored else "sample"
        if self.model.ate_decoding is None:
            self.model.ate_decoding = "expected" if anchored else "sampled"
        if self.model.gene_features is None:
            self.model.gene_features = "pca" if anchored else "none"
        if self.model.unseen_combinations is None:
            self.model.unseen_combinations = "additive" if anchored else "latent"
        if self.loss.shrinkage and self.model.gene_features == "none":
            raise ConfigError("loss.shrinkage pulls targets toward what gene features "
                              "predict, which model.gene_features=none turns off; set "
                              "model.gene_features=pca or loss.shrinkage=false")
        if self.loss.shrinkage and self.model.linear_response \
                and self.model.gene_features != "none":
            raise ConfigError("loss.shrinkage pulls toward the latent feature pathway, which "
                              "model.linear_response=true replaces; set "
                              "model.linear_response=false or loss.shrinkage=false")
        if self.model.gene_features == "none" and (self.model.gene_embedding
                                                   or self.model.gene_network):
            raise ConfigError("model.gene_embedding and model.gene_network add gene features, "
                              "which model.gene_features=none turns off; set "
                              "model.gene_features=pca")
        if sams and self.loss.alignment != "none":
            raise ConfigError(f"loss.alignment={self.loss.alignment} aligns a GRN, and "
                              "model.variant=sams_vae has none; use loss.alignment=none")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


#: Settings that name input files (a run reads them again when it resumes, evaluates or
#: designs); a run folder stores them as absolute paths.
INPUT_PATH_KEYS: tuple[str, ...] = ("data.path", "data.summary_stats", "model.gene_embedding",
                                    "model.gene_network", "guide.prior_network")


def absolute_path(path: str | None) -> str | None:
    """``path`` made absolute against the working directory (None stays None)."""
    return None if not path else os.path.abspath(os.path.expanduser(path))


def with_absolute_inputs(config: Config) -> Config:
    """A copy of ``config`` whose input files (:data:`INPUT_PATH_KEYS`) are absolute paths.

    A run folder's ``config.yaml`` and checkpoints hold this copy, so the run can be
    evaluated, resumed or used for design from any working directory.
    """
    out = dataclasses.replace(config)
    for key in INPUT_PATH_KEYS:
        section, name = key.split(".")
        values = dataclasses.replace(getattr(out, section))
        setattr(values, name, absolute_path(getattr(values, name)))
        setattr(out, section, values)
    return out
