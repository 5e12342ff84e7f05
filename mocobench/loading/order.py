"""The order of an epoch, cut into global batches, and the DataLoaders that follow it.

One permutation per (seed, epoch) (`seeds.epoch_permutation`) is cut into *global* batches; each process takes
its contiguous slice of each, so gathering the slices in rank order rebuilds the single-process batch (what
the DDP test and shuffle BN rely on), and a resumed run sees the batches an uninterrupted one would. Every
training loader follows it: the folder loaders through `GlobalBatchSampler`, FFCV through `epoch_order`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from mocobench.errors import UsageError
from mocobench.runtime.distributed import DistInfo
from mocobench.runtime.seeds import epoch_permutation


def epoch_order(
    size: int, batch_size: int, rank: int, world_size: int, seed: int, epoch: int, drop_last: bool
) -> np.ndarray:
    """This rank's sample indices for `epoch`, batch after batch (`batch_size` per process).

    With `drop_last=False` the last global batch is kept; across several processes it is padded with the
    epoch's first samples to a multiple of `world_size`, so every rank gets the same number of batches.
    """
    perm = epoch_permutation(size, seed, epoch).numpy()
    global_batch = batch_size * world_size
    full = size // global_batch
    parts = [perm[: full * global_batch].reshape(full, world_size, batch_size)[:, rank].reshape(-1)]
    tail = perm[full * global_batch :]
    if not drop_last and len(tail):
        pad = (-len(tail)) % world_size
        tail = np.concatenate([tail, perm[:pad]])
        share = len(tail) // world_size
        parts.append(tail[rank * share : (rank + 1) * share])
    return np.concatenate(parts).astype(np.uint64)


class GlobalBatchSampler(Sampler[list[tuple[int, int]]]):
    """`epoch_order` as batches of `(epoch, index)` keys (last partial global batch dropped, as the paper's
    `drop_last=True`); the epoch in the key seeds each sample's augmentation (`seeds.sample_seed`)."""

    def __init__(self, size: int, global_batch: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        if global_batch % world_size:
            raise UsageError(
                f"batch_size {global_batch} is not divisible by the {world_size} processes; "
                "choose a batch or process count that divides it"
            )
        if size < global_batch:
            raise UsageError(
                f"the training set has {size} images, fewer than one batch of {global_batch}; "
                "use more data or a smaller batch (--set batch_size=N)"
            )
        self.size, self.global_batch, self.rank, self.world_size, self.seed = (
            size,
            global_batch,
            rank,
            world_size,
            seed,
        )
        self.local_batch = global_batch // world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size // self.global_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = epoch_order(
            self.size, self.local_batch, self.rank, self.world_size, self.seed, self.epoch, drop_last=True
        ).tolist()
        n = self.local_batch
        for b in range(len(self)):
            yield [(self.epoch, i) for i in order[b * n : (b + 1) * n]]


def batched_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int,
    dist: DistInfo,
    seed: int,
    worker_init: Callable[[int], None] | None = None,
) -> tuple[DataLoader, GlobalBatchSampler]:
    """The training DataLoader over `dataset` in `GlobalBatchSampler` order (`batch_size` is global)."""
    sampler = GlobalBatchSampler(len(dataset), batch_size, dist.rank, dist.world_size, seed)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=dist.device.type == "cuda",
        persistent_workers=workers > 0,
        worker_init_fn=worker_init if workers > 0 else None,
    )
    return loader, sampler


def eval_loader(
    dataset: Dataset, batch_size: int, workers: int, dist: DistInfo, persistent: bool = False
) -> DataLoader:
    """Every sample once, in order (kNN bank and queries, validation).

    `persistent` keeps the workers between passes: worth it for a pass every epoch (linear validation), not
    for the kNN monitor's occasional ones, whose idle workers would each hold a copy of the sample list.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=dist.device.type == "cuda",
        persistent_workers=persistent and workers > 0,
    )
