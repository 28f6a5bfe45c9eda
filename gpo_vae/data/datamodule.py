"""Lightning data module for prepared Perturb-seq screens (knows nothing of models)."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from gpo_vae.config import Config, DataConfig
from gpo_vae.data.dataset import PerturbationDataset
from gpo_vae.data.prepare import PreparedData, prepare, require_prepared


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process in a data-parallel run; (0, 1) otherwise."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochSeededBatches(BatchSampler):
    """Shuffled batches whose order depends only on (seed, epoch): Lightning calls
    ``set_epoch`` before each epoch, so a resumed run sees the same batches as one that
    was never interrupted (a sampler with one long-lived generator would restart its
    sequence on resume).

    In a data-parallel run of ``world`` processes every rank draws the same permutation
    and takes every ``world``-th batch from ``rank`` on; the last ``n_batches % world``
    batches are left out of that epoch so every rank takes as many steps (a rank with one
    more step would wait forever for the others' gradients). One process: every batch."""

    def __init__(self, dataset, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.generator = torch.Generator().manual_seed(seed)
        self.seed, self.rank, self.world = seed, rank, world
        self.epoch = 0
        # (epoch, batches done) of a resumed epoch: its next pass leaves those out
        self.resume_at: tuple[int, int] | None = None
        super().__init__(RandomSampler(dataset, generator=self.generator),
                         batch_size=batch_size, drop_last=False)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.generator.manual_seed(self.seed + 1_000_003 * epoch)

    @property
    def skip(self) -> int:
        """Batches the next pass leaves out (only in the epoch a resume stopped in)."""
        return self.resume_at[1] if self.resume_at and self.resume_at[0] == self.epoch else 0

    def __iter__(self):
        skip, self.resume_at = self.skip, None
        if self.world == 1:
            batches = super().__iter__()
        else:
            every = list(super().__iter__())
            usable = len(every) - len(every) % self.world
            batches = iter(every[self.rank:usable:self.world])
        for _ in range(skip):
            next(batches, None)
        yield from batches

    def __len__(self) -> int:
        n = super().__len__()
        return n if self.world == 1 else n // self.world


class ResumableLoader(DataLoader):
    """A training loader whose position inside the epoch travels with the checkpoint.

    Lightning saves ``state_dict()`` of such a loader in every checkpoint and gives it
    back through ``load_state_dict`` when a run resumes mid-epoch; the next pass then
    leaves out the batches already trained on, so the resumed epoch continues where the
    interrupted one stopped (a plain loader would start the epoch again)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.served = 0

    def __iter__(self):
        # the batch sampler is called lazily, after Lightning set this epoch's seed
        self.served = self.sampler.skip
        for batch in super().__iter__():
            self.served += 1
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": int(self.sampler.epoch), "batches_served": int(self.served)}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.resume_at = (int(state["epoch"]), int(state["batches_served"]))


class RankShare(SequentialSampler):
    """Every ``world``-th cell from ``rank`` on, in order: a rank's share of validation
    and test cells, with no cell counted twice (Lightning's distributed sampler pads the
    shares with repeated cells, which biases the validation loss that picks best.ckpt)."""

    def __init__(self, dataset, rank: int, world: int):
        super().__init__(dataset)
        self.rank, self.world = rank, world

    def __iter__(self):
        return iter(range(self.rank, len(self.data_source), self.world))

    def __len__(self) -> int:
        return len(range(self.rank, len(self.data_source), self.world))


class PerturbationDataModule(L.LightningDataModule):
    """Prepare (or load from cache) a screen and serve train / val / test batches.

    ``prepared`` (an AnnData from :func:`gpo_vae.prepare`) serves that data instead.
    """

    def __init__(self, config: Config | DataConfig, *, prepared=None):
        super().__init__()
        self.config = config if isinstance(config, Config) else Config(data=config)
        # an in-memory prepared AnnData (the Python API) skips preparation and the cache
        if prepared is not None and not isinstance(prepared, PreparedData):
            require_prepared(prepared)
            prepared = PreparedData(prepared, {}, None, from_cache=False)
        self.prepared: PreparedData | None = prepared
        self.datasets: dict[str, PerturbationDataset] = {}

    # Lightning calls prepare_data once (rank 0) and setup on every process.
    def prepare_data(self) -> None:
        if self.prepared is None:
            self.prepared = prepare(self.config)

    def setup(self, stage: str | None = None) -> None:
        if self.prepared is None:
            self.prepared = prepare(self.config)
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
        rank, world = process_rank()
        if shuffle:
            batches = EpochSeededBatches(dataset, cfg.batch_size, cfg.seed, rank, world)
        else:
            cells = RankShare(dataset, rank, world) if world > 1 else SequentialSampler(dataset)
            batches = BatchSampler(cells, batch_size=cfg.batch_size, drop_last=False)
        # batch_size=None: the dataset receives a list of indices and builds the batch
        return (ResumableLoader if shuffle else DataLoader)(
            dataset,
            sampler=batches,
            batch_size=None,
            num_workers=cfg.num_workers,
            persistent_workers=cfg.num_workers > 0,
            # page-locked host memory makes the copy to a GPU asynchronous
            pin_memory=cfg.pin_memory and torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
