"""Names shared across the package: splits, presets, prepared-AnnData keys, batch keys.

One home for them, so the command line, the data pipeline, the model and the reports
agree (and a renamed key is renamed once).

Prepared AnnData (the output of :func:`gpo_vae.prepare`):

- ``obs``: ``cell_id``, ``perturbation``, ``qc`` (bool, True = low quality) and QC
  metrics, ``split`` (``train`` / ``val`` / ``test``), ``matched_control`` (row of the
  control cell paired with it), ``library_size``, ``counterfactual_index`` (row of
  ``uns['counterfactual_profiles']`` or -1);
- ``obsm``: ``dosages`` (cells x T, sparse; T treatment genes); the paired-control
  difference the GRN alignment uses (``delta_x`` of a batch) is computed per batch from
  the counts of each cell and of its matched control;
- ``var``: ``gene_symbol``, ``train_log1p_mean``, ``train_log1p_std``;
- ``uns``: ``treatments`` (name, kind, measured, train_cells), ``train_cells_per_qc``,
  ``counterfactual_profiles``, ``prepare_report``, ``schema`` (control label, preset, split
  kind, pairing, combination separator), ``prepare_settings`` and, for simulated data,
  ``true_grn`` / ``true_grn_perturbed``.
"""

from __future__ import annotations

#: The three splits of a prepared screen, in order.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: How predicted ATEs read the decoder (``model.ate_decoding``): the transform of the
#: decoded proportions, or of negative binomial counts sampled from them.
ATE_DECODINGS: tuple[str, ...] = ("expected", "sampled")
#: How cells are split: by cell, or holding out whole perturbations.
SPLIT_KINDS: tuple[str, ...] = ("cells", "perturbations", "combinations")
#: Data presets (input layout and filters) of ``data.preset``.
DATA_PRESETS: tuple[str, ...] = ("generic", "adamson", "replogle_k562", "rpe1", "simulated")
#: Presets whose preparation reads Replogle-style summary statistics.
SUMMARY_STATS_PRESETS: tuple[str, ...] = ("adamson", "replogle_k562", "rpe1")
#: Sizes of the simulated screens (``gpo-vae simulate --preset``).
SIMULATION_PRESETS: tuple[str, ...] = ("small", "default", "combinations", "large", "xlarge")
#: The label of control cells when the input does not say otherwise.
DEFAULT_CONTROL_LABEL = "non-targeting"
#: Normalisation total of the log-normalised and "perturbseq" expression.
TARGET_SUM = 1e4
# genes an observed-profile design target is matched on (see gpo_vae.design.targets)
DESIGN_TOP_GENES = 20

# prepared AnnData keys
OBS_PERTURBATION = "perturbation"
OBS_SPLIT = "split"
OBS_QC = "qc"
OBS_CELL_ID = "cell_id"
OBS_LIBRARY_SIZE = "library_size"
OBS_MATCHED_CONTROL = "matched_control"
OBS_COUNTERFACTUAL_INDEX = "counterfactual_index"
OBS_TARGET_GENE_ID = "target_gene_id"
OBSM_DOSAGES = "dosages"
OBSM_DELTA_X = "delta_x"       # a bootstrap sample's stored deltaX (prepared data: per batch)
VAR_GENE_SYMBOL = "gene_symbol"
VAR_LOG1P_MEAN = "train_log1p_mean"
VAR_LOG1P_STD = "train_log1p_std"
VAR_INPUT_NAME = "input_var_name"
UNS_TREATMENTS = "treatments"
UNS_TRAIN_CELLS_PER_QC = "train_cells_per_qc"
UNS_COUNTERFACTUAL_PROFILES = "counterfactual_profiles"
UNS_SCHEMA = "schema"
UNS_PREPARE_SETTINGS = "prepare_settings"
UNS_PREPARE_REPORT = "prepare_report"
UNS_TRUE_GRN = "true_grn"
UNS_TRUE_GRN_PERTURBED = "true_grn_perturbed"
UNS_SIMULATION = "simulation"
UNS_TRUTH = (UNS_TRUE_GRN, UNS_TRUE_GRN_PERTURBED)

# keys of a training batch (:class:`gpo_vae.data.dataset.PerturbationDataset`)
BATCH_COUNTS = "counts"
BATCH_DOSAGES = "dosages"
BATCH_QC = "qc"
BATCH_COUNTERFACTUAL = "counterfactual"
BATCH_HAS_COUNTERFACTUAL = "has_counterfactual"
BATCH_DELTA_X = "delta_x"
BATCH_LIBRARY_SIZE = "library_size"
BATCH_CELL_INDEX = "cell_index"

# Metrics logged while training (CSV logs, W&B): the learning diagnostics'
# (gpo_vae.evaluation.diagnostics) prefix, and the one a checkpoint can be chosen by.
DIAGNOSTICS_PREFIX = "diag/"
VAL_ATE_KEY = f"{DIAGNOSTICS_PREFIX}val_ate_pearson_top20"
