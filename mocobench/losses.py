"""The contrastive losses as pure functions: InfoNCE with MoCo's queue or the batch (MoCo's end-to-end),
SimCLR's NT-Xent, the cross-entropy.

The contrastive losses are a cross-entropy over logits whose label is the positive's column, so each
mechanism's model returns `(logits, labels)` from these functions (the official MoCo builder's interface)
and the methods apply `cross_entropy` (methods/base.py).

Logits and losses are computed in fp32 whatever the autocast, as the official code (which has no autocast)
computes them: under bf16 a logit q.k / T would be rounded to ~0.03-0.06 at T 0.2-0.07. The encoders may
run in bf16 (`--step-options`); what they return is cast up before it is compared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def infonce_logits(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, T: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """MoCo's InfoNCE logits (MoCo paper eq. 1): [q.k+, q.queue] / T, the positive key at index 0.

    `q`, `k` (N, d) are L2-normalised queries and their keys, `queue` (d, K) the negative keys. Returns
    logits (N, 1 + K) and labels (N,) of zeros.
    """
    with fp32(q):
        q, k, queue = q.float(), k.float(), queue.float()
        l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q, queue)
        logits = torch.cat([l_pos, l_neg], dim=1) / T
    labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return logits, labels


def end_to_end_logits(
    q: torch.Tensor, k: torch.Tensor, first: int, T: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """MoCo's end-to-end InfoNCE logits (MoCo paper sec. 4.1, Fig. 2a): the dictionary is the current batch.

    `q` (n, d) are this process's L2-normalised queries, `k` (N, d) the keys of the whole global batch in
    sample order, with `q[i]`'s positive at `k[first + i]` (`first`: the global index of this process's first
    sample). Eq. 1 with the other N - 1 keys of the batch as the negatives, so one (n, N) product holds them
    all: logits q.k / T, labels first + i.
    """
    with fp32(q):
        logits = q.float() @ k.float().T / T
    labels = torch.arange(first, first + q.shape[0], device=logits.device)
    return logits, labels


def nt_xent_logits(z: torch.Tensor, rows: torch.Tensor, T: float) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent logits of the anchors `rows` against every other embedding of the global batch.

    `z` (2N, d) holds L2-normalised embeddings with view 1 of sample i at row i and view 2 at row N + i.
    Each anchor gets 2N - 1 logits: itself is left out, leaving its positive (the other view of the same
    sample) and 2N - 2 negatives (SimCLR, eq. 1); the label is the positive's column.
    """
    n2 = z.shape[0]
    with fp32(z):
        z = z.float()
        sim = z[rows] @ z.T
        not_self = torch.ones_like(sim, dtype=torch.bool)
        not_self[torch.arange(rows.shape[0], device=z.device), rows] = False
        logits = sim[not_self].view(rows.shape[0], n2 - 1) / T
    pos = (rows + n2 // 2) % n2
    # Removing the self column shifts the columns after it one to the left.
    labels = pos - (pos > rows).long()
    return logits, labels


def simclr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """SimCLR's NT-Xent as its code sums it: `loss = loss_a + loss_b` (objective.py L86-90@85e8552), each
    direction the mean over its N anchors, so twice the mean over the 2N anchors `nt_xent_logits` returns."""
    return 2 * cross_entropy(logits, labels)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy, computed in fp32 whatever the autocast (MoCo's, SimCLR's and supervised loss)."""
    with fp32(logits):
        return F.cross_entropy(logits.float(), labels)


def fp32(x: torch.Tensor) -> torch.autocast:
    """A block where autocast is off on `x`'s device, so every op in it runs in the dtype it is given."""
    return torch.autocast(device_type=x.device.type, enabled=False)
