"""`restore` (--resume) refuses a checkpoint that does not fit the run's model or optimizer in one line
naming the first key that differs, and loads nothing of it (never a half-load)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from mocobench.errors import UsageError
from mocobench.models.moco import MoCo
from mocobench.runtime import checkpoint


def _moco(k: int = 32, arch=torchvision.models.resnet18, seed: int = 0) -> MoCo:
    torch.manual_seed(seed)
    return MoCo(arch, dim=16, K=k, mlp=True)


def _ckpt(model: torch.nn.Module, epoch: int = 3) -> dict:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return {
        "epoch": epoch,
        "arch": "resnet18",
        "state_dict": checkpoint.official_state_dict(model),
        "optimizer": opt.state_dict(),
    }


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _untouched(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_a_queue_of_another_k_is_refused_naming_it_and_nothing_loads():
    model = _moco(k=64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = _snapshot(model)
    with pytest.raises(UsageError) as refusal:
        checkpoint.restore(_ckpt(_moco(k=32, seed=1)), model, opt, path=Path("run/checkpoint_last.pth.tar"))
    message = str(refusal.value)
    assert message.startswith("run/checkpoint_last.pth.tar: cannot resume: the checkpoint holds queue of ")
    assert "shape (16, 32), this run's model (16, 64)" in message and "--out" in message
    assert "\n" not in message
    _untouched(model, before)  # the encoders fit, yet none of them was copied


def test_another_arch_is_refused_naming_the_first_key_that_differs():
    model = _moco(arch=torchvision.models.resnet34)
    before = _snapshot(model)
    with pytest.raises(UsageError, match=r"cannot resume: the checkpoint holds no encoder_q\.layer1\.2\."):
        checkpoint.restore(_ckpt(_moco(arch=torchvision.models.resnet18)), model)
    _untouched(model, before)
    small = _moco(arch=torchvision.models.resnet18)
    with pytest.raises(UsageError, match=r"holds encoder_q\.layer1\.2\.conv1\.weight, which this run's"):
        checkpoint.restore(_ckpt(_moco(arch=torchvision.models.resnet34)), small)


def test_an_optimizer_of_other_parameter_groups_is_refused_before_the_model_loads():
    source = _moco(seed=1)
    ckpt = _ckpt(source)
    ckpt["optimizer"]["param_groups"].append({**ckpt["optimizer"]["param_groups"][0], "params": [999]})
    model = _moco()
    before = _snapshot(model)
    with pytest.raises(UsageError, match=r"optimizer holds parameter groups of \[\d+, 1\] tensors"):
        checkpoint.restore(ckpt, model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    _untouched(model, before)


@pytest.mark.parametrize("broken", [{"state_dict": [1]}, {"epoch": "3"}, {"state_dict": {1: 2}}])
def test_a_checkpoint_without_state_dict_or_epoch_is_refused(broken: dict):
    model = _moco()
    with pytest.raises(UsageError, match="cannot resume: not a checkpoint written by mocobench pretrain"):
        checkpoint.restore({**_ckpt(_moco()), **broken}, model)


def test_a_fitting_checkpoint_still_restores_model_and_optimizer():
    source = _moco(seed=1)
    ckpt = _ckpt(source, epoch=5)
    model = _moco()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    assert checkpoint.restore(ckpt, model, opt) == 5
    for k, v in source.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_a_gradient_scalers_state_is_saved_and_restored_for_an_exact_resume(tmp_path):
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
    loss = model(torch.ones(1, 4)).sum()
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()  # one finite step at growth_interval 1: the scale grows
    path = checkpoint.save(tmp_path / "c.pth.tar", model, optimizer, 1, "x", {}, scaler)
    fresh = torch.amp.GradScaler("cpu", init_scale=1.0)
    ckpt = checkpoint.load(path)
    assert (
        checkpoint.restore(ckpt, nn.Linear(4, 2), torch.optim.SGD(model.parameters(), lr=0.1), scaler=fresh)
        == 1
    )
    assert fresh.state_dict() == scaler.state_dict() and fresh.get_scale() == 2.0**11
    plain = checkpoint.save(tmp_path / "p.pth.tar", model, optimizer, 1, "x", {})
    with pytest.raises(UsageError, match="holds no gradient-scaler state"):
        checkpoint.restore(checkpoint.load(plain), nn.Linear(4, 2), scaler=torch.amp.GradScaler("cpu"))
