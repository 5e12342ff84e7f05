"""Shuffle BN's batch shuffle (MoCo paper sec. 3.3), shared by MoCo and its end-to-end mechanism.

The key batch is shuffled across processes before the key encoder and unshuffled after it, so the BN
statistics of a query and of its positive key come from different groups of images; the query batch keeps its
order. The MoCo paper applies shuffle BN to MoCo and to its end-to-end ablation alike (sec. 3.3), so both
models call these two functions. They mirror facebookresearch/moco@7397dfe moco/builder.py
L81-126 (`_batch_shuffle_ddp`, `_batch_unshuffle_ddp`); in one process the "slice" of the shuffled batch is
all of it, which SplitBatchNorm2d (batchnorm.py) then normalises in the groups a multi-GPU run would have.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from mocobench.runtime.distributed import all_gather_with_grad, concat_all_gather, get_rank, get_world_size


@torch.no_grad()
def batch_shuffle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle the global batch; return this process's slice of it and the permutation that undoes it.

    Every rank draws from its default generator (keeping generators in step, so a resumed or N-process run
    draws what one process does); rank 0's draw is broadcast and wins (builder.py L94-98@7397dfe).
    """
    x_all = concat_all_gather(x)
    world_size = get_world_size()
    idx_shuffle = torch.randperm(x_all.shape[0]).to(x.device)
    if world_size > 1:
        dist.broadcast(idx_shuffle, src=0)
    idx_unshuffle = torch.argsort(idx_shuffle)
    idx_this = idx_shuffle.view(world_size, -1)[get_rank()]
    return x_all[idx_this], idx_unshuffle


def batch_unshuffle(x: torch.Tensor, idx_unshuffle: torch.Tensor) -> torch.Tensor:
    """Undo `batch_shuffle`: this process gets back the encodings of its own samples, in their order.

    Differentiable (the gather is `all_gather_with_grad`), as the end-to-end keys need; MoCo calls it under
    no_grad, where it is the official `_batch_unshuffle_ddp` (builder.py L109-126@7397dfe).
    """
    x_all = all_gather_with_grad(x)
    idx_this = idx_unshuffle.view(get_world_size(), -1)[get_rank()]
    return x_all[idx_this]
