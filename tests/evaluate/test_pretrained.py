"""Every checkpoint format reduces to the same torchvision backbone weights (no fc, no MLP head)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from checkpoints import moco_model, official_moco_file, torchvision_file, write_run

from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import backbone_state, infer_arch, load_pretrained
from mocobench.models.encoders import encoder_builder
from mocobench.models.end_to_end import EndToEnd


def _same_backbone(state: dict, module: torch.nn.Module) -> None:
    ref = {k: v for k, v in module.state_dict().items() if not k.startswith("fc.")}
    assert state.keys() == ref.keys()
    for k, v in ref.items():
        assert torch.equal(state[k], v), k


def test_our_run_folder_gives_the_query_encoder_without_the_mlp_head(tmp_path: Path):
    model = moco_model(mlp=True)
    run = write_run(tmp_path / "run", model)
    p = load_pretrained(run)
    assert p.arch == "resnet18" and p.run_dir == run and p.epoch == 2 and p.source == "mocobench checkpoint"
    assert p.run_config["recipe"] == "mlp+aug+cos"
    assert not any(k.startswith("fc.") for k in p.state)  # fc.0 / fc.2 of the MLP head are dropped
    _same_backbone(p.state, model.encoder_q)


def test_official_layout_with_and_without_mlp(tmp_path: Path):
    for mlp in (True, False):
        path, model = official_moco_file(tmp_path / f"moco_{mlp}.pth.tar", mlp)
        p = load_pretrained(path)
        assert p.source == "MoCo checkpoint (official layout)" and p.run_dir is None and p.epoch == 200
        _same_backbone(p.state, model.encoder_q)


def test_query_encoder_is_taken_not_the_key_encoder(tmp_path: Path):
    path, model = official_moco_file(tmp_path / "m.pth.tar")
    with torch.no_grad():
        model.encoder_k.conv1.weight.add_(1.0)  # make q and k differ
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"arch": "resnet18", "state_dict": state}, path)
    p = load_pretrained(path)
    assert torch.equal(p.state["conv1.weight"], model.encoder_q.conv1.weight)


def test_end_to_end_and_supervised_and_bare_torchvision(tmp_path: Path):
    e2e = EndToEnd(encoder_builder("resnet18"), 16, 0.1, True)
    state, prefix = backbone_state({f"module.{k}": v for k, v in e2e.state_dict().items()})
    assert prefix == "module.encoder."
    _same_backbone(state, e2e.encoder)
    path, tv = torchvision_file(tmp_path / "r18.pth", num_classes=10)  # supervised: own fc, dropped
    p = load_pretrained(path)
    assert p.arch == "resnet18" and p.source == "ResNet state_dict"  # arch inferred from shapes
    _same_backbone(p.state, tv)
    sup = {f"module.{k}": v for k, v in tv.state_dict().items()}
    state, prefix = backbone_state(sup)
    assert prefix == "module."
    _same_backbone(state, tv)


def test_infer_arch_tells_resnet18_from_resnet34(tmp_path: Path):
    import torchvision

    with torch.device("meta"):
        r34 = torchvision.models.resnet34()
    state = {k: v for k, v in r34.state_dict().items() if not k.startswith("fc.")}
    assert infer_arch(state) == "resnet34"


def test_bad_inputs_are_one_line_usage_errors(tmp_path: Path):
    with pytest.raises(UsageError, match="does not exist"):
        load_pretrained(tmp_path / "nope")
    (tmp_path / "list.pth").write_bytes(b"")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(UsageError, match="not a checkpoint dict"):
        load_pretrained(tmp_path / "list.pth")
    torch.save({"state_dict": {"head.weight": torch.zeros(2)}}, tmp_path / "x.pth")
    with pytest.raises(UsageError, match="no ResNet weights"):
        load_pretrained(tmp_path / "x.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(UsageError, match="cannot read checkpoint"):
        load_pretrained(tmp_path / "junk.pth")
    unfinished = write_run(tmp_path / "run", moco_model(), finished=False)
    with pytest.raises(UsageError, match=r"unfinished.*--resume"):
        load_pretrained(unfinished)
    # The unfinished run's checkpoint itself can still be evaluated, as a file outside the run.
    p = load_pretrained(unfinished / "checkpoint_last.pth.tar")
    assert p.run_dir is None
    with pytest.raises(UsageError, match="holds no checkpoint_last"):
        load_pretrained(tmp_path)
