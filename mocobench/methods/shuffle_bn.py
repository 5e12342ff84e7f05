"""MoCo's shuffle BN settings, shared by MoCo and its end-to-end mechanism (MoCo paper sec. 3.3).

The recipe fixes the images per BN group (`bn_group`, the paper's 32 = 256 / 8 GPUs); one process with N
groups is N GPUs with one each (`models/batchnorm.py::split_bn`), so any world size works whose
per-process batch is a multiple of it.
"""

from __future__ import annotations

from mocobench.config.settings import RunConfig
from mocobench.errors import UsageError


def validate(config: RunConfig, mechanism: str) -> None:
    if config.optim.batch_size % config.method.bn_group:
        raise UsageError(
            f"batch_size {config.optim.batch_size} is not a multiple of bn_group {config.method.bn_group} "
            "(images per shuffle-BN group); change one of them with --set"
        )
    if config.method.sync_bn:
        raise UsageError(
            f"sync_bn is the SimCLR rows' global BN; mechanism {mechanism!r} uses MoCo's "
            "shuffle BN (bn_group images per group); drop --set sync_bn=true"
        )


def splits_per_process(config: RunConfig, world_size: int) -> int:
    """Shuffle-BN groups in each process's batch."""
    batch, group, lr = config.optim.batch_size, config.method.bn_group, config.optim.lr
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


def numbers(config: RunConfig) -> dict[str, int]:
    """Shuffle BN's figures for `recipes show --json`: images per group, groups in the global batch."""
    batch, group = int(config.optim.batch_size), int(config.method.bn_group)
    return {"bn_group": group, "bn_groups": batch // group}


def fact(config: RunConfig) -> tuple[str, str]:
    n = numbers(config)
    return (
        "shuffle BN",
        f"{n['bn_groups']} groups of {n['bn_group']} images (paper: groups of 32, 8 at batch 256)",
    )
