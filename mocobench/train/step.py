"""One optimisation step, as the official `main_moco.py`: zero_grad, backward, step.

The forward and loss are the method's (`methods/`: a two-view model returns `(logits, labels)`, scored in
fp32); the step options (`runtime/step_options.py`) change how the forward runs, not what the step is.
"""

from __future__ import annotations

import torch


def optimise(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None
) -> None:
    """zero_grad, backward, step; through the method's gradient scaler when it has one (fp16)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
