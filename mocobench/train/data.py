"""What pre-training reads: the batches of the recipe's loader, and the kNN monitor's bank and queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mocobench.augment.reference import eval_transform, supervised_train_transform
from mocobench.config.settings import RunConfig
from mocobench.data.folder import FolderDataset, list_train_val, verify_images
from mocobench.data.sources import DataSource, list_pretrain, open_data
from mocobench.data.synth import SynthSpec
from mocobench.loading.loaders import STORED_FILES, TwoViewSpec, build_two_view_loader
from mocobench.loading.order import batched_loader, eval_loader
from mocobench.runtime import distributed
from mocobench.runtime.step_options import StepOptions

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
    source: DataSource
    pairs: Callable[[Any, int], tuple[torch.Tensor, torch.Tensor]] | None = None  # contrastive: -> q, k
    pipeline: dict[str, Any] = field(default_factory=dict)  # loader kind, where colour ran (config.json)


def open_source(data: str | Path | None, config: RunConfig, dist: distributed.DistInfo) -> DataSource:
    """The run's data (`--data`, else the embedded set at the tier's size): rank 0 opens it (generating or
    converting it into the cache once), the others wait for its record."""
    grow = config.data.embedded_per_class or None
    source = open_data(data, embedded_train_per_class=grow) if dist.is_main else None
    source = distributed.broadcast_object(source)
    assert source is not None
    return source


def count_images(config: RunConfig, data: str | Path | None) -> tuple[int, int]:
    """Images per pre-training epoch and labelled training images (linear, kNN bank) of `config` on
    `data`; the embedded set's are known without generating it."""
    cap = config.data.max_images_per_class
    if data is not None and data != "embedded":
        source = open_data(data)
        return len(list_pretrain(source, cap)), len(list_train_val(source.root, cap)[0])
    spec = SynthSpec(train_per_class=config.data.embedded_per_class or SynthSpec.train_per_class)
    n = spec.num_classes * min(cap or spec.train_per_class, spec.train_per_class)
    return n, n


def eval_views(config: RunConfig, source: DataSource) -> Callable:
    """The evaluation view of this run's images: normalised as in training, whole when already at size."""
    size = config.data.image_size
    return eval_transform(size, config.data.mean, config.data.std, native=source.native_size == size)


def build_data(
    config: RunConfig,
    source: DataSource,
    seed: int,
    dist: distributed.DistInfo,
    options: StepOptions | None = None,
    loader: str = "auto",
    augment_on: str = "auto",
    beton: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Data:
    """The loaders of a run whose `config` was fitted to `source` (`config.scales.fit_to_data`): pre-training
    reads every pretrain split (STL-10: train + unlabeled), the kNN monitor the labelled train/ and val/."""
    cap = config.data.max_images_per_class
    train_samples = list_pretrain(source, cap)
    bank_samples, val_samples, classes = list_train_val(source.root, cap)
    if dist.is_main:
        verify_images(train_samples + val_samples)
    size, workers = config.data.image_size, config.data.workers
    if config.data.augmentation == "supervised":  # single labelled views; every other kind is two views
        views = supervised_train_transform(size, config.data.mean, config.data.std)
        train_set = FolderDataset(bank_samples, classes, views, seed)
        train, sampler = batched_loader(train_set, config.optim.batch_size, workers, dist, seed)
        set_epoch, pairs, pipeline = (
            sampler.set_epoch,
            None,
            {"loader": "pil", "augment_on": "loader", "stored": STORED_FILES},
        )
    else:
        two_view = build_two_view_loader(
            two_view_spec(config), source.root, train_samples, classes, seed, dist, options or StepOptions(),
            loader, augment_on, beton, log,
        )  # fmt: skip
        train, set_epoch, pairs = two_view, two_view.set_epoch, two_view.to_pairs
        pipeline = two_view.describe()
    eval_tf = eval_views(config, source)
    if len(bank_samples) > KNN_BANK_MAX:
        step = len(bank_samples) / KNN_BANK_MAX
        bank_samples = [bank_samples[int(i * step)] for i in range(KNN_BANK_MAX)]
    # no larger than a process's training batch, whose step `run/memory.py` judged to fit: a forward without
    # gradients of as many images needs less (at image_size 1024, 256 images a batch would not fit 24 GiB)
    knn_batch = min(KNN_BATCH, -(-config.optim.batch_size // dist.world_size))
    bank = eval_loader(FolderDataset(bank_samples, classes, eval_tf), knn_batch, workers, dist)
    val = eval_loader(FolderDataset(val_samples, classes, eval_tf), knn_batch, workers, dist)
    return Data(train, set_epoch, len(train), bank, val, len(classes), source, pairs, pipeline)


def two_view_spec(config: RunConfig) -> TwoViewSpec:
    """What the two-view loader needs of `config`."""
    lo, hi = config.data.blur_sigma
    norm = {"mean": config.data.mean, "std": config.data.std} if config.data.mean else {}  # empty: ImageNet's
    return TwoViewSpec(
        config.data.augmentation,
        config.data.image_size,
        (lo, hi),
        config.optim.batch_size,
        config.data.workers,
        **norm,
    )
