"""Checkpoints in the official MoCo layout, written atomically.

`{"epoch", "arch", "state_dict", "optimizer"}` with `state_dict` keys as a DistributedDataParallel-wrapped
model saves them (`module.encoder_q.*`, `module.encoder_k.*`, `module.queue`, ...), so the official
`main_lincls.py` and detection converter read ours, and we read theirs. Extra keys live under "mocobench".

Checkpoints are data: `read` unpickles with `weights_only=True` (tensors, containers and plain Python values
only; ours and the official releases need nothing more), so a downloaded file cannot run code when loaded. A
file that needs more is refused with one line; `trust=True` (`--trust-checkpoint`) loads it with Python's full
unpickler, which runs whatever code the file carries.
"""

from __future__ import annotations

import pickle
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


TRUST_HINT = "pass --trust-checkpoint only if you trust its source: loading it then runs the code it carries"


def read(path: Path, trust: bool = False) -> Any:
    """The unpickled content of `path`, as data only unless `trust` (see the module docstring)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as e:
        refused = [line.strip() for line in str(e).splitlines() if "GLOBAL" in line]
        if refused and not trust:
            raise UsageError(
                f"{path} holds more than tensors and plain data ({refused[0]}); {TRUST_HINT}"
            ) from e
        raise _unreadable(path, e) from e
    except Exception as e:  # a truncated or foreign file: say which
        raise _unreadable(path, e) from e


def _unreadable(path: Path, e: BaseException) -> UsageError:
    return UsageError(f"cannot read checkpoint {path} ({type(e).__name__}); pass a valid .pth/.pth.tar")


def load(path: Path, trust: bool = False) -> dict[str, Any]:
    """A MoCo-layout checkpoint (`--resume`), read as data unless `trust`."""
    ckpt = read(path, trust)
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
