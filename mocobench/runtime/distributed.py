"""torch.distributed helpers that also work in a plain single process.

Every helper degrades to the identity (rank 0 of 1) when no process group is initialised, so the models and
the trainer are written once and run unchanged under `torchrun` or `python`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from mocobench.errors import UsageError

T = TypeVar("T")


@dataclass
class DistInfo:
    """Where this process sits in the job; `device` is the one its tensors and model live on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @classmethod
    def single(cls, device: torch.device) -> DistInfo:
        """One process on `device`, no process group (evaluations and benchmarks)."""
        return cls(0, 1, 0, device, None)

    @classmethod
    def current(cls, device: torch.device) -> DistInfo:
        """This process in the job already joined (`init_distributed`), or one process if none was."""
        if not is_dist():
            return cls.single(device)
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        return cls(dist.get_rank(), dist.get_world_size(), local_rank, device, dist.get_backend())

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} requested but CUDA is not available; use --device cpu")
        if dev.index is None:
            # One GPU per process, as torchrun launches it: the process's GPU is its local rank.
            dev = torch.device("cuda", local_rank)
    return dev


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun job described by the environment, or describe a single process.

    NCCL for CUDA, gloo for CPU (gloo lets the multi-process path be tested without GPUs). Calling it again
    after the group exists returns the same description instead of initialising twice.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if is_dist():
        dev = resolve_device(device, local_rank)
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, dist.get_backend())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(0, 1, 0, resolve_device(device, 0), None)
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise UsageError(
            f"WORLD_SIZE={world_size} is set but {', '.join(missing)} is not; "
            "launch multi-process runs with torchrun"
        )
    dev = resolve_device(device, local_rank)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    rank = int(os.environ["RANK"])
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, dev, backend)


@torch.no_grad()
def concat_all_gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate `t` from every rank along dim 0, without gradient (as the official MoCo code).

    Every rank must pass the same shape (the trainer drops the last incomplete batch).
    """
    if get_world_size() == 1:
        return t.detach()
    out = [torch.empty_like(t) for _ in range(get_world_size())]
    dist.all_gather(out, t.contiguous())
    return torch.cat(out, dim=0)


class _AllGatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:
        out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(out, t.contiguous())
        return torch.cat(out, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        # Every rank's loss depends on this rank's slice: its gradient is the sum over ranks.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        n = grad.shape[0] // dist.get_world_size()
        rank = dist.get_rank()
        return grad[rank * n : (rank + 1) * n]


def all_gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Concatenate `t` from every rank along dim 0; the gradient flows back to each rank's own part.

    With DDP's gradient averaging, a per-rank mean loss over the gathered tensor then has the gradient of
    the global mean loss (the end-to-end / SimCLR mechanism needs this for its negatives).
    """
    if get_world_size() == 1:
        return t
    return _AllGatherWithGrad.apply(t)


class _AllReduceWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:
        t = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


def all_reduce_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over ranks, differentiably (the gradient of a sum is the sum of every rank's gradient)."""
    if get_world_size() == 1:
        return t
    return _AllReduceWithGrad.apply(t)


@torch.no_grad()
def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of `t` over ranks (for logging a loss or an accuracy that every rank computed on its part)."""
    if get_world_size() == 1:
        return t.detach().clone()
    t = t.detach().clone()
    dist.all_reduce(t)
    return t / get_world_size()


@torch.no_grad()
def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of `t` over ranks (counts that each rank took on its shard: hits, images, losses).

    NCCL reduces only CUDA tensors, so a CPU tensor makes the trip through this process's GPU and back.
    """
    if get_world_size() == 1:
        return t.detach().clone()
    home = t.device
    on = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else home
    out = t.detach().to(on, copy=True)
    dist.all_reduce(out)
    return out.to(home)


def broadcast_object(obj: T, src: int = 0) -> T:
    """Send a picklable object from `src` to every rank (e.g. a run folder chosen by rank 0)."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    if is_dist():
        dist.destroy_process_group()
