"""What pre-training reads: the batches of the recipe's loader, and the kNN monitor's bank and queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mocobench.augment.reference import eval_transform, supervised_train_transform
from mocobench.data.folder import FolderDataset, list_train_val, resolve_data, verify_images
from mocobench.pipeline.loaders import STORED_FILES, build_two_view_loader
from mocobench.pipeline.order import batched_loader, eval_loader
from mocobench.runtime import distributed
from mocobench.runtime.step_options import StepOptions
from mocobench.train.build import two_view_spec

KNN_BANK_MAX = 50_000  # kNN monitor bank: at most this many training images (ImageNet would not fit)
KNN_BATCH = 256


@dataclass
class Data:
    train: Iterable[Any]  # batches of (images, targets)
    set_epoch: Callable[[int], None]
    steps: int  # batches per epoch
    bank: DataLoader
    val: DataLoader
    num_classes: int
    root: Path
    pairs: Callable[[Any, int], tuple[torch.Tensor, torch.Tensor]] | None = None  # contrastive: -> q, k
    pipeline: dict[str, Any] = field(default_factory=dict)  # loader kind, where colour ran (config.json)


def build_data(
    config: dict[str, Any],
    data: Path | None,
    seed: int,
    dist: distributed.DistInfo,
    options: StepOptions | None = None,
    loader: str = "auto",
    augment_on: str = "auto",
    beton: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Data:
    root = resolve_data(data) if dist.is_main else None
    # rank 0 generates the embedded set once; the others wait for its path
    root = distributed.broadcast_object(root)
    assert root is not None
    train_samples, val_samples, classes = list_train_val(root, config["max_images_per_class"])
    if dist.is_main:
        verify_images(train_samples + val_samples)
    size, workers = config["image_size"], config["workers"]
    if config["mechanism"] == "supervised":
        train_set = FolderDataset(train_samples, classes, supervised_train_transform(size), seed)
        train, sampler = batched_loader(train_set, config["batch_size"], workers, dist, seed)
        set_epoch, pairs, pipeline = (
            sampler.set_epoch,
            None,
            {"loader": "pil", "augment_on": "loader", "stored": STORED_FILES},
        )
    else:
        two_view = build_two_view_loader(
            two_view_spec(config), root, train_samples, classes, seed, dist, options or StepOptions(), loader,
            augment_on, beton, log,
        )  # fmt: skip
        train, set_epoch, pairs = two_view, two_view.set_epoch, two_view.to_pairs
        pipeline = two_view.describe()
    eval_tf = eval_transform(size)
    bank_samples = train_samples
    if len(bank_samples) > KNN_BANK_MAX:
        step = len(bank_samples) / KNN_BANK_MAX
        bank_samples = [bank_samples[int(i * step)] for i in range(KNN_BANK_MAX)]
    bank = eval_loader(FolderDataset(bank_samples, classes, eval_tf), KNN_BATCH, workers, dist)
    val = eval_loader(FolderDataset(val_samples, classes, eval_tf), KNN_BATCH, workers, dist)
    return Data(train, set_epoch, len(train), bank, val, len(classes), root, pairs, pipeline)
