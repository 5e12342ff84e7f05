"""The losses written out term by term from the papers, for the tests to hold the vectorised ones against."""

from __future__ import annotations

import torch


def naive_nt_xent(z: torch.Tensor, T: float) -> torch.Tensor:
    """SimCLR eq. (1) written out: l(i, j) = -log exp(s_ij/T) / sum_{k != i} exp(s_ik/T), averaged over 2N."""
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        denom = sum(torch.exp(z[i] @ z[k] / T) for k in range(n2) if k != i)
        total = total - torch.log(torch.exp(z[i] @ z[j] / T) / denom)
    return total / n2


def naive_moco_end_to_end(q: torch.Tensor, k: torch.Tensor, T: float) -> torch.Tensor:
    """MoCo eq. (1) with the current batch as the dictionary (MoCo paper sec. 4.1, Fig. 2a), written out:
    L_i = -log exp(q_i.k_i/T) / sum_j exp(q_i.k_j/T) over the N keys of the batch, averaged over N queries."""
    n = q.shape[0]
    total = 0.0
    for i in range(n):
        denom = sum(torch.exp(q[i] @ k[j] / T) for j in range(n))
        total = total - torch.log(torch.exp(q[i] @ k[i] / T) / denom)
    return total / n
