"""One optimisation step, as the official `main_moco.py`: forward, cross-entropy on (logits, labels), SGD.

The model of every mechanism returns `(logits, labels)` (losses.py builds them); the cross-entropy is taken in
fp32. The step options (`runtime/step_options.py`) change how the forward runs (memory format, autocast,
compiled encoders), not what the step is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mocobench.losses import cross_entropy
from mocobench.runtime.step_options import StepOptions


def contrastive_loss(
    model: nn.Module,
    im_q: torch.Tensor,
    im_k: torch.Tensor,
    options: StepOptions,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward and InfoNCE / NT-Xent (MoCo eq. 1; `train.build.build_loss`); returns loss, logits, labels."""
    with options.autocast(im_q.device):
        logits, labels = model(im_q, im_k)
    return loss(logits, labels), logits, labels


def supervised_loss(
    model: nn.Module, images: torch.Tensor, targets: torch.Tensor, options: StepOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and cross-entropy on the labels (the supervised row); returns the loss and the logits."""
    with options.autocast(images.device):
        output = model(images)
    return cross_entropy(output, targets), output


def optimise(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
