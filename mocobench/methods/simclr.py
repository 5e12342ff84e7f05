"""SimCLR v1 (Chen et al., 2020), the MoCo v2 paper's Table 2 comparison: NT-Xent over both views of the
global batch, global (synchronised) BN, LARS, SimCLR's projection head and ResNet initialisation.

The model is `models/end_to_end.py::SimCLR` (2N - 1 logits per embedding, `losses.py::nt_xent_logits`);
the loss sums its two directions as SimCLR's objective.py does (`losses.py::simclr_loss`); LARS is
`methods/optim.py::LARS` (SimCLR's lars_optimizer.py, google-research/simclr@85e8552).
"""

from __future__ import annotations

import torch
from torch import nn

from mocobench.losses import simclr_loss
from mocobench.methods.base import Method, RunConfig
from mocobench.methods.optim import LARS, lars_param_groups, sgd, trainable
from mocobench.models.batchnorm import sync_batchnorm
from mocobench.models.encoders import encoder_builder
from mocobench.models.end_to_end import SimCLR as SimCLRModel
from mocobench.runtime.step_options import StepOptions


class SimCLR(Method):
    name = "simclr"
    views = ("simclr",)
    optimizers = ("lars", "sgd")
    inits = ("torchvision", "simclr")  # SimCLR's own: models/encoders.py::simclr_init_

    def numbers(self, config: RunConfig, n_train: int) -> dict[str, float]:
        return {"global_bn": bool(config.method.sync_bn)}

    def facts(self, config: RunConfig, n_train: int) -> list[tuple[str, str]]:
        bn = "global (synchronised)" if config.method.sync_bn else "per process"
        return [("BatchNorm", f"{bn} over the batch of {int(config.optim.batch_size)}")]

    def build_model(self, config: RunConfig, num_classes: int, world_size: int) -> nn.Module:
        # One encoder sees both views in one batch, BN over the global batch (SimCLR's global BN), never
        # split (positives would share BN groups in a pattern no multi-GPU run has); SimCLR's head, and
        # SimCLR's ResNet init where the recipe names it (`init`).
        builder = encoder_builder(config.method.arch, 1, config.method.stem, config.method.init)
        model = SimCLRModel(builder, config.method.moco_dim, config.method.moco_t, config.method.mlp)
        return sync_batchnorm(model) if config.method.sync_bn else model

    loss = staticmethod(simclr_loss)  # both directions summed, as SimCLR's objective.py

    def optimizer(self, config: RunConfig, model: nn.Module, options: StepOptions) -> torch.optim.Optimizer:
        if config.optim.optimizer == "lars":
            return LARS(
                lars_param_groups(model, config.optim.weight_decay),
                lr=config.optim.lr,
                momentum=config.optim.momentum,
                weight_decay=config.optim.weight_decay,
            )
        o = config.optim
        return sgd(trainable(model), o.lr, o.momentum, o.weight_decay, options)
