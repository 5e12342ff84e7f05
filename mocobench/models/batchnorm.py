"""BatchNorm over groups of the batch (MoCo's shuffle BN) or over the global batch (SimCLR's global BN).

MoCo's shuffle BN (MoCo paper, sec. 3.3) relies on per-GPU BatchNorm statistics: the key batch is shuffled
across GPUs so a query and its key never share BN statistics. One process reproduces this by shuffling the
key batch and normalising it in `num_splits` contiguous chunks, chunk i playing GPU i (`SplitBatchNorm2d`).
SimCLR normalises over all GPUs' samples at once (`sync_batchnorm`: nn.SyncBatchNorm on NCCL,
`GlobalBatchNorm` on other backends).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from mocobench.runtime.distributed import all_reduce_with_grad, get_world_size


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


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of all ranks, differentiable, for any device and backend.

    nn.SyncBatchNorm refuses CPU tensors, so multi-process CPU (gloo) runs use this instead. Two all-reduces
    per layer (sums, then squared deviations) keep the variance as accurate as single-process BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or get_world_size() == 1:
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        count = all_reduce_with_grad(input.new_tensor([input.numel() / input.shape[1]]))
        mean = all_reduce_with_grad(input.sum(dims)) / count
        centred = input - mean.view(shape)
        var = all_reduce_with_grad(centred.pow(2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean, factor)
                # Running variance is the unbiased estimate, as in nn.BatchNorm.
                self.running_var.lerp_(var * count / (count - 1), factor)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def _to_global_bn(module: nn.Module) -> nn.Module:
    """Swap each BatchNorm for a GlobalBatchNorm sharing its parameters and buffers (same state_dict)."""
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _to_global_bn(child))
    return out


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Make BatchNorm use the global batch (SimCLR's global BN) when running distributed; else a no-op.

    NCCL gets nn.SyncBatchNorm; other backends (gloo on CPU) get GlobalBatchNorm. Call before wrapping in
    DistributedDataParallel, as for nn.SyncBatchNorm.convert_sync_batchnorm.
    """
    if get_world_size() == 1:
        return model
    if dist.get_backend() == "nccl":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _to_global_bn(model)
