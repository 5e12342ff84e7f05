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
