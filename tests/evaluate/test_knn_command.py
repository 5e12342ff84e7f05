"""`mocobench knn`: weighted kNN on a checkpoint's frozen backbone, train/ the bank and val/ the queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from checkpoints import moco_model, torchvision_file, write_run
from torch.utils.data import DataLoader

from mocobench.augment.reference import eval_transform
from mocobench.data.folder import FolderDataset, list_train_val
from mocobench.data.sources import open_data
from mocobench.errors import UsageError
from mocobench.evaluate.knn import evaluate_knn, image_size
from mocobench.evaluate.pretrained import load_pretrained
from mocobench.metrics.knn import knn_accuracy
from mocobench.models.encoders import Backbone, encoder_builder
from mocobench.run.config import resolve


def reference_top1(path: Path, data: Path, size: int, k: int, t: float) -> float:
    """The figure metrics/knn.py gives on the same backbone, views and images, built here by hand."""
    p = load_pretrained(path)
    model = encoder_builder(p.arch, stem=p.stem)()
    model.load_state_dict(p.state, strict=False)
    source = open_data(data)
    bank, query, classes = list_train_val(source.root)
    view = eval_transform(size, source.mean, source.std, native=source.native_size == size)
    loaders = [DataLoader(FolderDataset(s, classes, view), batch_size=7) for s in (bank, query)]
    return knn_accuracy(Backbone(model), *loaders, len(classes), torch.device("cpu"), k, t)


def test_knn_of_an_external_checkpoint_writes_knn_json(tiny_data, tmp_path, cli):
    path, _ = torchvision_file(tmp_path / "resnet18-supervised.pth")
    code, out, err = cli(
        "knn",
        "--pretrained",
        str(path),
        "--data",
        str(tiny_data),
        "--scale",
        "smoke",
        "--k",
        "3",
        "--t",
        "0.5",
    )
    assert code == 0, err
    written = tmp_path / "runs" / "smoke" / "external" / "resnet18-supervised" / "knn.json"
    result = json.loads(written.read_text())
    assert str(written) in out.replace("\n", "")
    assert result["format"] == "torchvision" and result["arch"] == "resnet18"
    assert (result["k"], result["t"], result["image_size"], result["scale"]) == (3, 0.5, 32, "smoke")
    assert (result["bank_images"], result["query_images"], result["classes"]) == (40, 20, 10)
    assert result["top1"] == pytest.approx(reference_top1(path, tiny_data, 32, 3, 0.5))
    assert 0.0 <= result["top1"] <= result["top5"] <= 100.0
    assert not list(written.parent.glob(".*.tmp"))  # written atomically


def test_knn_of_a_run_goes_beside_its_linear_json(tiny_data, tmp_path, cli):
    run = write_run(tmp_path / "run", moco_model(), data=tiny_data)
    code, _, err = cli("knn", "--pretrained", str(run), "--k", "5")
    assert code == 0, err
    result = json.loads((run / "knn.json").read_text())
    assert result["format"] == "mocobench" and result["data"] == str(tiny_data.resolve())  # the run's data
    assert result["scale"] == "smoke" and result["image_size"] == 32  # the run's scale


def test_knn_reads_other_layouts_and_format_forces_one(tiny_data, tmp_path, cli):
    torch.manual_seed(3)
    model = torchvision.models.resnet18()
    state = {f"module.base_encoder.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "mocov3.pth.tar"
    torch.save({"epoch": 1, "arch": "resnet18", "state_dict": state}, path)
    out = tmp_path / "out"
    code, _, err = cli("knn", "--pretrained", str(path), "--data", str(tiny_data), "--scale", "smoke",
                       "--format", "moco-v3", "--out", str(out), "--k", "4")  # fmt: skip
    assert code == 0, err
    assert json.loads((out / "knn.json").read_text())["format"] == "moco-v3"
    code, _, err = cli("knn", "--pretrained", str(path), "--data", str(tiny_data), "--format", "lightly")
    assert code == 2 and "format lightly expects" in err and "looks like moco-v3" in err


def test_image_size_follows_the_scale_else_the_run():
    assert image_size("paper", None) == 224 and image_size(None, None) == 224
    run_96 = resolve("mlp+aug+cos", "smoke", ["image_size=96"])
    assert image_size("smoke", run_96) == 32  # --scale wins
    assert image_size(None, run_96) == 96  # else the run's own
    with pytest.raises(UsageError, match="--k must be at least 1"):
        evaluate_knn(Path("unused"), k=0)
