"""Every checkpoint format reduces to the same torchvision backbone weights (no fc, no MLP head)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from checkpoints import moco_model, official_moco_file, torchvision_file, write_run

from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import backbone_state, infer_arch, infer_stem, load_pretrained
from mocobench.models.encoders import encoder_builder
from mocobench.models.end_to_end import EndToEnd
from mocobench.models.moco import MoCo
from mocobench.runtime import checkpoint


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
    assert p.run_config.run.recipe == "mlp+aug+cos"
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


def _cifar_moco() -> MoCo:
    torch.manual_seed(0)
    return MoCo(encoder_builder("resnet18", 2, "cifar"), dim=16, K=32, m=0.99, T=0.2, mlp=True)


def _save_ours(path: Path, model: torch.nn.Module, config: dict) -> Path:
    """A checkpoint as `pretrain` writes it: the resolved config under "mocobench"."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return checkpoint.save(path, model, opt, 2, "resnet18", {"config": config, "seed": 0})


def test_a_cifar_stem_run_loads_with_its_stem_and_fits_that_backbone_strictly(tmp_path: Path):
    model = _cifar_moco()
    run = write_run(tmp_path / "run", model)
    config = {**json.loads((run / "config.json").read_text()), "stem": "cifar"}
    (run / "config.json").write_text(json.dumps(config))
    _save_ours(run / checkpoint.LAST, model, config)
    p = load_pretrained(run)
    assert (p.stem, p.arch, p.source) == ("cifar", "resnet18", "mocobench checkpoint")
    _same_backbone(p.state, model.encoder_q)
    net = encoder_builder(p.arch, stem=p.stem)(num_classes=10)  # what linear evaluation builds
    missing, unexpected = net.load_state_dict(p.state, strict=False)
    assert set(missing) == {"fc.weight", "fc.bias"} and not unexpected
    assert isinstance(net.maxpool, torch.nn.Identity)
    with pytest.raises(RuntimeError, match=r"conv1\.weight"):  # torchvision's own stem cannot take it
        torchvision.models.resnet18(num_classes=10).load_state_dict(p.state, strict=False)


def test_a_checkpoint_file_outside_its_run_speaks_for_its_stem(tmp_path: Path):
    path = _save_ours(tmp_path / "checkpoint_0002.pth.tar", _cifar_moco(), {"stem": "cifar"})
    p = load_pretrained(path)
    assert p.run_dir is None and p.stem == "cifar"


def test_external_checkpoints_take_the_stem_of_their_conv1(tmp_path: Path):
    torch.manual_seed(0)
    tv = encoder_builder("resnet18", stem="cifar")(num_classes=10)
    torch.save(tv.state_dict(), tmp_path / "r18-cifar.pth")  # no arch, no config: shapes tell both
    p = load_pretrained(tmp_path / "r18-cifar.pth")
    assert (p.stem, p.arch, p.source) == ("cifar", "resnet18", "ResNet state_dict")
    _same_backbone(p.state, tv)
    assert infer_stem(p.state) == "cifar" and infer_arch(p.state, "cifar") == "resnet18"
    model = _cifar_moco()  # the official main_moco.py layout, arch given
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 200, "arch": "resnet18", "state_dict": state}, tmp_path / "moco-cifar.pth.tar")
    assert load_pretrained(tmp_path / "moco-cifar.pth.tar").stem == "cifar"
    path, _ = official_moco_file(tmp_path / "moco.pth.tar")
    assert load_pretrained(path).stem == "imagenet"


def test_a_config_without_stem_reads_as_imagenet(tmp_path: Path):
    path = _save_ours(tmp_path / "old.pth.tar", moco_model(), {"arch": "resnet18"})  # before the setting
    assert load_pretrained(path).stem == "imagenet"


def test_a_conv1_that_contradicts_the_stated_stem_is_refused_in_one_line(tmp_path: Path):
    bad = _save_ours(tmp_path / "bad.pth.tar", _cifar_moco(), {"stem": "imagenet"})
    with pytest.raises(UsageError, match=r"stem=imagenet does not fit its 3x3 conv1 \(the cifar stem\)") as e:
        load_pretrained(bad)
    assert "\n" not in str(e.value)
    old = _save_ours(tmp_path / "old.pth.tar", _cifar_moco(), {"arch": "resnet18"})  # no stem: imagenet
    with pytest.raises(UsageError, match="stem=imagenet does not fit"):
        load_pretrained(old)
    path, _ = official_moco_file(tmp_path / "moco.pth.tar")
    with pytest.raises(UsageError, match=r"stem=cifar does not fit its 7x7 conv1 \(the imagenet stem\)"):
        load_pretrained(path, stem="cifar")
    assert load_pretrained(path, stem="imagenet").stem == "imagenet"
    state = {k: v for k, v in torchvision.models.resnet18().state_dict().items() if not k.startswith("fc.")}
    state["conv1.weight"] = torch.zeros(64, 3, 5, 5)
    with pytest.raises(UsageError, match=r"fits no ResNet stem \(7x7 imagenet, 3x3 cifar\)"):
        infer_stem(state)


def test_pretraining_with_the_cifar_stem_records_it_in_the_checkpoint(tiny_data: Path, tmp_path: Path):
    from mocobench.config.recipes import resolve
    from mocobench.train.pretrain import pretrain

    tiny = ["image_size=16", "batch_size=8", "bn_group=4", "moco_k=64", "workers=0", "stem=cifar"]
    run = tmp_path / "run"
    pretrain(resolve("mlp+aug+cos", "smoke", tiny), run, data=tiny_data, show_progress=False)
    ckpt = checkpoint.read(run / checkpoint.LAST)
    assert ckpt["mocobench"]["config"]["stem"] == "cifar"
    assert ckpt["state_dict"]["module.encoder_k.conv1.weight"].shape == (64, 3, 3, 3)
    p = load_pretrained(run)
    assert p.stem == "cifar" and p.state["conv1.weight"].shape == (64, 3, 3, 3)
