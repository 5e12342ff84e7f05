"""The recipe's model, optimizer and loader spec from the resolved config.

The one place where config keys meet the constructors of the layers below, which take typed values: the
model of each mechanism (MoCo's builder arguments, as the official `main_moco.py` passes them), SGD or
LARS, and the `TwoViewSpec` of the two-view loader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mocobench.errors import UsageError
from mocobench.losses import cross_entropy, simclr_loss
from mocobench.models.batchnorm import sync_batchnorm
from mocobench.models.encoders import encoder_builder
from mocobench.models.end_to_end import EndToEnd, SimCLR
from mocobench.models.moco import MoCo
from mocobench.pipeline.loaders import TwoViewSpec
from mocobench.runtime.step_options import StepOptions
from mocobench.train.lars import LARS, lars_param_groups


def build_model(config: dict[str, Any], num_classes: int, world_size: int) -> nn.Module:
    """The network of `config["mechanism"]`, for one of `world_size` processes."""
    mechanism = config["mechanism"]
    if mechanism == "supervised":
        return encoder_builder(config["arch"], 1, config["stem"])(num_classes=num_classes)
    if mechanism == "simclr":
        # One encoder sees both views in one batch, BN over the global batch (SimCLR's global BN), never
        # split (positives would share BN groups in a pattern no multi-GPU run has); SimCLR's head, and
        # SimCLR's ResNet init where the recipe names it (`init`, models/encoders.py::simclr_init_).
        builder = encoder_builder(config["arch"], 1, config["stem"], config["init"])
        model = SimCLR(builder, config["moco_dim"], config["moco_t"], config["mlp"])
        return sync_batchnorm(model) if config["sync_bn"] else model
    builder = encoder_builder(config["arch"], bn_splits_per_process(config, world_size), config["stem"])
    if mechanism == "end-to-end":  # MoCo's end-to-end: MoCo's shuffle BN groups, no queue
        return EndToEnd(builder, config["moco_dim"], config["moco_t"], config["mlp"])
    model = MoCo(
        builder, config["moco_dim"], config["moco_k"], config["moco_m"], config["moco_t"], config["mlp"]
    )
    try:
        model.check_batch_size(config["batch_size"])
    except ValueError as e:
        raise UsageError(str(e)) from e
    return model


def bn_splits_per_process(config: dict[str, Any], world_size: int) -> int:
    """Shuffle-BN groups in each process's batch (MoCo and its end-to-end mechanism): the recipe fixes the
    images per group (the paper's 32 = 256 / 8 GPUs, MoCo sec. 3.3), so any world size works whose
    per-process batch is a multiple of it."""
    batch, group, lr = config["batch_size"], config["bn_group"], config["lr"]
    per_process = batch // world_size
    if batch % world_size or per_process % group:
        fit = group * world_size * max(1, round(batch / (group * world_size)))
        raise UsageError(
            f"batch {batch} over {world_size} processes is {batch / world_size:g} images each, not a "
            f"multiple of the {group} images per shuffle-BN group; use --set batch_size={fit} "
            f"--set lr={lr * fit / batch:g} on {world_size} processes (the lr follows the batch), "
            "or another process count"
        )
    return per_process // group


def build_loss(config: dict[str, Any]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss over a contrastive model's (logits, labels): SimCLR sums its two directions, MoCo and the
    end-to-end rows take the mean cross-entropy (MoCo eq. 1)."""
    return simclr_loss if config["mechanism"] == "simclr" else cross_entropy


def sgd(
    params: Any, lr: float, momentum: float, weight_decay: float, options: StepOptions
) -> torch.optim.SGD:
    """The paper's SGD; `fused` selects PyTorch's single-kernel implementation (same update)."""
    return torch.optim.SGD(
        params, lr, momentum=momentum, weight_decay=weight_decay, fused=True if options.fused else None
    )


def build_optimizer(
    config: dict[str, Any], model: nn.Module, options: StepOptions | None = None
) -> torch.optim.Optimizer:
    """SGD (MoCo, supervised) or LARS (SimCLR) over the trainable parameters."""
    if config["optimizer"] == "lars":
        return LARS(
            lars_param_groups(model, config["weight_decay"]),
            lr=config["lr"],
            momentum=config["momentum"],
            weight_decay=config["weight_decay"],
        )
    params = [p for p in model.parameters() if p.requires_grad]
    return sgd(params, config["lr"], config["momentum"], config["weight_decay"], options or StepOptions())


def two_view_spec(config: dict[str, Any]) -> TwoViewSpec:
    """What the two-view loader needs of `config`."""
    lo, hi = config["blur_sigma"]
    norm = {k: tuple(config[k]) for k in ("mean", "std") if config.get(k)}  # empty: ImageNet's
    return TwoViewSpec(
        config["augmentation"],
        config["image_size"],
        (lo, hi),
        config["batch_size"],
        config["workers"],
        **norm,
    )
