"""Checkpoints in the official MoCo layout, written atomically.

`{"epoch", "arch", "state_dict", "optimizer"}` with `state_dict` keys as a DistributedDataParallel-wrapped
model saves them (`module.encoder_q.*`, `module.encoder_k.*`, `module.queue`, ...), so the official
`main_lincls.py` and detection converter read ours, and we read theirs. Extra keys live under "mocobench".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mocobench.errors import UsageError
from mocobench.runtime import atomic

LAST = "checkpoint_last.pth.tar"  # written every epoch; the one a run's evaluations and --resume read


def periodic(epoch: int) -> str:
    """The name of a kept checkpoint after `epoch` epochs (the official `checkpoint_{epoch:04d}.pth.tar`)."""
    return f"checkpoint_{epoch:04d}.pth.tar"


def official_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict with the `module.` prefix DDP would add (added here in one process)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return model.state_dict()
    return {f"module.{k}": v for k, v in model.state_dict().items()}


def strip_module(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def save(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, arch: str, extra: dict
) -> Path:
    """Write a checkpoint for the end of `epoch` (1-based count of finished epochs)."""
    state = {
        "epoch": epoch,
        "arch": arch,
        "state_dict": official_state_dict(model),
        "optimizer": optimizer.state_dict(),
        "mocobench": extra,
    }
    return atomic.torch_save(path, state)


def load(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file: say which
        raise UsageError(
            f"cannot read checkpoint {path} ({type(e).__name__}: {e}); pass a valid .pth.tar"
        ) from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UsageError(
            f"{path} is not a MoCo-layout checkpoint (no 'state_dict'); "
            "pass one written by mocobench or the official code"
        )
    return ckpt


def restore(ckpt: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> int:
    """Load model (and optimizer) state; returns the number of finished epochs."""
    target = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    target.load_state_dict(strip_module(ckpt["state_dict"]))
    if optimizer is not None and "optimizer" in ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
    return int(ckpt["epoch"])
