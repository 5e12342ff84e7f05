"""The one training loop: pre-training and both linear protocols run their epochs through `train_epoch`.

It owns what every protocol does alike, as the official `main_moco.py` / `main_lincls.py` `train()` do: the
lr (set per epoch, or per step where the recipe says so), the progress bar, the loss and accuracy totals
(summed over the processes), the finite-loss check, and the step itself (`optimise`). What differs is the
`step` the caller passes: its forward and loss (a method's `Trainable.forward`, or the frozen backbone and
its linear classifier).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import torch

from mocobench.runtime import distributed
from mocobench.runtime.progress import TrainProgress
from mocobench.runtime.schedule import set_lr

# (step index, batch) -> (loss, correct predictions, examples) of this process's share of the batch
Step = Callable[[int, Any], tuple[torch.Tensor, float, int]]


def optimise(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None
) -> None:
    """zero_grad, backward, step; through a gradient scaler where the method has one (fp16)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def train_epoch(
    batches: Iterable[Any],
    steps: int,
    step: Step,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    lr_at: Callable[[float], float],
    lr_per_step: bool,
    progress: TrainProgress,
    diverged: Callable[[float, int, int], str],
    scaler: torch.amp.GradScaler | None = None,
    on_step: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """One epoch of `steps` steps; the epoch's record over every process: mean loss and accuracy (%) per
    example, the last lr, images/s and seconds.

    `lr_at(epochs done, fractional)` is the schedule; `on_step` a method's per-step hook (MoCo v3's
    momentum); a non-finite loss raises RuntimeError(`diverged(loss, epoch, step)`).
    """
    set_lr(optimizer, lr_at(epoch))
    progress.start_epoch(epoch, steps)
    totals = torch.zeros(3, dtype=torch.float64)  # loss x examples, correct, examples
    world = distributed.get_world_size()
    t0 = time.perf_counter()
    for i, batch in enumerate(batches):
        if lr_per_step:
            set_lr(optimizer, lr_at(epoch + i / steps))
        if on_step is not None:
            on_step(epoch + i / steps)
        loss, correct, n = step(i, batch)
        if not torch.isfinite(loss):
            raise RuntimeError(diverged(loss.item(), epoch, i))
        optimise(loss, optimizer, scaler)
        totals += torch.tensor([loss.item() * n, correct, n], dtype=torch.float64)
        progress.step(
            loss.item(),
            optimizer.param_groups[0]["lr"],
            float(totals[2]) * world / (time.perf_counter() - t0),
        )
    seconds = time.perf_counter() - t0
    totals = distributed.all_reduce_sum(totals)
    return {
        "loss": float(totals[0] / totals[2]),
        "acc": float(100.0 * totals[1] / totals[2]),
        "lr": optimizer.param_groups[0]["lr"],
        "images_per_s": float(totals[2]) / seconds,
        "epoch_seconds": seconds,
    }
