"""Checkpoints: the official MoCo layout, atomic writes, clear errors on foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from mocobench.errors import UsageError
from mocobench.models.moco import MoCo
from mocobench.runtime import checkpoint


def _moco() -> MoCo:
    return MoCo(torchvision.models.resnet18, dim=16, K=32, mlp=True)


def test_layout_is_the_official_one(tmp_path: Path):
    model = _moco()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = checkpoint.save(tmp_path / "c.pth.tar", model, opt, epoch=3, arch="resnet18", extra={"seed": 1})
    ckpt = torch.load(path, weights_only=False)
    assert {"epoch", "arch", "state_dict", "optimizer"} <= set(ckpt) and ckpt["epoch"] == 3
    keys = set(ckpt["state_dict"])
    assert "module.queue" in keys and "module.queue_ptr" in keys
    assert "module.encoder_q.conv1.weight" in keys and "module.encoder_k.fc.2.weight" in keys
    assert all(k.startswith("module.") for k in keys)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth.tar"]  # no temporary file left


def test_official_checkpoint_restores_into_our_model(tmp_path: Path):
    source = _moco()
    with torch.no_grad():
        source.queue.mul_(2)
        source.queue_ptr.fill_(7)
    official = {
        "epoch": 200,
        "arch": "resnet18",
        "state_dict": {f"module.{k}": v for k, v in source.state_dict().items()},
    }
    torch.save(official, tmp_path / "official.pth.tar")
    target = _moco()
    assert checkpoint.restore(checkpoint.load(tmp_path / "official.pth.tar"), target) == 200
    assert torch.equal(target.queue, source.queue) and int(target.queue_ptr) == 7
    assert torch.equal(target.encoder_q.conv1.weight, source.encoder_q.conv1.weight)


def test_foreign_files_are_rejected(tmp_path: Path):
    (tmp_path / "junk.pth.tar").write_bytes(b"\x00\x01junk")
    with pytest.raises(UsageError, match="cannot read checkpoint"):
        checkpoint.load(tmp_path / "junk.pth.tar")
    torch.save({"model": 1}, tmp_path / "other.pth")
    with pytest.raises(UsageError, match="no 'state_dict'"):
        checkpoint.load(tmp_path / "other.pth")


def test_our_checkpoints_and_the_official_layout_are_plain_data(tmp_path: Path):
    from mocobench.methods.optim import LARS, lars_param_groups

    model = _moco()
    opt = LARS(lars_param_groups(model, 1e-6), lr=0.3)
    model.encoder_q(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()  # momentum buffers in the optimizer state
    extra = {"config": {"lr": 0.3, "schedule": [120, 160], "paper_rows": [{"table": 1, "row": "(d)"}]}}
    path = checkpoint.save(tmp_path / "ours.pth.tar", model, opt, 1, "resnet18", extra)
    assert checkpoint.read(path)["mocobench"] == extra  # read with weights_only=True, nothing allow-listed


def test_a_checkpoint_that_would_run_code_is_refused_unless_trusted(tmp_path: Path):
    from checkpoints import hostile_file

    marker = tmp_path / "ran"
    path = hostile_file(tmp_path / "moco_v2_800ep_pretrain.pth.tar", marker)
    for read in (checkpoint.read, checkpoint.load):
        with pytest.raises(UsageError, match=r"holds more than tensors and plain data .*--trust-checkpoint"):
            read(path)
    assert not marker.exists()
    checkpoint.read(path, trust=True)  # documented: trusting the file runs its code
    assert marker.exists()
