"""BatchNorm that normalises a batch in groups, as if each group sat on its own GPU.

MoCo's shuffle BN (MoCo paper, sec. 3.3) relies on per-GPU BatchNorm statistics: the key batch is shuffled
across GPUs so a query and its key never share BN statistics. One process reproduces this by shuffling the
key batch and normalising it in `num_splits` contiguous chunks, chunk i playing GPU i.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with per-chunk training statistics; eval mode and state_dict are plain BatchNorm2d's.

    Training output equals `num_splits` BatchNorm2d copies each applied to one contiguous chunk of the batch,
    and the running statistics become the mean over the copies (under DDP each GPU keeps its own copy's
    running statistics and rank 0's are saved).
    """

    def __init__(self, num_features: int, num_splits: int = 1, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        if num_splits < 1:
            raise ValueError(f"num_splits must be >= 1, got {num_splits}")
        self.num_splits = num_splits

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_splits={self.num_splits}"

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.num_splits == 1:
            return super().forward(input)
        self._check_input_dim(input)
        n, c, h, w = input.shape
        s = self.num_splits
        if n % s != 0:
            raise ValueError(f"batch of {n} samples cannot be split into {s} equal BatchNorm groups")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        # Chunk i becomes channels [i*c, (i+1)*c) of a batch of n/s samples: one batch_norm call normalises
        # every chunk with its own statistics.
        x = input.reshape(s, n // s, c, h, w).transpose(0, 1).reshape(n // s, s * c, h, w)
        running_mean = running_var = None
        if self.track_running_stats:
            running_mean = self.running_mean.repeat(s)
            running_var = self.running_var.repeat(s)
        weight = None if self.weight is None else self.weight.repeat(s)
        bias = None if self.bias is None else self.bias.repeat(s)
        out = F.batch_norm(x, running_mean, running_var, weight, bias, True, factor, self.eps)
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.copy_(running_mean.view(s, c).mean(dim=0))
                self.running_var.copy_(running_var.view(s, c).mean(dim=0))
        return out.view(n // s, s, c, h, w).transpose(0, 1).reshape(n, c, h, w)


def split_bn(num_splits: int) -> Callable[..., nn.BatchNorm2d]:
    """A `norm_layer=` for torchvision models: BatchNorm2d emulating `num_splits` GPUs (plain when 1)."""
    if num_splits == 1:
        return nn.BatchNorm2d
    return functools.partial(SplitBatchNorm2d, num_splits=num_splits)
