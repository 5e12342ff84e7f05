"""Accuracy of logits: the contrastive monitor's top-1 of the positive."""

import pytest
import torch

from mocobench.metrics.accuracy import contrastive_accuracy


def test_contrastive_accuracy():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [5.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert contrastive_accuracy(logits, torch.zeros(4, dtype=torch.long)) == pytest.approx(50.0)
