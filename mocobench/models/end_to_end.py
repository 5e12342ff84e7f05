"""The in-batch mechanisms: MoCo's end-to-end (Table 3 and its rows) and SimCLR's NT-Xent (Table 2's rows).

Both take their negatives from the current batch and back-propagate through both views with one encoder,
so the dictionary is only as large as the batch (hence their memory and time cost). They differ in form:

- `EndToEnd` is the end-to-end mechanism of the MoCo paper (sec. 4.1, Fig. 2a; Fig. 3's "end-to-end"),
  which Table 3 of MoCo v2 measures: MoCo's InfoNCE with the batch's keys as the dictionary, N logits per
  query, and MoCo's shuffle BN (sec. 3.3: keys shuffled across BN groups, queries in their order).
- `SimCLR` is SimCLR's NT-Xent (2N - 1 logits per embedding, both views anchors) with global BN.

Both share MoCo's `forward(im_q, im_k) -> (logits, labels)` so the trainer is the same, and keep the one
encoder under `encoder.*` (what evaluate/pretrained.py reads).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mocobench.losses import end_to_end_logits, nt_xent_logits
from mocobench.models.encoders import attach_mlp_head, attach_simclr_head
from mocobench.models.shuffle import batch_shuffle, batch_unshuffle
from mocobench.runtime.distributed import all_gather_with_grad, get_rank, get_world_size


class EndToEnd(nn.Module):
    """MoCo's end-to-end mechanism: MoCo's constructor without K and m (no queue, no momentum encoder).

    `base_encoder` as for `MoCo`: with `norm_layer=split_bn(g)` (encoder_builder's `bn_splits`) each call
    normalises g contiguous groups of this process's batch, as g GPUs would. Under DDP every rank passes
    its local batch (same size on every rank); the mean cross-entropy of the returned logits, averaged by
    DDP over ranks, is the loss of one process holding the global batch.
    """

    def __init__(
        self, base_encoder: Callable[..., nn.Module], dim: int = 128, T: float = 0.07, mlp: bool = False
    ) -> None:
        super().__init__()
        self.T = T
        self.encoder = base_encoder(num_classes=dim)
        if mlp:  # MoCo v2's head, as the end-to-end rows keep MoCo v2's settings
            attach_mlp_head(self.encoder)

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return logits (n, N) of this rank's n queries against the N keys of the global batch, and labels
        (the global index of each query's own key)."""
        q = F.normalize(self.encoder(im_q).float(), dim=1)  # queries in their order; fp32 (losses.py)
        # The keys as MoCo's forward takes them (builder.py L145-152@7397dfe), from the same encoder and
        # with gradient: shuffled across BN groups, encoded, unshuffled.
        im_k, idx_unshuffle = batch_shuffle(im_k)
        k = F.normalize(self.encoder(im_k).float(), dim=1)
        k = batch_unshuffle(k, idx_unshuffle)
        return end_to_end_logits(q, all_gather_with_grad(k), get_rank() * q.shape[0], self.T)


class SimCLR(nn.Module):
    """SimCLR's NT-Xent over both views of the global batch (SimCLR eq. 1), MoCo's constructor without K, m.

    The BN over the global batch is `batchnorm.sync_batchnorm`, applied by the caller (methods/simclr.py).
    """

    def __init__(
        self, base_encoder: Callable[..., nn.Module], dim: int = 128, T: float = 0.1, mlp: bool = False
    ) -> None:
        super().__init__()
        self.T = T
        self.encoder = base_encoder(num_classes=dim)
        if mlp:  # SimCLR's head with BatchNorm
            attach_simclr_head(self.encoder)

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
