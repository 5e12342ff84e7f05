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
