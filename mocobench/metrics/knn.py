"""Weighted kNN accuracy on frozen features: the cheap monitor of representation quality.

The classifier of Wu et al. 2018 (InstDisc), also used by the official MoCo CIFAR demo: cosine similarity to
every training feature, the top-k neighbours vote for their class with weight exp(sim / t).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


@torch.no_grad()
def extract_features(
    backbone: nn.Module, loader: DataLoader, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised features and labels of every image in `loader`, with the backbone in eval mode."""
    was_training = backbone.training
    backbone.eval()
    feats, labels = [], []
    for images, targets in loader:
        feats.append(F.normalize(backbone(images.to(device, non_blocking=True)).float(), dim=1).cpu())
        labels.append(targets)
    backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def knn_predict(
    query: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    num_classes: int,
    k: int = 200,
    t: float = 0.1,
    chunk: int = 1024,
) -> torch.Tensor:
    """Class scores (N x C) of each normalised query feature from its k nearest bank features."""
    k = min(k, bank.shape[0])
    scores = []
    for q in query.split(chunk):
        sim, idx = (q @ bank.T).topk(k, dim=1)
        weights = (sim / t).exp()
        votes = torch.zeros(q.shape[0], num_classes, dtype=weights.dtype)
        scores.append(votes.scatter_add_(1, bank_labels[idx], weights))
    return torch.cat(scores)


def knn_accuracy(
    backbone: nn.Module,
    bank_loader: DataLoader,
    val_loader: DataLoader,
    num_classes: int,
    device: torch.device,
    k: int = 200,
    t: float = 0.1,
) -> float:
    """Top-1 (%) of weighted kNN on `val_loader` with `bank_loader` (training images, eval transform)."""
    bank, bank_labels = extract_features(backbone, bank_loader, device)
    query, labels = extract_features(backbone, val_loader, device)
    pred = knn_predict(query, bank, bank_labels, num_classes, k, t).argmax(dim=1)
    return float((pred == labels).float().mean() * 100)
