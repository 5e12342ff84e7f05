"""The end-to-end mechanism (Tables 2 and 3): NT-Xent with in-batch negatives, MoCo's or SimCLR's head.

One encoder embeds both views and gradients flow through both; the negatives of a sample are the other
2N-2 embeddings of the global batch, so the dictionary is only as large as the batch (hence its memory and
time cost). Shares MoCo's `forward(im_q, im_k) -> (logits, labels)` so the trainer is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mocobench.losses import nt_xent_logits
from mocobench.models.encoders import attach_mlp_head, attach_simclr_head
from mocobench.runtime.distributed import all_gather_with_grad, get_rank, get_world_size


class EndToEnd(nn.Module):
    """SimCLR-style contrastive model with the same constructor shape as `MoCo` (no K, no m).

    Under DDP every rank passes its local batch (same size on every rank); the mean cross-entropy of the
    returned logits, averaged by DDP over ranks, equals the NT-Xent loss of the global batch.
    """

    def __init__(
        self,
        base_encoder: Callable[..., nn.Module],
        dim: int = 128,
        T: float = 0.1,
        mlp: bool = False,
        head: str = "moco",
    ) -> None:
        super().__init__()
        self.T = T
        self.encoder = base_encoder(num_classes=dim)
        if mlp:  # MoCo v2's head (the end-to-end rows), or SimCLR's with BatchNorm (the SimCLR rows)
            (attach_simclr_head if head == "simclr" else attach_mlp_head)(self.encoder)

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return logits (2n, 2N-1) for this rank's 2n anchors [view 1; view 2] and their labels."""
        n = im_q.shape[0]
        z = F.normalize(self.encoder(torch.cat([im_q, im_k], dim=0)).float(), dim=1)  # fp32 (losses.py)
        world_size, rank = get_world_size(), get_rank()
        # Gathered as [q_0; k_0; q_1; k_1; ...]; reorder to [q_0; q_1; ...; k_0; k_1; ...] so the layout (and
        # so the logits) are those of one process holding the whole global batch.
        z_all = (
            all_gather_with_grad(z).view(world_size, 2, n, -1).transpose(0, 1).reshape(2 * world_size * n, -1)
        )
        mine = torch.arange(rank * n, (rank + 1) * n, device=z.device)
        rows = torch.cat([mine, mine + world_size * n])
        return nt_xent_logits(z_all, rows, self.T)
