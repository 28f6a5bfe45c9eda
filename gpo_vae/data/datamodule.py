"""Lightning data module for prepared Perturb-seq screens (knows nothing of models)."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from gpo_vae.config import Config, DataConfig
from gpo_vae.data.dataset import PerturbationDataset
from gpo_vae.data.prepare import PreparedData, prepare


class EpochSeededBatches(BatchSampler):
    """Shuffled batches whose order depends only on (seed, epoch): Lightning calls
    ``set_epoch`` before each epoch, so a resumed run sees the same batches as one that
    was never interrupted (a sampler with one long-lived generator would restart its
    sequence on resume)."""

    def __init__(self, dataset, batch_size: int, seed: int):
        self.generator = torch.Generator().manual_seed(seed)
        self.seed = seed
        super().__init__(RandomSampler(dataset, generator=self.generator),
                         batch_size=batch_size, drop_last=False)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + 1_000_003 * epoch)


class PerturbationDataModule(L.LightningDataModule):
    """Prepare (or load from cache) a screen and serve train / val / test batches.

    Besides loaders it exposes what the model needs to size itself and to weight the
    plated ELBO: ``n_genes``, ``treatment_names``, ``train_cells_per_treatment``,
    ``train_cells_per_qc`` and the encoder's ``log1p_mean`` / ``log1p_std``.
    """

    def __init__(self, config: Config | DataConfig, *, progress: bool = True,
                 log: Callable[[str], None] = print):
        super().__init__()
        self.config = config if isinstance(config, Config) else Config(data=config)
        self.progress = progress
        self.log_fn = log
        self.prepared: PreparedData | None = None
        self.datasets: dict[str, PerturbationDataset] = {}

    # Lightning calls prepare_data once (rank 0) and setup on every process.
    def prepare_data(self) -> None:
        if self.prepared is None:
            self.prepared = prepare(self.config, progress=self.progress, log=self.log_fn)

    def setup(self, stage: str | None = None) -> None:
        if self.prepared is None:
            self.prepared = prepare(self.config, progress=self.progress, log=self.log_fn)
        for split in ("train", "val", "test"):
            if split not in self.datasets:
                self.datasets[split] = PerturbationDataset(self.prepared.adata, split)

    @property
    def adata(self):
        if self.prepared is None:
            raise RuntimeError("call prepare_data() or setup() first")
        return self.prepared.adata

    @property
    def n_genes(self) -> int:
        return int(self.adata.n_vars)

    @property
    def treatment_names(self) -> list[str]:
        return self.adata.uns["treatments"]["name"].tolist()

    @property
    def train_cells_per_treatment(self) -> np.ndarray:
        return self.adata.uns["treatments"]["train_cells"].to_numpy()

    @property
    def train_cells_per_qc(self) -> np.ndarray:
        return np.asarray(self.adata.uns["train_cells_per_qc"])

    @property
    def log1p_mean(self) -> np.ndarray:
        return self.adata.var["train_log1p_mean"].to_numpy()

    @property
    def log1p_std(self) -> np.ndarray:
        return self.adata.var["train_log1p_std"].to_numpy()

    def train_pseudobulk_shifts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per treatment row, the training cells' pseudobulk shift from training controls
        and the number of cells behind it (:func:`treatment_pseudobulk_shifts`)."""
        from gpo_vae.data.pseudobulk import treatment_pseudobulk_shifts

        return treatment_pseudobulk_shifts(self.adata, "train")

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        cfg = self.config.data
        if shuffle:
            batches = EpochSeededBatches(dataset, cfg.batch_size, cfg.seed)
        else:
            batches = BatchSampler(SequentialSampler(dataset), batch_size=cfg.batch_size,
                                   drop_last=False)
        # batch_size=None: the dataset receives a list of indices and builds the batch
        return DataLoader(
            dataset,
            sampler=batches,
            batch_size=None,
            num_workers=cfg.num_workers,
            persistent_workers=cfg.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
