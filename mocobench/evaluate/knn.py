"""`mocobench knn`: weighted kNN (metrics/knn.py) on the frozen backbone of any checkpoint we read.

The bank is train/ and the queries val/ of the data (`--data`, else the run's, else the embedded set), both
through the evaluation view (`augment/reference.py::eval_transform`) at the image size of `--scale` (its
`image_size` in scales.toml; 224 at paper scale), else of the run's config. No training: the figure is the
same cheap monitor pre-training logs, for a checkpoint of any tool (evaluate/formats.py). Written
atomically to knn.json beside linear.json (evaluate/pretrained.py::results_dir).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mocobench.augment.reference import eval_transform
from mocobench.config.scales import scale_rules
from mocobench.config.settings import RunConfig
from mocobench.data.folder import FolderDataset, verified_train_val
from mocobench.data.sources import open_data
from mocobench.errors import UsageError
from mocobench.evaluate.pretrained import Pretrained, load_pretrained, results_dir, run_data
from mocobench.metrics.accuracy import topk_correct
from mocobench.metrics.knn import extract_features, knn_predict
from mocobench.models.encoders import Backbone, encoder_builder
from mocobench.runtime import atomic
from mocobench.runtime.distributed import resolve_device

KNN_RESULT = "knn.json"
PAPER_IMAGE_SIZE = 224


def image_size(scale: str | None, run_config: RunConfig | None) -> int:
    """`--scale`'s image size if given, else the run's, else its scale's (paper: 224)."""
    if scale is None and run_config:
        return run_config.data.image_size
    rules = scale_rules(scale or "paper")
    return int(rules.get("image_size", PAPER_IMAGE_SIZE))


def backbone_of(pretrained: Pretrained) -> torch.nn.Module:
    """The checkpoint's ResNet without fc; every backbone tensor loaded (strict but for fc)."""
    model = encoder_builder(pretrained.arch, stem=pretrained.stem)()
    missing, unexpected = model.load_state_dict(pretrained.state, strict=False)
    if set(missing) - {"fc.weight", "fc.bias"} or unexpected:
        raise UsageError(
            f"{pretrained.path} does not fit {pretrained.arch}: missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}"
        )
    return Backbone(model)


def evaluate_knn(
    checkpoint: Path,
    scale: str | None = None,
    data: str | Path | None = None,
    k: int = 200,
    t: float = 0.1,
    out_dir: Path | None = None,
    device: str = "auto",
    trust: bool = False,
    fmt: str | None = None,
    batch_size: int = 256,
    workers: int = 0,
) -> tuple[dict[str, Any], Path]:
    """Top-1/top-5 of weighted kNN (k neighbours, temperature t) on val/ with train/ as the bank."""
    if k < 1 or t <= 0:
        raise UsageError(f"--k must be at least 1 and --t positive, not k={k}, t={t}")
    pretrained = load_pretrained(checkpoint, trust, fmt_name=fmt)
    config = pretrained.run_config
    size = image_size(scale, config)
    scale = pretrained.scale_or(scale)
    data, grow = run_data(config, data)
    source = open_data(data, grow)
    mean, std = source.mean, source.std
    if config and data is not None and data == config.ran.data:  # the run's normalisation scores its features
        mean, std = config.data.mean or mean, config.data.std or std
    bank_samples, query_samples, classes = verified_train_val(source.root)  # decoded before any work
    view = eval_transform(size, mean, std, native=source.native_size == size)
    loaders = [
        DataLoader(FolderDataset(s, classes, view), batch_size=batch_size, shuffle=False, num_workers=workers)
        for s in (bank_samples, query_samples)
    ]
    dev = resolve_device(device)
    features = backbone_of(pretrained).to(dev)
    bank, bank_labels = extract_features(features, loaders[0], dev)
    query, labels = extract_features(features, loaders[1], dev)
    scores = knn_predict(query, bank, bank_labels, len(classes), k, t)
    top1, top5 = topk_correct(scores, labels, (1, min(5, len(classes))))
    result = {
        "top1": 100.0 * float(top1) / len(labels),
        "top5": 100.0 * float(top5) / len(labels),
        "k": min(k, len(bank_samples)),
        "t": t,
        "scale": scale,
        "image_size": size,
        "data": str(Path(source.root).resolve()),
        "bank_images": len(bank_samples),
        "query_images": len(query_samples),
        "classes": len(classes),
        "checkpoint": str(pretrained.path.resolve()),
        "arch": pretrained.arch,
        "stem": pretrained.stem,
        "source": pretrained.source,
        "format": pretrained.format,
        "epoch": pretrained.epoch,
    }
    out_dir = Path(out_dir) if out_dir else results_dir(pretrained, scale)
    return result, atomic.write_json(out_dir / KNN_RESULT, result)
