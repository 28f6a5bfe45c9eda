"""Lightning data module for prepared Perturb-seq screens (knows nothing of models)."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from gpo_vae.config import Config, DataConfig
from gpo_vae.data.dataset import PerturbationDataset
from gpo_vae.data.prepare import PreparedData, prepare, require_prepared


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

    ``prepared`` (an AnnData from :func:`gpo_vae.prepare`) serves that data instead.
    """

    def __init__(self, config: Config | DataConfig, *, progress: bool = True,
                 log: Callable[[str], None] = print, prepared=None):
        super().__init__()
        self.config = config if isinstance(config, Config) else Config(data=config)
        self.progress = progress
        self.log_fn = log
        # an in-memory prepared AnnData (the Python API) skips preparation and the cache
        if prepared is not None and not isinstance(prepared, PreparedData):
            require_prepared(prepared)
            prepared = PreparedData(prepared, {}, None, from_cache=False)
        self.prepared: PreparedData | None = prepared
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
