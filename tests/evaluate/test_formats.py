"""Checkpoints of other self-supervised tools (evaluate/formats.py): each layout written as its tool writes
it, read back tensor for tensor, detected, forced with --format, refused when partial or when it would run
code.

Each writer names the source its layout was read from (repository, file, commit). Where the tool installs from
PyPI (timm, lightly) the file is written by the tool itself; otherwise from the key lists of that source.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from checkpoints import RunsCommand, moco_model, official_moco_file, write_run
from torch import nn

from mocobench.errors import UsageError
from mocobench.evaluate import formats, linear
from mocobench.evaluate.pretrained import load_pretrained

Tensors = dict[str, torch.Tensor]


def resnet18(seed: int = 0, **kwargs) -> nn.Module:
    """A torchvision ResNet-18 whose every tensor, BN statistics included, is distinct from a fresh one's."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(**kwargs)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point() and "fc" not in name:
                t.copy_(torch.rand_like(t) + 0.5)
            elif name.endswith("num_batches_tracked"):
                t.fill_(seed + 7)
    return model


def backbone_of(model: nn.Module) -> Tensors:
    return {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}


def prefixed(state: Tensors, prefix: str) -> Tensors:
    return {f"{prefix}{k}": v for k, v in state.items()}


def assert_same(got: Tensors, want: Tensors) -> None:
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert torch.equal(got[k], v), k


def lightning_top(state: Tensors, **extra) -> dict:
    """The top level of a PyTorch Lightning checkpoint (`Trainer.save_checkpoint`)."""
    return {
        "epoch": 99,
        "global_step": 1000,
        "pytorch-lightning_version": "2.2.0",
        "state_dict": state,
        "loops": {},
        "callbacks": {},
        "optimizer_states": [],
        "lr_schedulers": [],
        **extra,
    }


# --- one writer per format: (path, the backbone in torchvision names) ------------------------------------


def write_mocobench(tmp: Path) -> tuple[Path, Tensors]:
    model = moco_model()
    run = write_run(tmp / "run", model)
    return run, backbone_of(model.encoder_q)


def write_moco(tmp: Path) -> tuple[Path, Tensors]:
    # facebookresearch/moco main_lincls.py@3631be074a0a14ab85c206631729fe035e54b525: module.encoder_q.*, no fc
    path, model = official_moco_file(tmp / "moco_v2_800ep_pretrain.pth.tar")
    return path, backbone_of(model.encoder_q)


def write_moco_v3(tmp: Path) -> tuple[Path, Tensors]:
    # facebookresearch/moco-v3 moco/builder.py@0c5d00a3d5136367b7bb3b98c2f77765ea6da37e: base_encoder and
    # momentum_encoder with fc replaced by a 2-layer MLP (Linear, BN, ReLU, Linear, BN affine=False), and a
    # predictor; main_lincls.py@c5b2e602ebfe2384b38b9d21b42b37848b9d286a keeps module.base_encoder.* but .fc
    base = resnet18(3)
    base.fc = nn.Sequential(
        nn.Linear(512, 32, bias=False), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 8, bias=False),
        nn.BatchNorm1d(8, affine=False),
    )  # fmt: skip
    momentum = copy.deepcopy(base)
    predictor = nn.Sequential(nn.Linear(8, 32, bias=False), nn.BatchNorm1d(32))
    state = {
        **prefixed(base.state_dict(), "module.base_encoder."),
        **prefixed(momentum.state_dict(), "module.momentum_encoder."),
        **prefixed(predictor.state_dict(), "module.predictor."),
    }
    path = tmp / "r-50-300ep.pth.tar"
    torch.save({"epoch": 300, "arch": "resnet50", "state_dict": state, "optimizer": {}, "scaler": {}}, path)
    return path, backbone_of(base)


def write_solo_learn(tmp: Path) -> tuple[Path, Tensors]:
    # vturrisi/solo-learn solo/methods/base.py@c980e9e3f55342cec67da90045271d2511392562: self.backbone (a
    # torchvision ResNet, fc = nn.Identity()), self.classifier (online linear), self.momentum_backbone, and
    # mocov2plus's projector/queue; main_linear.py@fed7a3b0471bc81a9a8d6cf9a71e09858907d4e1 reads
    # torch.load(ckpt)["state_dict"] and strips "backbone.". Hyper-parameters: the omegaconf cfg.
    omegaconf = pytest.importorskip("omegaconf")
    model = resnet18(4)
    model.fc = nn.Identity()
    projector = nn.Sequential(nn.Linear(512, 32), nn.ReLU(), nn.Linear(32, 16))
    state = {
        **prefixed(model.state_dict(), "backbone."),
        **prefixed(projector.state_dict(), "projector."),
        **prefixed(copy.deepcopy(model).state_dict(), "momentum_backbone."),
        **prefixed(projector.state_dict(), "momentum_projector."),
        "classifier.weight": torch.zeros(10, 512),
        "classifier.bias": torch.zeros(10),
        "queue": torch.randn(2, 16, 64),
    }
    cfg = omegaconf.OmegaConf.create(
        {"method": "mocov2plus", "backbone": {"name": "resnet18"}, "optimizer": {"lr": 0.3, "betas": [0.9]}}
    )
    path = tmp / "mocov2plus-imagenet-ep=999.ckpt"
    top = lightning_top(state, hparams_name="kwargs", hyper_parameters={"cfg": cfg, "seed": np.int64(5)})
    torch.save(top, path)
    return path, backbone_of(model)


def write_lightly_example(tmp: Path) -> tuple[Path, Tensors]:
    # lightly-ai/lightly examples/pytorch_lightning/moco.py@0e4125d0fed29a9a672bc350aef5d696f01c434c:
    # self.backbone = nn.Sequential(*list(resnet.children())[:-1]) -> backbone.0 (conv1) ... backbone.7
    # (layer4); projection_head, backbone_momentum. Trained one step and saved by Lightning itself.
    pl = pytest.importorskip("pytorch_lightning")
    pytest.importorskip("lightly")
    from lightly.loss import NTXentLoss
    from lightly.models.modules import MoCoProjectionHead
    from lightly.models.utils import deactivate_requires_grad, update_momentum

    class MoCo(pl.LightningModule):
        def __init__(self, lr: float = 0.06):
            super().__init__()
            self.save_hyperparameters()
            resnet = resnet18(5)
            self.backbone = nn.Sequential(*list(resnet.children())[:-1])
            self.projection_head = MoCoProjectionHead(512, 32, 16)
            self.backbone_momentum = copy.deepcopy(self.backbone)
            self.projection_head_momentum = copy.deepcopy(self.projection_head)
            deactivate_requires_grad(self.backbone_momentum)
            deactivate_requires_grad(self.projection_head_momentum)
            self.criterion = NTXentLoss(memory_bank_size=(8, 16))

        def training_step(self, batch, batch_idx):
            update_momentum(self.backbone, self.backbone_momentum, m=0.99)
            q = self.projection_head(self.backbone(batch[0]).flatten(1))
            k = self.projection_head_momentum(self.backbone_momentum(batch[0]).flatten(1)).detach()
            return self.criterion(q, k)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    model = MoCo()
    trainer = pl.Trainer(
        max_epochs=1, limit_train_batches=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", default_root_dir=tmp,
    )  # fmt: skip
    data = torch.utils.data.TensorDataset(torch.randn(4, 3, 32, 32))
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=4))
    path = tmp / "lightly-moco.ckpt"
    trainer.save_checkpoint(path)
    want = {formats._sequential(k): v.clone() for k, v in model.backbone.state_dict().items()}
    return path, want


def write_lightly_benchmark(tmp: Path) -> tuple[Path, Tensors]:
    # lightly-ai/lightly benchmarks/imagenet/resnet50/mocov2.py@00283d72a429b1d471e09fc04ad56ed1c35673c2:
    # resnet.fc = Identity(); self.backbone = resnet (torchvision names), projection_head, query_backbone,
    # online_classifier; forward() is self.backbone. Heads built with lightly's own modules.
    pytest.importorskip("lightly")
    from lightly.models.modules import MoCoProjectionHead

    model = resnet18(6)
    model.fc = nn.Identity()
    head = MoCoProjectionHead(512, 32, 16)
    state = {
        **prefixed(model.state_dict(), "backbone."),
        **prefixed(head.state_dict(), "projection_head."),
        **prefixed(copy.deepcopy(model).state_dict(), "query_backbone."),
        **prefixed(head.state_dict(), "query_projection_head."),
        "online_classifier.classification_head.weight": torch.zeros(10, 512),
        "online_classifier.classification_head.bias": torch.zeros(10),
    }
    path = tmp / "lightly-benchmark.ckpt"
    torch.save(lightning_top(state, hyper_parameters={"batch_size_per_device": 256, "num_classes": 10}), path)
    return path, backbone_of(model)


def _fake_mmengine(monkeypatch: pytest.MonkeyPatch) -> type:
    """mmengine's MessageHub as a pickle names it (mmengine.logging.message_hub.MessageHub), sans mmengine."""
    names = ("mmengine", "mmengine.logging", "mmengine.logging.message_hub")
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))

    class MessageHub:
        def __init__(self) -> None:
            self.log_scalars = {"train/lr": [0.03]}
            self.runtime_info = {"epoch": 200, "iter": 1000}

    MessageHub.__module__, MessageHub.__qualname__ = names[-1], "MessageHub"
    sys.modules[names[-1]].MessageHub = MessageHub
    return MessageHub


def write_mmselfsup(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Tensors]:
    # open-mmlab/mmselfsup tools/model_converters/extract_backbone_weights.py
    # @1fcfd4096a685d89d9f752f74ea0a7d34f1e3cad reads ck["state_dict"] and keeps "backbone.*";
    # open-mmlab/mmpretrain mmpretrain/models/backbones/resnet.py@df9eaeedf1f4a7aa39473dfee3e588bf8106c76e
    # names its layers as torchvision (conv1, bn1, layerN.i.convj, bnj, downsample.0/1). mmengine's runner
    # saves meta, state_dict, message_hub, optimizer.
    hub = _fake_mmengine(monkeypatch)
    model = resnet18(7)
    neck = nn.Sequential(nn.Linear(512, 32), nn.ReLU(), nn.Linear(32, 16))
    state = OrderedDict(
        {
            **prefixed(backbone_of(model), "backbone."),
            **prefixed(neck.state_dict(), "neck.mlp."),
            **prefixed(backbone_of(model), "momentum_encoder.module.0."),
            **prefixed(neck.state_dict(), "momentum_encoder.module.1.mlp."),
            "head.queue": torch.randn(16, 64),
            "data_preprocessor.mean": torch.zeros(3, 1, 1),
        }
    )
    meta = {
        "epoch": 200,
        "iter": 1000,
        "seed": np.int64(0),
        "cfg": "model = dict(type='MoCo')",
        "mmengine": "0.7.0",
    }
    path = tmp / "mocov2_resnet18_8xb32-coslr-200e_in1k.pth"
    torch.save({"meta": meta, "state_dict": state, "message_hub": hub(), "optimizer": {}}, path)
    return path, backbone_of(model)


def write_mmselfsup_extracted(tmp: Path) -> tuple[Path, Tensors]:
    # extract_backbone_weights.py (as above): dict(state_dict=<backbone, prefix removed>, author='MMSelfSup')
    model = resnet18(8)
    path = tmp / "mocov2_backbone.pth"
    torch.save({"state_dict": backbone_of(model), "author": "MMSelfSup"}, path)
    return path, backbone_of(model)


def write_vissl(tmp: Path) -> tuple[Path, Tensors]:
    # facebookresearch/vissl vissl/models/trunks/resnext.py@0e611ca89262469d0ecef30c0211b78cca97516f: the
    # trunk is self._feature_blocks = nn.ModuleDict(conv1, bn1, conv1_relu, maxpool, layer1..4, avgpool,
    # flatten);
    # vissl/utils/checkpoint.py@7e8932efa0127c3ceadb66c4bfdaee2fdb8bbb6a: classy_state_dict -> base_model ->
    # model -> trunk / heads.
    model = resnet18(9)
    classy = {
        "base_model": {
            "model": {
                "trunk": prefixed(backbone_of(model), "_feature_blocks."),
                "heads": {"0.clf.0.weight": torch.zeros(128, 512), "0.clf.0.bias": torch.zeros(128)},
            },
            "meta": {},
        },
        "train_phase_idx": 199,
        "loss": {"queue": torch.randn(8, 4), "best_loss": np.float64(3.5)},
    }
    path = tmp / "model_final_checkpoint_phase199.torch"
    torch.save(
        {"classy_state_dict": classy, "phase_idx": 399, "iteration": 5000, "type": "consolidated"}, path
    )
    return path, backbone_of(model)


def write_timm(tmp: Path) -> tuple[Path, Tensors]:
    # huggingface/pytorch-image-models timm/utils/checkpoint_saver.py
    # @bd3516d72390747b404cc70ff37aaf93254b198c: {"epoch", "arch", "state_dict", "optimizer", "version": 2,
    # "args", "metric"}; timm's ResNet names are torchvision's. Written by timm's own CheckpointSaver.
    timm = pytest.importorskip("timm")
    from timm.utils import CheckpointSaver

    torch.manual_seed(10)
    model = timm.create_model("resnet18", num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    args = argparse.Namespace(model="resnet18", lr=0.1)
    (tmp / "timm").mkdir()
    saver = CheckpointSaver(model, optimizer, args=args, checkpoint_dir=str(tmp / "timm"), max_history=1)
    saver.save_checkpoint(epoch=0, metric=1.0)
    return tmp / "timm" / "last.pth.tar", backbone_of(model)


def write_timm_safetensors(tmp: Path) -> tuple[Path, Tensors]:
    # timm's released weights (model.safetensors on the Hub): the bare state_dict, torchvision's names
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(11)
    model = timm.create_model("resnet18")
    path = tmp / "model.safetensors"
    save_file(model.state_dict(), str(path), metadata={"format": "pt"})
    return path, backbone_of(model)


def write_torchvision(tmp: Path) -> tuple[Path, Tensors]:
    model = resnet18(12)
    path = tmp / "resnet18-f37072fd.pth"
    torch.save(model.state_dict(), path)
    return path, backbone_of(model)


WRITERS = {
    "mocobench": ("mocobench", write_mocobench),
    "moco": ("moco", write_moco),
    "moco-v3": ("moco-v3", write_moco_v3),
    "solo-learn": ("solo-learn", write_solo_learn),
    "lightly-example": ("lightly", write_lightly_example),
    "lightly-benchmark": ("lightly", write_lightly_benchmark),
    "mmselfsup": ("mmselfsup", write_mmselfsup),
    "mmselfsup-extracted": ("mmselfsup", write_mmselfsup_extracted),
    "vissl": ("vissl", write_vissl),
    "timm": ("timm", write_timm),
    "timm-safetensors": ("torchvision", write_timm_safetensors),
    "torchvision": ("torchvision", write_torchvision),
}


def write(case: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Tensors]:
    writer = WRITERS[case][1]
    return writer(tmp, monkeypatch) if writer is write_mmselfsup else writer(tmp)


@pytest.mark.parametrize("case", WRITERS)
def test_each_layout_is_detected_and_loads_every_backbone_tensor(case, tmp_path, monkeypatch):
    path, want = write(case, tmp_path, monkeypatch)
    p = load_pretrained(path)  # as data: no --trust-checkpoint
    assert p.format == WRITERS[case][0]
    assert p.arch == "resnet18" and p.stem == "imagenet"
    assert_same(p.state, want)


def test_every_format_has_a_writer_here():
    assert {fmt for fmt, _ in WRITERS.values()} == set(formats.BY_NAME)


def test_format_forces_the_layout(tmp_path, monkeypatch):
    path, want = write_lightly_benchmark(tmp_path)
    assert load_pretrained(path).format == "lightly"
    forced = load_pretrained(path, fmt_name="solo-learn")  # the same backbone.* keys: read as solo-learn
    assert forced.format == "solo-learn" and forced.source.startswith("solo-learn")
    assert_same(forced.state, want)
    flat, _ = write_torchvision(tmp_path)
    assert load_pretrained(flat, fmt_name="timm").format == "timm"
    v3, _ = write_moco_v3(tmp_path)
    with pytest.raises(UsageError, match=r"format vissl expects.*looks like moco-v3"):
        load_pretrained(v3, fmt_name="vissl")
    with pytest.raises(UsageError, match="--format nope is not a checkpoint format; use one of mocobench"):
        load_pretrained(v3, fmt_name="nope")


def test_a_backbone_that_does_not_all_load_is_refused_naming_the_keys(tmp_path):
    model = resnet18(13)
    state = prefixed(backbone_of(model), "backbone.")
    del state["backbone.layer4.1.bn2.running_var"]
    state["backbone.layer4.1.extra.weight"] = torch.zeros(3)
    path = tmp_path / "partial.ckpt"
    torch.save(lightning_top(state), path)
    with pytest.raises(UsageError) as e:
        load_pretrained(path)
    message = str(e.value)
    assert "read as solo-learn" in message and "against resnet18" in message
    assert (
        "missing 1: layer4.1.bn2.running_var" in message and "unexpected 1: layer4.1.extra.weight" in message
    )
    wide = {"conv1.weight": torch.zeros(64, 3, 7, 7), **backbone_of(model)}
    wide["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(wide, tmp_path / "shape.pth")
    with pytest.raises(UsageError, match=r"other shape 1: layer1\.0\.conv1\.weight"):
        load_pretrained(tmp_path / "shape.pth")


@pytest.mark.parametrize("legacy", [False, True])
def test_a_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path, legacy):
    marker = tmp_path / "ran"
    state = prefixed(backbone_of(resnet18(14)), "backbone.")
    path = tmp_path / "hostile.ckpt"
    top = lightning_top(state, hyper_parameters={"cfg": RunsCommand(marker)})
    torch.save(top, path, _use_new_zipfile_serialization=not legacy)
    for fmt in (None, "solo-learn", "lightly"):
        with pytest.raises(UsageError, match=r"GLOBAL (posix|os|nt)\.system.*--trust-checkpoint"):
            load_pretrained(path, fmt_name=fmt)
    assert not marker.exists()
    load_pretrained(path, trust=True)  # what --trust-checkpoint does: the full unpickler runs it
    assert marker.exists()


def test_inert_classes_are_allowed_per_format_only(tmp_path, monkeypatch):
    omegaconf = pytest.importorskip("omegaconf")
    # a DictConfig is a Lightning hyper-parameter, not part of a bare torchvision state_dict
    state = {**backbone_of(resnet18(15)), "cfg": omegaconf.OmegaConf.create({"a": 1})}
    torch.save(state, tmp_path / "flat.pth")
    with pytest.raises(UsageError, match=r"read as torchvision.*GLOBAL .*omegaconf"):
        load_pretrained(tmp_path / "flat.pth")
    with pytest.raises(UsageError, match=r"GLOBAL omegaconf.*not the format moco's"):
        load_pretrained(tmp_path / "flat.pth", fmt_name="moco")
    # the stand-in keeps what the pickle held and is not the real class: its code never ran
    path, _ = write_mmselfsup(tmp_path, monkeypatch)
    read = formats.read_file(path)
    hub = read.obj["message_hub"]
    assert isinstance(hub, formats.Inert) and hub.name == "mmengine.logging.message_hub.MessageHub"
    assert hub.state == {"log_scalars": {"train/lr": [0.03]}, "runtime_info": {"epoch": 200, "iter": 1000}}


def test_linear_json_records_the_format(tiny_data, tmp_path, cli, monkeypatch):
    def fake_trial(pretrained, protocol, root, seed, device, show_progress=True, logger=None):
        fc = {"weight": torch.zeros(10, 512), "bias": torch.zeros(10)}
        return {"seed": seed, "top1": 10.0, "top5": 50.0, "seconds": 1.0, "classifier": fc}

    monkeypatch.setattr(linear, "train_linear", fake_trial)
    path, _ = write_vissl(tmp_path)
    code, _, err = cli("linear", "--pretrained", str(path), "--data", str(tiny_data), "--scale", "smoke")
    assert code == 0, err
    result = tmp_path / "runs" / "smoke" / "external" / "model_final_checkpoint_phase199" / "linear.json"
    saved = json.loads(result.read_text())
    assert saved["format"] == "vissl" and saved["source"] == "VISSL checkpoint"
    code, _, err = cli(
        "linear",
        "--pretrained",
        str(path),
        "--data",
        str(tiny_data),
        "--scale",
        "smoke",
        "--format",
        "moco-v3",
    )
    assert code == 2 and "GLOBAL numpy" in err and "the format moco-v3's" in err  # VISSL's numpy: not v3's


def test_voc_json_records_the_format(tmp_path):
    from mocobench.detection import finetune

    path, _ = write_vissl(tmp_path)
    init = finetune.Init("resnet18", load_pretrained(path))
    trials = [{"trial": 0, "seed": 0, "AP50": 50.0, "AP": 30.0, "AP75": 30.0}]
    assert finetune._result(init, "smoke", {}, trials, {})["format"] == "vissl"
    assert finetune._result(finetune.Init("resnet18", None), "smoke", {}, trials, {})["format"] is None


def test_export_detectron2_takes_other_layouts(tmp_path, cli):
    import pickle

    path, want = write_moco_v3(tmp_path)
    out = tmp_path / "d2.pkl"
    code, _, err = cli("export", "detectron2", str(path), str(out), "--format", "moco-v3")
    assert code == 0, err
    model = pickle.loads(out.read_bytes())["model"]
    assert len(model) == len(want) and np.array_equal(
        model["stem.conv1.weight"], want["conv1.weight"].numpy()
    )
