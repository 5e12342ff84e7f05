"""A 2-process DDP run (gloo, CPU) and a 1-process run on the whole batch must train identically.

MoCo and MoCo's end-to-end: the single process emulates the 2 GPUs' shuffle BN with split_bn(2) (and 4
groups with split_bn(4) against split_bn(2) in each process). SimCLR: global BN on both sides
(GlobalBatchNorm across the 2 processes, plain BatchNorm over the whole batch in one).
"""

import dataclasses
import functools
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from launch import free_port
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mocobench.methods.optim import LARS, lars_param_groups
from mocobench.models.batchnorm import GlobalBatchNorm, split_bn, sync_batchnorm
from mocobench.models.end_to_end import EndToEnd, SimCLR
from mocobench.models.moco import MoCo
from mocobench.runtime.distributed import (
    all_reduce_mean,
    barrier,
    broadcast_object,
    cleanup,
    concat_all_gather,
    init_distributed,
)

WORLD = 2
N_GLOBAL = 8
STEPS = 3
K = 20  # not a multiple of 8: the third enqueue wraps around


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 8, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)
        self.bn1 = norm_layer(6)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1, bias=False)
        self.bn2 = norm_layer(8)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.fc(F.relu(self.bn2(self.conv2(x))).mean(dim=(2, 3)))


def _batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randn(N_GLOBAL, 3, 8, 8, generator=g), torch.randn(N_GLOBAL, 3, 8, 8, generator=g) + 0.5)
        for _ in range(STEPS)
    ]


def _moco(splits: int) -> MoCo:
    torch.manual_seed(0)
    encoder = functools.partial(TinyNet, norm_layer=split_bn(splits))
    return MoCo(encoder, dim=8, K=K, m=0.9, T=0.2, mlp=True)


def _end_to_end(splits: int) -> EndToEnd:
    torch.manual_seed(0)
    return EndToEnd(functools.partial(TinyNet, norm_layer=split_bn(splits)), dim=8, T=0.2, mlp=True)


def _simclr() -> SimCLR:
    torch.manual_seed(0)
    # No head: SimCLR's (BN1d, LARS at lr 2) drifts 2e-5 from one process in fp32 after one step.
    return SimCLR(TinyNet, dim=8, T=0.1, mlp=False)


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, rank: int, world: int) -> dict:
    """STEPS of forward / cross-entropy / backward / step on this rank's contiguous share of each batch."""
    n = N_GLOBAL // world
    losses, logits_seen = [], []
    for im_q, im_k in _batches():
        logits, labels = model(im_q[rank * n : (rank + 1) * n], im_k[rank * n : (rank + 1) * n])
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        logits_seen.append(logits.detach().clone())
    return {"losses": losses, "logits": logits_seen}


def _run(kind: str, rank: int, world: int) -> dict:
    """One training run; `world` > 1 means this process is one rank of a DDP job."""
    splits_per_process = {"moco": 2 // world, "moco_split": 4 // world}
    splits_per_process.update({f"end_to_end{k[4:]}": v for k, v in splits_per_process.items()})
    if kind in splits_per_process:
        build = _moco if kind.startswith("moco") else _end_to_end
        module = build(splits_per_process[kind])
        model = DistributedDataParallel(module) if world > 1 else module
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)
    else:
        module = sync_batchnorm(_simclr())
        model = DistributedDataParallel(module) if world > 1 else module
        optimizer = LARS(lars_param_groups(module, 1e-6), lr=2.0)
    result = _train(model, optimizer, rank, world)
    result["state"] = {k: v.clone() for k, v in module.state_dict().items()}
    result["bn_types"] = sorted(
        {type(m).__name__ for m in module.modules() if "BatchNorm" in type(m).__name__}
    )
    return result


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    # What torchrun would set; init_distributed must join the job from it (gloo on CPU).
    env = {
        "WORLD_SIZE": WORLD,
        "RANK": rank,
        "LOCAL_RANK": rank,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
    }
    os.environ.update({k: str(v) for k, v in env.items()})
    info = init_distributed("cpu")
    try:
        results = {kind: _run(kind, rank, WORLD) for kind in KINDS}
        results["dist"] = {
            "info": dataclasses.astuple(info),
            "again": init_distributed("cpu") == info,
            "broadcast": broadcast_object(f"from rank {rank}"),
            "mean_rank": all_reduce_mean(torch.tensor(float(rank))).item(),
            "gathered": concat_all_gather(torch.tensor([rank])).tolist(),
        }
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        barrier()
    finally:
        cleanup()


KINDS = ("moco", "moco_split", "end_to_end", "end_to_end_split", "simclr")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[list[dict], dict]:
    """(per-rank results of the DDP job, single-process results), for every kind of run."""
    out = tmp_path_factory.mktemp("ddp")
    context = mp.spawn(_worker, args=(free_port(), str(out)), nprocs=WORLD, join=False)
    single = {kind: _run(kind, rank=0, world=1) for kind in KINDS}  # while the workers start up
    while not context.join():
        pass
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)], single


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["moco", "moco_split"])
def test_moco_ddp_equals_single_process_with_split_bn(runs, kind):
    ddp, single = runs
    ref = single[kind]
    n = N_GLOBAL // WORLD
    for step in range(STEPS):
        # Each rank's logits are its rows of the single-process logits (same keys, same queue).
        for rank in range(WORLD):
            _close(ddp[rank][kind]["logits"][step], ref["logits"][step][rank * n : (rank + 1) * n])
        mean_loss = sum(ddp[rank][kind]["losses"][step] for rank in range(WORLD)) / WORLD
        assert mean_loss == pytest.approx(ref["losses"][step], abs=1e-5)
    state = ddp[0][kind]["state"]
    assert state["queue_ptr"].tolist() == ref["state"]["queue_ptr"].tolist() == [(STEPS * N_GLOBAL) % K]
    _close(state["queue"], ref["state"]["queue"])
    _close(ddp[1][kind]["state"]["queue"], ref["state"]["queue"])
    params = [k for k in ref["state"] if k.startswith(("encoder_q.", "encoder_k.")) and "running_" not in k]
    assert "encoder_q.conv1.weight" in params and "encoder_q.fc.2.weight" in params
    for key in params:
        _close(state[key], ref["state"][key])
    # Training really moved the weights (the comparison above is not between two untouched models).
    assert not torch.allclose(ref["state"]["encoder_q.conv1.weight"], _moco(1).encoder_q.conv1.weight)


@pytest.mark.parametrize("kind", ["end_to_end", "end_to_end_split"])
def test_end_to_end_ddp_equals_single_process_with_split_bn(runs, kind):
    """MoCo's end-to-end: each rank's n queries against the N keys of the global batch, keys shuffled across
    the ranks' BN groups and gathered with their gradient, train as one process with the same BN groups."""
    ddp, single = runs
    ref = single[kind]
    n = N_GLOBAL // WORLD
    assert ddp[0][kind]["bn_types"] == ["BatchNorm2d" if kind == "end_to_end" else "SplitBatchNorm2d"]
    assert ref["bn_types"] == ["SplitBatchNorm2d"]
    for step in range(STEPS):
        for rank in range(WORLD):
            assert ddp[rank][kind]["logits"][step].shape == (n, N_GLOBAL)
            _close(ddp[rank][kind]["logits"][step], ref["logits"][step][rank * n : (rank + 1) * n])
        mean_loss = sum(ddp[rank][kind]["losses"][step] for rank in range(WORLD)) / WORLD
        assert mean_loss == pytest.approx(ref["losses"][step], abs=1e-5)
    # Parameters (each rank keeps its own BN running statistics, as MoCo's GPUs do).
    params = [k for k in ref["state"] if "running_" not in k and "num_batches" not in k]
    assert "encoder.conv1.weight" in params and "encoder.fc.2.weight" in params
    for key in params:
        _close(ddp[0][kind]["state"][key], ref["state"][key])
        _close(ddp[1][kind]["state"][key], ref["state"][key])
    assert not torch.allclose(ref["state"]["encoder.conv1.weight"], _end_to_end(1).encoder.conv1.weight)


def test_simclr_ddp_with_global_bn_equals_single_process(runs):
    ddp, single = runs
    assert ddp[0]["simclr"]["bn_types"] == [GlobalBatchNorm.__name__]
    ref = single["simclr"]
    assert ref["bn_types"] == ["BatchNorm2d"]
    n = N_GLOBAL // WORLD
    for step in range(STEPS):
        for rank in range(WORLD):
            rows = list(range(rank * n, (rank + 1) * n)) + list(
                range(N_GLOBAL + rank * n, N_GLOBAL + (rank + 1) * n)
            )
            _close(ddp[rank]["simclr"]["logits"][step], ref["logits"][step][rows])
        mean_loss = sum(ddp[rank]["simclr"]["losses"][step] for rank in range(WORLD)) / WORLD
        assert mean_loss == pytest.approx(ref["losses"][step], abs=1e-5)
    # Parameters and global-BN running statistics alike.
    for key, value in ref["state"].items():
        _close(ddp[0]["simclr"]["state"][key], value)
        _close(ddp[1]["simclr"]["state"][key], value)
    assert not torch.allclose(ref["state"]["encoder.conv1.weight"], _simclr().encoder.conv1.weight)


def test_workers_joined_through_init_distributed(runs):
    ddp, _ = runs
    for rank in range(WORLD):
        record = ddp[rank]["dist"]
        assert record["info"] == (rank, WORLD, rank, torch.device("cpu"), "gloo")
        assert record["again"]
        assert record["broadcast"] == "from rank 0"
        assert record["mean_rank"] == pytest.approx(0.5)
        assert record["gathered"] == [0, 1]
