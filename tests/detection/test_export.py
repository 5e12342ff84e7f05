"""The Detectron2 export renames exactly as the official MoCo converter and keeps every backbone tensor."""

from __future__ import annotations

import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mocobench.cli import main
from mocobench.detection.export import detectron2_name, export_detectron2
from mocobench.errors import UsageError
from mocobench.models.encoders import encoder_builder
from mocobench.models.moco import MoCo


@pytest.mark.parametrize(
    "torchvision_key, detectron2_key",
    [
        ("conv1.weight", "stem.conv1.weight"),
        ("bn1.running_mean", "stem.conv1.norm.running_mean"),
        ("layer1.0.conv2.weight", "res2.0.conv2.weight"),
        ("layer1.0.bn3.bias", "res2.0.conv3.norm.bias"),
        ("layer4.2.bn2.num_batches_tracked", "res5.2.conv2.norm.num_batches_tracked"),
        ("layer2.0.downsample.0.weight", "res3.0.shortcut.weight"),
        ("layer3.0.downsample.1.running_var", "res4.0.shortcut.norm.running_var"),
    ],
)
def test_names(torchvision_key: str, detectron2_key: str):
    assert detectron2_name(torchvision_key) == detectron2_key


def _official_moco(path: Path) -> MoCo:
    torch.manual_seed(0)
    model = MoCo(encoder_builder("resnet50"), dim=16, K=32, m=0.99, T=0.2, mlp=True)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 200, "arch": "resnet50", "state_dict": state}, path)
    return model


def test_official_moco_r50_checkpoint_round_trips(tmp_path: Path, monkeypatch, capsys):
    model = _official_moco(tmp_path / "moco.pth.tar")
    monkeypatch.setattr(
        sys,
        "argv",
        ["mocobench", "export", "detectron2", str(tmp_path / "moco.pth.tar"), str(tmp_path / "moco.pkl")],
    )
    with pytest.raises(SystemExit) as e:
        main()
    assert (e.value.code or 0) == 0
    content = pickle.loads((tmp_path / "moco.pkl").read_bytes())
    assert content["matching_heuristics"] is True
    weights = content["model"]
    backbone = {k: v for k, v in model.encoder_q.state_dict().items() if not k.startswith("fc.")}
    assert len(weights) == len(backbone)  # every backbone tensor, no MLP head, no key encoder, no queue
    assert not any("fc" in k for k in weights)
    for k, v in backbone.items():
        got = weights[detectron2_name(k)]
        assert isinstance(got, np.ndarray) and np.array_equal(got, v.numpy()), k
    assert {"res5.2.conv3.norm.weight", "stem.conv1.weight", "res2.0.shortcut.norm.running_mean"} <= set(
        weights
    )


def test_output_must_be_a_pkl(tmp_path: Path):
    _official_moco(tmp_path / "m.pth.tar")
    with pytest.raises(UsageError, match="pkl"):
        export_detectron2(tmp_path / "m.pth.tar", tmp_path / "m.pth")
    assert not (tmp_path / "m.pth").exists()


CIFAR_REFUSAL = (
    "the CIFAR stem (3x3 stride-1, no max-pool) has no Detectron2 counterpart; VOC detection needs an "
    "ImageNet-stem encoder (--set stem=imagenet)"
)


def cifar_stem_file(path: Path) -> Path:
    """An official-layout MoCo ResNet-18 checkpoint with the CIFAR stem (no config: conv1 tells)."""
    torch.manual_seed(0)
    model = MoCo(encoder_builder("resnet18", 1, "cifar"), dim=16, K=32, m=0.99, T=0.2, mlp=True)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 200, "arch": "resnet18", "state_dict": state}, path)
    return path


def test_a_cifar_stem_checkpoint_is_refused_in_one_line_with_exit_2(tmp_path: Path, cli):
    source = cifar_stem_file(tmp_path / "cifar.pth.tar")
    code, _, err = cli("export", "detectron2", str(source), str(tmp_path / "cifar.pkl"))
    assert code == 2 and err.count("\n") == 1 and CIFAR_REFUSAL in err
    assert not (tmp_path / "cifar.pkl").exists()
    with pytest.raises(UsageError, match=re.escape(CIFAR_REFUSAL)):
        export_detectron2(source, tmp_path / "cifar.pkl")
