"""Weighted kNN: hand-made clusters and the weighting rule."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mocobench.metrics.knn import knn_accuracy, knn_predict


def test_knn_predict_votes_with_similarity_weights():
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), dim=1)
    labels = torch.tensor([0, 0, 1])
    query = F.normalize(torch.tensor([[0.2, 1.0]]), dim=1)
    scores = knn_predict(query, bank, labels, num_classes=2, k=3, t=0.1)
    sims = query @ bank.T
    expected_1 = (sims[0, 2] / 0.1).exp()
    expected_0 = (sims[0, 0] / 0.1).exp() + (sims[0, 1] / 0.1).exp()
    assert torch.allclose(scores[0], torch.stack([expected_0, expected_1]))
    assert scores.argmax(1).item() == 1
    # k larger than the bank is clipped, k=1 is nearest neighbour.
    assert knn_predict(query, bank, labels, 2, k=10).shape == (1, 2)
    assert (
        knn_predict(F.normalize(torch.tensor([[1.0, 0.05]]), dim=1), bank, labels, 2, k=1).argmax().item()
        == 0
    )


def test_knn_accuracy_on_separable_clusters():
    torch.manual_seed(0)
    centers = torch.eye(4) * 5
    x = torch.cat([centers[c] + 0.3 * torch.randn(20, 4) for c in range(4)])
    y = torch.arange(4).repeat_interleave(20)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    assert knn_accuracy(nn.Identity(), loader, loader, 4, torch.device("cpu"), k=5) == 100.0
    shuffled = DataLoader(TensorDataset(x, y[torch.randperm(80)]), batch_size=16)
    assert knn_accuracy(nn.Identity(), shuffled, loader, 4, torch.device("cpu"), k=5) < 60.0
