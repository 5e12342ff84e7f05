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
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    arch: str,
    extra: dict,
    scaler: torch.amp.GradScaler | None = None,
) -> Path:
    """Write a checkpoint for the end of `epoch` (1-based count of finished epochs); a method's gradient
    scaler (fp16) goes with the optimizer, so a resumed run scales its next loss as the uncut run does."""
    state = {
        "epoch": epoch,
        "arch": arch,
        "state_dict": official_state_dict(model),
        "optimizer": optimizer.state_dict(),
        "mocobench": extra,
    }
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
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


def restore(
    ckpt: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    path: Path | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> int:
    """Load model (and optimizer) state; returns the number of finished epochs.

    Everything is checked before anything loads (`_refuse_misfit`): a checkpoint of another queue size K,
    arch or recipe is refused in one line naming the first key that differs, never half-loaded.
    """
    target = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    where = f"{path}: " if path is not None else ""
    state = ckpt.get("state_dict")
    epoch = ckpt.get("epoch")
    named = isinstance(state, dict) and all(isinstance(k, str) for k in state)
    if not named or not isinstance(epoch, int) or isinstance(epoch, bool):
        raise UsageError(
            f"{where}cannot resume: not a checkpoint written by mocobench pretrain (no state_dict or epoch); "
            "pass a new --out to start the run afresh"
        )
    state = strip_module(state)
    _refuse_misfit(state, target.state_dict(), where)
    saved = ckpt.get("optimizer") if optimizer is not None else None
    if optimizer is not None and saved is not None:
        _refuse_other_optimizer(saved, optimizer, where)
    scaled = ckpt.get("scaler")
    if scaler is not None and not isinstance(scaled, dict):
        raise UsageError(f"{where}cannot resume: the checkpoint holds no gradient-scaler state; {RESUME_FIX}")
    target.load_state_dict(state)
    if optimizer is not None and saved is not None:
        optimizer.load_state_dict(saved)
    if scaler is not None:
        scaler.load_state_dict(scaled)
    return epoch


RESUME_FIX = (
    "resume with the run's own recipe, --scale, --set and --data (a tier may size K by the data), or "
    "pass a new --out"
)


def _refuse_misfit(state: dict[str, Any], model_state: dict[str, torch.Tensor], where: str) -> None:
    """UsageError naming the first key (in the model's order) the checkpoint lacks, holds in another shape,
    or holds that the model lacks: `load_state_dict` would raise a RuntimeError listing every one of them,
    after copying the tensors that fit."""
    for key, wanted in model_state.items():
        value = state.get(key)
        if value is None:
            problem = f"holds no {key} (this run's model has {tuple(wanted.shape)})"
        elif not torch.is_tensor(value):
            problem = f"holds a {type(value).__name__} as {key}, not a tensor"
        elif value.shape != wanted.shape:
            problem = f"holds {key} of shape {tuple(value.shape)}, this run's model {tuple(wanted.shape)}"
        else:
            continue
        raise UsageError(f"{where}cannot resume: the checkpoint {problem}; {RESUME_FIX}")
    extra = [key for key in state if key not in model_state]
    if extra:
        raise UsageError(
            f"{where}cannot resume: the checkpoint holds {extra[0]}, which this run's model has not "
            f"({len(extra)} such keys); {RESUME_FIX}"
        )


def _refuse_other_optimizer(saved: Any, optimizer: torch.optim.Optimizer, where: str) -> None:
    """UsageError unless the saved optimizer has this one's parameter groups and group sizes, the check
    `Optimizer.load_state_dict` makes with a ValueError (here before the model is loaded)."""
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    ours = [len(g["params"]) for g in optimizer.param_groups]
    if isinstance(groups, list) and all(isinstance(g, dict) for g in groups):
        theirs = [len(g.get("params", ())) for g in groups]
        if theirs == ours:
            return
        held = f"parameter groups of {theirs} tensors"
    else:
        held = "no parameter groups"
    raise UsageError(
        f"{where}cannot resume: the checkpoint's optimizer holds {held}, this run's {ours}; {RESUME_FIX}"
    )


def committed(path: Path) -> tuple[int, list[dict[str, Any]] | None]:
    """The epochs a run's checkpoint commits and the metrics records it carries (None: written before
    checkpoints carried them), read as data and memory-mapped, so listing runs does not load the weights.

    The checkpoint is a run's commit point (train/pretrain.py): a kill after its rename and before
    metrics.jsonl was appended leaves the records here only.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # a foreign, truncated or legacy-format file: say which
        raise _unreadable(path, e) from e
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("epoch"), int):
        raise UsageError(f"{path} holds no epoch count; pass a checkpoint written by mocobench")
    carried = ckpt.get("mocobench", {}).get("metrics") if isinstance(ckpt.get("mocobench"), dict) else None
    return ckpt["epoch"], carried if isinstance(carried, list) else None
