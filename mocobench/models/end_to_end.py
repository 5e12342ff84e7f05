"""The end-to-end mechanism of MoCo's comparison (Tables 2 and 3): SimCLR's NT-Xent with in-batch negatives.

One encoder embeds both views and gradients flow through both; the negatives of a sample are the other
2N-2 embeddings of the global batch, so the dictionary is only as large as the batch (hence its memory and
time cost). Shares MoCo's `forward(im_q, im_k) -> (logits, labels)` so the trainer is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from mocobench.models.moco import attach_mlp_head
from mocobench.train.distributed import all_gather_with_grad, all_reduce_with_grad, get_rank, get_world_size


def nt_xent_logits(z: torch.Tensor, rows: torch.Tensor, T: float) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent logits of the anchors `rows` against every other embedding of the global batch.

    `z` (2N, d) holds L2-normalised embeddings with view 1 of sample i at row i and view 2 at row N + i.
    Each anchor gets 2N - 1 logits: itself is left out, leaving its positive (the other view of the same
    sample) and 2N - 2 negatives (SimCLR, eq. 1); the label is the positive's column.
    """
    n2 = z.shape[0]
    sim = z[rows] @ z.T
    not_self = torch.ones_like(sim, dtype=torch.bool)
    not_self[torch.arange(rows.shape[0], device=z.device), rows] = False
    logits = sim[not_self].view(rows.shape[0], n2 - 1) / T
    pos = (rows + n2 // 2) % n2
    # Removing the self column shifts the columns after it one to the left.
    labels = pos - (pos > rows).long()
    return logits, labels


class EndToEnd(nn.Module):
    """SimCLR-style contrastive model with the same constructor shape as `MoCo` (no K, no m).

    Under DDP every rank passes its local batch (same size on every rank); the mean cross-entropy of the
    returned logits, averaged by DDP over ranks, equals the NT-Xent loss of the global batch.
    """

    def __init__(
        self, base_encoder: Callable[..., nn.Module], dim: int = 128, T: float = 0.1, mlp: bool = False
    ) -> None:
        super().__init__()
        self.T = T
        self.encoder = base_encoder(num_classes=dim)
        if mlp:
            attach_mlp_head(self.encoder)

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return logits (2n, 2N-1) for this rank's 2n anchors [view 1; view 2] and their labels."""
        n = im_q.shape[0]
        z = F.normalize(self.encoder(torch.cat([im_q, im_k], dim=0)), dim=1)
        world_size, rank = get_world_size(), get_rank()
        # Gathered as [q_0; k_0; q_1; k_1; ...]; reorder to [q_0; q_1; ...; k_0; k_1; ...] so the layout (and
        # so the logits) are those of one process holding the whole global batch.
        z_all = (
            all_gather_with_grad(z).view(world_size, 2, n, -1).transpose(0, 1).reshape(2 * world_size * n, -1)
        )
        mine = torch.arange(rank * n, (rank + 1) * n, device=z.device)
        rows = torch.cat([mine, mine + world_size * n])
        return nt_xent_logits(z_all, rows, self.T)


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
