"""The supervised row of Table 1: the same ResNet trained with labels (cross-entropy on the classes), as
the baseline the paper compares the pre-trained features with. Trained on single labelled views."""

from __future__ import annotations

import torch
from torch import nn

from mocobench.losses import cross_entropy
from mocobench.methods.base import Changes, Forward, Method, RunConfig
from mocobench.models.encoders import encoder_builder
from mocobench.runtime.step_options import StepOptions


def supervised_forward(
    model: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor], options: StepOptions
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward and cross-entropy on the labels; loss, logits, targets."""
    images, targets = inputs
    with options.autocast(images.device):
        output = model(images)
    return cross_entropy(output, targets), output, targets


class Supervised(Method):
    name = "supervised"
    views = ("supervised",)
    two_view = False
    grad_views = 1

    def record(self, config: RunConfig, num_classes: int) -> Changes:
        # the classifier's width, to load it back (evaluate/pretrained.py)
        return {"num_classes": num_classes}

    def build_model(self, config: RunConfig, num_classes: int, world_size: int) -> nn.Module:
        return encoder_builder(config.method.arch, 1, config.method.stem)(num_classes=num_classes)

    def forward(self, config: RunConfig) -> Forward:
        return supervised_forward
