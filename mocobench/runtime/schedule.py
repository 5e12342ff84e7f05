"""Learning-rate schedules of MoCo (step, cosine; official `adjust_learning_rate`) and SimCLR (warm-up).

MoCo recipes call `learning_rate` once per epoch with an integer epoch and no warm-up (PAPER.md:
"per epoch, no warm-up"); SimCLR recipes call it every step with a fractional epoch and a warm-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch

REF_BATCH = 256  # PAPER.md: lr 0.03 is for batch 256, scaled linearly with batch size.


def learning_rate(
    base_lr: float,
    epoch: float,
    epochs: int,
    cos: bool,
    schedule: Sequence[int],
    warmup_epochs: float = 0,
) -> float:
    """Learning rate at `epoch` (0-based, may be fractional) of an `epochs`-long run.

    Cosine: base_lr * 0.5 * (1 + cos(pi * epoch / epochs)) (PAPER.md, MoCo v2 "cos"). Step: x0.1 for each
    milestone in `schedule` that `epoch` has reached (PAPER.md: x0.1 at 120 and 160 of 200). With
    `warmup_epochs` > 0 (SimCLR only) the rate ramps linearly from 0 to the schedule's value over the
    warm-up, and cosine decays over the epochs after it, as SimCLR's code does.
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f"warmup_epochs must be in [0, epochs), got {warmup_epochs} for {epochs} epochs")
    if cos:
        progress = max(epoch - warmup_epochs, 0.0) / (epochs - warmup_epochs)
        lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        lr = base_lr * 0.1 ** sum(1 for milestone in schedule if epoch >= milestone)
    if epoch < warmup_epochs:
        lr *= epoch / warmup_epochs  # SimCLR: lr = step / warmup_steps * lr during warm-up.
    return lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set `lr` on every parameter group (as the official code: one rate for the whole model)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def scale_milestones(schedule: Sequence[int], epochs_from: int, epochs_to: int) -> list[int]:
    """Map step milestones of an `epochs_from` run onto an `epochs_to` run, keeping their fraction.

    E.g. [120, 160] of 200 -> [6, 8] of 10. Rounds half up, then keeps the milestones strictly increasing
    within [1, epochs_to - 1] (a milestone at 0 would skip the base rate, one at epochs_to would never
    fire). When the run is too short to hold them all distinct, they are clamped into that range and
    may repeat, so the final rate still drops by the full 0.1 ** len(schedule).
    """
    if epochs_from <= 0 or epochs_to <= 0:
        raise ValueError(f"epoch counts must be positive, got {epochs_from} -> {epochs_to}")
    if any(b <= a for a, b in pairwise(schedule)):
        raise ValueError(f"milestones must be strictly increasing, got {list(schedule)}")
    scaled = [math.floor(m * epochs_to / epochs_from + 0.5) for m in schedule]
    n, last = len(scaled), max(epochs_to - 1, 1)
    if n > last:  # Too few epochs for distinct milestones: clamp, keep order.
        return [min(max(m, 1), last) for m in scaled]
    out: list[int] = []
    for i, m in enumerate(scaled):
        # Milestone i needs i slots before it and n - 1 - i after it.
        m = min(max(m, i + 1), last - (n - 1 - i))
        if out:
            m = max(m, out[-1] + 1)
        out.append(m)
    return out


def linear_scaled_lr(lr_ref: float, batch: int, batch_ref: int = REF_BATCH) -> float:
    """Linear scaling rule (PAPER.md: lr 0.03 for batch 256, 0.015 for 128)."""
    if batch <= 0 or batch_ref <= 0:
        raise ValueError(f"batch sizes must be positive, got {batch} and {batch_ref}")
    return lr_ref * batch / batch_ref
