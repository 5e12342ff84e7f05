"""The MoCo ROI head (extra norm after res5) and exported weights loaded by Detectron2 itself."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import NaiveSyncBatchNorm
from detectron2.modeling import build_model
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock

from mocobench.detection.cfg import build_cfg
from mocobench.detection.export import detectron2_name, to_detectron2


def _model(arch: str, tmp_path: Path, weights: str = ""):  # type: ignore[no-untyped-def]
    cfg = build_cfg("smoke", arch, weights, ("a",), "b", 5, tmp_path, 0, "cpu")
    return build_model(cfg)


@pytest.mark.parametrize(
    ("arch", "block", "count"), [("resnet18", BasicBlock, 2), ("resnet50", BottleneckBlock, 3)]
)
def test_res5_head_has_the_extra_norm(arch: str, block: type, count: int, tmp_path: Path):
    res5 = _model(arch, tmp_path).roi_heads.res5
    blocks = [m for m in res5 if isinstance(m, block)]
    assert len(blocks) == count and len(res5) == count + 1
    assert isinstance(res5.norm, NaiveSyncBatchNorm)
    assert res5.norm.num_features == (512 if arch == "resnet18" else 2048)


def test_exported_torchvision_weights_land_in_every_backbone_and_res5_tensor(tmp_path: Path):
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        torch.nn.init.normal_(bn.running_mean)  # distinguishable from Detectron2's fresh buffers
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(to_detectron2(state)))
    model = _model("resnet18", tmp_path, str(path))
    DetectionCheckpointer(model).load(str(path))
    loaded = model.state_dict()
    checked = 0
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        name = detectron2_name(key)
        target = f"roi_heads.{name}" if name.startswith("res5") else f"backbone.{name}"
        assert torch.equal(loaded[target], value), key
        checked += 1
    assert checked == len([k for k in state if not k.endswith("num_batches_tracked")])
