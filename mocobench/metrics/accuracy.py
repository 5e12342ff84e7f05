"""Accuracy of logits: top-k hits (the linear protocol) and picking the positive (the contrastive monitor)."""

from __future__ import annotations

import torch


def contrastive_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy (%) of picking the positive among the logits: a cheap health signal during training."""
    return (logits.argmax(dim=1) == labels).float().mean().item() * 100.0


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...]) -> list[int]:
    """How many rows have their target among the top k logits, for each k in `ks`."""
    top = logits.topk(max(ks), dim=1).indices
    hit = top == targets[:, None]
    return [int(hit[:, :k].any(dim=1).sum()) for k in ks]
