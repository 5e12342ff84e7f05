"""MoCo: a query encoder, its momentum copy as key encoder, and a queue of keys as negatives.

Same interface, parameter names and buffers as the official builder (facebookresearch/moco, moco/builder.py),
so checkpoints load in either direction. MoCo v2 only adds `mlp=True` and a higher T (0.2).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mocobench.losses import infonce_logits
from mocobench.models.encoders import attach_mlp_head
from mocobench.models.shuffle import batch_shuffle, batch_unshuffle
from mocobench.runtime.distributed import concat_all_gather


class MoCo(nn.Module):
    """Momentum Contrast (He et al., 2020), MoCo v2 head option (Chen et al., 2020).

    `base_encoder(num_classes=dim)` must build a network with a Linear `.fc` (torchvision ResNets do; pass a
    functools.partial with `norm_layer=split_bn(g)` to emulate shuffle BN over g GPUs in one process). The
    shuffle itself is `models/shuffle.py`, shared with the end-to-end mechanism.
    """

    def __init__(
        self,
        base_encoder: Callable[..., nn.Module],
        dim: int = 128,
        K: int = 65536,
        m: float = 0.999,
        T: float = 0.07,
        mlp: bool = False,
    ) -> None:
        super().__init__()
        self.K = K
        self.m = m
        self.T = T
        self.encoder_q = base_encoder(num_classes=dim)
        self.encoder_k = base_encoder(num_classes=dim)
        if mlp:
            attach_mlp_head(self.encoder_q)
            attach_mlp_head(self.encoder_k)
        # The key encoder starts as a copy of the query encoder and is only ever updated by momentum.
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True):
            param_k.data.copy_(param_q.data)
            param_k.requires_grad = False
        # Buffers, so the queue travels with state_dict and checkpoints.
        self.register_buffer("queue", F.normalize(torch.randn(dim, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def check_batch_size(self, global_batch: int) -> None:
        """Fail before training when one step's keys (all GPUs together) would not fit in the queue."""
        if global_batch > self.K:
            raise ValueError(
                f"global batch size {global_batch} is larger than the MoCo queue K={self.K}; "
                f"use K >= {global_batch} or a smaller batch"
            )

    @torch.no_grad()
    def _momentum_update_key_encoder(self) -> None:
        # MoCo paper eq. (2): theta_k <- m * theta_k + (1 - m) * theta_q.
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True):
            param_k.mul_(self.m).add_(param_q.detach(), alpha=1.0 - self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        keys = concat_all_gather(keys)
        n = keys.shape[0]
        self.check_batch_size(n)
        ptr = int(self.queue_ptr)
        # Replace the oldest n keys; when K is not a multiple of n the write wraps to the queue's start.
        idx = (ptr + torch.arange(n, device=keys.device)) % self.K
        self.queue[:, idx] = keys.T.to(self.queue.dtype)  # keys are bf16 under autocast; the queue fp32
        self.queue_ptr[0] = (ptr + n) % self.K

    @torch.no_grad()
    def _batch_shuffle(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shuffle the global key batch; this process keeps its slice (official `_batch_shuffle_ddp`)."""
        return batch_shuffle(x)

    @torch.no_grad()
    def _batch_unshuffle(self, x: torch.Tensor, idx_unshuffle: torch.Tensor) -> torch.Tensor:
        """Undo `_batch_shuffle`: this process gets back the keys of its own original samples."""
        return batch_unshuffle(x, idx_unshuffle)

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return InfoNCE logits (N, 1+K) and labels (N,) of zeros: the positive key is at index 0."""
        q = F.normalize(self.encoder_q(im_q).float(), dim=1)  # fp32 from here on (losses.py)
        with torch.no_grad():
            self._momentum_update_key_encoder()
            im_k, idx_unshuffle = self._batch_shuffle(im_k)
            k = F.normalize(self.encoder_k(im_k).float(), dim=1)
            k = self._batch_unshuffle(k, idx_unshuffle)
        # The queue is updated in place below; autograd must keep the version used here.
        logits, labels = infonce_logits(q, k, self.queue.clone().detach(), self.T)
        self._dequeue_and_enqueue(k)
        return logits, labels
