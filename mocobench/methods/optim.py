"""The optimizers the methods choose from: the paper's SGD, and LARS (You et al., 2017) as SimCLR trains
with it (MoCo v2's Table 2 SimCLR rows). Every LARS variant has its home here (MoCo v3's keeps the lr outside
the momentum buffer; SimCLR's, below, inside).

SimCLR's LARS follows its `lars_optimizer.py`: weight decay is added to the gradient, the update is
scaled per tensor by the trust ratio eta * ||w|| / ||g + wd * w||, and the learning rate sits inside the
momentum buffer (v <- m * v + lr * trust * g; w <- w - v). Biases and BatchNorm parameters skip both
weight decay and the trust ratio (SimCLR's `exclude_from_weight_decay` / `exclude_from_layer_adaptation`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from mocobench.runtime.step_options import StepOptions


class LARS(Optimizer):
    """Momentum SGD with a layer-wise trust ratio; groups with `lars_exclude: True` get plain momentum SGD."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        eta: float = 0.001,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "eta": eta,
            "lars_exclude": False,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if not group["lars_exclude"]:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(g)
                    # Trust ratio 1 when either norm is 0 (e.g. a zero-initialised weight), as in SimCLR.
                    ok = (w_norm > 0) & (g_norm > 0)
                    trust = torch.where(ok, group["eta"] * w_norm / g_norm, torch.ones_like(w_norm))
                    g = g * trust
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(g, alpha=group["lr"])
                p.sub_(buf)
        return loss


def lars_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Split trainable parameters: weights get LARS and weight decay; 1-D ones (biases, BN) are excluded."""
    regular = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    excluded = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": regular, "weight_decay": weight_decay, "lars_exclude": False},
        {"params": excluded, "weight_decay": 0.0, "lars_exclude": True},
    ]
    return [g for g in groups if g["params"]]


def sgd(
    params: Any, lr: float, momentum: float, weight_decay: float, options: StepOptions
) -> torch.optim.SGD:
    """The paper's SGD; `fused` selects PyTorch's single-kernel implementation (same update)."""
    return torch.optim.SGD(
        params, lr, momentum=momentum, weight_decay=weight_decay, fused=True if options.fused else None
    )


def trainable(model: nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]
